"""The small value types of the tokenizers: ``AddedToken`` and ``BatchEncoding``.

Same fields and behaviour as transformers' / tokenizers' classes of these names, so code written
against transformers keeps working.
"""
from typing import NamedTuple

import numpy as np

from ..runtime.errors import PaddleRembertError

TENSOR_TYPES = (None, "np", "pd")
SPECIAL_TOKENS_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                             "cls_token", "mask_token", "additional_special_tokens")


class AddedToken:
    """A token matched in raw text before SentencePiece runs (same fields as ``tokenizers.AddedToken``)."""

    __slots__ = ("content", "single_word", "lstrip", "rstrip", "normalized", "special")

    def __init__(self, content, single_word=False, lstrip=False, rstrip=False, normalized=None, special=False):
        if not isinstance(content, str):
            raise PaddleRembertError(f"AddedToken content must be a str, got {type(content).__name__}")
        self.content, self.single_word = content, bool(single_word)
        self.lstrip, self.rstrip = bool(lstrip), bool(rstrip)
        self.special = bool(special)
        self.normalized = (not self.special) if normalized is None else bool(normalized)

    @classmethod
    def coerce(cls, token, name="a special token"):
        """Accept str, our tokens, transformers'/tokenizers' AddedToken objects and their JSON dicts."""
        if isinstance(token, (str, cls)):
            return token
        if isinstance(token, dict):
            return cls(**{k: v for k, v in token.items() if k in cls.__slots__})
        if hasattr(token, "content") and hasattr(token, "lstrip"):
            return cls(**{k: getattr(token, k) for k in cls.__slots__ if hasattr(token, k)})
        raise PaddleRembertError(f"{name} must be a str or AddedToken, got {type(token).__name__}")

    def to_dict(self, with_special=True):
        keys = ("content", "lstrip", "normalized", "rstrip", "single_word") + (("special",) if with_special else ())
        return {k: getattr(self, k) for k in keys}

    def __str__(self):
        return self.content

    def __repr__(self):
        return f"AddedToken({self.to_dict()!r})"


class CharSpan(NamedTuple):
    """Characters ``start`` (included) to ``end`` (excluded) of the original text, as transformers'."""
    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens ``start`` (included) to ``end`` (excluded) of an encoding, as transformers'."""
    start: int
    end: int


_ROWS = ("sequence_ids", "word_ids", "offsets", "tokens", "n_sequences")


