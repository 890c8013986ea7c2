"""The backends that run an export: ``load_engine(export_dir, backend=...)`` -> ``engine.run(feed) -> outputs``.

* :class:`PaddleEngine`: Paddle Inference on the PIR program, oneDNN on CPU, optional bf16;
* :class:`OnnxEngine`: onnxruntime on ``model.onnx``;
* :class:`Int8Engine`: onnxruntime on ``model.int8.onnx`` (``export --onnx --quantize int8``);
* :class:`PaddleInt8Engine`: ``model.int8.safetensors`` (``export --quantize int8``) with the package's int8
  kernel (:mod:`.int8`).

Each takes the export's inputs by name (``export_meta.json``) and returns its outputs by name.
"""
import logging
import os
import threading

import numpy as np

from ..runtime.errors import PaddleRembertError
from .format import INT8_ONNX_FILE, MODEL_FILE, PARAMS_FILE, meta_input_names, read_meta

BACKENDS = ("paddle", "onnxruntime")
logger = logging.getLogger("paddle_rembert")

PRECISIONS = ("fp32", "bf16", "int8")  # int8: model.int8.safetensors (paddle) or model.int8.onnx (onnxruntime)


def _thread_count(threads):
    """``threads`` checked (a positive integer), or the default (all cores / ``PADDLE_REMBERT_THREADS``)."""
    from ..runtime.settings import check_threads, default_num_threads

    return check_threads(threads) or default_num_threads()


def require_cuda(what):
    from ..runtime.settings import require_cuda as require

    require(what)


def parse_device(device):
    """``(kind, index)`` of 'cpu', 'gpu', 'gpu:N', or transformers' spellings: None and -1 (CPU), N and 'cuda:N'."""
    if device is None or device == -1:
        return "cpu", 0
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return "gpu", device
    if not isinstance(device, str):
        raise PaddleRembertError(f"device must be 'cpu' or 'gpu' (or 'gpu:N'), got {device!r}")
    kind, _, index = device.lower().partition(":")
    kind = "gpu" if kind == "cuda" else kind
    if kind not in ("cpu", "gpu"):
        raise PaddleRembertError(f"device must be 'cpu' or 'gpu' (or 'gpu:N'), got {device!r}")
    try:
        return kind, int(index or 0)
    except ValueError:
        raise PaddleRembertError(f"bad device index in {device!r}") from None


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.startswith("---")]
    return lines[-1] if lines else type(error).__name__


def _check_inputs(path, found, meta):
    """The program's inputs must be the ones ``export_meta.json`` declares (any order)."""
    declared = meta_input_names(meta)
    if sorted(found) != sorted(declared):
        raise PaddleRembertError(f"{path} takes inputs {list(found)}; export_meta.json declares {list(declared)}")


class ThreadClones:
    """A Paddle Inference predictor is not re-entrant, so each thread runs its own ``clone()`` of ``template``
    (clones share the weights), made on the thread's first call, with its input and output handles."""

    _lock = threading.Lock()  # clone() reads the template: one thread at a time

    def __init__(self, template, input_names, output_names):
        self.template, self.input_names, self.output_names = template, list(input_names), list(output_names)
        self._local = threading.local()

    def get(self):
        """``(predictor, input handles, output handles)`` of the calling thread, in the names' order."""
        mine = getattr(self._local, "mine", None)
        if mine is None:
            with self._lock:
                predictor = self.template.clone()
            mine = self._local.mine = (predictor, [predictor.get_input_handle(n) for n in self.input_names],
                                       [predictor.get_output_handle(n) for n in self.output_names])
        return mine


