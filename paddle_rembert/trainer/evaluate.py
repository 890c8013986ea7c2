"""Sharded evaluation: each rank predicts a contiguous shard, rank 0 gets every example once.

Accuracy is reported per language and as the plain mean over languages (XTREME's
``avg_accuracy``), never as one pooled accuracy over all rows.
"""
from dataclasses import dataclass

import numpy as np
import paddle

from ..data import eval_batches, merge_shards, shard_range, shard_sizes
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


def predict(model, encoded, indices, batch_size, pad_id, amp):
    """Predicted label ids for ``indices`` of ``encoded`` (longest first, put back in place)."""
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
            for i, p in zip(batch, preds):
                out[position[int(i)]] = p
    if was_training:
        model.train()
    return out


def evaluate(model, eval_set, env, batch_size, pad_id, amp, task_name, step):
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
            model, eval_set.encoded[lang], local_idx, batch_size, pad_id, amp)
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
