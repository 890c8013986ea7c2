"""Reading tokenizer dirs: which class (``AutoTokenizer``) and which ``__init__`` arguments.

The class: ``tokenizer_config.json``'s ``tokenizer_class`` (PaddleNLP's older ``init_class``
too), else ``config.json``'s ``model_type``, else a clear error. One registry line adds a model.
The arguments: :func:`read_tokenizer_dir`, transformers 4.46's reading of the same files.
"""
import importlib
import os
import warnings

from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json
from .base import SPECIAL_TOKENS_ATTRIBUTES, AddedToken, _type_field

# Keys of tokenizer_config.json that describe files or loaders, never __init__ arguments.
_CONFIG_KEYS_TO_DROP = ("tokenizer_class", "init_inputs", "init_args", "init_class", "name_or_path",
                        "special_tokens_map_file", "tokenizer_file", "auto_map", "processor_class",
                        "vocab_file", "sentencepiece_model_file")

# model_type -> (tokenizer class name, module). BERT/RoBERTa/ELECTRA: add one line each.
TOKENIZER_REGISTRY = {
    "albert": ("AlbertTokenizer", "paddle_rembert.models.albert.tokenizer"),
    "rembert": ("RemBertTokenizer", "paddle_rembert.models.rembert.tokenizer"),
}


def tokenizer_class_for(model_type):
    """The tokenizer class registered for ``model_type`` (``"albert"``, ``"rembert"``)."""
    if model_type not in TOKENIZER_REGISTRY:
        raise PaddleRembertError(f"no tokenizer for model_type {model_type!r}; known: {', '.join(TOKENIZER_REGISTRY)}")
    name, module = TOKENIZER_REGISTRY[model_type]
    return getattr(importlib.import_module(module), name)


def _class_by_name(class_name, where):
    base = class_name[:-4] if class_name.endswith("Fast") else class_name
    for model_type, (name, _) in TOKENIZER_REGISTRY.items():
        if name == base:
            return tokenizer_class_for(model_type)
    known = ", ".join(name for name, _ in TOKENIZER_REGISTRY.values())
    raise PaddleRembertError(f"{where} names tokenizer_class {class_name!r}, which is not supported (known: {known})")


class AutoTokenizer:
    """Factory: ``AutoTokenizer.from_pretrained(dir)`` returns an ALBERT or RemBERT tokenizer."""

    def __init__(self):
        raise PaddleRembertError("use AutoTokenizer.from_pretrained(dir), not AutoTokenizer()")

    @classmethod
    def from_pretrained(cls, pretrained_dir, **kwargs):
        path = _check_dir(pretrained_dir)
        if not os.path.isdir(path):
            raise PaddleRembertError(f"AutoTokenizer needs a tokenizer directory, got a file: {path}")
        tok_config = os.path.join(path, "tokenizer_config.json")
        if os.path.isfile(tok_config):
            data = read_json(tok_config, "tokenizer config")
            name = data.get("tokenizer_class") or data.get("init_class") if isinstance(data, dict) else None
            if name:
                return _class_by_name(name, tok_config).from_pretrained(path, **kwargs)
        model_config = os.path.join(path, "config.json")
        if os.path.isfile(model_config):
            data = read_json(model_config, "model config")
            model_type = data.get("model_type") if isinstance(data, dict) else None
            if model_type:
                if model_type not in TOKENIZER_REGISTRY:
                    raise PaddleRembertError(f"{model_config} has model_type {model_type!r}, which has no tokenizer "
                                             f"here (known: {', '.join(TOKENIZER_REGISTRY)})")
                return tokenizer_class_for(model_type).from_pretrained(path, **kwargs)
        raise PaddleRembertError(
            f"cannot tell which tokenizer {path} holds: it needs tokenizer_config.json with 'tokenizer_class' "
            f"or config.json with 'model_type' (one of {', '.join(TOKENIZER_REGISTRY)})")


