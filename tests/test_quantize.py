"""int8 deployment: the Paddle int8 model (``model.int8.safetensors``, paddle_rembert.deploy.int8) and onnxruntime's
dynamic quantization of an export (``model.int8.onnx``, paddle_rembert.deploy.quantize)."""
import json
import os
import shutil

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.deploy.export import export_model
from paddle_rembert.deploy.format import META_FILE, read_meta
from paddle_rembert.deploy.engines import OnnxEngine
from paddle_rembert.deploy.engines import Int8Engine
from paddle_rembert.deploy.format import INT8_FILE, INT8_ONNX_FILE
from paddle_rembert.deploy.engines import PaddleInt8Engine
from paddle_rembert.deploy.quantize import quantize_export
from paddle_rembert.runtime.errors import PaddleRembertError


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """A small ALBERT classifier (hidden 64) whose head is scaled up so that its probabilities are spread
    out like a trained model's, exported with ONNX and quantized."""
    root = tmp_path_factory.mktemp("quantize")
    model_dir = str(root / "model")
    T.write_tiny_model_dir(model_dir, "albert", T.synthetic_texts(), vocab_size=120, embedding_size=32,
                           hidden_size=64, num_attention_heads=4, intermediate_size=128, num_hidden_layers=3,
                           num_hidden_groups=1, inner_group_num=1, num_labels=3)
    paddle.seed(3)
    model = pr.AlbertForSequenceClassification.from_pretrained(model_dir)
    with paddle.no_grad():
        model.classifier.weight.set_value(model.classifier.weight * 200.0)
    model.save_pretrained(model_dir)
    out = str(root / "export")
    export_model(model_dir, out, task="sequence-classification", onnx=True, quantize="int8")  # + model.int8.onnx
    return out


