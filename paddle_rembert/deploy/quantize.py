"""int8 deployment checks, and the onnxruntime int8 model: ``model.int8.onnx`` beside an export's ``model.onnx``.

>>> from paddle_rembert.deploy.quantize import quantize_export
>>> from paddle_rembert.deploy.engines import Int8Engine
>>> quantize_export("exported/")          # needs an export made with onnx=True (export --onnx)
>>> engine = Int8Engine("exported/", read_meta("exported/"), threads=2)
>>> engine.run({"input_ids": ids, "token_type_ids": types, "attention_mask": mask})

The quantizer is onnxruntime's ``quantize_dynamic``: every MatMul with a constant weight gets
int8 weights (symmetric, per output channel by default) and activations quantized per batch at
run time (uint8, ``DynamicQuantizeLinear`` + ``MatMulInteger``), which onnxruntime's MLAS runs
with AVX512-VNNI / AMX-INT8 where the CPU has them. Attention's activation-by-activation MatMuls,
LayerNorm, softmax and the embeddings stay fp32. No calibration data is needed, so an export
can be quantized anywhere. ``export_meta.json`` records the file, the settings and how far the
int8 outputs are from the fp32 ones on a check batch (under ``int8_onnx``).

The Paddle int8 model (``model.int8.safetensors``, activations quantized per token; :mod:`.int8`) is what
``Predictor(precision="int8")`` runs by default; :func:`compare_engines` checks both the same way.
"""
import os
import tempfile

import numpy as np

from ..runtime.errors import PaddleRembertError
from ..runtime.files import write_json
from .engines import OnnxEngine
from .format import INT8_ONNX_FILE, META_FILE, meta_input_names, read_meta



def _quantization():
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:  # onnxruntime.quantization also needs onnx and ml_dtypes
        raise PaddleRembertError(f"int8 quantization needs onnxruntime, onnx and ml_dtypes ({e}): "
                                 f"pip install onnxruntime onnx ml_dtypes") from None
    return onnxruntime, QuantType, quantize_dynamic, quant_pre_process


def quantize_export(export_dir, per_channel=True, check=True):
    """Write ``model.int8.onnx`` (atomically) beside an existing export's ``model.onnx`` and record it in
    ``export_meta.json`` under ``int8_onnx``; returns the updated meta. (``export --onnx --quantize int8``
    writes it with the rest of a new export: :func:`quantize_onnx`.)

    ``per_channel``: one weight scale per output column (more faithful; same speed). ``check``:
    run fp32 and int8 on a random padded batch and record the largest output difference, the
    largest probability change and the label agreement.
    """
    meta = read_meta(export_dir)
    meta["int8_onnx"] = quantize_onnx(export_dir, meta, per_channel, check)
    write_json(os.path.join(export_dir, META_FILE), meta)
    return meta