class PaddleEngine:
    """Paddle Inference on a PIR program: oneDNN on CPU by default, optional bf16.

    :meth:`run` may be called from any thread: each runs its own clone of the predictor (:class:`ThreadClones`).
    """

    backend = "paddle"

    def __init__(self, export_dir, meta, device="cpu", threads=None, precision="fp32", mkldnn=True,
                 mkldnn_cache_capacity=0, ir_optim=True):
        import paddle.inference as paddle_infer

        kind, index = parse_device(device)
        model_file = os.path.join(export_dir, meta.get("model_file", MODEL_FILE))
        params_file = os.path.join(export_dir, meta.get("params_file", PARAMS_FILE))
        for path in (model_file, params_file):
            if not os.path.isfile(path):
                raise PaddleRembertError(f"{export_dir} is incomplete: {os.path.basename(path)} is missing")
        self.threads = _thread_count(threads)
        if kind == "gpu":
            require_cuda("device 'gpu'")
        elif precision == "bf16" and mkldnn:
            from ..kernels.bf16 import NO_BF16, cpu_bf16_mode

            if cpu_bf16_mode() is None:  # oneDNN would emulate it, slower than fp32, saying so only in glog
                logger.warning("bf16 inference: %s, so it runs in fp32 (PADDLE_REMBERT_BF16=emulate runs oneDNN's "
                               "slower emulation instead)", NO_BF16)
                precision = "fp32"
        self.precision = precision
        try:
            config = paddle_infer.Config(model_file, params_file)
            if kind == "gpu":
                if precision == "bf16":
                    config.enable_use_gpu(256, index, paddle_infer.PrecisionType.Bfloat16)
                else:
                    config.enable_use_gpu(256, index)
            else:
                config.disable_gpu()
                if mkldnn:
                    config.enable_mkldnn()
                    if mkldnn_cache_capacity:
                        config.set_mkldnn_cache_capacity(int(mkldnn_cache_capacity))
                    if precision == "bf16":
                        config.enable_mkldnn_bfloat16()
                elif precision == "bf16":
                    raise PaddleRembertError("bf16 on CPU needs oneDNN (do not disable it)")
            config.set_cpu_math_library_num_threads(self.threads)
            config.switch_ir_optim(bool(ir_optim))
            # No enable_memory_optim(): with a PIR program Paddle 3.3.1 fails in create_predictor
            # ("Not find predictor_id 0 and pass_name memory_optimize_pass").
            config.disable_glog_info()
            self._template = paddle_infer.create_predictor(config)
        except PaddleRembertError:
            raise
        except Exception as e:  # a truncated or foreign file: Paddle's C++ error names neither file
            raise PaddleRembertError(f"cannot load the exported program {model_file} with {params_file} "
                                     f"(truncated or not written by `paddle-rembert export`?): {_first_line(e)}") \
                from None
        self.input_names = list(self._template.get_input_names())
        _check_inputs(model_file, self.input_names, meta)
        self.output_names = [o["name"] for o in meta["outputs"]]
        fetch = list(self._template.get_output_names())
        if len(fetch) != len(self.output_names):
            raise PaddleRembertError(f"{model_file} has {len(fetch)} outputs; export_meta.json names "
                                     f"{len(self.output_names)}")
        self._clones = ThreadClones(self._template, self.input_names, fetch)

    @property
    def predictor(self):
        """This thread's predictor (a clone of the one loaded; made on first use)."""
        return self._clones.get()[0]

    def run(self, feed):
        predictor, inputs, outputs = self._clones.get()
        for name, handle in zip(self.input_names, inputs):
            handle.reshape(list(feed[name].shape))
            handle.copy_from_cpu(np.ascontiguousarray(feed[name], dtype=np.int64))
        predictor.run()
        return {name: h.copy_to_cpu() for name, h in zip(self.output_names, outputs)}


# onnxruntime graph fusions we turn off. SkipLayerNormFusion merges "Add (+ bias) + LayerNormalization" into
# SkipLayerNormalization, whose CPU kernel (onnxruntime 1.32) is 3x slower than the ops it replaces: 3.1-3.4 ms
# against 1.05 ms at [8, 128, 768] on 2 threads; without it the int8 BERT-base forward at B8 took 0.91x the
# time (ALBERT 0.92x, B32 0.89x), alternating in one process.
DISABLED_FUSIONS = ("SkipLayerNormFusion",)


def session_options(ort, threads):
    """The ``SessionOptions`` our onnxruntime sessions use (all graph optimisations, ``threads`` intra-op
    threads, one inter-op thread); pass ``disabled_optimizers=DISABLED_FUSIONS`` with them."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


class OnnxEngine:
    """onnxruntime on ``model.onnx``: all graph optimisations but :data:`DISABLED_FUSIONS`, ``threads``
    intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, export_dir, meta, device="cpu", threads=None, precision="fp32", **_):
        from .onnx import onnx_path

        try:
            import onnxruntime as ort
        except ImportError:
            raise PaddleRembertError("the onnxruntime backend needs onnxruntime: pip install onnxruntime") \
                from None
        if precision != "fp32":
            raise PaddleRembertError("the onnxruntime backend runs fp32 only")
        kind, index = parse_device(device)
        path = onnx_path(export_dir, meta)
        self.threads = _thread_count(threads)
        options = session_options(ort, self.threads)
        if kind == "gpu":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise PaddleRembertError("device 'gpu' needs onnxruntime-gpu (CUDAExecutionProvider is not available)")
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(path, sess_options=options, providers=providers,
                                                disabled_optimizers=list(DISABLED_FUSIONS))
        except Exception as e:  # onnxruntime's message for a truncated file does not say which one
            raise PaddleRembertError(f"cannot load {path} (truncated or not an ONNX model?): {_first_line(e)}") \
                from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        _check_inputs(path, self.input_names, meta)
        self.output_names = [o["name"] for o in meta["outputs"]]
        if len(self.session.get_outputs()) != len(self.output_names):
            raise PaddleRembertError(f"{path} has {len(self.session.get_outputs())} outputs; export_meta.json "
                                     f"names {len(self.output_names)}")

    def run(self, feed):  # InferenceSession.run may be called from several threads at once
        outs = self.session.run(None, {n: np.ascontiguousarray(feed[n], dtype=np.int64) for n in self.input_names})
        return dict(zip(self.output_names, outs))


