"""``export --onnx``: paddle2onnx's model.onnx run by onnxruntime equals Paddle (and dygraph)."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import paddle
import paddle.nn.functional as F
import pytest

from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.deploy.export import export_model
from paddle_rembert.deploy.format import read_meta
from paddle_rembert.deploy.engines import load_engine
from paddle_rembert.deploy.inference import Predictor
from paddle_rembert.models.auto import AutoTokenizer

from .conftest import PAIRS, SHAPES, TEXTS, batch, dygraph_outputs, export_cases, load_dygraph, make_model_dir


@pytest.mark.parametrize("family,task", export_cases(["albert", "electra", "rembert"]))
def test_onnxruntime_equals_paddle_and_dygraph(exports, family, task):
    model_dir, out = exports(family, task)
    meta = read_meta(out)
    assert meta["onnx_file"] == "model.onnx" and meta["onnx_opset"] >= 17
    tokenizer = AutoTokenizer.from_pretrained(out)
    paddle_engine = load_engine(out, backend="paddle")
    onnx_engine = load_engine(out, backend="onnxruntime")
    model = load_dygraph(model_dir, task)
    for i, lengths in enumerate(SHAPES):
        feed = batch(tokenizer, lengths, seed=10 + i)
        want = paddle_engine.run(feed)
        got = onnx_engine.run(feed)
        reference = dygraph_outputs(model, task, feed)
        for name in [o["name"] for o in meta["outputs"]]:  # ELECTRA's backbone exports no pooler_output
            np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=1e-5)
            np.testing.assert_allclose(got[name], reference[name], atol=1e-4, rtol=1e-5)


def test_onnx_graph_has_named_dynamic_inputs(exports):
    out = exports("albert", "sequence-classification")[1]
    model = onnx.load(os.path.join(out, "model.onnx"))
    onnx.checker.check_model(model)
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["input_ids", "token_type_ids", "attention_mask"]
    for i in inputs.values():
        assert i.type.tensor_type.elem_type == onnx.TensorProto.INT64
        dims = i.type.tensor_type.shape.dim
        assert len(dims) == 2 and all(not d.HasField("dim_value") for d in dims), "batch and length are dynamic"
    session = ort.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
    assert len(session.get_outputs()) == len(read_meta(out)["outputs"]) == 1


def test_predictor_onnxruntime_backend_equals_paddle(exports):
    out = exports("rembert", "sequence-classification")[1]
    a = Predictor(out, backend="paddle").predict(TEXTS, PAIRS, batch_size=4)
    b = Predictor(out, backend="onnxruntime", threads=1).predict(TEXTS, PAIRS, batch_size=1)
    for x, y in zip(a, b):
        assert x["label"] == y["label"]
        assert x["probabilities"] == pytest.approx(y["probabilities"], abs=1e-4)


def test_tanh_gelu_is_spelled_out_for_paddle2onnx_without_patching_paddle(deploy_root):
    """paddle2onnx 2.1.0 exports gelu(approximate=True) as the erf gelu; ALBERT's gelu_new needs tanh.

    The traced copy takes the explicit formula from the activation table; ``F.gelu`` stays Paddle's.
    """
    from paddle_rembert.deploy.onnx import onnx_traceable
    from paddle_rembert.modeling.layers import get_activation

    x = paddle.linspace(-6, 6, 2001)
    spelled = get_activation("gelu_tanh_formula")(x).numpy()
    np.testing.assert_allclose(spelled, F.gelu(x, approximate=True).numpy(), atol=2e-6)
    assert np.abs(spelled - F.gelu(x).numpy()).max() > 1e-4  # the two really differ
    gelu = F.gelu
    model = load_dygraph(make_model_dir(deploy_root, "albert", "sequence-classification"), "sequence-classification")
    twin = onnx_traceable(model)
    assert F.gelu is gelu and model.config.hidden_act == "gelu_new"
    assert twin is not model and twin.config.hidden_act == "gelu_tanh_formula"
    ids = paddle.to_tensor(np.array([[2, 9, 14, 3]], dtype=np.int64))
    with paddle.no_grad():
        np.testing.assert_allclose(twin(input_ids=ids).logits.numpy(), model(input_ids=ids).logits.numpy(), atol=1e-5)


def test_onnxruntime_backend_without_model_onnx_is_a_clear_error(deploy_root, tmp_path):
    out = str(tmp_path / "no-onnx")
    export_model(make_model_dir(deploy_root, "albert", "sequence-classification"), out, verify=False)
    assert read_meta(out)["onnx_file"] is None and not os.path.exists(os.path.join(out, "model.onnx"))
    with pytest.raises(PaddleRembertError, match="--onnx"):
        Predictor(out, backend="onnxruntime")


def test_models_over_the_onnx_size_limit_fail_clearly(deploy_root, tmp_path, monkeypatch):
    """A model.onnx is one protobuf (2 GiB at most): the full RemBERT cannot be one. Simulated with a low limit."""
    import paddle_rembert.deploy.onnx as onnx_export

    monkeypatch.setattr(onnx_export, "ONNX_LIMIT", 1000)
    out = tmp_path / "too-big"
    with pytest.raises(PaddleRembertError, match="2 GiB"):
        export_model(make_model_dir(deploy_root, "rembert", "sequence-classification"), str(out), onnx=True)
    assert not out.exists()


@pytest.mark.parametrize("act", ["gelu_10", "leaky_relu", "quick_gelu", "mish", "relu6", "laplace", "relu2",
                                 "gelu_accurate", "sigmoid"])
def test_every_activation_exports_to_paddle_inference_and_onnx(tmp_path, act):
    """The export checks both backends against dygraph on a padded batch and raises if either differs (gelu
    followed by clip lost its gelu in Paddle Inference; paddle2onnx wrote leaky_relu wrong)."""
    from paddle_rembert import testing as T

    model_dir = T.write_tiny_model_dir(str(tmp_path / "model"), "bert", T.synthetic_texts(60), vocab_size=80,
                                       hidden_act=act, initializer_range=0.5)  # wide pre-activations: clips bite
    meta = export_model(model_dir, str(tmp_path / "export"), task="feature-extraction", onnx=True)
    assert meta["check"]["backend"] == "paddle" and meta["onnx_check"]["backend"] == "onnxruntime"
