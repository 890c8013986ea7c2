"""``Predictor`` and ``paddle-rembert predict``: every task against the dygraph model, batch-size and
padding independence, the JSON lines, and clear errors for bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from paddle_rembert.cli import main as cli_main
from paddle_rembert.cli import read_examples
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.deploy.inference import Predictor

from .conftest import REPO, run_cli
from .test_export import LABELS, deploy_root, dygraph_outputs, exports, load_dygraph  # noqa: F401 (fixtures)

TEXTS = ["river stone cloud lamp", "paper", "garden music window summer winter market forest bridge letter",
         "silver orange", "engine castle pepper rabbit ticket planet", "candle mirror pocket ladder butter jacket",
         "kettle", "velvet river stone", "cloud lamp paper garden", "music"]
PAIRS = ["window summer", "a b c", "forest", "bridge letter silver orange engine", "castle", "pepper rabbit",
         "ticket planet candle mirror pocket", "ladder", "butter jacket kettle", "velvet"]


def alone(predictor, model, task, text, pair=None):
    """Dygraph outputs of one example, unpadded, with the export's tokenizer."""
    enc = predictor.tokenizer(text, pair, truncation=True, max_length=predictor.max_length)
    feed = {k: np.array([enc[k]], dtype=np.int64) for k in ("input_ids", "token_type_ids")}
    feed["attention_mask"] = np.ones_like(feed["input_ids"])
    return enc, {k: v[0] for k, v in dygraph_outputs(model, task, feed).items()}


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("family", ["albert", "rembert"])
def test_sequence_classification_equals_dygraph_for_any_batch_size(exports, family):
    model_dir, out = exports(family, "sequence-classification")
    model = load_dygraph(model_dir, "sequence-classification")
    predictor = Predictor(out, threads=2)
    names = LABELS["sequence-classification"]
    runs = {bs: predictor.predict(TEXTS, PAIRS, batch_size=bs) for bs in (1, 3, 8)}
    singles = predictor.predict(TEXTS, batch_size=4)
    for i, (text, pair) in enumerate(zip(TEXTS, PAIRS)):
        probs = softmax(alone(predictor, model, "sequence-classification", text, pair)[1]["logits"].astype(np.float64))
        for bs, results in runs.items():
            r = results[i]
            assert r["label"] == names[int(np.argmax(probs))]
            assert set(r["probabilities"]) == set(names.values())
            np.testing.assert_allclose([r["probabilities"][names[k]] for k in range(3)], probs, atol=1e-5)
            assert r["score"] == max(r["probabilities"].values())
        single = softmax(alone(predictor, model, "sequence-classification", text)[1]["logits"].astype(np.float64))
        np.testing.assert_allclose([singles[i]["probabilities"][names[k]] for k in range(3)], single, atol=1e-5)
    assert len({r["label"] for r in runs[1]}) > 1, "the fixture should predict more than one label"
    # a single string, and a mix of examples with and without a pair
    assert predictor.predict(TEXTS[0], PAIRS[0])[0]["label"] == runs[1][0]["label"]
    mixed = predictor.predict(TEXTS[:4], [PAIRS[0], None, PAIRS[2], None], batch_size=4)
    assert mixed[0]["probabilities"] == pytest.approx(runs[1][0]["probabilities"], abs=1e-5)
    assert mixed[1]["probabilities"] == pytest.approx(singles[1]["probabilities"], abs=1e-5)


def test_token_classification_labels_every_content_token(exports):
    model_dir, out = exports("rembert", "token-classification")
    model = load_dygraph(model_dir, "token-classification")
    predictor = Predictor(out)
    results = predictor.predict(TEXTS, batch_size=4)
    names = LABELS["token-classification"]
    special = set(predictor.tokenizer.all_special_ids)
    for text, r in zip(TEXTS, results):
        enc, out_alone = alone(predictor, model, "token-classification", text)
        content = [i for i, t in enumerate(enc["input_ids"]) if t not in special]
        assert [t["index"] for t in r["tokens"]] == content
        assert [t["token"] for t in r["tokens"]] == predictor.tokenizer.convert_ids_to_tokens(
            [enc["input_ids"][i] for i in content])
        probs = softmax(out_alone["logits"].astype(np.float64))
        assert [t["label"] for t in r["tokens"]] == [names[int(np.argmax(probs[i]))] for i in content]
        np.testing.assert_allclose([t["score"] for t in r["tokens"]], [probs[i].max() for i in content], atol=1e-5)
        for e in r["entities"]:  # every entity is a run of its own tokens, labelled with its type
            run = [t for t in r["tokens"] if e["start_token"] <= t["index"] <= e["end_token"]]
            assert run and all(t["label"].endswith(e["type"]) for t in run)


