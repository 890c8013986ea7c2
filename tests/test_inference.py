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
from .conftest import LABELS, PAIRS, TEXTS, dygraph_outputs, load_dygraph

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
    texts = TEXTS + ["a ☃ snowman 😀 b"]  # characters the vocabulary lacks: [UNK] tokens are content too
    results = predictor.predict(texts, batch_size=4)
    names = LABELS["token-classification"]
    assert predictor.tokenizer.unk_token in [t["token"] for t in results[-1]["tokens"]]
    for text, r in zip(texts, results):
        enc, out_alone = alone(predictor, model, "token-classification", text)
        content = list(range(1, len(enc["input_ids"]) - 1))  # all but the [CLS] and [SEP] the tokenizer added
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



def test_a_gap_between_tokens_ends_an_entity(exports):
    """An I- token after a special token or a skipped position starts a new entity, as transformers' "simple"."""
    predictor = Predictor(exports("rembert", "token-classification")[1])
    pieces = predictor.tokenizer.tokenize("river stone cloud")
    tokens = [{"index": i, "token": t, "label": lab, "score": 0.5}
              for i, t, lab in zip((1, 2, 4), pieces, ("B-LOC", "I-LOC", "I-LOC"))]
    assert [(e["text"], e["start_token"], e["end_token"]) for e in predictor._group_entities(tokens)] == [
        ("river stone", 1, 2), ("cloud", 4, 4)]


def _head_export(deploy_root, tmp_path, **config):
    """An export of a sequence classifier on the deploy fixtures' ALBERT backbone, with ``config``."""
    import paddle_rembert as pr
    from paddle_rembert.deploy.export import export_model

    from .conftest import make_model_dir

    base = make_model_dir(deploy_root, "albert", "feature-extraction")
    model = pr.AlbertForSequenceClassification.from_pretrained(base, **config).eval()
    model.classifier.weight.set_value(model.classifier.weight * 50.0)  # scores spread around 0.5
    model.save_pretrained(str(tmp_path / "model"))
    pr.AutoTokenizer.from_pretrained(base).save_pretrained(str(tmp_path / "model"))
    export_model(str(tmp_path / "model"), str(tmp_path / "export"), verify=False)
    return str(tmp_path / "model"), str(tmp_path / "export")


def test_multi_label_scores_are_sigmoids_and_labels_pass_the_threshold(deploy_root, tmp_path):
    model_dir, export_dir = _head_export(deploy_root, tmp_path, num_labels=4,
                                         problem_type="multi_label_classification")
    model = load_dygraph(model_dir, "sequence-classification")
    for threshold, expected_labels in ((0.0, 4), (1.0, 0)):  # all, none: whatever 0.5 would give
        predictor = Predictor(export_dir, threshold=threshold)
        for text in TEXTS[:3]:
            result = predictor.predict([text])[0]
            logits = alone(predictor, model, "sequence-classification", text)[1]["logits"]
            probs = 1 / (1 + np.exp(-logits))
            np.testing.assert_allclose(list(result["probabilities"].values()), probs, atol=1e-5)
            assert len(result["labels"]) == expected_labels
    predictor = Predictor(export_dir, threshold=0.5)
    result = predictor.predict([TEXTS[0]])[0]
    assert result["labels"] == [label for label, p in result["probabilities"].items() if p > 0.5]


def test_regression_gives_the_raw_score(deploy_root, tmp_path):
    model_dir, export_dir = _head_export(deploy_root, tmp_path, num_labels=1, problem_type="regression")
    predictor = Predictor(export_dir)
    model = load_dygraph(model_dir, "sequence-classification")
    for text in TEXTS[:3]:
        logits = alone(predictor, model, "sequence-classification", text)[1]["logits"]
        assert predictor.predict([text])[0] == {"score": pytest.approx(float(logits[0]), rel=1e-5, abs=1e-5)}

