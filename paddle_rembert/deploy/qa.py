"""Extractive question answering post-processing, equal to transformers 4.46.3's ``QuestionAnsweringPipeline``.

Pure numpy so that every backend (Paddle dygraph, Paddle Inference, onnxruntime) shares one decoder. The tokenizer
call itself stays abstract: :func:`qa_windowing` says which arguments it needs, :func:`postprocess_qa` consumes the
windows it produced plus the model's start/end logits.

Features of one (question, context) example, a mapping whose values hold one entry per window (the fast-tokenizer
call with ``return_overflowing_tokens=True`` and ``stride``), every inner list as long as that window's ``input_ids``:

- ``input_ids``: token ids (locates ``cls_token_id`` and, with left padding, ``pad_token_id``);
- ``attention_mask`` (optional): 1 for real tokens, 0 for padding;
- ``offset_mapping``: ``(start, end)`` character offsets into the text the token came from, ``(0, 0)`` for specials;
- ``sequence_ids``: ``None`` (or -1) for special tokens and padding, 0 for the first text, 1 for the second
  (``Encoding.sequence_ids``);
- ``word_ids``: index of the word the token belongs to, numbered per sequence from 0, ``None`` (or -1) for special
  tokens and padding (``Encoding.word_ids``). Needed for ``align_to_words``; without it answers use token offsets.
"""
import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..runtime.errors import PaddleRembertError, TruncationError

