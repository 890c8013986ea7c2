"""``paddle-rembert``: convert | export | predict | train | benchmark.

Each subcommand's work lives in its own module; this file only parses arguments. Errors the
user caused (:class:`PaddleRembertError`) print one line and exit with status 2; ``--debug``
shows the traceback instead.
"""
import argparse
import os
import sys

from .errors import PaddleRembertError


def _convert(args):
    from .convert import convert_checkpoint

    name = convert_checkpoint(args.src, args.dst, to=args.to, dtype=args.dtype,
                              safe_serialization=args.safetensors, overwrite=args.overwrite,
                              progress=not args.quiet)
    print(f"converted {args.src} ({name}) -> {args.dst}")


def _train(args):
    from .trainer import from_yaml, run

    run(from_yaml(args.config, args.overrides))


def run_guarded(fn, prog, debug=None):
    """Run ``fn``; a PaddleRembertError becomes one line on stderr and exit status 2."""
    if debug is None:
        debug = bool(os.environ.get("PADDLE_REMBERT_DEBUG"))
    try:
        fn()
    except PaddleRembertError as e:
        if debug:
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="paddle-rembert", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="convert a transformers PyTorch checkpoint to Paddle, or back")
    p.add_argument("src", help="source model directory")
    p.add_argument("dst", help="destination directory (written atomically)")
    p.add_argument("--to", choices=("paddle", "torch"), default="paddle")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default=None,
                   help="cast floating-point weights (default: keep the source dtype)")
    p.add_argument("--safetensors", action="store_true",
                   help="with --to paddle: write Paddle-layout model.safetensors instead of model_state.pdparams")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty destination")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_convert)

    p = sub.add_parser("train", help="fine-tune on XNLI / PAWS-X from a YAML recipe (see tools/train.py)")
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    p.set_defaults(func=_train)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .runtime import set_num_threads, setup_logging

    setup_logging()
    set_num_threads(args.threads)
    return run_guarded(lambda: args.func(args), f"paddle-rembert {args.command}", args.debug)


if __name__ == "__main__":
    sys.exit(main())
