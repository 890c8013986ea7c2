"""Hardening of the command line and the file layer: destinations, OS errors, temporaries, inputs, noise."""
import errno
import io
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from paddle_rembert.cli import main as cli_main
from paddle_rembert.cli import read_examples, run_guarded
from paddle_rembert.runtime import files
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.trainer import from_yaml

from .conftest import REPO, make_model_dir, run_cli


def _model_copy(deploy_root, tmp_path):
    """A model directory inside a "project" folder that also holds a .git."""
    import shutil

    project = tmp_path / "proj"
    model = project / "model"
    shutil.copytree(make_model_dir(deploy_root, "albert", "sequence-classification"), model)
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return project, model


# -- destinations ------------------------------------------------------------------------------------
def test_export_and_convert_refuse_a_destination_that_is_or_contains_the_source(deploy_root, tmp_path, capsys,
                                                                                 monkeypatch):
    project, model = _model_copy(deploy_root, tmp_path)
    link = tmp_path / "link-to-proj"
    link.symlink_to(project)
    for command in ("export", "convert"):
        for dst in (str(project), str(model), str(link)):
            assert cli_main([command, str(model), dst, "--overwrite"]) == 2
            err = capsys.readouterr().err
            assert "would delete the source" in err and "Traceback" not in err, err
    monkeypatch.chdir(project)
    assert cli_main(["export", "model", ".", "--overwrite"]) == 2
    assert "contains the source" in capsys.readouterr().err
    assert (project / ".git" / "HEAD").is_file() and (model / "config.json").is_file()


def _converted(path):
    path.mkdir()
    for name in ("config.json", "model_state.pdparams", "spiece.model", "tokenizer_config.json"):
        (path / name).write_text("x")
    return path


@pytest.mark.parametrize("foreign", ["notes.txt", ".git", "sub"])
def test_overwrite_replaces_only_previous_outputs_of_the_tool(tmp_path, foreign):
    previous = _converted(tmp_path / "converted")
    files.check_destination(str(previous), [], overwrite=True)  # a convert output: replaceable
    with pytest.raises(PaddleRembertError, match="pass --overwrite"):
        files.check_destination(str(previous), [], overwrite=False)
    other = _converted(tmp_path / "other")
    (other / foreign).mkdir() if foreign != "notes.txt" else (other / foreign).write_text("mine")
    with pytest.raises(PaddleRembertError, match="is not a model directory written by paddle-rembert"):
        files.check_destination(str(other), [], overwrite=True)
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text("{}")
    assert not files.is_model_output(str(no_weights))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(PaddleRembertError, match="exists and is not a directory"):
        files.check_destination(str(a_file), [], overwrite=True)


def test_export_overwrite_refuses_a_directory_that_is_not_an_export(deploy_root, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "thesis.tex").write_text("months of work")
    model = make_model_dir(deploy_root, "albert", "sequence-classification")
    assert cli_main(["export", model, str(out), "--overwrite"]) == 2
    assert "is not a previous export holding only what an export writes" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "months of work"
    (out / "export_meta.json").write_text("{}")  # an export with the user's predictions written into it
    assert cli_main(["export", model, str(out), "--overwrite"]) == 2
    assert "is not a previous export holding only what an export writes" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["export_meta.json", "thesis.tex"]


def test_a_destination_that_is_a_link_to_a_directory_is_written_where_it_points(deploy_root, tmp_path, capsys):
    model = make_model_dir(deploy_root, "albert", "sequence-classification")
    big_disk = tmp_path / "big-disk" / "converted"
    big_disk.mkdir(parents=True)
    link = tmp_path / "converted"
    link.symlink_to(big_disk, target_is_directory=True)
    for dst, extra in ((str(link), []), (str(link), ["--overwrite"]), (f"{link}/", ["--overwrite"])):
        assert cli_main(["convert", model, dst, "--to", "torch"] + extra) == 0, capsys.readouterr().err
        assert link.is_symlink() and os.readlink(link) == str(big_disk)  # the link is kept ...
        assert (big_disk / "config.json").is_file()                      # ... and the output is where it points
        assert sorted(os.listdir(tmp_path)) == ["big-disk", "converted"]
        assert os.listdir(tmp_path / "big-disk") == ["converted"]         # no temporaries left beside it

