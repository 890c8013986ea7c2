"""Checkpoint conversion between transformers' PyTorch layout and Paddle's; see ``rules.py``."""
from .checkpoint import open_checkpoint
from .convert import convert_checkpoint
from .loading import load_weights
from .rules import LoadReport
