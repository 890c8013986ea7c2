"""The XNLI / PAWS-X trainer: learning, outputs, selection on dev, distributed equality, resume, AMP."""
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.models import registry
from paddle_rembert.checkpoint.readers import open_checkpoint
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.trainer import TrainingArguments, from_example_flags, from_yaml, run

from .conftest import REPO

MAIN = os.path.join(REPO, "examples", "xnli_pawsx", "main.py")
TINY = dict(hidden_size=32, num_hidden_layers=2, num_hidden_groups=1, inner_group_num=1, num_attention_heads=2,
            intermediate_size=64, embedding_size=16)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    data = T.write_synthetic_xnli(str(root / "data"), num_train=256, num_eval=40, eval_languages=("en", "de", "fr"))
    model = T.write_tiny_model_dir(str(root / "model"), "albert", T.synthetic_texts(), vocab_size=120, **TINY)
    return data, model


def args_for(setup, out, **kw):
    data, model = setup
    values = dict(task="xnli", model_type="albert", model_name_or_path=model, data_dir=data, output_dir=str(out),
                  do_train=True, do_eval=True, device="cpu", max_seq_length=64, learning_rate=3e-3,
                  num_train_epochs=4, train_batch_size=8, eval_batch_size=16, gradient_accumulation_steps=1,
                  warmup_proportion=0.1, eval_step=32, save_steps=32, logging_steps=8, save_total_limit=2)
    values.update(kw)
    return TrainingArguments(**values)


def cli_flags(setup, out, **kw):
    data, model = setup
    flags = dict(task="xnli", model_type="albert", model_name_or_path=model, data_dir=data, output_dir=str(out),
                 device="cpu", max_seq_length=64, learning_rate=3e-3, train_batch_size=8,
                 gradient_accumulation_steps=1, warmup_proportion=0.1, eval_step=1000, save_steps=1000,
                 logging_steps=1)
    flags.update(kw)
    argv = []
    for key, value in flags.items():
        if value is True:
            argv.append(f"--{key}")
        elif value is not False:
            argv += [f"--{key}", str(value)]
    return argv


def weights(directory):
    ckpt = open_checkpoint(str(directory))
    return {k: ckpt.read(k) for k in ckpt.keys()}


def logged_losses(output_dir):
    with open(os.path.join(output_dir, "train.log"), encoding="utf-8") as f:
        return {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"step (\d+): loss ([0-9.]+)", f.read())}