def test_question_answering_answers_as_the_pipeline_does(exports):
    """Predictor.predict on a QA export gives the question-answering pipeline's answers (itself tested against
    transformers' pipeline): character offsets into the context, windows over long contexts, top_k."""
    from paddle_rembert.deploy.pipelines import pipeline, qa_record

    model_dir, out = exports("albert", "question-answering")
    predictor = Predictor(out)
    reference = pipeline("question-answering", model=model_dir, backend="dygraph")
    contexts = [pair + " " + " ".join(TEXTS) for pair in PAIRS]  # several windows of 48 tokens each
    results = predictor.predict(TEXTS, contexts, batch_size=3, max_seq_len=48, doc_stride=16)
    for question, context, r in zip(TEXTS, contexts, results):
        want = reference(question=question, context=context, max_seq_len=48, doc_stride=16)
        assert r["answer"] == want["answer"] == context[r["start"]:r["end"]]
        assert (r["start"], r["end"]) == (want["start"], want["end"])
        assert r["score"] == pytest.approx(want["score"], abs=1e-5)
    top = predictor.predict(TEXTS[:2], contexts[:2], top_k=3, handle_impossible_answer=True, max_seq_len=48,
                            doc_stride=16)
    for question, context, r in zip(TEXTS, contexts, top):
        want = reference(question=question, context=context, top_k=3, handle_impossible_answer=True, max_seq_len=48,
                         doc_stride=16)
        want = qa_record(want, 3)
        assert len(r["answers"]) == len(want["answers"]) == 3
        for a, b in zip([r] + r["answers"], [want] + want["answers"]):  # the export's logits differ by ~1e-6
            assert (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"])
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
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


def test_bf16_on_a_cpu_without_bf16_warns_and_runs_fp32(exports, monkeypatch, caplog):
    """oneDNN would emulate bf16 there, slower than fp32, and say so only in a glog line."""
    import logging

    from paddle_rembert.kernels import bf16

    out = exports("albert", "sequence-classification")[1]
    monkeypatch.setattr(bf16, "cpu_has_bf16", lambda: False)
    monkeypatch.delenv("PADDLE_REMBERT_BF16", raising=False)  # the suite asks for the emulation where it can
    with caplog.at_level(logging.WARNING, logger="paddle_rembert"):
        predictor = Predictor(out, precision="bf16")
    assert predictor.engine.precision == "fp32"
    assert [r.getMessage() for r in caplog.records if "bf16 inference" in r.getMessage()] == [
        "bf16 inference: this CPU has no AVX512-BF16 / AMX-BF16, so it runs in fp32 (PADDLE_REMBERT_BF16=emulate "
        "runs oneDNN's slower emulation instead)"]
    assert predictor.predict(TEXTS, PAIRS) == Predictor(out).predict(TEXTS, PAIRS)
    monkeypatch.setenv("PADDLE_REMBERT_BF16", "emulate")
    assert Predictor(out, precision="bf16").engine.precision == ("bf16" if bf16.cpu_emulates_bf16() else "fp32")


def test_predictor_errors_are_clear(exports, tmp_path):
    out = exports("albert", "sequence-classification")[1]
    with pytest.raises(PaddleRembertError, match="not found"):
        Predictor(str(tmp_path / "missing"))
    with pytest.raises(PaddleRembertError, match="not a paddle-rembert export") as e:
        Predictor(str(tmp_path))
    assert "export MODEL_DIR EXPORT_DIR" in str(e.value)
    (tmp_path / "config.json").write_text("{}")  # a model directory: the export's source, not an export
    with pytest.raises(PaddleRembertError, match="not a paddle-rembert export") as e:
        Predictor(str(tmp_path))
    assert f"(`paddle-rembert export {tmp_path} EXPORT_DIR`) and pass EXPORT_DIR" in str(e.value)
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
    # run() on feeds of its own: a length past the positions is named, not left to the backend's gather error
    for backend in ("paddle", "onnxruntime"):
        runner = Predictor(out, backend=backend)
        feed = {name: np.ones((1, 140), dtype=np.int64) for name in runner.input_names}
        with pytest.raises(PaddleRembertError, match=r"^the inputs have 140 tokens, more than the export's 128 "
                                                     r"positions \(export_meta.json max_length\)"):
            runner.run(feed)
        feed[runner.input_names[-1]] = np.ones((1, 9), dtype=np.int64)
        with pytest.raises(PaddleRembertError, match=r"must all be \[batch, length\] of one shape"):
            runner.run(feed)
        assert runner.run({name: np.ones((2, 7), dtype=np.int64) for name in runner.input_names})
    qa = Predictor(exports("albert", "question-answering")[1])
    long_question = " ".join(["river stone cloud lamp"] * 60)
    with pytest.raises(PaddleRembertError, match=r"^question 1 \(\d+ tokens\) leaves no room for its context in a "
                                                 r"window of 128 tokens: shorten the question or widen the window "
                                                 r"\(--max-length\)$"):
        qa.predict([long_question], ["stone"])
    # room for the context, but not more than the windows' overlap: the stride is named, with the option to lower
    with pytest.raises(PaddleRembertError, match=r"^question 1 \(\d+ tokens?\) leaves \d+ tokens? for its context in "
                                                 r"a window of 8, not more than the windows' overlap \(doc_stride 4\): "
                                                 r"shorten the question, widen the window \(--max-length\) or lower "
                                                 r"--doc-stride$"):
        qa.predict(["river"], [long_question], max_seq_len=8)
    with pytest.raises(PaddleRembertError, match=r"top_k must be an integer >= 1, got 0"):  # not read as 1
        qa.predict(["river"], ["stone"], top_k=0)
    answer = qa.predict(["river"], [long_question], max_seq_len=8, doc_stride=1)[0]
    assert long_question[answer["start"]:answer["end"]] == answer["answer"]


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
        (["predict", out, "--input-file", str(tmp_path)], "is a directory; give a file of texts"),
        (["predict", str(tmp_path / "no-model"), "--text", "hi"], "exported model directory not found"),
        (["predict", str(tmp_path), "--text", "hi"], "not a paddle-rembert export"),
        (["predict", out, "--input-file", str(bad), "--text-pair", "x"], "--text-pair goes with --text"),
        (["predict", out, "--text", "hi", "--backend", "onnxruntime", "--batch-size", "0"], "--batch-size"),
        (["predict", out, "--text", "hi", "--top-k", "2"], "--top-k does not apply to "),
        (["predict", out, "--text", "hi", "--doc-stride", "8", "--handle-impossible-answer"],
         "--doc-stride and --handle-impossible-answer do not apply to "),
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
    assert set(result) == {"answer", "score", "start", "end"} and result["answer"]
    assert "river stone cloud lamp"[result["start"]:result["end"]] == result["answer"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    proc = run_cli("predict", out, "--input-file", str(empty))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "paddle-rembert predict: error:" in proc.stderr and "no examples" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "paddle_rembert", "predict", out, "--input-file", "-"],
                          input="which river\triver stone\n", capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ), timeout=300)
    assert proc.returncode == 0 and len(_lines(proc.stdout)) == 1