def load_engine(export_dir, meta=None, backend="paddle", **kwargs):
    """The backend's engine for an export directory; ``engine.run({name: int64 array}) -> {output: array}``."""
    meta = meta or read_meta(export_dir)
    if kwargs.get("precision") == "int8" and backend in BACKENDS:
        if backend == "onnxruntime":
            return Int8Engine(export_dir, meta, **kwargs)
        if legacy_int8(meta):
            logger.warning("%s was quantized by an earlier paddle-rembert: its int8 model is onnxruntime's "
                           "(activations quantized per call); running it on onnxruntime. Export again with "
                           "--quantize int8 for the int8 engine that quantizes per token", export_dir)
            return Int8Engine(export_dir, meta, **kwargs)
        return PaddleInt8Engine(export_dir, meta, **kwargs)
    if backend == "paddle":
        return PaddleEngine(export_dir, meta, **kwargs)
    if backend == "onnxruntime":
        return OnnxEngine(export_dir, meta, **kwargs)
    raise PaddleRembertError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


def legacy_int8(meta):
    """Whether ``meta`` comes from an export whose only int8 model is onnxruntime's, recorded under ``int8`` as
    earlier versions wrote it, before the per-token int8 weights (``export --quantize int8`` then implied
    ``--onnx``)."""
    info = meta.get("int8")
    return isinstance(info, dict) and "onnx_file" in info and "file" not in info


def int8_path(export_dir, meta):
    """The int8 model of an export, or a PaddleRembertError saying how to make one."""
    info = meta.get("int8") if legacy_int8(meta) else meta.get("int8_onnx")
    name = (info or {}).get("onnx_file") or INT8_ONNX_FILE
    path = os.path.join(export_dir, os.path.basename(name))
    if not os.path.isfile(path):
        raise PaddleRembertError(f"{export_dir} has no {name}: quantize it with `paddle-rembert export --onnx "
                                 f"--quantize int8` (or paddle_rembert.deploy.quantize.quantize_export)")
    return path


class Int8Engine(OnnxEngine):
    """onnxruntime on ``model.int8.onnx`` (CPU): ``Int8Engine(export_dir, meta, threads=2).run(feed)``."""

    backend = "onnxruntime"
    precision = "int8"

    def __init__(self, export_dir, meta, device="cpu", threads=None, precision="int8", **kwargs):
        if precision != "int8":
            raise PaddleRembertError(f"Int8Engine runs int8 only, not {precision!r}")
        if parse_device(device)[0] != "cpu":
            raise PaddleRembertError("the int8 model runs on CPU only (device='cpu')")
        path = int8_path(export_dir, meta)
        super().__init__(export_dir, dict(meta, onnx_file=os.path.basename(path)), device="cpu", threads=threads,
                         precision="fp32", **kwargs)


class PaddleInt8Engine:
    """The export's int8 weights in dygraph on CPU, Linears through the package's int8 kernel.

    ``run`` may be called from several threads: the int8 switch is a context variable, the model is only
    read, and each oneDNN primitive runs one call at a time. Threads: the engine sets the process's count
    (``paddle_rembert.runtime.settings.set_num_threads``, MKL's) once when it is created, and each thread that
    runs it gets ``threads`` OpenMP threads for oneDNN (OpenMP's count is per thread). ``set_threads=False``
    leaves both to the caller.
    """

    backend = "paddle"
    precision = "int8"

    def __init__(self, export_dir, meta, device="cpu", threads=None, precision="int8", set_threads=True, **_):
        from ..kernels.int8 import unsupported_reason
        from ..runtime.settings import set_num_threads
        from .int8 import int8_file, load_int8_model
        from .layer import export_layer

        if precision != "int8":
            raise PaddleRembertError(f"PaddleInt8Engine runs int8 only, not {precision!r}")
        if parse_device(device)[0] != "cpu":
            raise PaddleRembertError("the int8 model runs on CPU only (device='cpu')")
        int8_file(export_dir, meta)  # a missing file is named before the CPU is examined
        reason = unsupported_reason()
        if reason:
            raise PaddleRembertError(reason)
        self.threads = _thread_count(threads)
        self._set_threads = set_threads
        if set_threads:
            set_num_threads(self.threads)
        self.model, self.table = load_int8_model(export_dir, meta)
        self.input_names = list(meta_input_names(meta))
        self.output_names = [o["name"] for o in meta["outputs"]]
        self._layer = export_layer(self.model, self.output_names, self.input_names)

    def run(self, feed):
        import paddle

        from ..kernels import int8
        from ..runtime.settings import use_threads_in_this_thread

        if self._set_threads:
            use_threads_in_this_thread(self.threads)
        cpu = paddle.CPUPlace()
        inputs = [paddle.to_tensor(np.ascontiguousarray(feed[n], dtype=np.int64), place=cpu)
                  for n in self.input_names]
        with int8.use(self.table):
            outputs = self._layer(*inputs)
        return {name: t.numpy() for name, t in zip(self.output_names, outputs)}