QAResult = Union[Dict[str, Any], List[Dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class QAWindowing:
    """The windowing a QA tokenizer call must use; ``question_first`` decides the text/pair order and truncation."""

    max_seq_len: int
    doc_stride: int
    question_first: bool
    padding: Union[bool, str] = "do_not_pad"

    @property
    def tokenizer_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the transformers fast-tokenizer call (besides ``text``/``text_pair``)."""
        return {"padding": self.padding, "truncation": "only_second" if self.question_first else "only_first",
                "max_length": self.max_seq_len, "stride": self.doc_stride, "return_token_type_ids": True,
                "return_overflowing_tokens": True, "return_offsets_mapping": True, "return_special_tokens_mask": True}

    def order(self, question: str, context: str) -> Tuple[str, str]:
        """``(text, text_pair)``: the question first with right padding, the context first with left padding."""
        return (question, context) if self.question_first else (context, question)

    @property
    def context_sequence(self) -> int:
        """The ``sequence_ids`` value of context tokens."""
        return 1 if self.question_first else 0

    def check_fits(self, question_tokens: int, special_tokens: int) -> None:
        """Raise when the stride leaves no room to advance (the Rust tokenizer panics instead of raising)."""
        room = self.max_seq_len - special_tokens - question_tokens
        if self.doc_stride >= room:
            raise TruncationError(
                f"doc_stride ({self.doc_stride}) must be smaller than the {room} context tokens left in max_seq_len "
                f"({self.max_seq_len}) after {question_tokens} question and {special_tokens} special tokens")


def qa_windowing(model_max_length: Optional[int] = None, max_seq_len: Optional[int] = None,
                 doc_stride: Optional[int] = None, padding_side: str = "right",
                 padding: Union[bool, str] = "do_not_pad") -> QAWindowing:
    """Windowing with transformers' defaults: ``max_seq_len = min(model_max_length, 384)`` and
    ``doc_stride = min(max_seq_len // 2, 128)``.

    An explicit ``doc_stride`` larger than ``max_seq_len`` is rejected, as transformers does.
    """
    if padding_side not in ("right", "left"):
        raise PaddleRembertError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    if max_seq_len is None:
        if model_max_length is None:
            raise PaddleRembertError("qa_windowing needs max_seq_len or the tokenizer's model_max_length")
        max_seq_len = min(int(model_max_length), 384)
    if max_seq_len < 1:
        raise PaddleRembertError(f"max_seq_len must be >= 1, got {max_seq_len}")
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, 128)
    if doc_stride < 0:
        raise PaddleRembertError(f"doc_stride must be >= 0, got {doc_stride}")
    if doc_stride > max_seq_len:
        raise PaddleRembertError(f"`doc_stride` ({doc_stride}) is larger than `max_seq_len` ({max_seq_len})")
    return QAWindowing(int(max_seq_len), int(doc_stride), padding_side == "right", padding)


def decode_spans(start: np.ndarray, end: np.ndarray, topk: int, max_answer_len: int,
                 undesired_tokens: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ``topk`` spans (end >= start, shorter than ``max_answer_len`` tokens) by p_start * p_end.

    A line-for-line port, quirk included: ``undesired_tokens`` is 2-D so ``nonzero()`` yields (rows, cols) and
    ``isin`` also admits token index 0 (whose probability was zeroed, so it only surfaces with a score of 0).
    """
    if start.ndim == 1:
        start = start[None]
    if end.ndim == 1:
        end = end[None]
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    scores_flat = candidates.flatten()
    if topk == 1:
        idx_sort = [np.argmax(scores_flat)]
    elif len(scores_flat) < topk:
        idx_sort = np.argsort(-scores_flat)
    else:
        idx = np.argpartition(-scores_flat, topk)[0:topk]
        idx_sort = idx[np.argsort(-scores_flat[idx])]
    starts, ends = np.unravel_index(idx_sort, candidates.shape)[1:]
    desired_spans = np.isin(starts, undesired_tokens.nonzero()) & np.isin(ends, undesired_tokens.nonzero())
    starts = starts[desired_spans]
    ends = ends[desired_spans]
    scores = candidates[0, starts, ends]
    return starts, ends, scores


def select_starts_ends(start, end, p_mask, attention_mask, min_null_score=1000000, top_k=1,
                       handle_impossible_answer=False, max_answer_len=15):
    """Softmax one window's logits over allowed tokens, update the null score, then :func:`decode_spans`."""
    undesired_tokens = np.abs(np.array(p_mask) - 1)
    if attention_mask is not None:
        undesired_tokens = undesired_tokens & attention_mask
    undesired_tokens_mask = undesired_tokens == 0.0
    start = np.where(undesired_tokens_mask, -10000.0, start)
    end = np.where(undesired_tokens_mask, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, (start[0, 0] * end[0, 0]).item())
    start[0, 0] = end[0, 0] = 0.0  # index 0 is CLS with right padding; transformers zeroes it regardless
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, undesired_tokens)
    return starts, ends, scores, min_null_score


def p_mask_for(sequence_ids: Sequence[Optional[int]], input_ids: Sequence[int], cls_token_id: Optional[int],
               question_first: bool = True) -> List[int]:
    """1 where a token cannot be in the answer: question and special tokens, except every CLS.

    With left padding (context first) transformers masks nothing, so this returns all zeros then.
    """
    mask = [int(seq != 1) if question_first else 0 for seq in sequence_ids]
    if cls_token_id is not None:
        for i, tok in enumerate(input_ids):
            if int(tok) == cls_token_id:
                mask[i] = 0
    return mask


def _word_to_chars(word_ids, sequence_ids, offsets, word, sequence_index) -> Optional[Tuple[int, int]]:
    """``tokenizers.Encoding.word_to_chars``: offsets of the first and last token of ``word`` in that sequence."""
    first = last = None
    for i, (seq, w) in enumerate(zip(sequence_ids, word_ids)):
        if seq != sequence_index:
            continue
        if w is not None and w > word:
            break  # Rust's take_while(w <= Some(word))
        if w == word:
            first = i if first is None else first
            last = i
    if first is None:
        return None
    return int(offsets[first][0]), int(offsets[last][1])


def _char_span(window: Mapping[str, Sequence], s: int, e: int, sequence_index: int,
               align_to_words: bool) -> Tuple[int, int]:
    """``QuestionAnsweringPipeline.get_indices``: word-aligned character span, token offsets when words fail."""
    offsets = window["offset_mapping"]
    word_ids = window.get("word_ids")
    if align_to_words and word_ids is not None:
        n = len(word_ids)
        start_word = word_ids[s] if 0 <= s < n else None
        end_word = word_ids[e] if 0 <= e < n else None
        if start_word is not None and end_word is not None:
            first = _word_to_chars(word_ids, window["sequence_ids"], offsets, start_word, sequence_index)
            last = _word_to_chars(word_ids, window["sequence_ids"], offsets, end_word, sequence_index)
            if first is not None and last is not None:
                return first[0], last[1]
    return int(offsets[s][0]), int(offsets[e][1])


def _windows(features: Mapping[str, Sequence]) -> List[Dict[str, Sequence]]:
    """Split a mapping of per-window lists into one mapping per window, checking the keys and lengths."""
    for key in ("input_ids", "offset_mapping", "sequence_ids"):
        if key not in features:
            raise PaddleRembertError(f"QA features lack {key!r}; need input_ids, offset_mapping, sequence_ids")
    keys = [k for k in ("input_ids", "attention_mask", "offset_mapping", "sequence_ids", "word_ids")
            if features.get(k) is not None]
    count = len(features["input_ids"])
    windows = []
    for w in range(count):
        window = {k: list(features[k][w]) for k in keys}
        for k in ("sequence_ids", "word_ids"):  # numpy-friendly: -1 stands for None
            if k in window:
                window[k] = [None if v is None or int(v) < 0 else int(v) for v in window[k]]
        length = len(window["input_ids"])
        for k in keys:
            if len(window[k]) != length:
                raise PaddleRembertError(f"QA features: window {w} has {len(window[k])} {k} for {length} input_ids")
        windows.append(window)
    if not windows:
        raise PaddleRembertError("QA features hold no window")
    return windows


def _window_logits(logits, count: int, name: str) -> List[np.ndarray]:
    """One float32 row per window (a 2-D array, or a list of 1-D arrays of possibly different lengths)."""
    rows = [np.asarray(row, dtype=np.float32).reshape(-1) for row in logits]
    if len(rows) != count:
        raise PaddleRembertError(f"{name} has {len(rows)} rows for {count} windows")
    return rows


def postprocess_qa(features: Mapping[str, Sequence], start_logits, end_logits, context: str, *, top_k: int = 1,
                   handle_impossible_answer: bool = False, max_answer_len: int = 15, align_to_words: bool = True,
                   cls_token_id: Optional[int] = None, pad_token_id: Optional[int] = None,
                   padding_side: str = "right") -> QAResult:
    """Answer(s) for one example from all its windows, as ``pipeline("question-answering")`` returns them.

    ``start_logits``/``end_logits`` hold one row per window; a row longer than its window (a padded batch) is cut
    to the window's length, so each window is scored exactly as transformers scores its unpadded chunk. Returns a
    single ``{"score", "start", "end", "answer"}`` dict when exactly one answer remains, else a list best first
    (empty when no span qualifies). ``start``/``end`` are character offsets into ``context``.
    """
    if top_k < 1:
        raise PaddleRembertError(f"top_k parameter should be >= 1 (got {top_k})")
    if max_answer_len < 1:
        raise PaddleRembertError(f"max_answer_len parameter should be >= 1 (got {max_answer_len})")
    if padding_side not in ("right", "left"):
        raise PaddleRembertError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    windows = _windows(features)
    starts_rows = _window_logits(start_logits, len(windows), "start_logits")
    ends_rows = _window_logits(end_logits, len(windows), "end_logits")
    question_first = padding_side == "right"
    sequence_index = 1 if question_first else 0
    min_null_score = 1000000
    answers = []
    for window, start_row, end_row in zip(windows, starts_rows, ends_rows):
        length = len(window["input_ids"])
        if start_row.shape[0] < length or end_row.shape[0] < length:
            raise PaddleRembertError(f"logits of {start_row.shape[0]}/{end_row.shape[0]} tokens for a "
                                     f"{length}-token window")
        p_mask = np.array([p_mask_for(window["sequence_ids"], window["input_ids"], cls_token_id, question_first)])
        attention = window.get("attention_mask")
        attention = np.array([attention], dtype=np.int64) if attention is not None else None
        starts, ends, scores, min_null_score = select_starts_ends(
            start_row[None, :length], end_row[None, :length], p_mask, attention, min_null_score, top_k,
            handle_impossible_answer, max_answer_len)
        offset = 0
        if padding_side == "left":
            offset = int(sum(int(t) == pad_token_id for t in window["input_ids"]))
        for s, e, score in zip(starts, ends, scores):
            start_index, end_index = _char_span(window, int(s) - offset, int(e) - offset, sequence_index,
                                                align_to_words)
            answers.append({"score": score.item(), "start": start_index, "end": end_index,
                            "answer": context[start_index:end_index]})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
    if len(answers) == 1:
        return answers[0]
    return answers


def postprocess_qa_batch(features: Mapping[str, Sequence], start_logits, end_logits, contexts: Sequence[str],
                         **kwargs) -> List[QAResult]:
    """:func:`postprocess_qa` per example of a batched call, grouping windows by ``overflow_to_sample_mapping``."""
    mapping = features.get("overflow_to_sample_mapping")
    if mapping is None:
        raise PaddleRembertError("batched QA features need overflow_to_sample_mapping")
    mapping = [int(m) for m in mapping]
    start_rows, end_rows = list(start_logits), list(end_logits)
    results = []
    for example, context in enumerate(contexts):
        picks = [w for w, m in enumerate(mapping) if m == example]
        if not picks:
            raise PaddleRembertError(f"overflow_to_sample_mapping has no window for example {example}")
        sub = {k: [v[w] for w in picks] for k, v in features.items()
               if k != "overflow_to_sample_mapping" and v is not None}
        results.append(postprocess_qa(sub, [start_rows[w] for w in picks], [end_rows[w] for w in picks], context,
                                      **kwargs))
    return results
