"""``tools/benchmark.py inference``: the exported model against dygraph, PyTorch and onnxruntime.

For each model (ALBERT-base; RemBERT at full width with ``--rembert-layers`` layers, 4 by
default) a ``*ForSequenceClassification`` with seeded random weights is built once, then:

* exported with ``paddle_rembert.export`` (``inference.json`` + ``.pdiparams``, and
  ``model.onnx`` through paddle2onnx), and
* converted to transformers' PyTorch layout with ``paddle_rembert.convert`` (the same weights),

and every backend runs the same padded batches (lengths between half and all of ``--seq-len``,
the first full, 0/1 attention mask), ``--batches`` sizes each:

=======================  ==============================================================
``paddle-inference``     the export in Paddle Inference, oneDNN, fp32 (our default)
``paddle-inference-bf16`` the same with oneDNN bfloat16 (``--precision bf16``)
``onnxruntime``          ``model.onnx`` in onnxruntime, all graph optimisations
``dygraph``              our Paddle model, eager, ``paddle.no_grad()``
``torch``                transformers' PyTorch model, eager, ``torch.no_grad()``
=======================  ==============================================================

Each backend runs in its own subprocess (OpenMP pools of different runtimes spin and compete
otherwise) with the same thread count. Timings are medians of ``--repeat`` runs after
``--warmup``; ratios are to PyTorch eager (below 1.00x = faster). Every backend's logits are
compared with dygraph's, so a fast but wrong path shows. The load other processes put on the
machine during each measurement is printed: numbers taken on a busy machine are not comparable.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

from . import common

BACKENDS = ("paddle-inference", "paddle-inference-bf16", "onnxruntime", "dygraph", "torch")
LABELS = {"paddle-inference": "Paddle Inference (oneDNN fp32)",
          "paddle-inference-bf16": "Paddle Inference (oneDNN bf16)",
          "onnxruntime": "onnxruntime", "dygraph": "dygraph (ours)", "torch": "PyTorch eager"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {
    "albert": os.path.join(REPO, "tests", "fixtures", "real-configs", "albert-base-v2", "config.json"),
    "rembert": os.path.join(REPO, "tests", "fixtures", "real-configs", "google-rembert", "config.json"),
}
PACKAGES = ("paddlepaddle", "paddle2onnx", "onnxruntime", "torch", "transformers", "numpy")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tools/benchmark.py inference", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="albert,rembert", help="comma-separated: albert, rembert (default both)")
    p.add_argument("--rembert-layers", type=int, default=4, help="RemBERT layers (full width; default 4)")
    p.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes (default 1,8,32)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated subset of {','.join(BACKENDS)}")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for every backend (default: all cores)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per batch size; the median is reported")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--work-dir", default=os.path.join(REPO, "bench_output", "inference"),
                   help="where the models and exports are built (reused while the configuration is the same)")
    p.add_argument("--tiny", action="store_true", help="tiny configs (a smoke test of the benchmark itself)")
    p.add_argument("--same-process", action="store_true", help="run every backend in this process")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each measurement, wait up to SECONDS for other processes to leave the CPUs idle")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write all timings and the environment as JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)  # "prepare:MODEL" or "run:MODEL:BACKEND"
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.backends = [b for b in args.backends.split(",") if b]
    args.batches = [int(b) for b in args.batches.split(",") if b]
    for m in args.models:
        if m not in CONFIGS:
            p.error(f"unknown model {m!r}; choose from {', '.join(CONFIGS)}")
    for b in args.backends:
        if b not in BACKENDS:
            p.error(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
    if not args.batches or min(args.batches) < 1:
        p.error("--batches needs positive sizes")
    return args


# -- the workload -------------------------------------------------------------------------------
def load_config(model, args):
    if args.tiny:
        from paddle_rembert.testing import TINY_CONFIGS

        cfg = dict(TINY_CONFIGS[model], max_position_embeddings=max(40, args.seq_len), num_labels=2,
                   model_type=model)
        return cfg
    with open(CONFIGS[model]) as f:
        cfg = json.load(f)
    for key in ("_name_or_path", "architectures", "transformers_version", "use_cache"):
        cfg.pop(key, None)
    if model == "rembert":
        cfg["num_hidden_layers"] = args.rembert_layers
    cfg["num_labels"] = 2
    return cfg


def describe(model, cfg):
    return (f"{model} ({cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
            f"vocab {cfg['vocab_size']})")


def model_dirs(args, model):
    cfg = load_config(model, args)
    key = hashlib.sha1(json.dumps([cfg, args.seed, args.tiny], sort_keys=True).encode()).hexdigest()[:10]
    root = os.path.join(args.work_dir, f"{model}-{key}")
    return cfg, {"root": root, "paddle": os.path.join(root, "paddle"), "torch": os.path.join(root, "torch"),
                 "export": os.path.join(root, "export"), "done": os.path.join(root, "prepared.json")}


def prepare(args, model):
    """Build the model once (seeded random weights), export it (+ONNX) and convert it to PyTorch."""
    cfg, dirs = model_dirs(args, model)
    if os.path.isfile(dirs["done"]):
        with open(dirs["done"]) as f:
            return json.load(f)
    common.set_threads(args.threads, ("paddle",))
    import paddle

    import paddle_rembert as pr
    from paddle_rembert.convert import convert_checkpoint
    from paddle_rembert.deploy.export import export_loaded

    t0 = time.perf_counter()
    paddle.seed(args.seed)
    config_class = pr.AlbertConfig if model == "albert" else pr.RemBertConfig
    head = pr.AlbertForSequenceClassification if model == "albert" else pr.RemBertForSequenceClassification
    net = head(config_class(**cfg)).eval()
    net.save_pretrained(dirs["paddle"])
    common.log(f"[inference] {model}: exporting (Paddle + ONNX) ...")
    meta = export_loaded(net, dirs["export"], "sequence-classification", onnx=True, overwrite=True)
    common.log(f"[inference] {model}: converting to PyTorch ...")
    convert_checkpoint(dirs["paddle"], dirs["torch"], to="torch", overwrite=True, progress=False)
    info = {"model": model, "config": cfg, "dirs": dirs, "export_check": meta.get("check"),
            "onnx_check": meta.get("onnx_check"), "onnx_opset": meta.get("onnx_opset"),
            "prepare_s": time.perf_counter() - t0}
    common.write_json(dirs["done"], info)
    return info


# -- one runner per backend ----------------------------------------------------------------------
class Runner:
    def __init__(self, backend, dirs, threads):
        self.backend = backend
        if backend.startswith("paddle-inference"):
            from paddle_rembert.deploy.inference import load_engine

            precision = "bf16" if backend.endswith("bf16") else "fp32"
            self.engine = load_engine(dirs["export"], backend="paddle", threads=threads, precision=precision)
            self.fn = lambda feed: self.engine.run(feed)["logits"]
        elif backend == "onnxruntime":
            from paddle_rembert.deploy.inference import load_engine

            self.engine = load_engine(dirs["export"], backend="onnxruntime", threads=threads)
            self.fn = lambda feed: self.engine.run(feed)["logits"]
        elif backend == "dygraph":
            import paddle

            import paddle_rembert as pr

            model = pr.AutoModelForSequenceClassification.from_pretrained(dirs["paddle"]).eval()

            def run(feed):
                with paddle.no_grad():
                    return model(**{k: paddle.to_tensor(v) for k, v in feed.items()}).logits.numpy()

            self.fn = run
        elif backend == "torch":
            import torch
            import transformers

            model = transformers.AutoModelForSequenceClassification.from_pretrained(dirs["torch"]).eval()

            def run(feed):
                with torch.no_grad():
                    return model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()

            self.fn = run
        else:  # pragma: no cover - parse_args rejects it
            raise ValueError(backend)


def bench_backend(args, model, backend):
    """Time one backend on every batch size, in this process; errors are recorded, not raised."""
    frameworks = ("torch",) if backend == "torch" else ("paddle",)
    threads = common.set_threads(args.threads, frameworks)
    cfg, dirs = model_dirs(args, model)
    result = {"model": model, "backend": backend, "threads": threads, "batches": {}}
    try:
        runner = Runner(backend, dirs, threads)
        common.set_threads(threads, frameworks)  # again, after the framework's own import
    except Exception as exc:
        result["error"] = f"build failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        return result
    for b in args.batches:
        feed = common.padded_batch(cfg, b, args.seq_len, np.random.default_rng(args.seed + b))
        try:
            common.log(f"[inference] {model} {backend} batch {b}: {args.warmup} warm-up + {args.repeat} timed ...")
            logits = runner.fn(feed)
            timing = None
            for attempt in range(3 if args.wait_quiet else 1):  # a disturbed measurement is taken again
                if args.wait_quiet:
                    load = common.wait_for_idle(args.wait_quiet, QUIET)
                    if load is not None and load >= QUIET:
                        common.log(f"[inference] still {load:.2f} busy cores from other processes; measuring anyway")
                t = common.measure(lambda: runner.fn(feed), repeat=args.repeat, warmup=max(0, args.warmup - 1))
                if timing is None or (t.other_load or 0) < (timing.other_load or 0):
                    timing = t
                if (timing.other_load or 0) < QUIET:
                    break
                common.log(f"[inference] disturbed ({timing.other_load:.2f} busy cores from other processes)")
            result["batches"][str(b)] = dict(timing.as_dict(), logits=np.asarray(logits, dtype=np.float64).tolist(),
                                             attempts=attempt + 1)
        except Exception as exc:
            result["batches"][str(b)] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    return result


QUIET = 0.25  # cores other processes may keep busy for a measurement to count as undisturbed


def child_argv(argv, child):
    keep = common.without_options(argv, ("--json", "--result-file", "--child"))
    return [os.path.join(REPO, "tools", "benchmark.py"), "inference", *keep, "--child", child]


# -- report -------------------------------------------------------------------------------------
def _median(res, b):
    entry = (res or {}).get("batches", {}).get(str(b)) or {}
    return entry.get("median_s")


def _diff(res, ref, b):
    a = ((res or {}).get("batches", {}).get(str(b)) or {}).get("logits")
    r = ((ref or {}).get("batches", {}).get(str(b)) or {}).get("logits")
    if a is None or r is None:
        return None
    return float(np.max(np.abs(np.asarray(a) - np.asarray(r))))


def report(model, cfg, results, args):
    by = {r["backend"]: r for r in results}
    torch_res, ref = by.get("torch"), by.get("dygraph")
    print(f"\n{describe(model, cfg)}, seq len {args.seq_len}, {by[next(iter(by))]['threads']} thread(s), "
          f"median of {args.repeat} after {args.warmup} warm-up")
    backends = [b for b in args.backends if b in by]
    headers = ["batch"] + [LABELS[b] for b in backends]
    rows = []
    for b in args.batches:
        row = [str(b)]
        for be in backends:
            res = by[be]
            entry = res.get("batches", {}).get(str(b)) or {}
            if "error" in res or "error" in entry:
                row.append("error")
                continue
            cell = common.fmt_seconds(entry.get("median_s"))
            if (entry.get("other_load_cores") or 0) >= QUIET:
                cell += "*"
            r = common.ratio(_median(res, b), _median(torch_res, b)) if be != "torch" else None
            if r is not None:
                cell += f" ({r:.2f}x)"
            row.append(cell)
        rows.append(row)
    print(common.format_table(headers, rows))
    print("(N.NNx) = time / PyTorch eager time at the same batch size: below 1.00x is faster. "
          f"* = other processes kept >= {QUIET} cores busy during that measurement.")
    diffs = []
    for be in backends:
        if be == "dygraph":
            continue
        d = [x for x in (_diff(by[be], ref, b) for b in args.batches) if x is not None]
        if d:
            diffs.append(f"{be} {max(d):.1e}")
    if diffs:
        print("max |logits - dygraph logits|: " + ", ".join(diffs))
    loads = [e.get("other_load_cores") for r in results for e in r.get("batches", {}).values()
             if isinstance(e, dict) and e.get("other_load_cores") is not None]
    if loads:
        print(f"load from other processes during timing: up to {max(loads):.2f} cores "
              f"({'quiet' if max(loads) < QUIET else 'BUSY: timings are disturbed'})")
    for r in results:
        errs = [r.get("error")] + [(e or {}).get("error") for e in r.get("batches", {}).values()]
        for e in filter(None, errs):
            print(f"{LABELS[r['backend']]}: {e}")
    verdicts(by, args)


def verdicts(by, args):
    torch_res = by.get("torch")
    if torch_res is None:
        return
    for b in (1, 8):
        if b not in args.batches:
            continue
        r = common.ratio(_median(by.get("paddle-inference"), b), _median(torch_res, b))
        if r is not None:
            print(f"target batch {b}: Paddle Inference fp32 / PyTorch = {r:.2f}x (need <= 0.75x): "
                  f"{'met' if r <= 0.75 else 'NOT met'}")
        offered = [be for be in ("paddle-inference", "paddle-inference-bf16", "onnxruntime") if be in by]
        for kind, names in (("fp32", [be for be in offered if not be.endswith("bf16")]), ("any precision", offered)):
            fastest = [(common.ratio(_median(by.get(be), b), _median(torch_res, b)), be) for be in names]
            fastest = [f for f in fastest if f[0] is not None]
            if fastest:
                r, be = min(fastest)
                print(f"target batch {b}: fastest offered, {kind} ({be}) / PyTorch = {r:.2f}x (need <= 0.50x): "
                      f"{'met' if r <= 0.5 else 'NOT met'}")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        kind, _, rest = args.child.partition(":")
        if kind == "prepare":
            out = prepare(args, rest)
        else:
            model, _, backend = rest.partition(":")
            out = bench_backend(args, model, backend)
        if args.result_file:
            common.write_json(args.result_file, out)
        return 0
    threads = common.set_threads(args.threads, ())
    args.threads = threads
    if "--threads" not in argv and not any(a.startswith("--threads=") for a in argv):
        argv = [*argv, "--threads", str(threads)]
    everything = []
    for model in args.models:
        cfg, _ = model_dirs(args, model)
        try:
            info = prepare(args, model) if args.same_process else common.run_child(child_argv(argv, f"prepare:{model}"))
        except Exception as exc:
            print(f"{model}: preparing the model failed: {exc}")
            continue
        results = []
        for backend in args.backends:
            if args.same_process:
                results.append(bench_backend(args, model, backend))
                continue
            try:
                results.append(common.run_child(child_argv(argv, f"run:{model}:{backend}")))
            except Exception as exc:
                results.append({"model": model, "backend": backend, "threads": threads, "error": str(exc)})
        report(model, cfg, results, args)
        everything.append({"model": model, "config": cfg, "prepare": info, "results": results})
    if args.json:
        common.write_json(args.json, {
            "benchmark": "inference",
            "args": {k: v for k, v in vars(args).items() if k not in ("child", "result_file")},
            "environment": common.environment(PACKAGES), "models": everything})
        print(f"wrote {args.json}")
    return 0
