"""fp32 softmax, gelu, LayerNorm and dropout for dygraph on CPU, forward and backward.

Paddle 3.3's CPU kernels for these cost as much as the GEMMs of a BERT-base training step
(profile, batch 8, length 128, 2 threads: dropout 0.56 s, LayerNorm backward 0.27 s, gelu 0.28 s
of a 4.8 s step), because they run on one thread or unvectorised. oneDNN's kernels (softmax, gelu,
LayerNorm) and our threaded dropout (``csrc/ops.cc``) do the same math several times faster.

:func:`enabled` decides per call: dygraph, CPU, float32, and the operators built
(:mod:`.build`). Otherwise the models use Paddle's kernels, so static graphs and exports are
unaffected. The results equal Paddle's within fp32 round-off (tests/test_kernels.py), not bit for
bit; dropout draws other masks than Paddle's (its seed comes from Paddle's generator, so
``paddle.seed`` still reproduces them).
"""
import paddle
from paddle.autograd import PyLayer

from . import build


def enabled(*tensors):
    """Whether these fp32 operators apply to ``tensors``: dygraph, CPU, float32, and available."""
    if not paddle.in_dynamic_mode():
        return False
    for t in tensors:
        if t is not None and (t.dtype != paddle.float32 or not t.place.is_cpu_place()):
            return False
    return build.available()


def _needs_grad(*tensors):
    return paddle.is_grad_enabled() and any(t is not None and not t.stop_gradient for t in tensors)


def _first_order_only(op):
    """Called in a backward: refuse ``create_graph=True``, whose gradient would silently miss this op's part
    (the kernels' backward is not differentiable)."""
    if paddle.is_grad_enabled():
        raise RuntimeError(f"double backward (create_graph=True) through paddle_rembert's oneDNN {op} is not "
                           "supported; set PADDLE_REMBERT_KERNELS=0 to use Paddle's operators")


# -- PyLayers of several tensors ------------------------------------------------------------------
def apply_multi(layer, tensors, *args):
    """``layer.apply([anchor, *tensors], *args)``: a PyLayer of several tensors takes them as ONE list, led
    by a fresh tensor that needs a gradient; its backward returns :func:`multi_grads`.

    Why: ``paddle.grad`` over only some tensors (an input's embeddings for saliency, one parameter) runs
    the graph with the edges towards unneeded inputs cut and marked stop-gradient, and Paddle then refuses
    any gradient a PyLayer's backward returns for them; the backward cannot see which. Paddle 3.3 cuts the
    edges of nodes with more than one tensor argument only, and checks a list argument by its first
    tensor, which here always needs a gradient. Tensors that need none get None back, as before.
    """
    anchor = paddle.zeros([1])
    anchor.stop_gradient = False
    return layer.apply([anchor, *tensors], *args)


def multi_grads(*grads):
    """A backward's return value for :func:`apply_multi`: no gradient for the anchor, then ``grads``."""
    return [None, *grads]


# -- a Linear's gradients --------------------------------------------------------------------------
def linear_grads(x, weight, dy, transpose_w, needs):
    """``(dx, dw, db)`` of ``x @ weight + b`` (``weight`` transposed when ``transpose_w``) with Paddle's fp32
    GEMMs, None where ``needs`` (x, weight, bias) says no. Differentiable, so a double backward can use it.
    The weight gradient is one 2-D GEMM over all rows; the bias gradient is ``ones[1, rows] @ dy``: Paddle's
    broadcast column reduction is ~70x slower on CPU (40 ms for ALBERT's FFN bias at batch 8, length 128)."""
    need_x, need_w, need_b = needs
    dx = paddle.matmul(dy, weight, transpose_y=not transpose_w) if need_x else None
    dy2 = dy.reshape([-1, dy.shape[-1]])
    dw = None
    if need_w:
        x2 = x.reshape([-1, x.shape[-1]])
        dw = paddle.matmul(dy2, x2, transpose_x=True) if transpose_w else paddle.matmul(x2, dy2, transpose_x=True)
    db = paddle.matmul(paddle.ones([1, dy2.shape[0]], dy.dtype), dy2).reshape([-1]) if need_b else None
    return dx, dw, db


