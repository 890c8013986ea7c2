"""``python -m tools.benchmark run``: one model, every backend, train step and forward, side by side.

A ``*ForSequenceClassification`` of ``--family`` (through the ``Auto*`` classes of each framework)
is built once with seeded random weights, saved, converted to transformers' PyTorch layout and
exported (Paddle Inference program + ONNX), so that every backend runs the same weights:

=========================  ==================================================  ==============
backend                    what runs                                           modes
=========================  ==================================================  ==============
``ours``                   our Paddle model, dygraph, fp32                     train, forward
``ours-bf16``              the same in ``paddle_rembert.kernels.bf16.autocast``  train, forward
``ours-bf16-onednn``       the same with ``autocast(amx=False)``: oneDNN's GEMMs  train, forward
                           where the AMX kernel would run (not in the default set)
``torch``                  transformers (PyTorch), eager, fp32                 train, forward
``torch-bf16``             the same in ``torch.autocast("cpu", bfloat16)``     train, forward
``paddlenlp``              PaddleNLP's model of the family (its own weights)   train, forward
``paddle-inference``       the export, Paddle Inference + oneDNN, fp32         forward
``paddle-inference-bf16``  the same with oneDNN bfloat16                       forward
``onnxruntime``            ``model.onnx``, all graph optimisations             forward
``ours-int8``              the export's ``model.int8.safetensors`` (``export     forward
                           --quantize int8``): our int8 engine, per-token ranges
``onnxruntime-int8``       ``model.int8.onnx`` (``export --onnx --quantize       forward
                           int8``): onnxruntime, one range per call
``predictor-int8``         ``Predictor(precision="int8")`` (our int8 engine) on   forward
                           texts: tokenising, batching and softmax included
``predictor-int8-ort``     the same with ``backend="onnxruntime"``              forward
=========================  ==================================================  ==============

``train`` is one step: forward with labels, ``loss.backward()``, AdamW, gradients cleared;
``forward`` is one no-grad forward in eval mode. Each backend runs in its own subprocess (the
OpenMP pools and allocators of different runtimes compete otherwise) with the same thread
count; before each measurement the runner waits, up to ``--wait-quiet`` seconds, for other
processes to leave the CPU idle, and it prints the load they caused. Every forward's logits are
compared with ``ours``, so a fast but wrong path shows (the predictor's inputs are texts, so it
has no logits to compare). ``--in-process`` runs every backend in the runner's own process instead:
quicker to start, for checking that each backend runs, not for figures.

The same run measures the machine's matmul ceilings (``--no-ceilings`` skips them): a 2048^3
GEMM in fp32 (Paddle, PyTorch, onnxruntime), bf16 (our kernel, PyTorch) and int8 (onnxruntime's
u8 x s8), each in its own subprocess. Each backend is reported as its model FLOP/s (GEMMs of the
forward, x3 for a train step) over the best ceiling of its precision.

Output: medians, ratios to PyTorch fp32 eager (below 1.00x = faster) and fractions of the
ceiling; measurements only.
"""
import argparse
import contextlib
import hashlib
import json
import os
import sys
import time

import numpy as np

from . import ceilings as ceiling_gemms
from . import common

REPO = common.REPO
BACKENDS = ("ours", "ours-bf16", "torch", "torch-bf16", "paddlenlp", "paddle-inference", "paddle-inference-bf16",
            "onnxruntime", "ours-int8", "onnxruntime-int8", "predictor-int8", "predictor-int8-ort")
OPTIONAL = ("ours-bf16-onednn",)  # selectable, not run by default
ALL = BACKENDS + OPTIONAL
DYGRAPH = ("ours", "ours-bf16", "ours-bf16-onednn", "torch", "torch-bf16", "paddlenlp")  # the backends that train
EXPORTS = ("paddle-inference", "paddle-inference-bf16", "onnxruntime", "ours-int8", "onnxruntime-int8",
           "predictor-int8", "predictor-int8-ort")
