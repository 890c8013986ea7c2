"""``pipeline(task, model=DIR)``: transformers 4.46.3's pipelines on Paddle dygraph, Paddle Inference or onnxruntime.

For code ported from transformers: the same tasks, call arguments and result shapes, and (on the same weights) the
same answers, because tokenization is transformers' slow tokenizers' id for id (with fast-tokenizer offsets and
windows) and post-processing is :mod:`.qa` / :mod:`.postprocess`, both checked against the real pipelines.

>>> qa = pipeline("question-answering", model="exported/")          # an export: Paddle Inference by default
>>> qa(question="What is Machine Learning?", context="Machine Learning is a subset of ...", top_k=3)

``DIR`` is an export (``export_meta.json``; backend ``"paddle"`` or ``"onnxruntime"``) or a model directory
(backend ``"dygraph"``, CPU). The model is fed exactly the inputs it takes (an export's ``inputs``); token types
are zeros when the tokenizer gives none. Windows of one QA example run as one right-padded batch with the 0/1
attention mask, so padding never changes an answer. A pipeline may be called from many threads at once: calls
share no mutable state, exports' engines are thread-safe, dygraph forwards are serialised by a lock.

Every task also takes transformers' generic call arguments: ``batch_size`` (encodings per forward pass, right-padded
with the mask, so results equal ``batch_size=1``'s) and ``num_workers`` (accepted and unused: there is no
DataLoader); a generator (any iterator) of inputs gives a lazy iterator of results, as transformers'
``PipelineIterator`` does.

:func:`answer_question` and :func:`qa_record` are the pieces ``Predictor.predict`` and ``paddle-rembert predict``
use for question answering.
"""
import itertools
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..runtime.errors import ExampleError, PaddleRembertError, TruncationError
from .format import TASKS, is_export_dir, read_meta
from .postprocess import (feature_extraction, fill_mask, fill_mask_target_ids, text_classification,
                          token_classification, token_classification_tokenizer_kwargs)
from .qa import postprocess_qa, qa_windowing

ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}
# pipeline task -> export task (format.TASKS)
EXPORT_TASKS = {"question-answering": "question-answering", "text-classification": "sequence-classification",
                "token-classification": "token-classification", "fill-mask": "masked-lm",
                "feature-extraction": "feature-extraction"}
BACKENDS = ("paddle", "onnxruntime", "dygraph")
_FORWARD_NAMES = ("input_ids", "token_type_ids", "attention_mask")
_TOKENIZER_ARGS = ("truncation", "padding", "max_length")  # what text-classification passes on to the tokenizer
_CALL_ARGS = ("batch_size", "num_workers")  # transformers' Pipeline.__call__ arguments, taken by every task


# ---------------------------------------------------------------------------------------------------- models
class _ExportRunner:
    """An export's engine (thread-safe: Paddle clones its predictor per thread, onnxruntime sessions are shared)."""

    def __init__(self, export_dir, meta, backend, device, threads):
        from .engines import load_engine

        self.engine = load_engine(export_dir, meta, backend=backend, device=device, threads=threads)
        self.input_names = tuple(i["name"] for i in meta.get("inputs") or [{"name": n} for n in _FORWARD_NAMES])
        self.max_length = meta.get("max_length")

    def __call__(self, feed):
        return self.engine.run({name: feed[name] for name in self.input_names})


class _DygraphRunner:
    """A Paddle dygraph model; Paddle's tracer state is process-global, so one forward runs at a time."""

    def __init__(self, model, input_names, output_names, max_length):
        self.model, self.input_names, self.output_names = model, input_names, output_names
        self.max_length = max_length
        self._lock = threading.Lock()

    def __call__(self, feed):
        import paddle

        with self._lock, paddle.no_grad():
            out = self.model(**{n: paddle.to_tensor(feed[n]) for n in self.input_names})
            return {n: getattr(out, n).numpy() for n in self.output_names if getattr(out, n, None) is not None}


def _read_config(model_dir):
    from ..runtime.files import read_json

    config = read_json(os.path.join(model_dir, "config.json"), "model config")
    if not isinstance(config, dict):
        raise PaddleRembertError(f"{model_dir}/config.json must hold a JSON object")
    return config


def _load_dygraph(model_dir, export_task, config, input_names):
    from ..models.auto import auto_class
    from .export import infer_task

    try:
        found = infer_task(config)
    except PaddleRembertError:  # no architectures: nothing to check
        found = None
    if export_task != "feature-extraction" and found not in (None, export_task, "feature-extraction"):
        raise PaddleRembertError(f"{model_dir} holds a {found} model ({', '.join(config['architectures'])}); "
                                 f"it cannot run {export_task}")
    model, report = auto_class(TASKS[export_task][0]).from_pretrained(model_dir, output_loading_info=True)
    if export_task != "feature-extraction" and report.missing_keys:
        raise PaddleRembertError(f"{model_dir} has no {export_task} head (missing {', '.join(report.missing_keys)}); "
                                 f"fine-tune one first")
    model.eval()
    return _DygraphRunner(model, input_names, [name for name, _ in TASKS[export_task][1]],
                          model.config.max_sequence_length)