class BatchEncoding(dict):
    """The output of ``__call__``: a dict (``input_ids``, ``token_type_ids``, ...) with attribute access, and the
    alignment methods of transformers' fast-tokenizer encodings (``word_ids``, ``char_to_token``, ...)."""

    def __init__(self, data=None, tensor_type=None, prepend_batch_axis=False, detail=None):
        super().__init__(data or {})
        # {"sequence_ids", "word_ids", "offsets": rows, "n_sequences", "convert": ids -> tokens}, or a callable
        # computing the rows on demand (a plain call's LazyDetail)
        self._detail = detail
        self.convert_to_tensors(tensor_type, prepend_batch_axis)

    @property
    def is_fast(self):
        """False, as a slow tokenizer's encoding says (the alignment methods work all the same)."""
        return False

    @property
    def encodings(self):
        """None: there are no Rust ``Encoding`` objects, as with a slow tokenizer."""
        return None

    def __getstate__(self):  # the rows only: no tokenizer goes into a pickle
        detail = self.__dict__.get("_detail")
        return {"_detail": {k: v for k, v in detail.items() if k in _ROWS} if isinstance(detail, dict) else None}

    def _id_rows(self):
        ids = self["input_ids"]
        ids = ids.tolist() if hasattr(ids, "tolist") else ids.numpy().tolist() if hasattr(ids, "numpy") else ids
        return ids if ids and isinstance(ids[0], (list, tuple)) else [ids]

    def _detail_rows(self, key):
        detail = self.__dict__.get("_detail")
        if detail is None:
            raise PaddleRembertError(f"{key}() needs an encoding made by a paddle_rembert tokenizer's __call__")
        if not isinstance(detail, dict):
            detail = self._detail = {"lazy": detail}
        if detail.get(key) is None:
            if key == "tokens":
                convert = detail.get("convert") or getattr(detail.get("lazy"), "convert", None)
                if convert is None:
                    raise PaddleRembertError("tokens() needs the tokenizer, which a pickled encoding does not keep")
                detail[key] = [convert(row) for row in self._id_rows()]
            elif "lazy" in detail:
                detail.update(detail["lazy"](self._id_rows()))  # all rows but the tokens, in one pass
            else:
                raise PaddleRembertError(f"{key} was not kept in this encoding")
        return detail[key]

    def sequence_ids(self, batch_index=0):
        """Per token: ``None`` for a special or pad token, 0/1 for the first/second sequence (fast tokenizers')."""
        return list(self._detail_rows("sequence_ids")[batch_index])

    def word_ids(self, batch_index=0):
        """Per token: the index of its pre-tokenised word in its sequence, ``None`` for special and pad tokens."""
        return list(self._detail_rows("word_ids")[batch_index])

    def tokens(self, batch_index=0):
        """The token strings of one row (``convert_ids_to_tokens``), special and pad tokens included."""
        return list(self._detail_rows("tokens")[batch_index])

    @property
    def n_sequences(self):
        """1 for single texts, 2 for pairs."""
        return self._detail_rows("n_sequences")

    # transformers' indexing: ``f(i)`` means row 0, item i; ``f(b, i)`` row b. Negative batch and token indices
    # count from the end (transformers 4.46 means to, but fails on them); no character or word is negative.
    def _index(self, first, second, token=False):
        batch, index = (first, second) if second is not None else (0, first)
        rows = self._detail_rows("sequence_ids")
        batch = batch + len(rows) if batch < 0 else batch
        if token and index < 0:
            index += len(rows[batch])
        return batch, index

    def _sequence_range(self, batch, sequence_index):
        """The token positions of one sequence of a row; all of them for a sequence the row does not have, as the
        Rust ``Encoding::sequence_range``."""
        row = self._detail_rows("sequence_ids")[batch]
        if sequence_index >= self.n_sequences:
            return range(len(row))
        positions = [t for t, s in enumerate(row) if s == sequence_index]
        return range(positions[0], positions[-1] + 1) if positions else range(0)

    def token_to_sequence(self, batch_or_token_index, token_index=None):
        """The sequence (0 or 1) of a token, None for a special or pad token."""
        batch, token = self._index(batch_or_token_index, token_index, token=True)
        row = self._detail_rows("sequence_ids")[batch]
        return row[token] if 0 <= token < len(row) else None

    def token_to_word(self, batch_or_token_index, token_index=None):
        """The word of a token within its sequence, None for a special or pad token."""
        batch, token = self._index(batch_or_token_index, token_index, token=True)
        row = self._detail_rows("word_ids")[batch]
        return row[token] if 0 <= token < len(row) else None

    def token_to_chars(self, batch_or_token_index, token_index=None):
        """A token's :class:`CharSpan` in its text, None for a special or pad token."""
        batch, token = self._index(batch_or_token_index, token_index, token=True)
        if self.token_to_sequence(batch, token) is None:
            return None
        return CharSpan(*self._detail_rows("offsets")[batch][token])

    def char_to_token(self, batch_or_char_index, char_index=None, sequence_index=0):
        """The first token of ``sequence_index`` whose span holds the character, or None."""
        batch, char = self._index(batch_or_char_index, char_index)
        offsets = self._detail_rows("offsets")[batch]
        return next((t for t in self._sequence_range(batch, sequence_index)
                     if offsets[t][0] <= char < offsets[t][1]), None)

    def word_to_tokens(self, batch_or_word_index, word_index=None, sequence_index=0):
        """The :class:`TokenSpan` of a word of ``sequence_index``, or None when it has no token (left out)."""
        batch, word = self._index(batch_or_word_index, word_index)
        words = self._detail_rows("word_ids")[batch]
        found = []
        for t in self._sequence_range(batch, sequence_index):
            if words[t] is not None and words[t] > word:  # the Rust scan stops at the first later word
                break
            if words[t] == word:
                found.append(t)
        return TokenSpan(found[0], found[-1] + 1) if found else None

    def word_to_chars(self, batch_or_word_index, word_index=None, sequence_index=0):
        """The :class:`CharSpan` of a word, or None (transformers raises a TypeError) when it has no token."""
        batch, word = self._index(batch_or_word_index, word_index)
        span = self.word_to_tokens(batch, word, sequence_index)
        if span is None:
            return None
        offsets = self._detail_rows("offsets")[batch]
        return CharSpan(offsets[span.start][0], offsets[span.end - 1][1])

    def char_to_word(self, batch_or_char_index, char_index=None, sequence_index=0):
        """The word of ``sequence_index`` that holds the character, or None."""
        batch, char = self._index(batch_or_char_index, char_index)
        token = self.char_to_token(batch, char, sequence_index)
        return None if token is None else self._detail_rows("word_ids")[batch][token]

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            return self[item]
        except KeyError:
            raise AttributeError(item) from None

    def convert_to_tensors(self, tensor_type=None, prepend_batch_axis=False):
        """Turn lists into ``np`` arrays or ``pd`` (paddle) tensors, in place."""
        if tensor_type is None:
            return self
        _check_choice("return_tensors", tensor_type, TENSOR_TYPES)
        for key, value in self.items():
            if isinstance(value, np.ndarray) or (hasattr(value, "place") and hasattr(value, "numpy")):
                continue
            value = [value] if prepend_batch_axis else value
            ragged = value and isinstance(value[0], (list, tuple, np.ndarray)) and len({len(v) for v in value}) > 1
            arr = _object_array([np.asarray(v) for v in value]) if ragged else np.asarray(value)
            if tensor_type == "pd":
                if arr.dtype == object:
                    raise PaddleRembertError(f"return_tensors='pd' needs rows of one length but `{key}` has several;"
                                             " pass padding=True (or 'max_length') and truncation=True")
                import paddle

                arr = paddle.to_tensor(arr)
            self[key] = arr  # ragged rows with 'np': a 1-d object array, as transformers returns
        return self


def _lower_per_char(text):
    """``str.lower`` of each character alone, as the reference's regex does: no final-sigma rule."""
    return text.replace("\u03a3", "\u03c3").lower()


def _check_choice(name, value, choices):
    if not any(value is c or (isinstance(value, str) and value == c) for c in choices):
        raise PaddleRembertError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _object_array(items):
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


def _type_field(obj, save):
    """AddedToken <-> ``{"__type": "AddedToken", ...}`` in (nested) config values."""
    if save and isinstance(obj, AddedToken):
        return dict(obj.to_dict(), __type="AddedToken")
    if not save and isinstance(obj, dict) and obj.get("__type") == "AddedToken":
        return AddedToken.coerce({k: v for k, v in obj.items() if k != "__type"})
    if isinstance(obj, (list, tuple)):
        return [_type_field(o, save) for o in obj]
    if isinstance(obj, dict):
        return {k: _type_field(v, save) for k, v in obj.items()}
    return obj
