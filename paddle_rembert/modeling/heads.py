"""Forward passes of the task heads that are the same for every encoder model, and the tied LM decoder.

A model file declares its head classes with transformers' names and module names (the backbone
under ``base_model_prefix``, ``self.classifier``, ``self.qa_outputs`` ...) and inherits the
forward pass from one of these mixins. The mixins only use ``self.base_model`` and the head's own
layers. Where families differ they override a hook, not ``forward``:

* ``sequence_logits(outputs)``: what a sequence-classification head computes from the backbone's
  outputs (default: the pooled ``[CLS]`` through ``dropout`` and ``classifier``; RoBERTa and ELECTRA
  read the first token through their own dense layers);
* ``choice_logits(outputs)``: the same for one multiple-choice row (default as above);
* ``lm_head(sequence_output)``: the vocabulary logits of a masked-LM head.
"""
import paddle
from paddle import nn

from ..runtime.errors import PaddleRembertError
from .layers import linear
from .losses import cross_entropy, sequence_classification_loss, span_loss, token_loss
from .outputs import (
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


def _backbone_kwargs(attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                     output_attentions, output_hidden_states):
    # return_dict=True: the head reads the backbone's fields by name even when config.return_dict is False
    return dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                head_mask=head_mask, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, return_dict=True)


class SequenceClassificationHead:
    """``sequence_logits`` of the backbone's outputs; loss by ``problem_type``."""

    def sequence_logits(self, outputs):
        return self.classifier(self.dropout(outputs.pooler_output))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.sequence_logits(outputs)
        loss = sequence_classification_loss(self.config, logits, labels)
        return self.wrap_output(SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions),
            return_dict, outputs)


class MaskedLMHead:
    """Every position -> the model's ``lm_head`` -> vocabulary logits; cross-entropy ignoring -100."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.lm_head(outputs.last_hidden_state)
        return self.wrap_output(MaskedLMOutput(
            loss=token_loss(logits, labels), logits=logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict, outputs)


class TokenClassificationHead:
    """Every position -> ``dropout`` -> ``classifier``; cross-entropy ignoring label -100."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        return self.wrap_output(TokenClassifierOutput(
            loss=token_loss(logits, labels), logits=logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict, outputs)


class QuestionAnsweringHead:
    """Every position -> ``qa_outputs`` -> (start, end) logits; loss ignores out-of-range spans."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.qa_outputs(outputs.last_hidden_state)
        if logits.shape[-1] != 2:  # transformers fails to unpack them
            raise PaddleRembertError(f"{type(self).__name__} needs num_labels=2 (start and end logits); its config "
                                     f"has num_labels={logits.shape[-1]}")
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        return self.wrap_output(QuestionAnsweringModelOutput(
            loss=span_loss(start_logits, end_logits, start_positions, end_positions),
            start_logits=start_logits, end_logits=end_logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict, outputs)


class MultipleChoiceHead:
    """Inputs ``[B, C, L]`` are flattened to ``[B*C, L]``; ``choice_logits`` per row -> ``[B, C]`` logits."""

    def choice_logits(self, outputs):
        return self.classifier(self.dropout(outputs.pooler_output))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        first = input_ids if input_ids is not None else inputs_embeds
        num_choices = first.shape[1]

        def flat(x, keep=1):
            return None if x is None else x.reshape([-1] + list(x.shape[-keep:]))

        outputs = self.base_model(flat(input_ids), **_backbone_kwargs(
            flat(attention_mask), flat(token_type_ids), flat(position_ids), head_mask, flat(inputs_embeds, 2),
            output_attentions, output_hidden_states))
        logits = self.choice_logits(outputs).reshape([-1, num_choices])
        loss = None if labels is None else cross_entropy(logits, labels)
        return self.wrap_output(MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions),
            return_dict, outputs)


class TiedLMDecoder(nn.Layer):
    """Vocabulary logits ``hidden @ word_embeddings.T + bias``: the masked-LM decoder of ALBERT and BERT.

    With ``tie=True`` (``config.tie_word_embeddings``, the default) the weight *is* the word
    embedding: ``weight`` gives the embedding's own ``[vocab, in]`` parameter (the tensor transformers' tied
    decoder holds, so ``get_output_embeddings().weight is get_input_embeddings().weight``), which this layer
    reads but does not register: it is in ``parameters()`` and ``state_dict()`` once, under the embedding's
    name. transformers' duplicate key ``<prefix>.weight`` is dropped on load and re-created on export
    (``PretrainedModel.tied_weights``). With ``tie=False`` it owns an ``[in, vocab]`` weight, stored transposed
    like a Linear's (transformers' is ``[vocab, in]``). Assigning the embedding's weight to ``weight`` ties the
    decoder, as in transformers; assigning an ``[in, vocab]`` parameter unties it (while the config ties the
    embeddings, until ``tie_weights`` or a resize ties it again, as there).
    ``shared_bias``: the parent's own bias parameter (``predictions.bias``), whose duplicate
    ``<prefix>.bias`` transformers also stores; without it the decoder owns its bias. ``copy_wins``: after
    loading, transformers re-ties the parent's bias to this decoder's (ALBERT, RoBERTa), so where a checkpoint's
    two copies differ, the decoder's is the one used (``PretrainedModel.tied_copies_kept``). ``bias=False``: no
    bias at all (what ``tie_weights`` makes of a bias-less Linear, as transformers' tied decoder keeps ``None``).
    """

    transposed_weight = True  # a torch checkpoint holds [vocab, in]: converted like nn.Linear weights

    def __init__(self, word_embeddings, in_size, vocab_size, tie=True, shared_bias=None, copy_wins=False, bias=True):
        super().__init__()
        self._refs = {"embeddings": word_embeddings, "bias": shared_bias}  # references, not sublayers/parameters
        self.copy_wins = copy_wins
        if not tie:
            self.weight = self.create_parameter([in_size, vocab_size])
        own_bias = bias and shared_bias is None
        self.bias = self.create_parameter([vocab_size], is_bias=True) if own_bias else None

    @property
    def tied(self):
        """Whether the weight is the word embedding's (no weight of this layer's own)."""
        return self._parameters.get("weight") is None

    @property
    def weight(self):
        if self.tied:
            return self._refs["embeddings"].weight
        return nn.Layer.__getattr__(self, "weight")  # under to_static, the graph's variable for it

    def __setattr__(self, name, value):
        if name != "weight":
            return super().__setattr__(name, value)
        embedding = self._refs["embeddings"].weight
        if value is embedding:
            self._parameters.pop("weight", None)
            return
        if not isinstance(value, paddle.base.framework.EagerParamBase) or value.ndim != 2 \
                or value.shape[0] != embedding.shape[1]:
            raise PaddleRembertError(
                f"{type(self).__name__}.weight takes the word embedding's weight (to tie the decoder) or a parameter "
                f"of shape [{embedding.shape[1]}, vocab] (to untie it), got "
                f"{getattr(value, 'shape', type(value).__name__)}")
        self._parameters["weight"] = value

    @property
    def tied_embeddings(self):
        return self._refs["embeddings"] if self.tied else None

    @property
    def shared_bias(self):
        return self._refs["bias"]

    def forward(self, hidden_states):
        bias = self.bias if self.bias is not None else self.shared_bias
        if self.tied:
            return linear(hidden_states, self.tied_embeddings.weight, bias, transpose_w=True)
        return linear(hidden_states, self.weight, bias)