@pytest.mark.parametrize("argv, message", [
    (["convert"], "paddle-rembert convert: error: the following arguments are required: src, dst"),
    (["bogus"], "paddle-rembert: error: argument command: invalid choice: 'bogus'"),
    (["predict", "x", "--text", "a", "--precision", "int9"], "argument --precision: invalid choice: 'int9'"),
])
def test_usage_errors_are_one_line_with_where_to_find_the_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.splitlines()) == 1 and message in err and "--help)" in err


def test_the_example_flags_usage_errors_are_one_line_too(capsys):
    from paddle_rembert.trainer.arguments import example_parser

    with pytest.raises(SystemExit) as e:
        example_parser().parse_args(["--task", "xnli"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "required: --model_name_or_path" in err


def test_help_documents_the_overwrite_rule_and_version():
    from paddle_rembert import __version__
    from paddle_rembert.cli import build_parser

    text = build_parser().format_help()
    assert "benchmark" not in text and "export_meta.json" in text and "--version" in text
    with pytest.raises(SystemExit) as e:
        cli_main(["--version"])
    assert e.value.code == 0
    assert __version__


# -- OS errors ---------------------------------------------------------------------------------------
def test_os_errors_print_one_line_naming_the_path(tmp_path, capsys):
    def disk_full():
        with files.atomic_open(str(tmp_path / "out.json"), "w") as f:
            f.write("x")
            raise OSError(errno.ENOSPC, "No space left on device")  # a write error names no file

    assert run_guarded(disk_full, "paddle-rembert predict") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and str(tmp_path / "out.json") in err
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_a_write_failing_inside_an_output_directory_names_the_file_there(tmp_path, capsys):
    """A file written inside atomic_dir's temporary directory is named where it was going."""
    def disk_full():
        with files.atomic_dir(str(tmp_path / "out")) as tmp:
            with files.atomic_open(os.path.join(tmp, "model.safetensors"), "wb") as f:
                f.write(b"x")
                raise OSError(errno.ENOSPC, "No space left on device")

    assert run_guarded(disk_full, "paddle-rembert convert") == 2
    assert capsys.readouterr().err == "paddle-rembert convert: error: No space left on device: " \
                                      f"{tmp_path / 'out' / 'model.safetensors'}\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("write", [lambda p: files.atomic_dir(p).__enter__(), lambda p: files.write_json(p, {})])
def test_a_destination_the_system_refuses_is_named_not_its_temporary(write, capsys):
    # /proc takes no new entries: the temporary beside the destination is where the refusal happens
    assert run_guarded(lambda: write("/proc/paddle-rembert-out"), "paddle-rembert convert") == 2
    assert capsys.readouterr().err == "paddle-rembert convert: error: No such file or directory: " \
                                      "/proc/paddle-rembert-out\n"


def test_a_file_where_a_directory_should_be_is_named(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")

    def write():
        files.write_json(str(tmp_path / "a-file" / "sub" / "out.json"), {})

    assert run_guarded(write, "paddle-rembert export") == 2
    assert capsys.readouterr().err == f"paddle-rembert export: error: a file is where a directory should be: " \
                                      f"{tmp_path / 'a-file'}\n"


def test_predict_output_that_is_a_directory_is_refused_before_running(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a text\n")
    (tmp_path / "outdir").mkdir()
    code = cli_main(["predict", str(tmp_path / "missing-export"), "--input-file", str(tmp_path / "in.txt"),
                     "--output", str(tmp_path / "outdir")])
    assert code == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Traceback" not in err
    with pytest.raises(IsADirectoryError):
        with files.atomic_open(str(tmp_path / "outdir")) as f:
            f.write("x")


def test_export_destination_that_is_a_file(deploy_root, tmp_path, capsys):
    dst = tmp_path / "a-file"
    dst.write_text("x")
    model = make_model_dir(deploy_root, "albert", "sequence-classification")
    assert cli_main(["export", model, str(dst)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


# -- temporaries ------------------------------------------------------------------------------------
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    host = files._HOST
    dead = tmp_path / f".out.tmp-{_dead_pid()}.{host}-abc"
    dead.mkdir()
    (dead / "big.pdiparams").write_bytes(b"0" * 1000)
    dead_old = tmp_path / f".out.old-{_dead_pid()}.{host}-xyz"
    dead_old.mkdir()
    live = tmp_path / f".out.tmp-{os.getppid()}.{host}-def"
    live.mkdir()
    other_host = tmp_path / f".out.tmp-{_dead_pid()}.{'0' * 8 if host != '0' * 8 else '1' * 8}-ghi"
    other_host.mkdir()
    other_name = tmp_path / f".other.tmp-{_dead_pid()}.{host}-jkl"
    other_name.mkdir()
    legacy = tmp_path / ".out.tmp-k2j4h5"  # no pid: not known to be dead
    legacy.mkdir()
    with files.atomic_dir(str(tmp_path / "out")) as tmp:
        assert os.path.basename(tmp).startswith(f".out.tmp-{os.getpid()}.{host}-")
        open(os.path.join(tmp, "f"), "w").close()
    assert not dead.exists() and not dead_old.exists() and not other_name.exists()
    assert live.exists() and other_host.exists() and legacy.exists()
    dead_file = tmp_path / f".x.json.tmp-{_dead_pid()}.{host}-q"
    dead_file.write_text("half")
    files.write_json(str(tmp_path / "x.json"), {"a": 1})
    assert not dead_file.exists()
    assert socket.gethostname()


def test_an_output_moved_aside_by_a_killed_write_is_put_back(tmp_path):
    """Killed between atomic_dir's two renames: the previous output is only in ``.NAME.old-*``. The next write
    beside it puts it back rather than deleting it; an ``.old`` whose NAME exists is still removed."""
    host, pid = files._HOST, _dead_pid()
    aside = tmp_path / f".best.old-{pid}.{host}-abc"
    aside.mkdir()
    (aside / "model_state.pdparams").write_text("the previous best")
    half = tmp_path / f".best.tmp-{pid}.{host}-def"  # the new one, maybe incomplete
    half.mkdir()
    files.write_json(str(tmp_path / "eval_results.json"), {})
    assert (tmp_path / "best" / "model_state.pdparams").read_text() == "the previous best"
    assert not aside.exists() and not half.exists()
    stale = tmp_path / f".best.old-{_dead_pid()}.{host}-ghi"  # killed while deleting it: the new one was in
    stale.mkdir()
    files.remove_stale_temporaries(str(tmp_path / "best"))
    assert not stale.exists() and (tmp_path / "best" / "model_state.pdparams").exists()
    shutil.rmtree(tmp_path / "best")  # removed on purpose (--overwrite_output_dir): a leftover is not put back
    stale.mkdir()
    files.remove_stale_temporaries(str(tmp_path / "best"))
    assert not stale.exists() and not (tmp_path / "best").exists()


def test_writes_never_touch_the_process_umask(tmp_path, monkeypatch):
    """Setting the umask to read it races other threads' file creation: it is read once, at import."""
    def forbidden(*_):
        raise AssertionError("os.umask called during a write")

    monkeypatch.setattr(os, "umask", forbidden)
    files.write_json(str(tmp_path / "a.json"), {})
    with files.atomic_dir(str(tmp_path / "d")) as tmp:
        open(os.path.join(tmp, "f"), "w").close()
    assert oct(os.stat(tmp_path / "a.json").st_mode & 0o777) == oct(0o666 & ~files._UMASK)


# -- predict inputs -----------------------------------------------------------------------------------
def test_read_examples_splits_at_newlines_only(tmp_path, monkeypatch):
    f = tmp_path / "in.txt"
    f.write_bytes("one\rstill one\ttwo\r\nthree\n\n  \n".encode("utf-8"))
    assert read_examples(str(f)) == (["one\rstill one", "three"], ["two", None])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f.read_bytes()), encoding="utf-8"))
    assert read_examples("-") == (["one\rstill one", "three"], ["two", None])


def test_a_tab_only_line_is_an_empty_text_not_an_empty_file(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("\t\n", encoding="utf-8")
    with pytest.raises(PaddleRembertError, match=r"in.txt:1: empty text"):
        read_examples(str(f))
    f.write_text("\n\n", encoding="utf-8")
    with pytest.raises(PaddleRembertError, match="the file is empty"):
        read_examples(str(f))


@pytest.mark.parametrize("argv, message", [
    (["--threads", "-2", "predict", "x", "--text", "a"], "--threads: must be a positive integer"),
    (["predict", "x", "--text", "a", "--max-length", "0"], "--max-length: must be a positive integer"),
    (["predict", "x", "--text", "a", "--threads", "0"], "--threads: must be a positive integer"),
])
def test_numeric_options_are_validated(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_train_overrides_are_type_checked():
    config = os.path.join(REPO, "configs", "albert-base-v2_xnli.yaml")
    with pytest.raises(PaddleRembertError, match="max_steps must be an integer, got 'ten'"):
        from_yaml(config, ["max_steps=ten"])
    with pytest.raises(PaddleRembertError, match="do_train must be true or false"):
        from_yaml(config, ["do_train=3"])
    with pytest.raises(PaddleRembertError, match="threads must be a positive integer"):
        from_yaml(config, ["threads=-2"])
    args = from_yaml(config, ["output_dir=2024", "learning_rate=1e-5", "overwrite_output_dir=true"])
    assert args.output_dir == "2024" and args.learning_rate == 1e-5 and args.overwrite_output_dir is True


def test_string_arguments_keep_the_text_written(tmp_path):
    """YAML 1.1 reads 2024-01-01 as a date, 010 as 8 and 1_000 as 1000: a string argument gets the text."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("do_train: true\nmodel_name_or_path: 010\noutput_dir: 2024-01-01\nmax_steps: 1_000\n"
                      "learning_rate: 1e-5\n")
    args = from_yaml(str(recipe))
    assert (args.model_name_or_path, args.output_dir) == ("010", "2024-01-01")
    assert type(args.max_steps) is int and args.max_steps == 1000 and type(args.learning_rate) is float
    args = from_yaml(str(recipe), ["output_dir=2024-01-01_run", "model_name_or_path=1_000", "seed=0x10"])
    assert (args.output_dir, args.model_name_or_path, args.seed) == ("2024-01-01_run", "1_000", 16)
    with pytest.raises(PaddleRembertError, match="max_steps must be an integer, got '2024-01-01'"):
        from_yaml(str(recipe), ["max_steps=2024-01-01"])
    with pytest.raises(PaddleRembertError, match="num_train_epochs must be a number, got 1000000"):
        from_yaml(str(recipe), ["num_train_epochs=1" + "0" * 400])  # beyond float's range: one line, not a crash


def test_a_key_given_twice_is_an_error(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("do_train: true\nlearning_rate: 1e-5\nseed: 3\nlearning_rate: 0.5\n")
    with pytest.raises(PaddleRembertError, match=r"recipe.yaml is not valid YAML: 'learning_rate' is given twice "
                                                 r'in ".*recipe.yaml", line 4, column 1$') as info:
        from_yaml(str(recipe))
    assert "\n" not in str(info.value)
    recipe.write_text("do_train: true\nmodel_name_or_path: m\n<<: {learning_rate: 1e-5, seed: 3}\n"
                      "learning_rate: 0.5\n")  # a merge
    args = from_yaml(str(recipe))  # its keys are overridden by the mapping's own, as YAML says
    assert (args.learning_rate, args.seed) == (0.5, 3)


def test_integers_are_read_as_written(tmp_path):
    """YAML 1.1 reads 010 as octal 8 and 1:30 as 90: a zero-padded number is decimal, 1:30 is refused."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("do_train: true\nmodel_name_or_path: m\nseed: 010\nnum_train_epochs: 03\n"
                      "max_steps: -001\nlogging_steps: 0x10\n")
    args = from_yaml(str(recipe))
    assert (args.seed, args.num_train_epochs, args.max_steps, args.logging_steps) == (10, 3.0, -1, 16)
    assert type(args.seed) is int and type(args.num_train_epochs) is float
    with pytest.raises(PaddleRembertError, match="seed must be an integer, got 1:30$"):
        from_yaml(str(recipe), ["seed=1:30"])
    with pytest.raises(PaddleRembertError, match="learning_rate must be a number, got 1:30.5$"):
        from_yaml(str(recipe), ["learning_rate=1:30.5"])



def test_the_global_threads_flag_reaches_the_trainer(monkeypatch):
    """``paddle-rembert --threads N train``: the trainer sets the threads itself, from its arguments."""
    import paddle_rembert.trainer as trainer

    seen = []
    monkeypatch.setattr(trainer, "run", lambda args: seen.append(args.threads))
    config = os.path.join(REPO, "configs", "albert-base-v2_xnli.yaml")
    assert cli_main(["--threads", "1", "train", "--config", config]) == 0
    assert cli_main(["--threads", "1", "train", "--config", config, "threads=2"]) == 0  # the recipe's own wins
    assert cli_main(["train", "--config", config]) == 0
    assert cli_main(["train", "--config", config, "--threads", "1"]) == 0  # after the subcommand too
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        import train as train_script
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(train_script, "run", lambda args: seen.append(args.threads))
    assert train_script.main(["--config", config, "--threads", "1"]) == 0
    assert train_script.main(["--config", config, "--threads", "1", "threads=2"]) == 0
    assert seen == [1, 2, None, 1, 1, 2]


@pytest.mark.parametrize("argv, message", [
    (["convert", "{model}", "{out}", "--to", "torch", "--safetensors"], "--safetensors applies to --to paddle"),
    (["convert", "{model}", "{out}", "--revision", "v2"], "--revision applies to a hub id; {model} is a local"),
    (["export", "{model}", "{out}", "--opset", "13"], "--opset applies to --onnx"),
    (["predict", "{export}", "--text", "river", "--max-answer-length", "3"],
     "--max-answer-length does not apply to {export}, a sequence-classification export"),
])
def test_options_that_cannot_apply_are_refused_not_ignored(argv, message, exports, tmp_path, capsys):
    model, export = exports("albert", "sequence-classification")
    paths = dict(model=model, export=export, out=tmp_path / "out")
    assert cli_main([a.format(**paths) for a in argv]) == 2
    assert message.format(**paths) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

# -- noise ---------------------------------------------------------------------------------------------
def test_commands_do_not_print_the_ccache_warning():
    result = run_cli("--help")
    assert result.returncode == 0 and "convert" in result.stdout
    assert "ccache" not in result.stderr, result.stderr
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"), "--config", "missing.yaml"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "train.py: error: config file not found: missing.yaml"]


def test_export_prints_no_paddle_warnings(deploy_root, tmp_path):
    """stdout is the result line alone (paddle2onnx prints its banner from C++); stderr holds no fixed notices of
    Paddle's or paddle2onnx's, and the command's own warnings still come through."""
    model = make_model_dir(deploy_root, "albert", "feature-extraction")
    result = run_cli("export", model, str(tmp_path / "out"), "--no-verify", "--onnx", "--task", "question-answering")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"exported {model} (question-answering) -> {tmp_path / 'out'} "
                                          "(inference.json, inference.pdiparams, model.onnx)"]
    for noise in ("UserWarning", "ccache", "not support input out tensor", "Paddle2ONNX", "exported"):
        assert noise not in result.stderr, result.stderr
    assert "the question-answering head was not in the checkpoint" in result.stderr
    # an error raised while Paddle traces the model is still one line
    model = make_model_dir(deploy_root, "albert", "sequence-classification")  # three labels
    result = run_cli("export", model, str(tmp_path / "qa"), "--no-verify", "--task", "question-answering")
    assert result.returncode == 2 and result.stderr.splitlines()[-1] == (
        "paddle-rembert export: error: AlbertForQuestionAnswering needs num_labels=2 (start and end logits); its "
        "config has num_labels=3")


def test_predict_in_bf16_prints_no_paddle_log_line(exports, monkeypatch):
    """Paddle Inference logs its bf16 setting (glog INFO) in a process's first predictor, before disable_glog_info()
    takes effect: "... is disabled. Simulation will be used" under PADDLE_REMBERT_BF16=emulate (an AVX-512 CPU
    without AVX512-BF16), "... is enabled" on a bf16 CPU. predict's stderr holds neither."""
    from paddle_rembert.kernels.bf16 import cpu_bf16_mode
    from paddle_rembert.runtime.line_filter import keep

    monkeypatch.setenv("PADDLE_REMBERT_BF16", "emulate")
    out = exports("albert", "sequence-classification")[1]
    result = run_cli("predict", out, "--text", "a river", "--precision", "bf16")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1, result.stderr
    assert not re.search(r"(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d|BFLOAT16", result.stderr), result.stderr
    if cpu_bf16_mode() is not None:  # else it runs in fp32, with our warning saying so
        assert result.stderr == ""
    for state in (b"enabled", b"disabled. Simulation will be used"):
        assert not keep(b"I1128 04:53:14.359194  4734 analysis_config.cc:713] Hardware support for BFLOAT16 is "
                        + state + b"\n")


def test_the_export_output_filter_drops_only_fixed_notices_and_never_blocks(tmp_path):
    """C code that writes more than a pipe holds while keeping Python's lock (ctypes.PyDLL) finishes (a thread
    reading the pipe could not run then); paddle2onnx's errors, other lines and progress redraws pass, in order."""
    script = tmp_path / "writer.py"
    script.write_text(
        "import ctypes, sys\n"
        "from paddle_rembert.cli import quiet_export\n"
        "big = b'y' * 300000 + b'\\n'\n"
        "with quiet_export():\n"
        "    ctypes.PyDLL(None).write(2, big, len(big))\n"
        "    for line in (b'[Paddle2ONNX] Start parsing the Paddle model file...\\n',\n"
        "                 b'[ERROR][Paddle2ONNX] boom\\n', b'W1128 eager_utils.cc:3584] Paddle static graph(PIR) '\n"
        "                 b'not support input out tensor for now!!!!!\\n', b'10%\\r', b'20%\\r', b'kept\\n',\n"
        "                 b'\\x1b[0;93m2026-11-28 [W:onnxruntime:, graph.cc:4502 '\n"
        "                 b'CleanUnusedInitializersAndNodeArgs] '\n"
        "                 b'Removing initializer \\'p2o.pd_op.full.2.0\\'.\\x1b[m\\n'):\n"
        "        ctypes.PyDLL(None).write(1, line, len(line))\n"
        "print('result')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == b"result\n"
    assert done.stderr == b"y" * 300000 + b"\n[ERROR][Paddle2ONNX] boom\n10%\r20%\rkept\n"


# -- debugging, limits, one-line errors ----------------------------------------------------------------------
def test_the_debug_environment_variable_shows_tracebacks(monkeypatch, capsys):
    def fail():
        raise PaddleRembertError("boom")

    for value, traceback in (("1", True), ("yes", True), ("0", False), ("", False), ("false", False)):
        monkeypatch.setenv("PADDLE_REMBERT_DEBUG", value)
        if traceback:
            with pytest.raises(PaddleRembertError):
                run_guarded(fail, "x")
        else:
            assert run_guarded(fail, "x") == 2 and capsys.readouterr().err == "x: error: boom\n"
    monkeypatch.setenv("PADDLE_REMBERT_DEBUG", "1")
    with pytest.raises(PaddleRembertError, match="not found"):  # the command, not only run_guarded
        cli_main(["predict", str(REPO) + "/no-such-export", "--text", "a"])
    monkeypatch.setenv("PADDLE_REMBERT_DEBUG", "0")
    for argv in (["--debug", "predict", str(REPO) + "/no-such-export", "--text", "a"],
                 ["predict", str(REPO) + "/no-such-export", "--text", "a", "--debug"]):  # after the subcommand too
        with pytest.raises(PaddleRembertError, match="not found"):
            cli_main(argv)
    assert cli_main(["predict", str(REPO) + "/no-such-export", "--text", "a"]) == 2


def test_threads_from_the_environment_are_capped(monkeypatch):
    from paddle_rembert.runtime.settings import default_num_threads, max_threads

    monkeypatch.setenv("PADDLE_REMBERT_THREADS", str(max_threads() + 1))
    with pytest.raises(PaddleRembertError, match="PADDLE_REMBERT_THREADS must be at most"):
        default_num_threads()
    monkeypatch.setenv("PADDLE_REMBERT_THREADS", "2")
    assert default_num_threads() == 2


def test_an_empty_text_pair_is_refused(capsys):
    for pair in ("", "  "):
        assert cli_main(["predict", "no-such-export", "--text", "a", "--text-pair", pair]) == 2
        assert capsys.readouterr().err == "paddle-rembert predict: error: --text-pair is empty\n"


def test_strict_loading_names_the_first_keys_in_one_line(tmp_path):
    import paddle_rembert as pr
    from paddle_rembert import testing as T

    backbone = T.write_tiny_model_dir(str(tmp_path / "model"), "albert", T.synthetic_texts(), vocab_size=120)
    with pytest.raises(PaddleRembertError, match=r"does not hold a complete AlbertForSequenceClassification: "
                                                 r"missing in the checkpoint: classifier\.") as info:
        pr.AlbertForSequenceClassification.from_pretrained(backbone, strict=True)
    assert "\n" not in str(info.value)
