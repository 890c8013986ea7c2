#!/usr/bin/env python
"""The benchmark entry point: ``tools/benchmark.py SUBCOMMAND [options]``.

  model       our ALBERT/RemBERT vs transformers (PyTorch) and PaddleNLP: train step and forward
  tokenizers  tokenizer throughput (tools/bench/tokenizers.py)
  inference   inference paths (tools/bench/inference.py)
  training    padding strategies over an epoch, full-size RemBERT step (tools/bench/training.py)
  all         every subcommand above that is available, with its defaults (training: padding)

``tools/benchmark.py SUBCOMMAND --help`` lists a subcommand's options. See docs/benchmarks.md.
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # makes tools/bench importable as `bench`

SUBCOMMANDS = {"model": "bench.models", "tokenizers": "bench.tokenizers", "inference": "bench.inference",
               "training": "bench.training"}
ALL_ARGS = {"training": ["padding"]}  # what `all` passes to a subcommand that needs arguments


def _load(name):
    """The subcommand's module, or None when it has not been written yet."""
    try:
        return importlib.import_module(SUBCOMMANDS[name])
    except ModuleNotFoundError as exc:
        if exc.name != SUBCOMMANDS[name]:
            raise
        return None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        if rest:
            print("'all' takes no options: it runs each subcommand with its defaults", file=sys.stderr)
            return 2
        status = 0
        for sub in SUBCOMMANDS:
            module = _load(sub)
            if module is None:
                print(f"== {sub}: not available yet (tools/bench/{SUBCOMMANDS[sub].split('.')[1]}.py missing), skipped")
                continue
            print(f"== {sub}", flush=True)
            status = module.main(list(ALL_ARGS.get(sub, []))) or status
        return status
    if name not in SUBCOMMANDS:
        print(f"unknown subcommand {name!r}; choose from {', '.join([*SUBCOMMANDS, 'all'])}", file=sys.stderr)
        return 2
    module = _load(name)
    if module is None:
        print(f"'{name}' is not available yet: tools/bench/{SUBCOMMANDS[name].split('.')[1]}.py does not exist",
              file=sys.stderr)
        return 2
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
