"""Small helpers of the tokenizers: input validation, list conversion, decoding clean-up, sorted JSON writes."""
import json
import os

import numpy as np

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open, read_json


def check_text(value, name):
    if not isinstance(value, str):
        raise PaddleRembertError(f"{name} must be a str, got {type(value).__name__}: {value!r}"[:200].replace(
            "got NoneType: None", "got None"))


def split_inputs(text, text_pair):
    """Validate ``text``/``text_pair``; return (first texts, second texts or None, batched?)."""
    if isinstance(text, str):
        if text_pair is not None:
            check_text(text_pair, "text_pair")
            return [text], [text_pair], False
        return [text], None, False
    if not isinstance(text, (list, tuple)):
        check_text(text, "text")
    if not text:
        raise PaddleRembertError("text is an empty list: there is nothing to encode")
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)):
            raise PaddleRembertError(f"text is a batch, so text_pair must be a list, got {type(text_pair).__name__}")
        if len(text_pair) != len(text):
            raise PaddleRembertError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
        firsts, seconds = list(text), list(text_pair)
    elif isinstance(text[0], (list, tuple)):  # a batch of (text, text_pair)
        for i, item in enumerate(text):
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise PaddleRembertError(f"text[{i}] must be a (text, text_pair) pair like text[0], got {item!r}"[:200])
        firsts, seconds = [t[0] for t in text], [t[1] for t in text]
    else:
        firsts, seconds = list(text), None
    for name, values in (("text", firsts), ("text_pair", seconds or ())):
        for i in (i for i, v in enumerate(values) if not isinstance(v, str)):
            check_text(values[i], f"{name}[{i}]")
    return firsts, seconds, True


def split_word_inputs(text, text_pair):
    """:func:`split_inputs` for ``is_split_into_words=True``: a text is a non-empty list of words (str), a batch a
    list of them (pairs through ``text_pair``); a str is refused (it is not split into words)."""
    batched = isinstance(text, (list, tuple)) and len(text) > 0 and isinstance(text[0], (list, tuple))
    if batched and text_pair is not None:
        if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
            raise PaddleRembertError(f"text is a batch of {len(text)} word lists, so text_pair must be a list of as "
                                     f"many word lists, got {text_pair!r}"[:200])
    firsts = list(text) if batched else [text]
    seconds = None if text_pair is None else list(text_pair) if batched else [text_pair]
    for name, values in (("text", firsts), ("text_pair", seconds or ())):
        for i, words in enumerate(values):
            if not isinstance(words, (list, tuple)) or not words or not all(isinstance(w, str) for w in words):
                where = f"{name}[{i}]" if batched else name
                raise PaddleRembertError(f"with is_split_into_words=True, {where} must be a non-empty list of words "
                                         f"(str), got {type(words).__name__}: {words!r}"[:200])
    return [list(w) for w in firsts], None if seconds is None else [list(w) for w in seconds], batched


# The options of transformers' encode_plus / batch_encode_plus after the text, in their positional order.
ENCODE_OPTIONS = ("add_special_tokens", "padding", "truncation", "max_length", "stride", "is_split_into_words",
                  "pad_to_multiple_of", "padding_side", "return_tensors", "return_token_type_ids",
                  "return_attention_mask", "return_overflowing_tokens", "return_special_tokens_mask",
                  "return_offsets_mapping", "return_length", "verbose")


def bind_options(method, options, kwargs):
    """``kwargs`` with the positional ``options`` named as transformers' ``encode_plus`` orders them."""
    if len(options) > len(ENCODE_OPTIONS):
        raise TypeError(f"{method}() takes at most {len(ENCODE_OPTIONS)} options after the text, got {len(options)}")
    for name, value in zip(ENCODE_OPTIONS, options):
        if name in kwargs:
            raise TypeError(f"{method}() got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


def to_list(value):
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (int, np.integer)):
        return int(value)
    return value


def to_nested_list(value):
    """Arrays and tensors, also inside lists, as (nested) Python lists of ints; other values as they are."""
    value = to_list(value)
    if isinstance(value, (list, tuple)):
        return type(value)(x if type(x) is int else to_nested_list(x) for x in value)
    return value


