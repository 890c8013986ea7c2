"""Suite-wide settings (both cores for Paddle and torch, quiet third-party loggers) and shared session fixtures."""
import gc
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# the bf16 tests run on an AVX-512 CPU without AVX512-BF16 too, through oneDNN's bf16 emulation (the same
# numbers); the fall-back to fp32 of a CPU with neither is tested on its own (tests/test_kernels.py)
os.environ.setdefault("PADDLE_REMBERT_BF16", "emulate")

import paddle  # noqa: E402

from paddle_rembert import testing as T  # noqa: E402
from paddle_rembert.deploy.export import export_model  # noqa: E402
from paddle_rembert.deploy.format import TASKS, task_for_architecture  # noqa: E402
from paddle_rembert.models.auto import auto_class  # noqa: E402
from paddle_rembert.models import registry  # noqa: E402
from paddle_rembert.runtime.settings import set_num_threads  # noqa: E402
from paddle_rembert.models.auto import AutoTokenizer  # noqa: E402

set_num_threads()
try:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
except ImportError:  # pragma: no cover - torch is in the test extra
    pass
logging.getLogger("transformers").setLevel(logging.ERROR)
# The frameworks' modules live as long as the process: out of the collector's sight, a full collection (which
# Paddle's to_static runs per function it converts) scans only what the tests make. Test processes only.
gc.collect()
gc.freeze()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")


@pytest.fixture(autouse=True)
def _eager_mode():
    paddle.disable_static()
    yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """PyTorch on one thread for a module of tiny models (two threads only add contention on a shared machine);
    use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def chinese_fixture_pairs():
    """The Chinese rows of the XNLI and PAWS-X fixtures, as (text, pair)."""
    pairs = []
    for path in sorted(Path(FIXTURES, "real-format").rglob("*.tsv")):
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
        if path.parent.name == "zh":  # PAWS-X: id, sentence1, sentence2, label
            pairs += [(r[1], r[2]) for r in rows]
        elif path.name == "multinli.train.zh.tsv":  # premise, hypo, label
            pairs += [(r[0], r[1]) for r in rows]
        elif path.parent.name == "XNLI-1.0":  # 19 columns: language first, sentence1 and sentence2 at 6, 7
            pairs += [(r[6], r[7]) for r in rows if r[0] == "zh"]
    return pairs


def run_cli(*args, env=None, timeout=600):
    """Run ``python -m paddle_rembert ARGS`` in a fresh process; returns CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "paddle_rembert", *args], capture_output=True, text=True,
                          cwd=REPO, env=full_env, timeout=timeout)


# -- parity: tiny random transformers models saved in each checkpoint format --------------------------------
SAVE_FORMATS = {
    "safetensors": dict(safe_serialization=True),
    "bin": dict(safe_serialization=False),
    "sharded": dict(safe_serialization=True, max_shard_size="30KB"),
}


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    """(family, class, format, **config overrides) -> (tiny random transformers model, its saved directory),
    built once per session; formats as :data:`SAVE_FORMATS`."""
    cache = {}

    def get(family, class_name, fmt, **overrides):
        key = (family, class_name, fmt, tuple(sorted(overrides.items())))
        if key not in cache:
            model = T.torch_model(family, class_name, **overrides)
            path = tmp_path_factory.mktemp(f"{class_name}-{fmt}")
            model.save_pretrained(path, **SAVE_FORMATS[fmt])
            cache[key] = (model, str(path))
        return cache[key]

    return get


# -- deployment: tiny fine-tuned-like models and their exports, shared by the deploy tests --------------
def export_cases(families=None):
    """(family, task) for every export task a family's heads deploy as (ELECTRA's discriminator alone is
    replaced-token detection); ``families`` restricts the model types."""
    return [(f.model_type, task) for f in registry.families() if families is None or f.model_type in families
            for task in TASKS
            if any(task_for_architecture(c.__name__, f.export_tasks) == task for c in f.model_classes)]


