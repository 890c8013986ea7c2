"""Process settings and errors: the one user-error type, atomic file writes, threads, logging."""