def test_learns_the_synthetic_task_and_writes_every_output(setup, tmp_path):
    out = tmp_path / "run"
    results = run(args_for(setup, out))
    # learnt: the cue word decides the label
    assert results["dev"]["languages"]["en"]["accuracy"] >= 0.9
    assert results["test"]["average_accuracy"] >= 0.9
    # eval_results.json: dev over every dev language, test for the selected checkpoint
    saved = json.loads((out / "eval_results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    for split in ("dev", "test"):
        part = saved[split]
        assert part["task"] == "xnli" and part["split"] == split
        assert list(part["languages"]) == ["en", "de", "fr"]
        assert all(v["num_examples"] == 40 for v in part["languages"].values())
        accs = [v["accuracy"] for v in part["languages"].values()]
        assert part["average_accuracy"] == pytest.approx(sum(accs) / 3)
    selection = json.loads((out / "best" / "selection.json").read_text())
    assert saved["dev"]["step"] == saved["test"]["step"] == selection["step"]
    # predictions: header, one line per example, labels as the files write them, rows traceable
    lines = (out / "predictions_test.tsv").read_text().splitlines()
    assert lines[0] == "language\trow\tgold\tprediction" and len(lines) == 1 + 3 * 40
    first = lines[1].split("\t")
    assert first[0] == "en" and first[1] == "0" and first[2] in T.SYNTHETIC_CUES
    gold_test = [line.split("\t")[1] for line in open(os.path.join(setup[0], "XNLI-1.0", "xnli.test.tsv"))][1:]
    assert [line.split("\t")[2] for line in lines[1:]] == gold_test
    # checkpoints: the last K kept, the final step always, each loadable with id2label and tokenizer
    assert sorted(os.listdir(out)) == sorted(["best", "checkpoint-96", "checkpoint-128", "eval_results.json",
                                              "predictions_dev.tsv", "predictions_test.tsv", "train.log", "vdl"])
    for name in ("checkpoint-128", "best"):
        model = pr.AutoModelForSequenceClassification.from_pretrained(str(out / name), strict=True)
        assert model.config.id2label == {0: "contradiction", 1: "entailment", 2: "neutral"}
        assert os.path.isfile(out / name / "spiece.model")
    assert {"optimizer.pdopt", "rng_state.json", "trainer_state.json"} <= set(os.listdir(out / "checkpoint-128"))
    assert "scaler.pdparams" not in os.listdir(out / "checkpoint-128")  # fp32: no (empty) loss-scaler state
    assert os.listdir(out / "vdl")
    log = (out / "train.log").read_text()
    assert "tokens/s" in log and "dev en accuracy" in log


def test_selection_never_reads_the_test_set(setup, tmp_path):
    """Training and selection run with no test file at all; only the final report needs it."""
    data, model = setup
    import shutil

    no_test = tmp_path / "data"
    shutil.copytree(data, no_test)
    os.remove(no_test / "XNLI-1.0" / "xnli.test.tsv")
    out = tmp_path / "run"
    run(args_for((str(no_test), model), out, do_eval=False, max_steps=40, eval_step=10))
    state = json.loads((out / "checkpoint-40" / "trainer_state.json").read_text())
    scores = [h["score"] for h in state["history"]]
    assert [h["step"] for h in state["history"]] == [10, 20, 30, 40]
    assert state["best_step"] == state["history"][int(np.argmax(scores))]["step"]
    assert json.loads((out / "best" / "selection.json").read_text())["step"] == state["best_step"]
    with pytest.raises(pr.PaddleRembertError, match="xnli.test.tsv"):
        run(args_for((str(no_test), model), out, do_train=False, model_name_or_path=str(out / "best")))


def _launch(argv, nproc=None, env=None, log_dir=None):
    cmd = [sys.executable]
    if nproc:
        cmd += ["-m", "paddle.distributed.launch", "--nproc_per_node", str(nproc), "--log_dir", str(log_dir)]
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd + [MAIN] + argv, capture_output=True, text=True, cwd=str(REPO), env=full_env,
                          timeout=600)


def test_two_processes_with_batch_4_equal_one_process_with_batch_8(setup, tmp_path):
    common = dict(do_train=True, do_eval=True, max_steps=6, gradient_accumulation_steps=2, eval_step=3,
                  save_steps=3)
    one = _launch(cli_flags(setup, tmp_path / "one", train_batch_size=8, **common))
    assert one.returncode == 0, one.stderr[-3000:]
    logs = tmp_path / "launch-logs"
    two = _launch(cli_flags(setup, tmp_path / "two", train_batch_size=4, **common), nproc=2,
                  env={"PADDLE_REMBERT_THREADS": "1"}, log_dir=logs)
    assert two.returncode == 0, "".join(p.read_text()[-3000:] for p in logs.glob("workerlog.*"))
    a, b = weights(tmp_path / "one" / "checkpoint-6"), weights(tmp_path / "two" / "checkpoint-6")
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-5, worst
    changed = max(float(np.abs(a["albert." + k] - w).max()) for k, w in weights(setup[1]).items())
    assert changed > 1e-3  # the runs did train
    for split in ("dev", "test"):
        assert (tmp_path / "one" / f"predictions_{split}.tsv").read_text() == \
            (tmp_path / "two" / f"predictions_{split}.tsv").read_text()
    assert json.loads((tmp_path / "one" / "eval_results.json").read_text()) == \
        json.loads((tmp_path / "two" / "eval_results.json").read_text())
    # only rank 0 wrote: one train.log, no per-rank files
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))
    # no library noise: Paddle's flags banner, its empty-state warning on each save, the ccache warning
    worker_logs = "".join(p.read_text() for p in logs.glob("workerlog.*"))
    for noise in ("Modified FLAGS", "state dict is empty", "ccache"):
        assert noise not in one.stderr and noise not in worker_logs, noise
    # one training row cannot give both processes a row: refused at start-up, before --overwrite_output_dir
    # removes the previous run
    one_row = tmp_path / "one-row"
    shutil.copytree(setup[0], one_row)
    train_file = one_row / "XNLI-MT-1.0" / "multinli" / "multinli.train.en.tsv"
    train_file.write_text("".join(train_file.read_text().splitlines(keepends=True)[:2]))
    before = {p.relative_to(tmp_path): p.stat().st_mtime_ns for p in (tmp_path / "two").rglob("*")}
    again = _launch(cli_flags((str(one_row), setup[1]), tmp_path / "two", train_batch_size=2, overwrite_output_dir=True,
                              **common), nproc=2, env={"PADDLE_REMBERT_THREADS": "1"}, log_dir=tmp_path / "logs-2")
    assert again.returncode == 2
    assert "1 training examples make no batch" in (tmp_path / "logs-2" / "workerlog.0").read_text()
    assert {p.relative_to(tmp_path): p.stat().st_mtime_ns for p in (tmp_path / "two").rglob("*")} == before


def test_resume_after_sigkill_ends_with_the_same_weights(setup, tmp_path):
    """... and logs the same losses: a checkpoint in the middle of a logging window keeps its part of the window."""
    common = dict(do_train=True, max_steps=60, save_steps=4, logging_steps=5, learning_rate=1e-3)
    full = _launch(cli_flags(setup, tmp_path / "full", **common))
    assert full.returncode == 0, full.stderr[-3000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, MAIN] + cli_flags(setup, out, **common), cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoint-8").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "checkpoint-60").exists(), "the run finished before it could be killed"
    resumed = _launch(cli_flags(setup, out, resume=True, **common))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in (out / "train.log").read_text()
    a, b = weights(tmp_path / "full" / "checkpoint-60"), weights(out / "checkpoint-60")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    full_losses, resumed_losses = logged_losses(tmp_path / "full"), logged_losses(out)  # the resumed run's last
    assert sorted(full_losses) == sorted(resumed_losses) == list(range(5, 61, 5))
    assert resumed_losses == full_losses


def test_bf16_autocast_loss_is_finite_and_close_to_fp32(setup, tmp_path):
    run(args_for(setup, tmp_path / "fp32", do_eval=False, max_steps=16, eval_step=100, save_steps=100))
    run(args_for(setup, tmp_path / "bf16", do_eval=False, max_steps=16, eval_step=100, save_steps=100, amp="bf16"))
    fp32, bf16 = logged_losses(tmp_path / "fp32"), logged_losses(tmp_path / "bf16")
    assert fp32.keys() == bf16.keys() == {8, 16}
    for step in fp32:
        assert np.isfinite(bf16[step]) and abs(bf16[step] - fp32[step]) < 0.05 * fp32[step]


def test_bf16_recompute_differentiates_the_bf16_forward(setup, tmp_path):
    """Recompute re-runs each layer in the backward pass, after the forward's autocast block: it must run
    it in bf16 again, or the gradients belong to another forward (recompute changes nothing in fp32)."""
    quick = dict(do_eval=False, max_steps=4, eval_step=100, save_steps=100, amp="bf16")
    run(args_for(setup, tmp_path / "plain", **quick))
    run(args_for(setup, tmp_path / "recompute", recompute=True, **quick))
    plain = paddle.load(str(tmp_path / "plain" / "checkpoint-4" / "model_state.pdparams"))
    recomputed = paddle.load(str(tmp_path / "recompute" / "checkpoint-4" / "model_state.pdparams"))
    for key, value in plain.items():
        np.testing.assert_array_equal(np.asarray(recomputed[key]), np.asarray(value), err_msg=key)


