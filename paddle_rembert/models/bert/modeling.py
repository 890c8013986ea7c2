"""BERT in Paddle, with transformers' module names so state-dict keys match theirs.

Architecture notes (transformers' ``modeling_bert.py`` is the numerical reference): the encoder is
:mod:`paddle_rembert.modeling.encoder` (relative positions, decoders, cross-attention, the cache);
the masked-LM decoder is tied to the word embeddings (``cls.predictions.decoder``) and shares
``cls.predictions.bias``, unless ``tie_word_embeddings=False``. The MultiBERTs and SpanBERT
checkpoints are BERT checkpoints.
"""
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
from ...modeling.layers import Dropout, Linear, LayerNorm, get_activation
from ...modeling.losses import next_sentence_loss, token_loss
from ...modeling.modeling_utils import PretrainedModel
from ...modeling.outputs import (
    BertForPreTrainingOutput,
    NextSentencePredictorOutput,
)
from ...runtime.errors import PaddleRembertError
from .configuration import BertConfig


def classifier_dropout(config):
    """``classifier_dropout``, or ``hidden_dropout_prob`` when it is ``None`` (transformers' rule)."""
    p = getattr(config, "classifier_dropout", None)
    return p if p is not None else config.hidden_dropout_prob


class BertPredictionHeadTransform(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = get_activation(config.hidden_act)
        self.LayerNorm = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Layer):
    """transform -> decoder (the word embeddings, transposed, unless untied) + ``bias``."""

    def __init__(self, config, word_embeddings):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.bias = self.create_parameter([config.vocab_size], is_bias=True)
        self.decoder = TiedLMDecoder(word_embeddings, config.hidden_size, config.vocab_size,
                                     tie=config.tie_word_embeddings, shared_bias=self.bias)

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Layer):
    def __init__(self, config, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class BertOnlyNSPHead(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.seq_relationship = Linear(config.hidden_size, 2)

    def forward(self, pooled_output):
        return self.seq_relationship(pooled_output)


class BertPreTrainingHeads(nn.Layer):
    def __init__(self, config, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings)
        self.seq_relationship = Linear(config.hidden_size, 2)

    def forward(self, sequence_output, pooled_output):
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


class BertPreTrainedModel(PretrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    # PaddleNLP's pre-training head: transform is the Linear itself, its LayerNorm beside it, the bias as decoder_bias
    paddlenlp_names = TRANSFORMER_ENCODER + (
        (r"^cls\.predictions\.transform\.(weight|bias)$", r"cls.predictions.transform.dense.\1"),
        (r"^cls\.predictions\.layer_norm\.", "cls.predictions.transform.LayerNorm."),
        (r"^cls\.predictions\.decoder_bias$", "cls.predictions.bias"))
    paddlenlp_qa_names = CLASSIFIER_AS_QA_OUTPUTS


class BertModel(PooledEncoderBackbone, BertPreTrainedModel):
    """Embeddings, the encoder and (``add_pooling_layer``) the ``tanh`` pooler of ``[CLS]``."""

    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = TransformerEmbeddings(config)
        self.encoder = TransformerEncoder(config)
        self.pooler = TransformerPooler(config) if add_pooling_layer else None
        self.post_init()


class _BertWithMLMHead(BertPreTrainedModel):
    """A backbone without pooler and the ``cls`` masked-LM head (masked and causal LM alike)."""

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def lm_head(self, sequence_output):
        return self.cls(sequence_output)


class BertForPreTraining(BertPreTrainedModel):
    """Masked LM and next-sentence prediction; the loss (both labels given) is the sum of the two."""

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config, self.bert.embeddings.word_embeddings)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, next_sentence_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True)
        prediction_scores, seq_relationship_score = self.cls(outputs.last_hidden_state, outputs.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = token_loss(prediction_scores, labels) + next_sentence_loss(seq_relationship_score,
                                                                              next_sentence_label)
        return self.wrap_output(BertForPreTrainingOutput(
            loss=loss, prediction_logits=prediction_scores, seq_relationship_logits=seq_relationship_score,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions), return_dict, outputs)


class BertLMHeadModel(CausalLMHead, _BertWithMLMHead):
    """BERT's causal LM (transformers' name; ``AutoModelForCausalLM`` maps to it)."""


class BertForMaskedLM(CrossAttendingMaskedLMHead, _BertWithMLMHead):
    pass


class BertForNextSentencePrediction(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertOnlyNSPHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        if "next_sentence_label" in kwargs:  # transformers' deprecated name for ``labels``
            labels = kwargs.pop("next_sentence_label")
        if kwargs:
            raise PaddleRembertError(f"BertForNextSentencePrediction got unexpected arguments {sorted(kwargs)}")
        outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True)
        logits = self.cls(outputs.pooler_output)
        return self.wrap_output(NextSentencePredictorOutput(
            loss=next_sentence_loss(logits, labels), logits=logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict, outputs)


class BertForSequenceClassification(SequenceClassificationHead, BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class BertForMultipleChoice(MultipleChoiceHead, BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()


class BertForTokenClassification(TokenClassificationHead, BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class BertForQuestionAnswering(QuestionAnsweringHead, BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()