def _load_tokenizer(path):
    from ..models.auto import AutoTokenizer

    if not os.path.isdir(path):
        raise PaddleRembertError(f"tokenizer directory not found: {path}")
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:  # PaddleRembertError is a ValueError
        raise PaddleRembertError(f"no usable tokenizer in {path}: {(str(e) or type(e).__name__).splitlines()[0]}") \
            from None


# ---------------------------------------------------------------------------------------------------- batching
def make_feed(rows: Sequence[Dict[str, Sequence[int]]], input_names: Sequence[str], pad_token_id) -> Dict:
    """Right-padded int64 ``[rows, longest]`` arrays of ``input_names``; the mask marks real tokens, token types
    default to zeros. Rows are unpadded encodings (``input_ids`` and optionally ``token_type_ids``)."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = np.full((len(rows), width), pad_token_id or 0, dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[i, :n] = row["input_ids"]
        mask[i, :n] = row["attention_mask"] if row.get("attention_mask") is not None else 1
        if row.get("token_type_ids") is not None:
            types[i, :n] = row["token_type_ids"]
    arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    return {name: arrays[name] for name in input_names}


def _rows(enc, count):
    """Per-row dicts of a batched encoding (only the model inputs)."""
    keys = [k for k in _FORWARD_NAMES if k in enc]
    return [{k: list(enc[k][i]) for k in keys} for i in range(count)]


def _check_length(rows, max_length, hint):
    longest = max(len(r["input_ids"]) for r in rows)
    if max_length and longest > max_length:
        raise PaddleRembertError(f"input of {longest} tokens exceeds the model's {max_length} positions; "
                                 + hint.format(n=max_length))


# ---------------------------------------------------------------------------------------------------- QA
def answer_question(tokenizer, run, input_names, question: str, context: str, *, top_k: int = 1,
                    doc_stride: Optional[int] = None, max_answer_len: int = 15, max_seq_len: Optional[int] = None,
                    handle_impossible_answer: bool = False, align_to_words: bool = True, padding="do_not_pad",
                    max_length: Optional[int] = None, batch_size: int = 32):
    """transformers' answer(s) to one question: a ``{"score", "start", "end", "answer"}`` dict, or a list.

    ``run(feed) -> {"start_logits", "end_logits"}`` is any backend (``Predictor.run``, an engine); ``max_length``
    (the model's positions) caps the default ``max_seq_len``, and a window longer is refused. The context's
    windows (``max_seq_len`` tokens overlapping by ``doc_stride``) run ``batch_size`` at a time.
    """
    for name, value in (("question", question), ("context", context)):
        if not isinstance(value, str):
            raise PaddleRembertError(f"`{name}` must be a str, got {type(value).__name__}")
        if not value:
            raise PaddleRembertError(f"`{name}` cannot be empty")
    windowing = _qa_windowing(tokenizer, max_length, max_seq_len, doc_stride, padding)
    text, pair = windowing.order(question, context)
    enc = tokenizer(text, pair, **windowing.tokenizer_kwargs)
    count = len(enc["input_ids"])
    features = {"input_ids": enc["input_ids"], "attention_mask": enc.get("attention_mask"),
                "offset_mapping": enc["offset_mapping"], "sequence_ids": [enc.sequence_ids(i) for i in range(count)],
                "word_ids": [enc.word_ids(i) for i in range(count)]}
    rows = _rows(enc, count)
    _check_length(rows, max_length, f"lower max_seq_len (it is {windowing.max_seq_len}) to at most {{n}}")
    starts, ends = [], []
    for first in range(0, count, max(1, int(batch_size))):
        out = run(make_feed(rows[first:first + batch_size], input_names, tokenizer.pad_token_id))
        starts.extend(np.asarray(out["start_logits"]))
        ends.extend(np.asarray(out["end_logits"]))
    return postprocess_qa(features, starts, ends, context, top_k=top_k,
                          handle_impossible_answer=handle_impossible_answer, max_answer_len=max_answer_len,
                          align_to_words=align_to_words,
                          cls_token_id=tokenizer.cls_token_id, pad_token_id=tokenizer.pad_token_id,
                          padding_side=tokenizer.padding_side)


def _qa_windowing(tokenizer, max_length, max_seq_len, doc_stride, padding="do_not_pad"):
    """:func:`qa_windowing` for ``tokenizer``: ``max_length`` (the model's positions) caps its default window. A
    larger explicit one is taken, as transformers takes it: inputs that fit the positions answer, and a window
    that outgrows them is refused when it is run."""
    model_max = tokenizer.model_max_length
    if max_length:
        model_max = min(model_max, max_length) if model_max else max_length
    return qa_windowing(model_max, max_seq_len, doc_stride, tokenizer.padding_side, padding)


def qa_record(result, top_k: int = 1) -> Dict[str, Any]:
    """One JSON line of ``paddle-rembert predict`` for a question: the best ``answer, score, start, end`` (empty
    answer and null offsets when no span qualifies), plus ``answers`` (all of them, best first) when ``top_k > 1``."""
    answers = [result] if isinstance(result, dict) else list(result)
    best = answers[0] if answers else {"answer": "", "score": 0.0, "start": None, "end": None}
    record = {"answer": best["answer"], "score": float(best["score"]), "start": best["start"], "end": best["end"]}
    if top_k > 1:
        record["answers"] = [{"answer": a["answer"], "score": float(a["score"]), "start": a["start"],
                              "end": a["end"]} for a in answers]
    return record


def predict_qa(tokenizer, run, input_names, questions, contexts, *, top_k: int = 1, max_length=None,
               **options) -> List[Dict[str, Any]]:
    """:func:`qa_record` of each (question, context), for ``Predictor.predict`` and ``paddle-rembert predict``;
    ``options`` are :func:`answer_question`'s (``doc_stride``, ``max_answer_len``, ``max_seq_len``, ...)."""
    if contexts is None or len(contexts) != len(questions) or any(c is None for c in contexts):
        raise PaddleRembertError("question-answering needs a context (text pair) for every question")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise PaddleRembertError(f"top_k must be an integer >= 1, got {top_k!r}")
    records = []
    for i, (q, c) in enumerate(zip(questions, contexts)):
        try:
            answer = answer_question(tokenizer, run, input_names, q, c, top_k=top_k, max_length=max_length, **options)
        except TruncationError:  # said in the tokenizer's words (truncation=..., stride=...), not predict's
            why = _no_room(tokenizer, q, max_length, options, ("--max-length", "--doc-stride"))
            raise ExampleError(f"question {i + 1} {why}", i, f"the question {why}") from None
        records.append(qa_record(answer, top_k))
    return records


def _no_room(tokenizer, question, max_length, options, names):
    """Why a question's windows cannot be cut, to follow the question's name: it leaves no room for its context, or
    no more than the windows' overlap; ``names``: what the caller calls the window and overlap settings."""
    tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    window = _qa_windowing(tokenizer, max_length, options.get("max_seq_len"), options.get("doc_stride"))
    room = window.max_seq_len - tokens - tokenizer.num_special_tokens_to_add(pair=True)
    asked = f"({tokens} token{'s' * (tokens != 1)})"
    if room <= 0:
        return (f"{asked} leaves no room for its context in a window of {window.max_seq_len} tokens: shorten the "
                f"question or widen the window ({names[0]})")
    return (f"{asked} leaves {room} token{'s' * (room != 1)} for its context in a window of {window.max_seq_len}, "
            f"not more than the windows' overlap (doc_stride {window.doc_stride}): shorten the question, widen the "
            f"window ({names[0]}) or lower {names[1]}")


class SquadExample:
    """A question and its context, as transformers' ``SquadExample`` holds them (same constructor arguments;
    only ``question_text`` and ``context_text`` are read). The QA pipeline also takes transformers' own."""

    def __init__(self, qas_id, question_text, context_text, answer_text=None, start_position_character=None,
                 title=None, answers=(), is_impossible=False):
        self.qas_id, self.question_text, self.context_text = qas_id, question_text, context_text
        self.answer_text, self.start_position_character, self.title = answer_text, start_position_character, title
        self.answers, self.is_impossible = list(answers), is_impossible

    def __repr__(self):
        return f"SquadExample(question_text={self.question_text!r}, context_text={self.context_text!r})"


def _is_squad_example(item):
    return hasattr(item, "question_text") and hasattr(item, "context_text")


def _qa_example(item):
    """One ``{"question", "context"}`` dict (or a ``SquadExample``) as a ``(question, context)`` pair."""
    if _is_squad_example(item):  # taken as it is, as transformers does
        return item.question_text, item.context_text
    if not isinstance(item, dict) or "question" not in item or "context" not in item:
        raise PaddleRembertError("You need to provide a dictionary with keys {question:..., context:...}")
    for key in ("question", "context"):
        if item[key] is None:
            raise PaddleRembertError(f"`{key}` cannot be None")
        if isinstance(item[key], str) and not item[key]:
            raise PaddleRembertError(f"`{key}` cannot be empty")
    return item["question"], item["context"]


def _qa_examples(args, kwargs):
    """transformers' ``QuestionAnsweringArgumentHandler``: ``(question, context)`` pairs and whether the call
    holds exactly one example (then the result is not wrapped in a list); an iterator of dicts stays lazy."""
    if args:
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            inputs = [{"question": args[0], "context": args[1]}]
        else:
            inputs = args[0] if len(args) == 1 else list(args)
    elif "X" in kwargs or "data" in kwargs:  # transformers' older names of the inputs
        inputs = kwargs.pop("X") if "X" in kwargs else kwargs.pop("data")
    elif "question" in kwargs and "context" in kwargs:
        question, context = kwargs.pop("question"), kwargs.pop("context")
        if isinstance(question, list) and isinstance(context, str):
            inputs = [{"question": q, "context": context} for q in question]
        elif isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise PaddleRembertError("Questions and contexts don't have the same lengths")
            inputs = [{"question": q, "context": c} for q, c in zip(question, context)]
        elif isinstance(question, str) and isinstance(context, str):
            inputs = [{"question": question, "context": context}]
        else:
            raise PaddleRembertError("Arguments can't be understood: question and context must be str or lists")
    else:
        raise PaddleRembertError("question-answering needs question= and context=, or {'question', 'context'} dicts")
    if isinstance(inputs, Iterator):
        return map(_qa_example, inputs), False
    if isinstance(inputs, dict) and isinstance(inputs.get("question"), list):  # {"question": [...], ...}: a batch
        context = inputs.get("context")
        contexts = context if isinstance(context, list) else [context] * len(inputs["question"])
        if len(contexts) != len(inputs["question"]):
            raise PaddleRembertError("Questions and contexts don't have the same lengths")
        return [_qa_example({"question": q, "context": c}) for q, c in zip(inputs["question"], contexts)], False
    one = isinstance(inputs, dict) or _is_squad_example(inputs)
    examples = [_qa_example(item) for item in
                ([inputs] if one else inputs if isinstance(inputs, (list, tuple)) else [None])]
    return examples, len(examples) == 1


# ---------------------------------------------------------------------------------------------------- pipelines
class Pipeline:
    """What every task shares: the tokenizer, the runner, the model's config and construction-time defaults.

    A task turns one input into encodings (``_preprocess``: rows for the model and a state) and the model's outputs
    for those rows into its result (``_postprocess``); :meth:`_map` runs the rows of many inputs in batches.
    Question answering batches its windows in :func:`answer_question` instead.
    """

    task = None
    arguments = ()

    def __init__(self, tokenizer, runner, config, defaults):
        self.tokenizer, self.runner, self.config = tokenizer, runner, config
        self.defaults = self._check_arguments(defaults)

    def _check_arguments(self, kwargs):
        allowed = tuple(self.arguments) + tuple(a for a in _CALL_ARGS if a not in self.arguments)
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise PaddleRembertError(f"{self.task} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}")
        return dict(kwargs)

    def _options(self, kwargs):
        """Construction defaults overridden by the call's arguments (a new dict: calls share nothing)."""
        options = {**self.defaults, **self._check_arguments(kwargs)}
        options.pop("num_workers", None)
        batch_size = options.pop("batch_size", None)  # None: transformers' default
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise PaddleRembertError(f"batch_size must be an integer >= 1, got {batch_size!r}")
            options["batch_size"] = batch_size
        return options

    too_long = "pass truncation=True (with max_length at most {n}, if any)"  # what a too long input is told

    def _run(self, rows):
        _check_length(rows, self.runner.max_length, self.too_long)
        return self.runner(make_feed(rows, self.runner.input_names, self.tokenizer.pad_token_id))

    def _encode(self, text, **kwargs):
        """The tokenizer call as transformers' fast tokenizer makes it for one text: a falsy ``text_pair`` is no
        pair, and it raises where that one raises: an ``only_first``/``only_second`` truncation that cannot reach
        ``max_length`` (the slow tokenizer, like ours, logs and keeps all tokens). Truncation without
        ``max_length`` stops at the model's positions where the tokenizer's ``model_max_length`` is larger
        (transformers' pipeline fails there)."""
        if "text_pair" in kwargs and not kwargs["text_pair"]:
            kwargs = {k: v for k, v in kwargs.items() if k != "text_pair"}
        positions = self.runner.max_length
        if kwargs.get("truncation") not in (None, False, "do_not_truncate") and kwargs.get("max_length") is None \
                and positions and self.tokenizer.model_max_length > positions:
            kwargs["max_length"] = positions
        enc = self.tokenizer(text, **dict(kwargs, verbose=False))  # what is too long is raised below, not logged
        ids = enc["input_ids"]
        limit = kwargs.get("max_length") or self.tokenizer.model_max_length
        if kwargs.get("truncation") in ("only_first", "only_second") and isinstance(ids, list) and ids \
                and not isinstance(ids[0], list) and len(ids) > limit:
            if kwargs["truncation"] == "only_second" and kwargs.get("text_pair") is None:
                raise PaddleRembertError("Truncation error: Second sequence not provided")
            raise PaddleRembertError("Truncation error: Sequence to truncate too short to respect the provided "
                                     "max_length")
        return enc

    def _map(self, items, options):
        """The result of each of ``items``: a list, or a lazy iterator when ``items`` is an iterator (a generator).

        ``batch_size`` encodings (of one or several inputs) run per forward pass; without it, each input's
        encodings (a token-classification text's windows) run together."""
        results = self._stream(iter(items), options, options.get("batch_size"))
        return results if isinstance(items, Iterator) else list(results)

    def _stream(self, items, options, batch_size):
        while True:
            chunk = [self._preprocess(item, options) for item in itertools.islice(items, batch_size or 1)]
            if not chunk:
                return
            rows = [row for item_rows, _ in chunk for row in item_rows]
            step = batch_size or len(rows)
            outputs = []
            for first in range(0, len(rows), step):
                batch = rows[first:first + step]
                out = self._run(batch)
                outputs.extend({name: value[i] for name, value in out.items()} for i in range(len(batch)))
            for item_rows, state in chunk:
                yield self._postprocess(outputs[:len(item_rows)], state, options)
                del outputs[:len(item_rows)]

    @staticmethod
    def _inputs(args, kwargs):
        if len(args) == 1 and "inputs" not in kwargs:
            return args[0]
        if not args and "inputs" in kwargs:
            return kwargs.pop("inputs")
        raise PaddleRembertError("pass one input (a text or a list of texts)")


def _one_row(enc):
    """The model inputs of a single (unbatched) encoding."""
    return _rows({k: [v] for k, v in enc.items()}, 1)


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    arguments = ("top_k", "topk", "doc_stride", "max_answer_len", "max_seq_len", "max_question_len",
                 "handle_impossible_answer", "align_to_words", "padding", "batch_size")

    def __call__(self, *args, **kwargs):
        """An answer dict (or a list with ``top_k``) per question; ``batch_size`` is windows per forward (default
        32 here, the same answers as transformers' 1)."""
        examples, single = _qa_examples(args, kwargs)
        # as transformers: an argument given as None is not given (a construction default stays)
        options = self._options({k: v for k, v in kwargs.items() if not (k in self.arguments and v is None)})
        options = {k: v for k, v in options.items() if v is not None}
        if "topk" in options:
            options.setdefault("top_k", options["topk"])
        options.pop("topk", None)
        options.pop("max_question_len", None)  # only the slow-tokenizer path of transformers reads it
        for name in ("top_k", "max_answer_len"):
            if name in options and options[name] < 1:
                raise PaddleRembertError(f"{name} parameter should be >= 1 (got {options[name]})")
        results = (self._answer(q, c, options) for q, c in examples)
        if isinstance(examples, Iterator):
            return results
        results = list(results)
        return results[0] if single else results

    def _answer(self, question, context, options):
        try:
            return answer_question(self.tokenizer, self.runner, self.runner.input_names, question, context,
                                   max_length=self.runner.max_length, **options)
        except TruncationError:  # the tokenizer's words (truncation=...) are not this pipeline's arguments
            raise PaddleRembertError("the question " + _no_room(self.tokenizer, question, self.runner.max_length,
                                                                options, ("max_seq_len", "doc_stride"))) from None

    @staticmethod
    def create_sample(question, context):
        """transformers' helper: a :class:`SquadExample`, or a list of them for lists of questions and contexts."""
        if isinstance(question, list):
            return [SquadExample(None, q, c, None, None, None) for q, c in zip(question, context)]
        return SquadExample(None, question, context, None, None, None)


class TextClassificationPipeline(Pipeline):
    task = "text-classification"
    arguments = ("top_k", "function_to_apply", "return_all_scores") + _TOKENIZER_ARGS

    def __call__(self, *args, **kwargs):
        inputs = self._inputs(args, kwargs)
        legacy_wrap = "top_k" not in kwargs
        options = self._options(kwargs)
        if isinstance(inputs, (list, tuple, Iterator)):  # a batch: each item a text, a pair dict or [[text, pair]]
            return self._map(inputs, options)
        result = self._map([inputs], options)[0]
        return [result] if isinstance(inputs, str) and legacy_wrap else result

    def _preprocess(self, item, options):
        tok_kwargs = {k: options[k] for k in _TOKENIZER_ARGS if k in options}
        if isinstance(item, dict):
            extra = set(item) - {"text", "text_pair"}
            if "text" not in item or extra:
                raise PaddleRembertError('a text pair is a dict {"text": ..., "text_pair": ...}')
            enc = self._encode(item["text"], text_pair=item.get("text_pair"), **tok_kwargs)
        elif isinstance(item, list) and len(item) == 1 and isinstance(item[0], list) and len(item[0]) == 2:
            enc = self._encode(item[0][0], text_pair=item[0][1], **tok_kwargs)
        elif isinstance(item, str):
            enc = self._encode(item, **tok_kwargs)
        else:
            raise PaddleRembertError('The pipeline received invalid inputs, if you are trying to send text pairs, '
                                     'you can try to send a dictionary `{"text": "My text", "text_pair": "My pair"}`')
        return _one_row(enc), None

    def _postprocess(self, outputs, state, options):
        post = {k: options[k] for k in ("top_k", "function_to_apply", "return_all_scores") if k in options}
        if "return_all_scores" not in post and self.config.get("return_all_scores") is not None:
            post["return_all_scores"] = self.config["return_all_scores"]
        return text_classification(outputs[0]["logits"], _id2label(self.config),
                                   problem_type=self.config.get("problem_type"), single_text=False, **post)


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    arguments = ("aggregation_strategy", "stride", "ignore_labels", "grouped_entities", "ignore_subwords",
                 "offset_mapping")
    too_long = ("token-classification cuts texts (or, with stride, windows them) at the tokenizer's model_max_length: "
                "set model_max_length to at most {n} in tokenizer_config.json")

    def _check_arguments(self, kwargs):
        """As transformers' ``_sanitize_parameters`` (run on the construction and the call arguments apart): only
        an explicit "none" strategy given together with ``stride`` raises; the older ``grouped_entities`` and
        ``ignore_subwords`` choose the strategy ("first", "simple" or "none") over ``aggregation_strategy``."""
        kwargs = super()._check_arguments(kwargs)
        if "grouped_entities" in kwargs or "ignore_subwords" in kwargs:
            grouped, ignore = kwargs.pop("grouped_entities", None), kwargs.pop("ignore_subwords", None)
            if grouped is not None or ignore is not None:
                warnings.warn("grouped_entities and ignore_subwords are deprecated: use aggregation_strategy",
                              FutureWarning, stacklevel=3)
                kwargs["aggregation_strategy"] = "first" if grouped and ignore else "simple" if grouped else "none"
        token_classification_tokenizer_kwargs(self.tokenizer.model_max_length, kwargs.get("aggregation_strategy"),
                                              kwargs.get("stride"))
        return kwargs

    def __call__(self, *args, **kwargs):
        inputs = self._inputs(args, kwargs)
        options = self._options(kwargs)
        if isinstance(inputs, (list, tuple, Iterator)):
            return self._map(inputs, options)
        return self._map([inputs], options)[0]

    def _preprocess(self, text, options):
        if not isinstance(text, str):
            raise PaddleRembertError(f"token-classification takes texts, got {type(text).__name__}")
        enc = self.tokenizer(text, **token_classification_tokenizer_kwargs(self.tokenizer.model_max_length,
                                                                          stride=options.get("stride")))
        if "overflow_to_sample_mapping" not in enc:
            enc = {k: [v] for k, v in enc.items()}
        given = options.get("offset_mapping")
        if given:  # as transformers: the caller's spans stand for every window's (one list per text: the first)
            if isinstance(given[0], (list, tuple)) and given[0] and isinstance(given[0][0], (list, tuple)):
                given = given[0]
            given = [tuple(span) for span in given]
            for row in enc["input_ids"]:
                if len(given) != len(row):
                    raise PaddleRembertError(f"offset_mapping has {len(given)} spans, but the text has {len(row)} "
                                             f"tokens (special tokens included)")
            enc = dict(enc, offset_mapping=[given] * len(enc["input_ids"]))
        return _rows(enc, len(enc["input_ids"])), (enc, text)

    def _postprocess(self, outputs, state, options):
        enc, text = state
        return token_classification(enc, [o["logits"] for o in outputs], text, _id2label(self.config),
                                    convert_ids_to_tokens=self.tokenizer.convert_ids_to_tokens,
                                    convert_tokens_to_string=_tokens_to_string(self.tokenizer),
                                    continuing_subword_prefix=_subword_prefix(self.tokenizer),
                                    unk_token_id=self.tokenizer.unk_token_id,
                                    aggregation_strategy=options.get("aggregation_strategy", "none"),
                                    ignore_labels=options.get("ignore_labels"))


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    arguments = ("top_k", "targets", "tokenizer_kwargs")
    too_long = "pass tokenizer_kwargs={{'truncation': True, 'max_length': {n}}}"

    def __init__(self, tokenizer, runner, config, defaults):
        super().__init__(tokenizer, runner, config, defaults)
        self._decode = _fast_decode(tokenizer)

    def __call__(self, *args, **kwargs):
        inputs = self._inputs(args, kwargs)
        options = self._options(kwargs)
        if options.get("targets") is not None:
            def encode(word):  # the pipeline's fallback for a target outside the vocabulary
                return self.tokenizer(word, add_special_tokens=False, return_attention_mask=False,
                                      return_token_type_ids=False, max_length=1, truncation=True)["input_ids"]

            options["target_ids"] = fill_mask_target_ids(options["targets"], self.tokenizer.get_vocab(), encode)
        if isinstance(inputs, (list, tuple, Iterator)):
            results = self._map(inputs, options)
            return results[0] if isinstance(inputs, list) and len(inputs) == 1 else results  # transformers unwraps
        return self._map([inputs], options)[0]

    def _preprocess(self, text, options):
        if not isinstance(text, str):
            raise PaddleRembertError(f"fill-mask takes texts, got {type(text).__name__}")
        enc = self._encode(text, **(options.get("tokenizer_kwargs") or {}))
        if self.tokenizer.mask_token_id not in enc["input_ids"]:
            raise PaddleRembertError(f"No mask_token ({self.tokenizer.mask_token}) found on the input")
        return _one_row(enc), enc["input_ids"]

    def _postprocess(self, outputs, input_ids, options):
        top_k = options.get("top_k")
        return fill_mask(input_ids, outputs[0]["logits"], mask_token_id=self.tokenizer.mask_token_id,
                         pad_token_id=self.tokenizer.pad_token_id, decode=self._decode,
                         top_k=5 if top_k is None else top_k, target_ids=options.get("target_ids"))


class FeatureExtractionPipeline(Pipeline):
    task = "feature-extraction"
    arguments = ("truncation", "tokenize_kwargs", "return_tensors")

    def __call__(self, *args, **kwargs):
        """Unlike transformers, whose ``batch_size`` > 1 keeps the batch's padding in each result, every result
        has its own tokens only, whatever the batch size."""
        inputs = self._inputs(args, kwargs)
        options = self._options(kwargs)
        tok_kwargs = dict(options.get("tokenize_kwargs") or {})
        if "truncation" in options:
            if "truncation" in tok_kwargs:
                raise PaddleRembertError("truncation parameter defined twice (given as keyword argument as well as "
                                         "in tokenize_kwargs)")
            tok_kwargs["truncation"] = options["truncation"]
        options["tokenize_kwargs"] = tok_kwargs
        if isinstance(inputs, (list, tuple, Iterator)):
            return self._map(inputs, options)
        return self._map([inputs], options)[0]

    def _preprocess(self, text, options):
        if not isinstance(text, str):
            raise PaddleRembertError(f"feature-extraction takes texts, got {type(text).__name__}")
        enc = self._encode(text, **options["tokenize_kwargs"])
        return _one_row(enc), len(enc["input_ids"])

    def _postprocess(self, outputs, length, options):
        return feature_extraction(outputs[0]["last_hidden_state"][:length],
                                  return_tensors=bool(options.get("return_tensors")))


PIPELINES = {cls.task: cls for cls in (QuestionAnsweringPipeline, TextClassificationPipeline,
                                       TokenClassificationPipeline, FillMaskPipeline, FeatureExtractionPipeline)}


class _DefaultLabels(dict):
    """transformers' default names, ``LABEL_0``, ``LABEL_1`` ...: its ``save_pretrained`` leaves ``id2label`` out
    of config.json when the labels are the defaults."""

    def __missing__(self, index):
        return f"LABEL_{index}"


def _id2label(config):
    raw = config.get("id2label")
    if raw is None:
        return _DefaultLabels()
    try:
        return {int(k): v for k, v in raw.items()}
    except (AttributeError, TypeError, ValueError):
        raise PaddleRembertError(f"config.json: id2label must map label ids to names, got {raw!r}") from None


def _subword_prefix(tokenizer):
    """The fast tokenizer model's ``continuing_subword_prefix``: ``"##"`` for WordPiece, None for the others."""
    from ..tokenization.wordpiece import WordPieceTokenizer

    return "##" if isinstance(tokenizer, WordPieceTokenizer) else None


def _tokens_to_string(tokenizer):
    """The fast tokenizer's ``convert_tokens_to_string`` (its decoder), which the pipelines' ``word`` fields use:
    WordPiece cleans up each token, Metaspace turns every "▁" into a space, byte-level keeps unmapped text."""
    from ..tokenization.sentencepiece import SentencePieceTokenizer
    from ..tokenization.utils import clean_up_tokenization
    from ..tokenization.wordpiece import WordPieceTokenizer

    if isinstance(tokenizer, WordPieceTokenizer):
        def convert(tokens):
            pieces = [t if i == 0 else t[2:] if t.startswith("##") else " " + t for i, t in enumerate(tokens)]
            return "".join(clean_up_tokenization(p) for p in pieces)
    elif isinstance(tokenizer, SentencePieceTokenizer):
        def convert(tokens):
            pieces = [t.replace("▁", " ") for t in tokens]
            if pieces and pieces[0].startswith(" "):
                pieces[0] = pieces[0][1:]
            return "".join(pieces)
    elif getattr(tokenizer, "byte_decoder", None) is not None:
        byte_decoder = tokenizer.byte_decoder

        def convert(tokens):  # a token with a character outside the byte alphabet (an [UNK]'s text) stays as is
            data = b"".join(bytes(byte_decoder[c] for c in t) if all(c in byte_decoder for c in t)
                            else t.encode("utf-8") for t in tokens)
            return data.decode("utf-8", errors="replace")
    else:
        convert = tokenizer.convert_tokens_to_string
    return convert


def _fast_decode(tokenizer):
    """The fast tokenizer's ``decode(ids, skip_special_tokens)``, which fill-mask's ``sequence`` and ``token_str``
    use: its decoder (:func:`_tokens_to_string`), then the whole-string clean-up only if the fast tokenizer's
    setting says so (:func:`~paddle_rembert.tokenization.utils.fast_clean_up`)."""
    from ..tokenization.utils import clean_up_tokenization, fast_clean_up

    convert, clean_up = _tokens_to_string(tokenizer), fast_clean_up(tokenizer)

    def decode(ids, skip_special_tokens=False):
        # an id past the tokenizer (a model whose vocabulary was padded) has no token there: the fast one drops it
        known = [int(i) for i in ids if 0 <= int(i) < len(tokenizer)]
        text = convert(tokenizer.convert_ids_to_tokens(known, skip_special_tokens=skip_special_tokens))
        return clean_up_tokenization(text) if clean_up else text

    return decode


def pipeline(task: str, model: Optional[str] = None, tokenizer: Optional[str] = None, backend: Optional[str] = None,
             device: str = "cpu", threads: Optional[int] = None, **kwargs) -> Pipeline:
    """A transformers-style pipeline for ``task`` on an export or a model directory (see the module docstring).

    ``tokenizer``: a tokenizer directory (default ``model``); ``device``/``threads``: an export's engine (dygraph
    runs on CPU with Paddle's own threads); ``kwargs``: the task's call arguments, defaults for every call.
    """
    task = ALIASES.get(task, task)
    if task not in PIPELINES:
        raise PaddleRembertError(f"unknown task {task!r}; choose from {', '.join(list(PIPELINES) + list(ALIASES))}")
    if not isinstance(model, str) or not model:
        raise PaddleRembertError("pipeline() needs model=DIR (an export or a model directory)")
    if not os.path.isdir(model):
        raise PaddleRembertError(f"model directory not found: {model}")
    export_task = EXPORT_TASKS[task]
    if is_export_dir(model):
        backend = backend or "paddle"
        if backend not in BACKENDS[:2]:
            raise PaddleRembertError(f"an export runs on backend 'paddle' or 'onnxruntime', not {backend!r}")
        meta = read_meta(model)
        if meta["task"] != export_task:
            raise PaddleRembertError(f"{model} is a {meta['task']} export; {task} needs a {export_task} export")
        config, tok = _read_config(model), _load_tokenizer(tokenizer or model)
        return PIPELINES[task](tok, _ExportRunner(model, meta, backend, device, threads), config, kwargs)
    if backend not in (None, "dygraph"):
        raise PaddleRembertError(f"{model} is a model directory (no export_meta.json): it runs on backend "
                                 f"'dygraph', not {backend!r}; export it for Paddle Inference or onnxruntime")
    from .engines import parse_device

    if parse_device(device)[0] != "cpu":
        raise PaddleRembertError(f"the dygraph backend runs on 'cpu' here, not {device!r}; use an export")
    config, tok = _read_config(model), _load_tokenizer(tokenizer or model)
    names = tuple(n for n in _FORWARD_NAMES if n in set(tok.model_input_names) | {"input_ids", "attention_mask"})
    return PIPELINES[task](tok, _load_dygraph(model, export_task, config, names), config, kwargs)
