"""ALBERT in Paddle, with transformers' module names so state-dict keys match theirs.

Architecture notes (transformers' ``modeling_albert.py`` is the numerical reference):

* ``num_hidden_layers`` applications of ``num_hidden_groups`` shared layer groups, each of
  ``inner_group_num`` layers; application ``i`` uses group ``i * groups // layers``.
* Factorised embeddings: ``embedding_size`` -> ``embedding_hidden_mapping_in`` -> ``hidden_size``.
* The MLM decoder is tied to the word embeddings: it has no weights of its own, only
  ``predictions.bias``.
"""
import functools

import paddle
from paddle import nn

from ...checkpoint.paddlenlp import EMBEDDINGS_LAYER_NORM
from ...modeling.heads import (
    MaskedLMHead,
    TiedLMDecoder,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
)
from ...modeling.layers import (
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    additive_attention_mask,
    as_is_in_static_graphs,
    attention,
    dense_act,
    dense_residual,
    dropout_from_classifier_prob,
    expand_head_mask,
    fused_self_attention,
    get_activation,
    like,
    merge_heads,
    recompute,
    split_heads,
)
from ...modeling.losses import cross_entropy
from ...modeling.outputs import AlbertForPreTrainingOutput, BaseModelOutputWithPooling
from ...modeling.modeling_utils import PretrainedModel
from ...runtime.errors import PaddleRembertError
from .configuration import AlbertConfig


