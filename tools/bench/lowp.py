"""``python -m tools.bench.lowp``: low precision side by side -- fp32, bf16 and int8, ours and PyTorch's.

For an ALBERT-base and a BERT-base shape, at each batch size (``--batches``, default 1,8,32) and
sequence length 128, times:

==================  ==================================================================  ==============
row                 what runs                                                           modes
==================  ==================================================================  ==============
ours fp32           our Paddle model, dygraph                                           train, forward
ours bf16           the same inside ``paddle_rembert.kernels.bf16.autocast()``          train, forward
ours bf16 +ln/gelu  ``ours bf16`` plus LayerNorm and gelu on ``kernels.bf16``'s oneDNN  train, forward
                    ops (the wiring proposed for the models, on this instance only)
torch fp32          transformers, eager                                                 train, forward
torch bf16          transformers inside ``torch.autocast("cpu", dtype=torch.bfloat16)`` train, forward
ort fp32            onnxruntime on the export's ``model.onnx``                          forward
ort int8            onnxruntime on ``model.int8.onnx`` (``deploy.quantize``)             forward
ours int8 e2e       ``Predictor`` with the int8 engine: tokenising, batching, softmax   forward
==================  ==================================================================  ==============

Each row is reported as a ratio to PyTorch fp32 eager (same mode and batch; below 1.00x =
faster) and as the fraction of this machine's matmul ceiling for its precision, measured in the
same run (a 2048^3 GEMM: fp32 with Paddle and PyTorch, bf16 with our kernel and PyTorch, int8
u8*s8 with onnxruntime; the best of each): model FLOPs per second / ceiling.

Shapes: ``albert`` = albert-base-v2's config (vocab 30000, embedding 128, hidden 768, 12 layers
sharing one group). ``bert`` = hidden 768, 12 layers, intermediate 3072, vocab 30522: PyTorch
runs transformers' ``BertForSequenceClassification``; ours runs ALBERT with ``embedding_size``
768 and 12 hidden groups (no sharing; one extra 768x768 embedding projection), unless
``--bert-family`` asks for our BERT family. Weights are random; the int8 export's tokenizer is
a small SentencePiece model trained here on synthetic text (timing only).

Every runtime runs in its own subprocess with the same thread count. Measurements only.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from . import common

REPO = common.REPO
ALBERT_CONFIG = os.path.join(REPO, "tests", "fixtures", "real-configs", "albert-base-v2", "config.json")
MODELS = ("albert", "bert")
ROWS = ("ours fp32", "ours bf16", "ours bf16 +ln/gelu", "torch fp32", "torch bf16", "ort fp32", "ort int8",
        "ours int8 e2e")
PRECISION = {"ours fp32": "fp32", "ours bf16": "bf16", "ours bf16 +ln/gelu": "bf16", "torch fp32": "fp32",
             "torch bf16": "bf16", "ort fp32": "fp32", "ort int8": "int8", "ours int8 e2e": "int8"}
PACKAGES = ("paddlepaddle", "torch", "transformers", "onnxruntime", "paddle2onnx", "numpy")
QUIET = 0.3


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.bench.lowp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of albert,bert")
    p.add_argument("--batches", default="1,8,32")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--layers", type=int, default=None, help="override the number of layers (quick checks)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for every runtime (default: all cores)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs at batch <= 8 (half, at least 2, above)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of: " + ", ".join(ROWS))
    p.add_argument("--bert-family", action="store_true", help="run our BERT family for the bert shape")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time; cpu: this process's CPU time (all its threads), steadier on a busy "
                        "machine with --threads 1, where it equals the time of an idle machine more closely")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each measurement wait up to SECONDS for other processes to leave the CPU idle")
    p.add_argument("--work-dir", default=os.path.join(REPO, "bench_output", "lowp"),
                   help="where model directories and exports are kept (reused)")
    p.add_argument("--json", metavar="PATH", help="also write every timing as JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.batches = [int(b) for b in args.batches.split(",") if b]
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    for r in args.rows:
        if r not in ROWS:
            p.error(f"unknown row {r!r}")
    return args


# -- workloads ----------------------------------------------------------------------------------------
def config(model, args):
    with open(ALBERT_CONFIG) as f:
        cfg = json.load(f)
    for key in ("_name_or_path", "architectures", "transformers_version", "model_type"):
        cfg.pop(key, None)
    cfg.update(num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    if model == "bert":
        cfg.update(vocab_size=30522, embedding_size=768, num_hidden_groups=12, hidden_act="gelu")
    if args.layers:
        cfg["num_hidden_layers"] = args.layers
    return cfg


def forward_flops(model, cfg, batch, seq_len):
    """Multiply-adds x 2 of one forward (GEMMs only; the embedding projection counts for ALBERT)."""
    t, h, i = batch * seq_len, cfg["hidden_size"], cfg["intermediate_size"]
    layer = 2 * t * (4 * h * h + 2 * h * i) + 4 * batch * seq_len * seq_len * h
    proj = 2 * t * cfg["embedding_size"] * h if model == "albert" else 0  # BERT: counted as BERT has it
    return cfg["num_hidden_layers"] * layer + proj + 2 * batch * h * h


def repeats(args, batch):
    return args.repeat if batch <= 8 else max(2, args.repeat // 2)


def make_batch(cfg, batch, seq_len, seed=0):
    rng = np.random.default_rng(seed)
    feed = common.padded_batch(dict(cfg, vocab_size=min(cfg["vocab_size"], 1000)), batch, seq_len, rng)
    labels = rng.integers(0, cfg["num_labels"], size=batch, dtype=np.int64)
    return feed, labels


def _measure_cpu(fn, repeat, warmup):
    for _ in range(warmup):
        fn()
    times = []
    monitor = common.LoadMonitor().start()
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return common.Timing(times, warmup, monitor.stop())


def timed(fn, args, batch):
    timing = None
    measure = _measure_cpu if args.clock == "cpu" else common.measure
    for _ in range(3 if args.wait_quiet else 1):
        if args.wait_quiet:
            common.wait_for_idle(args.wait_quiet, QUIET)
        t = measure(fn, repeat=repeats(args, batch), warmup=args.warmup)
        if timing is None or (t.other_load or 0) < (timing.other_load or 0):
            timing = t
        if (timing.other_load or 0) < QUIET:
            break
    return timing.as_dict()


# -- children --------------------------------------------------------------------------------------
def child_ceiling_paddle(args):
    common.set_threads(args.threads, ("paddle",))
    import paddle

    from paddle_rembert.kernels import bf16

    n = 2048
    a, b = paddle.randn([n, n]), paddle.randn([n, n])
    out = {"fp32 paddle": _gemm_rate(lambda: paddle.matmul(a, b).numpy(), n, args.clock)}
    if bf16.available():
        ab, bb = a.astype("bfloat16"), b.astype("bfloat16")
        out["bf16 ours (bf16 operands)"] = _gemm_rate(lambda: bf16.matmul_raw(ab, bb).numpy(), n, args.clock)
        out["bf16 ours (fp32 operands)"] = _gemm_rate(lambda: bf16.matmul_raw(a, b).numpy(), n, args.clock)
    return out


def child_ceiling_torch(args):
    common.set_threads(args.threads, ("torch",))
    import torch

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    ab, bb = a.bfloat16(), b.bfloat16()
    return {"fp32 torch": _gemm_rate(lambda: a @ b, n, args.clock),
            "bf16 torch": _gemm_rate(lambda: ab @ bb, n, args.clock)}


def child_ceiling_ort(args):
    threads = common.set_threads(args.threads, ())
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = 2048

    def session(nodes, inputs, out_type):
        graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", out_type, [n, n])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(0)
    s8 = session([helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
                 [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
                  helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])], TensorProto.INT32)
    a8, b8 = rng.integers(0, 255, (n, n), dtype=np.uint8), rng.integers(-127, 127, (n, n), dtype=np.int8)
    s32 = session([helper.make_node("MatMul", ["a", "b"], ["y"])],
                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                   helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])], TensorProto.FLOAT)
    a32, b32 = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    del onnx
    return {"int8 onnxruntime (u8 x s8)": _gemm_rate(lambda: s8.run(None, {"a": a8, "b": b8}), n, args.clock),
            "fp32 onnxruntime": _gemm_rate(lambda: s32.run(None, {"a": a32, "b": b32}), n, args.clock)}


def _gemm_rate(fn, n, clock="wall", seconds=3.0):
    """Best and median GFLOP/s of an n^3 GEMM over >= ``seconds``, timed with the rows' clock."""
    tick = time.process_time if clock == "cpu" else time.perf_counter
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = tick()
        fn()
        times.append(tick() - t)
    return {"gflops": 2 * n ** 3 / min(times) / 1e9, "median_gflops": 2 * n ** 3 / float(np.median(times)) / 1e9}