# -- hardening: threads, damaged exports, lengths, optional token types -------------------------------
@pytest.mark.parametrize("backend", ["paddle", "onnxruntime"])
def test_one_predictor_serves_many_threads(exports, backend):
    """A Paddle Inference predictor is not re-entrant: every thread must get its own results."""
    import threading

    out = exports("albert", "sequence-classification")[1]
    predictor = Predictor(out, backend=backend, threads=1)
    jobs = [([TEXTS[i % 10], TEXTS[(i * 3) % 10]][: 1 + i % 2], [PAIRS[i % 10], None][: 1 + i % 2])
            for i in range(12)]
    expected = [predictor.predict(texts, pairs) for texts, pairs in jobs]
    got, errors = {}, []

    def worker(k):
        try:
            for j in range(len(jobs)):
                i = (j + 5 * k) % len(jobs)
                got[k, i] = predictor.predict(*jobs[i])
        except Exception as e:  # noqa: BLE001 - any failure in a thread is the finding
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(got) == 4 * len(jobs)
    for (k, i), results in got.items():
        for a, b in zip(results, expected[i]):
            assert a["label"] == b["label"]
            assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)


def _copy_export(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


@pytest.mark.parametrize("name", ["inference.pdiparams", "inference.json"])
def test_a_truncated_export_names_its_files(exports, tmp_path, name):
    out = _copy_export(exports("albert", "sequence-classification")[1], tmp_path / "x")
    path = os.path.join(out, name)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 3])
    with pytest.raises(PaddleRembertError, match="inference.json with .*inference.pdiparams") as e:
        Predictor(out)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("key, value, message", [
    ("max_length", "128", "'max_length' must be an integer"),
    ("format_version", [1], "'format_version' must be an integer"),
    ("outputs", {"logits": 1}, "'outputs' must be a list"),
    ("outputs", [{"name": "scores"}], r"'outputs' must be named \['logits'\]"),
    ("inputs", [{"name": "pixel_values"}], "'inputs' must be a list"),
    ("params_file", "../../elsewhere.pdiparams", "'params_file' must be a file name"),
    ("task", ["sequence-classification"], "unknown task"),
])
def test_crafted_export_metadata_is_a_clear_error(exports, tmp_path, key, value, message):
    out = _copy_export(exports("albert", "sequence-classification")[1], tmp_path / "x")
    path = os.path.join(out, "export_meta.json")
    meta = json.load(open(path))
    meta[key] = value
    json.dump(meta, open(path, "w"))
    with pytest.raises(PaddleRembertError, match=message):
        Predictor(out)


