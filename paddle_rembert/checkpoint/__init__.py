"""Checkpoint I/O: safetensors and restricted-pickle readers, the conversion rule, and the writers."""
