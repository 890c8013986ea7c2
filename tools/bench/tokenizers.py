"""``python -m tools.benchmark tokenizers``: our tokenizers against transformers' slow and fast ones.

Encodes N XNLI-like sentence pairs (default 10,000, built deterministically from the real XNLI
and PAWS-X fixture sentences: a premise of one or two sentences, a shorter hypothesis) with
``padding='max_length', truncation=True, max_length=128`` and, as the trainer does, with
``truncation='longest_first', max_length=128`` and no padding. Contenders, all in this process
and all producing Python lists:

* ``ours``: paddle_rembert (SentencePiece's batched C++ encoder + Python post-processing)
* ``slow``: transformers 4.46's slow tokenizer (the reference: ids must be identical)
* ``fast``: transformers' fast (Rust) tokenizer converted from the same model (its ids may
  differ: it lacks ALBERT's digit-comma split and adds quote rules to RemBERT)

Without ``--tokenizer-dir`` a unigram model is trained on the fixture text in the real id layout
(a few thousand pieces; the real vocabularies are 30k / 250k). See docs/tokenizers.md.
"""
import argparse
import os
import random
import sys
import tempfile

from . import common

FIXTURES = os.path.join(common.REPO, "tests", "fixtures", "real-format")
PACKAGES = ("transformers", "tokenizers", "sentencepiece", "paddlenlp", "numpy")
CONTENDERS = ("ours", "fast", "slow")


def parse_args(argv):
    p = common.ArgumentParser(prog="python -m tools.benchmark tokenizers", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", help="a registered model_type, or all (default)")
    p.add_argument("--tokenizer-dir", help="benchmark this tokenizer dir instead of a freshly trained one "
                                           "(needs --model MODEL_TYPE, the family of that dir)")
    p.add_argument("--pairs", type=common.count(), default=10000, help="number of sentence pairs (default 10000)")
    p.add_argument("--max-length", type=common.count(4), default=128)
    p.add_argument("--vocab-size", type=common.count(), default=8000, help="soft vocab size of the trained model")
    p.add_argument("--threads", type=common.count(), default=None,
                   help="threads for SentencePiece and the Rust tokenizer (default: all cores)")
    p.add_argument("--repeat", type=common.count(), default=5, help="timed runs of ours and fast; median reported")
    p.add_argument("--slow-repeat", type=common.count(), default=1, help="timed runs of the slow tokenizer (default 1)")
    p.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset of ours,fast,slow")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", type=common.writable_file,
                   help="also write timings and the environment as JSON")
    args = p.parse_args(argv)
    args.contenders = [c for c in args.contenders.split(",") if c]
    bad = [c for c in args.contenders if c not in CONTENDERS]
    if bad or "ours" not in args.contenders:
        p.error(f"--contenders must include ours and be a subset of {','.join(CONTENDERS)}")
    if args.tokenizer_dir and args.model == "all":
        p.error("--tokenizer-dir needs --model MODEL_TYPE")
    return args


def fixture_pairs():
    """(sentence1, sentence2) rows of the real XNLI and PAWS-X fixture files."""
    pairs = []
    for root, _, files in sorted(os.walk(FIXTURES)):
        for name in sorted(f for f in files if f.endswith(".tsv")):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                header, *rows = [line.rstrip("\n").split("\t") for line in f]
            cols = [(header.index(a), header.index(b)) for a, b in
                    (("sentence1", "sentence2"), ("premise", "hypo")) if a in header and b in header]
            for row in rows:
                for i, j in cols:
                    if max(i, j) < len(row) and row[i] and row[j]:
                        pairs.append((row[i], row[j]))
    return pairs


def make_pairs(n, seed=0):
    """``n`` XNLI-like pairs: a premise of one or two real sentences, a hypothesis of one (often cut)."""
    rng = random.Random(seed)
    real = fixture_pairs()
    premises = [a for a, _ in real]
    hypotheses = [b for _, b in real]
    out = []
    for _ in range(n):
        premise = rng.choice(premises)
        if rng.random() < 0.3:
            premise += " " + rng.choice(premises)
        words = rng.choice(hypotheses).split()
        if len(words) > 6 and rng.random() < 0.5:
            words = words[: rng.randint(4, len(words))]
        out.append((premise, " ".join(words)))
    return out


