"""XNLI / PAWS-X fine-tuning: ``run(TrainingArguments)``; see ``trainer.py`` for the loop."""
from .arguments import TrainingArguments, from_example_flags, from_yaml


def run(args):
    from .trainer import run as _run

    return _run(args)
