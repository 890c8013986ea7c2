"""Dynamic padding of tokenized sentence pairs into int64 numpy batches.

Each feature is one already-encoded pair ``[CLS] A [SEP] B [SEP]`` (``input_ids``,
``token_type_ids``, ``attention_mask`` lists plus an int ``labels``). Padding goes to the right,
to the longest feature of the batch, so a batch of short pairs costs short compute; A and B are
never padded separately because the tokenizer already joined them. The output stays numpy (no
paddle import) so it works in DataLoader workers and tests; the trainer converts to tensors.
"""
from typing import Dict, Mapping, Optional, Sequence

import numpy as np


def collate(features: Sequence[Mapping], pad_id: int, pad_token_type_id: int = 0,
            pad_to_multiple_of: Optional[int] = None) -> Dict:
    """Pad ``features`` to the longest one; return int64 arrays and the count of real tokens.

    Returns ``{"input_ids", "token_type_ids", "attention_mask": int64 [batch, length],
    "labels": int64 [batch] (only if every feature has one), "num_tokens": int}`` where
    ``num_tokens`` is the number of non-pad tokens, i.e. the sum of the attention mask (for
    tokens/second). Padding uses
    ``pad_id``, ``pad_token_type_id`` and attention 0. A feature without ``token_type_ids``
    gets zeros and one without ``attention_mask`` gets ones. ``pad_to_multiple_of`` rounds
    the length up (e.g. 8 for tensor cores).
    """
    if not features:
        raise ValueError("collate() needs at least one feature")
    lengths = [len(f["input_ids"]) for f in features]
    width = max(lengths)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    size = (len(features), width)
    input_ids = np.full(size, pad_id, dtype=np.int64)
    token_type_ids = np.full(size, pad_token_type_id, dtype=np.int64)
    attention_mask = np.zeros(size, dtype=np.int64)
    for i, (f, n) in enumerate(zip(features, lengths)):
        input_ids[i, :n] = f["input_ids"]
        types = f.get("token_type_ids")
        token_type_ids[i, :n] = 0 if types is None else _same_length(types, n, "token_type_ids", i)
        mask = f.get("attention_mask")
        attention_mask[i, :n] = 1 if mask is None else _same_length(mask, n, "attention_mask", i)
    batch = {"input_ids": input_ids, "token_type_ids": token_type_ids,
             "attention_mask": attention_mask, "num_tokens": int(attention_mask.sum())}
    if all(f.get("labels") is not None for f in features):
        batch["labels"] = np.asarray([int(f["labels"]) for f in features], dtype=np.int64)
    return batch


def _same_length(values, n, key, i):
    if len(values) != n:
        raise ValueError(f"feature {i}: {key} has {len(values)} entries, input_ids has {n}")
    return values