def _our_model(model, cfg, args):
    import paddle_rembert as pr

    if model == "bert" and args.bert_family:
        bert = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=cfg["num_hidden_layers"],
                    num_attention_heads=12, intermediate_size=3072, num_labels=2, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)
        return pr.AutoModelForSequenceClassification.from_config(pr.AutoConfig.for_model("bert", **bert))
    return pr.AlbertForSequenceClassification(pr.AlbertConfig(**cfg))


def _wire_kernels(net, cfg):
    """Route this instance's LayerNorms and FFN gelu through kernels.bf16 under its autocast (what the proposed
    ``layers.LayerNorm`` / ``ACT2FN`` wiring does), leaving fp32 untouched; instance attributes only."""
    import types

    import paddle

    from paddle_rembert.kernels import bf16

    def ln_forward(self, x):
        if bf16.active(x):
            return bf16.layer_norm(x, self.weight, self.bias, self._epsilon)
        return paddle.nn.functional.layer_norm(x, self._normalized_shape, self.weight, self.bias, self._epsilon)

    approximate = cfg.get("hidden_act", "gelu_new") != "gelu"
    for layer in net.sublayers():
        if isinstance(layer, paddle.nn.LayerNorm):
            layer.forward = types.MethodType(ln_forward, layer)
        if "activation" in layer.__dict__ and callable(layer.__dict__["activation"]):
            plain = layer.__dict__["activation"]
            layer.activation = lambda x, plain=plain: bf16.gelu(x, approximate) if bf16.active(x) else plain(x)
    return net