INT8 = ("ours-int8", "predictor-int8")  # model.int8.safetensors
INT8_ONNX = ("onnxruntime-int8", "predictor-int8-ort")  # model.int8.onnx
LABELS = {"ours": "ours (Paddle dygraph) fp32", "ours-bf16": "ours (Paddle dygraph) bf16",
          "ours-bf16-onednn": "ours (Paddle dygraph) bf16, oneDNN GEMMs",
          "torch": "transformers (PyTorch) fp32", "torch-bf16": "transformers (PyTorch) bf16 autocast",
          "paddlenlp": "PaddleNLP fp32", "paddle-inference": "Paddle Inference fp32",
          "paddle-inference-bf16": "Paddle Inference bf16", "onnxruntime": "onnxruntime fp32",
          "ours-int8": "ours, int8 engine (per token)", "onnxruntime-int8": "onnxruntime int8 (per call)",
          "predictor-int8": "ours, Predictor int8 (with tokenising)",
          "predictor-int8-ort": "ours, Predictor int8 on onnxruntime (with tokenising)"}
PRECISION = {name: "bf16" if "bf16" in name else "int8" if "int8" in name else "fp32" for name in ALL}
CEILINGS = ("ceiling-paddle", "ceiling-torch", "ceiling-ort")
MODES = ("train", "forward")
PACKAGES = ("paddlepaddle", "torch", "transformers", "paddlenlp", "paddle2onnx", "onnxruntime", "numpy")
# Real configs the repository ships, by family; other families use their config class's defaults.
REAL_CONFIGS = {"albert": "albert-base-v2", "rembert": "google-rembert"}
TOKENIZER_VOCAB = 400  # pieces of the tokenizer trained for the export backends (timing only)
QUIET = 0.25  # cores other processes may keep busy for a measurement to count as undisturbed


def add_model_options(p):
    """The options that pick the workload (model, length, threads, where it is prepared); shared with
    ``alternate``."""
    p.add_argument("--family", default="albert", help="model_type of a registered family (default albert)")
    p.add_argument("--config", help="a config.json to use instead of the family's base-size config")
    p.add_argument("--layers", type=common.count(),
                   help="override num_hidden_layers (e.g. full-width RemBERT with 4)")
    p.add_argument("--tiny", action="store_true", help="the family's tiny test config (for checking the tool)")
    p.add_argument("--seq-len", type=common.count(2), default=None,
                   help="tokens per row (default 128, or the model's positions when it has fewer, as --tiny's)")
    p.add_argument("--threads", type=common.count(), default=None,
                   help="CPU threads for every backend (default: all cores)")
    p.add_argument("--work-dir", default=os.path.join(REPO, "bench_output", "models"),
                   help="where the prepared model, export and PyTorch copy are kept (reused when the config matches)")
    p.add_argument("--seed", type=int, default=0)


def parse_args(argv):
    p = common.ArgumentParser(prog="python -m tools.benchmark run", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(p)
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--no-ceilings", dest="ceilings", action="store_false",
                   help="skip measuring the fp32/bf16/int8 matmul ceilings")
    p.add_argument("--ceiling-seconds", type=float, default=ceiling_gemms.SECONDS,
                   help=f"time per ceiling GEMM (default {ceiling_gemms.SECONDS:g})")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of train,forward")
    p.add_argument("--batches", type=common.counts, default=[8], help="comma-separated batch sizes (default 8)")
    p.add_argument("--repeat", type=common.count(), default=5, help="timed runs; the median is reported (default 5)")
    p.add_argument("--warmup", type=common.count(0), default=2, help="untimed runs first (default 2)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each measurement wait up to SECONDS for the CPU to be idle; a disturbed one is "
                        "taken again (twice at most)")
    p.add_argument("--json", metavar="PATH", type=common.writable_file,
                   help="also write every timing and the environment as JSON")
    p.add_argument("--in-process", action="store_true",
                   help="run every backend in this process, one after another (quicker to start; the runtimes' "
                        "thread pools and allocators then share one process: for checking, not for figures)")
    p.add_argument("--child", help=argparse.SUPPRESS)  # child mode: one backend, result to --result-file
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    args.modes = [m for m in args.modes.split(",") if m]
    for b in args.backends:
        if b not in ALL + CEILINGS:
            p.error(f"unknown backend {b!r}; choose from {', '.join(ALL)}")
    for m in args.modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    return args


