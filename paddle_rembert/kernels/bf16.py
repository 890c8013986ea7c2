"""bf16 GEMMs for dygraph training and inference on CPU (oneDNN AMX / AVX512-BF16 kernels).

Paddle 3.3's CPU build has no bf16 ``matmul`` kernel, and ``paddle.amp.auto_cast`` switches
itself off on CPU ("amp_guard can only be enabled on CUDAPlace ..."): the tracer stays at O0, so
there is no Paddle AMP state to read. bf16 is therefore requested with this module's own
:func:`autocast` context (per thread / per context, never a process-global flag)::

    with paddle_rembert.kernels.bf16.autocast():
        loss = model(**batch)[0]
    loss.backward()   # the backward of a bf16 forward runs its GEMMs in bf16 too

Inside it, :func:`paddle_rembert.modeling.layers.linear` and ``attention`` send their GEMMs
(forward and both backward GEMMs) through the ``pr_bf16_matmul`` custom operator: operands
rounded to bf16, fp32 accumulation, fp32 results, so every other op stays fp32 (softmax, gelu,
LayerNorm and dropout take :mod:`.ops`' kernels, as they do outside it). Attention's scale and
mask ride in the scores GEMM's epilogue. Outside the block, and in static graphs and exports,
the GEMMs are Paddle's fp32 ones. On a CPU with AMX, no-gradient Linears take the package's own AMX
kernel instead (:func:`amx_enabled`).

The operator is built with the others (:mod:`.build`). A CPU without AVX512-BF16 or AMX-BF16, or
no build, gives one warning and fp32 GEMMs.
"""
import contextlib
import contextvars
import logging
import math
import os
import threading

import paddle
from paddle.autograd import PyLayer
from paddle.base.dygraph.base import in_sot_simulation_mode

from . import build, ops

logger = logging.getLogger("paddle_rembert")

_REQUESTED = contextvars.ContextVar("paddle_rembert_bf16", default=False)
_AMX = contextvars.ContextVar("paddle_rembert_bf16_amx", default=None)  # autocast(amx=...): None leaves it to the CPU
# bf16 copies of the fp32 parameters used inside the outermost autocast block: {(id, transposed): (param, copy)},
# inference's q|k|v concatenations: {("concat", transposed, ids...): (params, weight, bias)}, and the AMX kernel's
# packed weights and concatenated biases: {("amx", ids...): (params, packed)}, {("amx-bias", ids...): (biases, bias)}
_WEIGHTS = contextvars.ContextVar("paddle_rembert_bf16_weights", default=None)
_LOCK = threading.Lock()
_STATE = {}  # "ok": bool once decided; "error": why not
# 0: fp32 operands rounded to bf16 by a oneDNN reorder into dense copies, then a bf16 x bf16 GEMM (always bf16);
# 1: oneDNN's fpmath_mode=bf16 on the fp32 operands, which lets oneDNN pick an fp32 kernel for shapes it deems
# small. 0 measured 5-15% faster end to end on ALBERT-base (the reorders are cheaper than in-kernel conversion).
MODE = 0
FP32_MODE = 2  # the operator's fp32 mode: operands and math stay fp32 (int8 inference's attention)


# -- the switch -------------------------------------------------------------------------------
@contextlib.contextmanager
def autocast(enable=True, amx=None):
    """Run dygraph GEMMs on CPU in bf16 (fp32 accumulation) inside the block; ``enable=False`` forces fp32.

    ``amx``: whether no-gradient Linears may take the package's AMX kernel (see :func:`amx_enabled`); None
    leaves it to the CPU and ``PADDLE_REMBERT_AMX``, False keeps oneDNN's GEMMs (the block and its callees).

    As PyTorch's autocast does, the bf16 copy of each parameter is made once per outermost block and
    reused by every GEMM in it, and by their backward (ALBERT's shared layers convert their weights once
    per step instead of 24 times). So do not update parameters inside the block (wrap the forward, as
    the trainer does, not the optimizer step): a GEMM there would still read the old copy.
    """
    token = _REQUESTED.set(bool(enable))
    amx_token = _AMX.set(_AMX.get() if amx is None else bool(amx))
    weights = _WEIGHTS.set({}) if _WEIGHTS.get() is None else None
    try:
        yield
    finally:
        if weights is not None:
            _WEIGHTS.reset(weights)
        _AMX.reset(amx_token)
        _REQUESTED.reset(token)


