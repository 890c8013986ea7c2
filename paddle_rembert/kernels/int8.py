"""int8 Linears for dygraph inference on CPU: activations quantized per token, weights per output channel.

    table = paddle_rembert.modeling.int8.quantize_linears(model)   # once: int8 copies of every Linear's weight
    with paddle_rembert.kernels.int8.use(table):
        outputs = model(**inputs)

Inside the block, :func:`paddle_rembert.modeling.layers.linear` runs each Linear whose weight is in the table
through the ``pr_int8_linear`` operator (``csrc/int8.cc``): each token's activations get their own uint8 range
(asymmetric, 0 included), the weights one symmetric int8 scale per output column, and oneDNN's u8 x s8 GEMM
(VNNI) does the work, with an exact correction afterwards. Everything else stays fp32: embeddings, LayerNorm,
gelu, attention's activation-by-activation products, and tied decoders (not Linears).

Why not one range per call, as onnxruntime's dynamic quantization: the range then covers the whole padded
batch, and on the real all-MiniLM-L6-v2 a few wide channels move the published similarities by 0.011-0.016.
One range per token moves them by about 0.004 (docs/benchmarks.md).

The block is a context variable (per thread and per context), never a process-global flag. It needs the
package's kernels (:mod:`.build`) and a CPU with VNNI: without VNNI the GEMM's 16-bit intermediate sums can
saturate, so :func:`use` refuses (with :func:`unsupported_reason`) instead of returning wrong numbers.
A table is a snapshot: it holds int8 copies of the weights (and the q|k|v biases) as they were when it was
made; quantize again after changing them.
"""
import contextlib
import contextvars
import functools

import numpy as np
import paddle
from paddle.base.dygraph.base import in_sot_simulation_mode

from . import build

_TABLE = contextvars.ContextVar("paddle_rembert_int8", default=None)
QMAX = 127  # symmetric weights in [-127, 127]: zero is a code, and -128 is never used


@functools.lru_cache(maxsize=None)
def cpu_has_vnni():
    """Whether this CPU has VNNI (AVX512-VNNI, or AVX-VNNI), which the u8 x s8 GEMM needs to be exact (read once)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_vnni", "avx_vnni"})
    except OSError:
        pass
    return False


def unsupported_reason():
    """Why int8 cannot run here (one line), or None."""
    if not cpu_has_vnni():
        return ("int8 needs a CPU with VNNI (avx512_vnni or avx_vnni in /proc/cpuinfo); this one has neither: "
                "use precision='fp32' or 'bf16', or onnxruntime's int8 model (export --onnx --quantize int8, "
                "then backend='onnxruntime')")
    if not build.available():
        return f"int8 needs the package's CPU kernels, which are unavailable ({build.unavailable_reason()})"
    return None


def quantize_weight(weight):
    """``(q, scale)`` of a ``[in, out]`` fp32 weight: int8 codes and one scale per output column
    (``max |w| / 127``; 1 for an all-zero column), as numpy arrays."""
    w = np.asarray(weight)
    if w.dtype not in (np.float32, np.float64):  # a bf16 tensor's .numpy() is its uint16 bit patterns
        raise ValueError(f"int8 quantizes float32 weights, got {w.dtype}")
    w = w.astype(np.float32, copy=False)
    if w.ndim != 2:
        raise ValueError(f"int8: a Linear weight is 2-D, got shape {list(w.shape)}")
    scale = (np.abs(w).max(axis=0) / QMAX).astype(np.float32) if w.size else np.ones(w.shape[1], np.float32)
    scale[~(scale > 0)] = 1.0
    q = np.clip(np.rint(w / scale), -QMAX, QMAX).astype(np.int8)
    return q, scale


class Int8Table:
    """The int8 copies of some Linear weights, keyed by the fp32 parameter they stand for, and of q|k|v
    projections concatenated (one GEMM and one quantization of the input for the three)."""

    def __init__(self):
        self._entries = {}  # id(weight) -> (weight, q, scale, colsum); the weight is kept so its id stays its own
        self._groups = {}  # (id(w1), id(w2), ...) -> ((w1, w2, ...), q, scale, colsum, bias)

    def add(self, weight, q, scale):
        """Register ``weight``'s int8 codes and scales (numpy arrays, as :func:`quantize_weight` returns them),
        with the column sums ``scale * sum(q)`` the operator's zero-point correction needs."""
        q, scale = np.asarray(q), np.asarray(scale, dtype=np.float32)
        if q.dtype != np.int8 or list(q.shape) != list(weight.shape):
            raise ValueError(f"int8: codes of shape {list(q.shape)} ({q.dtype}) for a weight of shape "
                             f"{list(weight.shape)}")
        if list(scale.shape) != [weight.shape[1]]:
            raise ValueError(f"int8: {weight.shape[1]} scales expected, got {list(scale.shape)}")
        colsum = (scale.astype(np.float64) * q.sum(axis=0, dtype=np.int64)).astype(np.float32)
        cpu = paddle.CPUPlace()  # the operator runs on the CPU, whatever the default device
        self._entries[id(weight)] = (weight, *(paddle.to_tensor(np.ascontiguousarray(a), place=cpu)
                                               for a in (q, scale, colsum)))

    def get(self, weight):
        entry = self._entries.get(id(weight))
        return entry if entry is not None and entry[0] is weight else None

    def add_group(self, layers):
        """One entry for ``layers`` (Linears of one input, all tabled) side by side: their codes, scales and
        column sums concatenated along the outputs, which equals quantizing each (one scale per column)."""
        entries = [self.get(layer.weight) for layer in layers]
        if any(e is None for e in entries) or any(layer.bias is None for layer in layers):
            raise ValueError("int8: a group needs tabled Linears with biases")
        weights = tuple(layer.weight for layer in layers)
        q, scale, colsum = (paddle.concat([e[i] for e in entries], axis=-1) for i in (1, 2, 3))
        bias = paddle.concat([layer.bias.detach() for layer in layers])
        self._groups[tuple(map(id, weights))] = (weights, q, scale, colsum, bias)

    def get_group(self, layers):
        group = self._groups.get(tuple(id(layer.weight) for layer in layers))
        if group is None or any(a is not layer.weight for a, layer in zip(group[0], layers)):
            return None
        return group

    def __len__(self):
        return len(self._entries)