def test_quantize_writes_the_int8_model_and_records_it(export_dir):
    meta = read_meta(export_dir)
    assert os.path.isfile(os.path.join(export_dir, INT8_ONNX_FILE))
    assert os.path.isfile(os.path.join(export_dir, meta["onnx_file"]))  # the fp32 model stays
    info = meta["int8_onnx"]
    assert info["onnx_file"] == INT8_ONNX_FILE and "per output channel" in info["weights"]
    assert meta["int8"]["file"] == INT8_FILE and "per token" in meta["int8"]["activations"]
    assert os.path.isfile(os.path.join(export_dir, INT8_FILE))
    assert not [n for n in os.listdir(export_dir) if n.startswith(".")]  # no temporary left behind
    import onnx

    ops = {n.op_type for n in onnx.load(os.path.join(export_dir, INT8_ONNX_FILE)).graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops


@pytest.mark.parametrize("engine", [Int8Engine, PaddleInt8Engine])
def test_int8_follows_fp32(export_dir, engine):
    """Measured on this model (logits scaled x200, mean top probability ~0.9): onnxruntime's probabilities move
    by at most 0.060 (check batch) / 0.023 (the batch below), ours (per token) by 0.022 / 0.023; every label
    agrees. The bounds leave 2x margin."""
    meta = read_meta(export_dir)
    check = meta["int8_onnx" if engine is Int8Engine else "int8"]["check"]
    bound = 0.12 if engine is Int8Engine else 0.05
    assert check["label_agreement"] >= 0.95, check
    assert check["max_probability_change"] <= bound, check
    # a fresh batch through the engines themselves, with the spread-out probabilities we meant to test
    rng = np.random.RandomState(7)
    vocab = json.load(open(os.path.join(export_dir, "config.json")))["vocab_size"]
    ids = rng.randint(5, vocab, (32, 40))
    mask = (np.arange(40)[None] < rng.randint(8, 41, (32, 1))).astype(np.int64)
    feed = {"input_ids": np.where(mask == 1, ids, 0), "token_type_ids": np.zeros_like(ids), "attention_mask": mask}
    fp32 = OnnxEngine(export_dir, meta, threads=2).run(feed)["logits"]
    int8 = engine(export_dir, meta, threads=2).run(feed)["logits"]
    assert int8.shape == fp32.shape == (32, 3)
    p32 = np.exp(fp32) / np.exp(fp32).sum(-1, keepdims=True)
    p8 = np.exp(int8) / np.exp(int8).sum(-1, keepdims=True)
    # a confident classifier with several labels in use, where quantization errors show
    assert p32.max(-1).mean() > 0.75 and len(set(p32.argmax(-1))) >= 2
    assert np.abs(p8 - p32).max() <= bound
    assert (p8.argmax(-1) == p32.argmax(-1)).mean() >= 0.95
    assert np.abs(int8 - fp32).max() > 0  # it really is another model


def test_errors_name_the_fix(export_dir, tmp_path):
    no_onnx = str(tmp_path / "no-onnx")
    shutil.copytree(export_dir, no_onnx)
    meta = read_meta(no_onnx)
    meta["onnx_file"] = None
    meta.pop("int8")
    meta.pop("int8_onnx")
    with open(os.path.join(no_onnx, META_FILE), "w") as f:
        json.dump(meta, f)
    os.remove(os.path.join(no_onnx, INT8_ONNX_FILE))
    os.remove(os.path.join(no_onnx, INT8_FILE))
    with pytest.raises(PaddleRembertError, match="--onnx"):
        quantize_export(no_onnx)
    for engine in (Int8Engine, PaddleInt8Engine):
        with pytest.raises(PaddleRembertError, match="--quantize int8"):
            engine(no_onnx, read_meta(no_onnx))
        with pytest.raises(PaddleRembertError, match="CPU only"):
            engine(export_dir, read_meta(export_dir), device="gpu")


def test_export_quantize_and_predict_int8_from_the_command_line(export_dir, tmp_path, capsys):
    """`export --quantize int8` writes model.int8.safetensors beside the fp32 export (with --onnx also
    model.int8.onnx); `predict --precision int8` runs ours (--backend onnxruntime the ONNX one), and both
    agree with fp32 on the labels of the synthetic texts."""
    from paddle_rembert.cli import main
    from paddle_rembert.deploy.inference import Predictor

    model_dir = os.path.join(os.path.dirname(export_dir), "model")
    out, both = str(tmp_path / "export"), str(tmp_path / "both")
    assert main(["export", model_dir, out, "--task", "sequence-classification", "--quantize", "int8"]) == 0
    assert INT8_FILE in capsys.readouterr().out
    files = set(os.listdir(out))
    assert {INT8_FILE, "inference.json"} <= files and not {INT8_ONNX_FILE, "model.onnx"} & files
    assert main(["export", model_dir, both, "--task", "sequence-classification", "--quantize", "int8",
                 "--onnx"]) == 0
    assert {INT8_FILE, INT8_ONNX_FILE, "model.onnx"} <= set(os.listdir(both))
    texts = T.synthetic_texts(20, seed=5)
    capsys.readouterr()
    assert main(["predict", out, "--text", texts[0], "--precision", "int8"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert main(["predict", both, "--text", texts[0], "--precision", "int8", "--backend", "onnxruntime"]) == 0
    line_ort = json.loads(capsys.readouterr().out)
    fp32, int8, ort = Predictor(out), Predictor(out, precision="int8"), Predictor(both, precision="int8",
                                                                                  backend="onnxruntime")
    assert type(int8.engine) is PaddleInt8Engine and int8.backend == "paddle"
    assert type(ort.engine) is Int8Engine and ort.backend == "onnxruntime"
    assert line["label"] == int8.predict([texts[0]])[0]["label"]
    assert line_ort["label"] == ort.predict([texts[0]])[0]["label"]
    reference = fp32.predict(texts)
    for predictor in (int8, ort):
        agree = [a["label"] == b["label"] for a, b in zip(reference, predictor.predict(texts))]
        assert np.mean(agree) >= 0.95
    with pytest.raises(PaddleRembertError, match="model.int8.onnx"):  # ours only: the ONNX one was not asked for
        Predictor(out, precision="int8", backend="onnxruntime")


def test_a_failed_onnx_quantization_leaves_no_export_and_keeps_the_old_one(export_dir, tmp_path, monkeypatch, capsys):
    """The int8 ONNX model is written inside the export's temporary directory: when quantizing fails, nothing is
    renamed into place, and --overwrite keeps the complete export it would have replaced."""
    from paddle_rembert.cli import main
    from paddle_rembert.deploy import quantize

    def broken():
        raise PaddleRembertError("int8 quantization needs onnxruntime, onnx and ml_dtypes (test)")

    monkeypatch.setattr(quantize, "_quantization", broken)
    model_dir = os.path.join(os.path.dirname(export_dir), "model")
    argv = ["export", model_dir, str(tmp_path / "new"), "--task", "sequence-classification", "--quantize", "int8",
            "--onnx"]
    assert main(argv) == 2
    assert not os.path.exists(tmp_path / "new") and os.listdir(tmp_path) == []
    old = str(tmp_path / "old")
    shutil.copytree(export_dir, old)
    before = sorted(os.listdir(old))
    assert main(argv[:2] + [old] + argv[3:] + ["--overwrite"]) == 2
    assert sorted(os.listdir(old)) == before and read_meta(old)["int8_onnx"]
    out = capsys.readouterr()
    assert "exported" not in out.out and "needs onnxruntime" in out.err


def test_int8_results_do_not_depend_on_batch_companions_or_threads(export_dir):
    """Per-token ranges: each text's int8 result is the same alone, in a batch of texts of other lengths, and
    from several threads at once (onnxruntime's per-call range moves it with its companions)."""
    from concurrent.futures import ThreadPoolExecutor

    from paddle_rembert.deploy.inference import Predictor

    texts = T.synthetic_texts(12, seed=11)
    predictor = Predictor(export_dir, precision="int8")
    batched = [r["probabilities"] for r in predictor.predict(texts, batch_size=6)]
    alone = [predictor.predict([t])[0]["probabilities"] for t in texts]
    for a, b in zip(batched, alone):
        np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=0, atol=1e-5)
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(lambda t: predictor.predict([t])[0]["probabilities"], texts * 2))
    for a, b in zip(threaded, alone * 2):
        assert a == b


def test_an_export_quantized_by_an_earlier_version_still_runs_int8_on_onnxruntime(export_dir, tmp_path, caplog):
    """Earlier versions recorded onnxruntime's int8 model under "int8" (with "onnx_file") and wrote no int8
    weights: precision="int8" runs that model, with a warning saying how to get the per-token engine."""
    from paddle_rembert.deploy.inference import Predictor

    old = str(tmp_path / "old")
    shutil.copytree(export_dir, old)
    os.remove(os.path.join(old, INT8_FILE))
    meta = read_meta(old)
    meta["int8"] = meta.pop("int8_onnx")
    with open(os.path.join(old, META_FILE), "w") as f:
        json.dump(meta, f)
    predictor = Predictor(old, precision="int8")
    assert type(predictor.engine) is Int8Engine and predictor.backend == "onnxruntime"
    assert "quantized by an earlier paddle-rembert" in caplog.text and "--quantize int8" in caplog.text
    text = T.synthetic_texts(1, seed=3)
    assert predictor.predict(text)[0]["label"] == Predictor(export_dir, precision="int8",
                                                           backend="onnxruntime").predict(text)[0]["label"]


def test_a_damaged_int8_file_is_named(export_dir, tmp_path):
    from paddle_rembert.checkpoint.safetensors import SafetensorsFile, write_safetensors

    broken = str(tmp_path / "broken")
    shutil.copytree(export_dir, broken)
    path = os.path.join(broken, INT8_FILE)
    source = SafetensorsFile(path)
    arrays = {k: source.read(k) for k in source.keys()}
    key = next(k for k in arrays if k.endswith("query.weight"))

    def rewrite(arrays, metadata=None):
        specs = [(k, {np.dtype("int8"): "I8"}.get(a.dtype, "F32"), a.shape) for k, a in arrays.items()]
        with open(path, "wb") as f:
            write_safetensors(f, specs, arrays.__getitem__, metadata or source.metadata)

    rewrite({k: a for k, a in arrays.items() if k != key + "_scale"})
    with pytest.raises(PaddleRembertError, match=f"{INT8_FILE} does not fit .*missing .*{key}_scale"):
        PaddleInt8Engine(broken, read_meta(broken))
    rewrite(dict(arrays, **{key: arrays[key].astype(np.float32)}))
    with pytest.raises(PaddleRembertError, match=f"{key} must be int8"):
        PaddleInt8Engine(broken, read_meta(broken))
    rewrite(arrays, {"format": "paddle"})
    with pytest.raises(PaddleRembertError, match="not a paddle-rembert int8 file"):
        PaddleInt8Engine(broken, read_meta(broken))


def test_without_vnni_the_export_is_written_unchecked_and_the_engine_says_why(export_dir, tmp_path, monkeypatch,
                                                                              caplog):
    from paddle_rembert.kernels import int8

    model_dir = os.path.join(os.path.dirname(export_dir), "model")
    monkeypatch.setattr(int8, "cpu_has_vnni", lambda: False)
    out = str(tmp_path / "export")
    meta = export_model(model_dir, out, task="sequence-classification", quantize="int8")
    assert meta["int8"]["check"] is None and os.path.isfile(os.path.join(out, INT8_FILE))
    assert "could not check it here" in caplog.text and "VNNI" in caplog.text
    with pytest.raises(PaddleRembertError, match="VNNI"):
        PaddleInt8Engine(out, read_meta(out))
    # --overwrite replaces an export holding the int8 file (it is one of an export's files)
    monkeypatch.undo()
    export_model(model_dir, out, task="sequence-classification", quantize="int8", overwrite=True)
    assert read_meta(out)["int8"]["check"]["label_agreement"] >= 0.95
    # --no-verify skips the int8 check too
    assert export_model(model_dir, out, task="sequence-classification", quantize="int8", overwrite=True,
                        verify=False)["int8"]["check"] is None


def test_int8_weights_come_from_a_float32_model(export_dir, tmp_path):
    from paddle_rembert.deploy.int8 import write_int8_weights

    model = pr.AlbertForSequenceClassification.from_pretrained(os.path.join(os.path.dirname(export_dir), "model"))
    model.to(dtype="bfloat16")
    with pytest.raises(PaddleRembertError, match="float32 model; .*weight is bfloat16"):
        write_int8_weights(model, str(tmp_path / INT8_FILE))
    assert not os.listdir(tmp_path)  # nothing written


def test_the_check_batch_fits_a_model_with_few_positions(tmp_path):
    """RoBERTa with 20 positions (18 usable after its padding offset): the fp32-vs-int8 check batch must not
    exceed them."""
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "export")
    T.write_tiny_model_dir(model_dir, "roberta", T.synthetic_texts(), max_position_embeddings=20)
    meta = export_model(model_dir, out, task="feature-extraction", onnx=True, quantize="int8")
    for check in (meta["int8"]["check"], quantize_export(out)["int8_onnx"]["check"]):
        assert check["batch"][1] == 18
        assert all(np.isfinite(v) for v in check["max_abs_diff"].values())
    assert read_meta(out)["inputs"] == meta["inputs"] and len(meta["inputs"]) == 2  # no token types: ours runs


