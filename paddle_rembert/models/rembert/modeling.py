"""RemBERT in Paddle, with transformers' module names so state-dict keys match theirs.

Architecture notes (transformers' ``modeling_rembert.py`` is the numerical reference):

* Small input embeddings (``input_embedding_size``) are projected to ``hidden_size`` by
  ``encoder.embedding_hidden_mapping_in``; the layers are BERT's.
* The MLM head projects to ``output_embedding_size`` and decodes with its own output embedding
  (``cls.predictions.decoder``), untied from the input embeddings. This is most of the model's
  parameters (250,300 x 1,664 in google/rembert).
* As a decoder (``is_decoder``) the layers are causal, may cross-attend
  (``add_cross_attention``) and can return/consume a key-value cache
  (:mod:`paddle_rembert.modeling.encoder`, shared with the BERT family).
"""
from paddle import nn

from ...checkpoint.paddlenlp import EMBEDDINGS_LAYER_NORM
from ...modeling.heads import (
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
)
from ...modeling.encoder import (
    CrossAttendingMaskedLMHead,
    PooledEncoderBackbone,
    TransformerEncoder,
    TransformerPooler,
)
from ...modeling.layers import Dropout, Embedding, LayerNorm, Linear, dropout_from_classifier_prob, get_activation
from ...modeling.losses import cross_entropy
from ...modeling.outputs import CausalLMOutputWithCrossAttentions
from ...modeling.modeling_utils import PretrainedModel
from .configuration import RemBertConfig


class RemBertEmbeddings(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = Embedding(config.vocab_size, config.input_embedding_size, config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.input_embedding_size)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.input_embedding_size)
        self.LayerNorm = LayerNorm(config.input_embedding_size, epsilon=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class RemBertEncoder(TransformerEncoder):
    """BERT's layers after ``embedding_hidden_mapping_in`` (input embedding size -> hidden size). As in
    transformers, the attention is absolute whatever ``position_embedding_type`` a config carries."""

    def __init__(self, config):
        super().__init__(config, position_embedding_type="absolute")
        self.embedding_hidden_mapping_in = Linear(config.input_embedding_size, config.hidden_size)

    def project_input(self, hidden_states):
        return self.embedding_hidden_mapping_in(hidden_states)


class RemBertLMPredictionHead(nn.Layer):
    """dense (hidden -> output_embedding_size) -> activation -> LayerNorm -> untied decoder."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.output_embedding_size)
        self.decoder = Linear(config.output_embedding_size, config.vocab_size)
        self.activation = get_activation(config.hidden_act)
        self.LayerNorm = LayerNorm(config.output_embedding_size, epsilon=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class RemBertOnlyMLMHead(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.predictions = RemBertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class RemBertPreTrainedModel(PretrainedModel):
    config_class = RemBertConfig
    base_model_prefix = "rembert"
    # PaddleNLP's names are transformers' but for its LayerNorms and its sequence classifier ("dense"); its masked-LM
    # head is not RemBERT's (its decoder outputs the hidden size), so its names stay unread and it is refused
    paddlenlp_names = EMBEDDINGS_LAYER_NORM + ((r"\.output\.layer_norm\.", ".output.LayerNorm."),
                                               (r"^dense\.", "classifier."))


class RemBertModel(PooledEncoderBackbone, RemBertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = RemBertEmbeddings(config)
        self.encoder = RemBertEncoder(config)
        self.pooler = TransformerPooler(config) if add_pooling_layer else None
        self.post_init()


class _RemBertWithLMHead(RemBertPreTrainedModel):
    """A backbone without pooler and the untied LM head ``cls`` (masked and causal LM alike)."""

    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config, add_pooling_layer=False)
        self.cls = RemBertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def lm_head(self, sequence_output):
        return self.cls(sequence_output)


class RemBertForMaskedLM(CrossAttendingMaskedLMHead, _RemBertWithLMHead):
    pass


class RemBertForCausalLM(_RemBertWithLMHead):
    """Left-to-right LM; needs ``is_decoder=True`` for causal attention, as in transformers."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        outputs = self.rembert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                               encoder_hidden_states=encoder_hidden_states,
                               encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values,
                               use_cache=use_cache, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:  # position t predicts token t+1
            loss = cross_entropy(logits[:, :-1], labels[:, 1:])
        return self.wrap_output(CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, cross_attentions=outputs.cross_attentions), return_dict)


class RemBertForSequenceClassification(SequenceClassificationHead, RemBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config)
        self.dropout = dropout_from_classifier_prob(config, type(self).__name__)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class RemBertForTokenClassification(TokenClassificationHead, RemBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config, add_pooling_layer=False)
        self.dropout = dropout_from_classifier_prob(config, type(self).__name__)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class RemBertForQuestionAnswering(QuestionAnsweringHead, RemBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class RemBertForMultipleChoice(MultipleChoiceHead, RemBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config)
        self.dropout = dropout_from_classifier_prob(config, type(self).__name__)
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()
