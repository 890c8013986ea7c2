"""The benchmark entry point: ``python -m tools.benchmark SUBCOMMAND [options]`` (from the repository root).

  run         one model on every backend (ours, PyTorch, PaddleNLP, Paddle Inference fp32/bf16,
              onnxruntime), train step and forward, side by side (tools/bench/runner.py)
  alternate   two of those backends in one process, call by call in turns, for a machine whose
              speed drifts (tools/bench/alternate.py)
  tokenizers  tokenizer throughput against transformers' slow and fast tokenizers (tools/bench/tokenizers.py)
  training    padding strategies over an epoch, full-size RemBERT step (tools/bench/training.py)
  all         every subcommand above with its defaults (training: padding)

``python -m tools.benchmark SUBCOMMAND --help`` lists a subcommand's options. Output reports
measurements (times and ratios), never verdicts; see docs/benchmarks.md.
"""
import importlib
import os
import sys

if not __package__:  # run as a script (python tools/benchmark.py): the repository root, which holds tools/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.bench.common import guarded, usage_error  # noqa: E402  (imports no framework: threads come first)

PROG = "python -m tools.benchmark"
SUBCOMMANDS = {
    "run": "tools.bench.runner",
    "alternate": "tools.bench.alternate",
    "tokenizers": "tools.bench.tokenizers",
    "training": "tools.bench.training",
}
ALL_ARGS = {"training": ["padding"]}  # what `all` passes to a subcommand that needs arguments


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    choices = ", ".join([*SUBCOMMANDS, "all"])
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not argv:
        return usage_error(PROG, f"a subcommand is required: {choices}")
    name, rest = argv[0], argv[1:]
    if name == "all":
        if rest:
            return usage_error(PROG, "'all' takes no options: it runs each subcommand with its defaults")
        status = 0
        for sub, module in SUBCOMMANDS.items():
            print(f"== {sub}", flush=True)
            status = _run(sub, list(ALL_ARGS.get(sub, []))) or status
        return status
    if name not in SUBCOMMANDS:
        return usage_error(PROG, f"unknown subcommand {name!r}; choose from {choices}")
    return _run(name, rest)


def _run(name, argv):
    return guarded(lambda: importlib.import_module(SUBCOMMANDS[name]).main(argv), f"{PROG} {name}")


if __name__ == "__main__":
    sys.exit(main())