# -- the workload: one config, one set of weights -------------------------------------------------
def load_config(args):
    from paddle_rembert.models import registry
    from paddle_rembert.runtime.errors import PaddleRembertError

    family = registry.get(args.family, "--family")
    if args.tiny:  # with room for the 400-piece tokenizer the export trains (byte-level BPE alone has 256)
        cfg = dict(family.tiny_config, vocab_size=max(family.tiny_config["vocab_size"], TOKENIZER_VOCAB))
    elif args.config or args.family in REAL_CONFIGS:
        from paddle_rembert.runtime.files import read_json

        path = args.config or os.path.join(REPO, "tests", "fixtures", "real-configs", REAL_CONFIGS[args.family],
                                           "config.json")
        cfg = read_json(path, "--config file")
        if not isinstance(cfg, dict):
            raise PaddleRembertError(f"--config {path} must hold a JSON object")
    else:
        cfg = family.config_class().to_dict()
    for key in ("_name_or_path", "architectures", "transformers_version", "model_type", "id2label", "label2id"):
        cfg.pop(key, None)
    if args.layers:
        cfg["num_hidden_layers"] = args.layers
    cfg["num_labels"] = 2
    # RoBERTa's positions start after its padding id
    positions = cfg.get("max_position_embeddings", 512) - (cfg.get("pad_token_id", 0) + 1 if args.family == "roberta"
                                                           else 0)
    if args.seq_len is None:
        args.seq_len = min(128, positions)
    elif not 2 <= args.seq_len <= positions:
        raise PaddleRembertError(f"--seq-len must be between 2 and the model's {positions} positions, got "
                                 f"{args.seq_len}")
    return cfg


def model_dirs(args):
    cfg = load_config(args)
    key = hashlib.sha1(json.dumps([args.family, cfg, args.seed], sort_keys=True).encode()).hexdigest()[:10]
    root = os.path.join(os.path.abspath(args.work_dir), f"{args.family}-{key}")  # children run from the repo
    return cfg, {"paddle": os.path.join(root, "paddle"), "torch": os.path.join(root, "torch"),
                 "export": os.path.join(root, "export"), "done": os.path.join(root, "prepared.json")}


# an export's deploy.format.META_FILE, spelled here: importing paddle_rembert imports Paddle, which a
# prepared model need not wait for (each step below is skipped when its output exists)
EXPORT_META = "export_meta.json"


