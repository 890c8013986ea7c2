"""Run an export (see :mod:`paddle_rembert.export`) with Paddle Inference or onnxruntime.

>>> from paddle_rembert.inference import Predictor
>>> predictor = Predictor("exported/", threads=2)               # Paddle Inference, oneDNN on CPU
>>> predictor.predict(["a text", "another"], batch_size=8)
[{'label': 'positive', 'score': 0.93, 'probabilities': {'negative': 0.07, 'positive': 0.93}}, ...]

The tokenizer, ``config.json`` (``id2label``) and ``export_meta.json`` (task, input and output
names) come from the export directory. Each batch is padded to its longest row and the 0/1
attention mask is always fed, so a result does not depend on the batch size, on the other
examples in its batch or on padding. Examples are grouped by length before batching (less
padding, same results) and returned in input order. ``precision="int8"`` quantizes each token
on its own, so this holds for it too. The exception is int8 on ``backend="onnxruntime"``:
onnxruntime's dynamic quantization takes one activation scale per call, over the whole padded
batch, so a score can move with its batch companions (by a few hundredths on tiny models;
``batch_size=1`` makes each result its own).

Results per task (one dict per example):

* sequence-classification: ``label``, ``score``, ``probabilities`` {label: p} (softmax);
  multi-label configs (``problem_type``) use sigmoids and add ``labels`` over ``threshold``;
  regression (one output) gives ``score`` only.
* token-classification: ``tokens`` [{``token``, ``label``, ``score``}] for every non-special token,
  and ``entities`` [{``type``, ``text``, ``start_token``, ``end_token``, ``score``}] grouped from
  ``B-``/``I-`` labels.
* question-answering (``text`` = question, ``text_pair`` = context): as transformers' pipeline
  answers (see :meth:`Predictor.predict`): ``answer``, ``score`` and the character offsets
  ``start``, ``end`` into the context, plus ``answers`` when ``top_k`` > 1.
* masked-lm: ``masks`` [{``position``, ``predictions`` [{``token``, ``token_id``, ``score``}]}] for
  each mask token, ``top_k`` best first.
* feature-extraction: ``pooler_output`` (when the model has a pooler; ELECTRA has none) and
  ``mean_pooling`` (mean of the last hidden states over real tokens), as lists of floats.
* replaced-token-detection (ELECTRA's discriminator): ``tokens`` [{``index``, ``token``, ``score``,
  ``replaced``}]: the probability that each content token was replaced.
"""
import numbers
import os

import numpy as np

from ..runtime.errors import ExampleError, PaddleRembertError
from ..runtime.files import read_json
from .engines import BACKENDS, PRECISIONS, load_engine
from .format import meta_input_names, read_meta