LABELS = {
    "sequence-classification": {0: "negative", 1: "neutral", 2: "positive"},
    "token-classification": {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER", 4: "I-PER"},
}
# texts and pairs of the synthetic vocabulary (T.synthetic_texts' words), for the predictor tests
TEXTS = ["river stone cloud lamp", "paper", "garden music window summer winter market forest bridge letter",
         "silver orange", "engine castle pepper rabbit ticket planet", "candle mirror pocket ladder butter jacket",
         "kettle", "velvet river stone", "cloud lamp paper garden", "music"]
PAIRS = ["window summer", "a b c", "forest", "bridge letter silver orange engine", "castle", "pepper rabbit",
         "ticket planet candle mirror pocket", "ladder", "butter jacket kettle", "velvet"]
SHAPES = [(9, 6, 3), (4,), (12, 12, 2, 7, 1), (30, 17)]  # lengths per row: padded batches of several shapes


def make_model_dir(root, family, task, seed=0):
    """A tokenizer plus a tiny model with the ``task`` head, like a fine-tuned checkpoint.

    A random head on a random backbone predicts one label for every input (the features share a
    large common component), so the classification heads are calibrated the way fine-tuning
    would leave them: random directions through the centred features of synthetic texts, scaled
    to logits of a few units. Predictions then vary with the input and have clear margins.
    """
    base = os.path.join(root, f"{family}-base")
    if not os.path.isdir(base):
        T.write_tiny_model_dir(base, family, T.synthetic_texts(200), seed=seed, initializer_range=0.2)
    if task == "feature-extraction":
        return base
    out = os.path.join(root, f"{family}-{task}")
    if os.path.isdir(out):
        return out
    overrides = {"id2label": LABELS[task]} if task in LABELS else {}
    model = auto_class(TASKS[task][0]).from_pretrained(base, **overrides).eval()
    tokenizer = AutoTokenizer.from_pretrained(base)
    paddle.seed(seed + 1)
    prefix = model.base_model_prefix + "."
    for name, p in model.named_parameters():
        if not name.startswith(prefix):
            p.set_value(paddle.normal(0.0, 1.0, p.shape).astype(p.dtype))
    if task in ("sequence-classification", "token-classification", "question-answering"):
        # the head's last Linear (classifier, classifier.out_proj, qa_outputs) and the features it reads
        layer = [sub for name, sub in model.named_sublayers()
                 if isinstance(sub, paddle.nn.Linear) and not name.startswith(prefix)][-1]
        texts = T.synthetic_texts(30, seed=seed + 2)
        enc = tokenizer(texts, padding=True, return_tensors="np")
        seen = []
        hook = layer.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0].numpy()))
        with paddle.no_grad():
            model(**{k: paddle.to_tensor(v) for k, v in enc.items()})
        hook.remove()
        feats = seen[0] if task == "sequence-classification" else seen[0][enc["attention_mask"] == 1]
        rng = np.random.RandomState(seed + 3)
        centred = feats - feats.mean(0)
        directions = centred[rng.choice(len(centred), size=model.config.num_labels, replace=False)].T
        logits = centred @ directions
        weight = directions * (3.0 / logits.std(0))
        layer.weight.set_value(paddle.to_tensor(weight.astype("float32")))
        layer.bias.set_value(paddle.to_tensor((-feats.mean(0) @ weight).astype("float32")))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def deploy_root(tmp_path_factory):
    """Tiny "fine-tuned" model directories (see :func:`make_model_dir`) and their exports."""
    return str(tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="session")
def exports(deploy_root):
    """(family, task) -> (model_dir, export_dir); each exported once per session, with ONNX."""
    built = {}

    def get(family, task):
        if (family, task) not in built:
            model_dir = make_model_dir(deploy_root, family, task)
            out = os.path.join(deploy_root, "exports", f"{family}-{task}")
            export_model(model_dir, out, onnx=True)  # the task is inferred from config.json
            built[family, task] = (model_dir, out)
        return built[family, task]

    return get


def load_dygraph(model_dir, task):
    return auto_class(TASKS[task][0]).from_pretrained(model_dir).eval()


def dygraph_outputs(model, task, feed):
    with paddle.no_grad():
        out = model(**{k: paddle.to_tensor(v) for k, v in feed.items()})
    return {name: out[name].numpy() for name, _ in TASKS[task][1] if out.get(name) is not None}


def batch(tokenizer, lengths, seed=0):
    """Random ids of the tokenizer's vocabulary, right-padded to the longest of ``lengths``, with the mask;
    two token types when the tokenizer returns them, else zeros."""
    rng = np.random.RandomState(seed)
    ids = np.full((len(lengths), max(lengths)), tokenizer.pad_token_id, dtype=np.int64)
    mask, types = np.zeros_like(ids), np.zeros_like(ids)
    specials = set(tokenizer.all_special_ids)
    vocab = np.array([i for i in range(len(tokenizer)) if i not in specials])
    for i, n in enumerate(lengths):
        ids[i, :n], mask[i, :n] = rng.choice(vocab, size=n), 1
        if "token_type_ids" in tokenizer.model_input_names:
            types[i, n // 2:n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


@pytest.fixture(scope="session")
def export_without_token_types(deploy_root):
    """(model_dir, export_dir): a classifier whose tokenizer's model_input_names lacks token_type_ids
    (as RoBERTa's), exported with ONNX."""
    import shutil

    src = make_model_dir(deploy_root, "albert", "sequence-classification")
    model_dir = os.path.join(deploy_root, "albert-no-token-types")
    shutil.copytree(src, model_dir)
    tokenizer = AutoTokenizer.from_pretrained(src, model_input_names=["input_ids", "attention_mask"])
    tokenizer.save_pretrained(model_dir)
    out = os.path.join(deploy_root, "exports", "albert-no-token-types")
    export_model(model_dir, out, onnx=True)
    return model_dir, out


# -- the bf16 kernels (test_kernels.py, test_bf16_inference.py) ---------------------------------------
def results_in_threads(fn, threads=3, calls=5):
    """``fn()`` called ``calls`` times in each of ``threads`` threads at once: every result; an exception in any
    thread fails the test."""
    import threading

    got, errors = [], []

    def work():
        try:
            for _ in range(calls):
                got.append(fn())
        except Exception as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors
    assert len(got) == threads * calls
    return got


def round_bf16(a):
    """Round-to-nearest-even fp32 -> bf16 -> fp32, as oneDNN's conversion does."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


@pytest.fixture(scope="session")
def kernel():
    """:mod:`paddle_rembert.kernels.bf16`, asserted usable (a bf16 CPU and the operators built)."""
    from paddle_rembert.kernels import bf16

    assert bf16.cpu_has_bf16() or bf16.cpu_emulates_bf16(), "these tests need an AVX-512 CPU"
    assert bf16.available(), bf16.unavailable_reason()
    return bf16
