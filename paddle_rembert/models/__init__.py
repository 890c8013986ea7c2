"""One package per model family (``configuration.py``, ``modeling.py``, ``tokenizer.py``), each declared
once to :mod:`.registry` in its ``__init__.py``. Importing this package imports no family: the
registry finds them when first asked."""