def child_ours(args, model):
    common.set_threads(args.threads, ("paddle",))
    import contextlib

    import paddle

    from paddle_rembert.kernels import bf16

    cfg = config(model, args)
    paddle.seed(0)
    net = _our_model(model, cfg, args)
    opt = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=net.parameters(), weight_decay=0.01)
    common.set_threads(args.threads, ("paddle",))
    out = {"bf16_available": bf16.available(), "bf16_unavailable": bf16.unavailable_reason()}
    for row, ctx in (("ours fp32", contextlib.nullcontext), ("ours bf16", bf16.autocast),
                     ("ours bf16 +ln/gelu", bf16.autocast)):
        if row not in args.rows:
            continue
        if row == "ours bf16 +ln/gelu":
            paddle.seed(0)
            net = _wire_kernels(_our_model(model, cfg, args), cfg)
            opt = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=net.parameters(), weight_decay=0.01)
        for b in args.batches:
            feed, labels = make_batch(cfg, b, args.seq_len, b)
            inputs = {k: paddle.to_tensor(v) for k, v in feed.items()}
            y = paddle.to_tensor(labels)

            def train():
                net.train()
                with ctx():
                    logits = net(**inputs)[0]
                    loss = paddle.nn.functional.cross_entropy(logits, y)
                loss.backward()
                opt.step()
                opt.clear_grad()

            def forward():
                net.eval()
                with ctx(), paddle.no_grad():
                    net(**inputs)[0].numpy()

            for mode, fn in (("train", train), ("forward", forward)):
                common.log(f"[lowp] {model} {row} {mode} batch {b} ...")
                out[f"{row}|{mode}|{b}"] = timed(fn, args, b)
    return out


