"""Run an export (see :mod:`paddle_rembert.export`) with Paddle Inference or onnxruntime.

>>> from paddle_rembert.inference import Predictor
>>> predictor = Predictor("exported/", threads=2)               # Paddle Inference, oneDNN on CPU
>>> predictor.predict(["a text", "another"], batch_size=8)
[{'label': 'positive', 'score': 0.93, 'probabilities': {'negative': 0.07, 'positive': 0.93}}, ...]

The tokenizer, ``config.json`` (``id2label``) and ``export_meta.json`` (task, input and output
names) come from the export directory. Each batch is padded to its longest row and the 0/1
attention mask is always fed, so a result does not depend on the batch size, on the other
examples in its batch or on padding. Examples are grouped by length before batching (less
padding, same results) and returned in input order.

Results per task (one dict per example):

* sequence-classification: ``label``, ``score``, ``probabilities`` {label: p} (softmax);
  multi-label configs (``problem_type``) use sigmoids and add ``labels`` over ``threshold``;
  regression (one output) gives ``score`` only.
* token-classification: ``tokens`` [{``token``, ``label``, ``score``}] for every non-special token,
  and ``entities`` [{``type``, ``text``, ``start_token``, ``end_token``, ``score``}] grouped from
  ``B-``/``I-`` labels.
* question-answering (``text`` = question, ``text_pair`` = context): ``answer``, ``score``,
  ``start_token``, ``end_token``: the best context span (as transformers' pipeline scores it).
* masked-lm: ``masks`` [{``position``, ``predictions`` [{``token``, ``token_id``, ``score``}]}] for
  each mask token, ``top_k`` best first.
* feature-extraction: ``pooler_output`` and ``mean_pooling`` (mean of the last hidden states over
  real tokens), as lists of floats.
"""
import os

import numpy as np

from ..runtime.errors import PaddleRembertError
from .export import INPUT_NAMES, MODEL_FILE, PARAMS_FILE, read_meta
from ..runtime.files import read_json

BACKENDS = ("paddle", "onnxruntime")
PRECISIONS = ("fp32", "bf16")


def _default_threads():
    from ..runtime.settings import default_num_threads

    return default_num_threads()


def _parse_device(device):
    device = (device or "cpu").lower()
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "gpu"):
        raise PaddleRembertError(f"device must be 'cpu' or 'gpu' (or 'gpu:N'), got {device!r}")
    try:
        return kind, int(index or 0)
    except ValueError:
        raise PaddleRembertError(f"bad device index in {device!r}") from None


class PaddleEngine:
    """Paddle Inference on a PIR program: oneDNN on CPU by default, optional bf16."""

    backend = "paddle"

    def __init__(self, export_dir, meta, device="cpu", threads=None, precision="fp32", mkldnn=True,
                 mkldnn_cache_capacity=0, ir_optim=True):
        import paddle
        import paddle.inference as paddle_infer

        kind, index = _parse_device(device)
        model_file = os.path.join(export_dir, meta.get("model_file", MODEL_FILE))
        params_file = os.path.join(export_dir, meta.get("params_file", PARAMS_FILE))
        for path in (model_file, params_file):
            if not os.path.isfile(path):
                raise PaddleRembertError(f"{export_dir} is incomplete: {os.path.basename(path)} is missing")
        config = paddle_infer.Config(model_file, params_file)
        self.threads = int(threads or _default_threads())
        if kind == "gpu":
            if not paddle.device.is_compiled_with_cuda():
                raise PaddleRembertError("device 'gpu' needs a CUDA build of PaddlePaddle (paddlepaddle-gpu); "
                                         "this one is CPU-only")
            if precision == "bf16":
                config.enable_use_gpu(256, index, paddle_infer.PrecisionType.Bfloat16)
            else:
                config.enable_use_gpu(256, index)
        else:
            config.disable_gpu()
            if mkldnn:
                config.enable_mkldnn()
                if mkldnn_cache_capacity:
                    config.set_mkldnn_cache_capacity(int(mkldnn_cache_capacity))
                if precision == "bf16":
                    config.enable_mkldnn_bfloat16()
            elif precision == "bf16":
                raise PaddleRembertError("bf16 on CPU needs oneDNN (do not disable it)")
        config.set_cpu_math_library_num_threads(self.threads)
        config.switch_ir_optim(bool(ir_optim))
        # No enable_memory_optim(): with a PIR program Paddle 3.3.1 fails in create_predictor
        # ("Not find predictor_id 0 and pass_name memory_optimize_pass").
        config.disable_glog_info()
        self.predictor = paddle_infer.create_predictor(config)
        self.input_names = list(self.predictor.get_input_names())
        self.output_names = [o["name"] for o in meta["outputs"]]
        fetch = list(self.predictor.get_output_names())
        if len(fetch) != len(self.output_names):
            raise PaddleRembertError(f"{model_file} has {len(fetch)} outputs; export_meta.json names "
                                     f"{len(self.output_names)}")
        self._inputs = {n: self.predictor.get_input_handle(n) for n in self.input_names}
        self._outputs = [self.predictor.get_output_handle(n) for n in fetch]

    def run(self, feed):
        for name, handle in self._inputs.items():
            handle.reshape(list(feed[name].shape))
            handle.copy_from_cpu(np.ascontiguousarray(feed[name], dtype=np.int64))
        self.predictor.run()
        return {name: h.copy_to_cpu() for name, h in zip(self.output_names, self._outputs)}