def test_evaluation_reads_the_models_label_order(setup, tmp_path, caplog):
    """A checkpoint fine-tuned elsewhere may order XNLI's labels otherwise (PaddleNLP's: neutral,
    entailment, contradictory): the same classifier with its outputs and id2label permuted gives the same
    predictions; a model of another label count or other names is refused before evaluating."""
    from paddle_rembert.data import get_task
    from paddle_rembert.trainer.evaluate import task_label_map

    data, backbone = setup
    xnli = get_task("xnli")
    model = pr.AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=3,
                                                                  id2label=dict(enumerate(xnli.labels)))
    model.save_pretrained(str(tmp_path / "ours"))
    perm = [2, 1, 0]  # output j of the permuted model is output perm[j] of ours
    model.classifier.weight.set_value(model.classifier.weight.numpy()[:, perm])
    model.classifier.bias.set_value(model.classifier.bias.numpy()[perm])
    names = {"contradiction": "contradictory"}  # XNLI-MT's spelling, as PaddleNLP's example writes it
    model.config.id2label = {j: names.get(xnli.labels[perm[j]], xnli.labels[perm[j]]) for j in range(3)}
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    model.save_pretrained(str(tmp_path / "permuted"))
    predictions = {}
    for name in ("ours", "permuted"):
        pr.AutoTokenizer.from_pretrained(backbone).save_pretrained(str(tmp_path / name))
        run(args_for(setup, tmp_path / f"eval-{name}", model_name_or_path=str(tmp_path / name), do_train=False))
        predictions[name] = (tmp_path / f"eval-{name}" / "predictions_test.tsv").read_text()
    assert predictions["ours"] == predictions["permuted"]
    config = model.config
    assert list(task_label_map(config, xnli, "m")) == perm
    config.id2label = {0: "yes", 1: "no", 2: "maybe"}
    with pytest.raises(pr.PaddleRembertError, match=r"id2label names \['yes', 'no', 'maybe'\], not xnli's labels"):
        task_label_map(config, xnli, "m")
    with pytest.raises(pr.PaddleRembertError, match="m predicts 3 labels .* but paws has 2"):
        task_label_map(config, get_task("paws"), "m")
    config.id2label = {i: f"LABEL_{i}" for i in range(3)}  # placeholders: the task's order is assumed
    assert task_label_map(config, xnli, "m") is None
    # training from the permuted classifier starts from the same one, its outputs put back in the task's order
    from paddle_rembert.trainer.trainer import load_model

    ids = paddle.to_tensor([[2, 5, 9, 11, 3, 7, 8, 3]])
    expected = pr.AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "ours"))(ids).logits.numpy()
    for family_model in ("ours", "permuted"):
        loaded = load_model(args_for(setup, tmp_path / "x", model_name_or_path=str(tmp_path / family_model)), xnli)
        np.testing.assert_allclose(loaded.eval()(ids).logits.numpy(), expected, rtol=0, atol=1e-6)
        assert loaded.config.id2label == dict(enumerate(xnli.labels))
    # PaddleNLP's save_pretrained writes placeholder names, which say nothing of the order: assumed, and said so
    model.config.id2label = {i: f"LABEL_{i}" for i in range(3)}
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    model.save_pretrained(str(tmp_path / "placeholders"))
    logger = logging.getLogger("paddle_rembert")  # runs above set it not to propagate: listen to it directly
    logger.addHandler(caplog.handler)
    try:
        load_model(args_for(setup, tmp_path / "x", model_name_or_path=str(tmp_path / "placeholders")), xnli)
        warned = [r.getMessage() for r in caplog.records if "LABEL_0..2" in r.getMessage()]
        assert len(warned) == 1 and "taken in xnli's order" in warned[0] and "id2label" in warned[0], warned
        caplog.clear()
        load_model(args_for(setup, tmp_path / "x", model_name_or_path=str(tmp_path / "ours")), xnli)
        load_model(args_for(setup, tmp_path / "x", model_name_or_path=backbone), xnli)  # no classifier yet
        assert not [r for r in caplog.records if "LABEL_0" in r.getMessage()]
    finally:
        logger.removeHandler(caplog.handler)
    # evaluation alone says it too (in train.log and on the console)
    pr.AutoTokenizer.from_pretrained(backbone).save_pretrained(str(tmp_path / "placeholders"))
    run(args_for(setup, tmp_path / "eval-placeholders", model_name_or_path=str(tmp_path / "placeholders"),
                 do_train=False))
    assert "names its labels LABEL_0..2, which does not say their order" in _log(tmp_path / "eval-placeholders")


def test_fp16_on_cpu_is_refused(setup, tmp_path):
    with pytest.raises(pr.PaddleRembertError, match="amp fp16 needs a GPU"):
        run(args_for(setup, tmp_path / "run", amp="fp16", do_eval=False, max_steps=2))