def test_entities_are_grouped_from_bio_labels(exports):
    predictor = Predictor(exports("rembert", "token-classification")[1])
    pieces = predictor.tokenizer.tokenize("river stone cloud lamp paper garden music")
    assert len(pieces) == 7  # one piece per word in the fixture's vocabulary
    labels = ["B-LOC", "I-LOC", "O", "I-PER", "B-PER", "I-PER", "B-PER"]
    tokens = [{"index": i + 1, "token": t, "label": lab, "score": 0.5 + i / 100}
              for i, (t, lab) in enumerate(zip(pieces, labels))]
    entities = predictor._group_entities(tokens)
    assert [(e["type"], e["text"], e["start_token"], e["end_token"]) for e in entities] == [
        ("LOC", "river stone", 1, 2), ("PER", "lamp", 4, 4), ("PER", "paper garden", 5, 6), ("PER", "music", 7, 7)]
    assert entities[0]["score"] == pytest.approx(0.505)


def test_question_answering_returns_the_best_context_span(exports):
    model_dir, out = exports("albert", "question-answering")
    model = load_dygraph(model_dir, "question-answering")
    predictor = Predictor(out)
    results = predictor.predict(TEXTS, PAIRS, batch_size=3)
    for text, pair, r in zip(TEXTS, PAIRS, results):
        enc, o = alone(predictor, model, "question-answering", text, pair)
        context = [i for i, (t, ty) in enumerate(zip(enc["input_ids"], enc["token_type_ids"]))
                   if ty == 1 and t not in predictor.tokenizer.all_special_ids]
        start = softmax(np.where(np.isin(np.arange(len(enc["input_ids"])), context), o["start_logits"], -np.inf))
        end = softmax(np.where(np.isin(np.arange(len(enc["input_ids"])), context), o["end_logits"], -np.inf))
        best = max(((start[s] * end[e], s, e) for s in context for e in context if s <= e < s + 30))
        assert (r["start_token"], r["end_token"]) == (best[1], best[2])
        assert r["score"] == pytest.approx(best[0], abs=1e-5)
        pieces = predictor.tokenizer.convert_ids_to_tokens(enc["input_ids"][best[1]:best[2] + 1])
        assert r["answer"] == predictor.tokenizer.convert_tokens_to_string(pieces).strip()
        assert r["answer"].replace(" ", "") in pair.replace(" ", "")
    with pytest.raises(PaddleRembertError, match="context"):
        predictor.predict(["a question"])


def test_masked_lm_ranks_the_vocabulary_at_each_mask(exports):
    model_dir, out = exports("albert", "masked-lm")
    model = load_dygraph(model_dir, "masked-lm")
    predictor = Predictor(out, top_k=3)
    texts = ["river [MASK] cloud", "[MASK] lamp [MASK] garden music window", "no mask here"]
    results = predictor.predict(texts, batch_size=8)
    assert results[2] == {"masks": []}
    for text, r in zip(texts[:2], results[:2]):
        enc, o = alone(predictor, model, "masked-lm", text)
        positions = [i for i, t in enumerate(enc["input_ids"]) if t == predictor.tokenizer.mask_token_id]
        assert [m["position"] for m in r["masks"]] == positions and positions
        for m in r["masks"]:
            probs = softmax(o["logits"][m["position"]].astype(np.float64))
            top = np.argsort(-probs)[:3]
            assert [p["token_id"] for p in m["predictions"]] == list(top)
            assert [p["token"] for p in m["predictions"]] == predictor.tokenizer.convert_ids_to_tokens(list(top))
            np.testing.assert_allclose([p["score"] for p in m["predictions"]], probs[top], atol=1e-5)


