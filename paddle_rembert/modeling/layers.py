"""Building blocks shared by every model: activations, embeddings, masks and attention math.

Each function here is numerically what transformers does, so that a model file only wires
layers together under transformers' module names.
"""
import math

import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.autograd import PyLayer

from ..kernels import bf16 as _bf16
from ..kernels import int8 as _int8
from ..kernels import ops as _ops
from ..runtime.errors import PaddleRembertError

def _gelu(approximate):
    """gelu (erf, or the tanh formula); in dygraph on CPU oneDNN's kernel (:mod:`paddle_rembert.kernels.ops`).
    ``bf16_epilogue`` names it for a bf16 GEMM's epilogue (:func:`dense_act`)."""
    def gelu(x):
        return _ops.gelu(x, approximate) if _ops.enabled(x) else F.gelu(x, approximate=approximate)

    gelu.bf16_epilogue = "gelu_tanh" if approximate else "gelu"
    return gelu


ACT2FN = {
    "gelu": _gelu(False),
    "gelu_new": _gelu(True),
    "gelu_pytorch_tanh": _gelu(True),
    "gelu_fast": _gelu(True),
    # gelu_new's tanh formula in elementary ops, for tracing to ONNX: paddle2onnx 2.1.0 writes
    # F.gelu(approximate=True) as the exact (erf) gelu, 5e-4 off per activation (see deploy/onnx.py)
    "gelu_tanh_formula": lambda x: 0.5 * x * (1.0 + paddle.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": paddle.tanh,
    "linear": lambda x: x,
    # the rest of transformers 4.46's ACT2FN, as its activations.py computes them
    "gelu_python": lambda x: x * 0.5 * (1.0 + paddle.erf(x / math.sqrt(2.0))),
    "gelu_accurate": lambda x: 0.5 * x * (1 + paddle.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    # clip spelled as minimum/maximum: Paddle Inference 3.3.1 runs gelu followed by clip without the gelu
    "gelu_10": lambda x: paddle.maximum(paddle.minimum(F.gelu(x), paddle.full([], 10.0, x.dtype)),
                                        paddle.full([], -10.0, x.dtype)),
    "quick_gelu": lambda x: x * F.sigmoid(1.702 * x),
    "mish": F.mish,
    "sigmoid": F.sigmoid,
    "relu6": F.relu6,
    # torch.nn.LeakyReLU's default slope 0.01, in relus: paddle2onnx 2.1.0 writes F.leaky_relu wrong (exact: the
    # negation is exact and 0.01 * -x == -(0.01 * x))
    "leaky_relu": lambda x: F.relu(x) - 0.01 * F.relu(-x),
    "laplace": lambda x: 0.5 * (1.0 + paddle.erf((x - 0.707107) / (0.282095 * math.sqrt(2.0)))),
    "relu2": lambda x: paddle.square(F.relu(x)),
}


def get_activation(name):
    if name not in ACT2FN:
        raise PaddleRembertError(f"unknown hidden_act {name!r}; known: {sorted(ACT2FN)}")
    return ACT2FN[name]


# Layers that branch on Python values only (None, modes, dygraph or not), never on a tensor, are marked so
# that paddle.jit.to_static's source transformer runs them as they are. It would otherwise re-transform them
# at every call (it caches by function object, and a bound method is a new one each time): BERT-base's
# export with ONNX took 791 transformations and 30 s; with the leaf and encoder layers marked, 36 and 15 s.
# Only for code that also reads no shape that may be dynamic (-1 in a static graph) and does no Python
# arithmetic on another layer's parameter (a tied bias): the transformer handles those, plain code does not.
as_is_in_static_graphs = paddle.jit.not_to_static


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (same parameters and keys); in dygraph on CPU, oneDNN's forward and backward
    (Paddle's CPU LayerNorm backward takes 10 ms on [1024, 768], ~6% of a BERT-base train step)."""

    @as_is_in_static_graphs
    def forward(self, x):
        if self.weight is not None and self.bias is not None and len(self._normalized_shape) == 1 \
                and _ops.enabled(x, self.weight, self.bias):  # the kernels normalise over the last axis only
            return _ops.layer_norm(x, self.weight, self.bias, self._epsilon)
        if paddle.in_dynamic_mode() and paddle.is_grad_enabled() and not x.stop_gradient and (
                (self.weight is not None and self.weight.stop_gradient)
                or (self.bias is not None and self.bias.stop_gradient)):
            # Paddle 3.3's layer_norm gives a wrong input gradient when it computes no scale gradient (a
            # frozen LayerNorm): hand it copies of the frozen ones that want one, whose gradients are dropped.
            weight, bias = (p if p is None or not p.stop_gradient else _wanting_grad(p)
                            for p in (self.weight, self.bias))
            return F.layer_norm(x, self._normalized_shape, weight, bias, self._epsilon)
        return super().forward(x)


def _wanting_grad(p):
    copy = p.detach().clone()
    copy.stop_gradient = False
    return copy


class Dropout(nn.Dropout):
    """``nn.Dropout``; when training in dygraph on CPU, the threaded kernel of :mod:`paddle_rembert.kernels.ops`
    (Paddle's CPU dropout draws every element on one thread: 12% of a BERT-base train step)."""

    @as_is_in_static_graphs
    def is_identity(self):
        return self.mode == "upscale_in_train" and (not self.training or self.p == 0)

    @as_is_in_static_graphs
    def forward(self, x):
        if self.is_identity():
            return x  # the identity (Paddle's eval-mode dropout still runs a 3 ms copy kernel per call)
        if self.training and 0 < self.p < 1 and self.axis is None and self.mode == "upscale_in_train" \
                and _ops.enabled(x):
            return _ops.dropout(x, self.p)
        return super().forward(x)


def dropout_from_classifier_prob(config, owner):
    """``Dropout(config.classifier_dropout_prob)`` (ALBERT's and RemBERT's heads): a null probability, which
    the config allows for the token-classification head's fallback, is a clear error here."""
    p = config.classifier_dropout_prob
    if p is None:
        raise PaddleRembertError(f"{owner} needs classifier_dropout_prob, which the config sets to null (only "
                                 "AlbertForTokenClassification falls back to hidden_dropout_prob)")
    return Dropout(p)


class Embedding(nn.Embedding):
    """An embedding with PyTorch's ``padding_idx`` semantics.

    Paddle's ``padding_idx`` outputs zeros for the padding id; PyTorch outputs the stored row and
    only keeps its gradient at zero. Checkpoints are trained with the latter, so we do the same:
    the row is looked up normally and the gradient through padding positions is cut.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__(num_embeddings, embedding_dim)
        self.torch_padding_idx = padding_idx

    @as_is_in_static_graphs
    def forward(self, ids):
        out = F.embedding(ids, self.weight)
        if self.torch_padding_idx is None or self.weight.stop_gradient \
                or not (self.training or paddle.in_dynamic_mode()):  # an exported inference graph takes no gradient
            return out
        # the same values (x * 1 + y * 0), no gradient at padding; not paddle.where, whose broadcasting adds three
        # zeros_like ops to an exported graph and warns about Tensor.place while tracing it
        keep = (ids != self.torch_padding_idx).unsqueeze(-1).astype(out.dtype)
        return out * keep + out.detach() * (1.0 - keep)


class _LinearFunction(PyLayer):
    """``x @ w + b`` (``w`` transposed when ``transpose_w``): Paddle's kernels forward; backward
    with GEMMs only (:func:`paddle_rembert.kernels.ops.linear_grads`)."""

    @staticmethod
    def forward(ctx, tensors, transpose_w):  # through kernels.ops.apply_multi
        x, weight, bias = tensors[1:]
        ctx.save_for_backward(x, weight)
        ctx.transpose_w = transpose_w
        ctx.needs = (not x.stop_gradient, not weight.stop_gradient, not bias.stop_gradient)
        return paddle.matmul(x, weight, transpose_y=transpose_w) + bias

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensor()
        return _ops.multi_grads(*_ops.linear_grads(x, weight, dy, ctx.transpose_w, ctx.needs))


def linear(x, weight, bias=None, transpose_w=False):
    """``x @ weight + bias`` (``weight`` is ``[in, out]``, or ``[out, in]`` with ``transpose_w``).

    Numerically ``F.linear``; in dygraph with gradients on, the backward is :class:`_LinearFunction`'s.
    Inside :func:`paddle_rembert.kernels.bf16.autocast` (dygraph, CPU) all three GEMMs run in bf16; inside
    :func:`paddle_rembert.kernels.int8.use` a tabled weight's forward runs in int8.
    """
    int8 = _int8.entry_for(x, weight, transpose_w, bias)
    if int8 is not None:
        return _int8.linear(x, int8, bias)
    if _bf16.active(x, weight, bias):
        return _bf16.linear(x, weight, bias, transpose_w)
    if (bias is not None and paddle.in_dynamic_mode() and paddle.is_grad_enabled()
            and not (x.stop_gradient and weight.stop_gradient and bias.stop_gradient)):
        return _ops.apply_multi(_LinearFunction, [x, weight, bias], transpose_w)
    if transpose_w:
        out = paddle.matmul(x, weight, transpose_y=True)
        return out if bias is None else out + bias
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, state-dict keys and ``[in, out]`` weight) with :func:`linear`'s backward."""

    @as_is_in_static_graphs
    def forward(self, x):
        return linear(x, self.weight, self.bias)


def default_position_ids(input_shape_tensor, past_length=0):
    """``[1, L]`` int64 positions ``past_length .. past_length+L-1`` (static-graph safe)."""
    seq_len = input_shape_tensor[1]
    return paddle.arange(past_length, past_length + seq_len, dtype="int64").unsqueeze(0)


def additive_attention_mask(attention_mask, dtype, input_ids=None, pad_token_id=None, causal_length=None,
                            past_length=0):
    """Turn any accepted mask into an additive ``[B, 1, Lq, Lk]`` (or ``[B, 1, 1, Lk]``) mask.

    * 2-D ``[B, Lk]`` or 3-D ``[B, Lq, Lk]`` masks hold 1 (attend) / 0 (masked), any dtype.
    * 4-D float masks are already additive (Taskflow feeds ``[B, 1, 1, L]`` with large negatives);
      4-D bool/int masks are 1/0 masks.
    * ``None`` with ``input_ids`` masks the padding id: padding is never attended to, whether or
      not the caller remembered the mask. ``None`` with neither gives no mask.

    * ``causal_length`` (the query length, decoders only) adds transformers' causal mask, with
      ``past_length`` cached positions in front, to a 2-D mask or none. As in transformers, a 3-D
      (or 4-D) mask is the caller's whole mask: nothing is added to it.

    Masked positions get ``finfo(dtype).min`` (as transformers), never ``-inf`` or ``-1e4``.
    """
    neg = paddle.finfo(dtype).min
    if attention_mask is None and input_ids is not None and pad_token_id is not None:
        attention_mask = input_ids != pad_token_id
    if attention_mask is None:
        additive = None
    elif attention_mask.ndim in (2, 3):
        keep = attention_mask.astype(dtype)
        keep = keep.unsqueeze([1, 2]) if attention_mask.ndim == 2 else keep.unsqueeze(1)
        additive = (1.0 - keep) * neg
    elif attention_mask.ndim == 4:
        if attention_mask.dtype in (paddle.bool, paddle.int32, paddle.int64):
            additive = (1.0 - attention_mask.astype(dtype)) * neg
        else:
            additive = paddle.clip(attention_mask.astype(dtype), min=neg)
    else:
        raise PaddleRembertError(
            f"attention_mask must be 2-D, 3-D or 4-D, got shape {list(attention_mask.shape)}"
        )
    if causal_length is not None and (attention_mask is None or attention_mask.ndim == 2):
        causal_add = _causal_additive(causal_length, past_length, dtype, neg)
        additive = causal_add if additive is None else paddle.clip(additive + causal_add, min=neg)
    return additive


def _causal_additive(query_len, past_length, dtype, neg):
    q = paddle.arange(past_length, past_length + query_len, dtype="int64").unsqueeze(1)
    k = paddle.arange(0, past_length + query_len, dtype="int64").unsqueeze(0)
    return ((k > q).astype(dtype) * neg).unsqueeze([0, 1])


def _transpose_copy(x, perm):
    """``paddle.transpose`` into a new contiguous tensor, whatever ``FLAGS_use_stride_kernel`` says.

    ``einsum("abcd->acbd")`` permutes with Paddle's dense transpose kernel (as fast as
    ``transpose`` with stride kernels off: 1.2 ms for ``[8, 128, 12, 64]``) and never returns a
    view, so no process-global flag is toggled: a flag flipped around the call would turn other
    threads' views into copies meanwhile, and their in-place writes would be lost.
    """
    if not paddle.is_floating_point(x):  # einsum is for floats; ints are never on a hot path here
        return paddle.transpose(x, perm).contiguous()
    letters = "abcdefghijkl"[:len(perm)]
    return paddle.einsum(f"{letters}->{''.join(letters[p] for p in perm)}", x)


class _ContiguousTranspose(PyLayer):
    """Transpose forward and backward into contiguous copies (see :func:`_transpose_copy`).

    With stride kernels on (Paddle 3's default), ``transpose`` returns a strided view and the
    matmul that consumes it makes it contiguous with Paddle's generic strided copy, ~20-80x slower
    than the transpose kernel on CPU (25-46 ms vs 1.2 ms for ``[8, 128, 12, 64]``).
    """

    @staticmethod
    def forward(ctx, x, perm):
        # no comprehension over perm: it would make perm a closure cell, and Paddle 3.3.1's SOT re-emits a
        # frame that breaks its graph (in _transpose_copy) with MAKE_CELL twice: len(perm) saw a cell
        ctx.inverse = sorted(range(len(perm)), key=perm.__getitem__)
        return _transpose_copy(x, perm)

    @staticmethod
    def backward(ctx, dy):
        return _transpose_copy(dy, ctx.inverse)


def transpose(x, perm):
    """``x.transpose(perm)``; in dygraph a contiguous copy (see :class:`_ContiguousTranspose`)."""
    if not paddle.in_dynamic_mode():
        return x.transpose(perm)
    if x.stop_gradient or not paddle.is_grad_enabled():
        return _transpose_copy(x, perm)
    return _ContiguousTranspose.apply(x, perm)


# -- fused bf16 inference: fewer passes over the activations, the same math -----------------------------
# Inside kernels.bf16.autocast() with no gradient wanted, these run as single GEMMs with epilogues; otherwise
# they are the plain compositions spelled out in their docstrings (training, fp32, static graphs, exports).
def dense_act(layer, act, x):
    """``act(layer(x))``. A gelu rides in the bf16 GEMM's epilogue and the result stays bf16: it is the next
    GEMM's operand, which would round it to bf16 anyway (PyTorch's autocast also hands bf16 on)."""
    epilogue = getattr(act, "bf16_epilogue", None)
    if epilogue and _bf16.inference(x, layer.weight, layer.bias) \
            and _int8.entry_for(x, layer.weight, False, layer.bias) is None:  # int8, when on, takes the Linear
        return _bf16.linear_inference(x, layer, act=epilogue, out_bf16=True)
    return act(layer(x))


def dense_residual(layer, dropout, x, residual):
    """``dropout(layer(x)) + residual`` (``dropout`` may be None). With dropout the identity (eval), the bf16
    GEMM's epilogue adds the residual, or int8's correction pass does."""
    if (dropout is None or dropout.is_identity()) and residual.dtype == paddle.float32:
        int8 = _int8.entry_for(x, layer.weight, False, layer.bias, residual)
        if int8 is not None and residual.shape == x.shape[:-1] + [layer.weight.shape[1]]:
            return _int8.linear(x, int8, layer.bias, add=residual)
        if _bf16.inference(x, layer.weight, layer.bias, residual):
            return _bf16.linear_inference(x, layer, add=residual.contiguous())
    out = layer(x) if dropout is None else dropout(layer(x))
    return out + residual


def fused_self_attention(x, layers, num_heads, additive_mask, dropout, head_mask=None, need_probs=True):
    """``(merge_heads(context), probs)`` of :func:`attention` over ``[split_heads(l(x)) for l in layers]``
    (query, key, value) as bf16 or int8 inference runs it, or None where that does not apply (then compose the
    steps). One GEMM projects q|k|v and the attention reads the heads in place, writing the context with its
    heads merged (see :func:`paddle_rembert.kernels.bf16.self_attention_inference`). Without ``need_probs``
    (no ``output_attentions``) the probabilities may be None."""
    if head_mask is not None or not dropout.is_identity():
        return None
    group = _int8.group_for(x, layers)
    if group is not None and (additive_mask is None or additive_mask.dtype == paddle.float32):
        # int8 q|k|v in one GEMM, then the same in-place fp32 attention
        mask = None if additive_mask is None else additive_mask.contiguous()
        return _bf16.attention_inference(_int8.group_linear(x, group), mask, num_heads, need_probs, fp32=True)
    if not _bf16.inference(x, additive_mask, *[t for layer in layers for t in (layer.weight, layer.bias)]):
        return None
    return _bf16.self_attention_inference(x, layers, num_heads, additive_mask, need_probs)


def recompute(fn, *args):
    """``fn(*args)``, its activations recomputed in the backward pass instead of stored (gradient
    checkpointing). The recomputation runs after the forward's ``kernels.bf16.autocast()`` block has
    closed, so it re-enters the forward's bf16 choice: the backward then differentiates the forward
    that made the loss, in the same precision."""
    from paddle.distributed.fleet.utils import recompute as paddle_recompute

    bf16 = _bf16.requested()

    def run(*inputs):
        with _bf16.autocast(bf16):
            return fn(*inputs)

    return paddle_recompute(run, *args, use_reentrant=False)


def like(t, other):
    """``t`` in ``other``'s dtype (bf16 inference keeps attention probabilities in bf16; callers get the model's)."""
    return t if t is None or t.dtype == other.dtype else t.astype(other.dtype)


def split_heads(x, num_heads):
    """``[B, L, H*D]`` -> ``[B, H, L, D]``."""
    b, l, hd = x.shape
    return transpose(x.reshape([0, 0, num_heads, hd // num_heads]), [0, 2, 1, 3])


def merge_heads(x):
    """``[B, H, L, D]`` -> ``[B, L, H*D]``."""
    _, h, _, d = x.shape
    return transpose(x, [0, 2, 1, 3]).reshape([0, 0, h * d])


def attention(query, key, value, additive_mask, dropout, head_mask=None, extra_scores=None):
    """Scaled dot-product attention over ``[B, H, L, D]`` heads, transformers' eager math.

    Plain matmul + softmax: on CPU it was measured faster than Paddle's fused
    ``scaled_dot_product_attention`` (see tools/benchmark.py), and it returns the probabilities
    that ``output_attentions`` needs. Returns ``(context [B, H, Lq, D], probs [B, H, Lq, Lk])``.
    """
    if _bf16.active(query, key, value):  # kernels.bf16.autocast(): bf16 GEMMs, scale and mask in their epilogue
        if extra_scores is None and additive_mask is not None and additive_mask.dtype == paddle.float32:
            scores = _bf16.matmul(query, key, True, 1.0 / math.sqrt(query.shape[-1]), add=additive_mask)
        else:
            scores = _bf16.matmul(query, key, True, 1.0 / math.sqrt(query.shape[-1]))
            scores = scores if extra_scores is None else scores + extra_scores
            scores = scores if additive_mask is None else scores + additive_mask
        probs = dropout(_ops.softmax(scores))
        if head_mask is not None:
            probs = probs * head_mask
        return _bf16.matmul(probs, value), probs
    scores = paddle.matmul(query, key, transpose_y=True) / math.sqrt(query.shape[-1])
    if extra_scores is not None:
        scores = scores + extra_scores
    if additive_mask is not None:
        if paddle.in_dynamic_mode() and additive_mask.shape != scores.shape:
            # Paddle's CPU add broadcasting [B, 1, 1, L] over [B, H, L, L] is ~20x slower than
            # expanding first and adding equal shapes (5.2 ms vs 0.3 ms at ALBERT-base, B8 L128).
            additive_mask = additive_mask.expand(scores.shape)
        scores = scores + additive_mask
    probs = _ops.softmax(scores) if _ops.enabled(scores) else F.softmax(scores, axis=-1)
    probs = dropout(probs)
    if head_mask is not None:
        probs = probs * head_mask
    return paddle.matmul(probs, value), probs


def expand_head_mask(head_mask, num_layers, dtype):
    """transformers' ``get_head_mask``: ``[H]`` or ``[layers, H]`` -> per-layer ``[1, H, 1, 1]`` masks; a 5-D
    ``[layers, batch, H, 1, 1]`` (or ``[..., L, L]``) mask gives each layer its 4-D slice."""
    if head_mask is None:
        return [None] * num_layers
    if head_mask.ndim not in (1, 2, 5):
        raise PaddleRembertError(f"head_mask must be [heads], [layers, heads] or 5-D [layers, batch, heads, 1, 1], "
                                 f"got shape {list(head_mask.shape)}")
    head_mask = head_mask.astype(dtype)
    if head_mask.ndim == 5:
        return [head_mask[i] for i in range(num_layers)]
    if head_mask.ndim == 1:
        head_mask = head_mask.unsqueeze(0).expand([num_layers, head_mask.shape[0]])
    return [head_mask[i].reshape([1, -1, 1, 1]) for i in range(num_layers)]
