"""Output objects with transformers' attribute names and ``ModelOutput`` semantics.

Each output class is a dataclass whose fields default to None, and an ordered dict of the fields that are not
None, in field order: attribute access (``out.logits``), keys (``out["logits"]``) and integer or slice indexing
(``out[0]``, the tuple of the entries) work as in transformers, and so do positional arguments,
``dataclasses.replace``/``fields``/``asdict``, ``copy``, ``deepcopy`` and pickling (which keep attributes a
caller added); as there, ``pop``, ``update``, ``setdefault`` and ``del`` are refused. One difference, on purpose:
setting a field by attribute also sets its entry in field order, and None removes it (transformers 4.46 updates the
entry only of a field already set, and keeps it on None: the attribute and the entry then disagree).
"""
import dataclasses
from collections import OrderedDict
from typing import Any, Optional

from ..runtime.errors import PaddleRembertError


def _is_tensor(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _is_pair(item):
    return isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)


class ModelOutput(OrderedDict):
    """Base of the output dataclasses below (see the module docstring)."""

    def _field_names(self):
        return tuple(getattr(type(self), "__dataclass_fields__", ()))

    def __post_init__(self):
        """transformers' rule: a dict or ``(name, value)`` pairs as the only argument set the fields by name (how
        Paddle's and PyTorch's output packing rebuild an output: ``type(out)((k, v) for k in out)``); an empty one
        sets none (the first field's attribute keeps it, without an entry)."""
        names = self._field_names()
        first = getattr(self, names[0])
        if first is None or _is_tensor(first) or any(getattr(self, name) is not None for name in names[1:]):
            return
        if isinstance(first, dict):
            items = list(first.items())
        else:
            try:
                items = list(first)
            except TypeError:
                return
        if not items:  # no pairs to set: the attribute keeps the empty value, with no entry
            OrderedDict.pop(self, names[0], None)
            return
        if not _is_pair(items[0]):
            setattr(self, names[0], first)  # a plain value (a tuple of tensors, say): the first field keeps it
            return
        bad = next((item for item in items if not _is_pair(item)), None)
        if bad is not None:  # transformers' ValueError and message; ours is one (PaddleRembertError)
            raise PaddleRembertError(f"Cannot set key/value for {bad}. It needs to be a tuple (key, value).")
        setattr(self, names[0], None)
        for name, value in items:
            if value is None:
                object.__setattr__(self, name, value)
            else:
                self[name] = value

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        names = self._field_names()
        if name not in names:
            if name in self.keys() and value is not None:  # an entry set by key follows its attribute
                OrderedDict.__setitem__(self, name, value)
            return
        if value is None:
            OrderedDict.pop(self, name, None)
            return
        OrderedDict.__setitem__(self, name, value)
        for later in names[names.index(name) + 1:]:
            if later in self:
                self.move_to_end(later)

    def __setitem__(self, key, value):
        OrderedDict.__setitem__(self, key, value)
        object.__setattr__(self, key, value)

    def __getitem__(self, key):
        if isinstance(key, str):
            return OrderedDict.__getitem__(self, key)
        return self.to_tuple()[key]

    def _refuse(self, method):
        raise PaddleRembertError(f"You cannot use ``{method}`` on a {type(self).__name__} instance: set a field "
                                 "to None to remove it")

    def __delitem__(self, key):
        self._refuse("__delitem__")

    def pop(self, *args, **kwargs):
        self._refuse("pop")

    def update(self, *args, **kwargs):
        self._refuse("update")

    def setdefault(self, *args, **kwargs):
        self._refuse("setdefault")

    def __reduce__(self):
        """As transformers': rebuilt from the fields, then the attributes and entries (a caller's too) restored."""
        rebuild, _args, *rest = super().__reduce__()
        return (rebuild, tuple(getattr(self, name) for name in self._field_names()), *rest)

    def to_tuple(self):
        return tuple(self[key] for key in self.keys())


def _output(name, *fields):
    return dataclasses.make_dataclass(
        name, [(field, Optional[Any], None) for field in fields], bases=(ModelOutput,),
        namespace={"__doc__": f"Fields: {', '.join(fields)}.", "__module__": __name__})


_COMMON = ("hidden_states", "attentions")
# Field order is transformers' (it decides ``to_tuple()``): ALBERT leaves the cache fields empty.
BaseModelOutputWithPooling = _output(
    "BaseModelOutputWithPooling", "last_hidden_state", "pooler_output", "hidden_states", "past_key_values",
    "attentions", "cross_attentions",
)
MaskedLMOutput = _output("MaskedLMOutput", "loss", "logits", *_COMMON)
CausalLMOutput = _output(
    "CausalLMOutput", "loss", "logits", "past_key_values", "hidden_states", "attentions", "cross_attentions"
)
SequenceClassifierOutput = _output("SequenceClassifierOutput", "loss", "logits", *_COMMON)
MultipleChoiceModelOutput = _output("MultipleChoiceModelOutput", "loss", "logits", *_COMMON)
TokenClassifierOutput = _output("TokenClassifierOutput", "loss", "logits", *_COMMON)
QuestionAnsweringModelOutput = _output(
    "QuestionAnsweringModelOutput", "loss", "start_logits", "end_logits", *_COMMON
)
AlbertForPreTrainingOutput = _output("AlbertForPreTrainingOutput", "loss", "prediction_logits", "sop_logits", *_COMMON)
BaseModelOutputWithPoolingAndCrossAttentions = _output(
    "BaseModelOutputWithPoolingAndCrossAttentions", "last_hidden_state", "pooler_output", "hidden_states",
    "past_key_values", "attentions", "cross_attentions",
)
BaseModelOutputWithCrossAttentions = _output(
    "BaseModelOutputWithCrossAttentions", "last_hidden_state", "past_key_values", "hidden_states", "attentions",
    "cross_attentions",
)
CausalLMOutputWithCrossAttentions = _output(
    "CausalLMOutputWithCrossAttentions", "loss", "logits", "past_key_values", "hidden_states", "attentions",
    "cross_attentions",
)
BertForPreTrainingOutput = _output(
    "BertForPreTrainingOutput", "loss", "prediction_logits", "seq_relationship_logits", *_COMMON
)
NextSentencePredictorOutput = _output("NextSentencePredictorOutput", "loss", "logits", *_COMMON)
ElectraForPreTrainingOutput = _output("ElectraForPreTrainingOutput", "loss", "logits", *_COMMON)
