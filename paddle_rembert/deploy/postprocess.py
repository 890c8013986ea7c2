"""Pipeline post-processing equal to transformers 4.46.3 for text/token classification, fill-mask and features.

Pure numpy functions that turn any backend's logits into exactly what ``transformers.pipeline(task)`` returns:
same keys, same nesting, same legacy shapes. Tokenizer-dependent steps take callables (``decode``,
``convert_ids_to_tokens``, ``convert_tokens_to_string``) so any tokenizer with the transformers API fits.
Question answering lives in :mod:`paddle_rembert.deploy.qa`.
"""
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..runtime.errors import PaddleRembertError

_UNSET = ""  # transformers' sentinel: ``top_k=""`` means "not given", ``top_k=None`` means "all labels"
FUNCTIONS = ("sigmoid", "softmax", "none")
STRATEGIES = ("none", "simple", "first", "average", "max")


def _softmax(x: np.ndarray) -> np.ndarray:
    maxes = np.max(x, axis=-1, keepdims=True)
    shifted_exp = np.exp(x - maxes)
    return shifted_exp / shifted_exp.sum(axis=-1, keepdims=True)


def _label(id2label, index) -> str:
    index = int(index)
    try:
        return id2label[index]
    except (KeyError, IndexError):
        raise PaddleRembertError(f"id2label has no label for class {index}") from None


# ----------------------------------------------------------------------------------------------- text-classification
def default_function(num_labels: int, problem_type: Optional[str] = None) -> str:
    """The pipeline's default: none for regression, sigmoid for multi-label or one label, else softmax."""
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def _classify_row(outputs: np.ndarray, id2label, function_to_apply: str, top_k, legacy: bool):
    if function_to_apply == "sigmoid":
        scores = 1.0 / (1.0 + np.exp(-outputs))
    elif function_to_apply == "softmax":
        scores = _softmax(outputs)
    else:
        scores = outputs
    if top_k == 1 and legacy:
        return {"label": _label(id2label, scores.argmax().item()), "score": scores.max().item()}
    dict_scores = [{"label": _label(id2label, i), "score": score.item()} for i, score in enumerate(scores)]
    if not legacy:
        dict_scores.sort(key=lambda x: x["score"], reverse=True)
        if top_k is not None:
            dict_scores = dict_scores[:top_k]
    return dict_scores


def text_classification(logits, id2label: Union[Mapping[int, str], Sequence[str]], *, top_k=_UNSET,
                        function_to_apply: Optional[str] = None, return_all_scores: Optional[bool] = None,
                        problem_type: Optional[str] = None, single_text: Optional[bool] = None):
    """``pipeline("text-classification")(inputs, **kwargs)`` from the model's logits.

    ``logits`` is ``[num_labels]`` for one input or ``[batch, num_labels]`` for a list of inputs. Pass ``top_k``
    only when the call passes it: without it the pipeline keeps its legacy shapes (one dict per input, and a single
    string input wrapped in a list). An int slices the sorted labels as transformers does (0: none, -1: all but the
    last). ``single_text`` (default: ``logits`` is 1-D) says the input was one string; set it False for a single
    ``{"text", "text_pair"}`` dict, which is not wrapped.
    """
    outputs = np.asarray(logits, dtype=np.float32)
    if outputs.ndim not in (1, 2):
        raise PaddleRembertError(f"text-classification logits must be 1-D or 2-D, got shape {outputs.shape}")
    legacy = True
    if isinstance(top_k, int) or top_k is None:
        legacy = False
    elif top_k != _UNSET:
        raise PaddleRembertError(f"top_k must be an int or None, got {top_k!r}")
    elif return_all_scores is not None:
        warnings.warn("`return_all_scores` is now deprecated, use `top_k=None` (or `top_k=1`) instead", UserWarning)
        top_k = None if return_all_scores else 1
    else:
        top_k = 1
    if function_to_apply is None:
        function_to_apply = default_function(outputs.shape[-1], problem_type)
    function_to_apply = str(getattr(function_to_apply, "value", function_to_apply)).lower()  # str or enum
    if function_to_apply not in FUNCTIONS:
        raise PaddleRembertError(f"function_to_apply must be one of {FUNCTIONS}, got {function_to_apply!r}")
    if outputs.ndim == 2:
        return [_classify_row(row, id2label, function_to_apply, top_k, legacy) for row in outputs]
    result = _classify_row(outputs, id2label, function_to_apply, top_k, legacy)
    single_text = True if single_text is None else single_text
    return [result] if single_text and legacy else result


