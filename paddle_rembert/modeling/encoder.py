"""The BERT-style encoder stack shared by BERT, RoBERTa, ELECTRA and RemBERT.

Module attribute names are transformers' (``encoder.layer.N.attention.self.query``,
``attention.output.dense``, ``intermediate.dense``, ``output.LayerNorm``, ``crossattention``), so a
family's state-dict keys equal transformers' without renaming. The layers cover everything
``BertLayer`` does: relative position scores (``relative_key`` / ``relative_key_query``), decoders
(causal mask), cross-attention, the key/value cache, head masks and attention outputs.
:class:`EncoderBackbone` is the backbone forward pass (embeddings, masks, encoder) that the
families' ``*Model`` classes share, and :class:`PooledEncoderBackbone` their whole ``forward`` where
a pooler follows; :class:`CrossAttendingMaskedLMHead` and
:class:`CausalLMHead` are their language-model forward passes (the backbone may cross-attend).
"""
import math

import paddle
from paddle import nn

from ..runtime.errors import PaddleRembertError
from .layers import (
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    additive_attention_mask,
    as_is_in_static_graphs,
    attention,
    dense_act,
    dense_residual,
    expand_head_mask,
    fused_self_attention,
    get_activation,
    like,
    merge_heads,
    recompute,
    split_heads,
)
from .losses import cross_entropy, token_loss
from .outputs import BaseModelOutputWithPoolingAndCrossAttentions, CausalLMOutputWithCrossAttentions, MaskedLMOutput

RELATIVE = ("relative_key", "relative_key_query")


class TransformerSelfAttention(nn.Layer):
    """``query``/``key``/``value`` projections and the scaled dot-product attention of one block."""

    def __init__(self, config, position_embedding_type=None):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
        all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = Linear(config.hidden_size, all_head_size)
        self.key = Linear(config.hidden_size, all_head_size)
        self.value = Linear(config.hidden_size, all_head_size)
        self.dropout = Dropout(config.attention_probs_dropout_prob)
        self.position_embedding_type = position_embedding_type or getattr(config, "position_embedding_type",
                                                                          "absolute")
        if self.position_embedding_type in RELATIVE:
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = Embedding(2 * config.max_position_embeddings - 1, self.attention_head_size)
        self.is_decoder = config.is_decoder

    @as_is_in_static_graphs
    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None, output_attentions=True):
        heads = self.num_attention_heads
        if encoder_hidden_states is None and past_key_value is None and not self.is_decoder \
                and self.position_embedding_type not in RELATIVE:  # bf16 inference: one fused pass (else None)
            fused = fused_self_attention(hidden_states, (self.query, self.key, self.value), heads, attention_mask,
                                         self.dropout, head_mask, need_probs=output_attentions)
            if fused is not None:
                context, probs = fused
                return context, probs, None
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
        extra = self._relative_scores(q, k, past_key_value is not None)
        context, probs = attention(q, k, v, attention_mask, self.dropout, head_mask, extra)
        return merge_heads(context), probs, (k, v) if self.is_decoder else None

    @as_is_in_static_graphs
    def _relative_scores(self, q, k, cached):
        """transformers adds these before the ``1/sqrt(d)`` scaling; :func:`attention` adds after it.

        With a cache transformers scores only the last query position (``key_length - 1``), which is
        right for one new token at a time; so do we.
        """
        if self.position_embedding_type not in RELATIVE:
            return None
        key_length = paddle.shape(k)[2]
        if cached:
            left = (key_length - 1).reshape([1, 1]).astype("int64")
        else:
            left = paddle.arange(paddle.shape(q)[2], dtype="int64").unsqueeze(1)
        distance = left - paddle.arange(key_length, dtype="int64").unsqueeze(0)
        table = self.distance_embedding(distance + self.max_position_embeddings - 1).astype(q.dtype)
        scores = paddle.einsum("bhld,lrd->bhlr", q, table)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + paddle.einsum("bhrd,lrd->bhlr", k, table)
        return scores / math.sqrt(self.attention_head_size)