def prepare(args):
    """Build the model once (seeded random weights), convert it to PyTorch and, for the export backends, give
    it a tokenizer (trained here on synthetic text: timing only) and export it (+ ONNX, + int8). Each step is
    skipped when its output exists."""
    cfg, dirs = model_dirs(args)
    wants_export = any(b in EXPORTS for b in args.backends)
    wants_int8 = any(b in INT8 for b in args.backends)
    wants_int8_onnx = any(b in INT8_ONNX for b in args.backends)
    int8_onnx_file = os.path.join(dirs["export"], "model.int8.onnx")
    exported = os.path.isfile(os.path.join(dirs["export"], EXPORT_META))
    if exported and wants_int8 and not os.path.isfile(os.path.join(dirs["export"], "model.int8.safetensors")):
        exported = False  # an earlier export without the int8 weights: export again
    if os.path.isfile(dirs["done"]) and (not wants_export or exported) \
            and (not wants_int8_onnx or os.path.isfile(int8_onnx_file)):
        return cfg, dirs
    common.set_threads(args.threads, ("paddle",))
    import paddle

    import paddle_rembert as pr
    from paddle_rembert import testing
    from paddle_rembert.cli import quiet_export
    from paddle_rembert.convert import convert_checkpoint
    from paddle_rembert.deploy.export import export_model
    from paddle_rembert.deploy.quantize import quantize_export
    from paddle_rembert.models import registry
    from paddle_rembert.runtime.settings import quiet_third_party
    from paddle_rembert.tokenization.files import has_vocabulary

    quiet_third_party()  # the quantizer's INFO lines, as the CLI hides them

    family = registry.get(args.family)
    if not os.path.isfile(dirs["done"]):
        paddle.seed(args.seed)
        model = pr.AutoModelForSequenceClassification.from_config(pr.AutoConfig.for_model(args.family, **cfg)).eval()
        model.save_pretrained(dirs["paddle"])
        common.log(f"[run] {args.family}: training a tokenizer, converting to PyTorch ...")
        # the tokenizer first: the PyTorch copy is a whole model directory, and the converter has nothing to warn of
        family.make_tiny_tokenizer(testing.synthetic_texts(), dirs["paddle"], TOKENIZER_VOCAB)
        convert_checkpoint(dirs["paddle"], dirs["torch"], to="torch", overwrite=True, progress=False)
        common.write_json(dirs["done"], {"family": args.family, "config": cfg})
    if wants_export and not exported:
        common.log(f"[run] {args.family}: exporting (Paddle Inference + ONNX) ...")
        if not has_vocabulary(family.tokenizer_class, dirs["paddle"]):  # prepared by an older version of this tool
            family.make_tiny_tokenizer(testing.synthetic_texts(), dirs["paddle"], TOKENIZER_VOCAB)
        with quiet_export():  # paddle2onnx's banner stays off the report's stdout
            export_model(dirs["paddle"], dirs["export"], task="sequence-classification", onnx=True, overwrite=True,
                         quantize="int8" if wants_int8 else None)
    if wants_int8_onnx and not os.path.isfile(int8_onnx_file):
        common.log(f"[run] {args.family}: quantizing the ONNX model to int8 ...")
        quantize_export(dirs["export"])
    return cfg, dirs


def forward_flops(cfg, batch, seq_len):
    """2 x multiply-adds of one forward's GEMMs: the layers' projections, FFN and attention, an embedding
    projection where the embedding size differs from the hidden size, and the pooler."""
    t, h, i = batch * seq_len, cfg["hidden_size"], cfg["intermediate_size"]
    layer = 2 * t * (4 * h * h + 2 * h * i) + 4 * batch * seq_len * seq_len * h
    e = cfg.get("embedding_size") or cfg.get("input_embedding_size") or h
    return cfg["num_hidden_layers"] * layer + (2 * t * e * h if e != h else 0) + 2 * batch * h * h


def _texts(tokenizer, n, seq_len, seed):
    """``n`` synthetic texts of at least ``seq_len`` tokens each (the predictor truncates them)."""
    from paddle_rembert import testing

    pool = testing.synthetic_texts(num=200, seed=seed)
    out, i = [], 0
    while len(out) < n:
        words = []
        while len(tokenizer(" ".join(words))["input_ids"]) < seq_len:
            words.append(pool[i % len(pool)])
            i += 1
        out.append(" ".join(words))
    return out


def make_batch(cfg, batch, seq_len, seed):
    rng = np.random.default_rng(seed)
    feed = common.padded_batch(cfg, batch, seq_len, rng)
    labels = rng.integers(0, cfg["num_labels"], size=batch, dtype=np.int64)
    return feed, labels


