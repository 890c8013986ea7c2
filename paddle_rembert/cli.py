"""``paddle-rembert``: convert | export | predict | train.

Each subcommand's work lives in its own module; this file only parses arguments. Errors the
user caused (:class:`PaddleRembertError`) and OS errors (a read-only or full disk, a file where a
directory should be) print one line naming the path and exit with status 2; ``--debug`` (or
``PADDLE_REMBERT_DEBUG=1``) shows the traceback instead.
"""
import argparse
import contextlib
import logging
import os
import sys
import warnings

# Paddle warns on import that ccache (for compiling custom C++ operators) is missing: not our users' concern.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

from .runtime.errors import ArgumentParser, ExampleError, PaddleRembertError  # noqa: E402

OVERWRITE_RULE = ("--overwrite replaces only a previous output of this command: for export, a directory with "
                  "export_meta.json; for convert, a model directory holding config.json, weights (*.pdparams, "
                  "*.safetensors, *.bin) and tokenizer files, and nothing else (no subfolder, no hidden or other "
                  "file). The destination may never be, or contain, the source")


def _convert(args):
    from .convert import convert_checkpoint

    if args.safetensors and args.to != "paddle":
        raise PaddleRembertError("--safetensors applies to --to paddle (--to torch always writes model.safetensors)")
    if args.revision is not None and os.path.isdir(args.src):
        raise PaddleRembertError(f"--revision applies to a hub id; {args.src} is a local directory")
    if args.quiet:  # the result line below says what the INFO log line would; warnings still show
        logging.getLogger("paddle_rembert").setLevel(logging.WARNING)
    name = convert_checkpoint(args.src, args.dst, to=args.to, dtype=args.dtype,
                              safe_serialization=args.safetensors, overwrite=args.overwrite,
                              progress=not args.quiet, ignore_mismatched_sizes=args.ignore_mismatched_sizes,
                              revision=args.revision, tokenizer_dir=args.tokenizer)
    print(f"converted {args.src} ({name}) -> {args.dst}")


def _train(args):
    from .trainer import from_yaml, run

    # --threads as the first override: the trainer sets the threads, and a threads=N override still wins
    threads = [] if getattr(args, "threads", None) is None else [f"threads={args.threads}"]
    run(from_yaml(args.config, threads + list(args.overrides)))


def _export(args):
    from .deploy.export import export_model

    if args.opset is not None and not args.onnx:
        raise PaddleRembertError("--opset applies to --onnx (the ONNX model's opset)")
    with quiet_export():
        meta = export_model(args.model_dir, args.out_dir, task=args.task, onnx=args.onnx, opset=args.opset,
                            overwrite=args.overwrite, verify=not args.no_verify,
                            ignore_mismatched_sizes=args.ignore_mismatched_sizes, tokenizer_dir=args.tokenizer,
                            quantize=args.quantize)
    files = "inference.json, inference.pdiparams" + (", model.onnx" if meta.get("onnx_file") else "")
    if args.quantize:
        files += ", " + meta["int8"]["file"]
    if meta.get("int8_onnx"):
        files += ", " + meta["int8_onnx"]["onnx_file"]
    print(f"exported {args.model_dir} ({meta['task']}) -> {args.out_dir} ({files})")


