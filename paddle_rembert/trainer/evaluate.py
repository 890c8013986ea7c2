"""Sharded evaluation: each rank predicts a contiguous shard, rank 0 gets every example once.

Accuracy is reported per language and as the plain mean over languages (XTREME's
``avg_accuracy``), never as one pooled accuracy over all rows.
"""
from dataclasses import dataclass

import numpy as np
import paddle

from ..data import eval_batches, merge_shards, shard_range, shard_sizes
from ..runtime.errors import PaddleRembertError
from . import distributed
from .optim import autocast


@dataclass
class EvalSet:
    """One split's examples by language and their encodings, in file order."""

    split: str
    examples: dict  # language -> [Example]
    encoded: dict  # language -> EncodedPairs

    @property
    def languages(self):
        return list(self.examples)


# the spellings of one label across XNLI's files and the checkpoints fine-tuned on them
_LABEL_ALIASES = {"contradictory": "contradiction"}


def _label_key(name):
    name = str(name).strip().lower()
    return _LABEL_ALIASES.get(name, name)


def task_label_map(config, task, source):
    """For each of the model's outputs, the task's label id it stands for, read from ``config.id2label``
    (a checkpoint fine-tuned elsewhere may order the labels otherwise, e.g. PaddleNLP's RemBERT
    example: neutral, entailment, contradictory); None when the orders agree, or when the names are
    transformers' placeholders (``LABEL_0`` ...), which say nothing (then the task's order is assumed).
    A model with another number of labels, or other names, is refused."""
    names = [config.id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels)]
    if len(names) != task.num_labels:
        raise PaddleRembertError(f"{source} predicts {len(names)} labels {names}, but {task.name} has "
                                 f"{task.num_labels}: {list(task.labels)}")
    if all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    task_ids = {_label_key(label): i for i, label in enumerate(task.labels)}
    if sorted(map(_label_key, names)) != sorted(task_ids):
        raise PaddleRembertError(f"{source}: id2label names {names}, not {task.name}'s labels {list(task.labels)}")
    label_map = np.array([task_ids[_label_key(name)] for name in names], dtype=np.int64)
    return None if (label_map == np.arange(len(names))).all() else label_map


def predict(model, encoded, indices, batch_size, pad_id, amp, label_map=None):
    """Predicted label ids for ``indices`` of ``encoded`` (longest first, put back in place); ``label_map``
    (:func:`task_label_map`) turns the model's output index into the task's label id."""
    out = np.zeros(len(indices), dtype=np.int64)
    position = {int(i): n for n, i in enumerate(indices)}
    lengths = encoded.lengths
    was_training = model.training
    model.eval()
    with paddle.no_grad():
        for batch in eval_batches(list(indices), batch_size, lengths):
            arrays = encoded.batch(batch, pad_id)
            inputs = {k: paddle.to_tensor(arrays[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
            with autocast(amp):
                logits = model(**inputs).logits
            preds = logits.astype("float32").argmax(axis=-1).numpy()
            if label_map is not None:
                preds = label_map[preds]
            for i, p in zip(batch, preds):
                out[position[int(i)]] = p
    if was_training:
        model.train()
    return out


def evaluate(model, eval_set, env, batch_size, pad_id, amp, task_name, step, label_map=None):
    """Predict every example of ``eval_set`` across ranks; returns (results, predictions by language).

    ``results`` follows eval_results.json: ``{"task", "split", "step", "average_accuracy",
    "languages": {lang: {"accuracy", "num_examples"}}}``.
    """
    langs = eval_set.languages
    # one index space over all languages: language l, example j -> offset[l] + j
    sizes = [len(eval_set.examples[lang]) for lang in langs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    mine = shard_range(total, env.world_size, env.rank)
    local = np.zeros(len(mine), dtype=np.int64)
    # group this rank's indices by language so each batch comes from one encoding
    for li, lang in enumerate(langs):
        lo, hi = max(mine.start, offsets[li]), min(mine.stop, offsets[li + 1])
        if lo >= hi:
            continue
        local_idx = np.arange(lo - offsets[li], hi - offsets[li])
        local[lo - mine.start:hi - mine.start] = predict(
            model, eval_set.encoded[lang], local_idx, batch_size, pad_id, amp, label_map)
    gathered = merge_shards(distributed.gather_rows(local, env), shard_sizes(total, env.world_size))
    predictions, per_language = {}, {}
    for li, lang in enumerate(langs):
        preds = gathered[offsets[li]:offsets[li + 1]]
        gold = eval_set.encoded[lang].labels
        predictions[lang] = preds
        per_language[lang] = {"accuracy": float((preds == gold).mean()) if len(gold) else 0.0,
                              "num_examples": int(len(gold))}
    average = float(np.mean([v["accuracy"] for v in per_language.values()])) if per_language else 0.0
    results = {"task": task_name, "split": eval_set.split, "step": step, "average_accuracy": average,
               "languages": per_language}
    return results, predictions


def selection_score(results, select_on):
    """The number checkpoints are selected on: one language's dev accuracy, or the mean over all."""
    if select_on == "all":
        return results["average_accuracy"]
    return results["languages"][select_on]["accuracy"]