# ---------------------------------------------------------------------------------------------- token-classification
def token_classification_tokenizer_kwargs(model_max_length: Optional[int], aggregation_strategy=None,
                                          stride: Optional[int] = None) -> Dict[str, Any]:
    """The pipeline's tokenizer call arguments (overflowing windows with ``stride``).

    As transformers' ``_sanitize_parameters``: ``stride`` with an explicit "none" ``aggregation_strategy`` raises,
    while ``None`` (not given) runs the windows with the default "none" output.
    """
    strategy = None if aggregation_strategy is None else _strategy(aggregation_strategy)
    kwargs = {"truncation": bool(model_max_length and model_max_length > 0), "return_special_tokens_mask": True,
              "return_offsets_mapping": True}
    if stride is not None:
        if model_max_length is not None and stride >= model_max_length:
            raise PaddleRembertError("`stride` must be less than `tokenizer.model_max_length`")
        if strategy == "none":
            raise PaddleRembertError('`stride` was provided to process all the text but aggregation_strategy="none"; '
                                     'select another one')
        kwargs.update(return_overflowing_tokens=True, padding=True, stride=stride)
    return kwargs


def _strategy(aggregation_strategy) -> str:
    name = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
    if name not in STRATEGIES:
        raise PaddleRembertError(f"aggregation_strategy must be one of {STRATEGIES}, got {aggregation_strategy!r}")
    return name


def _pre_entities(sentence, input_ids, scores, offsets, special_tokens_mask, convert_ids_to_tokens,
                  continuing_subword_prefix, unk_token_id, strategy):
    """``gather_pre_entities``: one record per non-special token with its word, scores, span and subword flag."""
    if offsets is not None and not continuing_subword_prefix and strategy in ("first", "average", "max"):
        warnings.warn("Tokenizer does not support real words, using fallback heuristic", UserWarning)
    pre_entities = []
    for idx, token_scores in enumerate(scores):
        if special_tokens_mask[idx]:
            continue
        word = convert_ids_to_tokens(int(input_ids[idx]))
        if offsets is not None:
            start_ind, end_ind = int(offsets[idx][0]), int(offsets[idx][1])
            word_ref = sentence[start_ind:end_ind]
            if continuing_subword_prefix:
                is_subword = len(word) != len(word_ref)
            else:  # transformers' fallback heuristic for tokenizers without word-aware subwords
                is_subword = start_ind > 0 and " " not in sentence[start_ind - 1:start_ind + 1]
            if int(input_ids[idx]) == unk_token_id:
                word = word_ref
                is_subword = False
        else:
            start_ind = end_ind = None
            is_subword = False
        pre_entities.append({"word": word, "scores": token_scores, "start": start_ind, "end": end_ind, "index": idx,
                             "is_subword": is_subword})
    return pre_entities


def _aggregate_word(entities, strategy, id2label, convert_tokens_to_string):
    word = convert_tokens_to_string([entity["word"] for entity in entities])
    if strategy == "first":
        scores = entities[0]["scores"]
        idx = scores.argmax()
        score = scores[idx]
    elif strategy == "max":
        scores = max(entities, key=lambda entity: entity["scores"].max())["scores"]
        idx = scores.argmax()
        score = scores[idx]
    else:
        average_scores = np.nanmean(np.stack([entity["scores"] for entity in entities]), axis=0)
        idx = average_scores.argmax()
        score = average_scores[idx]
    return {"entity": _label(id2label, idx), "score": score, "word": word, "start": entities[0]["start"],
            "end": entities[-1]["end"]}


def _aggregate_words(pre_entities, strategy, id2label, convert_tokens_to_string):
    """Force one label per word (subword tokens join the word started before them)."""
    word_entities, word_group = [], None
    for entity in pre_entities:
        if word_group is None:
            word_group = [entity]
        elif entity["is_subword"]:
            word_group.append(entity)
        else:
            word_entities.append(_aggregate_word(word_group, strategy, id2label, convert_tokens_to_string))
            word_group = [entity]
    if word_group is not None:
        word_entities.append(_aggregate_word(word_group, strategy, id2label, convert_tokens_to_string))
    return word_entities


def _tag(entity_name: str):
    if entity_name.startswith("B-"):
        return "B", entity_name[2:]
    if entity_name.startswith("I-"):
        return "I", entity_name[2:]
    return "I", entity_name