class TransformerSelfOutput(nn.Layer):
    """``dense`` -> dropout -> residual -> ``LayerNorm`` (``attention.output`` and the layer's ``output``)."""

    def __init__(self, config, in_size):
        super().__init__()
        self.dense = Linear(in_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    @as_is_in_static_graphs
    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(dense_residual(self.dense, self.dropout, hidden_states, input_tensor))


class TransformerAttention(nn.Layer):
    def __init__(self, config, position_embedding_type=None):
        super().__init__()
        self.self = TransformerSelfAttention(config, position_embedding_type)
        self.output = TransformerSelfOutput(config, config.hidden_size)

    @as_is_in_static_graphs
    def forward(self, hidden_states, *args, **kwargs):
        context, probs, present = self.self(hidden_states, *args, **kwargs)
        return self.output(context, hidden_states), probs, present


class TransformerIntermediate(nn.Layer):
    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = get_activation(config.hidden_act)

    @as_is_in_static_graphs
    def forward(self, hidden_states):
        return dense_act(self.dense, self.intermediate_act_fn, hidden_states)


class TransformerLayer(nn.Layer):
    """Self-attention, then (decoders with ``add_cross_attention``) cross-attention, then the feed-forward block."""

    def __init__(self, config, position_embedding_type=None):
        super().__init__()
        self.attention = TransformerAttention(config, position_embedding_type)
        self.is_decoder = config.is_decoder
        if config.add_cross_attention:
            if not config.is_decoder:
                raise PaddleRembertError("add_cross_attention=True needs is_decoder=True in the config")
            self.crossattention = TransformerAttention(config, position_embedding_type="absolute")
        self.intermediate = TransformerIntermediate(config)
        self.output = TransformerSelfOutput(config, config.intermediate_size)

    @as_is_in_static_graphs
    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None, output_attentions=True):
        self_past = past_key_value[:2] if past_key_value is not None else None
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_mask, head_mask, past_key_value=self_past, output_attentions=output_attentions)
        cross_probs = None
        if self.is_decoder and encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise PaddleRembertError("encoder_hidden_states were given but the config has "
                                         "add_cross_attention=False")
            cross_past = past_key_value[-2:] if past_key_value is not None else None
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask, cross_past)
            present = present + cross_present
        layer_output = self.output(self.intermediate(hidden_states), hidden_states)
        return layer_output, self_probs, cross_probs, present


class TransformerEncoder(nn.Layer):
    """``layer.0 .. layer.N-1``; returns ``(last, cache, hidden_states, attentions, cross_attentions)``.

    ``project_input`` is a hook for encoders that map their input first (RemBERT's
    ``embedding_hidden_mapping_in``); the mapped input is the first hidden state.
    ``position_embedding_type`` overrides the config's (RemBERT's attention has no relative positions).
    """

    def __init__(self, config, position_embedding_type=None):
        super().__init__()
        self.config = config
        self.layer = nn.LayerList([TransformerLayer(config, position_embedding_type)
                                   for _ in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False

    def project_input(self, hidden_states):
        return hidden_states

    def forward(self, hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask,
                past_key_values, use_cache, output_attentions, output_hidden_states):
        hidden_states = self.project_input(hidden_states)
        checkpointing = self.gradient_checkpointing and self.training
        use_cache = use_cache and not checkpointing  # as transformers: a cache cannot be recomputed
        all_hidden, all_attentions, all_cross, cache = [], [], [], []
        for i, layer in enumerate(self.layer):
            all_hidden.append(hidden_states)
            past = past_key_values[i] if past_key_values is not None else None
            args = (hidden_states, attention_mask, head_mask[i], encoder_hidden_states, encoder_attention_mask, past,
                    output_attentions)
            if checkpointing:
                hidden_states, probs, cross_probs, present = recompute(layer, *args)
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
            tuple(like(p, hidden_states) for p in all_attentions) if output_attentions else None,
            # empty (not None) when the layers could cross-attend but had nothing to attend to; transformers 4.46
            # lists each layer's self-attention cache there instead (docs/design.md)
            tuple(p for p in all_cross if p is not None) if output_attentions and self.config.add_cross_attention
            else None,
        )


class TransformerPooler(nn.Layer):
    """``tanh(dense(first token))``."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class EncoderBackbone:
    """The forward pass of a BERT-style ``*Model``: embeddings, masks, encoder.

    Mixed into a :class:`~paddle_rembert.modeling.modeling_utils.PretrainedModel` that has
    ``embeddings`` and ``encoder``; ``embed_project`` (ELECTRA's ``embeddings_project``) maps the
    embedding output before the encoder. ``use_cache_from_config``: whether a decoder called without
    ``use_cache`` follows ``config.use_cache`` (BERT, RoBERTa, RemBERT) or returns no cache (ELECTRA),
    as each family's transformers model does.
    """

    use_cache_from_config = True

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def embed_project(self, embedding_output):
        return embedding_output

    def encode(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
               inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
               use_cache=None, output_attentions=None, output_hidden_states=None):
        """``(sequence_output, cache, hidden_states, attentions, cross_attentions)``."""
        cfg = self.config
        output_attentions, output_hidden_states = self.output_flags(output_attentions, output_hidden_states)
        if use_cache is None and self.use_cache_from_config:
            use_cache = cfg.use_cache
        use_cache = bool(use_cache) if cfg.is_decoder else False
        past_length = past_key_values[0][0].shape[2] if past_key_values is not None else 0
        embedding_output, shape = self.embed_inputs(input_ids, token_type_ids, position_ids, inputs_embeds,
                                                    past_length)
        embedding_output = self.embed_project(embedding_output)
        dtype = embedding_output.dtype
        # with a cache, the mask must cover the past too. Decided from the Python fact (a cache was given), not
        # from past_length: under to_static a dynamic past length is a tensor, and this line would become a
        # paddle.static.nn.cond whose branches return a tensor and None ("true fn returns 1 vars ... 0").
        mask_ids = input_ids if past_key_values is None else None
        mask = additive_attention_mask(attention_mask, dtype, mask_ids, cfg.pad_token_id,
                                       shape[1] if cfg.is_decoder else None, past_length)
        encoder_mask = None
        if cfg.is_decoder and encoder_hidden_states is not None and encoder_attention_mask is not None:
            encoder_mask = additive_attention_mask(encoder_attention_mask, dtype)
        return self.encoder(embedding_output, mask, expand_head_mask(head_mask, cfg.num_hidden_layers, dtype),
                            encoder_hidden_states, encoder_mask, past_key_values, use_cache, output_attentions,
                            output_hidden_states)


class PooledEncoderBackbone(EncoderBackbone):
    """:class:`EncoderBackbone` with transformers' ``*Model.forward`` for a backbone with a ``pooler``
    (``None`` without ``add_pooling_layer``): BERT's, RoBERTa's and RemBERT's."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        """``return_dict=False`` gives transformers' tuple, whose order (``last, pooled, cache, hidden_states,
        ...``, ``pooled`` kept even when ``None``) is not the output class's field order."""
        sequence_output, cache, hidden_states, attentions, cross = self.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, encoder_hidden_states,
            encoder_attention_mask, past_key_values, use_cache, output_attentions, output_hidden_states)
        pooled = self.pooler(sequence_output) if self.pooler is not None else None
        return self.wrap_pooled_output(BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output, pooler_output=pooled, past_key_values=cache,
            hidden_states=hidden_states, attentions=attentions, cross_attentions=cross), return_dict,
            ("past_key_values", "hidden_states", "attentions", "cross_attentions"))


