"""``paddle-rembert``: convert | export | predict | train | benchmark.

Each subcommand's work lives in its own module; this file only parses arguments. Errors the
user caused (:class:`PaddleRembertError`) print one line and exit with status 2; ``--debug``
shows the traceback instead.
"""
import argparse
import os
import sys

from .runtime.errors import PaddleRembertError


def _convert(args):
    from .convert import convert_checkpoint

    name = convert_checkpoint(args.src, args.dst, to=args.to, dtype=args.dtype,
                              safe_serialization=args.safetensors, overwrite=args.overwrite,
                              progress=not args.quiet)
    print(f"converted {args.src} ({name}) -> {args.dst}")


def _train(args):
    from .trainer import from_yaml, run

    run(from_yaml(args.config, args.overrides))


def _export(args):
    from .deploy.export import export_model

    meta = export_model(args.model_dir, args.out_dir, task=args.task, onnx=args.onnx, opset=args.opset,
                        overwrite=args.overwrite, verify=not args.no_verify)
    files = "inference.json, inference.pdiparams" + (", model.onnx" if meta.get("onnx_file") else "")
    print(f"exported {args.model_dir} ({meta['task']}) -> {args.out_dir} ({files})")


def read_examples(path):
    """``(texts, pairs)`` from a file of one example per line: a text, or a text, a tab and its pair."""
    if path == "-":
        lines = sys.stdin.read().split("\n")
    else:
        if not os.path.isfile(path):
            raise PaddleRembertError(f"input file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except UnicodeDecodeError as e:
            raise PaddleRembertError(f"{path} is not UTF-8 text: {e}") from None
    while lines and not lines[-1].strip():  # trailing newline(s)
        lines.pop()
    if not lines:
        raise PaddleRembertError(f"{path}: no examples (the file is empty)")
    texts, pairs = [], []
    for number, line in enumerate(lines, 1):
        line = line[:-1] if line.endswith("\r") else line
        fields = line.split("\t")
        if len(fields) > 2:
            raise PaddleRembertError(f"{path}:{number}: {len(fields) - 1} tabs; a line is a text, or a text, "
                                     f"one tab and its pair")
        if not fields[0].strip():
            raise PaddleRembertError(f"{path}:{number}: empty text")
        if len(fields) == 2 and not fields[1].strip():
            raise PaddleRembertError(f"{path}:{number}: empty text pair after the tab")
        texts.append(fields[0])
        pairs.append(fields[1] if len(fields) == 2 else None)
    return texts, (pairs if any(p is not None for p in pairs) else None)


def _predict(args):
    import json

    from .deploy.inference import Predictor

    if args.text is not None:
        if not args.text.strip():
            raise PaddleRembertError("--text is empty")
        texts, pairs = [args.text], (None if args.text_pair is None else [args.text_pair])
    else:
        if args.text_pair is not None:
            raise PaddleRembertError("--text-pair goes with --text, not with --input-file (put pairs after a tab)")
        texts, pairs = read_examples(args.input_file)
    if args.batch_size < 1:
        raise PaddleRembertError(f"--batch-size must be at least 1, got {args.batch_size}")
    predictor = Predictor(args.model_dir, device=args.device, threads=getattr(args, "threads", None),
                          backend=args.backend, precision=args.precision, top_k=args.top_k,
                          max_length=args.max_length)
    results = predictor.predict(texts, pairs, batch_size=args.batch_size)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if args.output:
        from .runtime.files import atomic_open

        with atomic_open(args.output, "w") as f:
            f.write(lines)
    else:
        sys.stdout.write(lines)


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

    from .deploy.export import TASKS

    p = sub.add_parser("export", help="export a model to a static graph (Paddle Inference, Taskflow, ONNX)")
    p.add_argument("model_dir", help="model directory (config.json, weights, tokenizer)")
    p.add_argument("out_dir", help="export directory (written atomically)")
    p.add_argument("--task", choices=tuple(TASKS), default=None,
                   help="the head to export (default: inferred from config.json's architectures)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx through paddle2onnx")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty export directory")
    p.add_argument("--no-verify", action="store_true",
                   help="skip running the export against the dygraph model before writing it")
    p.set_defaults(func=_export)

    p = sub.add_parser("predict", help="run an export on texts; one JSON result per line")
    p.add_argument("model_dir", help="export directory (from `paddle-rembert export`)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="one text (the question for question-answering)")
    src.add_argument("--input-file", help="one example per line: TEXT or TEXT<tab>PAIR ('-' for stdin)")
    p.add_argument("--text-pair", help="the second text of a pair (the context for question-answering)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--backend", choices=("paddle", "onnxruntime"), default="paddle")
    p.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N (default cpu)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: oneDNN bfloat16 on CPUs that have it (Paddle backend)")
    p.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens (default: the export's)")
    p.add_argument("--top-k", type=int, default=5, help="masked-lm: predictions per mask (default 5)")
    p.add_argument("--output", help="write the JSON lines here (atomically) instead of stdout")
    p.add_argument("--threads", type=int, default=argparse.SUPPRESS, help="CPU threads (default: all cores)")
    p.set_defaults(func=_predict)

    p = sub.add_parser("train", help="fine-tune on XNLI / PAWS-X from a YAML recipe (see tools/train.py)")
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    p.set_defaults(func=_train)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .runtime.settings import set_num_threads, setup_logging

    setup_logging()
    set_num_threads(args.threads)
    return run_guarded(lambda: args.func(args), f"paddle-rembert {args.command}", args.debug)


if __name__ == "__main__":
    sys.exit(main())