def test_paddlenlp_flags_and_yaml_recipes(tmp_path):
    args = from_example_flags(["--model_type", "rembert", "--data_dir", "data/", "--output_dir", "output/",
                               "--device", "cpu", "--learning_rate", "1e-5", "--num_train_epochs", "3",
                               "--train_batch_size", "16", "--eval_batch_size", "32", "--do_train", "--do_eval",
                               "--task", "xnli", "--eval_step", "500", "--max_seq_length", "128",
                               "--gradient_accumulation_steps", "2", "--warmup_proportion", "0.1",
                               "--weight_decay", "0.01", "--seed", "7", "--model_name_or_path", "m",
                               "--train_languages", "en,de", "--select_on", "all", "--amp", "bf16"])
    assert (args.learning_rate, args.train_batch_size, args.eval_step, args.seed) == (1e-5, 16, 500, 7)
    assert args.train_languages == ["en", "de"] and args.select_on == "all" and args.amp == "bf16"
    assert (args.adam_epsilon, args.max_grad_norm, args.group_by_length) == (1e-6, 1.0, True)  # the defaults
    args = from_example_flags(["--task", "paws", "--model_name_or_path", "m", "--do_train", "--adam_epsilon", "1e-8",
                               "--max_grad_norm", "0", "--group_by_length", "false"])
    assert (args.adam_epsilon, args.max_grad_norm, args.group_by_length) == (1e-8, 0.0, False)
    configs = os.path.join(REPO, "configs")
    names = sorted(n for n in os.listdir(configs) if n.endswith(".yaml"))
    covered = set()
    for name in names:
        recipe = from_yaml(os.path.join(configs, name), ["max_steps=10", "train_languages=[en, de]"])
        assert recipe.max_steps == 10 and recipe.train_languages == ["en", "de"]
        assert recipe.task in name.replace("pawsx", "paws") and recipe.model_type in name
        covered.add((recipe.model_type, recipe.task))
        if "XTREME's fine-tuning recipe" in open(os.path.join(configs, name)).read():  # its run_classify.py's
            assert (recipe.adam_epsilon, recipe.weight_decay, recipe.warmup_proportion) == (1e-8, 0.0, 0.0), name
    # every registered family has an XNLI and a PAWS-X recipe
    assert covered >= {(t, task) for t in registry.model_types() for task in ("xnli", "paws")}
    with pytest.raises(pr.PaddleRembertError, match="unknown argument.*lerning_rate"):
        from_yaml(os.path.join(configs, names[0]), ["lerning_rate=1"])
    with pytest.raises(pr.PaddleRembertError, match="amp must be"):
        from_yaml(os.path.join(configs, names[0]), ["amp=fp8"])


def test_user_errors_exit_nonzero_with_the_file_named(setup, tmp_path):
    data, model = setup
    bad = _launch(cli_flags(setup, tmp_path / "x", data_dir=str(tmp_path / "nodata"), do_train=True))
    assert bad.returncode == 2 and "multinli.train.en.tsv" in bad.stderr and "Traceback" not in bad.stderr
    wrong = _launch(cli_flags(setup, tmp_path / "y", model_type="rembert", do_train=True))
    assert wrong.returncode == 2 and "model_type rembert but" in wrong.stderr
    assert "holds a model of type albert" in wrong.stderr
    assert not (tmp_path / "y").exists()  # found at start-up, before output_dir and its train.log were made


# -- hardening: output_dir reuse, resume, lengths, start-up checks ---------------------------------------
def _log(out):
    return (out / "train.log").read_text()


def test_a_non_empty_output_dir_needs_resume_or_overwrite(setup, tmp_path):
    out = tmp_path / "run"
    quick = dict(do_eval=False, max_steps=4, eval_step=2, save_steps=4)
    run(args_for(setup, out, **quick))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(pr.PaddleRembertError, match="output_dir .* is not empty.*--overwrite_output_dir"):
        run(args_for(setup, out, **quick))
    run(args_for(setup, out, overwrite_output_dir=True, **dict(quick, max_steps=2, save_steps=2)))
    assert sorted(os.listdir(out)) == ["best", "checkpoint-2", "notes.txt", "train.log", "vdl"]
    assert "step 4" not in _log(out)  # the previous run's log went with its outputs
    with pytest.raises(pr.PaddleRembertError, match="contradict"):
        run(args_for(setup, out, overwrite_output_dir=True, resume=True, **quick))


def test_overwrite_keeps_the_previous_run_when_the_new_one_cannot_start(setup, tmp_path, capfd):
    import glob

    data, backbone = setup
    out = tmp_path / "run"
    quick = dict(do_eval=False, max_steps=2, eval_step=2, save_steps=2)
    run(args_for(setup, out, **quick))
    before = sorted(os.listdir(out))
    bad = tmp_path / "bad-data"
    shutil.copytree(data, bad)
    train_file = sorted(glob.glob(str(bad / "**" / "*train*"), recursive=True))[0]
    with open(train_file, encoding="utf-8") as f:
        rows = f.read().split("\n")
    with open(train_file, "w", encoding="utf-8") as f:
        f.write("\n".join(["wrong\theader\there"] + rows[1:]))
    with pytest.raises(pr.PaddleRembertError, match="wrong header"):
        run(args_for(setup, out, data_dir=str(bad), overwrite_output_dir=True, **quick))
    assert sorted(os.listdir(out)) == before  # read before anything was removed
    # a classifier of another task (two labels for xnli's three) is replaced, with a warning, not refused
    # (its multi-label loss goes with it: xnli trains with cross-entropy)
    paws_like = pr.AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=2,
                                                                      problem_type="multi_label_classification")
    paws_like.save_pretrained(str(tmp_path / "two-labels"))
    pr.AutoTokenizer.from_pretrained(backbone).save_pretrained(str(tmp_path / "two-labels"))
    capfd.readouterr()
    run(args_for(setup, tmp_path / "from-two", model_name_or_path=str(tmp_path / "two-labels"), **quick))
    replaced = "classifies 2 labels, xnli has 3: its classifier is replaced by a new one"
    assert replaced in capfd.readouterr().err and replaced in _log(tmp_path / "from-two")  # train.log has it too
    assert "loading AlbertForSequenceClassification" in _log(tmp_path / "from-two")
    saved = json.loads((tmp_path / "from-two" / "best" / "config.json").read_text())
    assert saved["problem_type"] == "single_label_classification"


