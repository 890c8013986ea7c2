"""``paddle-rembert export``: files, metadata, task inference, atomicity, and equality with dygraph.

The exports come from the session fixtures in conftest.py (``deploy_root``, ``exports``).
"""
import json
import os

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert.cli import main as cli_main
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.deploy.export import INPUT_NAMES, TASKS, export_model, infer_task
from paddle_rembert.deploy.format import input_names_for, meta_input_names, read_meta
from paddle_rembert.deploy.engines import load_engine
from paddle_rembert.models import registry
from paddle_rembert.models.auto import AutoTokenizer

from .conftest import LABELS, SHAPES, batch, export_cases, load_dygraph, make_model_dir

FAMILIES = registry.model_types()


@pytest.mark.parametrize("family,task", export_cases())
def test_export_equals_dygraph_on_padded_batches_of_several_shapes(exports, family, task):
    model_dir, out = exports(family, task)
    model = load_dygraph(model_dir, task)
    tokenizer = AutoTokenizer.from_pretrained(out)
    loaded = paddle.jit.load(os.path.join(out, "inference"))
    engine = load_engine(out, threads=2)  # Paddle Inference with oneDNN, as deployed
    names = meta_input_names(read_meta(out))  # without token_type_ids when the tokenizer has none (RoBERTa)
    assert names == input_names_for(tokenizer)
    for i, lengths in enumerate(SHAPES):
        feed = {k: v for k, v in batch(tokenizer, lengths, seed=i).items() if k in names}
        with paddle.no_grad():  # the outputs the export declares (ELECTRA's backbone has no pooler_output)
            got = model(**{k: paddle.to_tensor(v) for k, v in feed.items()})
        expected = {o["name"]: got[o["name"]].numpy() for o in read_meta(out)["outputs"]}
        jit_out = loaded(*[paddle.to_tensor(feed[n]) for n in names])
        jit_out = jit_out if isinstance(jit_out, (list, tuple)) else [jit_out]
        inference_out = engine.run(feed)
        for j, name in enumerate(o["name"] for o in read_meta(out)["outputs"]):  # ELECTRA: no pooler_output
            assert inference_out[name].shape == expected[name].shape
            # the static program runs Paddle's kernels and dygraph oneDNN's (kernels.ops), Paddle Inference
            # oneDNN's fused ones: they round differently, so 1e-5, relative for large logits
            np.testing.assert_allclose(jit_out[j].numpy(), expected[name], atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(inference_out[name], expected[name], atol=1e-5, rtol=1e-5)
    # padding is masked: each row alone equals its padded row (real positions)
    feed = {k: v for k, v in batch(tokenizer, SHAPES[0]).items() if k in names}
    together = engine.run(feed)
    for i, n in enumerate(SHAPES[0]):
        alone = engine.run({k: v[i:i + 1, :n] for k, v in feed.items()})
        for name, shape in TASKS[task][1]:
            if name not in together:
                continue
            got = alone[name][0]
            want = together[name][i][:n] if "sequence" in shape else together[name][i]
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_export_writes_program_tokenizer_config_and_metadata(exports, family):
    model_dir, out = exports(family, "sequence-classification")
    files = set(os.listdir(out))
    assert {"inference.json", "inference.pdiparams", "config.json", "export_meta.json", "tokenizer_config.json",
            "special_tokens_map.json", "model.onnx"} <= files
    vocab_files = set(registry.get(family).tokenizer_files) & set(os.listdir(model_dir)) - {"tokenizer_config.json"}
    assert vocab_files and vocab_files <= files  # the tokenizer's vocabulary travels with the export
    assert not [f for f in files if f.startswith(".")], "temporary files left behind"
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["id2label"] == {str(k): v for k, v in LABELS["sequence-classification"].items()}
    assert config["label2id"] == {v: k for k, v in LABELS["sequence-classification"].items()}
    meta = read_meta(out)
    assert meta["task"] == "sequence-classification" and meta["model_type"] == family
    # the tokenizer's model_input_names decide whether the export takes token types (RoBERTa's has none)
    expected_inputs = ["input_ids", "attention_mask"] if family == "roberta" else list(INPUT_NAMES)
    assert [i["name"] for i in meta["inputs"]] == expected_inputs == list(
        input_names_for(AutoTokenizer.from_pretrained(model_dir)))
    assert all(i["dtype"] == "int64" and i["shape"] == ["batch", "sequence"] for i in meta["inputs"])
    assert meta["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 3]}]
    assert meta["paddle_version"] == paddle.__version__ and meta["paddle_rembert_version"] == pr.__version__
    # RoBERTa's positions start after the padding id: 128 positions hold 128 - (pad 1 + 1) tokens
    assert meta["max_length"] == (126 if family == "roberta" else 128) and meta["newly_initialized_keys"] == []
    # fp32 round-off, relative to the logits' size (about 10 here; the summation order follows the threads)
    assert meta["check"]["max_abs_diff"]["logits"] < 1e-5 * max(1.0, meta["check"]["max_abs_value"]["logits"])
    # the program's own input names, as Paddle Inference reports them
    engine = load_engine(out)
    assert engine.input_names == expected_inputs
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
    with pytest.raises(PaddleRembertError, match="is the source"):
        export_model(model_dir, model_dir)
    with pytest.raises(PaddleRembertError, match="contains the source"):
        export_model(model_dir, os.path.dirname(model_dir), overwrite=True)
    assert os.path.isfile(os.path.join(model_dir, "config.json"))
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
    with pytest.raises(PaddleRembertError, match="not a previous export"):
        export_model(model_dir, str(busy), overwrite=True)  # --overwrite never deletes what it did not write
    (busy / "export_meta.json").write_text("{}")  # an export with a file of the user's in it: kept too
    with pytest.raises(PaddleRembertError, match="not a previous export holding only what an export writes"):
        export_model(model_dir, str(busy), overwrite=True)
    (busy / "keep.txt").unlink()  # a previous export: replaceable, but only by a good one
    with pytest.raises(PaddleRembertError, match="simulated"):
        export_model(model_dir, str(busy), overwrite=True)
    assert sorted(os.listdir(busy)) == ["export_meta.json"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []



@pytest.mark.parametrize("error", [1e-5, 1e-2])
def test_the_export_check_refuses_a_program_that_computes_otherwise(deploy_root, tmp_path, monkeypatch, error):
    """The check compares the written program with dygraph: off by more than the tolerance, nothing is kept."""
    import paddle_rembert.deploy.engines as engines

    real = engines.load_engine

    def drifting(*args, **kwargs):
        engine = real(*args, **kwargs)
        run = engine.run
        engine.run = lambda feed: {k: v + error for k, v in run(feed).items()}
        return engine

    monkeypatch.setattr(engines, "load_engine", drifting)
    model_dir = make_model_dir(deploy_root, "albert", "sequence-classification")
    out = tmp_path / "out"
    if error < 1e-4:
        assert export_model(model_dir, str(out))["check"]["max_abs_diff"]["logits"] >= error * 0.9
        return
    with pytest.raises(PaddleRembertError, match="export check failed: logits differs from dygraph"):
        export_model(model_dir, str(out))
    assert not out.exists()

def test_cli_export(deploy_root, tmp_path, capsys):
    model_dir = make_model_dir(deploy_root, "albert", "token-classification")
    out = str(tmp_path / "exported")
    assert cli_main(["export", model_dir, out]) == 0
    assert "token-classification" in capsys.readouterr().out
    assert read_meta(out)["task"] == "token-classification"
    assert cli_main(["export", model_dir, out]) == 2  # not empty
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["export", model_dir, out, "--task", "feature-extraction", "--overwrite"]) == 0
    assert read_meta(out)["task"] == "feature-extraction"
    # a question-answering head needs two labels (start, end); this model's config has five
    assert cli_main(["export", model_dir, out, "--task", "question-answering", "--overwrite"]) == 2
    assert "AlbertForQuestionAnswering needs num_labels=2" in capsys.readouterr().err
    assert read_meta(out)["task"] == "feature-extraction"  # the previous export stays
    assert cli_main(["export", str(tmp_path / "nope"), str(tmp_path / "x")]) == 2
    assert "model directory not found" in capsys.readouterr().err


@pytest.mark.parametrize("family", ["albert", "bert"])
def test_to_static_transforms_no_layer_forward_per_call(deploy_root, tmp_path, monkeypatch, family):
    """paddle.jit.to_static's source transformer caches by function object, and a bound method is a new one
    at every call: unmarked, each Linear, LayerNorm, Dropout and encoder layer call was transformed anew (579
    transformations for a tiny 12-layer-call ALBERT). The layers branch on Python values only and are run as
    they are; what is left is transformed once per export (two traces with ONNX)."""
    from paddle.jit.dy2static import program_translator

    transformed = []
    real = program_translator.FunctionCache._convert

    def convert(self, func):
        transformed.append(getattr(func, "__qualname__", repr(func)))
        return real(self, func)

    monkeypatch.setattr(program_translator.FunctionCache, "_convert", convert)
    export_model(make_model_dir(deploy_root, family, "sequence-classification"), str(tmp_path / "out"), onnx=True)
    assert transformed  # the transformer did run (on the heads and models)
    per_call = [name for name in transformed if name.split(".")[0] in
                ("Linear", "LayerNorm", "Dropout", "Embedding", "TransformerLayer", "TransformerSelfAttention",
                 "TransformerSelfOutput", "TransformerAttention", "TransformerIntermediate", "AlbertLayer",
                 "AlbertAttention", "AlbertLayerGroup")]
    assert not per_call, sorted(set(per_call))
    assert max(transformed.count(name) for name in set(transformed)) <= 2, transformed


def test_replaced_token_detection_is_electras_alone(tmp_path, capsys):
    """BERT's and ALBERT's pre-training heads have no replaced-token logits: the task is refused in one line, and
    a config whose task cannot be inferred lists its family's tasks only."""
    from paddle_rembert.testing import synthetic_texts, write_tiny_model_dir

    model_dir = write_tiny_model_dir(str(tmp_path / "bert"), "bert", synthetic_texts(60), vocab_size=120)
    assert cli_main(["export", model_dir, str(tmp_path / "out"), "--task", "replaced-token-detection"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "bert has no head for the replaced-token-detection task; its tasks: sequence-classification, "
        "token-classification, question-answering, masked-lm, feature-extraction")
    assert not (tmp_path / "out").exists()
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    (tmp_path / "bert" / "config.json").write_text(json.dumps(dict(config, architectures=["BertLMHeadModel"])))
    assert cli_main(["export", model_dir, str(tmp_path / "out")]) == 2
    assert "pass --task, one of sequence-classification, token-classification, question-answering, masked-lm, " \
           "feature-extraction\n" in capsys.readouterr().err
