"""The small value types of the tokenizers: ``AddedToken`` and ``BatchEncoding``.

Same fields and behaviour as transformers' / tokenizers' classes of these names, so code written
against transformers keeps working.
"""
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
        self.content, self.single_word, self.lstrip, self.rstrip = content, bool(single_word), bool(lstrip), bool(rstrip)
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


class BatchEncoding(dict):
    """The output of ``__call__``: a dict (``input_ids``, ``token_type_ids``, ...) with attribute access."""

    def __init__(self, data=None, tensor_type=None, prepend_batch_axis=False, detail=None):
        super().__init__(data or {})
        self._detail = detail  # {"sequence_ids": rows, "word_ids": rows} or a callable computing them on demand
        self.convert_to_tensors(tensor_type, prepend_batch_axis)

    def __getstate__(self):
        detail = self.__dict__.get("_detail")
        return {"_detail": detail if isinstance(detail, dict) else None}

    def _detail_rows(self, key):
        detail = self.__dict__.get("_detail")
        if detail is None:
            raise PaddleRembertError(f"{key}() needs an encoding made by a paddle_rembert tokenizer's __call__")
        if not isinstance(detail, dict):
            ids = self["input_ids"]
            ids = ids.tolist() if hasattr(ids, "tolist") else ids.numpy().tolist() if hasattr(ids, "numpy") else ids
            ids = ids if ids and isinstance(ids[0], (list, tuple)) else [ids]
            detail = self._detail = {"sequence_ids": None, "word_ids": None, "lazy": detail, "ids": ids}
        if detail.get(key) is None:
            detail[key] = detail["lazy"](key, detail["ids"])
        return detail[key]

    def sequence_ids(self, batch_index=0):
        """Per token: ``None`` for a special or pad token, 0/1 for the first/second sequence (fast tokenizers')."""
        return list(self._detail_rows("sequence_ids")[batch_index])

    def word_ids(self, batch_index=0):
        """Per token: the index of its pre-tokenised word in its sequence, ``None`` for special and pad tokens."""
        return list(self._detail_rows("word_ids")[batch_index])

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