def test_onnxruntime_runs_without_its_slow_skip_layernorm_fusion(export_dir, tmp_path, monkeypatch):
    """onnxruntime fuses our graphs' residual Add + LayerNormalization into SkipLayerNormalization, whose
    CPU kernel is 3x slower than the ops it replaces (deploy/engines.py); the engines turn that fusion off."""
    import onnx
    import onnxruntime as ort

    from paddle_rembert.deploy import engines

    path = os.path.join(export_dir, INT8_ONNX_FILE)

    def optimized_ops(disabled):
        options = engines.session_options(ort, 1)
        options.optimized_model_filepath = str(tmp_path / f"optimized-{len(disabled)}.onnx")
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled))
        return {node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node}

    assert "SkipLayerNormalization" in optimized_ops(())  # the fusion applies to our graphs
    assert "SkipLayerNormalization" not in optimized_ops(engines.DISABLED_FUSIONS)

    sessions = []
    real = ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: (sessions.append(k), real(*a, **k))[1])
    Int8Engine(export_dir, read_meta(export_dir), threads=1)
    OnnxEngine(export_dir, read_meta(export_dir), threads=1)
    assert [k.get("disabled_optimizers") for k in sessions] == [list(engines.DISABLED_FUSIONS)] * 2


def test_the_check_reads_each_task_as_the_predictor_does():
    """Per-token and span outputs are compared on real tokens only, as decisions the Predictor reports."""
    from paddle_rembert.deploy.quantize import _decisions

    mask = np.array([[True, True, True, False]])
    a = np.array([[2.0, -1.0, 0.5, 9.0]])
    b = np.array([[1.5, -0.5, -0.1, -9.0]])  # a real token flips; so does the padding, which must not count
    (pa, da), (pb, db) = _decisions("replaced-token-detection", None, a, b, mask)
    assert da.shape == (3,) and np.mean(da == db) == pytest.approx(2 / 3)
    (pa, da), (pb, db) = _decisions("question-answering", None, a, np.array([[1.0, -1.0, 0.5, 50.0]]), mask)
    assert da.tolist() == db.tolist() == [0] and pa[0, 3] == 0.0  # the padding's 50 is no answer
    assert _decisions("feature-extraction", None, a, b, mask) is None
    assert _decisions("sequence-classification", "regression", a[:, :1], b[:, :1], mask) is None
    (pa, da), (pb, db) = _decisions("sequence-classification", "multi_label_classification", a, b, mask)
    assert da.tolist() == [[True, False, True, True]] and db.tolist() == [[True, False, False, False]]


