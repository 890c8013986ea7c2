"""Output objects with transformers' attribute names.

An output is an ordered dict of its non-None fields that also allows attribute access
(``out.logits``) and integer indexing (``out[0]``), like transformers' ``ModelOutput``.
A field that was not produced reads as ``None``.
"""
from collections import OrderedDict


class ModelOutput(OrderedDict):
    fields = ()

    def __init__(self, *args, **kwargs):
        unknown = set(kwargs) - set(self.fields)
        if args or unknown:
            raise TypeError(f"{type(self).__name__} takes keyword fields {self.fields}, got {sorted(unknown)}")
        super().__init__((name, kwargs[name]) for name in self.fields if kwargs.get(name) is not None)

    def __getattr__(self, name):
        if name in type(self).fields:
            return self.get(name)
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name, value):
        """A field set by attribute (``out.logits = x``) is the dict's entry too, in field order; None removes it.
        (transformers 4.46 updates the entry only of a field already set, and keeps it on None: the attribute and
        the entry then disagree.)"""
        if name not in type(self).fields:
            return super().__setattr__(name, value)
        if value is None:
            self.pop(name, None)
            return
        self[name] = value
        for later in self.fields[self.fields.index(name) + 1:]:
            if later in self:
                self.move_to_end(later)

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def __reduce__(self):
        return (_rebuild, (type(self), dict(self)))

    def to_tuple(self):
        return tuple(self.values())


def _rebuild(cls, fields):
    return cls(**fields)


def _output(name, *fields):
    return type(name, (ModelOutput,), {"fields": fields, "__doc__": f"Fields: {', '.join(fields)}."})


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