def test_a_run_that_stopped_at_start_up_does_not_block_the_next(setup, tmp_path):
    out = tmp_path / "run"
    quick = dict(do_eval=False, max_steps=2, eval_step=2, save_steps=2)
    with pytest.raises(pr.PaddleRembertError, match="select_on 'fr-ca' is not a dev language of xnli"):
        run(args_for(setup, out, select_on="fr-ca", **quick))
    assert not out.exists()  # refused before anything was written, not after tokenizing the training set
    out.mkdir()
    (out / "train.log").write_text("a run that stopped before training\n")  # what a late start-up error leaves
    run(args_for(setup, out, **quick))
    assert "checkpoint-2" in os.listdir(out)
    assert _log(out).startswith("a run that stopped before training")  # kept: this run's log follows it


def test_training_refuses_an_output_dir_holding_its_starting_model(setup, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(setup[1], out / "best")
    for flags in ({}, {"overwrite_output_dir": True}, {"resume": True}):
        with pytest.raises(pr.PaddleRembertError, match="inside output_dir"):
            run(args_for(setup, out, model_name_or_path=str(out / "best"), do_eval=False, max_steps=2, **flags))
    assert sorted(os.listdir(out / "best")) == sorted(os.listdir(setup[1]))


def test_resume_warns_when_nothing_is_left_and_skips_a_corrupt_newest_checkpoint(setup, tmp_path):
    out = tmp_path / "run"
    quick = dict(do_eval=False, eval_step=4, save_steps=4, save_total_limit=3)
    run(args_for(setup, out, max_steps=8, **quick))
    run(args_for(setup, out, max_steps=8, resume=True, **quick))
    assert "is at step 8 of this run's 8: nothing is left to train" in _log(out)
    weights_file = out / "checkpoint-8" / "model_state.pdparams"
    weights_file.write_bytes(weights_file.read_bytes()[:100])  # a write cut short
    run(args_for(setup, out, max_steps=8, resume=True, **quick))
    log = _log(out)
    assert "checkpoint-8 cannot be loaded" in log and f"resumed from {out / 'checkpoint-4'} at step 4" in log
    assert json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())["global_step"] == 8
    # more steps would stretch the learning-rate schedule (and its warm-up) under the steps already taken
    for steps in ({"max_steps": 12}, {"max_steps": -1, "num_train_epochs": 3}):
        with pytest.raises(pr.PaddleRembertError, match=r"cannot resume: .*total_steps: checkpoint 8, now \d+"):
            run(args_for(setup, out, resume=True, **quick, **steps))


def test_max_seq_length_beyond_the_position_table_is_clamped_at_start_up(setup, tmp_path):
    data, _ = setup
    model = T.write_tiny_model_dir(str(tmp_path / "short-model"), "albert", T.synthetic_texts(), vocab_size=120,
                                   max_position_embeddings=12, **TINY)
    out = tmp_path / "run"
    results = run(args_for((data, model), out, max_seq_length=64, max_steps=2, eval_step=2, save_steps=2))
    assert "max_seq_length 64 is more than" in _log(out) and "using 12" in _log(out)
    assert results["test"]["languages"]["en"]["num_examples"] == 40


def test_missing_evaluation_files_are_found_before_training(setup, tmp_path):
    import shutil

    data, model = setup
    no_test = tmp_path / "data"
    shutil.copytree(data, no_test)
    os.remove(no_test / "XNLI-1.0" / "xnli.test.tsv")
    out = tmp_path / "run"
    with pytest.raises(pr.PaddleRembertError, match="xnli.test.tsv"):
        run(args_for((str(no_test), model), out, max_steps=2))
    assert not out.exists()  # nothing trained, nothing written


def test_gpu_on_a_cpu_only_wheel_is_a_clear_error(setup, tmp_path):
    if paddle.device.is_compiled_with_cuda():  # pragma: no cover - the CI wheel is the CPU one
        pytest.fail("this test expects the CPU wheel of PaddlePaddle")
    with pytest.raises(pr.PaddleRembertError, match="CPU-only"):
        run(args_for(setup, tmp_path / "run", device="gpu"))


def test_resume_replays_the_dropout_masks(setup, tmp_path):
    """With dropout on, a resumed run equals an uninterrupted one only if the RNG state comes back too."""
    import shutil

    data, _ = setup
    model = T.write_tiny_model_dir(str(tmp_path / "model"), "albert", T.synthetic_texts(), vocab_size=120, **TINY,
                                   hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                                   classifier_dropout_prob=0.1)
    quick = dict(model_name_or_path=model, do_eval=False, max_steps=8, save_steps=4, eval_step=100,
                 save_total_limit=5)
    run(args_for(setup, tmp_path / "full", **quick))
    (tmp_path / "resumed").mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-4", tmp_path / "resumed" / "checkpoint-4")
    paddle.seed(12345)  # the process's generator elsewhere: only the checkpoint's state can put it back
    run(args_for(setup, tmp_path / "resumed", resume=True, **quick))
    a, b = weights(tmp_path / "full" / "checkpoint-8"), weights(tmp_path / "resumed" / "checkpoint-8")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_no_weight_decay_on_biases_and_layer_norms_as_transformers_recipes():
    from paddle_rembert.trainer.optim import no_decay_names

    for family in ("albert", "bert", "roberta", "rembert", "electra"):
        model = pr.AutoModelForSequenceClassification.from_config(
            pr.AutoConfig.for_model(family, **registry.get(family).tiny_config))
        exclude = no_decay_names(model)
        names = {n for n, p in model.named_parameters() if p.name in exclude}
        expected = {n for n, _ in model.named_parameters()
                    if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n}
        assert names == expected and any("LayerNorm.weight" in n for n in names), family


def test_the_schedule_is_transformers_linear_warmup_and_decay():
    from transformers import get_linear_schedule_with_warmup
    import torch

    from paddle_rembert.trainer.optim import linear_schedule

    for total, warmup in ((10, 3), (7, 0), (5, 5)):
        ours = linear_schedule(1.0, total, warmup)
        theirs = get_linear_schedule_with_warmup(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                                                 warmup, total)
        for step in range(total + 1):
            assert ours.get_lr() == pytest.approx(theirs.get_last_lr()[0], abs=1e-12), (total, warmup, step)
            ours.step()
            theirs.optimizer.step()
            theirs.step()