def _cacheable(w):
    return _WEIGHTS.get() is not None and w.dtype == paddle.float32 and not w.stop_gradient and w.is_leaf


def _bf16_weight(w, transposed=False):
    """``w`` as a dense bf16 tensor (``transposed``: a 2-D ``[K, N]`` as ``[N, K]``): a parameter's copy is
    cached for the autocast block; other tensors (activations) are converted inside the GEMM instead."""
    if not _cacheable(w):
        assert not transposed, "only a cached copy is transposed"
        return w
    cache = _WEIGHTS.get()
    key = (id(w), transposed)
    hit = cache.get(key)
    if hit is None:  # the parameter itself is kept, so its id stays unique
        hit = cache[key] = (w, build.run("pr_to_bf16", w, bool(transposed))[0])
    return hit[1]


def requested():
    """Whether the caller is inside :func:`autocast` (this thread / context)."""
    return _REQUESTED.get()


def active(*tensors):
    """True when GEMMs on ``tensors`` should take the bf16 path: requested, dygraph, CPU, fp32/bf16 operands,
    and the kernel available (built lazily on the first such call)."""
    # SOT's to_static simulates dygraph code: what it traces is a static graph, with Paddle's fp32 GEMMs
    if in_sot_simulation_mode() or not paddle.in_dynamic_mode() or not _REQUESTED.get():
        return False
    for t in tensors:
        if t is not None and (t.dtype not in (paddle.float32, paddle.bfloat16) or not t.place.is_cpu_place()):
            return False
    return available()