@pytest.mark.parametrize("id2label, message", [
    (["negative", "positive"], "id2label must be an object"),
    ({"zero": "negative"}, "id2label key 'zero' is not an integer"),
    ({"0": ["negative"]}, r"id2label\['0'\] must be a label name"),
])
def test_crafted_id2label_is_a_clear_error(exports, tmp_path, id2label, message):
    out = _copy_export(exports("albert", "sequence-classification")[1], tmp_path / "x")
    path = os.path.join(out, "config.json")
    config = json.load(open(path))
    config["id2label"] = id2label
    json.dump(config, open(path, "w"))
    with pytest.raises(PaddleRembertError, match=message):
        Predictor(out)


def test_max_length_and_threads_are_validated(exports):
    out = exports("albert", "sequence-classification")[1]
    with pytest.raises(PaddleRembertError, match="leaves no room for text"):
        Predictor(out, max_length=2)
    with pytest.raises(PaddleRembertError, match="max_length must be between 2"):
        Predictor(out, max_length=0)
    with pytest.raises(PaddleRembertError, match="threads must be a positive integer"):
        Predictor(out, threads=-2)
    long_text = " ".join(TEXTS * 20)  # far more tokens than the model's 128 positions
    assert Predictor(out, max_length=3).predict([long_text], [long_text])[0]["label"] in \
        LABELS["sequence-classification"].values()
    qa = Predictor(exports("albert", "question-answering")[1], max_length=16)
    with pytest.raises(PaddleRembertError, match="question 2 .* leaves no room for its context in a window of 16"):
        qa.predict(["paper", long_text], [TEXTS[0], TEXTS[1]])
    answer = qa.predict(["paper"], [long_text], doc_stride=4)[0]  # a long context: windows of 16 tokens
    assert long_text[answer["start"]:answer["end"]] == answer["answer"]


def test_gpu_on_a_cpu_only_wheel_is_a_clear_error(exports):
    import paddle

    if paddle.device.is_compiled_with_cuda():  # pragma: no cover - the CI wheel is the CPU one
        pytest.fail("this test expects the CPU wheel of PaddlePaddle")
    with pytest.raises(PaddleRembertError, match="CPU-only.*PADDLE=paddlepaddle-gpu"):
        Predictor(exports("albert", "sequence-classification")[1], device="gpu")


# -- exports without token types (RoBERTa-style tokenizers) ---------------------------------------------
@pytest.mark.parametrize("backend", ["paddle", "onnxruntime"])
def test_an_export_without_token_types_takes_two_inputs(export_without_token_types, backend):
    model_dir, out = export_without_token_types
    meta = json.load(open(os.path.join(out, "export_meta.json")))
    assert [i["name"] for i in meta["inputs"]] == ["input_ids", "attention_mask"]
    predictor = Predictor(out, backend=backend)
    assert predictor.engine.input_names == ["input_ids", "attention_mask"]
    model = load_dygraph(model_dir, "sequence-classification")
    results = predictor.predict(TEXTS, PAIRS, batch_size=3)
    for text, pair, result in zip(TEXTS, PAIRS, results):
        enc = predictor.tokenizer(text, pair, truncation=True, max_length=predictor.max_length)
        assert "token_type_ids" not in enc
        feed = {"input_ids": np.array([enc["input_ids"]]), "attention_mask": np.ones((1, len(enc["input_ids"])))}
        logits = dygraph_outputs(model, "sequence-classification",
                                 {k: v.astype(np.int64) for k, v in feed.items()})["logits"][0]
        assert list(result["probabilities"].values()) == pytest.approx(list(softmax(logits)), abs=1e-5)


def test_the_predictor_feeds_zero_token_types_when_the_tokenizer_gives_none(exports, tmp_path):
    """An export that takes token types (older ones always do) with a tokenizer that gives none."""
    from paddle_rembert.models.auto import AutoTokenizer

    src = exports("albert", "sequence-classification")[1]
    out = _copy_export(src, tmp_path / "x")
    AutoTokenizer.from_pretrained(src, model_input_names=["input_ids", "attention_mask"]).save_pretrained(out)
    seen = []
    predictor = Predictor(out)
    run = predictor.engine.run
    predictor.engine.run = lambda feed: seen.append(feed) or run(feed)
    result = predictor.predict([TEXTS[0]], [PAIRS[0]])[0]
    assert sorted(seen[0]) == ["attention_mask", "input_ids", "token_type_ids"]
    assert not seen[0]["token_type_ids"].any()
    assert result["label"] in LABELS["sequence-classification"].values()