def _flush_c_stdio():
    """Flush C's stdio buffers (a library's printf), so that they land where the descriptors point now."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _filtered(fd, to_fd):
    """Lines written to file descriptor ``fd`` inside the block, by Python or C++, reach ``to_fd`` as they come,
    through :mod:`paddle_rembert.runtime.line_filter` in a child process, less its fixed notices."""
    import subprocess

    from .runtime import line_filter

    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    read_end, write_end = os.pipe()
    try:  # its own session: Ctrl-C stops the command, and the filter still passes on the command's last words
        child = subprocess.Popen([sys.executable, "-I", "-S", line_filter.__file__], stdin=read_end, stdout=to_fd,
                                 start_new_session=True)
    except OSError:  # no interpreter to start: the output goes unfiltered
        os.close(read_end)
        os.close(write_end)
        yield
        return
    os.close(read_end)
    saved = os.dup(fd)
    os.dup2(write_end, fd)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _flush_c_stdio()
        os.dup2(saved, fd)  # the pipe's last write end closes: the filter reads to the end and exits
        os.close(saved)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a process started in the block holds the pipe; the filter ends with it
            pass


@contextlib.contextmanager
def quiet_export():
    """For a command or tool that owns its process: stdout keeps its result (the libraries' prints go to stderr);
    Paddle's and paddle2onnx's fixed notices are dropped."""
    with _filtered(2, 2), _filtered(1, 2):
        yield


def read_examples(path):
    """``(texts, pairs)`` from a file of one example per line: a text, or a text, a tab and its pair.

    Lines end at ``\\n`` (or ``\\r\\n``) only, for a file as for stdin: a lone ``\\r`` is part of its text.
    Trailing blank lines are ignored; a line holding a tab is never blank.
    """
    try:
        if path == "-":
            data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        else:
            if os.path.isdir(path):
                raise PaddleRembertError(f"input file {path} is a directory; give a file of texts (or - for stdin)")
            if not os.path.isfile(path):
                raise PaddleRembertError(f"input file not found: {path}")
            with open(path, "rb") as f:
                data = f.read()
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PaddleRembertError(f"{path} is not UTF-8 text: {e}") from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    while lines and not lines[-1].strip(" \r\f\v"):  # trailing blank lines (a tab makes a line not blank)
        lines.pop()
    if not lines:
        raise PaddleRembertError(f"{path}: no examples (the file is empty)")
    texts, pairs = [], []
    for number, line in enumerate(lines, 1):
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
        if args.text_pair is not None and not args.text_pair.strip():  # as an empty pair in an input file
            raise PaddleRembertError("--text-pair is empty")
        texts, pairs = [args.text], (None if args.text_pair is None else [args.text_pair])
    else:
        if args.text_pair is not None:
            raise PaddleRembertError("--text-pair goes with --text, not with --input-file (put pairs after a tab)")
        texts, pairs = read_examples(args.input_file)
    if args.batch_size < 1:
        raise PaddleRembertError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.output and os.path.isdir(args.output):
        raise PaddleRembertError(f"--output {args.output} is a directory; give a file name")
    with _filtered(2, 2):  # Paddle Inference's notices, as export's (bf16: "Hardware support for BFLOAT16 ...")
        predictor = Predictor(args.model_dir, device=args.device, threads=getattr(args, "threads", None),
                              backend=args.backend, precision=args.precision, max_length=args.max_length)
    unused = ([] if predictor.task in ("masked-lm", "question-answering") or args.top_k is None else ["--top-k"]) + \
        ([] if predictor.task == "question-answering" else
         (["--doc-stride"] if args.doc_stride is not None else [])
         + (["--max-answer-length"] if args.max_answer_length is not None else [])
         + (["--handle-impossible-answer"] if args.handle_impossible_answer else []))
    if unused:  # silently ignored, they would look applied
        raise PaddleRembertError(f"{' and '.join(unused)} do{'es' if len(unused) == 1 else ''} not apply to "
                                 f"{args.model_dir}, a {predictor.task} export")
    if predictor.task == "question-answering" and (pairs is None or None in pairs):
        if args.text is not None:
            raise PaddleRembertError("question-answering needs --text-pair (the context) with --text (the question)")
        line = 1 if pairs is None else pairs.index(None) + 1
        raise PaddleRembertError(f"{args.input_file}:{line}: no context: question-answering needs a question, "
                                 f"a tab and its context on each line")
    qa = {}
    if predictor.task == "question-answering":  # max_answer_len: the Predictor's default unless given
        qa = dict(doc_stride=args.doc_stride, max_seq_len=args.max_length,
                  handle_impossible_answer=args.handle_impossible_answer)
        if args.max_answer_length is not None:
            qa["max_answer_len"] = args.max_answer_length
    try:
        results = predictor.predict(texts, pairs, batch_size=args.batch_size, top_k=args.top_k, **qa)
    except ExampleError as e:  # named by its line, as read_examples names one (example i is line i + 1)
        raise PaddleRembertError(e.detail if args.text is not None else f"{args.input_file}:{e.index + 1}: "
                                 f"{e.detail}") from None
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if args.output:
        from .runtime.files import atomic_open

        with atomic_open(args.output, "w") as f:
            f.write(lines)
    else:
        sys.stdout.write(lines)


def describe_os_error(e):
    """One line for an OSError: what went wrong and the path(s) it happened to."""
    what = e.strerror or str(e) or type(e).__name__
    paths = [p for p in (e.filename, getattr(e, "filename2", None)) if p is not None]
    return f"{what}: {' -> '.join(map(str, paths))}" if paths else what


def run_guarded(fn, prog, debug=None):
    """Run ``fn``; its exit status is its own when it returns an int, else 0. Errors: :func:`error_status`."""
    try:
        status = fn()
    except (Exception, KeyboardInterrupt) as e:
        return error_status(e, prog, debug)
    return status if type(status) is int else 0


def error_status(error, prog, debug=None):
    """The exit status of a command that raised ``error``: a PaddleRembertError or an OSError is one line on stderr
    and status 2, Ctrl-C status 130; anything else (or everything, with ``debug``) is raised again."""
    if not debug:  # --debug, else the environment: PADDLE_REMBERT_DEBUG=1 (0, false, no or empty: off)
        debug = os.environ.get("PADDLE_REMBERT_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
    if debug:
        raise error
    if _interrupted(error):  # Ctrl-C, before anything else: inside Paddle it may come back as any error
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    if not isinstance(error, (PaddleRembertError, OSError)):
        raise error
    message = describe_os_error(error) if isinstance(error, OSError) else str(error)
    print(f"{prog}: error: {message}".replace("\n", "\\n"), file=sys.stderr)  # one line, even for a path
    return 2


def _interrupted(error):
    """Whether ``error`` is a KeyboardInterrupt, was raised while handling one, or is Paddle's report of one
    (Ctrl-C inside its C++ comes back as a RuntimeError or an ``ExternalError``, an OSError, naming it)."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        if isinstance(error, (RuntimeError, OSError)) and not isinstance(error, PaddleRembertError) \
                and "KeyboardInterrupt" in str(error):
            return True
        error = error.__context__
    return False


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def thread_count(text):
    """argparse type for ``--threads``: 1 to 4x the cores (OpenMP aborts the process when it cannot start a
    huge team, and more threads than that only contend)."""
    from .runtime.settings import max_threads

    value = positive_int(text)
    limit = max_threads()
    if value > limit:
        raise argparse.ArgumentTypeError(f"must be at most {limit} (4x this machine's {os.cpu_count()} cores), "
                                         f"got {value}")
    return value


def build_parser():
    from .version import __version__

    parser = ArgumentParser(prog="paddle-rembert", description=__doc__.splitlines()[0], epilog=OVERWRITE_RULE + ".")
    parser.add_argument("--version", action="version", version=f"paddle-rembert {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--threads", type=thread_count, default=None, help="CPU threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="convert a transformers PyTorch checkpoint to Paddle, or back")
    p.add_argument("src", help="source model directory, or a Hugging Face Hub id (org/name) fetched into its cache")
    p.add_argument("dst", help="destination directory (written atomically)")
    p.add_argument("--to", choices=("paddle", "torch"), default="paddle",
                   help="paddle (default): to our layout; torch: back to transformers' PyTorch layout (safetensors)")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16", "keep"), default=None,
                   help="dtype of the floating-point weights written (default float32: fp16/bf16 checkpoints are "
                        "upcast, as transformers loads them; 'keep' keeps the source's dtype)")
    p.add_argument("--revision", default=None, help="with a hub id: the branch, tag or commit (default main)")
    p.add_argument("--ignore-mismatched-sizes", action="store_true",
                   help="leave out tensors whose shape differs from the config's model instead of refusing them")
    p.add_argument("--safetensors", action="store_true",
                   help="with --to paddle: write Paddle-layout model.safetensors instead of model_state.pdparams")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous convert output (config.json, weights and tokenizer files only; never "
                        "a directory holding anything else, and never the source or a folder containing it)")
    p.add_argument("--tokenizer", metavar="DIR", default=None,
                   help="copy the tokenizer files from DIR (for a checkpoint that ships none, e.g. a SQuAD fine-tune)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no INFO log lines (warnings stay)")
    _add_global_options(p)
    p.set_defaults(func=_convert)

    from .deploy.format import TASKS

    p = sub.add_parser("export", help="export a model to a static graph (Paddle Inference, Taskflow, ONNX)")
    p.add_argument("model_dir", help="model directory (config.json, weights, tokenizer)")
    p.add_argument("out_dir", help="export directory (written atomically)")
    p.add_argument("--task", choices=tuple(TASKS), default=None,
                   help="the head to export (default: inferred from config.json's architectures)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx through paddle2onnx")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="also write model.int8.safetensors (int8 weights per output channel; activations "
                        "quantized per token at run time, on CPUs with VNNI) and, with --onnx, model.int8.onnx "
                        "(onnxruntime dynamic int8, activations quantized per call); run them with predict "
                        "--precision int8 (--backend onnxruntime for the ONNX one)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous export (a directory with export_meta.json; never another directory, "
                        "and never the model directory or a folder containing it)")
    p.add_argument("--ignore-mismatched-sizes", action="store_true",
                   help="initialise weights whose checkpoint shape differs from the model's (e.g. another "
                        "num_labels) instead of refusing them")
    p.add_argument("--tokenizer", metavar="DIR", default=None,
                   help="take the tokenizer from DIR (for a model directory that ships none)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip running the export against the dygraph model before writing it")
    _add_global_options(p)
    p.set_defaults(func=_export)

    p = sub.add_parser("predict", help="run an export on texts; one JSON result per line")
    p.add_argument("model_dir", help="export directory (from `paddle-rembert export`)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="one text (the question for question-answering)")
    src.add_argument("--input-file", help="one example per line: TEXT or TEXT<tab>PAIR ('-' for stdin)")
    p.add_argument("--text-pair", help="the second text of a pair (the context for question-answering)")
    p.add_argument("--batch-size", type=int, default=8, help="examples per forward pass (default 8)")
    p.add_argument("--backend", choices=("paddle", "onnxruntime"), default="paddle",
                   help="paddle: Paddle Inference (default); onnxruntime: the export's model.onnx (export --onnx)")
    p.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N (default cpu)")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                   help="bf16: oneDNN bfloat16 on CPUs that have it (Paddle backend); int8: the export's "
                        "model.int8.safetensors (export --quantize int8; CPUs with VNNI), or with --backend "
                        "onnxruntime its model.int8.onnx (export --onnx --quantize int8)")
    p.add_argument("--max-length", type=positive_int, default=None,
                   help="truncate to this many tokens (default and maximum: the export's); question-answering: "
                        "the window length (default min(the export's, 384))")
    p.add_argument("--top-k", type=positive_int, default=None,
                   help="masked-lm: predictions per mask (default 5); question-answering: answers per question "
                        "(default 1; above 1 each line also lists \"answers\", best first)")
    p.add_argument("--doc-stride", type=int, default=None,
                   help="question-answering: tokens shared by consecutive windows of a long context (default: "
                        "min(128, window / 2))")
    p.add_argument("--max-answer-length", type=positive_int, default=None,
                   help="question-answering: longest answer in tokens (default 15)")
    p.add_argument("--handle-impossible-answer", action="store_true",
                   help="question-answering: allow \"no answer\" (an empty answer) when it scores best")
    p.add_argument("--output", help="write the JSON lines here (atomically) instead of stdout")
    _add_global_options(p)
    p.set_defaults(func=_predict)

    p = sub.add_parser("train", help="fine-tune on XNLI / PAWS-X from a YAML recipe (see tools/train.py)")
    p.add_argument("--config", required=True, help="a YAML recipe from configs/")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    _add_global_options(p)
    p.set_defaults(func=_train)
    return parser


def _add_global_options(subparser):
    """``--threads`` and ``--debug`` after the subcommand too (``paddle-rembert predict DIR --threads 2``); unset,
    the value given before it (or none) stands."""
    subparser.add_argument("--threads", type=thread_count, default=argparse.SUPPRESS,
                           help="CPU threads (default: all cores)")
    subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .runtime.settings import quiet_third_party, set_num_threads, setup_logging

    def command():
        setup_logging()
        quiet_third_party()
        set_num_threads(args.threads)
        args.func(args)

    return run_guarded(command, f"paddle-rembert {args.command}", args.debug)


if __name__ == "__main__":
    sys.exit(main())
