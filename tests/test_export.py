"""``paddle-rembert export``: files, metadata, task inference, atomicity, and equality with dygraph.

The session fixtures here (tiny "fine-tuned" model directories and their exports, ONNX included)
are shared by test_inference.py, test_taskflow.py and test_onnx.py.
"""
import json
import os

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.modeling.auto import _auto
from paddle_rembert.cli import main as cli_main
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.deploy.export import INPUT_NAMES, TASKS, export_model, infer_task, read_meta
from paddle_rembert.deploy.inference import load_engine
from paddle_rembert.tokenization.auto import AutoTokenizer

FAMILIES = ("albert", "rembert")
LABELS = {
    "sequence-classification": {0: "negative", 1: "neutral", 2: "positive"},
    "token-classification": {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER", 4: "I-PER"},
}
SHAPES = [(9, 6, 3), (4,), (12, 12, 2, 7, 1), (30, 17)]  # lengths per row: padded batches of several shapes


def make_model_dir(root, family, task, seed=0):
    """A tokenizer plus a tiny model with the ``task`` head, like a fine-tuned checkpoint.

    A random head on a random backbone predicts one label for every input (the features share a
    large common component), so the classification heads are calibrated the way fine-tuning
    would leave them: random directions through the centred features of synthetic texts, scaled
    to logits of a few units. Predictions then vary with the input and have clear margins.
    """
    base = os.path.join(root, f"{family}-base")
    if not os.path.isdir(base):
        T.write_tiny_model_dir(base, family, T.synthetic_texts(200), seed=seed, initializer_range=0.2)
    if task == "feature-extraction":
        return base
    out = os.path.join(root, f"{family}-{task}")
    if os.path.isdir(out):
        return out
    overrides = {"id2label": LABELS[task]} if task in LABELS else {}
    model = _auto(TASKS[task][0]).from_pretrained(base, **overrides).eval()
    tokenizer = AutoTokenizer.from_pretrained(base)
    paddle.seed(seed + 1)
    prefix = model.base_model_prefix + "."
    for name, p in model.named_parameters():
        if not name.startswith(prefix):
            p.set_value(paddle.normal(0.0, 1.0, p.shape).astype(p.dtype))
    head = {"sequence-classification": "classifier", "token-classification": "classifier",
            "question-answering": "qa_outputs"}.get(task)
    if head:
        texts = T.synthetic_texts(30, seed=seed + 2)
        enc = tokenizer(texts, padding=True, return_tensors="np")
        with paddle.no_grad():
            hidden = model.base_model(**{k: paddle.to_tensor(v) for k, v in enc.items()})
        if task == "sequence-classification":
            feats = hidden.pooler_output.numpy()
        else:
            feats = hidden.last_hidden_state.numpy()[enc["attention_mask"] == 1]
        rng = np.random.RandomState(seed + 3)
        centred = feats - feats.mean(0)
        directions = centred[rng.choice(len(centred), size=model.config.num_labels, replace=False)].T
        logits = centred @ directions
        weight = directions * (3.0 / logits.std(0))
        layer = getattr(model, head)
        layer.weight.set_value(paddle.to_tensor(weight.astype("float32")))
        layer.bias.set_value(paddle.to_tensor((-feats.mean(0) @ weight).astype("float32")))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# Other test modules import these fixtures; pytest would build a session fixture once per
# importing module, so the directories are cached here, once per process.
_CACHE = {}


@pytest.fixture(scope="session")
def deploy_root(tmp_path_factory):
    if "root" not in _CACHE:
        _CACHE["root"] = str(tmp_path_factory.mktemp("deploy"))
    return _CACHE["root"]


@pytest.fixture(scope="session")
def exports(deploy_root):
    """(family, task) -> (model_dir, export_dir); each exported once, with ONNX."""

    def get(family, task):
        if (family, task) not in _CACHE:
            model_dir = make_model_dir(deploy_root, family, task)
            out = os.path.join(deploy_root, "exports", f"{family}-{task}")
            export_model(model_dir, out, onnx=True)  # the task is inferred from config.json
            _CACHE[family, task] = (model_dir, out)
        return _CACHE[family, task]

    return get


def load_dygraph(model_dir, task):
    return _auto(TASKS[task][0]).from_pretrained(model_dir).eval()


def dygraph_outputs(model, task, feed):
    with paddle.no_grad():
        out = model(**{k: paddle.to_tensor(v) for k, v in feed.items()})
    return {name: out[name].numpy() for name, _ in TASKS[task][1]}


def batch(tokenizer, lengths, seed=0):
    inputs = T.make_inputs("albert", "AlbertModel", len(tokenizer), seed=seed, lengths=lengths, with_labels=False)
    inputs["input_ids"] = np.where(inputs["attention_mask"] == 1, inputs["input_ids"], tokenizer.pad_token_id)
    return {k: inputs[k] for k in INPUT_NAMES}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", list(TASKS))
def test_export_equals_dygraph_on_padded_batches_of_several_shapes(exports, family, task):
    model_dir, out = exports(family, task)
    model = load_dygraph(model_dir, task)
    tokenizer = AutoTokenizer.from_pretrained(out)
    loaded = paddle.jit.load(os.path.join(out, "inference"))
    engine = load_engine(out, threads=2)  # Paddle Inference with oneDNN, as deployed
    for i, lengths in enumerate(SHAPES):
        feed = batch(tokenizer, lengths, seed=i)
        expected = dygraph_outputs(model, task, feed)
        jit_out = loaded(*[paddle.to_tensor(feed[n]) for n in INPUT_NAMES])
        jit_out = jit_out if isinstance(jit_out, (list, tuple)) else [jit_out]
        inference_out = engine.run(feed)
        for j, (name, _) in enumerate(TASKS[task][1]):
            assert inference_out[name].shape == expected[name].shape
            np.testing.assert_allclose(jit_out[j].numpy(), expected[name], atol=1e-5, rtol=0)
            # oneDNN's fused fp32 kernels round differently: the same 1e-5, relative for large logits
            np.testing.assert_allclose(inference_out[name], expected[name], atol=1e-5, rtol=1e-5)
    # padding is masked: each row alone equals its padded row (real positions)
    feed = batch(tokenizer, SHAPES[0])
    together = engine.run(feed)
    for i, n in enumerate(SHAPES[0]):
        alone = engine.run({k: v[i:i + 1, :n] for k, v in feed.items()})
        for name, shape in TASKS[task][1]:
            got = alone[name][0]
            want = together[name][i][:n] if "sequence" in shape else together[name][i]
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_export_writes_program_tokenizer_config_and_metadata(exports, family):
    model_dir, out = exports(family, "sequence-classification")
    files = set(os.listdir(out))
    assert {"inference.json", "inference.pdiparams", "config.json", "export_meta.json", "tokenizer_config.json",
            "special_tokens_map.json", "model.onnx"} <= files
    assert ("spiece.model" if family == "albert" else "sentencepiece.model") in files
    assert not [f for f in files if f.startswith(".")], "temporary files left behind"
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["id2label"] == {str(k): v for k, v in LABELS["sequence-classification"].items()}
    assert config["label2id"] == {v: k for k, v in LABELS["sequence-classification"].items()}
    meta = read_meta(out)
    assert meta["task"] == "sequence-classification" and meta["model_type"] == family
    assert [i["name"] for i in meta["inputs"]] == ["input_ids", "token_type_ids", "attention_mask"]
    assert all(i["dtype"] == "int64" and i["shape"] == ["batch", "sequence"] for i in meta["inputs"])
    assert meta["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 3]}]
    assert meta["paddle_version"] == paddle.__version__ and meta["paddle_rembert_version"] == pr.__version__
    assert meta["max_length"] == 128 and meta["newly_initialized_keys"] == []
    assert meta["check"]["max_abs_diff"]["logits"] < 1e-5
    # the program's own input names, as Paddle Inference reports them
    engine = load_engine(out)
    assert engine.input_names == ["input_ids", "token_type_ids", "attention_mask"]
    # the tokenizer saved with the export tokenizes like the source's
    text = "river stone [MASK] cloud"
    assert AutoTokenizer.from_pretrained(out)(text)["input_ids"] == AutoTokenizer.from_pretrained(model_dir)(text)[
        "input_ids"]
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "inference.json", "export_meta.json"):  # not the 0600 of temporary files
        assert os.stat(os.path.join(out, name)).st_mode & 0o777 == 0o666 & ~umask


def test_task_is_inferred_from_architectures():
    assert infer_task({"architectures": ["AlbertForSequenceClassification"]}) == "sequence-classification"
    assert infer_task({"architectures": ["RemBertForTokenClassification"]}) == "token-classification"
    assert infer_task({"architectures": ["AlbertForQuestionAnswering"]}) == "question-answering"
    assert infer_task({"architectures": ["RemBertForMaskedLM"]}) == "masked-lm"
    assert infer_task({"architectures": ["AlbertForPreTraining"]}) == "masked-lm"
    assert infer_task({"architectures": ["RemBertModel"]}) == "feature-extraction"
    for bad in ({"architectures": ["AlbertForMultipleChoice"]}, {}):
        with pytest.raises(PaddleRembertError, match="pass --task"):
            infer_task(bad)


def test_a_backbone_exported_for_a_head_lists_the_new_weights(deploy_root, tmp_path, caplog):
    base = make_model_dir(deploy_root, "albert", "feature-extraction")
    meta = export_model(base, str(tmp_path / "out"), task="sequence-classification", verify=False)
    assert meta["task"] == "sequence-classification"
    assert sorted(meta["newly_initialized_keys"]) == ["classifier.bias", "classifier.weight"]
    config = json.load(open(tmp_path / "out" / "config.json"))
    assert config["architectures"] == ["AlbertForSequenceClassification"]  # the head exported, not the source's
    assert json.load(open(os.path.join(base, "config.json")))["architectures"] == ["AlbertModel"]


def test_export_refuses_bad_destinations_and_leaves_nothing_on_failure(deploy_root, tmp_path, monkeypatch):
    model_dir = make_model_dir(deploy_root, "rembert", "sequence-classification")
    with pytest.raises(PaddleRembertError, match="model directory not found"):
        export_model(str(tmp_path / "missing"), str(tmp_path / "out"))
    with pytest.raises(PaddleRembertError, match="must differ"):
        export_model(model_dir, model_dir)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(PaddleRembertError, match="--overwrite"):
        export_model(model_dir, str(busy))
    assert os.listdir(busy) == ["keep.txt"]
    with pytest.raises(PaddleRembertError, match="unknown task"):
        export_model(model_dir, str(tmp_path / "out"), task="translation")

    # a failed check after the program was written: no directory appears, the old one stays
    import paddle_rembert.deploy.export as export_module

    def broken_check(*args, **kwargs):
        raise PaddleRembertError("paddle export check failed: simulated")

    monkeypatch.setattr(export_module, "_check", broken_check)
    with pytest.raises(PaddleRembertError, match="simulated"):
        export_model(model_dir, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(PaddleRembertError, match="simulated"):
        export_model(model_dir, str(busy), overwrite=True)
    assert os.listdir(busy) == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_export(deploy_root, tmp_path, capsys):
    model_dir = make_model_dir(deploy_root, "albert", "token-classification")
    out = str(tmp_path / "exported")
    assert cli_main(["export", model_dir, out]) == 0
    assert "token-classification" in capsys.readouterr().out
    assert read_meta(out)["task"] == "token-classification"
    assert cli_main(["export", model_dir, out]) == 2  # not empty
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["export", model_dir, out, "--task", "question-answering", "--overwrite"]) == 0
    assert read_meta(out)["task"] == "question-answering"
    assert cli_main(["export", str(tmp_path / "nope"), str(tmp_path / "x")]) == 2
    assert "model directory not found" in capsys.readouterr().err
