"""The modeling core every family builds on: configs, ``PretrainedModel``, outputs, layers, heads, losses, ``Auto*``."""