class TransformerEmbeddings(nn.Layer):
    """Word + token type (+ absolute position) embeddings -> ``LayerNorm`` -> dropout (BERT's, ELECTRA's, RoBERTa's).

    ``size``: the embedding width (ELECTRA's ``embedding_size``; default ``hidden_size``).
    ``position_padding_idx``: RoBERTa's position embedding keeps PyTorch's ``padding_idx`` row.
    """

    def __init__(self, config, size=None, position_padding_idx=None):
        super().__init__()
        size = size or config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, size, config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, size, position_padding_idx)
        self.token_type_embeddings = Embedding(config.type_vocab_size, size)
        self.LayerNorm = LayerNorm(size, epsilon=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.absolute_positions = getattr(config, "position_embedding_type", "absolute") == "absolute"

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute_positions:
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


def _lm_backbone(model, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                 encoder_hidden_states, encoder_attention_mask, past_key_values=None, use_cache=None,
                 output_attentions=None, output_hidden_states=None):
    return model.base_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                            encoder_hidden_states=encoder_hidden_states,
                            encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values,
                            use_cache=use_cache, output_attentions=output_attentions,
                            output_hidden_states=output_hidden_states, return_dict=True)


class CrossAttendingMaskedLMHead:
    """BERT's, RoBERTa's and RemBERT's masked-LM forward: ``self.lm_head`` on every position; the backbone may
    cross-attend (``encoder_hidden_states``), as in transformers."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        outputs = _lm_backbone(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                               encoder_hidden_states, encoder_attention_mask, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states)
        logits = self.lm_head(outputs.last_hidden_state)
        return self.wrap_output(MaskedLMOutput(
            loss=token_loss(logits, labels), logits=logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict, outputs)


class CausalLMHead:
    """Left-to-right LM (needs ``is_decoder=True``): ``self.lm_head`` logits; position t predicts token t+1.

    As in transformers, giving ``labels`` turns the cache off.
    """

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                past_key_values=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        if labels is not None:
            use_cache = False
        outputs = _lm_backbone(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                               encoder_hidden_states, encoder_attention_mask, past_key_values, use_cache,
                               output_attentions, output_hidden_states)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None if labels is None else cross_entropy(logits[:, :-1], labels[:, 1:])
        return self.wrap_output(CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, cross_attentions=outputs.cross_attentions), return_dict)
