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
rounded to bf16, fp32 accumulation, fp32 results, so every other op keeps its fp32 kernel.
Outside it (and in static graphs / export) nothing changes: fp32 stays bit-for-bit.

Attention's scale and mask ride in the scores GEMM's epilogue and its softmax is oneDNN's.
:func:`gelu` and :func:`layer_norm` (oneDNN fp32 kernels, several times faster than Paddle's CPU
ones, backward included) are there for the models' activations and LayerNorms.

The operators are compiled with ``paddle.utils.cpp_extension`` against the oneDNN inside the
Paddle wheel on first bf16 use (12 s on an idle 2-core machine, 30-60 s on a busy one; once per
machine and source version, cached under ``$PADDLE_REMBERT_CACHE`` or ``~/.cache/paddle_rembert``).
No compiler, a failed build or a CPU without AVX512-BF16 gives one warning and fp32 everywhere.
"""
import contextlib
import contextvars
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading

import paddle
from paddle.autograd import PyLayer

logger = logging.getLogger("paddle_rembert")

_CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
_SOURCES = ("bf16_matmul.cc", "dnnl_min.h")
_REQUESTED = contextvars.ContextVar("paddle_rembert_bf16", default=False)
_LOCK = threading.Lock()
_STATE = {}  # "ok": bool once decided; "error": why not
# 0: fp32 operands rounded to bf16 by a oneDNN reorder into dense copies, then a bf16 x bf16 GEMM (always bf16);
# 1: oneDNN's fpmath_mode=bf16 on the fp32 operands, which lets oneDNN pick an fp32 kernel for shapes it deems
# small. 0 measured 5-15% faster end to end on ALBERT-base (the reorders are cheaper than in-kernel conversion).
MODE = 0


# -- the switch -------------------------------------------------------------------------------
@contextlib.contextmanager
def autocast(enable=True):
    """Run dygraph GEMMs on CPU in bf16 (fp32 accumulation) inside the block; ``enable=False`` forces fp32."""
    token = _REQUESTED.set(bool(enable))
    try:
        yield
    finally:
        _REQUESTED.reset(token)


def requested():
    """Whether the caller is inside :func:`autocast` (this thread / context)."""
    return _REQUESTED.get()


def active(*tensors):
    """True when GEMMs on ``tensors`` should take the bf16 path: requested, dygraph, CPU, fp32/bf16 operands,
    and the kernel available (built lazily on the first such call)."""
    if not _REQUESTED.get() or not paddle.in_dynamic_mode():
        return False
    for t in tensors:
        if t is not None and (t.dtype not in (paddle.float32, paddle.bfloat16) or not t.place.is_cpu_place()):
            return False
    return available()


# -- the build ----------------------------------------------------------------------------------
def cpu_has_bf16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU runs bf16 dot products natively (AVX512-BF16 or AMX-BF16)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def cache_dir():
    root = os.environ.get("PADDLE_REMBERT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle_rembert")
    return os.path.join(root, "kernels")


def _build_tag():
    """Changes whenever the sources, Paddle or the Python ABI change, so a stale build is never loaded."""
    h = hashlib.sha256()
    for name in _SOURCES:
        with open(os.path.join(_CSRC, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    h.update(f"{paddle.__version__}|{paddle.version.commit}|{sys.version_info[:2]}|{sys.platform}".encode())
    return "pr_kernels_" + h.hexdigest()[:16]


def _paddle_libs():
    return os.path.join(os.path.dirname(paddle.__file__), "libs")


def _compile(name, out_path):
    """Build the operator in a temporary directory and move the shared library to ``out_path`` atomically."""
    from paddle.utils.cpp_extension import load

    libs = _paddle_libs()
    work = tempfile.mkdtemp(prefix=".build-", dir=os.path.dirname(out_path))
    try:
        load(name=name, sources=[os.path.join(_CSRC, "bf16_matmul.cc")], extra_include_paths=[_CSRC],
             extra_cxx_cflags=["-O2"], extra_ldflags=[f"-L{libs}", "-l:libdnnl.so.3", f"-Wl,-rpath,{libs}"],
             build_directory=work, verbose=False)
        built = os.path.join(work, name, name + ".so")
        tmp = out_path + f".tmp-{os.getpid()}"
        shutil.copyfile(built, tmp)
        os.replace(tmp, out_path)
        return True  # load() registered the operators already
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load():
    """Register the custom operators, building them first if the cache has none (a file lock keeps
    concurrent processes from building at once)."""
    import fcntl

    from paddle.utils.cpp_extension import load_op_meta_info_and_register_op

    if not os.path.exists(os.path.join(_paddle_libs(), "libdnnl.so.3")):
        raise RuntimeError("this Paddle wheel ships no oneDNN (paddle/libs/libdnnl.so.3)")
    name = _build_tag()
    d = cache_dir()
    os.makedirs(d, exist_ok=True)
    so = os.path.join(d, name + ".so")
    with open(os.path.join(d, name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(so):
                logger.info("building the bf16 kernels (once per machine, 15-60 s) into %s", d)
                if _compile(name, so):
                    return
            load_op_meta_info_and_register_op(so)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def available():
    """Whether the bf16 operator can be used; the first call decides (and builds it if needed)."""
    ok = _STATE.get("ok")
    if ok is not None:
        return ok
    with _LOCK:
        if "ok" in _STATE:
            return _STATE["ok"]
        try:
            if not cpu_has_bf16():
                raise RuntimeError("this CPU has no AVX512-BF16 / AMX-BF16")
            _load()
            _STATE["ok"] = True
        except Exception as e:  # a failed build must not break training: fall back to fp32
            _STATE["error"] = f"{type(e).__name__}: {e}".strip().splitlines()[0][:300]
            logger.warning("bf16 GEMMs unavailable, running them in fp32 (%s)", _STATE["error"])
            _STATE["ok"] = False
        return _STATE["ok"]


def unavailable_reason():
    return _STATE.get("error")


# -- the operators --------------------------------------------------------------------------------
def matmul_raw(x, y, bias=None, transpose_x=False, transpose_y=False, mode=None, alpha=1.0, add=None):
    """``alpha * (op(x) @ op(y) (+ bias)) (+ add)`` in bf16 with fp32 accumulation, fp32 result; no autograd.

    ``add`` (float32, broadcast over size-1 dims) and ``alpha`` are applied by the GEMM's epilogue (oneDNN
    post-ops), so attention's scale and mask cost no extra pass over the scores. See :data:`MODE`.
    """
    mode = MODE if mode is None else int(mode)
    return paddle._C_ops._run_custom_op("pr_bf16_matmul", x, y, bias, add, bool(transpose_x), bool(transpose_y),
                                        mode, float(alpha))[0]


def implementations():
    """``{cache key: oneDNN implementation}`` of every primitive built so far (diagnostics)."""
    raw = paddle._C_ops._run_custom_op("pr_bf16_matmul_impls", paddle.zeros([1]))[0]
    lines = bytes(raw.numpy().tolist()).decode().splitlines()
    return dict(line.split(" => ", 1) for line in lines if " => " in line)


def _rows(t):
    return t.reshape([-1, t.shape[-1]])


def _linear_forward(ctx, x, weight, bias, transpose_w):
    ctx.save_for_backward(x, weight)
    ctx.transpose_w = transpose_w
    ctx.needs = (not x.stop_gradient, not weight.stop_gradient, bias is not None and not bias.stop_gradient)
    return matmul_raw(x, weight, bias, False, transpose_w)


def _linear_backward(ctx, dy):
    x, weight = ctx.saved_tensor()
    need_x, need_w, need_b = ctx.needs
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


class _LinearWithBias(PyLayer):
    """``x @ w + b`` (``w`` transposed when ``transpose_w``) with all three GEMMs in bf16."""

    @staticmethod
    def forward(ctx, x, weight, bias, transpose_w):
        return _linear_forward(ctx, x, weight, bias, transpose_w)

    @staticmethod
    def backward(ctx, dy):
        return _linear_backward(ctx, dy)


class _LinearNoBias(PyLayer):
    @staticmethod
    def forward(ctx, x, weight, transpose_w):
        return _linear_forward(ctx, x, weight, None, transpose_w)

    @staticmethod
    def backward(ctx, dy):
        return _linear_backward(ctx, dy)[:2]


def linear(x, weight, bias=None, transpose_w=False):
    """bf16 ``x @ weight (+ bias)``; differentiable."""
    if not paddle.is_grad_enabled() or (x.stop_gradient and weight.stop_gradient
                                        and (bias is None or bias.stop_gradient)):
        return matmul_raw(x, weight, bias, False, transpose_w)
    if bias is None:
        return _LinearNoBias.apply(x, weight, transpose_w)
    return _LinearWithBias.apply(x, weight, bias, transpose_w)


class _Matmul(PyLayer):
    """``alpha * x @ y`` / ``alpha * x @ y^T`` (+ a constant ``add``) over matching batch dims (attention),
    both backward GEMMs in bf16."""

    @staticmethod
    def forward(ctx, x, y, transpose_y, alpha, add):
        ctx.save_for_backward(x, y)
        ctx.transpose_y, ctx.alpha = transpose_y, alpha
        ctx.needs = (not x.stop_gradient, not y.stop_gradient)
        return matmul_raw(x, y, None, False, transpose_y, alpha=alpha, add=add)

    @staticmethod
    def backward(ctx, dz):
        x, y = ctx.saved_tensor()
        need_x, need_y = ctx.needs
        a = ctx.alpha
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
    return _Matmul.apply(x, y, transpose_y, float(alpha), add)


class _Softmax(PyLayer):
    @staticmethod
    def forward(ctx, x):
        y = paddle._C_ops._run_custom_op("pr_softmax", x)[0]
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensor()
        return paddle._C_ops._run_custom_op("pr_softmax_grad", y, dy.contiguous())[0]


def softmax(x):
    """fp32 softmax over the last axis with oneDNN's kernel (Paddle's CPU softmax is several times slower on
    attention scores); differentiable. Used on the bf16 path, where bit-parity with Paddle's kernel is not promised."""
    x = x.contiguous()
    if not paddle.is_grad_enabled() or x.stop_gradient:
        return paddle._C_ops._run_custom_op("pr_softmax", x)[0]
    return _Softmax.apply(x)