# -- one backend in this process -----------------------------------------------------------------
class Backend:
    """``forward(feed) -> logits`` and, for dygraph backends, ``train_step(feed, labels)``."""

    def __init__(self, name, args, cfg, dirs, threads):
        self.name = name
        self.ctx = contextlib.nullcontext
        if name in ("ours", "ours-bf16", "ours-bf16-onednn"):
            import paddle_rembert as pr

            self._paddle(pr.AutoModelForSequenceClassification.from_pretrained(dirs["paddle"]))
            if name != "ours":
                from paddle_rembert.kernels import bf16

                if not bf16.available():
                    raise RuntimeError(f"bf16 unavailable: {bf16.unavailable_reason()}")
                self.ctx = bf16.autocast if name == "ours-bf16" else lambda: bf16.autocast(amx=False)
        elif name == "paddlenlp":
            import paddlenlp.transformers as nlp

            from paddle_rembert.models import registry

            prefix = registry.get(args.family).paddlenlp_prefix
            if prefix is None:
                raise RuntimeError(f"PaddleNLP has no {args.family} family")
            # PaddleNLP's Auto class picks the class from the config's architectures
            config = getattr(nlp, prefix + "Config")(**cfg, architectures=[prefix + "ForSequenceClassification"])
            self._paddle(nlp.AutoModelForSequenceClassification.from_config(config))
        elif name in ("torch", "torch-bf16"):
            import torch
            import transformers

            self.torch = torch
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(dirs["torch"])
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-5, weight_decay=0.01)
            if name == "torch-bf16":
                self.ctx = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
        elif name in ("predictor-int8", "predictor-int8-ort"):
            from paddle_rembert.deploy.inference import Predictor

            backend = "onnxruntime" if name.endswith("-ort") else "paddle"
            self.predictor = Predictor(dirs["export"], backend=backend, precision="int8", threads=threads,
                                       max_length=args.seq_len)
            self.texts = {b: _texts(self.predictor.tokenizer, b, args.seq_len, seed=args.seed + b)
                          for b in args.batches}
        else:
            from paddle_rembert.deploy.engines import load_engine

            backend = "paddle" if name.startswith(("paddle", "ours")) else "onnxruntime"
            self.engine = load_engine(dirs["export"], backend=backend, threads=threads, precision=PRECISION[name])
            if getattr(self.engine, "precision", PRECISION[name]) != PRECISION[name]:  # a bf16-less CPU: fp32
                raise RuntimeError(f"{PRECISION[name]} unavailable: the engine runs {self.engine.precision} here")

    def _paddle(self, model):
        import paddle

        self.paddle, self.model = paddle, model
        self.opt = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=model.parameters(), weight_decay=0.01)

    @staticmethod
    def _logits(out):
        return out[0] if isinstance(out, (tuple, list)) else out.logits if hasattr(out, "logits") else out

    def forward(self, feed):
        """Logits of ``feed`` (None for the predictor, which runs the batch's texts instead)."""
        if hasattr(self, "predictor"):
            texts = self.texts[len(feed["input_ids"])]
            self.predictor.predict(texts, batch_size=len(texts))
            return None
        if hasattr(self, "engine"):
            return self.engine.run(feed)["logits"]
        self.model.eval()
        if hasattr(self, "torch"):
            with self.torch.no_grad(), self.ctx():
                return self.model(**{k: self.torch.from_numpy(v) for k, v in feed.items()}).logits.float().numpy()
        with self.paddle.no_grad(), self.ctx():
            return self._logits(self.model(**{k: self.paddle.to_tensor(v) for k, v in feed.items()})).numpy()

    def train_step(self, feed, labels):
        if not hasattr(self, "model"):
            raise RuntimeError("an export only runs forward")
        self.model.train()
        if hasattr(self, "torch"):
            with self.ctx():
                out = self.model(**{k: self.torch.from_numpy(v) for k, v in feed.items()},
                                 labels=self.torch.from_numpy(labels))
            out.loss.backward()
            self.opt.step()
            self.opt.zero_grad()
            return
        with self.ctx():
            logits = self._logits(self.model(**{k: self.paddle.to_tensor(v) for k, v in feed.items()}))
            loss = self.paddle.nn.functional.cross_entropy(logits, self.paddle.to_tensor(labels))
        loss.backward()
        self.opt.step()
        self.opt.clear_grad()


