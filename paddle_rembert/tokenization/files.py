"""Reading tokenizer directories as transformers 4.46 reads them: the model file and the ``__init__`` arguments.

Hub directories, ``save_pretrained`` directories of transformers, PaddleNLP and ours, and the
legacy layout (``special_tokens_map.json``, ``added_tokens.json``, ``tokenizer.json``'s added tokens).
"""
import os
import warnings

from ..runtime.errors import MissingVocabularyError, PaddleRembertError
from ..runtime.files import read_json
from .types import SPECIAL_TOKENS_ATTRIBUTES, AddedToken, _type_field

# Keys of tokenizer_config.json that describe files or loaders, never __init__ arguments.
_CONFIG_KEYS_TO_DROP = ("tokenizer_class", "init_inputs", "init_args", "init_class", "name_or_path",
                        "special_tokens_map_file", "tokenizer_file", "auto_map", "processor_class",
                        "vocab_file", "merges_file", "sentencepiece_model_file")


def check_dir(pretrained_dir, **hub_options):
    """The local path of a tokenizer directory or file; a hub id (``google/rembert``) gives its cached snapshot
    (``hub_options``: :data:`~paddle_rembert.checkpoint.hub.HUB_OPTIONS`, e.g. ``revision``, ``subfolder``)."""
    from ..checkpoint.hub import resolve

    if not isinstance(pretrained_dir, (str, os.PathLike)):
        raise PaddleRembertError(f"pretrained_dir must be a path, got {type(pretrained_dir).__name__}")
    path = resolve(os.fspath(pretrained_dir), what="tokenizer", weights=False, **hub_options)
    if not os.path.exists(path):
        raise PaddleRembertError(f"tokenizer directory not found: {path}")
    return path


def vocabulary_names(cls):
    """``{argument: file names}`` of the vocabulary files ``cls`` reads, its own name first (see
    ``vocab_file_alternatives``)."""
    alternatives = getattr(cls, "vocab_file_alternatives", {})
    return {arg: (name,) + tuple(n for n in alternatives.get(arg, ()) if n != name)
            for arg, name in cls.vocab_files_names.items()}


def has_vocabulary(cls, directory):
    """Whether ``directory`` holds every vocabulary file ``cls`` reads (under one of its names)."""
    return all(any(os.path.isfile(os.path.join(directory, n)) for n in names)
               for names in vocabulary_names(cls).values())


# the options the tokenizers read as switches; strip_accents may also be null (follow do_lower_case)
_SWITCHES = ("do_lower_case", "remove_space", "keep_accents", "do_basic_tokenize", "tokenize_chinese_chars",
             "strip_accents", "add_prefix_space", "trim_offsets", "clean_up_tokenization_spaces",
             "split_special_tokens")
_SWITCHES_OR_NULL = ("strip_accents", "clean_up_tokenization_spaces")


