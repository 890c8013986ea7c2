"""ELECTRA in Paddle, with transformers' module names so state-dict keys match theirs.

Architecture notes (transformers' ``modeling_electra.py`` is the numerical reference):

* Embeddings of ``embedding_size`` are projected to ``hidden_size`` by ``electra.embeddings_project``
  when the sizes differ; the encoder is BERT's (:mod:`paddle_rembert.modeling.encoder`); no pooler.
* The discriminator (``ElectraForPreTraining``) scores every token as replaced or original; its
  loss is binary cross-entropy over the tokens the attention mask keeps.
* The generator (masked and causal LM) maps to ``embedding_size`` (``generator_predictions``) and
  decodes with ``generator_lm_head``, tied to the word embeddings but with its own bias.
"""
import paddle
from paddle import nn

from ...checkpoint.paddlenlp import CLASSIFIER_AS_QA_OUTPUTS, TRANSFORMER_ENCODER
from ...modeling.encoder import CausalLMHead, EncoderBackbone, TransformerEmbeddings, TransformerEncoder
from ...modeling.heads import (
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TiedLMDecoder,
    TokenClassificationHead,
)
from ...modeling.layers import Dropout, Linear, LayerNorm, get_activation
from ...modeling.losses import replaced_token_loss
from ...modeling.modeling_utils import PretrainedModel
from ...modeling.outputs import BaseModelOutputWithCrossAttentions, ElectraForPreTrainingOutput
from ...runtime.errors import PaddleRembertError
from ..bert.modeling import classifier_dropout
from .configuration import ElectraConfig


class ElectraEmbeddings(TransformerEmbeddings):
    def __init__(self, config):
        super().__init__(config, size=config.embedding_size)


class ElectraDiscriminatorPredictions(nn.Layer):
    """dense -> ``hidden_act`` -> ``dense_prediction``: a logit per token (``squeeze(-1)``: batch 1 keeps its axis)."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation(config.hidden_act)
        self.dense_prediction = Linear(config.hidden_size, 1)

    def forward(self, discriminator_hidden_states):
        return self.dense_prediction(self.activation(self.dense(discriminator_hidden_states))).squeeze(-1)


class ElectraGeneratorPredictions(nn.Layer):
    """dense (hidden -> embedding_size) -> exact gelu -> ``LayerNorm``."""

    def __init__(self, config):
        super().__init__()
        self.activation = get_activation("gelu")
        self.LayerNorm = LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.dense = Linear(config.hidden_size, config.embedding_size)

    def forward(self, generator_hidden_states):
        return self.LayerNorm(self.activation(self.dense(generator_hidden_states)))


class ElectraClassificationHead(nn.Layer):
    """``[CLS]`` -> dropout -> dense -> exact gelu (BERT uses tanh) -> dropout -> ``out_proj``."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation("gelu")
        self.dropout = Dropout(classifier_dropout(config))
        self.out_proj = Linear(config.hidden_size, config.num_labels)

    def forward(self, features):
        x = self.dropout(features[:, 0])
        x = self.dropout(self.activation(self.dense(x)))
        return self.out_proj(x)


class SequenceSummary(nn.Layer):
    """transformers' ``SequenceSummary``: one vector per sequence (``summary_type``), then an optional
    projection (``summary``), activation and dropouts, all read from the config as transformers does."""

    def __init__(self, config):
        super().__init__()
        self.summary_type = getattr(config, "summary_type", "last")
        if self.summary_type not in ("last", "first", "mean", "cls_index"):
            raise PaddleRembertError(f"summary_type {self.summary_type!r} is not supported (transformers has no "
                                     "implementation of it either)")
        self.summary = None
        if getattr(config, "summary_use_proj", False):
            to_labels = getattr(config, "summary_proj_to_labels", False) and config.num_labels > 0
            self.summary = Linear(config.hidden_size, config.num_labels if to_labels else config.hidden_size)
        activation = getattr(config, "summary_activation", None)
        self.activation = get_activation(activation) if activation else None
        first, last = getattr(config, "summary_first_dropout", 0) or 0, getattr(config, "summary_last_dropout", 0) or 0
        self.first_dropout = Dropout(first) if first > 0 else None
        self.last_dropout = Dropout(last) if last > 0 else None

    def forward(self, hidden_states, cls_index=None):
        if self.summary_type == "last":
            output = hidden_states[:, -1]
        elif self.summary_type == "first":
            output = hidden_states[:, 0]
        elif self.summary_type == "mean":
            output = hidden_states.mean(axis=1)
        else:  # cls_index: the given position per row, by default the last
            if cls_index is None:
                cls_index = paddle.full([hidden_states.shape[0]], hidden_states.shape[-2] - 1, dtype="int64")
            output = paddle.take_along_axis(hidden_states, cls_index.reshape([-1, 1, 1]).astype("int64"),
                                            axis=1, broadcast=True).squeeze(1)
        for layer in (self.first_dropout, self.summary, self.activation, self.last_dropout):
            if layer is not None:
                output = layer(output)
        return output


