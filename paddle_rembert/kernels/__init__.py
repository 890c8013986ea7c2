"""Native kernels built on demand (never at import): see :mod:`paddle_rembert.kernels.bf16`."""