@contextlib.contextmanager
def use(table):
    """Run the Linears whose weights ``table`` holds in int8 inside the block (dygraph, CPU, no gradients)."""
    reason = unsupported_reason()
    if reason:
        raise RuntimeError(reason)
    token = _TABLE.set(table)
    try:
        yield table
    finally:
        _TABLE.reset(token)


def _applies(x, others):
    """Dygraph (not traced into a static graph), an fp32 CPU ``x``, and no gradient wanted through ``x`` or any
    of ``others`` (int8 is for inference: a gradient keeps the fp32 GEMM)."""
    if in_sot_simulation_mode() or not paddle.in_dynamic_mode():
        return False
    if x.dtype != paddle.float32 or not x.place.is_cpu_place():
        return False
    return not paddle.is_grad_enabled() or all(t is None or t.stop_gradient for t in (x, *others))


def entry_for(x, weight, transpose_w, *others):
    """The table entry to run ``x @ weight`` in int8 with, or None (outside :func:`use`, not a tabled weight,
    transposed, or not :func:`_applies` to ``x``, ``weight`` and ``others``: the bias, a residual)."""
    table = _TABLE.get()
    if table is None or transpose_w:
        return None
    entry = table.get(weight)
    return entry if entry is not None and _applies(x, (weight, *others)) else None


def group_for(x, layers):
    """The table's q|k|v group for ``layers`` (see :meth:`Int8Table.add_group`), or None as :func:`entry_for`."""
    table = _TABLE.get()
    if table is None:
        return None
    group = table.get_group(layers)
    params = [t for layer in layers for t in (layer.weight, layer.bias)]
    return group if group is not None and _applies(x, params) else None


def linear(x, entry, bias=None, add=None):
    """``x @ dequant(weight) + bias (+ add)`` with the operator; ``entry`` from :func:`entry_for`, ``add`` (a
    residual of the output's shape) summed in the same pass."""
    _, q, scale, colsum = entry[:4]
    return build.run("pr_int8_linear", x.contiguous(), q, scale, colsum, bias,
                     None if add is None else add.contiguous())[0]


def group_linear(x, group):
    """The concatenated outputs of a group's Linears (``[..., sum of their widths]``), biases included."""
    return linear(x, group, group[4])
