"""RoBERTa in Paddle, with transformers' module names so state-dict keys match theirs.

Architecture notes (transformers' ``modeling_roberta.py`` is the numerical reference): BERT's
encoder (:mod:`paddle_rembert.modeling.encoder`) with fairseq's positions: real tokens count from
``pad_token_id + 1`` and padding sits at position ``pad_token_id`` (a ``padding_idx`` row of the
position embedding). ``type_vocab_size`` is 1 in the checkpoints. The ``lm_head`` decoder is tied to
the word embeddings and shares ``lm_head.bias``; classification reads ``<s>`` through
``RobertaClassificationHead``.
"""
import paddle
import paddle.nn.functional as F
from paddle import nn

from ...checkpoint.paddlenlp import CLASSIFIER_AS_QA_OUTPUTS, TRANSFORMER_ENCODER
from ...modeling.encoder import (
    CausalLMHead,
    CrossAttendingMaskedLMHead,
    PooledEncoderBackbone,
    TransformerEmbeddings,
    TransformerEncoder,
    TransformerPooler,
)
from ...modeling.heads import (
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TiedLMDecoder,
    TokenClassificationHead,
)
from ...modeling.layers import Dropout, Linear, LayerNorm
from ...modeling.modeling_utils import PretrainedModel
from ..bert.modeling import classifier_dropout
from .configuration import RobertaConfig


def create_position_ids_from_input_ids(input_ids, padding_idx, past_key_values_length=0):
    """fairseq's positions: ``padding_idx + 1, +2, ...`` over real tokens, ``padding_idx`` on padding."""
    mask = (input_ids != padding_idx).astype("int64")
    return (paddle.cumsum(mask, axis=1) + past_key_values_length) * mask + padding_idx


class RobertaEmbeddings(TransformerEmbeddings):
    """BERT's embeddings; the position embedding has PyTorch's ``padding_idx`` at ``pad_token_id``."""

    def __init__(self, config):
        super().__init__(config, position_padding_idx=config.pad_token_id)
        self.padding_idx = config.pad_token_id


class RobertaLMHead(nn.Layer):
    """dense -> exact gelu -> ``layer_norm`` -> decoder (the word embeddings, unless untied) + ``bias``."""

    def __init__(self, config, word_embeddings):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.bias = self.create_parameter([config.vocab_size], is_bias=True)
        self.decoder = TiedLMDecoder(word_embeddings, config.hidden_size, config.vocab_size,
                                     tie=config.tie_word_embeddings, shared_bias=self.bias, copy_wins=True)

    def forward(self, features):
        return self.decoder(self.layer_norm(F.gelu(self.dense(features))))


class RobertaClassificationHead(nn.Layer):
    """``<s>`` -> dropout -> dense -> tanh -> dropout -> ``out_proj``."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.dropout = Dropout(classifier_dropout(config))
        self.out_proj = Linear(config.hidden_size, config.num_labels)

    def forward(self, features):
        x = self.dropout(features[:, 0])
        x = self.dropout(paddle.tanh(self.dense(x)))
        return self.out_proj(x)


class RobertaPreTrainedModel(PretrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"
    paddlenlp_names = TRANSFORMER_ENCODER
    paddlenlp_qa_names = CLASSIFIER_AS_QA_OUTPUTS

    def make_position_ids(self, input_ids, inputs_embeds, shape, past_length):
        """From the ids: fairseq's rule. From ``inputs_embeds`` transformers cannot see the padding and
        counts ``padding_idx + 1 ..`` over every position (ignoring any cache, as transformers does)."""
        padding_idx = self.config.pad_token_id
        if input_ids is not None:
            return create_position_ids_from_input_ids(input_ids, padding_idx, past_length)
        positions = paddle.arange(padding_idx + 1, shape[1] + padding_idx + 1, dtype="int64").unsqueeze(0)
        return positions.expand(shape[:2])


class RobertaModel(PooledEncoderBackbone, RobertaPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = RobertaEmbeddings(config)
        self.encoder = TransformerEncoder(config)
        self.pooler = TransformerPooler(config) if add_pooling_layer else None
        self.post_init()


class _RobertaWithLMHead(RobertaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config, self.roberta.embeddings.word_embeddings)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder


class RobertaForCausalLM(CausalLMHead, _RobertaWithLMHead):
    """Left-to-right LM; needs ``is_decoder=True`` for causal attention, as in transformers."""


class RobertaForMaskedLM(CrossAttendingMaskedLMHead, _RobertaWithLMHead):
    pass


class RobertaForSequenceClassification(SequenceClassificationHead, RobertaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(config)
        self.post_init()

    def sequence_logits(self, outputs):
        return self.classifier(outputs.last_hidden_state)


class RobertaForMultipleChoice(MultipleChoiceHead, RobertaPreTrainedModel):
    """The pooled ``<s>`` -> dropout (``hidden_dropout_prob``) -> ``classifier``; transformers' argument order."""

    def __init__(self, config):
        super().__init__(config)
        self.roberta = RobertaModel(config)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, token_type_ids=None, attention_mask=None, labels=None, position_ids=None,
                head_mask=None, inputs_embeds=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        return MultipleChoiceHead.forward(
            self, input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
            head_mask=head_mask, inputs_embeds=inputs_embeds, labels=labels, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=return_dict)


class RobertaForTokenClassification(TokenClassificationHead, RobertaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.dropout = Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class RobertaForQuestionAnswering(QuestionAnsweringHead, RobertaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()
