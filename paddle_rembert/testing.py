"""Parity harness: tiny random transformers models, matching inputs, and side-by-side runs.

Used by the test-suite (which asserts) and by ``tools/parity_report.py`` (which prints the
worst differences per head). Needs ``torch`` and ``transformers`` (the ``test`` extra).
"""
import numpy as np
import paddle

# Odd sizes on purpose: nothing divides evenly by accident.
TINY_CONFIGS = {
    "albert": dict(vocab_size=101, embedding_size=10, hidden_size=15, num_hidden_layers=6, num_hidden_groups=2,
                   inner_group_num=2, num_attention_heads=3, intermediate_size=23, max_position_embeddings=40,
                   hidden_act="gelu_new", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                   classifier_dropout_prob=0.0, type_vocab_size=2, pad_token_id=0, num_labels=3),
    "rembert": dict(vocab_size=103, input_embedding_size=7, output_embedding_size=11, hidden_size=15,
                    num_hidden_layers=3, num_attention_heads=3, intermediate_size=19, max_position_embeddings=40,
                    hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    classifier_dropout_prob=0.0, type_vocab_size=2, pad_token_id=0, num_labels=3),
}
PREFIX = {"albert": "Albert", "rembert": "RemBert"}
HEADS = {
    "albert": ["Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
               "ForTokenClassification", "ForQuestionAnswering"],
    "rembert": ["Model", "ForMaskedLM", "ForCausalLM", "ForSequenceClassification", "ForMultipleChoice",
                "ForTokenClassification", "ForQuestionAnswering"],
}
ALL_CLASSES = [(family, PREFIX[family] + head) for family in HEADS for head in HEADS[family]]
LENGTHS = (9, 6, 3)  # a padded batch: the longest row sets the width
NUM_CHOICES = 2


def tiny_config_dict(family, class_name, **overrides):
    d = dict(TINY_CONFIGS[family])
    if class_name.endswith("ForCausalLM"):
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
    config = getattr(transformers, f"{PREFIX[family]}Config")(**tiny_config_dict(family, class_name, **overrides))
    model = getattr(transformers, class_name)(config)
    # Make biases and LayerNorms non-trivial so a wiring slip cannot hide behind zeros and ones.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def make_inputs(family, class_name, vocab_size, seed=0, lengths=LENGTHS, with_labels=True, num_labels=3):
    """numpy inputs: padded ids, 0/1 mask, token types and the head's labels."""
    rng = np.random.RandomState(seed)
    width = max(lengths)
    batch = len(lengths)
    ids = np.zeros((batch, width), dtype=np.int64)
    mask = np.zeros((batch, width), dtype=np.int64)
    types = np.zeros((batch, width), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.randint(5, vocab_size, size=n)
        mask[i, :n] = 1
        types[i, n // 2:n] = 1
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if class_name.endswith("ForMultipleChoice"):
        inputs = {k: np.stack([v, np.roll(v, 1, axis=0)], axis=1) for k, v in inputs.items()}
    if not with_labels:
        return inputs
    if class_name.endswith(("ForMaskedLM", "ForCausalLM", "ForPreTraining")):
        labels = np.where(rng.rand(batch, width) < 0.5, ids, -100)
        labels[:, 0] = ids[:, 0]
        inputs["labels"] = labels
        if class_name.endswith("ForPreTraining"):
            inputs["sentence_order_label"] = rng.randint(0, 2, size=batch)
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


def write_tiny_model_dir(out_dir, family="rembert", texts=(), vocab_size=200, seed=0, torch_layout=False,
                         spm_options=None, **config):
    """A tokenizer (trained here) and a tiny random backbone in one directory, like a hub model.

    ``torch_layout=True`` writes transformers' PyTorch files (``model.safetensors``) as the hub
    has them; otherwise our Paddle layout.
    """
    from .tokenization.sentencepiece_train import train_sentencepiece
    from .tokenization.auto import AutoTokenizer

    model_file = "spiece.model" if family == "albert" else "sentencepiece.model"
    import os

    train_sentencepiece(list(texts), os.path.join(out_dir, model_file), layout=family, vocab_size=vocab_size,
                        tokenizer_dir=out_dir, **(spm_options or {}))
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    d = dict(TINY_CONFIGS[family])
    d.update(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
             eos_token_id=tokenizer.sep_token_id, max_position_embeddings=128,
             num_labels=2)
    d.update(config)
    class_name = PREFIX[family] + "Model"
    if torch_layout:
        import torch
        import transformers

        torch.manual_seed(seed)
        model = getattr(transformers, class_name)(getattr(transformers, PREFIX[family] + "Config")(**d))
        model.save_pretrained(out_dir)
    else:
        import paddle_rembert as pr

        paddle.seed(seed)
        getattr(pr, class_name)(getattr(pr, PREFIX[family] + "Config")(**d)).save_pretrained(out_dir)
    return out_dir
