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

    def __init__(self, data=None, tensor_type=None, prepend_batch_axis=False):
        super().__init__(data or {})
        self.convert_to_tensors(tensor_type, prepend_batch_axis)

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
