"""One package per model: ``configuration.py``, ``modeling.py`` and ``tokenizer.py``."""
