"""``python -m tools.benchmark alternate``: two backends in one process, call by call alternating.

``run`` gives each backend its own subprocess, one after another, so on a shared machine the other
tenants' load can differ between two backends' measurements by more than the difference being
measured. Here both backends of ``--pair`` (``run``'s backend names; default ours-bf16 against
torch-bf16) run the same weights and batch in this process, and each round times one call of each,
in turns (A then B, then B then A), so a slow spell of the machine falls on both. The cost: the two
share one process (its allocator, and the OpenMP pool when both link the same ``libgomp``, as
Paddle's oneDNN and PyTorch do here).

Output: each backend's median, min and max, the ratio of the medians and the spread of the per-round
ratios (below 1.00x: the first backend is faster), and how far their logits differ; measurements only.
"""
import argparse
import sys
import time

import numpy as np

from . import common, runner


def parse_args(argv):
    p = common.ArgumentParser(prog="python -m tools.benchmark alternate", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    runner.add_model_options(p)
    p.add_argument("--pair", default="ours-bf16,torch-bf16", help="two backends of `run`, A,B: A is timed against B")
    p.add_argument("--mode", default="forward", choices=runner.MODES)
    p.add_argument("--batch", type=common.count(), default=8)
    p.add_argument("--rounds", type=common.count(), default=8, help="timed rounds, one call of each backend per round")
    p.add_argument("--warmup", type=common.count(0), default=2, help="untimed calls of each backend first (default 2)")
    args = p.parse_args(argv)
    args.backends = [b for b in args.pair.split(",") if b]
    if len(args.backends) != 2 or args.backends[0] == args.backends[1]:
        p.error("--pair takes two different backends, A,B")
    for b in args.backends:
        if b not in runner.ALL:
            p.error(f"unknown backend {b!r}; choose from {', '.join(runner.ALL)}")
        if args.mode == "train" and b not in runner.DYGRAPH:
            p.error(f"{b} only runs forward; --mode train takes {', '.join(runner.DYGRAPH)}")
    args.batches = [args.batch]  # what runner.Backend prepares texts for
    return args


def main(argv=None):
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    frameworks = ("paddle", "torch")
    threads = common.set_threads(args.threads, frameworks)
    cfg, dirs = runner.prepare(args)
    feed, labels = runner.make_batch(cfg, args.batch, args.seq_len, args.seed + args.batch)
    backends, logits = [], []
    for name in args.backends:
        try:  # the first forward before a train step changes the weights
            backends.append(runner.Backend(name, args, cfg, dirs, threads))
            common.set_threads(threads, frameworks)  # again, after the framework's own import
            logits.append(backends[-1].forward(feed))
        except Exception as exc:  # bf16 on a CPU without it, a family PaddleNLP lacks, PaddleNLP's RemBERT ...
            print(f"alternate: {name} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                  file=sys.stderr)
            return 1
    if args.mode == "forward":
        calls = [lambda b=b: b.forward(feed) for b in backends]
    else:
        calls = [lambda b=b: b.train_step(feed, labels) for b in backends]
    common.log(f"[alternate] {args.warmup} warm-up call(s) of each, then {args.rounds} rounds ...")
    for _ in range(args.warmup):
        for call in calls:
            call()
    times = [[], []]
    for r in range(args.rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            start = time.perf_counter()
            calls[i]()
            times[i].append(time.perf_counter() - start)
    report(args, cfg, threads, np.array(times), logits)
    return 0


def report(args, cfg, threads, times, logits):
    a, b = (runner.LABELS[n] for n in args.backends)
    print(f"\n{args.family} ({cfg.get('num_hidden_layers')} layers, hidden {cfg.get('hidden_size')}), {args.mode}, "
          f"batch {args.batch}, seq len {args.seq_len}, {threads} thread(s), one process, {args.rounds} rounds "
          f"alternating after {args.warmup} warm-up call(s) each")
    rows = [[label, common.fmt_seconds(np.median(t)), common.fmt_seconds(t.min()), common.fmt_seconds(t.max())]
            for label, t in zip((a, b), times)]
    print(common.format_table(["backend", "median", "min", "max"], rows))
    per_round = times[0] / times[1]
    print(f"{a} / {b}: {np.median(times[0]) / np.median(times[1]):.2f}x (ratio of the medians); per round "
          f"{per_round.min():.2f}x to {per_round.max():.2f}x, median {np.median(per_round):.2f}x")
    if all(x is not None for x in logits):
        print(f"max |logits A - logits B| {float(np.max(np.abs(np.asarray(logits[0]) - np.asarray(logits[1])))):.1e}")


if __name__ == "__main__":
    sys.exit(main())