def measure_quietly(fn, args):
    """``common.measure`` after waiting for a quiet CPU; a disturbed measurement is taken again."""
    timing = None
    for attempt in range(3 if args.wait_quiet else 1):
        if args.wait_quiet:
            common.wait_for_idle(args.wait_quiet, QUIET)
        t = common.measure(fn, repeat=args.repeat, warmup=args.warmup)
        if timing is None or (t.other_load or 0) < (timing.other_load or 0):
            timing = t
        if (timing.other_load or 0) < QUIET:
            break
    return timing


def bench_backend(args):
    """Time one backend (``args.child``) on every batch size and mode; errors are recorded, not raised."""
    name = args.child
    frameworks = ("torch",) if name.startswith("torch") else ("paddle",)
    threads = common.set_threads(args.threads, frameworks)
    cfg, dirs = model_dirs(args)
    result = {"backend": name, "threads": threads, "batches": {}}
    try:
        backend = Backend(name, args, cfg, dirs, threads)
        common.set_threads(threads, frameworks)  # again, after the framework's own import
    except Exception as exc:  # a family PaddleNLP lacks, a missing package ...
        result["error"] = f"build failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        return result
    result["threads_reported"] = common.thread_report()
    batches = {b: make_batch(cfg, b, args.seq_len, args.seed + b) for b in args.batches}
    for b, (feed, _) in batches.items():  # every batch's logits before any train step changes the weights
        entry = result["batches"][str(b)] = {}
        try:
            logits = backend.forward(feed)
            entry["logits"] = None if logits is None else np.asarray(logits, dtype=np.float64).tolist()
        except Exception as exc:
            entry["forward"] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    for b, (feed, labels) in batches.items():
        entry = result["batches"][str(b)]
        if "logits" not in entry:
            continue
        for mode in args.modes:
            if mode == "train" and name not in DYGRAPH:
                continue
            try:
                common.log(f"[run] {name} {mode} batch {b}: {args.warmup} warm-up + {args.repeat} timed ...")
                fn = (lambda: backend.forward(feed)) if mode == "forward" \
                    else (lambda: backend.train_step(feed, labels))
                entry[mode] = measure_quietly(fn, args).as_dict()
            except Exception as exc:
                entry[mode] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    return result


def child_argv(argv, backend, work_dir):
    keep = common.without_options(argv, ("--json", "--result-file", "--child", "--backends", "--work-dir"))
    return ["-m", "tools.bench.runner", *keep, "--backends", backend, "--child", backend, "--work-dir", work_dir]


# -- report -------------------------------------------------------------------------------------
def _entry(res, b, mode):
    return ((res or {}).get("batches", {}).get(str(b)) or {}).get(mode) or {}


def _logit_diff(res, ref, b):
    a = ((res or {}).get("batches", {}).get(str(b)) or {}).get("logits")
    r = ((ref or {}).get("batches", {}).get(str(b)) or {}).get("logits")
    return None if a is None or r is None else float(np.max(np.abs(np.asarray(a) - np.asarray(r))))