def read_tokenizer_dir(cls, pretrained_dir, kwargs):
    """``(vocabulary files, __init__ kwargs)`` of a tokenizer dir for ``cls``, as transformers 4.46 reads it.

    The files are ``cls.vocab_files_names`` (``{argument: name}``; for SentencePiece either
    ``spiece.model`` or ``sentencepiece.model``, ``cls``'s name first, see
    ``vocab_file_alternatives``); then ``tokenizer_config.json`` (its ``added_tokens_decoder`` if
    present, else the legacy ``special_tokens_map.json``, ``added_tokens.json`` and the added
    tokens of ``tokenizer.json``). A path to a single vocabulary file gives ``((path,), kwargs)``.
    """
    from ..checkpoint.hub import pop_hub_options

    kwargs = dict(kwargs)
    if kwargs.pop("from_aistudio", False):
        raise PaddleRembertError("from_aistudio is not supported: download the tokenizer from AI Studio and pass "
                                 "its directory")
    path = check_dir(pretrained_dir, **pop_hub_options(kwargs))  # taken here, never stored in the config
    if os.path.isfile(path):
        return (path,), dict(kwargs)
    vocab_files = []
    for arg, names in vocabulary_names(cls).items():
        found = next((os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))), None)
        if found is None:
            what = "SentencePiece model" if names[0].endswith(".model") else "vocabulary file"
            raise MissingVocabularyError(f"no {what} in {path}: expected {' or '.join(names)} ({arg} of {cls.__name__})"
                                     f"{cls.missing_vocabulary_hint(path)}")
        vocab_files.append(found)
    config_file = os.path.join(path, "tokenizer_config.json")
    init = read_json(config_file, "tokenizer config") if os.path.isfile(config_file) else {}
    if not isinstance(init, dict):
        raise PaddleRembertError(f"tokenizer config {config_file} must hold a JSON object")
    saved_class = init.get("tokenizer_class") or init.get("init_class")
    if saved_class and saved_class.replace("Fast", "") not in (cls.__name__, *cls.paddlenlp_class_names):
        warnings.warn(f"{config_file} names tokenizer_class {saved_class!r}; loading it as {cls.__name__}")
    for key in _CONFIG_KEYS_TO_DROP:
        init.pop(key, None)
    for key in _SWITCHES:  # a string such as "no" would count as true
        if key in init and key not in kwargs and not isinstance(init[key], bool) \
                and not (init[key] is None and key in _SWITCHES_OR_NULL):
            raise PaddleRembertError(f"{config_file}: {key} must be true or false, got {init[key]!r}")
    init.update(kwargs)
    max_length = init.get("model_max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, float))):
        raise PaddleRembertError(f"{config_file}: model_max_length must be a number, got {max_length!r}")
    decoder, by_content = {}, {}
    if "added_tokens_decoder" in init:
        entries = _object(init["added_tokens_decoder"], config_file, "added_tokens_decoder")
        for idx, tok in entries.items():
            tok = _added_token(tok, config_file, f"added_tokens_decoder[{idx!r}]")
            decoder[_token_id(idx, config_file, f"added_tokens_decoder key {idx!r}")] = by_content[str(tok)] = \
                AddedToken(tok) if isinstance(tok, str) else tok
    else:  # legacy layout (e.g. the hub's google/rembert)
        _read_legacy_added_tokens(path, init, kwargs, decoder, by_content)
    init["added_tokens_decoder"] = decoder
    init = _type_field(init, save=False)
    for key in SPECIAL_TOKENS_ATTRIBUTES[:-1]:
        if by_content and init.get(key) is not None:
            init[key] = by_content.get(str(init[key]), init[key])
    init["name_or_path"] = path
    return tuple(vocab_files), init


def _read_legacy_added_tokens(path, init, kwargs, decoder, by_content):
    map_file = os.path.join(path, "special_tokens_map.json")
    if os.path.isfile(map_file):
        for key, value in _object(read_json(map_file, "special tokens map"), map_file, "the file").items():
            if kwargs.get(key):
                continue
            if isinstance(value, dict):
                value = _added_token(dict(value, special=True), map_file, key)
            elif key == "additional_special_tokens" and isinstance(value, list):
                merged = list(init.pop("additional_special_tokens", None) or [])
                for tok in value:
                    tok = _added_token(dict(tok, special=True), map_file, key) if isinstance(tok, dict) else tok
                    if tok not in merged:
                        merged.append(tok)
                value = merged
            init[key] = value
    added_file = os.path.join(path, "added_tokens.json")
    if os.path.isfile(added_file):
        specials = set()
        for key in SPECIAL_TOKENS_ATTRIBUTES:
            value = init.get(key)
            if value is not None:
                specials.update(map(str, value) if key == "additional_special_tokens" else [str(value)])
        for content, idx in _object(read_json(added_file, "added tokens file"), added_file, "the file").items():
            special = content in specials
            decoder[_token_id(idx, added_file, repr(content))] = AddedToken(content, normalized=not special,
                                                                           special=special)
    full_file = os.path.join(path, "tokenizer.json")
    if os.path.isfile(full_file):
        added = _object(read_json(full_file, "tokenizer file"), full_file, "the file").get("added_tokens", [])
        if not isinstance(added, list):
            raise PaddleRembertError(f"{full_file}: added_tokens must be a list, got {type(added).__name__}")
        for i, tok in enumerate(added):
            where = f"added_tokens[{i}]"
            tok_id = _token_id(tok.get("id") if isinstance(tok, dict) else None, full_file, f"{where} id")
            tok = _added_token(tok, full_file, where)
            decoder[tok_id] = by_content[tok.content] = tok


# -- checks that name the file and key of a malformed entry -----------------------------------------
def _object(value, path, key):
    if not isinstance(value, dict):
        raise PaddleRembertError(f"{path}: {key} must be a JSON object, got {type(value).__name__}")
    return value


def _token_id(value, path, key):
    if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, str) and value.isdigit()):
        raise PaddleRembertError(f"{path}: {key} must be a token id (a non-negative integer), got {value!r}")
    return int(value)


def _added_token(token, path, key):
    if isinstance(token, dict) and not isinstance(token.get("content"), str):
        raise PaddleRembertError(f"{path}: {key} has no 'content' string")
    return AddedToken.coerce(token, f"{path}: {key}")