class ElectraPreTrainedModel(PretrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"
    # PaddleNLP's generator keeps its (tied) decoder's bias beside the head, and names its LayerNorm layer_norm
    paddlenlp_names = TRANSFORMER_ENCODER + (
        (r"^generator_lm_head_bias$", "generator_lm_head.bias"),
        (r"^generator_predictions\.layer_norm\.", "generator_predictions.LayerNorm."))
    paddlenlp_qa_names = CLASSIFIER_AS_QA_OUTPUTS


class ElectraModel(EncoderBackbone, ElectraPreTrainedModel):
    """Embeddings (projected when ``embedding_size != hidden_size``) and the encoder; no pooler. Unlike
    BERT's, transformers' ELECTRA returns a decoder's cache only when ``use_cache`` is given. An encoder
    (``is_decoder=False``) returns none, as BERT's does, even with ``use_cache=True``, where transformers' ELECTRA
    returns each layer's output in ``past_key_values``: not a cache, and one more item in its tuple."""

    use_cache_from_config = False

    def __init__(self, config):
        super().__init__(config)
        self.embeddings = ElectraEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = Linear(config.embedding_size, config.hidden_size)
        self.encoder = TransformerEncoder(config)
        self.post_init()

    def embed_project(self, embedding_output):
        return self.embeddings_project(embedding_output) if hasattr(self, "embeddings_project") else embedding_output

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        sequence_output, cache, hidden_states, attentions, cross = self.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, encoder_hidden_states,
            encoder_attention_mask, past_key_values, use_cache, output_attentions, output_hidden_states)
        return self.wrap_output(BaseModelOutputWithCrossAttentions(
            last_hidden_state=sequence_output, past_key_values=cache, hidden_states=hidden_states,
            attentions=attentions, cross_attentions=cross), return_dict)


class ElectraForPreTraining(ElectraPreTrainedModel):
    """The discriminator: a replaced-token logit per token (``[batch, length]``, also for batch 1)."""

    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.electra(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True)
        logits = self.discriminator_predictions(outputs.last_hidden_state)
        return self.wrap_output(ElectraForPreTrainingOutput(
            loss=replaced_token_loss(logits, labels, attention_mask), logits=logits,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions), return_dict, outputs)


class _ElectraGenerator(ElectraPreTrainedModel):
    """The generator head: ``generator_predictions`` then ``generator_lm_head`` (tied weight, own bias)."""

    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = TiedLMDecoder(self.electra.embeddings.word_embeddings, config.embedding_size,
                                               config.vocab_size, tie=config.tie_word_embeddings)
        self.post_init()

    def get_output_embeddings(self):
        return self.generator_lm_head

    def lm_head(self, sequence_output):
        return self.generator_lm_head(self.generator_predictions(sequence_output))


class ElectraForMaskedLM(MaskedLMHead, _ElectraGenerator):
    pass


class ElectraForCausalLM(CausalLMHead, _ElectraGenerator):
    """Left-to-right LM; needs ``is_decoder=True`` for causal attention, as in transformers."""


class ElectraForSequenceClassification(SequenceClassificationHead, ElectraPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.classifier = ElectraClassificationHead(config)
        self.post_init()

    def sequence_logits(self, outputs):
        return self.classifier(outputs.last_hidden_state)


class ElectraForMultipleChoice(MultipleChoiceHead, ElectraPreTrainedModel):
    """``SequenceSummary`` of each choice -> ``classifier``."""

    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.sequence_summary = SequenceSummary(config)
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()

    def choice_logits(self, outputs):
        return self.classifier(self.sequence_summary(outputs.last_hidden_state))


class ElectraForTokenClassification(TokenClassificationHead, ElectraPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.dropout = Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class ElectraForQuestionAnswering(QuestionAnsweringHead, ElectraPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()