def report(args, cfg, results):
    by = {r["backend"]: r for r in results}
    measured = {k: v for r in results for k, v in (r.get("ceilings") or {}).items()}
    best = ceiling_gemms.best(measured)
    print(f"\n{args.family} ({cfg.get('num_hidden_layers')} layers, hidden {cfg.get('hidden_size')}), "
          f"seq len {args.seq_len}, {results[0]['threads']} thread(s) per backend, median of {args.repeat} after "
          f"{args.warmup} warm-up, " + ("all in one process" if args.in_process else "one subprocess per backend"))
    if measured:
        print(ceiling_gemms.table(measured))
    headers = (["backend", "mode"] + [f"B{b}" for b in args.batches] + [f"B{b} / PyTorch" for b in args.batches]
               + ([f"B{b} of ceiling" for b in args.batches] if best else []))
    rows = []
    for name in args.backends:
        res = by.get(name, {})
        for mode in args.modes:
            if mode == "train" and name not in DYGRAPH:
                continue
            cells, ratios, fractions = [], [], []
            for b in args.batches:
                e = _entry(res, b, mode)
                t = e.get("median_s")
                cells.append("error" if "error" in res or "error" in e else common.fmt_seconds(t))
                ratios.append(common.fmt_ratio(common.ratio(t, _entry(by.get("torch"), b, mode).get("median_s"))))
                ceiling = best.get(PRECISION[name])
                flops = forward_flops(cfg, b, args.seq_len) * (3 if mode == "train" else 1)
                fractions.append(f"{100 * flops / t / 1e9 / ceiling:.0f}%" if t and ceiling else "-")
            rows.append([LABELS[name], mode] + cells + ratios + (fractions if best else []))
    print(common.format_table(headers, rows))
    print("Ratios are time ratios to PyTorch fp32 eager: below 1.00x is faster. \"of ceiling\": the model's GEMM "
          "FLOP/s over the best 2048^3 GEMM of the backend's precision. PaddleNLP runs its own random weights.")
    for name in args.backends:
        if name in ("ours", "paddlenlp") or name not in by:
            continue
        diffs = [_logit_diff(by[name], by.get("ours"), b) for b in args.batches]
        shown = ", ".join(f"B{b} {d:.1e}" for b, d in zip(args.batches, diffs) if d is not None)
        if shown:
            print(f"{LABELS[name]}: max |logits - ours| {shown}")
    for r in results:
        if r["backend"] in CEILINGS:
            if r.get("error"):
                print(f"{r['backend']}: {r['error']}")
            continue
        for b in args.batches:
            for mode in args.modes:
                load = _entry(r, b, mode).get("other_load_cores")
                if load is not None and load > QUIET:
                    print(f"note: other processes kept {load:.1f} cores busy during {LABELS[r['backend']]} {mode} B{b}")
        errors = [r.get("error")] + [_entry(r, b, m).get("error") for b in args.batches for m in args.modes]
        for e in filter(None, errors):
            print(f"{LABELS[r['backend']]}: {e}")


def run_one(args):
    """The result of backend ``args.child`` (a ceiling or a model backend), in this process."""
    if args.child in ceiling_gemms.CHILDREN:
        ceiling_gemms.SECONDS = args.ceiling_seconds
        return {"backend": args.child, "threads": args.threads,
                "ceilings": ceiling_gemms.CHILDREN[args.child](args.threads)}
    return bench_backend(args)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        common.write_json(args.result_file, run_one(args))
        return 0
    args.threads = common.set_threads(args.threads, ())
    t0 = time.perf_counter()
    cfg, _ = prepare(args)
    common.log(f"[run] prepared in {time.perf_counter() - t0:.1f} s")
    results = []
    for name in (CEILINGS if args.ceilings else ()) + tuple(args.backends):
        try:
            if args.in_process:  # the libraries' prints go where a child's would not: out of the report
                with contextlib.redirect_stdout(sys.stderr):
                    results.append(run_one(argparse.Namespace(**dict(vars(args), child=name))))
                continue
            child = child_argv(argv, name, os.path.abspath(args.work_dir))
            if "--threads" not in argv:
                child += ["--threads", str(args.threads)]
            results.append(common.run_child(child, cwd=REPO))
        except Exception as exc:
            results.append({"backend": name, "threads": args.threads, "error": str(exc)})
    report(args, cfg, results)
    measured = any(_entry(r, b, m).get("median_s") is not None for r in results for b in args.batches
                   for m in args.modes)
    if args.json:
        common.write_json(args.json, {"benchmark": "run", "args": {k: v for k, v in vars(args).items()
                                                                    if k not in ("child", "result_file")},
                                      "config": cfg, "environment": common.environment(PACKAGES),
                                      "results": results})
        print(f"wrote {args.json}")
    return 0 if measured or not args.backends else 1  # nothing measured: the errors above say why


if __name__ == "__main__":
    sys.exit(main())
