"""Training-side measurements: padding strategies over an epoch, and one full-size RemBERT step.

    python -m tools.benchmark training padding   [--examples 512] [--batch 16] [--layers 4] [--model albert]
    python -m tools.benchmark training full-step [--batch 2] [--seq-len 128] [--steps 3]

``padding`` trains the same model over the same examples three ways -- static padding to 128
with random batches (PaddleNLP's example), dynamic padding with random batches, and dynamic
padding with length-grouped batches (our default) -- and prints the epoch times and their ratio.
Lengths follow an XNLI-like distribution (MultiNLI: premise ~22 words, hypothesis ~11, long
tail; ~1.3 SentencePiece tokens per word; 3 special tokens; truncated to 128), so the tool
needs no data files.

``full-step`` times optimizer steps (forward, backward, AdamW) of the full-size RemBERT
(575.9M parameters, random weights) in a fresh process and reports its peak RSS.
"""
import argparse
import resource
import sys
import time

import numpy as np

from . import common



def xnli_like_lengths(n, seed=0, max_len=128):
    rng = np.random.default_rng(seed)

    def lognormal(mean, sd, size):
        sigma2 = np.log(1 + (sd / mean) ** 2)
        return rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), size)

    words = lognormal(22, 13, n) + lognormal(11, 5, n)
    return np.minimum(max_len, np.maximum(5, np.round(words * 1.3 + 3))).astype(np.int64)


def _model(family, layers, num_labels=3):
    """A base-size classifier of ``family`` (its real config where the repository has one) with ``layers`` layers."""
    import paddle_rembert as pr

    from .runner import load_config

    config = load_config(argparse.Namespace(family=family, config=None, layers=layers, tiny=False, seq_len=None))
    config["num_labels"] = num_labels
    return pr.AutoModelForSequenceClassification.from_config(pr.AutoConfig.for_model(family, **config))


def padding(argv):
    parser = common.ArgumentParser(prog="python -m tools.benchmark training padding")
    parser.add_argument("--examples", type=common.count(), default=512)
    parser.add_argument("--batch", type=common.count(), default=16)
    parser.add_argument("--layers", type=common.count(), default=4)
    parser.add_argument("--model", default="albert", help="a registered model_type (default albert)")
    parser.add_argument("--threads", type=common.count(), default=None)
    parser.add_argument("--json", type=common.writable_file, default=None)
    args = parser.parse_args(argv)
    threads = common.set_threads(args.threads, frameworks=("paddle",))
    import paddle

    from paddle_rembert.data import TrainBatchSampler, collate
    from paddle_rembert.trainer import TrainingArguments, optim

    lengths = xnli_like_lengths(args.examples)
    rng = np.random.default_rng(1)
    features = [{"input_ids": rng.integers(5, 20000, n), "token_type_ids": np.r_[np.zeros(n // 2, int),
                 np.ones(n - n // 2, int)], "labels": int(rng.integers(0, 3))} for n in lengths]
    paddle.seed(0)
    model = _model(args.model, args.layers)
    model.train()
    train_args = TrainingArguments(model_name_or_path="-", do_train=True)
    warm, _, _ = optim.build(model, train_args, 2)
    for indices in list(TrainBatchSampler(len(features), args.batch, seed=9))[:2]:  # allocator and MKL warm-up
        batch = collate([features[i] for i in indices], pad_id=0, pad_to_multiple_of=128)
        model(**{k: paddle.to_tensor(v) for k, v in batch.items() if k != "num_tokens"}).loss.backward()
        warm.clear_grad()
    results = {}
    for name, grouped, static in (("static 128, random batches", False, True),
                                  ("dynamic, random batches", False, False),
                                  ("dynamic, length-grouped", True, False)):
        sampler = TrainBatchSampler(len(features), args.batch, seed=0, lengths=lengths if grouped else None)
        optimizer, _, _ = optim.build(model, train_args, sampler.num_batches_per_epoch)
        tokens = padded = 0
        start = time.perf_counter()
        for indices in sampler:
            batch = collate([features[i] for i in indices], pad_id=0, pad_to_multiple_of=128 if static else None)
            inputs = {k: paddle.to_tensor(v) for k, v in batch.items() if k != "num_tokens"}
            model(**inputs).loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            tokens += batch["num_tokens"]
            padded += batch["input_ids"].size
        seconds = time.perf_counter() - start
        results[name] = {"seconds": seconds, "real_tokens": tokens, "padded_tokens": padded}
        common.log(f"{name}: {seconds:.1f} s, {padded} token slots for {tokens} tokens")
    base = results["static 128, random batches"]["seconds"]
    rows = [[name, common.fmt_seconds(r["seconds"]), f"{r['padded_tokens'] / r['real_tokens']:.2f}",
             common.fmt_ratio(r["seconds"] / base)] for name, r in results.items()]
    print(f"\nOne epoch over {args.examples} XNLI-like pairs (mean length {lengths.mean():.1f} tokens), "
          f"{args.model} width, {args.layers} layers, batch {args.batch}, {threads} threads")
    print(common.format_table(["padding", "epoch", "slots/token", "time vs static"], rows))
    if args.json:
        common.write_json(args.json, {"environment": common.environment(["paddlepaddle"]), "results": results})
    return 0


def full_step(argv):
    parser = common.ArgumentParser(prog="python -m tools.benchmark training full-step")
    parser.add_argument("--batch", type=common.count(), default=2)
    parser.add_argument("--seq-len", type=common.count(2), default=128)
    parser.add_argument("--steps", type=common.count(), default=3)
    parser.add_argument("--threads", type=common.count(), default=None)
    args = parser.parse_args(argv)
    threads = common.set_threads(args.threads, frameworks=("paddle",))
    import paddle

    from paddle_rembert.trainer import TrainingArguments, optim

    start = time.perf_counter()
    paddle.seed(0)
    model = _model("rembert", 32)
    model.train()
    built = time.perf_counter() - start
    optimizer, _, _ = optim.build(model, TrainingArguments(model_name_or_path="-", do_train=True), 100)
    rng = np.random.default_rng(0)
    inputs = {"input_ids": paddle.to_tensor(rng.integers(5, 250000, (args.batch, args.seq_len))),
              "attention_mask": paddle.ones([args.batch, args.seq_len], dtype="int64"),
              "labels": paddle.to_tensor(rng.integers(0, 3, args.batch))}
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        float(loss)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"full-size RemBERT ({model.num_parameters() / 1e6:.1f}M parameters), batch {args.batch}, length "
          f"{args.seq_len}, {threads} threads: built in {built:.1f} s; optimizer steps "
          f"{', '.join(f'{t:.1f}' for t in times)} s (first includes optimizer-state allocation); "
          f"peak RSS {peak:.2f} GiB")
    return 0


def main(argv=None):
    argv = list(argv or [])
    commands = {"padding": padding, "full-step": full_step}
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    prog = "python -m tools.benchmark training"
    if not argv:
        return common.usage_error(prog, f"a measurement is required: {' or '.join(commands)}")
    if argv[0] not in commands:
        return common.usage_error(prog, f"unknown measurement {argv[0]!r}; choose from {', '.join(commands)}")
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
