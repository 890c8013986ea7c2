"""Parity harness: tiny random transformers models, matching inputs, and side-by-side runs.

Used by the test-suite (which asserts) and by ``tools/parity_report.py`` (which prints the
worst differences per head). Needs ``torch`` and ``transformers`` (the ``test`` extra).
"""
import inspect

import numpy as np
import paddle

from .models import registry

# Every family's tiny config (odd sizes on purpose: nothing divides evenly by accident) and classes.
TINY_CONFIGS = {f.model_type: f.tiny_config for f in registry.families()}
PREFIX = {f.model_type: f.prefix for f in registry.families()}
HEADS = {f.model_type: [c.__name__[len(f.prefix):] for c in f.model_classes] for f in registry.families()}
ALL_CLASSES = [(f.model_type, c.__name__) for f in registry.families() for c in f.model_classes]
LENGTHS = (9, 6, 3)  # a padded batch: the longest row sets the width
NUM_CHOICES = 2


def is_causal_lm(family, class_name):
    """Whether ``class_name`` is the family's causal LM (``BertLMHeadModel`` breaks the suffix rule)."""
    fam = registry.get(family)
    return class_name == fam.auto_names.get("ForCausalLM", fam.prefix + "ForCausalLM")


def head_task(family, class_name):
    """The head's export task when the family declares one (``Family.export_tasks``), else None."""
    return registry.get(family).export_tasks.get(class_name)


def forward_arguments(family, class_name):
    """The names ``class_name.forward`` accepts (labels are decided from them, not from family names)."""
    cls = next(c for c in registry.get(family).model_classes if c.__name__ == class_name)
    return set(inspect.signature(cls.forward).parameters)


def tiny_config_dict(family, class_name, **overrides):
    d = dict(registry.get(family).tiny_config)
    if is_causal_lm(family, class_name):
        d["is_decoder"] = True
    if class_name.endswith(("ForPreTraining", "ForQuestionAnswering")):
        d["num_labels"] = 2  # sentence order and (start, end): transformers needs exactly two
    d.update(overrides)
    return d


def torch_model(family, class_name, seed=0, **overrides):
    """A random transformers model (eval mode; dropout is zero in the tiny configs anyway)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config_name = registry.get(family).config_class.__name__  # transformers' class names are ours
    config = getattr(transformers, config_name)(**tiny_config_dict(family, class_name, **overrides))
    model = getattr(transformers, class_name)(config)
    # Make biases and LayerNorms non-trivial so a wiring slip cannot hide behind zeros and ones.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def make_inputs(family, class_name, vocab_size, seed=0, lengths=LENGTHS, with_labels=True, num_labels=3,
                type_vocab_size=None, pad_token_id=None):
    """numpy inputs: padded ids, 0/1 mask, token types and the head's labels.

    Padding uses the family's ``pad_token_id`` (RoBERTa's is 1); token types are 0 then 1 (and 2 on
    the last real token when the config has 3 types; all 0 with one type).
    """
    tiny = registry.get(family).tiny_config
    type_vocab_size = tiny.get("type_vocab_size", 2) if type_vocab_size is None else type_vocab_size
    pad_token_id = tiny.get("pad_token_id", 0) if pad_token_id is None else pad_token_id
    rng = np.random.RandomState(seed)
    width = max(lengths)
    batch = len(lengths)
    ids = np.full((batch, width), pad_token_id, dtype=np.int64)
    mask = np.zeros((batch, width), dtype=np.int64)
    types = np.zeros((batch, width), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.randint(5, vocab_size, size=n)
        mask[i, :n] = 1
        types[i, n // 2:n] = 1
        if type_vocab_size > 2:
            types[i, n - 1] = 2
    types = np.minimum(types, type_vocab_size - 1)
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if class_name.endswith("ForMultipleChoice"):
        inputs = {k: np.stack([v, np.roll(v, 1, axis=0)], axis=1) for k, v in inputs.items()}
    if not with_labels:
        return inputs
    arguments = forward_arguments(family, class_name)
    if head_task(family, class_name) == "replaced-token-detection":  # 0/1 per token: was it replaced?
        inputs["labels"] = rng.randint(0, 2, size=(batch, width))
    elif class_name.endswith(("ForMaskedLM", "ForPreTraining")) or is_causal_lm(family, class_name):
        labels = np.where(rng.rand(batch, width) < 0.5, ids, -100)
        labels[:, 0] = ids[:, 0]
        inputs["labels"] = labels
        if "sentence_order_label" in arguments:
            inputs["sentence_order_label"] = rng.randint(0, 2, size=batch)
        if "next_sentence_label" in arguments:
            inputs["next_sentence_label"] = rng.randint(0, 2, size=batch)
    elif class_name.endswith("ForNextSentencePrediction"):
        inputs["labels"] = rng.randint(0, 2, size=batch)
    elif class_name.endswith("ForSequenceClassification"):
        inputs["labels"] = rng.randint(0, num_labels, size=batch)
    elif class_name.endswith("ForMultipleChoice"):
        inputs["labels"] = rng.randint(0, NUM_CHOICES, size=batch)
    elif class_name.endswith("ForTokenClassification"):
        inputs["labels"] = np.where(mask == 1, rng.randint(0, num_labels, size=(batch, width)), -100)
    elif class_name.endswith("ForQuestionAnswering"):
        inputs["start_positions"] = np.array([1, 2, width + 3])  # the last is out of range: ignored
        inputs["end_positions"] = np.array([4, 2, 0])
    return inputs


def to_torch(inputs):
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}


def to_paddle(inputs):
    return {k: paddle.to_tensor(v) for k, v in inputs.items()}


def flatten_outputs(out):
    """name -> numpy for every tensor of an output object (tuples become name.i)."""
    flat = {}
    for name, value in out.items():
        if value is None:
            continue
        if isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                if v is not None and not isinstance(v, (tuple, list)):
                    flat[f"{name}.{i}"] = _np(v)
        else:
            flat[name] = _np(value)
    return flat


def _np(t):
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return t.numpy()


def max_abs_diff(a, b):
    """{name: max |a - b|} over names in both, plus the set of names present in only one."""
    diffs = {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) if a[k].size else 0.0
             for k in a if k in b}
    return diffs, set(a) ^ set(b)


def torch_grads(model):
    return {n: p.grad.detach().numpy() for n, p in model.named_parameters() if p.grad is not None}


def paddle_grads(model, transpose_keys):
    out = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            g = p.grad.numpy()
            out[name] = g.T if name in transpose_keys else g
    return out


# -- tiny fine-tuning setups: a tokenizer, a classifier backbone and a synthetic pair task --------
SYNTHETIC_CUES = {"entailment": "alpha", "neutral": "beta", "contradiction": "gamma"}
_WORDS = ["river", "stone", "cloud", "lamp", "paper", "garden", "music", "window", "summer", "winter", "market",
          "forest", "bridge", "letter", "silver", "orange", "engine", "castle", "pepper", "rabbit", "ticket",
          "planet", "candle", "mirror", "pocket", "ladder", "butter", "jacket", "kettle", "velvet"]
XNLI_EVAL_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse "
                    "sentence2_parse sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5 "
                    "sentence1_tokenized sentence2_tokenized match").split()


def synthetic_pair(rng):
    """A premise, a hypothesis carrying the label's cue word, and the label (XNLI names)."""
    label = list(SYNTHETIC_CUES)[rng.randint(3)]
    premise = " ".join(rng.choice(_WORDS, size=rng.randint(4, 12)))
    words = list(rng.choice(_WORDS, size=rng.randint(2, 7)))
    words.insert(rng.randint(len(words) + 1), SYNTHETIC_CUES[label])
    return premise, " ".join(words), label