def test_feature_extraction_gives_pooled_and_mean_vectors(exports):
    model_dir, out = exports("rembert", "feature-extraction")
    model = load_dygraph(model_dir, "feature-extraction")
    predictor = Predictor(out)
    a, b = predictor.predict(TEXTS, batch_size=10), predictor.predict(TEXTS, batch_size=1)
    for text, r, r1 in zip(TEXTS, a, b):
        _, o = alone(predictor, model, "feature-extraction", text)
        np.testing.assert_allclose(r["pooler_output"], o["pooler_output"], atol=1e-5)
        np.testing.assert_allclose(r["mean_pooling"], o["last_hidden_state"].mean(0), atol=1e-5)
        np.testing.assert_allclose(r["mean_pooling"], r1["mean_pooling"], atol=1e-5)


def test_bf16_predictions_stay_close_to_fp32(exports):
    out = exports("albert", "sequence-classification")[1]
    fp32 = Predictor(out).predict(TEXTS, PAIRS)
    bf16 = Predictor(out, precision="bf16").predict(TEXTS, PAIRS)
    for a, b in zip(fp32, bf16):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=0.05)


def test_predictor_errors_are_clear(exports, tmp_path):
    out = exports("albert", "sequence-classification")[1]
    with pytest.raises(PaddleRembertError, match="not found"):
        Predictor(str(tmp_path / "missing"))
    with pytest.raises(PaddleRembertError, match="not a paddle-rembert export"):
        Predictor(str(tmp_path))
    with pytest.raises(PaddleRembertError, match="unknown backend"):
        Predictor(out, backend="tensorrt")
    with pytest.raises(PaddleRembertError, match="device"):
        Predictor(out, device="tpu")
    with pytest.raises(PaddleRembertError, match="max_length must be between 2 and the model's 128"):
        Predictor(out, max_length=129)
    with pytest.raises(PaddleRembertError, match="top_k"):
        Predictor(out, top_k=0)
    predictor = Predictor(out)
    with pytest.raises(PaddleRembertError, match="no input texts"):
        predictor.predict([])
    with pytest.raises(PaddleRembertError, match="2 texts but 1 text pairs"):
        predictor.predict(["a", "b"], ["c"])
    with pytest.raises(PaddleRembertError, match="batch size"):
        predictor.predict(["a"], batch_size=0)


# -- the CLI ---------------------------------------------------------------------------------------
def _lines(text):
    return [json.loads(line) for line in text.splitlines()]


