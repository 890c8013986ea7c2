"""Tokenizers: a backend-agnostic base, the SentencePiece backend, value types, directory reading, ``AutoTokenizer``."""