def _check_dir(pretrained_dir):
    if not isinstance(pretrained_dir, (str, os.PathLike)):
        raise PaddleRembertError(f"pretrained_dir must be a path, got {type(pretrained_dir).__name__}")
    path = os.fspath(pretrained_dir)
    if not os.path.exists(path):
        raise PaddleRembertError(f"tokenizer directory not found: {path}")
    return path


def read_tokenizer_dir(cls, pretrained_dir, kwargs):
    """``(model file, __init__ kwargs)`` of a tokenizer dir for ``cls``, as transformers 4.46 reads it.

    The SentencePiece file may be ``spiece.model`` or ``sentencepiece.model`` (``cls``'s name
    first); then ``tokenizer_config.json`` (its ``added_tokens_decoder`` if present, else the
    legacy ``special_tokens_map.json``, ``added_tokens.json`` and the added tokens of
    ``tokenizer.json``). A path to a model file alone gives ``(path, kwargs)``.
    """
    path = _check_dir(pretrained_dir)
    if os.path.isfile(path):
        return path, dict(kwargs)
    names = (cls.vocab_file_name,) + tuple(n for n in cls.vocab_file_names if n != cls.vocab_file_name)
    vocab_file = next((os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))), None)
    if vocab_file is None:
        raise PaddleRembertError(f"no SentencePiece model in {path}: expected one of {', '.join(names)}")
    config_file = os.path.join(path, "tokenizer_config.json")
    init = read_json(config_file, "tokenizer config") if os.path.isfile(config_file) else {}
    if not isinstance(init, dict):
        raise PaddleRembertError(f"tokenizer config {config_file} must hold a JSON object")
    saved_class = init.get("tokenizer_class") or init.get("init_class")
    if saved_class and saved_class.replace("Fast", "") != cls.__name__:
        warnings.warn(f"{config_file} names tokenizer_class {saved_class!r}; loading it as {cls.__name__}")
    for key in _CONFIG_KEYS_TO_DROP:
        init.pop(key, None)
    init.update(kwargs)
    decoder, by_content = {}, {}
    if "added_tokens_decoder" in init:
        for idx, tok in init["added_tokens_decoder"].items():
            tok = AddedToken.coerce(tok)
            decoder[int(idx)] = by_content[str(tok)] = AddedToken(tok) if isinstance(tok, str) else tok
    else:  # legacy layout (e.g. the hub's google/rembert)
        _read_legacy_added_tokens(path, init, kwargs, decoder, by_content)
    init["added_tokens_decoder"] = decoder
    init = _type_field(init, save=False)
    for key in SPECIAL_TOKENS_ATTRIBUTES[:-1]:
        if by_content and init.get(key) is not None:
            init[key] = by_content.get(str(init[key]), init[key])
    init["name_or_path"] = path
    return vocab_file, init


def _read_legacy_added_tokens(path, init, kwargs, decoder, by_content):
    map_file = os.path.join(path, "special_tokens_map.json")
    if os.path.isfile(map_file):
        for key, value in read_json(map_file, "special tokens map").items():
            if kwargs.get(key):
                continue
            if isinstance(value, dict):
                value = AddedToken.coerce(dict(value, special=True))
            elif key == "additional_special_tokens" and isinstance(value, list):
                merged = list(init.pop("additional_special_tokens", None) or [])
                for tok in value:
                    tok = AddedToken.coerce(dict(tok, special=True)) if isinstance(tok, dict) else tok
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
        for content, idx in read_json(added_file, "added tokens file").items():
            special = content in specials
            decoder[int(idx)] = AddedToken(content, normalized=not special, special=special)
    full_file = os.path.join(path, "tokenizer.json")
    if os.path.isfile(full_file):
        for tok in read_json(full_file, "tokenizer file").get("added_tokens", []):
            decoder[int(tok["id"])] = by_content[tok["content"]] = AddedToken.coerce(tok)