def write_synthetic_xnli(data_dir, num_train=256, num_eval=60, eval_languages=("en", "de"), seed=0):
    """XNLI's real file layout (XNLI-MT train with ``contradictory``, 19-column dev/test) for a
    synthetic task whose label is told by one cue word: learnable by a tiny model in a few steps."""
    import os

    rng = np.random.RandomState(seed)
    train_dir = os.path.join(data_dir, "XNLI-MT-1.0", "multinli")
    eval_dir = os.path.join(data_dir, "XNLI-1.0")
    os.makedirs(train_dir, exist_ok=True)
    os.makedirs(eval_dir, exist_ok=True)
    with open(os.path.join(train_dir, "multinli.train.en.tsv"), "w", encoding="utf-8") as f:
        f.write("premise\thypo\tlabel\n")
        for _ in range(num_train):
            premise, hypothesis, label = synthetic_pair(rng)
            f.write(f"{premise}\t{hypothesis}\t{'contradictory' if label == 'contradiction' else label}\n")
    for split in ("dev", "test"):
        with open(os.path.join(eval_dir, f"xnli.{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("\t".join(XNLI_EVAL_HEADER) + "\n")
            for lang in eval_languages:
                for pair_id in range(num_eval):
                    premise, hypothesis, label = synthetic_pair(rng)
                    row = [lang, label, "", "", "", "", premise, hypothesis, str(pair_id), str(pair_id), "synthetic",
                           label, label, label, label, label, premise, hypothesis, "True"]
                    f.write("\t".join(row) + "\n")
    return data_dir


def synthetic_texts(num=400, seed=1):
    rng = np.random.RandomState(seed)
    return [text for _ in range(num) for text in synthetic_pair(rng)[:2]]


def write_tiny_model_dir(out_dir, family, texts=(), vocab_size=200, seed=0, torch_layout=False,
                         spm_options=None, **config):
    """A tokenizer (trained here) and a tiny random backbone in one directory, like a hub model.

    ``torch_layout=True`` writes transformers' PyTorch files (``model.safetensors``) as the hub
    has them; otherwise our Paddle layout.
    """
    from .models.auto import AutoTokenizer

    fam = registry.get(family)
    fam.make_tiny_tokenizer(list(texts), out_dir, vocab_size, **(spm_options or {}))
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    d = dict(fam.tiny_config)
    d.update(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
             eos_token_id=tokenizer.sep_token_id, max_position_embeddings=128, num_labels=2)
    d.update(config)
    backbone, config_class = fam.model_classes[0], fam.config_class
    if torch_layout:
        import torch
        import transformers

        torch.manual_seed(seed)
        model = getattr(transformers, backbone.__name__)(getattr(transformers, config_class.__name__)(**d))
        model.save_pretrained(out_dir)
    else:
        paddle.seed(seed)
        backbone(config_class(**d)).save_pretrained(out_dir)
    return out_dir