def collate_columns(encoded_inputs, padded_keys, int_keys):
    """``pad()``'s input (a dict of rows, or examples of one row each) as ``(columns of Python lists, single,
    tensor type)``: ``single`` when it held one example, the tensor type ("np", "pd" or None) its rows came in.
    Example 0's keys are collected, as transformers collects them; rows of ``int_keys`` must be flat ints."""
    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
        keys = set(encoded_inputs[0])
        for i, example in enumerate(encoded_inputs):
            if not isinstance(example, dict) or not keys <= set(example):
                raise PaddleRembertError(f"pad(): example {i} lacks keys that example 0 has "
                                         f"({sorted(encoded_inputs[0])})")
        encoded_inputs = {k: [e[k] for e in encoded_inputs] for k in encoded_inputs[0]}
    if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
        raise PaddleRembertError("pad() needs encodings that include 'input_ids'")
    first = encoded_inputs["input_ids"]
    first = first[0] if isinstance(first, (list, tuple)) and first else first
    row_type = "np" if isinstance(first, np.ndarray) else \
        "pd" if type(first).__module__.startswith("paddle") and hasattr(first, "numpy") else None
    cols = {k: to_nested_list(v) for k, v in encoded_inputs.items()}
    single = not cols["input_ids"] or not isinstance(cols["input_ids"][0], (list, tuple))
    cols = {k: [list(r) if isinstance(r, (list, tuple)) else r for r in ([v] if single else v)]
            if k in padded_keys else ([v] if single else v) for k, v in cols.items()}
    for key in int_keys:
        for i, row in enumerate(cols.get(key, ())):
            if not isinstance(row, list) or not all(isinstance(x, int) for x in row):
                bad = next(x for x in row if not isinstance(x, int)) if isinstance(row, list) else row
                what = f"a list holding {type(bad).__name__} {bad!r}" if isinstance(row, list) else \
                    f"{type(row).__name__} {row!r}"
                raise PaddleRembertError(f"pad(): {key} of example {i} must be one sequence of ints, got "
                                         f"{what[:120]}")
    return cols, single, row_type


def clean_up_tokenization(text):
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def fast_clean_up(tokenizer):
    """The ``clean_up_tokenization_spaces`` that transformers' fast tokenizer of ``tokenizer``'s directory decodes
    with (its pipelines' answers): tokenizer_config.json's; else False when the directory holds tokenizer.json
    (the fast classes' default); else the slow class's (converted from it, the fast one takes its settings), which
    ours has (True for BERT's and ELECTRA's)."""
    directory = tokenizer.name_or_path if tokenizer.name_or_path and os.path.isdir(tokenizer.name_or_path) else None
    if directory is None:
        return tokenizer.clean_up_tokenization_spaces
    path = os.path.join(directory, "tokenizer_config.json")
    config = read_json(path, "tokenizer config") if os.path.isfile(path) else {}
    if isinstance(config, dict) and config.get("clean_up_tokenization_spaces") is not None:
        return bool(config["clean_up_tokenization_spaces"])
    if os.path.isfile(os.path.join(directory, "tokenizer.json")):
        return False
    return tokenizer.clean_up_tokenization_spaces


def write_sorted_json(path, obj):
    with atomic_open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def check_ids_fit(tokenizer, vocab_size, source):
    """Refuse a tokenizer whose ids reach past the model's embedding table (another model's tokenizer, or a
    vocabulary file that does not match ``config.json``): otherwise the first long enough text fails deep
    inside the embedding lookup. ``source`` names where the tokenizer came from."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        return
    ids = max(len(tokenizer), max(tokenizer.get_vocab().values(), default=-1) + 1)
    if ids > vocab_size:
        raise PaddleRembertError(f"the tokenizer in {source} has {ids} token ids, but the model's vocab_size is "
                                 f"{vocab_size}: it is not this model's tokenizer")


def per_word(word_lists, encode):
    """``encode`` of every word of every list in one batched call, handed back as one list of per-word results
    per word list (``is_split_into_words``: each word is encoded alone, as the fast tokenizers do)."""
    flat, out, k = encode([w for words in word_lists for w in words]), [], 0
    for words in word_lists:
        out.append(flat[k:k + len(words)])
        k += len(words)
    return out