def build_tokenizers(model, args, workdir):
    """(ours, slow, fast) for ``model`` from --tokenizer-dir or a model trained on the fixture text."""
    import transformers

    from paddle_rembert.models import registry
    from paddle_rembert.models.auto import AutoTokenizer

    transformers.logging.set_verbosity_error()
    path = args.tokenizer_dir
    if path is None:
        corpus = [s for pair in fixture_pairs() for s in pair]
        corpus += [f"In {y}, about {n},000 people paid ${n},{y} each." for y in range(1990, 2030) for n in (1, 3, 45)]
        path = registry.get(model).make_tiny_tokenizer(corpus, os.path.join(workdir, model), args.vocab_size)
    ours = AutoTokenizer.from_pretrained(path)
    ours.num_threads = args.threads
    name = type(ours).__name__  # transformers' class names are ours
    slow_cls, fast_cls = getattr(transformers, name), getattr(transformers, name + "Fast")
    slow = slow_cls.from_pretrained(path)
    fast = fast_cls.from_pretrained(path, from_slow=True) if "fast" in args.contenders else None
    return ours, slow, fast


def run_model(model, args, pairs, workdir):
    ours, slow, fast = build_tokenizers(model, args, workdir)
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    modes = {"pad128": dict(padding="max_length", truncation=True, max_length=args.max_length),
             "trainer": dict(truncation="longest_first", max_length=args.max_length)}
    toks = {"ours": ours, "slow": slow, "fast": fast}
    result = {"model": model, "vocab_size": ours.vocab_size, "pairs": len(pairs), "modes": {}}
    for mode, kw in modes.items():
        timings, outputs = {}, {}
        for name in args.contenders:
            tok = toks[name]
            common.log(f"  {model} {mode}: {name} ...")
            rep, warm = (args.slow_repeat, 0) if name == "slow" else (args.repeat, 1)
            outputs[name] = tok(a, b, **kw)["input_ids"]
            timings[name] = common.measure(lambda t=tok: t(a, b, **kw), repeat=rep, warmup=warm)
        entry = {name: t.as_dict() for name, t in timings.items()}
        for name in args.contenders:
            if name != "ours":
                same = sum(x == y for x, y in zip(outputs["ours"], outputs[name]))
                entry[f"ids_equal_to_{name}"] = same / len(pairs)
        result["modes"][mode] = entry
    return result


def report(results, args):
    rows = []
    for res in results:
        for mode, entry in res["modes"].items():
            med = {c: entry[c]["median_s"] for c in args.contenders}
            speed = {c: res["pairs"] / med[c] for c in args.contenders}
            rows.append([res["model"], res["vocab_size"], mode,
                         *[f"{common.fmt_seconds(med.get(c))} ({speed[c]:,.0f}/s)" if c in med else "-"
                           for c in CONTENDERS],
                         common.fmt_ratio(common.ratio(med.get("fast"), med["ours"])),
                         common.fmt_ratio(common.ratio(med.get("slow"), med["ours"])),
                         " ".join(f"{c}={entry[f'ids_equal_to_{c}']:.1%}" for c in CONTENDERS[1:]
                                  if f"ids_equal_to_{c}" in entry)])
    headers = ["model", "vocab", "mode", "ours", "fast (Rust)", "slow (reference)", "fast/ours", "slow/ours",
               "pairs with ids equal to ours"]
    print(common.format_table(headers, rows))
    print("\nfast/ours and slow/ours: time of that tokenizer divided by ours (>1: ours is faster). "
          f"{results[0]['pairs']} pairs, max_length {args.max_length}, threads "
          f"{args.threads or common.cpu_count()}; median of {args.repeat} (slow: {args.slow_repeat}).")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    threads = args.threads or common.cpu_count()
    os.environ["RAYON_NUM_THREADS"] = str(threads)  # before tokenizers starts its thread pool
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    pairs = make_pairs(args.pairs, args.seed)
    from paddle_rembert.models import registry

    models = registry.model_types() if args.model == "all" else (registry.get(args.model, "--model").model_type,)
    with tempfile.TemporaryDirectory(prefix="bench-tok-") as workdir:
        results = [run_model(m, args, pairs, workdir) for m in models]
    report(results, args)
    for res in results:
        for mode, entry in res["modes"].items():
            if entry.get("ids_equal_to_slow", 1.0) != 1.0:
                print(f"ERROR: {res['model']} {mode}: ours differs from the reference on "
                      f"{1 - entry['ids_equal_to_slow']:.2%} of the pairs", file=sys.stderr)
                return 1
    if args.json:
        common.write_json(args.json, {"benchmark": "tokenizers", "threads": threads, "results": results,
                                      "environment": common.environment(PACKAGES)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