@pytest.mark.parametrize("examples", [14, 10])
def test_accumulated_micro_batches_weigh_by_their_examples(setup, tmp_path, examples):
    """Batch 4 x 2 accumulation against batch 8. 14 examples: steps of 4+4 and 4+2, whose micro-batches must
    weigh by their examples; 10 examples: 4+4 and a last step of one micro-batch, which must not be dropped."""
    data = T.write_synthetic_xnli(str(tmp_path / "data"), num_train=examples, num_eval=4)
    common = dict(data_dir=data, do_eval=False, num_train_epochs=1, save_steps=100, eval_step=100,
                  warmup_proportion=0.0, learning_rate=1e-2, group_by_length=False)  # the same rows per step
    run(args_for(setup, tmp_path / "accumulated", train_batch_size=4, gradient_accumulation_steps=2, **common))
    run(args_for(setup, tmp_path / "whole", train_batch_size=8, gradient_accumulation_steps=1, **common))
    a, b = weights(tmp_path / "accumulated" / "checkpoint-2"), weights(tmp_path / "whole" / "checkpoint-2")
    start = weights(setup[1])
    before = start["embeddings.word_embeddings.weight"]  # the backbone's keys, without "albert."
    assert not np.allclose(before, b["albert.embeddings.word_embeddings.weight"])  # it trained
    for key in b:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


def test_a_tie_on_dev_keeps_the_earlier_checkpoint(setup, tmp_path):
    """A learning rate too small to change a prediction: every evaluation ties, and the first one stays best."""
    out = tmp_path / "run"
    run(args_for(setup, out, learning_rate=1e-12, max_steps=6, eval_step=2, save_steps=100))
    scores = re.findall(r"step (\d+): dev en accuracy ([0-9.]+)", (out / "train.log").read_text())
    assert [int(s) for s, _ in scores] == [2, 4, 6] and len({a for _, a in scores}) == 1
    assert json.loads((out / "best" / "selection.json").read_text())["step"] == 2


def test_resume_keeps_a_best_model_newer_than_its_checkpoint_and_rewrites_a_missing_one(setup, tmp_path):
    """A new best is written at once, the checkpoint only every save_steps: a run stopped in between resumes
    from an older checkpoint, and best/ must still be the score to beat; a run whose best/ is gone must write
    it again."""
    out = tmp_path / "run"
    quick = dict(do_eval=False, eval_step=4, save_steps=4, save_total_limit=3)
    run(args_for(setup, out, max_steps=8, **quick))
    shutil.rmtree(out / "checkpoint-8")  # stopped after best/ was written at step 8, before checkpoint-8
    selection = json.loads((out / "best" / "selection.json").read_text())
    selection.update(step=8, score=2.0)  # a score no evaluation reaches
    (out / "best" / "selection.json").write_text(json.dumps(selection))
    weights = (out / "best" / "model_state.pdparams").read_bytes()
    run(args_for(setup, out, max_steps=8, resume=True, **quick))
    log = _log(out)
    assert "best/ holds step 8" in log and "(best 2.0000 at step 8)" in log
    assert (out / "best" / "model_state.pdparams").read_bytes() == weights  # not replaced by a worse model
    shutil.rmtree(out / "best")
    shutil.rmtree(out / "checkpoint-8")
    run(args_for(setup, out, max_steps=8, resume=True, **quick))
    assert "has no readable best/" in _log(out)
    assert json.loads((out / "best" / "selection.json").read_text())["step"] == 8