class AlbertEmbeddings(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = Embedding(config.vocab_size, config.embedding_size, config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.absolute_positions = config.position_embedding_type == "absolute"

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute_positions:
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class AlbertAttention(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = Linear(config.hidden_size, all_head_size)
        self.key = Linear(config.hidden_size, all_head_size)
        self.value = Linear(config.hidden_size, all_head_size)
        self.attention_dropout = Dropout(config.attention_probs_dropout_prob)
        self.output_dropout = Dropout(config.hidden_dropout_prob)
        self.dense = Linear(all_head_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.position_embedding_type = config.position_embedding_type
        if self.position_embedding_type in ("relative_key", "relative_key_query"):
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = Embedding(2 * config.max_position_embeddings - 1, self.attention_head_size)

    @as_is_in_static_graphs
    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=True):
        layers, heads = (self.query, self.key, self.value), self.num_attention_heads
        out = None  # (context with its heads merged, probabilities)
        if self.position_embedding_type == "absolute":  # bf16 inference: one fused pass (else None)
            out = fused_self_attention(hidden_states, layers, heads, attention_mask, self.attention_dropout,
                                       head_mask, need_probs=output_attentions)
        if out is None:
            q, k, v = [split_heads(layer(hidden_states), heads) for layer in layers]
            context, probs = attention(q, k, v, attention_mask, self.attention_dropout, head_mask,
                                       self._relative_scores(q, k))
            out = merge_heads(context), probs
        context, probs = out
        # transformers adds hidden_states + projected: the same sum
        return self.LayerNorm(dense_residual(self.dense, self.output_dropout, context, hidden_states)), probs

    @as_is_in_static_graphs
    def _relative_scores(self, q, k):
        if self.position_embedding_type == "absolute":
            return None
        seq_len = paddle.shape(q)[2]
        positions = paddle.arange(seq_len, dtype="int64")
        distance = positions.unsqueeze(1) - positions.unsqueeze(0)
        table = self.distance_embedding(distance + self.max_position_embeddings - 1).astype(q.dtype)
        scores = paddle.einsum("bhld,lrd->bhlr", q, table)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + paddle.einsum("bhrd,lrd->bhlr", k, table)
        return scores


class AlbertLayer(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.full_layer_layer_norm = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.attention = AlbertAttention(config)
        self.ffn = Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = Linear(config.intermediate_size, config.hidden_size)
        self.activation = get_activation(config.hidden_act)

    @as_is_in_static_graphs
    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=True):
        # No dropout after the feed-forward block: transformers (and the original) have none.
        attention_output, probs = self.attention(hidden_states, attention_mask, head_mask, output_attentions)
        ffn = dense_act(self.ffn, self.activation, attention_output)
        hidden_states = self.full_layer_layer_norm(dense_residual(self.ffn_output, None, ffn, attention_output))
        return hidden_states, probs


class AlbertLayerGroup(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.albert_layers = nn.LayerList([AlbertLayer(config) for _ in range(config.inner_group_num)])

    @as_is_in_static_graphs
    def forward(self, hidden_states, attention_mask, head_masks, output_attentions):
        attentions = []
        for layer, head_mask in zip(self.albert_layers, head_masks):
            hidden_states, probs = layer(hidden_states, attention_mask, head_mask, output_attentions)
            if output_attentions:
                attentions.append(like(probs, hidden_states))
        return hidden_states, attentions


def _hidden_only(layer_group, hidden_states, mask, head_masks):
    return layer_group(hidden_states, mask, head_masks, False)[0]


class AlbertTransformer(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.LayerList([AlbertLayerGroup(config) for _ in range(config.num_hidden_groups)])
        self.gradient_checkpointing = False

    def forward(self, hidden_states, attention_mask, head_mask, output_attentions, output_hidden_states):
        cfg = self.config
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)
        all_hidden = [hidden_states]
        all_attentions = []
        layers_per_group = cfg.num_hidden_layers // cfg.num_hidden_groups
        if cfg.inner_group_num > layers_per_group and any(m is not None for m in head_mask):
            raise PaddleRembertError(f"a head mask needs inner_group_num ({cfg.inner_group_num}) at most the layers "
                                     f"per group ({layers_per_group}): transformers indexes it per group")
        for i in range(cfg.num_hidden_layers):
            group = int(i / (cfg.num_hidden_layers / cfg.num_hidden_groups))
            # transformers slices the head mask by group and indexes it by inner layer; so do we.
            head_masks = head_mask[group * layers_per_group:(group + 1) * layers_per_group]
            head_masks = (head_masks + [None] * cfg.inner_group_num)[: cfg.inner_group_num]
            layer_group = self.albert_layer_groups[group]
            if self.gradient_checkpointing and self.training and not output_attentions:
                # bind the group now: the recomputation runs later, in the backward pass
                forward = functools.partial(_hidden_only, layer_group, mask=attention_mask, head_masks=head_masks)
                hidden_states, attentions = recompute(forward, hidden_states), []
            else:
                hidden_states, attentions = layer_group(hidden_states, attention_mask, head_masks, output_attentions)
            all_attentions.extend(attentions)
            all_hidden.append(hidden_states)
        return hidden_states, all_hidden if output_hidden_states else None, \
            all_attentions if output_attentions else None


class AlbertPreTrainedModel(PretrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"
    # PaddleNLP keeps the backbone under "transformer." and names LayerNorms layer_norm; its QA head is qa_outputs
    paddlenlp_names = ((r"^transformer\.", base_model_prefix + "."),) + EMBEDDINGS_LAYER_NORM + (
        (r"\.attention\.layer_norm\.", ".attention.LayerNorm."),
        (r"^predictions\.layer_norm\.", "predictions.LayerNorm."))


class AlbertModel(AlbertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        if add_pooling_layer:
            self.pooler = Linear(config.hidden_size, config.hidden_size)
            self.pooler_activation = nn.Tanh()
        else:
            self.pooler = None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        output_attentions, output_hidden_states = self.output_flags(output_attentions, output_hidden_states)
        embedding_output, _ = self.embed_inputs(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask = additive_attention_mask(attention_mask, embedding_output.dtype, input_ids, self.config.pad_token_id)
        head_mask = expand_head_mask(head_mask, self.config.num_hidden_layers, embedding_output.dtype)
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, mask, head_mask, output_attentions, output_hidden_states)
        pooled_output = None
        if self.pooler is not None:
            pooled_output = self.pooler_activation(self.pooler(sequence_output[:, 0]))
        return self.wrap_pooled_output(BaseModelOutputWithPooling(
            last_hidden_state=sequence_output, pooler_output=pooled_output,
            hidden_states=_as_tuple(hidden_states), attentions=_as_tuple(attentions)),
            return_dict, ("hidden_states", "attentions"))


def _as_tuple(values):
    """``tuple(values)``, or None. Not ``values and tuple(values)`` inside a call's arguments: Paddle 3.3.1's SOT
    never finishes translating a graph-breaking call whose arguments hold an ``and`` (JUMP_IF_FALSE_OR_POP)."""
    return None if values is None else tuple(values)


class AlbertMLMHead(nn.Layer):
    """dense -> activation -> LayerNorm -> decoder (the word embeddings, transposed, unless untied) + bias."""

    def __init__(self, config, word_embeddings):
        super().__init__()
        self.LayerNorm = LayerNorm(config.embedding_size, epsilon=config.layer_norm_eps)
        self.bias = self.create_parameter([config.vocab_size], is_bias=True)
        self.dense = Linear(config.hidden_size, config.embedding_size)
        self.decoder = TiedLMDecoder(word_embeddings, config.embedding_size, config.vocab_size,
                                     tie=config.tie_word_embeddings, shared_bias=self.bias, copy_wins=True)
        self.activation = get_activation(config.hidden_act)

    def forward(self, hidden_states):
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class AlbertSOPHead(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.dropout = dropout_from_classifier_prob(config, type(self).__name__)
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output):
        return self.classifier(self.dropout(pooled_output))


class _AlbertWithMLMHead(AlbertPreTrainedModel):
    def get_output_embeddings(self):
        return self.predictions.decoder


class AlbertForPreTraining(_AlbertWithMLMHead):
    def __init__(self, config):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.predictions = AlbertMLMHead(config, self.albert.embeddings.word_embeddings)
        self.sop_classifier = AlbertSOPHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, sentence_order_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.albert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                              output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                              return_dict=True)
        prediction_scores = self.predictions(outputs.last_hidden_state)
        sop_scores = self.sop_classifier(outputs.pooler_output)
        loss = None
        if labels is not None and sentence_order_label is not None:
            loss = cross_entropy(prediction_scores, labels) + cross_entropy(sop_scores, sentence_order_label)
        return self.wrap_output(AlbertForPreTrainingOutput(
            loss=loss, prediction_logits=prediction_scores, sop_logits=sop_scores,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions), return_dict, outputs)


class AlbertForMaskedLM(MaskedLMHead, _AlbertWithMLMHead):
    def __init__(self, config):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.predictions = AlbertMLMHead(config, self.albert.embeddings.word_embeddings)
        self.post_init()

    def lm_head(self, sequence_output):
        return self.predictions(sequence_output)


class AlbertForSequenceClassification(SequenceClassificationHead, AlbertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.dropout = dropout_from_classifier_prob(config, type(self).__name__)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class AlbertForTokenClassification(TokenClassificationHead, AlbertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        p = config.classifier_dropout_prob
        self.dropout = Dropout(p if p is not None else config.hidden_dropout_prob)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class AlbertForQuestionAnswering(QuestionAnsweringHead, AlbertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()


class AlbertForMultipleChoice(MultipleChoiceHead, AlbertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.dropout = dropout_from_classifier_prob(config, type(self).__name__)
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()