# -- availability ---------------------------------------------------------------------------------
def _cpu_flags(cpuinfo):
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU runs bf16 dot products natively (AVX512-BF16 or AMX-BF16)."""
    return bool(_cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def cpu_emulates_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether oneDNN can run the bf16 GEMMs by emulation (AVX-512 F, BW, VL, DQ: its ``avx512_core``)."""
    return {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= _cpu_flags(cpuinfo)


def cpu_bf16_mode():
    """``"native"`` on a bf16 CPU; ``"emulate"`` where PADDLE_REMBERT_BF16=emulate asks for oneDNN's emulated bf16
    on an AVX-512 CPU without AVX512-BF16 (slower than fp32; the same rounding, sums at most in another order:
    for checking bf16 code on such a machine, as the tests do); else None (bf16 runs as fp32)."""
    if cpu_has_bf16():
        return "native"
    if os.environ.get("PADDLE_REMBERT_BF16", "").lower() == "emulate" and cpu_emulates_bf16():
        return "emulate"
    return None


NO_BF16 = "this CPU has no AVX512-BF16 / AMX-BF16"


def _decide():
    if cpu_bf16_mode() is None:
        _STATE["error"] = NO_BF16
    elif not build.available():
        _STATE["error"] = build.unavailable_reason()
    ok = "error" not in _STATE
    # "ok" last: other threads read the state without the lock once it is set
    _STATE["amx"] = ok and bool(build.run("pr_amx_available", paddle.zeros([1]))[0].item())
    _STATE["ok"] = ok
    if not _STATE["ok"] and not build.failed():  # a failed build has warned already, fp32 GEMMs included
        logger.warning("bf16 GEMMs unavailable, running them in fp32 (%s)", _STATE["error"])


def available():
    """Whether the bf16 GEMMs can be used: a bf16 CPU and the operators built (:mod:`.build`). The first
    call decides; a "no" logs one warning, and the GEMMs stay fp32."""
    return build.decide_once(_STATE, _LOCK, _decide)


def unavailable_reason():
    return _STATE.get("error")


# -- the operators --------------------------------------------------------------------------------
EPILOGUES = {None: 0, "gelu": 1, "gelu_tanh": 2}


def matmul_raw(x, y, bias=None, transpose_x=False, transpose_y=False, mode=None, alpha=1.0, add=None, act=None,
               out_bf16=False, x_view=None, y_view=None, out_heads=False):
    """``act(alpha * (op(x) @ op(y) (+ bias))) (+ add)`` in bf16 with fp32 accumulation; no autograd.

    ``alpha``, ``act`` (None, "gelu" or "gelu_tanh") and ``add`` (float32, broadcast over size-1 dims) are
    applied by the GEMM's epilogue (oneDNN post-ops), so attention's scale and mask, a residual or an
    activation cost no extra pass over the output. The result is fp32, or bf16 with ``out_bf16``.
    ``x_view`` / ``y_view`` (:func:`view_spec`) read ``x`` / ``y`` as strided views of themselves;
    ``out_heads`` returns a ``[B, H, M, N]`` product as ``[B, M, H*N]``. See :data:`MODE`.
    """
    mode = MODE if mode is None else int(mode)
    rank, batch = (x_view[1], x_view[2]) if x_view else (x.ndim, x.shape[0])
    if add is not None and add.ndim == rank >= 3 and add.shape[0] == 1 < batch and add.shape[-2] > 1:
        # oneDNN runs its reference kernel (tens of times slower) for an Add of [1, ..., M, N] broadcast over
        # the batch, e.g. a [1, 1, L, L] attention mask; it keeps its jit kernel for [B, 1, L, L]
        add = add.expand([batch] + add.shape[1:]).contiguous()
    return build.run("pr_bf16_matmul", x, y, bias, add, bool(transpose_x), bool(transpose_y), mode, float(alpha),
                     EPILOGUES[act], bool(out_bf16), list(x_view or []), list(y_view or []), bool(out_heads))[0]


def view_spec(offset, dims, strides):
    """A strided view for :func:`matmul_raw` (elements). Paddle hands custom operators contiguous tensors
    (a strided view is copied first, slowly), so views are passed as their base tensor and this spec."""
    return [int(offset), len(dims)] + [int(d) for d in dims] + [int(s) for s in strides]


def implementations():
    """``{cache key: oneDNN implementation}`` of every cached primitive, most recently used first (diagnostics)."""
    raw = build.run("pr_bf16_matmul_impls", paddle.zeros([1]))[0]
    lines = bytes(raw.numpy().tolist()).decode().splitlines()
    return dict(line.split(" => ", 1) for line in lines if " => " in line)


# -- inference: fused GEMMs (no autograd) -----------------------------------------------------------
def inference(*tensors):
    """True when GEMMs on ``tensors`` take the bf16 path and no gradient is wanted, so that epilogues may
    fuse what the backward would otherwise need apart (an activation's input, a residual)."""
    if paddle.is_grad_enabled() and not all(t is None or t.stop_gradient for t in tensors):
        return False
    return active(*tensors)


# From this many rows of X on, inference GEMMs read their weight transposed from an [out, in] copy: oneDNN's
# AMX matmul ran 4-9% faster so than on [in, out] at BERT-base's shapes, but the transposing conversion costs
# 0.3 ns more per weight element (1.3 ms against 0.6 ms for 768 x 3072), once per autocast block; the two
# break even near 2,000 rows (B16 at length 128). Training keeps [in, out], which suits its input gradient.
TRANSPOSED_WEIGHT_ROWS = 2048


def _read_transposed(x, weights):
    return math.prod(x.shape[:-1]) >= TRANSPOSED_WEIGHT_ROWS and all(_cacheable(w) for w in weights)


# -- AMX: the package's own tile kernel for inference GEMMs (csrc/amx.cc) ------------------------------------
# oneDNN 3.6 (the Paddle wheel's) ran BERT-base's bf16 GEMMs 1.02-1.39x as long as the oneDNN inside PyTorch. Where
# the CPU has AMX, a no-gradient Linear instead runs the package's AMX kernel on a weight packed once per autocast
# block: 0.8-1.1x oneDNN's time at BERT-base's B32 shapes, 0.7-1.0x at B8 and B1 (docs/benchmarks.md). Its products
# equal oneDNN's (the same sums in the same order); its gelu differs by a few fp32 ulps. PADDLE_REMBERT_AMX=0, or
# autocast(amx=False), keeps oneDNN.
AMX_BLOCK = 32  # K and N must be multiples of it (every released BERT-family width is)


def amx_enabled():
    """Whether inference Linears take the AMX kernel: not switched off (``autocast(amx=False)`` or
    ``PADDLE_REMBERT_AMX=0``), the bf16 kernels available, and the CPU and Linux grant AMX tiles."""
    choice = _AMX.get()
    if choice is False or (choice is None and os.environ.get("PADDLE_REMBERT_AMX", "1") == "0"):
        return False
    return available() and _STATE["amx"]


def _amx_fits(x, weights):
    k = x.shape[-1]
    return (k > 0 and k % AMX_BLOCK == 0 and all(w.ndim == 2 and w.shape[1] % AMX_BLOCK == 0 for w in weights)
            and all(_cacheable(w) for w in weights) and amx_enabled())


def _concat_biases(weights, biases):
    """The bias of Linears ``[in, out]`` with concatenated outputs (zeros for one without); None if none has one."""
    if all(b is None for b in biases):
        return None
    return paddle.concat([b if b is not None else paddle.zeros([w.shape[1]]) for w, b in zip(weights, biases)])


def amx_linear(x, weights, biases, act=None, add=None, out_bf16=False):
    """``act(concat([x @ w (+ b) for w, b in zip(weights, biases)], -1)) (+ add)`` by the AMX kernel, the
    weights packed side by side once per autocast block. Call only when :func:`inference` holds and
    ``_amx_fits(x, weights)``."""
    cache = _WEIGHTS.get()
    key = ("amx",) + tuple(id(w) for w in weights)
    hit = cache.get(key)
    if hit is None:  # the parameters are kept, so their ids stay unique
        hit = cache[key] = (tuple(weights), build.run("pr_amx_pack", list(weights))[0])  # side by side
    bias = biases[0] if len(biases) == 1 else None
    if len(biases) > 1 and any(b is not None for b in biases):
        key = ("amx-bias",) + tuple(id(b) for b in biases)  # a bias is not tied to its weight: keyed apart
        held = cache.get(key)
        if held is None:
            held = cache[key] = (tuple(biases), _concat_biases(weights, biases))
        bias = held[1]
    return build.run("pr_amx_linear", x.contiguous(), hit[1], bias, add, EPILOGUES[act], bool(out_bf16))[0]


def linear_inference(x, layer, act=None, add=None, out_bf16=False):
    """``act(layer(x)) (+ add)`` for a Linear ``layer`` as one bf16 GEMM (see :func:`matmul_raw`); call only
    when :func:`inference` holds. See :data:`TRANSPOSED_WEIGHT_ROWS` for the weight's layout."""
    if _amx_fits(x, [layer.weight]):
        return amx_linear(x, [layer.weight], [layer.bias], act=act, add=add, out_bf16=out_bf16)
    transposed = _read_transposed(x, [layer.weight])
    return matmul_raw(x, _bf16_weight(layer.weight, transposed), layer.bias, transpose_y=transposed, act=act,
                      add=add, out_bf16=out_bf16)


def concat_linear_inference(x, layers, out_bf16=False):
    """``concat([l(x) for l in layers], -1)`` as one bf16 GEMM: the layers' weights (and biases) are
    concatenated once per autocast block, so ``x`` is converted and read once (attention's q, k, v). Call only
    when :func:`inference` holds (then an ``autocast()`` block has set the cache)."""
    if _amx_fits(x, [layer.weight for layer in layers]):
        return amx_linear(x, [layer.weight for layer in layers], [layer.bias for layer in layers],
                          out_bf16=out_bf16)
    cache = _WEIGHTS.get()
    transposed = _read_transposed(x, [layer.weight for layer in layers])
    key = ("concat", transposed) + tuple(id(layer.weight) for layer in layers)
    hit = cache.get(key)
    if hit is None:
        # each weight converted straight into the concatenation (a cached copy per layer would only duplicate it)
        convert = all(_cacheable(layer.weight) for layer in layers)
        weight = paddle.concat([build.run("pr_to_bf16", layer.weight, transposed)[0] if convert else layer.weight
                                for layer in layers], axis=0 if transposed else 1)
        bias = _concat_biases([layer.weight for layer in layers], [layer.bias for layer in layers])
        hit = cache[key] = (tuple(layer.weight for layer in layers), weight, bias)  # the parameters keep ids unique
    return matmul_raw(x, hit[1], hit[2], transpose_y=transposed, out_bf16=out_bf16)


def self_attention_inference(x, layers, num_heads, additive_mask=None, need_probs=True):
    """Self-attention with its q, k, v projections ``layers``: ``(context [B, L, H*D], probs [B, H, L, L])``,
    both in bf16 (the context is the next GEMM's operand; ``output_attentions`` casts the probabilities).
    One GEMM computes q|k|v (bf16, as the next GEMMs read them); then :func:`attention_inference`. Call only
    when :func:`inference` holds; dropout on the probabilities must be the identity.
    """
    qkv = concat_linear_inference(x, layers, out_bf16=True)  # [B, L, 3*H*D]
    add = None if additive_mask is None else additive_mask.astype("float32").contiguous()
    return attention_inference(qkv, add, num_heads, need_probs)


def attention_inference(qkv, add, num_heads, need_probs=True, fp32=False):
    """``(context [B, L, H*D], probs [B, H, L, L] or None)`` in bf16 from ``qkv`` [B, L, 3*H*D] (bf16) and an
    additive float32 mask ``add`` (4-D, or None). With ``fp32`` (int8 inference's attention), fp32 ``qkv``,
    GEMMs and results, through the same operator and views.

    Without ``need_probs``, where the AMX kernels run, the scores, softmax and context are one pass per head
    (csrc/amx_attention.cc) and the probabilities are None. Otherwise the scores GEMM reads q and k as
    strided views of ``qkv`` (scale and mask in its epilogue), and the context GEMM writes its heads merged:
    no transposes, and q, k, v are never copied.
    """
    b, length, width = qkv.shape
    hd = width // 3
    d = hd // num_heads
    if not need_probs and _amx_attention_fits(qkv, add, d):
        return build.run("pr_amx_attention", qkv, add, num_heads, 1.0 / math.sqrt(d))[0], None

    def heads(i):  # [B, H, L, D] of the i-th projection
        return view_spec(i * hd, [b, num_heads, length, d], [length * width, d, width, 1])

    mode = FP32_MODE if fp32 else None
    scores = matmul_raw(qkv, qkv, None, False, True, mode=mode, alpha=1.0 / math.sqrt(d), add=add,
                        x_view=heads(0), y_view=heads(1))
    if ops.enabled(scores):
        probs = ops.softmax(scores, out_bf16=not fp32)
    else:
        probs = paddle.nn.functional.softmax(scores, axis=-1)
    # bf16 results: the next GEMM's operands
    return matmul_raw(probs, qkv, mode=mode, y_view=heads(2), out_heads=True, out_bf16=not fp32), probs


def _amx_attention_fits(qkv, add, head_size):
    """The fused AMX attention takes q|k|v in bf16, heads a multiple of 32 wide and a mask of
    ``[B or 1, 1, L or 1, L]`` (the key padding or a full mask, shared by the heads)."""
    b, length, _ = qkv.shape
    mask_ok = add is None or (add.ndim == 4 and add.shape[0] in (1, b) and add.shape[1] == 1
                              and add.shape[2] in (1, length) and add.shape[3] == length)
    return (qkv.dtype == paddle.bfloat16 and head_size % AMX_BLOCK == 0 and mask_ok and amx_enabled())


def _rows(t):
    return t.reshape([-1, t.shape[-1]])


def _linear_forward(ctx, tensors, transpose_w):  # through ops.apply_multi
    x, weight, bias = (tensors[1:] + [None])[:3]
    ctx.needs = (not x.stop_gradient, not weight.stop_gradient, bias is not None and not bias.stop_gradient)
    copy = _bf16_weight(weight)
    ctx.save_for_backward(x, copy, weight)  # the backward GEMM reuses the bf16 copy
    ctx.transpose_w = transpose_w
    return matmul_raw(x, copy, bias, False, transpose_w)


def _linear_backward(ctx, dy):
    x, weight, param = ctx.saved_tensor()
    need_x, need_w, need_b = ctx.needs
    if paddle.is_grad_enabled():  # create_graph=True: a backward that autograd differentiates again, in fp32
        return ops.linear_grads(x.astype("float32"), param, dy, ctx.transpose_w, ctx.needs)
    dx = matmul_raw(dy, weight, None, False, not ctx.transpose_w) if need_x else None
    dw = db = None
    if need_w or need_b:
        dy2 = _rows(dy)
    if need_w:  # one 2-D GEMM over all rows
        x2 = _rows(x)
        dw = matmul_raw(dy2, x2, None, True, False) if ctx.transpose_w else matmul_raw(x2, dy2, None, True, False)
    if need_b:  # fp32 ones[1, rows] @ dy (MKL's GEMV): faster than Paddle's column reduction or a 1-row brgemm
        db = paddle.matmul(paddle.ones([1, dy2.shape[0]], dy.dtype), dy2).reshape([-1])
    return dx, dw, db


class _Linear(PyLayer):
    """``x @ w (+ b)`` (``w`` transposed when ``transpose_w``) with all three GEMMs in bf16."""

    @staticmethod
    def forward(ctx, tensors, transpose_w):
        ctx.has_bias = len(tensors) == 4
        return _linear_forward(ctx, tensors, transpose_w)

    @staticmethod
    def backward(ctx, dy):
        grads = _linear_backward(ctx, dy)
        return ops.multi_grads(*(grads if ctx.has_bias else grads[:2]))


def linear(x, weight, bias=None, transpose_w=False):
    """bf16 ``x @ weight (+ bias)``; differentiable."""
    if not paddle.is_grad_enabled() or (x.stop_gradient and weight.stop_gradient
                                        and (bias is None or bias.stop_gradient)):
        if not transpose_w and _amx_fits(x, [weight]):
            return amx_linear(x, [weight], [bias])
        return matmul_raw(x, _bf16_weight(weight), bias, False, transpose_w)
    return ops.apply_multi(_Linear, [x, weight] if bias is None else [x, weight, bias], transpose_w)


class _Matmul(PyLayer):
    """``alpha * x @ y`` / ``alpha * x @ y^T`` (+ a constant ``add``) over matching batch dims (attention),
    both backward GEMMs in bf16."""

    @staticmethod
    def forward(ctx, tensors, transpose_y, alpha):  # through ops.apply_multi: [anchor, x, y] or [.., add]
        x, y, add = (tensors[1:] + [None])[:3]
        ctx.has_add = add is not None
        ctx.save_for_backward(x, y)
        ctx.transpose_y, ctx.alpha = transpose_y, alpha
        ctx.needs = (not x.stop_gradient, not y.stop_gradient)
        return matmul_raw(x, y, None, False, transpose_y, alpha=alpha, add=add)

    @staticmethod
    def backward(ctx, dz):
        dx, dy = _Matmul._grads(ctx, dz)
        return ops.multi_grads(dx, dy, *([None] if ctx.has_add else []))

    @staticmethod
    def _grads(ctx, dz):
        x, y = ctx.saved_tensor()
        need_x, need_y = ctx.needs
        a = ctx.alpha
        if paddle.is_grad_enabled():  # create_graph=True: a backward that autograd differentiates again, in fp32
            x, y = x.astype("float32"), y.astype("float32")
            if ctx.transpose_y:
                return (a * paddle.matmul(dz, y) if need_x else None,
                        a * paddle.matmul(dz, x, transpose_x=True) if need_y else None)
            return (a * paddle.matmul(dz, y, transpose_y=True) if need_x else None,
                    a * paddle.matmul(x, dz, transpose_x=True) if need_y else None)
        if ctx.transpose_y:  # z = a x y^T: dx = a dz y, dy = a dz^T x
            dx = matmul_raw(dz, y, alpha=a) if need_x else None
            dy = matmul_raw(dz, x, None, True, False, alpha=a) if need_y else None
        else:  # z = a x y: dx = a dz y^T, dy = a x^T dz
            dx = matmul_raw(dz, y, None, False, True, alpha=a) if need_x else None
            dy = matmul_raw(x, dz, None, True, False, alpha=a) if need_y else None
        return dx, dy


def matmul(x, y, transpose_y=False, alpha=1.0, add=None):
    """bf16 ``alpha * x @ y (+ add)`` (``y`` transposed when ``transpose_y``) over equal batch dims;
    differentiable in ``x`` and ``y`` (``add``, e.g. an attention mask, must not need a gradient)."""
    if add is not None:
        if not add.stop_gradient and paddle.is_grad_enabled():
            return matmul(x, y, transpose_y, alpha) + add
        add = add.astype("float32").contiguous()
    if not paddle.is_grad_enabled() or (x.stop_gradient and y.stop_gradient):
        return matmul_raw(x, y, None, False, transpose_y, alpha=alpha, add=add)
    return ops.apply_multi(_Matmul, [x, y] if add is None else [x, y, add], transpose_y, float(alpha))