def _group_sub_entities(entities, convert_tokens_to_string):
    scores = np.nanmean([entity["score"] for entity in entities])
    return {"entity_group": entities[0]["entity"].split("-", 1)[-1], "score": np.mean(scores),
            "word": convert_tokens_to_string([entity["word"] for entity in entities]),
            "start": entities[0]["start"], "end": entities[-1]["end"]}


def _group_entities(entities, convert_tokens_to_string):
    """Merge adjacent entities of one tag unless the later one starts a new "B-" entity."""
    groups, current = [], []
    for entity in entities:
        if not current:
            current.append(entity)
            continue
        bi, tag = _tag(entity["entity"])
        _, last_tag = _tag(current[-1]["entity"])
        if tag == last_tag and bi != "B":
            current.append(entity)
        else:
            groups.append(_group_sub_entities(current, convert_tokens_to_string))
            current = [entity]
    if current:
        groups.append(_group_sub_entities(current, convert_tokens_to_string))
    return groups


def _overlapping(entities):
    """Across stride windows keep, among entities overlapping at their start, the longest (then best scored)."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda x: x["start"])
    aggregated, previous = [], entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            current_length = entity["end"] - entity["start"]
            previous_length = previous["end"] - previous["start"]
            if current_length > previous_length or (current_length == previous_length
                                                    and entity["score"] > previous["score"]):
                previous = entity
        else:
            aggregated.append(previous)
            previous = entity
    aggregated.append(previous)
    return aggregated


def token_classification(features: Mapping[str, Sequence], logits, sentence: str,
                         id2label: Union[Mapping[int, str], Sequence[str]], *,
                         convert_ids_to_tokens: Callable[[int], str],
                         convert_tokens_to_string: Callable[[List[str]], str],
                         continuing_subword_prefix: Optional[str] = "##", unk_token_id: Optional[int] = None,
                         aggregation_strategy="none", ignore_labels: Optional[Sequence[str]] = None) -> List[dict]:
    """``pipeline("token-classification")(sentence)`` for one sentence.

    ``features``: ``input_ids``, ``special_tokens_mask`` and ``offset_mapping`` (character spans into
    ``sentence``; may be absent), each ``[windows][tokens]`` (one window without ``stride``); ``logits`` is
    ``[windows, tokens, num_labels]``. ``continuing_subword_prefix`` is the fast tokenizer model's (``"##"`` for
    WordPiece, ``None`` for byte-level BPE, which switches to transformers' space heuristic for subwords).
    Returns entity dicts (``entity, score, index, word, start, end``) for "none", else grouped dicts
    (``entity_group, score, word, start, end``); scores are numpy float32 as in transformers.
    """
    strategy = _strategy(aggregation_strategy)
    ignore_labels = ["O"] if ignore_labels is None else list(ignore_labels)
    for key in ("input_ids", "special_tokens_mask"):
        if key not in features:
            raise PaddleRembertError(f"token-classification features lack {key!r}")
    windows = len(features["input_ids"])
    rows = [np.asarray(row, dtype=np.float32) for row in logits]
    if len(rows) != windows:
        raise PaddleRembertError(f"logits have {len(rows)} windows for {windows} windows of features")
    offsets_all = features.get("offset_mapping")
    all_entities = []
    for w in range(windows):
        input_ids = list(features["input_ids"][w])
        if rows[w].ndim != 2 or rows[w].shape[0] < len(input_ids):
            raise PaddleRembertError(f"window {w}: logits of shape {rows[w].shape} for {len(input_ids)} tokens")
        scores = _softmax(rows[w][:len(input_ids)])
        pre = _pre_entities(sentence, input_ids, scores, None if offsets_all is None else offsets_all[w],
                            features["special_tokens_mask"][w], convert_ids_to_tokens, continuing_subword_prefix,
                            unk_token_id, strategy)
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                entity_idx = p["scores"].argmax()
                entities.append({"entity": _label(id2label, entity_idx), "score": p["scores"][entity_idx],
                                 "index": p["index"], "word": p["word"], "start": p["start"], "end": p["end"]})
        else:
            entities = _aggregate_words(pre, strategy, id2label, convert_tokens_to_string)
        if strategy != "none":
            entities = _group_entities(entities, convert_tokens_to_string)
        all_entities.extend(e for e in entities if e.get("entity", None) not in ignore_labels
                            and e.get("entity_group", None) not in ignore_labels)
    return _overlapping(all_entities) if windows > 1 else all_entities


# ------------------------------------------------------------------------------------------------------ fill-mask
def fill_mask_target_ids(targets: Union[str, Sequence[str]], vocab: Mapping[str, int],
                         encode: Optional[Callable[[str], List[int]]] = None) -> np.ndarray:
    """``FillMaskPipeline.get_target_ids``: vocabulary ids of ``targets``; a word outside the vocabulary maps to
    the first id of ``encode(word)`` (no special tokens) or is dropped; duplicates collapse as transformers does."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    target_ids = []
    for target in targets:
        id_ = vocab.get(target)
        if id_ is None:
            ids = encode(target) if encode is not None else []
            if len(ids) == 0:
                continue
            id_ = ids[0]
        target_ids.append(id_)
    target_ids = list(set(target_ids))
    if not target_ids:
        raise PaddleRembertError("At least one target must be provided when passed.")
    return np.array(target_ids)


