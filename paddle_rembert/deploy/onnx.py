"""ONNX through paddle2onnx: ``paddle-rembert export --onnx`` writes ``model.onnx`` beside the Paddle files.

paddle2onnx (2.x) converts the PIR ``inference.json`` + ``inference.pdiparams`` that
``paddle.jit.save`` writes. Input names (``input_ids``, ``token_type_ids``, ``attention_mask``)
and the dynamic batch and length dimensions carry over; outputs keep the program's order, which
``export_meta.json`` names.
"""
import contextlib
import copy
import io
import os

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open

DEFAULT_OPSET = 17  # LayerNormalization is a single ONNX op from opset 17 on
ONNX_LIMIT = 2**31 - 2**24  # protobuf's 2 GiB per message, less room for the graph itself


OPSETS = range(7, 22)  # what paddle2onnx 2.1.0 writes; it aborts the process on any other


def check_opset(opset):
    """Refuse an opset paddle2onnx cannot write before anything is exported (None: the default)."""
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS):
        raise PaddleRembertError(f"ONNX opset must be between {OPSETS[0]} and {OPSETS[-1]} (what paddle2onnx "
                                 f"writes), got {opset!r}")


def paddle_to_onnx(model_file, params_file, save_path, opset=None):
    """Convert a PIR program to ONNX at ``save_path`` (written atomically); returns the opset used."""
    try:
        import paddle2onnx
    except ImportError:
        raise PaddleRembertError("ONNX export needs paddle2onnx: pip install paddle2onnx onnxruntime") from None
    opset = DEFAULT_OPSET if opset is None else opset  # checked by export (check_opset) before anything is written
    if os.path.isfile(params_file) and os.path.getsize(params_file) >= ONNX_LIMIT:
        raise PaddleRembertError(
            f"{params_file} holds {os.path.getsize(params_file) / 2**30:.2f} GiB of weights; a model.onnx is one "
            f"protobuf, limited to 2 GiB, so this model cannot be exported to ONNX (the full 32-layer RemBERT "
            f"is 2.3 GB in fp32). Use the Paddle Inference export, which has no such limit")
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            # save_file=None returns the serialized model; we write it ourselves, atomically.
            data = paddle2onnx.export(model_file, params_file, save_file=None, opset_version=opset,
                                      auto_upgrade_opset=True, enable_onnx_checker=True, enable_optimize=True)
    except Exception as e:  # paddle2onnx logs the cause and then fails on an unset result
        raise PaddleRembertError(f"paddle2onnx could not convert {model_file}: {e}\n{log.getvalue()[-2000:]}") \
            from None
    if not data:
        raise PaddleRembertError(f"paddle2onnx produced no model for {model_file}\n{log.getvalue()[-2000:]}")
    with atomic_open(save_path, "wb") as f:
        f.write(data)
    return onnx_opset(save_path, default=opset)


# hidden_act values that paddle2onnx 2.1.0 converts wrongly -> the same function in elementary ops
EXPLICIT_ACTIVATIONS = {"gelu_new": "gelu_tanh_formula", "gelu_pytorch_tanh": "gelu_tanh_formula",
                        "gelu_fast": "gelu_tanh_formula"}


def onnx_traceable(model):
    """``model``, or a copy of it built with the tanh gelu spelled out, to trace for paddle2onnx.

    paddle2onnx 2.1.0 ignores ``F.gelu(approximate=True)``'s ``approximate`` and writes the exact
    (erf) gelu, up to 5e-4 off per activation; elementary ops convert exactly (and onnxruntime
    fuses them back into one FastGelu kernel). The copy comes from a config copy whose
    ``hidden_act`` names the explicit formula in the activation table, with ``model``'s weights;
    nothing global changes, so other threads tracing or running models are unaffected.
    """
    act = getattr(model.config, "hidden_act", None)
    if act not in EXPLICIT_ACTIVATIONS:
        return model
    config = copy.deepcopy(model.config)
    config.hidden_act = EXPLICIT_ACTIVATIONS[act]
    twin = type(model)(config)
    twin.set_state_dict(model.state_dict())
    return twin.eval()


def onnx_opset(path, default=None):
    """The default-domain opset of an ONNX file (paddle2onnx may raise the one asked for)."""
    try:
        import onnx

        model = onnx.load(path, load_external_data=False)
        for entry in model.opset_import:
            if entry.domain in ("", "ai.onnx"):
                return int(entry.version)
    except Exception:  # onnx is optional: the requested opset is the best we know
        pass
    return default


def onnx_path(export_dir, meta):
    name = meta.get("onnx_file") or "model.onnx"
    path = os.path.join(export_dir, name)
    if not os.path.isfile(path):
        raise PaddleRembertError(f"{export_dir} has no {name}: export it with `paddle-rembert export --onnx` "
                                 f"to use the onnxruntime backend")
    return path
