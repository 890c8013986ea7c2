"""The benchmark runner and the alternating timer work end to end on a tiny model: every backend runs the
same weights.

Timings are not asserted (speed is measured in tools/, not tested); what is checked is that each
backend ran, and that every forward gives the logits our dygraph model gives.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from paddle_rembert.runtime.errors import PaddleRembertError

from .conftest import REPO


def test_runner_runs_every_backend_on_the_same_weights(tmp_path):
    """All in one process (a subprocess per backend is the same code after the child's start; the next test
    runs that protocol)."""
    report = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "tools.benchmark", "run", "--family", "albert", "--tiny", "--batches", "1,3",
           "--seq-len", "16", "--repeat", "1", "--warmup", "1", "--threads", "2", "--work-dir", str(tmp_path / "work"),
           "--ceiling-seconds", "0.1", "--json", str(report), "--in-process"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all in one process" in done.stdout
    assert "transformers (PyTorch) fp32" in done.stdout and "B1 / PyTorch" in done.stdout
    assert "B3 of ceiling" in done.stdout and "int8 onnxruntime (u8 x s8)" in done.stdout
    assert "met" not in done.stdout.replace("Paddle", "")  # measurements, no verdicts
    results = {r["backend"]: r for r in json.loads(report.read_text())["results"]}
    ceilings = {k: v for r in results.values() for k, v in (r.get("ceilings") or {}).items()}
    assert {"fp32 Paddle", "fp32 PyTorch", "bf16 ours (oneDNN)", "bf16 PyTorch", "int8 onnxruntime (u8 x s8)",
            "int8 ours (oneDNN u8 x s8, per token)"} <= set(ceilings)
    assert all(v["gflops"] > 0 for v in ceilings.values())
    assert set(results) == {"ceiling-paddle", "ceiling-torch", "ceiling-ort", "ours", "ours-bf16", "torch",
                            "torch-bf16", "paddlenlp", "paddle-inference", "paddle-inference-bf16", "onnxruntime",
                            "ours-int8", "onnxruntime-int8", "predictor-int8", "predictor-int8-ort"}
    for b in ("1", "3"):
        reference = np.array(results["ours"]["batches"][b]["logits"])
        assert reference.shape == (int(b), 2)
        for name, r in results.items():
            if name.startswith("ceiling"):
                continue
            entry = r["batches"][b]
            assert entry["forward"]["median_s"] > 0, name
            if name in ("ours", "ours-bf16", "torch", "torch-bf16", "paddlenlp"):
                assert entry["train"]["median_s"] > 0, name
            if name.startswith("predictor"):  # runs texts: no logits to compare
                assert entry["logits"] is None
            elif name != "paddlenlp":  # PaddleNLP runs its own random weights
                tolerance = 0.05 if name.endswith(("bf16", "int8")) else 1e-5
                np.testing.assert_allclose(entry["logits"], reference, atol=tolerance, err_msg=name)


def test_runner_runs_each_backend_in_a_subprocess_by_default(tmp_path):
    """RoBERTa's tiny config: one token type, and a byte-level tokenizer larger than its 101 ids (the runner
    failed on both)."""
    report = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "tools.benchmark", "run", "--family", "roberta", "--tiny", "--batches", "2",
           "--seq-len", "16", "--repeat", "1", "--warmup", "0", "--threads", "1", "--work-dir", str(tmp_path / "work"),
           "--backends", "ours,onnxruntime", "--modes", "forward", "--no-ceilings", "--json", str(report)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "one subprocess per backend" in done.stdout
    results = {r["backend"]: r for r in json.loads(report.read_text())["results"]}
    assert set(results) == {"ours", "onnxruntime"} and all(r["threads"] == 1 for r in results.values())
    np.testing.assert_allclose(results["onnxruntime"]["batches"]["2"]["logits"],
                               results["ours"]["batches"]["2"]["logits"], atol=1e-5)
    assert results["onnxruntime"]["batches"]["2"]["forward"]["median_s"] > 0


def test_the_load_of_other_processes_is_not_guessed_from_a_window_of_a_few_clock_ticks():
    import time

    from tools.bench import common

    assert common.LoadMonitor().start().stop() is None  # /proc/stat counts 10 ms ticks
    monitor = common.LoadMonitor().start()
    time.sleep(0.1 * max(2, os.cpu_count()) + 0.05)
    load = monitor.stop()  # each CPU's count may be one tick off
    assert load is None if not os.path.exists("/proc/stat") else 0 <= load <= 1.25 * os.cpu_count()


def test_alternate_times_two_backends_in_turns_on_the_same_weights(tmp_path):
    cmd = [sys.executable, "-m", "tools.benchmark", "alternate", "--family", "bert", "--tiny", "--pair", "ours,torch",
           "--batch", "3", "--seq-len", "16", "--rounds", "3", "--warmup", "1", "--threads", "2",
           "--work-dir", str(tmp_path / "work")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "forward, batch 3, seq len 16, 2 thread(s), one process, 3 rounds alternating" in out
    assert "| ours (Paddle dygraph) fp32 " in out and "| transformers (PyTorch) fp32 " in out
    assert "ours (Paddle dygraph) fp32 / transformers (PyTorch) fp32: " in out and "(ratio of the medians)" in out
    diff = float(re.search(r"max \|logits A - logits B\| (\S+)", out).group(1))
    assert diff < 1e-5  # the same weights on both sides
    # it sets OMP_NUM_THREADS before importing Paddle, which would print Paddle's thread notice
    assert "No ccache found" not in done.stderr and "OMP_NUM_THREADS set to" not in done.stderr, done.stderr


@pytest.mark.parametrize("argv, message", [
    (["--pair", "ours"], "--pair takes two different backends"),
    (["--pair", "ours,ours"], "--pair takes two different backends"),
    (["--pair", "ours,tensorflow"], "unknown backend 'tensorflow'"),
    (["--pair", "onnxruntime,torch", "--mode", "train"], "onnxruntime only runs forward"),
    (["--rounds", "0"], "argument --rounds: must be an integer of at least 1, got '0'"),
    (["--batch", "x"], "argument --batch: must be an integer of at least 1, got 'x'"),
])
def test_alternate_refuses_bad_options_with_one_line(argv, message, capsys):
    from tools.bench import alternate

    with pytest.raises(SystemExit) as exc:
        alternate.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_alternate_reports_a_failing_backend_in_one_line(tmp_path):
    """PaddleNLP 2.8.1's RemBERT fails in forward: alternate says so in one line and exits 1."""
    cmd = [sys.executable, "-m", "tools.benchmark", "alternate", "--family", "rembert", "--tiny",
           "--pair", "paddlenlp,torch", "--batch", "2", "--seq-len", "8", "--rounds", "1", "--threads", "2",
           "--work-dir", str(tmp_path / "work")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1
    assert "alternate: paddlenlp failed: " in done.stderr and "Traceback" not in done.stderr
    assert done.stdout.strip() == ""


def test_the_sequence_length_fits_the_model_and_the_work_dir_any_cwd(tmp_path, monkeypatch):
    from tools.bench import runner

    monkeypatch.chdir(tmp_path)
    args = runner.parse_args(["--tiny", "--family", "albert", "--work-dir", "rel"])
    cfg, dirs = runner.model_dirs(args)
    assert args.seq_len == min(128, cfg["max_position_embeddings"])
    assert dirs["paddle"].startswith(str(tmp_path / "rel") + os.sep)
    args = runner.parse_args(["--family", "roberta"])
    runner.load_config(args)
    assert args.seq_len == 128
    args = runner.parse_args(["--tiny", "--family", "roberta", "--seq-len", "500"])
    with pytest.raises(PaddleRembertError, match="--seq-len must be between 2 and the model's"):
        runner.load_config(args)


def test_a_run_that_measured_nothing_exits_non_zero(tmp_path, monkeypatch, capsys):
    from tools.bench import common, runner

    monkeypatch.setattr(runner, "prepare", lambda args: (runner.load_config(args), {}))
    monkeypatch.setattr(common, "run_child", lambda argv, cwd: {"backend": "ours", "threads": 1, "error": "boom"})
    argv = ["--tiny", "--no-ceilings", "--backends", "ours", "--work-dir", str(tmp_path)]
    assert runner.main(argv) == 1
    assert "boom" in capsys.readouterr().out
    monkeypatch.setattr(common, "run_child", lambda argv, cwd: {"backend": "ours", "threads": 1, "batches": {
        "8": {"train": {"median_s": 0.1}, "forward": {"median_s": 0.05}}}})
    assert runner.main(argv) == 0


def test_a_prepared_model_and_its_exports_are_reused(tmp_path):
    """A second run finds the export by its export_meta.json and makes nothing again (it re-exported and
    re-quantized every time, looking for a meta.json no export writes)."""
    from paddle_rembert.deploy.format import META_FILE
    from tools.bench import runner

    assert runner.EXPORT_META == META_FILE
    args = runner.parse_args(["--tiny", "--family", "albert", "--work-dir", str(tmp_path),
                              "--backends", "onnxruntime-int8"])
    runner.load_config(args)
    _, dirs = runner.prepare(args)
    made = {name: os.stat(os.path.join(dirs["export"], name)).st_mtime_ns for name in os.listdir(dirs["export"])}
    assert {META_FILE, "model.onnx", "model.int8.onnx"} <= set(made)
    # the tokenizer is trained before the PyTorch copy is converted: a whole model directory, which
    # transformers loads, and no converter warning about a missing vocabulary in the benchmark's output
    import transformers

    import paddle_rembert as pr

    theirs = transformers.AutoTokenizer.from_pretrained(dirs["torch"], use_fast=False)
    assert theirs("a b c")["input_ids"] == pr.AutoTokenizer.from_pretrained(dirs["paddle"])("a b c")["input_ids"]
    runner.prepare(args)
    assert {name: os.stat(os.path.join(dirs["export"], name)).st_mtime_ns
            for name in os.listdir(dirs["export"])} == made


def test_training_padding_runs_and_reports_three_strategies(tmp_path):
    """``training padding`` built its model through the runner's config loader without the options it reads."""
    report = tmp_path / "padding.json"
    cmd = [sys.executable, "-m", "tools.benchmark", "training", "padding", "--examples", "8", "--batch", "4",
           "--layers", "1", "--model", "bert", "--threads", "2", "--json", str(report)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(report.read_text())["results"]
    assert set(results) == {"static 128, random batches", "dynamic, random batches", "dynamic, length-grouped"}
    assert all(r["seconds"] > 0 and r["padded_tokens"] >= r["real_tokens"] > 0 for r in results.values())
    assert "time vs static" in done.stdout
    help_run = subprocess.run([sys.executable, "-m", "tools.benchmark", "training", "--help"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0 and "full-step" in help_run.stdout


@pytest.mark.parametrize("argv, message", [
    (["run", "--family", "gpt2", "--no-ceilings"], "run: error: unknown model_type 'gpt2' in --family"),
    (["run", "--config", "missing.json", "--no-ceilings", "--backends", "ours"],
     "run: error: --config file not found: missing.json"),
    (["run", "--batches", "8,abc"], "argument --batches: must be an integer of at least 1, got 'abc'"),
    (["run", "--repeat", "0"], "argument --repeat: must be an integer of at least 1, got '0'"),
    (["run", "--threads", "0"], "argument --threads: must be an integer of at least 1, got '0'"),
    (["run", "--tiny", "--seq-len", "5000", "--no-ceilings"], "run: error: --seq-len must be between 2 and"),
    (["run", "--json", "{dir}"], "is a directory"),
    (["tokenizers", "--model", "gpt2"], "tokenizers: error: unknown model_type 'gpt2' in --model"),
    (["tokenizers", "--pairs", "0"], "argument --pairs: must be an integer of at least 1, got '0'"),
])
def test_benchmark_commands_refuse_bad_options_in_one_line(argv, message, tmp_path):
    argv = [a.format(dir=tmp_path) for a in argv]
    done = subprocess.run([sys.executable, "-m", "tools.benchmark", *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr and "Traceback" not in done.stderr


_IMPORTED_FRAMEWORKS = (  # runs tools.benchmark as python -m does, then lists the frameworks it imported
    "import runpy, sys\n"
    "try:\n"
    "    runpy.run_module('tools.benchmark', run_name='__main__', alter_sys=True)\n"
    "finally:\n"
    "    print(sorted({name.split('.')[0] for name in sys.modules} & {'paddle', 'paddle_rembert', 'torch'}))\n")


@pytest.mark.parametrize("argv, line", [
    ([], ": error: a subcommand is required: run, alternate, tokenizers, training, all"),
    (["bogus"], ": error: unknown subcommand 'bogus'; choose from run, alternate, tokenizers, training, all"),
    (["all", "--threads", "2"], ": error: 'all' takes no options: it runs each subcommand with its defaults"),
    (["training"], " training: error: a measurement is required: padding or full-step"),
    (["training", "bogus"], " training: error: unknown measurement 'bogus'; choose from padding, full-step"),
    (["training", "padding", "--examples", "0"],
     " training padding: error: argument --examples: must be an integer of at least 1, got '0'"),
    (["training", "full-step", "--bogus"], " training full-step: error: unrecognized arguments: --bogus"),
    (["run", "--batches", "x"], " run: error: argument --batches: must be an integer of at least 1, got 'x'"),
    (["alternate", "--pair", "ours"], " alternate: error: --pair takes two different backends, A,B"),
    (["tokenizers", "--contenders", "fast"],
     " tokenizers: error: --contenders must include ours and be a subset of ours,fast,slow"),
])
def test_benchmark_usage_errors_are_one_line_before_any_framework_is_imported(argv, line, tmp_path):
    """As the package's commands: the message and where to find the usage, status 2; no usage block or docstring.
    Paddle is not imported yet: the threads are set before it is (its import sets OMP_NUM_THREADS=1)."""
    done = subprocess.run([sys.executable, "-c", _IMPORTED_FRAMEWORKS, *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    prog = "python -m tools.benchmark" + line.split(":")[0]
    assert (done.returncode, done.stderr, done.stdout) == (2, f"python -m tools.benchmark{line} (see {prog} --help)\n",
                                                           "[]\n")


def test_the_benchmark_tools_usage_line_is_the_packages(capsys):
    from paddle_rembert.runtime.errors import ArgumentParser
    from tools.bench import common

    for parser in (ArgumentParser(prog="tool"), common.ArgumentParser(prog="tool")):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(["--bogus"])
        assert exc.value.code == 2
        assert capsys.readouterr().err == "tool: error: unrecognized arguments: --bogus (see tool --help)\n"


def test_the_benchmark_runs_as_a_script_too(tmp_path):
    """python tools/benchmark.py, from any directory and without the repository on PYTHONPATH, finds its tools."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, os.path.join(REPO, "tools", "benchmark.py"), "run", "--batches", "x"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert (done.returncode, done.stderr.splitlines()) == (2, [
        "python -m tools.benchmark run: error: argument --batches: must be an integer of at least 1, got 'x' "
        "(see python -m tools.benchmark run --help)"])
    done = subprocess.run([sys.executable, os.path.join(REPO, "tools", "benchmark.py"), "training", "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0 and "full-step" in done.stdout


def test_the_demo_replaces_only_its_own_output(tmp_path, capsys):
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        import demo
    finally:
        sys.path.pop(0)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    with pytest.raises(SystemExit, match="is not empty and is not an earlier demo output"):
        demo.prepare_output(str(mine))
    assert (mine / "keep.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="is a file"):
        demo.prepare_output(str(tmp_path / "file"))
    out = tmp_path / "out"
    demo.prepare_output(str(out))
    (out / "old-result").write_text("from the last run")
    demo.prepare_output(str(out))  # an earlier demo output: replaced
    assert sorted(os.listdir(out)) == [demo.MARKER]
    older = tmp_path / "older"  # written before the marker: the demo's own entries only
    (older / "xnli").mkdir(parents=True)
    (older / "pairs.tsv").write_text("x")
    demo.prepare_output(str(older))
    assert sorted(os.listdir(older)) == [demo.MARKER]
    with pytest.raises(SystemExit):
        demo.main(["--nproc", "0"])
    assert "--nproc: must be an integer of at least 1, got '0' (see " in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["tools/demo.py", "--nproc", "x"], ["-m", "tools.demo", "--bogus"],
                                  ["-m", "tools.make_demo_checkpoint", "--bogus"],
                                  ["-m", "tools.parity_report", "--json"]])
def test_the_other_tools_usage_errors_are_one_line(argv):
    done = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
    prog = os.path.basename(argv[0] if argv[0] != "-m" else argv[1].replace("tools.", "") + ".py")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"{prog}: error: ") and done.stderr.endswith(f" (see {prog} --help)\n")
