"""int8 on Paddle: ``model.int8.safetensors`` beside an export, run with int8 GEMMs quantized per token.

``export --quantize int8`` writes the file (:func:`write_int8_weights`); ``Predictor(OUT, precision="int8")``
and ``predict --precision int8`` run it (:class:`~paddle_rembert.deploy.engines.PaddleInt8Engine`).

The file holds the exported model's state dict under its own key names: every Linear's weight as int8 codes
(``<name>.weight``, ``[in, out]``, symmetric, one scale per output column) with its scales
(``<name>.weight_scale``), everything else fp32. The engine builds the model class the export names from
its ``config.json``, loads the file (every key and shape checked), and runs the model in dygraph inside
:func:`paddle_rembert.kernels.int8.use`: each Linear quantizes its input per token at run time (uint8, one
range per row) and runs oneDNN's u8 x s8 GEMM. Attention's products, softmax, LayerNorm, gelu and the
embeddings stay fp32.

Per token, not per call as onnxruntime's ``quantize_dynamic`` (``model.int8.onnx``, ``backend="onnxruntime"``):
a row's result then does not depend on the rows batched with it, and the real all-MiniLM-L6-v2 similarities
move by 0.004 instead of 0.011-0.016 (docs/benchmarks.md). It needs a CPU with VNNI and the package's
kernels; the ONNX int8 model runs anywhere onnxruntime does.
"""
import os

import numpy as np

from ..runtime.errors import PaddleRembertError
from .format import INT8_FILE

SCALE_SUFFIX = "_scale"  # "<name>.weight" -> "<name>.weight_scale"
FILE_FORMAT = "paddle-rembert-int8"


def _quantized_keys(model):
    """``{state-dict key of a Linear weight: the layer}`` for every Linear of ``model``."""
    from ..modeling.int8 import linear_layers

    return {(f"{name}." if name else "") + "weight": layer for name, layer in linear_layers(model)}


def write_int8_weights(model, path):
    """Write ``model``'s int8 state (see the module docstring) to ``path``, atomically. Tensors are quantized
    and written one at a time, as the safetensors writer streams them."""
    from ..checkpoint.safetensors import write_safetensors
    from ..checkpoint.writers import tensor_specs
    from ..kernels.int8 import quantize_weight
    from ..runtime.files import atomic_open

    state = model.state_dict()
    linears = _quantized_keys(model)
    specs = []
    for key, st_dtype, shape in tensor_specs(state):
        if key not in linears:
            specs.append((key, st_dtype, shape))
        elif st_dtype != "F32":
            raise PaddleRembertError(f"int8 quantizes a float32 model; {key} is {str(state[key].dtype)[7:]}")
        else:
            specs += [(key, "I8", shape), (key + SCALE_SUFFIX, "F32", shape[1:])]
    scales = {}  # a Linear's scales, written right after its codes

    def produce(key):
        if key in linears:
            q, scales[key + SCALE_SUFFIX] = quantize_weight(state[key].numpy())
            return q
        return scales.pop(key) if key in scales else state[key].numpy()

    with atomic_open(path, "wb") as f:
        write_safetensors(f, specs, produce, {"format": FILE_FORMAT})
    return path


def int8_file(export_dir, meta):
    """The path of an export's int8 weights, or a PaddleRembertError saying how to make them."""
    name = os.path.basename((meta.get("int8") or {}).get("file") or INT8_FILE)
    path = os.path.join(export_dir, name)
    if not os.path.isfile(path):
        raise PaddleRembertError(f"{export_dir} has no {name}: export it with `paddle-rembert export MODEL "
                                 f"{export_dir} --quantize int8` (or run the ONNX int8 model with "
                                 f"backend='onnxruntime')")
    return path


def load_int8_model(export_dir, meta):
    """``(model, table)``: the export's model class with the int8 file's weights (Linear weights dequantized,
    so any GEMM left in fp32 computes the same function) and the :class:`~paddle_rembert.kernels.int8.Int8Table`
    of the stored codes."""
    import paddle

    from ..checkpoint.safetensors import SafetensorsFile
    from ..kernels.int8 import Int8Table
    from ..modeling.int8 import attention_projections
    from ..models import registry
    from ..models.auto import AutoConfig

    path = int8_file(export_dir, meta)
    weights = SafetensorsFile(path)
    if weights.metadata.get("format") != FILE_FORMAT:
        raise PaddleRembertError(f"{path} is not a paddle-rembert int8 file (its metadata format is "
                                 f"{weights.metadata.get('format')!r}, not {FILE_FORMAT!r})")
    name = meta.get("architecture")
    family = registry.family_of_class(name) if isinstance(name, str) else None
    cls = family.public_names().get(name) if family else None
    if cls is None:
        raise PaddleRembertError(f"{export_dir}: export_meta.json names no model class this paddle-rembert has "
                                 f"(architecture {name!r})")
    if not paddle.in_dynamic_mode():
        raise PaddleRembertError("the int8 engine runs in dygraph: call paddle.disable_static() first")
    model = cls(AutoConfig.from_pretrained(export_dir))
    model.to(device="cpu")  # the int8 operator runs on the CPU, whatever the default device
    model.eval()
    linears = _quantized_keys(model)
    state = model.state_dict()
    expected = set(state) | {key + SCALE_SUFFIX for key in linears}
    missing, unexpected = sorted(expected - set(weights.keys())), sorted(set(weights.keys()) - expected)
    if missing or unexpected:
        raise PaddleRembertError(f"{path} does not fit {name}: " + "; ".join(
            f"{what} {keys[:3]}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys))
    table = Int8Table()
    for key, param in state.items():
        value = weights.read(key)
        want = tuple(param.shape)
        if key in linears:
            scale = weights.read(key + SCALE_SUFFIX)
            if value.dtype != np.int8 or value.shape != want or scale.shape != (want[1],) or scale.dtype != np.float32:
                raise PaddleRembertError(f"{path}: {key} must be int8 {list(want)} with float32 scales "
                                         f"[{want[1]}], got {value.dtype} {list(value.shape)} and {scale.dtype} "
                                         f"{list(scale.shape)}")
            param.set_value((value.astype(np.float32) * scale).astype(np.float32))
            table.add(param, value, scale)
        else:
            dtype = str(param.dtype).replace("paddle.", "")
            if value.shape != want or str(value.dtype) != dtype:
                raise PaddleRembertError(f"{path}: {key} is {value.dtype} {list(value.shape)}, {name} needs "
                                         f"{dtype} {list(want)}")
            param.set_value(value)
    for param in model.parameters():
        param.stop_gradient = True  # inference only: no autograd graph is recorded, with no global switch
    for layers in attention_projections(model):
        table.add_group(layers)
    return model, table