def quantize_onnx(export_dir, meta, per_channel=True, check=True):
    """Write ``model.int8.onnx`` into ``export_dir`` from the ONNX model ``meta`` names; returns what
    ``export_meta.json`` records about it (see :func:`quantize_export`)."""
    ort, QuantType, quantize_dynamic, quant_pre_process = _quantization()
    if not meta.get("onnx_file"):
        raise PaddleRembertError(f"{export_dir} has no ONNX model to quantize: export it with --onnx")
    src = os.path.join(export_dir, meta["onnx_file"])
    if not os.path.isfile(src):
        raise PaddleRembertError(f"{export_dir} is incomplete: {meta['onnx_file']} is missing")
    dst = os.path.join(export_dir, INT8_ONNX_FILE)
    with tempfile.TemporaryDirectory(dir=export_dir, prefix=".quantize-") as work:
        pre = os.path.join(work, "pre.onnx")
        # onnx shape inference + onnxruntime's offline graph clean-up, as onnxruntime recommends before
        # quantizing; its symbolic shape inference cannot follow paddle2onnx's dynamic reshapes, so it is skipped
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        out = os.path.join(work, INT8_ONNX_FILE)
        quantize_dynamic(pre, out, per_channel=per_channel, reduce_range=False, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"], extra_options={"MatMulConstBOnly": True})
        os.replace(out, dst)  # same directory: atomic
    info = {"onnx_file": INT8_ONNX_FILE, "method": "onnxruntime.quantization.quantize_dynamic",
            "weights": "int8 symmetric, per output channel" if per_channel else "int8 symmetric, per tensor",
            "activations": "uint8, per batch at run time", "onnxruntime_version": ort.__version__}
    if check:
        info["check"] = compare_engines(export_dir, meta, OnnxEngine(export_dir, meta),
                                        _Int8Session(export_dir, meta, dst))
    return info


def _check_feed(meta, vocab_size, pad_id, batch=16, length=48, seed=0):
    rng = np.random.RandomState(seed)
    lengths = rng.randint(length // 4, length + 1, size=batch)
    lengths[0] = length
    ids = np.full((batch, length), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.randint(min(5, vocab_size - 1), vocab_size, size=n)
        mask[i, :n] = 1
        types[i, n // 2:n] = 1
    feed = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    return {name: feed[name] for name in meta_input_names(meta)}


def _probabilities(logits):
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def compare_engines(export_dir, meta, fp32_engine, int8_engine):
    """fp32 against int8 on a random padded batch: the largest difference of each output, and the largest
    probability change and the agreement of the decisions the Predictor reports (:func:`_decisions`; none for
    feature extraction and regression, whose outputs are the answer)."""
    from ..models.auto import AutoConfig

    config = AutoConfig.from_pretrained(export_dir)  # config.json omits defaults such as ALBERT's vocab_size
    length = min(48, config.max_sequence_length or 48)  # no longer than the model's positions
    feed = _check_feed(meta, int(config.vocab_size), int(config.pad_token_id or 0), length=length)
    fp32 = fp32_engine.run(feed)
    int8 = int8_engine.run(feed)
    out = {"batch": list(feed["input_ids"].shape),
           "max_abs_diff": {n: float(np.max(np.abs(np.asarray(fp32[n]) - np.asarray(int8[n])))) for n in fp32}}
    mask = feed["attention_mask"].astype(bool)
    changes, agreements = [], []
    for spec in meta["outputs"]:
        decided = _decisions(meta["task"], getattr(config, "problem_type", None), np.asarray(fp32[spec["name"]]),
                             np.asarray(int8[spec["name"]]), mask)
        if decided is not None:
            (pa, da), (pb, db) = decided
            changes.append(float(np.max(np.abs(pa - pb))))
            agreements.append(float(np.mean(da == db)))
    if changes:
        out["max_probability_change"], out["label_agreement"] = max(changes), min(agreements)
    return out


def _decisions(task, problem_type, a, b, mask):
    """For fp32 and int8 logits of one output: ``(probabilities, decisions)`` each, as the Predictor reads them,
    on real tokens only; None where an output is not turned into a decision."""
    if task == "feature-extraction" or (task == "sequence-classification" and a.shape[-1] == 1):
        return None
    if task == "question-answering":  # start or end: a softmax over each row's real tokens, the argmax position
        def read(x):
            p = _probabilities(np.where(mask, x, -np.inf))
            return p, p.argmax(-1)
    elif task == "replaced-token-detection" or problem_type == "multi_label_classification":
        def read(x):  # independent sigmoids, each decided at 0.5
            x = x[mask] if task == "replaced-token-detection" else x
            p = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
            return p, p > 0.5
    else:  # a softmax over the labels (or the vocabulary) of each row or real token
        def read(x):
            p = _probabilities(x[mask] if x.ndim == 3 else x)
            return p, p.argmax(-1)
    return read(a), read(b)


class _Int8Session(OnnxEngine):
    def __init__(self, export_dir, meta, path, threads=None):
        super().__init__(export_dir, dict(meta, onnx_file=os.path.basename(path)), threads=threads)