def test_cli_predict_file_and_text(exports, tmp_path, capsys):
    out = exports("rembert", "sequence-classification")[1]
    f = tmp_path / "in.tsv"
    f.write_text("".join(f"{t}\t{p}\n" if i % 2 else f"{t}\n" for i, (t, p) in enumerate(zip(TEXTS, PAIRS))),
                 encoding="utf-8")
    expected = Predictor(out).predict(TEXTS, [p if i % 2 else None for i, p in enumerate(PAIRS)])
    by_batch = {}
    for bs in ("1", "8"):
        assert cli_main(["predict", out, "--input-file", str(f), "--batch-size", bs]) == 0
        by_batch[bs] = _lines(capsys.readouterr().out)
    for a, b, want in zip(by_batch["1"], by_batch["8"], expected):
        assert set(a) == {"label", "score", "probabilities"}
        assert a["label"] == b["label"] == want["label"]
        assert a["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)
        assert b["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)
    assert cli_main(["predict", out, "--text", TEXTS[1], "--text-pair", PAIRS[1], "--threads", "1"]) == 0
    (one,) = _lines(capsys.readouterr().out)
    assert one["probabilities"] == pytest.approx(expected[1]["probabilities"], abs=1e-6)
    target = tmp_path / "results.jsonl"
    assert cli_main(["predict", out, "--input-file", str(f), "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert [r["label"] for r in _lines(target.read_text())] == [r["label"] for r in expected]


@pytest.mark.parametrize("content,message", [
    ("", "no examples"),
    ("\n\n", "no examples"),
    ("a\tb\tc\n", ":1: 2 tabs"),
    ("fine\n\nnext\n", ":2: empty text"),
    ("fine\ttoo\nx\t\n", ":2: empty text pair"),
])
def test_read_examples_rejects_bad_files(tmp_path, content, message):
    f = tmp_path / "in.txt"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(PaddleRembertError, match=message):
        read_examples(str(f))


def test_read_examples_accepts_crlf_and_mixed_pairs(tmp_path):
    f = tmp_path / "in.txt"
    f.write_bytes("one\r\ntwo\tpair two\r\n\u00e9t\u00e9\n".encode("utf-8"))
    assert read_examples(str(f)) == (["one", "two", "\u00e9t\u00e9"], [None, "pair two", None])
    g = tmp_path / "latin1.txt"
    g.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(PaddleRembertError, match="not UTF-8"):
        read_examples(str(g))


def test_cli_predict_errors_exit_nonzero_with_a_message(exports, tmp_path, capsys):
    out = exports("albert", "sequence-classification")[1]
    bad = tmp_path / "bad.txt"
    bad.write_text("a\tb\tc\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    cases = [
        (["predict", out, "--input-file", str(empty)], "no examples"),
        (["predict", out, "--input-file", str(bad)], "2 tabs"),
        (["predict", out, "--input-file", str(tmp_path / "none.txt")], "input file not found"),
        (["predict", str(tmp_path / "no-model"), "--text", "hi"], "exported model directory not found"),
        (["predict", str(tmp_path), "--text", "hi"], "not a paddle-rembert export"),
        (["predict", out, "--input-file", str(bad), "--text-pair", "x"], "--text-pair goes with --text"),
        (["predict", out, "--text", "hi", "--backend", "onnxruntime", "--batch-size", "0"], "--batch-size"),
    ]
    for argv, message in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_cli_predict_in_a_fresh_process(exports, tmp_path):
    """The installed entry point: stdout holds only the JSON lines; a bad file exits 2 with one line."""
    out = exports("albert", "question-answering")[1]
    proc = run_cli("predict", out, "--text", "which river", "--text-pair", "river stone cloud lamp")
    assert proc.returncode == 0, proc.stderr
    (result,) = _lines(proc.stdout)
    assert set(result) == {"answer", "score", "start_token", "end_token"} and result["answer"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    proc = run_cli("predict", out, "--input-file", str(empty))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "paddle-rembert predict: error:" in proc.stderr and "no examples" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "paddle_rembert", "predict", out, "--input-file", "-"],
                          input="which river\triver stone\n", capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ), timeout=300)
    assert proc.returncode == 0 and len(_lines(proc.stdout)) == 1


def test_inference_benchmark_runs_every_backend_on_the_same_weights(tmp_path, capsys):
    """``tools/benchmark.py inference`` (tiny configs): each backend's logits equal dygraph's."""
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        from bench import inference as bench
    finally:
        sys.path.remove(os.path.join(REPO, "tools"))
    report = tmp_path / "bench.json"
    argv = ["--tiny", "--models", "albert", "--batches", "1,3", "--seq-len", "16", "--repeat", "1", "--warmup", "1",
            "--threads", "2", "--same-process", "--work-dir", str(tmp_path / "work"), "--json", str(report)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "PyTorch eager" in printed and "target batch 1" in printed
    (entry,) = json.loads(report.read_text())["models"]
    results = {r["backend"]: r for r in entry["results"]}
    assert set(results) == set(bench.BACKENDS)
    for b in ("1", "3"):
        reference = np.array(results["dygraph"]["batches"][b]["logits"])
        assert reference.shape == (int(b), 2)
        for name, r in results.items():
            assert r["batches"][b]["median_s"] > 0
            tolerance = 0.05 if name.endswith("bf16") else 1e-5
            np.testing.assert_allclose(r["batches"][b]["logits"], reference, atol=tolerance, err_msg=name)
