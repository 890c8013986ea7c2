"""RemBERT in Paddle, with transformers' module names so state-dict keys match theirs.

Architecture notes (transformers' ``modeling_rembert.py`` is the numerical reference):

* Small input embeddings (``input_embedding_size``) are projected to ``hidden_size`` by
  ``encoder.embedding_hidden_mapping_in``; the layers are BERT's.
* The MLM head projects to ``output_embedding_size`` and decodes with its own output embedding
  (``cls.predictions.decoder``), untied from the input embeddings. This is most of the model's
  parameters (250,300 x 1,664 in google/rembert).
* As a decoder (``is_decoder``) the layers are causal, may cross-attend
  (``add_cross_attention``) and can return/consume a key-value cache.
"""
import paddle
from paddle import nn

from ...modeling.heads import (
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
)
from ...modeling.layers import (
    Embedding,
    Linear,
    additive_attention_mask,
    attention,
    expand_head_mask,
    get_activation,
    merge_heads,
    split_heads,
)
from ...modeling.losses import cross_entropy
from ...modeling.outputs import BaseModelOutputWithPooling, CausalLMOutput
from ...modeling.modeling_utils import PretrainedModel
from .configuration import RemBertConfig


class RemBertEmbeddings(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = Embedding(config.vocab_size, config.input_embedding_size, config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.input_embedding_size)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.input_embedding_size)
        self.LayerNorm = nn.LayerNorm(config.input_embedding_size, epsilon=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class RemBertSelfAttention(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        head_size = config.hidden_size // config.num_attention_heads
        all_head_size = self.num_attention_heads * head_size
        self.query = Linear(config.hidden_size, all_head_size)
        self.key = Linear(config.hidden_size, all_head_size)
        self.value = Linear(config.hidden_size, all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.is_decoder = config.is_decoder

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None):
        heads = self.num_attention_heads
        q = split_heads(self.query(hidden_states), heads)
        if encoder_hidden_states is not None:  # cross-attention: keys/values from the encoder
            attention_mask = encoder_attention_mask
            if past_key_value is not None:
                k, v = past_key_value
            else:
                k = split_heads(self.key(encoder_hidden_states), heads)
                v = split_heads(self.value(encoder_hidden_states), heads)
        else:
            k = split_heads(self.key(hidden_states), heads)
            v = split_heads(self.value(hidden_states), heads)
            if past_key_value is not None:
                k = paddle.concat([past_key_value[0], k], axis=2)
                v = paddle.concat([past_key_value[1], v], axis=2)
        context, probs = attention(q, k, v, attention_mask, self.dropout, head_mask)
        return merge_heads(context), probs, (k, v) if self.is_decoder else None


class RemBertSelfOutput(nn.Layer):
    def __init__(self, config, in_size):
        super().__init__()
        self.dense = Linear(in_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class RemBertAttention(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.self = RemBertSelfAttention(config)
        self.output = RemBertSelfOutput(config, config.hidden_size)

    def forward(self, hidden_states, *args, **kwargs):
        context, probs, present = self.self(hidden_states, *args, **kwargs)
        return self.output(context, hidden_states), probs, present


class RemBertIntermediate(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = get_activation(config.hidden_act)

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class RemBertLayer(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.attention = RemBertAttention(config)
        self.is_decoder = config.is_decoder
        if config.add_cross_attention:
            if not config.is_decoder:
                raise ValueError("add_cross_attention=True needs is_decoder=True")
            self.crossattention = RemBertAttention(config)
        self.intermediate = RemBertIntermediate(config)
        self.output = RemBertSelfOutput(config, config.intermediate_size)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None):
        self_past = past_key_value[:2] if past_key_value is not None else None
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_mask, head_mask, past_key_value=self_past)
        cross_probs = None
        if self.is_decoder and encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise ValueError("encoder_hidden_states were given but the config has add_cross_attention=False")
            cross_past = past_key_value[2:] if past_key_value is not None and len(past_key_value) > 2 else None
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask, cross_past)
            present = present + cross_present
        layer_output = self.output(self.intermediate(hidden_states), hidden_states)
        return layer_output, self_probs, cross_probs, present


class RemBertEncoder(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = Linear(config.input_embedding_size, config.hidden_size)
        self.layer = nn.LayerList([RemBertLayer(config) for _ in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False

    def forward(self, hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask,
                past_key_values, use_cache, output_attentions, output_hidden_states):
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)
        all_hidden, all_attentions, all_cross, cache = [], [], [], []
        for i, layer in enumerate(self.layer):
            all_hidden.append(hidden_states)
            past = past_key_values[i] if past_key_values is not None else None
            args = (hidden_states, attention_mask, head_mask[i], encoder_hidden_states, encoder_attention_mask, past)
            if self.gradient_checkpointing and self.training:
                from paddle.distributed.fleet.utils import recompute

                hidden_states, probs, cross_probs, present = recompute(layer, *args, use_reentrant=False)
            else:
                hidden_states, probs, cross_probs, present = layer(*args)
            all_attentions.append(probs)
            all_cross.append(cross_probs)
            cache.append(present)
        all_hidden.append(hidden_states)
        return (
            hidden_states,
            tuple(cache) if use_cache else None,
            tuple(all_hidden) if output_hidden_states else None,
            tuple(all_attentions) if output_attentions else None,
            tuple(all_cross) if output_attentions and self.config.add_cross_attention else None,
        )


class RemBertPooler(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class RemBertLMPredictionHead(nn.Layer):
    """dense (hidden -> output_embedding_size) -> activation -> LayerNorm -> untied decoder."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.output_embedding_size)
        self.decoder = Linear(config.output_embedding_size, config.vocab_size)
        self.activation = get_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.output_embedding_size, epsilon=config.layer_norm_eps)

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


class RemBertModel(RemBertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = RemBertEmbeddings(config)
        self.encoder = RemBertEncoder(config)
        self.pooler = RemBertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        cfg = self.config
        output_attentions, output_hidden_states = self.output_flags(output_attentions, output_hidden_states)
        use_cache = (use_cache if use_cache is not None else cfg.use_cache) if cfg.is_decoder else False
        past_length = past_key_values[0][0].shape[2] if past_key_values is not None else 0
        embedding_output, shape = self.embed_inputs(input_ids, token_type_ids, position_ids, inputs_embeds,
                                                    past_length)
        dtype = embedding_output.dtype
        mask_ids = input_ids if past_length == 0 else None  # with a cache, the mask must cover the past too
        mask = additive_attention_mask(attention_mask, dtype, mask_ids, cfg.pad_token_id,
                                       shape[1] if cfg.is_decoder else None, past_length)
        encoder_mask = None
        if cfg.is_decoder and encoder_hidden_states is not None and encoder_attention_mask is not None:
            encoder_mask = additive_attention_mask(encoder_attention_mask, dtype)
        sequence_output, cache, hidden_states, attentions, cross = self.encoder(
            embedding_output, mask, expand_head_mask(head_mask, cfg.num_hidden_layers, dtype),
            encoder_hidden_states, encoder_mask, past_key_values, use_cache, output_attentions,
            output_hidden_states)
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return self.wrap_output(BaseModelOutputWithPooling(
            last_hidden_state=sequence_output, pooler_output=pooled_output, past_key_values=cache,
            hidden_states=hidden_states, attentions=attentions, cross_attentions=cross), return_dict)


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


class RemBertForMaskedLM(MaskedLMHead, _RemBertWithLMHead):
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
                               output_hidden_states=output_hidden_states)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:  # position t predicts token t+1
            loss = cross_entropy(logits[:, :-1], labels[:, 1:])
        return self.wrap_output(CausalLMOutput(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, cross_attentions=outputs.cross_attentions), return_dict)


class RemBertForSequenceClassification(SequenceClassificationHead, RemBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class RemBertForTokenClassification(TokenClassificationHead, RemBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.rembert = RemBertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
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
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()