# -- softmax over the last axis -------------------------------------------------------------------
class _Softmax(PyLayer):
    @staticmethod
    def forward(ctx, x):
        y = build.run("pr_softmax", x, False)[0]
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        _first_order_only("softmax")
        (y,) = ctx.saved_tensor()
        return build.run("pr_softmax_grad", y, dy.contiguous())[0]


def softmax(x, out_bf16=False):
    """fp32 softmax over the last axis (oneDNN); differentiable. ``out_bf16`` (no autograd): bf16 probabilities."""
    x = x.contiguous()
    if out_bf16:
        return build.run("pr_softmax", x, True)[0]
    return _Softmax.apply(x) if _needs_grad(x) else build.run("pr_softmax", x, False)[0]


# -- gelu -------------------------------------------------------------------------------------------
class _Gelu(PyLayer):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return build.run("pr_gelu", x, approximate)[0]

    @staticmethod
    def backward(ctx, dy):
        _first_order_only("gelu")
        (x,) = ctx.saved_tensor()
        return build.run("pr_gelu_grad", x, dy.contiguous(), ctx.approximate)[0]


def gelu(x, approximate=False):
    """fp32 gelu (erf, or the tanh form with ``approximate``) with oneDNN's kernel; differentiable."""
    x = x.contiguous()
    return _Gelu.apply(x, bool(approximate)) if _needs_grad(x) else build.run("pr_gelu", x, bool(approximate))[0]


# -- LayerNorm over the last axis -----------------------------------------------------------------
class _LayerNorm(PyLayer):
    @staticmethod
    def forward(ctx, tensors, epsilon):  # through apply_multi
        x, weight, bias = tensors[1:]
        out, mean, var = build.run("pr_layer_norm", x, weight, bias, epsilon)
        ctx.save_for_backward(x, mean, var, weight)
        ctx.epsilon = epsilon
        ctx.needs = (not x.stop_gradient, not weight.stop_gradient, not bias.stop_gradient)
        return out

    @staticmethod
    def backward(ctx, dy):
        _first_order_only("LayerNorm")
        x, mean, var, weight = ctx.saved_tensor()
        dx, dw, db = build.run("pr_layer_norm_grad", x, dy.contiguous(), mean, var, weight, ctx.epsilon)
        need_x, need_w, need_b = ctx.needs
        return multi_grads(dx if need_x else None, dw if need_w else None, db if need_b else None)


def layer_norm(x, weight, bias, epsilon=1e-5):
    """fp32 LayerNorm over the last axis with ``weight`` and ``bias`` (oneDNN's kernels); differentiable."""
    x = x.contiguous()
    if _needs_grad(x, weight, bias):
        return apply_multi(_LayerNorm, [x, weight, bias], float(epsilon))
    return build.run("pr_layer_norm", x, weight, bias, float(epsilon))[0]


# -- dropout ----------------------------------------------------------------------------------------
def _seed():
    """A 63-bit seed drawn from Paddle's CPU generator: ``paddle.seed`` fixes the sequence of masks, and
    saving/restoring the generator's state (the trainer's resume) replays it."""
    return paddle.base.core.default_cpu_generator().random() & 0x7FFFFFFFFFFFFFFF


class _Dropout(PyLayer):
    @staticmethod
    def forward(ctx, x, p, seed):
        out, mask = build.run("pr_dropout", x, p, seed)
        ctx.save_for_backward(mask)
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx, dy):
        _first_order_only("dropout")
        (mask,) = ctx.saved_tensor()
        return build.run("pr_dropout_grad", dy.contiguous(), mask, ctx.p)[0]


def dropout(x, p):
    """Training-mode dropout (upscale in train, like ``F.dropout``'s default) with the threaded kernel."""
    x = x.contiguous()
    if _needs_grad(x):
        return _Dropout.apply(x, float(p), _seed())
    return build.run("pr_dropout", x, float(p), _seed())[0]
