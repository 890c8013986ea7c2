"""Developer tools, run from the repository root as modules: ``python -m tools.benchmark``,
``python -m tools.demo`` ..."""