# -- inputs that must fail at start-up, in one line -----------------------------------------------------
def test_bad_recipes_and_overrides_are_one_line_errors(tmp_path):
    config = os.path.join(REPO, "configs", "albert-base-v2_xnli.yaml")
    cases = [(["seed=-1"], "seed must be an integer from 0 to 2\\*\\*32 - 1"),
             (["seed=99999999999999999999"], "seed must be an integer"),
             (["learning_rate=[1,"], "override 'learning_rate=\\[1,': the value is not valid YAML"),
             (["threads=1000000"], "threads must be at most"),
             (["model_type=gpt2"], "model_type must be one of albert, bert, electra, rembert, roberta, got 'gpt2'")]
    for overrides, message in cases:
        with pytest.raises(PaddleRembertError, match=message) as info:
            from_yaml(config, overrides)
        assert "\n" not in str(info.value)
    for name, text, message in [("syntax.yaml", "task: xnli\n  bad: [", "is not valid YAML: .*line 2"),
                                ("mixed.yaml", "1: 2\nfoo: 3\n", r"unknown argument\(s\) \['1', 'foo'\]"),
                                ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n", "is not valid YAML")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(PaddleRembertError, match=message) as info:
            from_yaml(str(tmp_path / name))
        assert "\n" not in str(info.value)


def test_evaluation_files_are_read_before_training(setup, tmp_path):
    """A header-only or broken test file, and a max_seq_length with no room for text, fail before any output."""
    data, model = setup
    for case in ("header-only", "bad-label"):
        broken = tmp_path / case
        shutil.copytree(data, broken)
        test_file = next(broken.rglob("xnli.test.tsv"))
        lines = test_file.read_text(encoding="utf-8").splitlines(keepends=True)
        if case == "header-only":
            test_file.write_text(lines[0], encoding="utf-8")
        else:
            fields = lines[2].rstrip("\n").split("\t")
            fields[1] = "maybe"  # gold_label
            lines[2] = "\t".join(fields) + "\n"
            test_file.write_text("".join(lines), encoding="utf-8")
        out = tmp_path / f"out-{case}"
        message = "has no rows, only its header" if case == "header-only" else r"xnli.test.tsv:3: label 'maybe'"
        with pytest.raises(PaddleRembertError, match=message):
            run(args_for((str(broken), model), out, max_steps=2))
        assert not out.exists()
    with pytest.raises(PaddleRembertError, match="max_seq_length 3 leaves no room for text"):
        run(args_for(setup, tmp_path / "short", max_seq_length=3, max_steps=2))
    assert not (tmp_path / "short").exists()


def test_each_evaluation_split_is_read_once(setup, tmp_path, monkeypatch):
    """The rows checked at start-up are the ones evaluated: dev and test are not read again."""
    from paddle_rembert.data.tasks import XnliTask

    reads = []
    real = XnliTask._read_eval
    monkeypatch.setattr(XnliTask, "_read_eval", lambda self, *a: (reads.append(a[1]), real(self, *a))[1])
    results = run(args_for(setup, tmp_path / "run", max_steps=2, eval_step=2, save_steps=2, select_on="de"))
    assert sorted(reads) == ["dev", "test"]
    assert set(results["dev"]["languages"]) == {"en", "de", "fr"}  # selection on de; evaluation on every language


def test_a_damaged_trainer_state_or_selection_is_named(setup, tmp_path):
    out = tmp_path / "run"
    run(args_for(setup, out, do_eval=False, max_steps=4, eval_step=2, save_steps=2, save_total_limit=1))
    checkpoints = sorted(out.glob("checkpoint-*"))
    state_file = checkpoints[-1] / "trainer_state.json"
    state = json.loads(state_file.read_text())
    for damage in ("x", dict(state, global_step="2"), {k: v for k, v in state.items() if k != "sampler"}):
        state_file.write_text(json.dumps(damage))
        with pytest.raises(PaddleRembertError, match="none of the checkpoints .* can be loaded"):
            run(args_for(setup, out, do_eval=False, max_steps=6, eval_step=2, save_steps=2, resume=True))
    best = tmp_path / "best"
    shutil.copytree(out / "best", best)
    (best / "selection.json").write_text("{}")
    results = run(args_for(setup, tmp_path / "eval", do_train=False, model_name_or_path=str(best)))
    assert set(results) == {"dev", "test"}  # the step is only reported: it is left out


def test_a_language_only_one_evaluation_split_has_is_shown_as_missing(setup, tmp_path):
    """A test file without German rows: the run ends with its results, German test accuracy shown as '-' (the
    results table raised KeyError after training)."""
    data, model = setup
    partial = tmp_path / "data"
    shutil.copytree(data, partial)
    test_file = next(partial.rglob("xnli.test.tsv"))
    lines = test_file.read_text(encoding="utf-8").splitlines(keepends=True)
    test_file.write_text("".join(lines[:1] + [line for line in lines[1:] if not line.startswith("de\t")]),
                         encoding="utf-8")
    out = tmp_path / "run"
    results = run(args_for((str(partial), model), out, max_steps=2, eval_step=2, save_steps=2))
    assert set(results["dev"]["languages"]) == {"en", "de", "fr"} and set(results["test"]["languages"]) == {"en", "fr"}
    log = (out / "train.log").read_text(encoding="utf-8")
    assert re.search(r"\nde +\d+\.\d\d +-\n", log), log[-600:]


def test_a_tokenizer_with_more_ids_than_the_model_is_refused_at_start_up(setup, tmp_path):
    """Another model's tokenizer (or a padding token missing from the vocabulary) would fail in the first batch."""
    data, model = setup
    bigger = tmp_path / "model"
    shutil.copytree(model, bigger)
    (bigger / "special_tokens_map.json").write_text('{"pad_token": "<not-in-the-vocabulary>"}', encoding="utf-8")
    out = tmp_path / "run"
    vocab = json.loads((bigger / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    with pytest.raises(PaddleRembertError, match=rf"the tokenizer in .*model has {vocab + 1} token ids, but the "
                                                 rf"model's vocab_size is {vocab}"):
        run(args_for((data, str(bigger)), out, max_steps=2))
    assert not out.exists()


def test_resume_refuses_settings_that_change_the_optimizer_steps(setup, tmp_path):
    """A learning rate or an accumulation count other than the interrupted run's would not continue it: refused
    before any step, naming each; the checkpoint's own settings resume."""
    out = tmp_path / "run"
    quick = dict(do_eval=False, eval_step=4, save_steps=4, save_total_limit=3)
    run(args_for(setup, out, max_steps=8, **quick))
    shutil.rmtree(out / "checkpoint-8")  # as if stopped after step 4
    saved = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["optimization"]
    assert saved["learning_rate"] == 3e-3 and saved["gradient_accumulation_steps"] == 1
    with pytest.raises(PaddleRembertError, match=r"cannot resume: the training would differ from the interrupted "
                                                 r"run's \(learning_rate: checkpoint 0.003, now 0.5; "
                                                 r"gradient_accumulation_steps: checkpoint 1, now 2\)"):
        run(args_for(setup, out, max_steps=8, resume=True, learning_rate=0.5, gradient_accumulation_steps=2, **quick))
    with pytest.raises(PaddleRembertError, match=r"\(select_on: checkpoint 'en', now 'all'\)"):
        run(args_for(setup, out, max_steps=8, resume=True, select_on="all", **quick))  # its best: on English
    assert not (out / "checkpoint-8").exists()
    run(args_for(setup, out, max_steps=8, resume=True, **quick))
    assert json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())["global_step"] == 8


def test_a_finished_run_resumed_without_its_best_model_selects_one_again(setup, tmp_path):
    out = tmp_path / "run"
    run(args_for(setup, out, max_steps=4, eval_step=2, save_steps=4))
    shutil.rmtree(out / "best")
    results = run(args_for(setup, out, max_steps=4, eval_step=2, save_steps=4, resume=True))
    assert json.loads((out / "best" / "selection.json").read_text())["step"] == 4  # no step was left to train
    assert results and (out / "eval_results.json").is_file()


def test_resume_names_another_tasks_checkpoint(setup, tmp_path):
    """An XNLI run's output_dir resumed as PAWS-X: refused for its labels, not reported as undamaged-but-unloadable
    checkpoints with a hint about an option the trainer does not have."""
    out = tmp_path / "run"
    run(args_for(setup, out, do_eval=False, max_steps=2, eval_step=2, save_steps=2))
    data = os.path.join(REPO, "tests", "fixtures", "real-format", "pawsx")  # real PAWS-X rows
    with pytest.raises(PaddleRembertError, match=r"cannot resume: .*checkpoint-2 was trained for the labels "
                                                 r"\['contradiction', 'entailment', 'neutral'\], this task has "
                                                 r"\['0', '1'\]: it holds another task's run"):
        run(args_for((data, setup[1]), out, task="pawsx", do_eval=False, max_steps=4, resume=True))


@pytest.mark.parametrize("damage", ["reshape", "drop-half", "drop-all"])
def test_resume_falls_back_from_a_damaged_optimizer_state(setup, tmp_path, damage):
    """A moment of the wrong shape failed at the first step; moments missing failed there too, or (all of them)
    restarted from zero without a word. Each is found at load, and the previous checkpoint resumes."""
    out = tmp_path / "run"
    quick = dict(do_eval=False, eval_step=2, save_steps=2, save_total_limit=3)
    run(args_for(setup, out, max_steps=6, **quick))
    shutil.rmtree(out / "checkpoint-6")  # as if stopped after step 4
    path = out / "checkpoint-4" / "optimizer.pdopt"
    state = paddle.load(str(path))  # the test's own file: paddle.load is fine here
    moments = sorted(k for k in state if "_moment" in k)
    assert moments
    if damage == "reshape":
        state[moments[0]] = paddle.zeros([1] + list(state[moments[0]].shape))
        reason = f"{moments[0]} has shape"
    else:
        for key in moments[::2] if damage == "drop-half" else moments:
            del state[key]
        reason = "lacks"
    paddle.save(state, str(path))
    run(args_for(setup, out, max_steps=6, resume=True, **quick))
    log = _log(out)
    assert "checkpoint-4 cannot be loaded" in log and reason in log, log[-2000:]
    assert f"resumed from {out / 'checkpoint-2'} at step 2" in log


def test_evaluation_alone_of_a_backbone_is_refused_before_any_output(setup, tmp_path):
    """It failed when loading the model for the final evaluation, after output_dir and train.log were made."""
    out = tmp_path / "run"
    with pytest.raises(PaddleRembertError, match=r"holds AlbertModel \(its config.json\), not a sequence classifier "
                                                 r"fine-tuned for xnli"):
        run(args_for(setup, out, do_train=False, do_eval=True))
    assert not out.exists()


def test_start_up_errors_name_what_the_user_set(setup, tmp_path, capfd):
    """A wrong model_name_or_path is reported as the model's (the tokenizer used to be read first), and a bad
    training file is the only line printed (the model's loading report used to come first)."""
    data, model = setup
    for path, message in ((str(tmp_path / "nomodel"), f"model directory not found: {tmp_path / 'nomodel'}$"),
                          (data, f"{data} holds no config.json: not a model directory")):
        with pytest.raises(PaddleRembertError, match=message):
            run(args_for(setup, tmp_path / "out", model_name_or_path=path))
    bad_data = tmp_path / "data"
    shutil.copytree(data, bad_data)
    train_file = next(bad_data.rglob("multinli.train.en.tsv"))
    train_file.write_text("not\ta\theader\n")
    capfd.readouterr()
    with pytest.raises(PaddleRembertError, match="multinli.train.en.tsv"):
        run(args_for(setup, tmp_path / "out2", data_dir=str(bad_data)))
    assert "newly initialised" not in capfd.readouterr().err


def test_records_held_at_start_up_come_once_in_the_log_format_before_its_error(setup, tmp_path):
    """tools/train.py sets up no logging of its own: the records held for train.log came, when start-up then failed,
    through the root logger in Paddle's format ("[date] [    INFO] tsv.py:154 - read ..."). They come once, as the
    run would have logged them, before the error; a file none of whose rows can be trained on is the error alone
    (the error holds its report)."""
    data, model = setup
    bad = tmp_path / "data"
    shutil.copytree(data, bad)
    english = next(bad.rglob("multinli.train.en.tsv"))
    german = english.with_name("multinli.train.de.tsv")
    german.write_text("wrong\theader\there\n", encoding="utf-8")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps(dict(task="xnli", model_type="albert", model_name_or_path=model, data_dir=str(bad),
                                      output_dir=str(tmp_path / "out"), do_train=True, device="cpu",
                                      max_seq_length=64, train_batch_size=8)), encoding="utf-8")

    def train(*overrides):
        done = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"), "--config", str(recipe),
                               *overrides], capture_output=True, text=True, cwd=str(REPO), timeout=600)
        assert done.returncode == 2, done.stderr[-3000:]
        return done.stderr.splitlines()

    read, error = train("train_languages=[en, de]")
    assert re.fullmatch(rf"\d\d:\d\d:\d\d INFO paddle_rembert\.data: read {re.escape(str(english))} \[en\]: kept "
                        r"(\d+) of \1 rows", read), read
    assert error.startswith(f"train.py: error: {german}:1: wrong header for the XNLI-MT training file"), error
    english.write_text("premise\thypo\tlabel\nno tabs here\nnor here\n", encoding="utf-8")
    assert train() == [f"train.py: error: {english}: none of its 2 rows can be trained on ({english} [en]: kept 0 of "
                       f"2 rows; skipped 2: 2 with wrong number of columns (lines 2, 3))"]
    assert not (tmp_path / "out").exists()