class OnnxEngine:
    """onnxruntime on ``model.onnx``: all graph optimisations, ``threads`` intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, export_dir, meta, device="cpu", threads=None, precision="fp32", **_):
        from .onnx import onnx_path

        try:
            import onnxruntime as ort
        except ImportError:
            raise PaddleRembertError("the onnxruntime backend needs onnxruntime: pip install onnxruntime") \
                from None
        if precision != "fp32":
            raise PaddleRembertError("the onnxruntime backend runs fp32 only")
        kind, index = _parse_device(device)
        path = onnx_path(export_dir, meta)
        self.threads = int(threads or _default_threads())
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if kind == "gpu":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise PaddleRembertError("device 'gpu' needs onnxruntime-gpu (CUDAExecutionProvider is not available)")
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(path, sess_options=options, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o["name"] for o in meta["outputs"]]
        if len(self.session.get_outputs()) != len(self.output_names):
            raise PaddleRembertError(f"{path} has {len(self.session.get_outputs())} outputs; export_meta.json "
                                     f"names {len(self.output_names)}")

    def run(self, feed):
        outs = self.session.run(None, {n: np.ascontiguousarray(feed[n], dtype=np.int64) for n in self.input_names})
        return dict(zip(self.output_names, outs))


def load_engine(export_dir, meta=None, backend="paddle", **kwargs):
    """The backend's engine for an export directory; ``engine.run({name: int64 array}) -> {output: array}``."""
    meta = meta or read_meta(export_dir)
    if backend == "paddle":
        return PaddleEngine(export_dir, meta, **kwargs)
    if backend == "onnxruntime":
        return OnnxEngine(export_dir, meta, **kwargs)
    raise PaddleRembertError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


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
    ``"onnxruntime"`` (needs ``export --onnx``); ``precision``: ``"fp32"`` or ``"bf16"`` (Paddle
    Inference with oneDNN, on CPUs with AVX-512 BF16 / AMX); ``mkldnn``: oneDNN on CPU (default on).
    """

    def __init__(self, model_dir, device="cpu", threads=None, backend="paddle", precision="fp32", mkldnn=True,
                 max_length=None, top_k=5, threshold=0.5, max_answer_length=30):
        from ..tokenization.auto import AutoTokenizer

        if backend not in BACKENDS:
            raise PaddleRembertError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise PaddleRembertError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        self.model_dir = model_dir
        self.meta = read_meta(model_dir)
        self.task = self.meta["task"]
        self.config = read_json(os.path.join(model_dir, "config.json"), "model config")
        self.id2label = {int(k): v for k, v in (self.config.get("id2label") or {}).items()}
        self.problem_type = self.config.get("problem_type")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model_max = int(self.meta.get("max_length") or 512)
        self.max_length = int(max_length or model_max)
        if not 2 <= self.max_length <= model_max:
            raise PaddleRembertError(f"max_length must be between 2 and the model's {model_max}, got {max_length}")
        self.top_k = int(top_k)
        if self.top_k < 1:
            raise PaddleRembertError(f"top_k must be at least 1, got {top_k}")
        self.threshold = float(threshold)
        self.max_answer_length = int(max_answer_length)
        self.engine = load_engine(model_dir, self.meta, backend=backend, device=device, threads=threads,
                                  precision=precision, mkldnn=mkldnn)
        self.backend = backend

    # -- raw ------------------------------------------------------------------------------------
    def run(self, feed):
        """Run one batch: ``{input name: int64 [B, L]}`` -> ``{output name: array}`` (no post-processing)."""
        missing = [n for n in INPUT_NAMES if n not in feed]
        if missing:
            raise PaddleRembertError(f"missing model inputs: {', '.join(missing)}")
        return self.engine.run(feed)

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
        truncation = "only_second" if self.task == "question-answering" else True
        for idx, with_pair in ((singles, False), (pairs, True)):
            if not idx:
                continue
            enc = self.tokenizer([texts[i] for i in idx], [text_pairs[i] for i in idx] if with_pair else None,
                                 truncation=truncation, max_length=self.max_length)
            for j, i in enumerate(idx):
                rows[i] = {"input_ids": list(enc["input_ids"][j]), "token_type_ids": list(enc["token_type_ids"][j])}
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
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}

    # -- end to end ----------------------------------------------------------------------------
    def predict(self, texts, text_pairs=None, batch_size=8):
        """One result dict per example, in input order (a single str gives a list of one)."""
        if int(batch_size) < 1:
            raise PaddleRembertError(f"batch size must be at least 1, got {batch_size}")
        rows = self.encode(texts, text_pairs)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
        results = [None] * len(rows)
        for start in range(0, len(order), int(batch_size)):
            idx = order[start:start + int(batch_size)]
            feed = self.pad([rows[i] for i in idx])
            outputs = self.run(feed)
            for j, i in enumerate(idx):
                n = len(rows[i]["input_ids"])
                results[i] = self._postprocess({k: v[j] for k, v in outputs.items()}, rows[i], n)
        return results

    __call__ = predict

    # -- post-processing -------------------------------------------------------------------------
    def _label(self, i):
        return self.id2label.get(int(i), f"LABEL_{int(i)}")

    def _postprocess(self, out, row, n):
        return getattr(self, "_post_" + self.task.replace("-", "_"))(out, row, n)

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

    def _content_positions(self, ids):
        special = set(self.tokenizer.all_special_ids)
        return [i for i, t in enumerate(ids) if t not in special]

    def _post_token_classification(self, out, row, n):
        ids = row["input_ids"]
        probs = _softmax(out["logits"][:n])
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        tokens = []
        for pos in self._content_positions(ids):
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

    def _post_question_answering(self, out, row, n):
        ids, types = row["input_ids"], row["token_type_ids"]
        special = set(self.tokenizer.all_special_ids)
        context = np.array([types[i] == 1 and ids[i] not in special for i in range(n)])
        if not context.any():
            return {"answer": "", "score": 0.0, "start_token": None, "end_token": None}
        start = _softmax(np.where(context, out["start_logits"][:n], -np.inf))
        end = _softmax(np.where(context, out["end_logits"][:n], -np.inf))
        scores = np.triu(np.outer(start, end))  # end >= start
        scores = np.tril(scores, self.max_answer_length - 1)  # and at most max_answer_length tokens
        s, e = np.unravel_index(int(np.argmax(scores)), scores.shape)
        pieces = self.tokenizer.convert_ids_to_tokens(ids[s:e + 1])
        return {"answer": self.tokenizer.convert_tokens_to_string(pieces).strip(), "score": float(scores[s, e]),
                "start_token": int(s), "end_token": int(e)}

    def _post_masked_lm(self, out, row, n):
        ids = row["input_ids"]
        mask_id = self.tokenizer.mask_token_id
        masks = []
        for pos in [i for i, t in enumerate(ids) if t == mask_id]:
            probs = _softmax(out["logits"][pos])
            top = np.argsort(-probs, kind="stable")[: self.top_k]
            masks.append({"position": pos, "predictions": [
                {"token": self.tokenizer.convert_ids_to_tokens(int(t)), "token_id": int(t), "score": float(probs[t])}
                for t in top]})
        return {"masks": masks}

    def _post_feature_extraction(self, out, row, n):
        hidden = out["last_hidden_state"][:n].astype(np.float64)
        return {"pooler_output": [float(x) for x in out["pooler_output"]],
                "mean_pooling": [float(x) for x in hidden.mean(axis=0)]}


def _check_texts(texts, text_pairs):
    if isinstance(texts, str):
        texts = [texts]
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
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
