"""Tokenized examples, stored compactly, and the dataset the trainer batches from.

A pair is encoded once, as the tokenizer builds it (``[CLS] A [SEP] B [SEP]``, ``longest_first``
truncation to ``max_seq_length``), never as two separately padded halves. 392k XNLI pairs are
kept as one flat int32 array plus offsets, not 392k Python lists.
"""
import numpy as np

from .collate import collate

_CHUNK = 4096  # pairs per tokenizer call: big enough for the batched C++ path, small enough for memory


class EncodedPairs:
    """``input_ids``/``token_type_ids`` of every example, with labels, flat in int32."""

    def __init__(self, ids, types, offsets, labels):
        self.ids, self.types, self.offsets, self.labels = ids, types, offsets, labels

    def __len__(self):
        return len(self.offsets) - 1

    @property
    def lengths(self):
        return np.diff(self.offsets)

    def feature(self, i):
        start, end = self.offsets[i], self.offsets[i + 1]
        ids = self.ids[start:end]
        return {"input_ids": ids, "token_type_ids": self.types[start:end],
                "attention_mask": np.ones_like(ids), "labels": int(self.labels[i])}

    def batch(self, indices, pad_id):
        """A dynamically padded batch (int64 numpy) of the given example indices."""
        return collate([self.feature(int(i)) for i in indices], pad_id)


def encode_examples(tokenizer, examples, max_seq_length, progress=None):
    """Tokenize ``Example``s (``text_a``, ``text_b``, ``label``) into :class:`EncodedPairs`."""
    ids, types, lengths = [], [], []
    for start in range(0, len(examples), _CHUNK):
        chunk = examples[start:start + _CHUNK]
        enc = tokenizer([e.text_a for e in chunk], [e.text_b for e in chunk], truncation="longest_first",
                        max_length=max_seq_length, return_attention_mask=False, return_token_type_ids=True)
        for seq, seq_types in zip(enc["input_ids"], enc["token_type_ids"]):
            ids.append(np.asarray(seq, dtype=np.int32))
            types.append(np.asarray(seq_types, dtype=np.int32))
            lengths.append(len(seq))
        if progress is not None:
            progress.update(len(chunk))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int32))
    labels = np.array([e.label for e in examples], dtype=np.int64)
    return EncodedPairs(flat(ids), flat(types), offsets, labels)