def child_torch(args, model):
    common.set_threads(args.threads, ("torch",))
    import contextlib

    import torch
    import transformers

    cfg = config(model, args)
    torch.manual_seed(0)
    if model == "bert":
        net = transformers.BertForSequenceClassification(transformers.BertConfig(
            vocab_size=30522, hidden_size=768, num_hidden_layers=cfg["num_hidden_layers"], num_attention_heads=12,
            intermediate_size=3072, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    else:
        net = transformers.AlbertForSequenceClassification(transformers.AlbertConfig(**cfg))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-5, weight_decay=0.01)
    common.set_threads(args.threads, ("torch",))
    out = {}
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    for row, ctx in (("torch fp32", contextlib.nullcontext), ("torch bf16", autocast)):
        if row not in args.rows and not (row == "torch fp32"):
            continue
        for b in args.batches:
            feed, labels = make_batch(cfg, b, args.seq_len, b)
            inputs = {k: torch.from_numpy(v) for k, v in feed.items()}
            y = torch.from_numpy(labels)

            def train():
                net.train()
                with ctx():
                    loss = net(**inputs, labels=y).loss
                loss.backward()
                opt.step()
                opt.zero_grad()

            def forward():
                net.eval()
                with ctx(), torch.no_grad():
                    net(**inputs).logits.float().numpy()

            for mode, fn in (("train", train), ("forward", forward)):
                common.log(f"[lowp] {model} {row} {mode} batch {b} ...")
                out[f"{row}|{mode}|{b}"] = timed(fn, args, b)
    return out


def prepare_export(args, model):
    """A model directory (our weights + a small trained tokenizer), its export with ONNX, and the int8 model."""
    root = os.path.join(args.work_dir, f"{model}-{args.layers or 'full'}{'-bert' if args.bert_family else ''}")
    export_dir, done = os.path.join(root, "export"), os.path.join(root, "prepared.json")
    if os.path.isfile(done):
        return export_dir
    common.set_threads(args.threads, ("paddle",))
    import paddle

    from paddle_rembert import testing
    from paddle_rembert.deploy.export import export_model
    from paddle_rembert.deploy.quantize import quantize_export

    model_dir = os.path.join(root, "model")
    testing.write_tiny_model_dir(model_dir, "bert" if (model == "bert" and args.bert_family) else "albert",
                                 testing.synthetic_texts(), vocab_size=400)
    cfg = config(model, args)
    paddle.seed(0)
    _our_model(model, cfg, args).save_pretrained(model_dir)
    common.log(f"[lowp] {model}: exporting (Paddle + ONNX) and quantizing ...")
    export_model(model_dir, export_dir, task="sequence-classification", onnx=True, overwrite=True)
    quantize_export(export_dir)
    common.write_json(done, {"model": model, "config": cfg})
    return export_dir


def _texts(tokenizer, n, seq_len, seed=0):
    """``n`` texts of at least ``seq_len`` tokens each (truncated by the predictor)."""
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


def child_export(args, model):
    export_dir = prepare_export(args, model)
    threads = common.set_threads(args.threads, ("paddle",))
    from paddle_rembert.deploy.format import read_meta
    from paddle_rembert.deploy.engines import Int8Engine, OnnxEngine
    from paddle_rembert.deploy.inference import Predictor

    meta = read_meta(export_dir)
    cfg = config(model, args)
    out = {"int8_check": (meta.get("int8") or {}).get("check")}
    engines = {"ort fp32": OnnxEngine(export_dir, meta, threads=threads),
               "ort int8": Int8Engine(export_dir, meta, threads=threads)}
    predictor = Predictor(export_dir, backend="onnxruntime", threads=threads, max_length=args.seq_len)
    predictor.engine = Int8Engine(export_dir, meta, threads=threads)
    for b in args.batches:
        feed, _ = make_batch(dict(cfg, vocab_size=min(cfg["vocab_size"], len(predictor.tokenizer))), b, args.seq_len, b)
        for row, engine in engines.items():
            if row in args.rows:
                common.log(f"[lowp] {model} {row} forward batch {b} ...")
                out[f"{row}|forward|{b}"] = timed(lambda: engine.run(feed), args, b)
        if "ours int8 e2e" in args.rows:
            texts = _texts(predictor.tokenizer, b, args.seq_len, seed=b)
            common.log(f"[lowp] {model} ours int8 e2e forward batch {b} ...")
            out[f"ours int8 e2e|forward|{b}"] = timed(lambda: predictor.predict(texts, batch_size=b), args, b)
    return out


CHILDREN = {"ceiling-paddle": child_ceiling_paddle, "ceiling-torch": child_ceiling_torch,
            "ceiling-ort": child_ceiling_ort}


def run_child_here(args):
    kind, _, model = args.child.partition(":")
    fn = CHILDREN.get(kind) or {"ours": child_ours, "torch": child_torch, "export": child_export}[kind]
    result = fn(args, model) if model else fn(args)
    with open(args.result_file, "w") as f:
        json.dump(result, f)
    return 0


# -- the parent ---------------------------------------------------------------------------------------
def _row_children(args, model):
    kids = []
    if {"ours fp32", "ours bf16", "ours bf16 +ln/gelu"} & set(args.rows):
        kids.append(f"ours:{model}")
    kids.append(f"torch:{model}")  # torch fp32 is every ratio's reference
    if {"ort fp32", "ort int8", "ours int8 e2e"} & set(args.rows):
        kids.append(f"export:{model}")
    return kids


def report(args, ceilings, results):
    best = {"fp32": max((v["gflops"] for k, v in ceilings.items() if k.startswith("fp32")), default=None),
            "bf16": max((v["gflops"] for k, v in ceilings.items() if k.startswith("bf16")), default=None),
            "int8": max((v["gflops"] for k, v in ceilings.items() if k.startswith("int8")), default=None)}
    lines = [f"Clock: {args.clock} time. Matmul ceilings (2048^3, {args.threads or common.cpu_count()} threads, "
             f"best of >= 3 s):",
             common.format_table(["GEMM", "GFLOP/s (best)", "median"],
                                 [[k, f"{v['gflops']:.0f}", f"{v['median_gflops']:.0f}"] for k, v in ceilings.items()])]
    for model in args.models:
        res = results.get(model, {})
        cfg = config(model, args)
        rows = []
        for b in args.batches:
            for mode in ("train", "forward"):
                ref = (res.get(f"torch fp32|{mode}|{b}") or {}).get("median_s")
                for row in ROWS:
                    t = res.get(f"{row}|{mode}|{b}")
                    if row not in args.rows and row != "torch fp32" or not t:
                        continue
                    flops = forward_flops(model, cfg, b, args.seq_len) * (3 if mode == "train" else 1)
                    ceiling = best[PRECISION[row]]
                    frac = flops / t["median_s"] / 1e9 / ceiling if ceiling else None
                    load = t.get("other_load_cores")
                    rows.append([b, mode, row, common.fmt_seconds(t["median_s"]), common.fmt_ratio(
                        common.ratio(t["median_s"], ref)), "-" if frac is None else f"{100 * frac:.0f}%",
                        "-" if load is None else f"{load:.2f}"])
        what = "ALBERT-base (albert-base-v2 config)" if model == "albert" else \
            "BERT-base shape (ours: " + ("our BERT" if args.bert_family else "ALBERT, embedding 768, 12 groups") + \
            "; PyTorch: BertForSequenceClassification)"
        lines += ["", f"{what}, length {args.seq_len}; ratio = time / PyTorch fp32 eager; ceiling = model FLOP/s "
                  f"over the best GEMM of the row's precision",
                  common.format_table(["batch", "mode", "row", "median", "vs torch fp32", "of ceiling",
                                       "other load"], rows)]
        check = res.get("int8_check")
        if check:
            lines.append(f"int8 vs fp32 (export check batch): max probability change "
                         f"{check['max_probability_change']:.4f}, label agreement {check['label_agreement']:.3f}")
        if res.get("bf16_available") is False:
            lines.append(f"bf16 kernel unavailable: {res.get('bf16_unavailable')}")
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        return run_child_here(args)
    base = ["-m", "tools.bench.lowp", *common.without_options(argv, ("--json", "--child", "--result-file"))]
    ceilings, results, errors = {}, {}, {}
    for kid in ("ceiling-paddle", "ceiling-torch", "ceiling-ort"):
        try:
            ceilings.update(common.run_child(base + ["--child", kid]))
        except RuntimeError as e:
            errors[kid] = str(e)
    for model in args.models:
        for kid in _row_children(args, model):
            try:
                results.setdefault(model, {}).update(common.run_child(base + ["--child", kid]))
            except RuntimeError as e:
                errors[kid] = str(e)
    print(report(args, ceilings, results))
    for kid, e in errors.items():
        print(f"{kid} failed: {e}")
    if args.json:
        common.write_json(args.json, {"environment": common.environment(PACKAGES), "args": vars(args),
                                      "ceilings": ceilings, "results": results, "errors": errors})
    return 0


if __name__ == "__main__":
    sys.exit(main())