def fill_mask(input_ids: Sequence[int], logits, *, mask_token_id: int, pad_token_id: Optional[int],
              decode: Callable[..., str], top_k: int = 5, target_ids=None):
    """``pipeline("fill-mask")(text)`` for one text: ``[{"score", "token", "token_str", "sequence"}]`` best first.

    ``logits`` is ``[tokens, vocab]``. With several masks the result is one such list per mask (and the other
    masks stay in ``sequence``). ``decode(ids, skip_special_tokens=...)`` is the tokenizer's decode (transformers':
    the fast tokenizer's). ``top_k=0`` gives empty lists, as transformers' ``topk(0)``.
    """
    input_ids = np.asarray(input_ids).reshape(-1)
    outputs = np.asarray(logits, dtype=np.float32)
    if outputs.ndim == 3 and outputs.shape[0] == 1:
        outputs = outputs[0]
    if outputs.ndim != 2 or outputs.shape[0] < input_ids.shape[0]:
        raise PaddleRembertError(f"fill-mask logits of shape {outputs.shape} for {input_ids.shape[0]} tokens")
    if top_k < 0:
        raise PaddleRembertError(f"top_k must be >= 0, got {top_k}")
    if target_ids is not None:
        target_ids = np.asarray(target_ids)
        top_k = min(top_k, target_ids.shape[0])
    masked_index = np.nonzero(input_ids == mask_token_id)[0]
    if masked_index.size < 1:
        raise PaddleRembertError("No mask_token found on the input")
    probs = _softmax(outputs[masked_index])
    if target_ids is not None:
        probs = probs[..., target_ids]
    predictions = np.argsort(-probs, axis=-1, kind="stable")[:, :top_k]
    values = np.take_along_axis(probs, predictions, axis=-1)
    single_mask = values.shape[0] == 1
    result = []
    for i, (_values, _predictions) in enumerate(zip(values.tolist(), predictions.tolist())):
        row = []
        for v, p in zip(_values, _predictions):
            tokens = input_ids.copy()
            if target_ids is not None:
                p = target_ids[p].tolist()
            tokens[masked_index[i]] = p
            tokens = tokens[np.where(tokens != pad_token_id)]
            sequence = decode(tokens.tolist(), skip_special_tokens=single_mask)
            row.append({"score": v, "token": p, "token_str": decode([p]), "sequence": sequence})
        result.append(row)
    return result[0] if single_mask else result


# -------------------------------------------------------------------------------------------- feature-extraction
def feature_extraction(hidden_states, attention_mask=None, return_tensors: bool = False):
    """``pipeline("feature-extraction")``: ``[1][tokens][hidden]`` floats for one input (``[tokens, hidden]``),
    a list of those for a batch (``[batch, tokens, hidden]``, padding dropped by ``attention_mask``)."""
    hidden = np.asarray(hidden_states)
    if hidden.ndim == 2:
        return hidden[None] if return_tensors else hidden[None].tolist()
    if hidden.ndim != 3:
        raise PaddleRembertError(f"feature-extraction needs [tokens, hidden] or [batch, tokens, hidden], "
                                 f"got shape {hidden.shape}")
    results = []
    for b in range(hidden.shape[0]):
        row = hidden[b]
        if attention_mask is not None:
            row = row[np.asarray(attention_mask[b]).astype(bool)]
        results.append(row[None] if return_tensors else row[None].tolist())
    return results
