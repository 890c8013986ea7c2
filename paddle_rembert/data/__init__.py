"""Data pipeline for XNLI and PAWS-X: readers of the official files, collate, samplers.

- :mod:`.tasks`: ``get_task("xnli" | "paws")`` -> load_train / load_eval / labels / predictions.
- :mod:`.xnli`, :mod:`.pawsx`: the file readers (no quoting, header checked, policy below).
- :mod:`.collate`: dynamic padding to int64 numpy arrays.
- :mod:`.sampler`: world-size-independent training batches and exact evaluation sharding.

Policy (docs/data.md): evaluation rows are never dropped (PAWS-X ``NS`` rows stay); training
rows with an empty text, an unknown label or a wrong column count are skipped, counted and
their lines logged on the ``paddle_rembert.data`` logger; a missing file, a wrong header, or a
bad evaluation row is a :class:`~paddle_rembert.errors.PaddleRembertError` naming file[:line].
"""
from .collate import collate
from .sampler import (TrainBatchSampler, eval_batches, merge_shards, shard_range, shard_sizes,
                      split_batch, split_sizes)
from .tasks import TASKS, Task, get_task, prediction_lines, write_predictions
from .tsv import Example, FileReport

__all__ = [
    "Example", "FileReport", "TASKS", "Task", "TrainBatchSampler",
    "collate", "eval_batches", "get_task", "merge_shards", "prediction_lines", "shard_range",
    "shard_sizes", "split_batch", "split_sizes", "write_predictions",
]
