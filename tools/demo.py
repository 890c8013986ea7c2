"""``make demo``: the main job end to end on the embedded sample, offline, in a few minutes on 2 cores.

1. convert   examples/demo/checkpoint (transformers PyTorch layout) -> Paddle
2. fine-tune on the real-format XNLI sample under paddle.distributed.launch, 2 processes
3. evaluate  the dev-selected checkpoint per language (dev and test)
4. export    it to a static Paddle Inference model
5. predict   a few pairs with the exported model

The checkpoint is a tiny random RemBERT and the sample has 4 training rows: the accuracies it
prints show that the pipeline runs, and mean nothing about RemBERT. README.md shows the same flow
with google/rembert and the full data sets.
"""
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "examples", "demo")
if not __package__:  # run as a script (make demo): the repository root, which holds tools/
    sys.path.insert(0, REPO)

from tools.bench.common import ArgumentParser, count  # noqa: E402  (the package's one-line usage errors)


def _quiet_paddle_import(environ):
    """``environ`` with Paddle's ccache warning hidden in the children: Paddle's launcher imports Paddle
    itself, before any of our code could hide it."""
    hide = "ignore:No ccache found:UserWarning"
    return dict(environ, PYTHONWARNINGS=",".join(filter(None, [environ.get("PYTHONWARNINGS"), hide])))


def step(title, cmd, env=None, stdout=None):
    print(f"\n=== {title}\n$ {' '.join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in cmd)}",
          flush=True)
    start = time.time()
    result = subprocess.run(cmd, cwd=REPO, env=dict(_quiet_paddle_import(os.environ), **(env or {})), stdout=stdout)
    if result.returncode != 0:
        sys.exit(f"demo step '{title}' failed with exit status {result.returncode}")
    print(f"--- {title}: {time.time() - start:.1f} s", flush=True)


MARKER = ".paddle-rembert-demo"  # in every output directory of the demo: only such a directory is replaced
OUTPUTS = {"rembert-paddle", "xnli", "launch_logs", "export", "pairs.tsv", "predictions.jsonl"}  # what it writes


def prepare_output(out):
    """Empty ``out`` for a new run: it may be missing, empty, or an earlier output of the demo (with
    :data:`MARKER`, or, from before the marker, nothing but :data:`OUTPUTS`); anything else is the user's, and is
    refused."""
    if os.path.lexists(out) and not os.path.isdir(out):
        sys.exit(f"demo: --out {out} is a file; give a directory")
    entries = set(os.listdir(out)) if os.path.isdir(out) else set()
    if entries and MARKER not in entries and not entries <= OUTPUTS:
        sys.exit(f"demo: --out {out} is not empty and is not an earlier demo output; give a new directory "
                 "(the demo replaces only its own)")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with open(os.path.join(out, MARKER), "w", encoding="utf-8") as f:
        f.write("written by tools/demo.py, which replaces this directory on its next run\n")


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "demo_output"),
                        help="output directory: new, empty, or an earlier demo output (replaced)")
    parser.add_argument("--nproc", type=count(), default=2, help="training processes (default 2)")
    args = parser.parse_args(argv)
    out = os.path.realpath(args.out)  # the steps run in the repository: a relative path would land there
    prepare_output(out)
    py = sys.executable
    cli = [py, "-m", "paddle_rembert"]
    paddle_model = os.path.join(out, "rembert-paddle")
    run_dir = os.path.join(out, "xnli")
    export_dir = os.path.join(out, "export")
    started = time.time()

    step("1. convert the transformers checkpoint", cli + ["convert", os.path.join(DEMO, "checkpoint"), paddle_model])
    step(f"2+3. fine-tune on {args.nproc} processes, select on English dev, evaluate every language",
         [py, "-m", "paddle.distributed.launch", "--nproc_per_node", str(args.nproc), "--log_dir",
          os.path.join(out, "launch_logs"), os.path.join(REPO, "examples", "xnli_pawsx", "main.py"),
          "--task", "xnli", "--model_type", "rembert", "--model_name_or_path", paddle_model,
          "--data_dir", os.path.join(DEMO, "data", "xnli"), "--output_dir", run_dir, "--device", "cpu",
          "--do_train", "--do_eval", "--num_train_epochs", "3", "--train_batch_size", "2",
          "--gradient_accumulation_steps", "1", "--learning_rate", "1e-3", "--warmup_proportion", "0.0",
          "--max_seq_length", "128", "--eval_step", "1", "--save_steps", "1", "--logging_steps", "1"],
         env={"PADDLE_REMBERT_THREADS": "1"})
    step("4. export the selected checkpoint", cli + ["export", os.path.join(run_dir, "best"), export_dir])
    pairs = os.path.join(out, "pairs.tsv")
    with open(pairs, "w", encoding="utf-8") as f:
        f.write("The cat sat on the mat.\tA cat is sitting.\n")
        f.write("Il pleut depuis ce matin.\tLe soleil brille.\n")
        f.write("他今天没有来上班。\t他今天在办公室。\n")
    predictions = os.path.join(out, "predictions.jsonl")
    with open(predictions, "w", encoding="utf-8") as f:
        step("5. predict with the exported model", cli + ["predict", export_dir, "--input-file", pairs], stdout=f)

    with open(os.path.join(run_dir, "eval_results.json"), encoding="utf-8") as f:
        results = json.load(f)
    print("\nAccuracy per language of the checkpoint selected on English dev (step "
          f"{results['dev']['step']}):")
    print(f"{'language':<10}{'dev':>8}{'test':>8}   (examples dev/test)")
    for lang in results["dev"]["languages"]:
        dev, test = results["dev"]["languages"][lang], results["test"]["languages"][lang]
        print(f"{lang:<10}{100 * dev['accuracy']:8.1f}{100 * test['accuracy']:8.1f}   "
              f"({dev['num_examples']}/{test['num_examples']})")
    print(f"{'average':<10}{100 * results['dev']['average_accuracy']:8.1f}"
          f"{100 * results['test']['average_accuracy']:8.1f}")
    print("\nPredictions of the exported model:")
    with open(pairs, encoding="utf-8") as f_in, open(predictions, encoding="utf-8") as f_out:
        for pair, line in zip(f_in, f_out):
            pred = json.loads(line)
            print(f"  {pair.strip()!r:60} -> {pred['label']} ({pred['score']:.2f})")
    print("\nNOTE: this is a tiny RANDOM RemBERT fine-tuned on 4 sample rows: the accuracies above show that "
          "the pipeline\nruns end to end; they say nothing about RemBERT. See README.md to run the same flow with "
          "google/rembert\nand the full XNLI / PAWS-X data.")
    print(f"\nDemo finished in {time.time() - started:.0f} s; everything is in {os.path.relpath(out)}/")


if __name__ == "__main__":
    main()
