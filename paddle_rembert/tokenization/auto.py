"""Reading tokenizer dirs: which class (``AutoTokenizer``) and which ``__init__`` arguments.

The class: ``tokenizer_config.json``'s ``tokenizer_class`` (PaddleNLP's older ``init_class``
too), else ``config.json``'s ``model_type``, else a clear error. One registry line adds a model.
The arguments: :func:`read_tokenizer_dir`, transformers 4.46's reading of the same files.
"""
import importlib
import os

from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json
from .files import check_dir

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
        path = check_dir(pretrained_dir)
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