def _softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class Predictor:
    """Tokenize, batch, run and post-process with an exported model (see the module docstring).

    ``device``: ``"cpu"`` or ``"gpu"`` / ``"gpu:N"``; ``threads``: CPU threads (default: all
    cores, or ``PADDLE_REMBERT_THREADS``); ``backend``: ``"paddle"`` (Paddle Inference) or
    ``"onnxruntime"`` (needs ``export --onnx``); ``precision``: ``"fp32"``, ``"bf16"`` (Paddle
    Inference with oneDNN, on CPUs with AVX-512 BF16 / AMX) or ``"int8"`` (``export --quantize int8``:
    the Paddle int8 engine on CPUs with VNNI, or with ``backend="onnxruntime"`` the ONNX int8 model);
    ``mkldnn``: oneDNN on CPU (default on).

    Thread-safe: one Predictor may serve many threads at once. The Paddle backend gives each
    thread its own ``clone()`` of the Paddle Inference predictor (not re-entrant; clones share
    the weights, each keeps its own buffers); onnxruntime sessions are safe to share as they are.
    The model is fed exactly the inputs its export declares (``export_meta.json`` ``inputs``);
    when it takes ``token_type_ids`` and the tokenizer gives none, they are zeros.
    """

    def __init__(self, model_dir, device="cpu", threads=None, backend="paddle", precision="fp32", mkldnn=True,
                 max_length=None, top_k=5, threshold=0.5):
        from ..models.auto import AutoConfig, AutoTokenizer
        from ..tokenization.utils import check_ids_fit

        if backend not in BACKENDS:
            raise PaddleRembertError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise PaddleRembertError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        self.model_dir = model_dir
        self.meta = read_meta(model_dir)
        self.task = self.meta["task"]
        config_path = os.path.join(model_dir, "config.json")
        self.config = read_json(config_path, "model config")
        if not isinstance(self.config, dict):
            raise PaddleRembertError(f"{config_path} must hold a JSON object")
        self.id2label = _read_id2label(self.config, config_path)
        _check_label_count(self.id2label, self.meta, config_path)
        self.problem_type = self.config.get("problem_type")
        self.input_names = meta_input_names(self.meta)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        check_ids_fit(self.tokenizer, self.config.get("vocab_size"), model_dir)
        self.model_max = model_max = int(self.meta.get("max_length") or 512)
        positions = AutoConfig.from_json_dict(self.config, config_path).max_sequence_length  # RoBERTa's: after pad
        if isinstance(positions, int) and model_max > positions:
            raise PaddleRembertError(f"{model_dir}: export_meta.json's max_length {model_max} is more than the "
                                     f"model's {positions} positions (from config.json max_position_embeddings)")
        if max_length is None:
            self.max_length = model_max
        elif isinstance(max_length, bool) or not isinstance(max_length, int) or not 2 <= max_length <= model_max:
            raise PaddleRembertError(f"max_length must be between 2 and the model's {model_max} (an integer), "
                                     f"got {max_length!r}")
        else:
            self.max_length = max_length
        # [CLS] A [SEP] B [SEP] holds no text below this; the tokenizer would fail on a long text
        specials = self.tokenizer.num_special_tokens_to_add(pair=False)
        if self.max_length <= specials:
            raise PaddleRembertError(f"max_length {self.max_length} leaves no room for text: the tokenizer adds "
                                     f"{specials} special tokens")
        self.top_k = _check_top_k(top_k)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
            raise PaddleRembertError(f"threshold must be a probability in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.engine = load_engine(model_dir, self.meta, backend=backend, device=device, threads=threads,
                                  precision=precision, mkldnn=mkldnn)
        self.backend = getattr(self.engine, "backend", backend)  # an old export's int8 runs on onnxruntime

    # -- raw ------------------------------------------------------------------------------------
    def run(self, feed):
        """Run one batch: ``{input name: int64 [B, L]}`` -> ``{output name: array}`` (no post-processing)."""
        missing = [n for n in self.input_names if n not in feed]
        if missing:
            raise PaddleRembertError(f"missing model inputs: {', '.join(missing)}")
        shapes = {n: np.shape(feed[n]) for n in self.input_names}
        first = shapes[self.input_names[0]]
        for name, shape in shapes.items():  # the backends' own errors here run to many lines, or name a gather
            if len(shape) != 2 or shape != first:
                raise PaddleRembertError(f"model inputs must all be [batch, length] of one shape, got "
                                         f"{', '.join(f'{n} {list(s)}' for n, s in shapes.items())}")
        if first[1] > self.model_max:
            raise PaddleRembertError(f"the inputs have {first[1]} tokens, more than the export's {self.model_max} "
                                     f"positions (export_meta.json max_length): truncate them to at most that")
        out = self.engine.run({n: feed[n] for n in self.input_names})
        for output in self.meta["outputs"]:  # an edited export_meta.json may name a task the program does not run
            shape = output.get("shape")
            got = np.shape(out[output["name"]]) if output["name"] in out else None
            if isinstance(shape, list) and got is not None and len(got) != len(shape):
                raise PaddleRembertError(f"the model returned {output['name']} of shape {list(got)}, but "
                                         f"export_meta.json's task {self.meta['task']} needs {shape}: it does not "
                                         "describe this model")
        return out

    def encode(self, texts, text_pairs=None):
        """Token ids of each example (unpadded), truncated to ``max_length``; a pair may be None."""
        texts, text_pairs = _check_texts(texts, text_pairs)
        if self.task == "question-answering" and text_pairs is None:
            raise PaddleRembertError("question-answering needs a question (text) and a context (text pair)")
        if self.task == "question-answering" and any(p is None for p in text_pairs):
            raise PaddleRembertError("question-answering needs a context (text pair) for every question")
        rows = [None] * len(texts)
        singles = [i for i in range(len(texts)) if text_pairs is None or text_pairs[i] is None]
        pairs = [i for i in range(len(texts)) if text_pairs is not None and text_pairs[i] is not None]
        for idx, with_pair in ((singles, False), (pairs, True)):
            if not idx:
                continue
            enc = self.tokenizer([texts[i] for i in idx], [text_pairs[i] for i in idx] if with_pair else None,
                                 truncation=True, max_length=self.max_length, return_special_tokens_mask=True)
            for j, i in enumerate(idx):
                ids = list(enc["input_ids"][j])
                if len(ids) > self.max_length:  # the tokenizer leaves what it cannot truncate as it is
                    why = (f"cannot be truncated to max_length {self.max_length} (the special tokens alone do not "
                           f"fit; it has {len(ids)} tokens); raise --max-length")
                    raise ExampleError(f"example {i + 1}: {why}", i, f"the example {why}")  # from 1, as questions
                types = list(enc["token_type_ids"][j]) if "token_type_ids" in enc else [0] * len(ids)
                # the tokens the tokenizer added ([CLS], [SEP]): an [UNK] in the text is content, as transformers has it
                rows[i] = {"input_ids": ids, "token_type_ids": types, "special": list(enc["special_tokens_mask"][j])}
        return rows

    def pad(self, rows):
        """One batch padded to its longest row, with the 0/1 attention mask, as int64 arrays."""
        width = max(len(r["input_ids"]) for r in rows)
        pad_id = self.tokenizer.pad_token_id or 0
        pad_type = getattr(self.tokenizer, "pad_token_type_id", 0)
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        types = np.full((len(rows), width), pad_type, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = r["input_ids"]
            types[i, :n] = r["token_type_ids"]
            mask[i, :n] = 1
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}  # run() keeps the export's

    # -- end to end ----------------------------------------------------------------------------
    def predict(self, texts, text_pairs=None, batch_size=8, top_k=None, doc_stride=None, max_answer_len=15,
                max_seq_len=None, handle_impossible_answer=False):
        """One result dict per example, in input order (a single str gives a list of one).

        Question answering (``texts`` = questions, ``text_pairs`` = contexts) answers as transformers'
        question-answering pipeline: contexts of any length in windows of ``max_seq_len`` tokens
        (default min(the export's, 384)) overlapping by ``doc_stride``, answers aligned to words, as
        character offsets into the context: ``{"answer", "score", "start", "end"}`` for the best, plus
        ``"answers"`` (best first) when ``top_k`` > 1; ``handle_impossible_answer`` allows "no answer".
        ``top_k`` is also the number of predictions per mask for masked-LM (default: the Predictor's).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise PaddleRembertError(f"batch size must be an integer >= 1, got {batch_size!r}")
        if self.task == "question-answering":
            from .pipelines import predict_qa

            texts, text_pairs = _check_texts(texts, text_pairs)
            return predict_qa(self.tokenizer, self.run, self.input_names, texts, text_pairs,
                              top_k=1 if top_k is None else top_k, max_length=self.max_length,
                              doc_stride=doc_stride, max_seq_len=max_seq_len, max_answer_len=max_answer_len,
                              handle_impossible_answer=handle_impossible_answer, batch_size=batch_size)
        top_k = self.top_k if top_k is None else _check_top_k(top_k)
        rows = self.encode(texts, text_pairs)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
        results = [None] * len(rows)
        for start in range(0, len(order), int(batch_size)):
            idx = order[start:start + int(batch_size)]
            feed = self.pad([rows[i] for i in idx])
            outputs = self.run(feed)
            for j, i in enumerate(idx):
                n = len(rows[i]["input_ids"])
                out = {k: v[j] for k, v in outputs.items()}
                results[i] = self._post_masked_lm(out, rows[i], top_k) if self.task == "masked-lm" else \
                    getattr(self, "_post_" + self.task.replace("-", "_"))(out, rows[i], n)
        return results

    __call__ = predict

    # -- post-processing -------------------------------------------------------------------------
    def _label(self, i):
        return self.id2label.get(int(i), f"LABEL_{int(i)}")

    def _post_sequence_classification(self, out, row, n):
        logits = out["logits"]
        if logits.shape[-1] == 1 and self.problem_type in (None, "regression"):
            return {"score": float(logits[0])}
        if self.problem_type == "multi_label_classification":
            probs = _sigmoid(logits)
            best = int(np.argmax(probs))
            return {"label": self._label(best), "score": float(probs[best]),
                    "labels": [self._label(i) for i in np.flatnonzero(probs > self.threshold)],
                    "probabilities": {self._label(i): float(p) for i, p in enumerate(probs)}}
        probs = _softmax(logits)
        best = int(np.argmax(probs))
        return {"label": self._label(best), "score": float(probs[best]),
                "probabilities": {self._label(i): float(p) for i, p in enumerate(probs)}}

    @staticmethod
    def _content_positions(row):
        return [i for i, special in enumerate(row["special"]) if not special]

    def _post_token_classification(self, out, row, n):
        ids = row["input_ids"]
        probs = _softmax(out["logits"][:n])
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        tokens = []
        for pos in self._content_positions(row):
            best = int(np.argmax(probs[pos]))
            tokens.append({"index": pos, "token": pieces[pos], "label": self._label(best),
                           "score": float(probs[pos, best])})
        return {"tokens": tokens, "entities": self._group_entities(tokens)}

    def _group_entities(self, tokens):
        """B-X / I-X (or bare X) runs of content tokens -> entities; O and other labels end a run."""
        entities, current = [], None

        def close():
            if current:
                pieces = [t["token"] for t in current["members"]]
                entities.append({"type": current["type"],
                                 "text": self.tokenizer.convert_tokens_to_string(pieces).strip(),
                                 "start_token": current["members"][0]["index"],
                                 "end_token": current["members"][-1]["index"],
                                 "score": float(np.mean([t["score"] for t in current["members"]]))})

        for tok in tokens:
            label = str(tok["label"])
            prefix, _, kind = label.partition("-") if label[:2] in ("B-", "I-") else ("", "", label)
            if label == "O" or label.startswith("LABEL_"):
                close()
                current = None
                continue
            contiguous = current is not None and tok["index"] == current["members"][-1]["index"] + 1
            if prefix == "I" and contiguous and current["type"] == kind or \
                    prefix == "" and contiguous and current["type"] == kind:
                current["members"].append(tok)
            else:
                close()
                current = {"type": kind, "members": [tok]}
        close()
        return entities

    def _post_masked_lm(self, out, row, top_k):
        ids = row["input_ids"]
        mask_id = self.tokenizer.mask_token_id
        masks = []
        for pos in [i for i, t in enumerate(ids) if t == mask_id]:
            probs = _softmax(out["logits"][pos])
            top = np.argsort(-probs, kind="stable")[: top_k]
            masks.append({"position": pos, "predictions": [
                {"token": self.tokenizer.convert_ids_to_tokens(int(t)), "token_id": int(t), "score": float(probs[t])}
                for t in top]})
        return {"masks": masks}

    def _post_replaced_token_detection(self, out, row, n):
        """Per content token: the probability that it was replaced (ELECTRA's discriminator), as transformers'
        ``torch.sigmoid(logits)``; ``replaced`` where it is above 0.5."""
        ids = row["input_ids"]
        probs = _sigmoid(out["logits"][:n])
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        return {"tokens": [{"index": i, "token": pieces[i], "score": float(probs[i]), "replaced": bool(probs[i] > 0.5)}
                           for i in self._content_positions(row) if i < n]}

    def _post_feature_extraction(self, out, row, n):
        hidden = out["last_hidden_state"][:n].astype(np.float64)
        result = {"mean_pooling": [float(x) for x in hidden.mean(axis=0)]}
        if "pooler_output" in out:  # a backbone without a pooler (ELECTRA) exports none
            result = {"pooler_output": [float(x) for x in out["pooler_output"]], **result}
        return result


def _read_id2label(config, path):
    """``config.json``'s ``id2label`` as ``{int: str}``; wrong types name the file and the entry."""
    raw = config.get("id2label") or {}
    if not isinstance(raw, dict):
        raise PaddleRembertError(f"{path}: id2label must be an object of label id -> name, got {raw!r}")
    out = {}
    for key, value in raw.items():
        try:
            label_id = int(key)
        except (TypeError, ValueError):
            raise PaddleRembertError(f"{path}: id2label key {key!r} is not an integer label id") from None
        if not isinstance(value, str):
            raise PaddleRembertError(f"{path}: id2label[{key!r}] must be a label name (a string), got {value!r}")
        out[label_id] = value
    return out


def _check_top_k(top_k):
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise PaddleRembertError(f"top_k must be an integer of at least 1, got {top_k!r}")
    return int(top_k)


def _check_label_count(id2label, meta, path):
    """An edited ``id2label`` with a name too many or too few would silently drop or invent labels."""
    if not id2label or meta["task"] not in ("sequence-classification", "token-classification"):
        return
    num_logits = (meta["outputs"][0].get("shape") or [None])[-1]
    if isinstance(num_logits, int) and sorted(id2label) != list(range(num_logits)):
        raise PaddleRembertError(f"{path}: id2label names labels {sorted(id2label)}, but the model returns "
                                 f"{num_logits} logits (labels 0..{num_logits - 1})")


def _check_texts(texts, text_pairs):
    if isinstance(texts, str):
        texts = [texts]
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
    elif isinstance(text_pairs, str):  # iterating it would pair each text with one character
        raise PaddleRembertError("text_pairs is a single str but texts is a list: give one pair per text")
    texts = list(texts)
    if not texts:
        raise PaddleRembertError("no input texts")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise PaddleRembertError(f"text {i} is a {type(t).__name__}, not a str")
    if text_pairs is not None:
        text_pairs = list(text_pairs)
        if len(text_pairs) != len(texts):
            raise PaddleRembertError(f"{len(texts)} texts but {len(text_pairs)} text pairs")
        for i, p in enumerate(text_pairs):
            if p is not None and not isinstance(p, str):
                raise PaddleRembertError(f"text pair {i} is a {type(p).__name__}, not a str or None")
    return texts, text_pairs
