"""Fine-tune from a YAML recipe: ``tools/train.py --config configs/rembert_xnli.yaml [key=value ...]``.

Runs under plain ``python`` or ``python -m paddle.distributed.launch --nproc_per_node N``.
"""
import argparse
import sys

from paddle_rembert.cli import run_guarded
from paddle_rembert.trainer import from_yaml, run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a YAML recipe from configs/")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    args = parser.parse_args(argv)
    return run_guarded(lambda: run(from_yaml(args.config, args.overrides)), "train.py")


if __name__ == "__main__":
    sys.exit(main())