class _Gelu(PyLayer):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return paddle._C_ops._run_custom_op("pr_gelu", x, approximate)[0]

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensor()
        return paddle._C_ops._run_custom_op("pr_gelu_grad", x, dy.contiguous(), ctx.approximate)[0]


def gelu(x, approximate=False):
    """fp32 gelu (erf, or the tanh form with ``approximate``) with oneDNN's kernel; differentiable.
    Paddle's CPU gelu is the slowest op of a BERT layer once its GEMMs run in bf16."""
    x = x.contiguous()
    if not paddle.is_grad_enabled() or x.stop_gradient:
        return paddle._C_ops._run_custom_op("pr_gelu", x, bool(approximate))[0]
    return _Gelu.apply(x, bool(approximate))


class _LayerNorm(PyLayer):
    @staticmethod
    def forward(ctx, x, weight, bias, epsilon):
        out, mean, var = paddle._C_ops._run_custom_op("pr_layer_norm", x, weight, bias, epsilon)
        ctx.save_for_backward(x, mean, var, weight)
        ctx.epsilon = epsilon
        ctx.needs = (not x.stop_gradient, not weight.stop_gradient, not bias.stop_gradient)
        return out

    @staticmethod
    def backward(ctx, dy):
        x, mean, var, weight = ctx.saved_tensor()
        dx, dw, db = paddle._C_ops._run_custom_op("pr_layer_norm_grad", x, dy.contiguous(), mean, var, weight,
                                                 ctx.epsilon)
        need_x, need_w, need_b = ctx.needs
        return dx if need_x else None, dw if need_w else None, db if need_b else None


def layer_norm(x, weight, bias, epsilon=1e-5):
    """fp32 LayerNorm over the last axis (with ``weight`` and ``bias``) with oneDNN's kernels; differentiable.
    Paddle's CPU layer_norm backward is ~10x slower than oneDNN's on [1024, 768]."""
    x = x.contiguous()
    if not paddle.is_grad_enabled() or (x.stop_gradient and weight.stop_gradient and bias.stop_gradient):
        return paddle._C_ops._run_custom_op("pr_layer_norm", x, weight, bias, float(epsilon))[0]
    return _LayerNorm.apply(x, weight, bias, float(epsilon))
