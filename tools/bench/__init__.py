"""Benchmark modules behind ``tools/benchmark.py``; shared helpers live in :mod:`bench.common`."""