def test_every_thread_that_runs_the_engine_gets_its_threads():
    """OpenMP's thread count is per thread: a server thread that did not create the engine ran oneDNN's int8
    GEMMs with OMP_NUM_THREADS (1 after importing Paddle; MiniLM's forward took 1.5x the time on two cores)."""
    import ctypes
    import threading

    lib = ctypes.CDLL(os.path.join(os.path.dirname(paddle.__file__), "libs", "libiomp5.so"))
    from paddle_rembert.runtime.settings import use_threads_in_this_thread

    seen = {}

    def worker(n):
        use_threads_in_this_thread(n)
        seen[n] = lib.omp_get_max_threads()

    main = lib.omp_get_max_threads()
    for n in (3, 1):
        thread = threading.Thread(target=worker, args=(n,))
        thread.start()
        thread.join()
    assert seen == {3: 3, 1: 1}
    assert lib.omp_get_max_threads() == main  # the calling thread's own count, nobody else's


def test_the_int8_engine_sets_the_threads_of_the_thread_that_runs_it(export_dir):
    import ctypes
    import threading

    lib = ctypes.CDLL(os.path.join(os.path.dirname(paddle.__file__), "libs", "libiomp5.so"))
    engine = PaddleInt8Engine(export_dir, read_meta(export_dir), threads=2)
    feed = {"input_ids": np.array([[2, 7, 9, 3]]), "attention_mask": np.ones((1, 4), np.int64),
            "token_type_ids": np.zeros((1, 4), np.int64)}
    seen = []

    def worker():
        lib.omp_set_num_threads(1)  # what a fresh thread of a process with OMP_NUM_THREADS=1 has
        engine.run(feed)
        seen.append(lib.omp_get_max_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [2]
