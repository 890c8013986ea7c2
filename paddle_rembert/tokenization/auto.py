"""``AutoTokenizer``: which tokenizer class a directory holds, from the family registry.

The class: ``tokenizer_config.json``'s ``tokenizer_class`` (PaddleNLP's older ``init_class``
too), else ``config.json``'s ``model_type`` (or, without one, its ``architectures``), else a clear
error. The ``__init__`` arguments are read by :func:`paddle_rembert.tokenization.files.read_tokenizer_dir`.
"""
import os

from ..models import registry
from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json
from .files import check_dir


def tokenizer_class_for(model_type, source="config"):
    """The tokenizer class of the family of ``model_type``."""
    return registry.get(model_type, source).tokenizer_class


def _class_by_name(class_name, where):
    family = registry.family_of_class(class_name) if isinstance(class_name, str) else None
    if family is None:
        known = ", ".join(f.tokenizer_class.__name__ for f in registry.families())
        raise PaddleRembertError(f"{where} names tokenizer_class {class_name!r}, which is not supported (known: {known})")
    return family.tokenizer_class


def _family_from_model_config(model_config):
    data = read_json(model_config, "model config")
    if not isinstance(data, dict):
        return None
    if data.get("model_type"):
        return registry.get(data["model_type"], model_config)
    for arch in data.get("architectures") or []:
        family = registry.family_of_class(arch) if isinstance(arch, str) else None
        if family is not None:
            return family
    return None


class AutoTokenizer:
    """Factory: ``AutoTokenizer.from_pretrained(dir)`` returns the tokenizer of the directory's family."""

    def __init__(self):
        raise PaddleRembertError("use AutoTokenizer.from_pretrained(dir), not AutoTokenizer()")

    @classmethod
    def from_pretrained(cls, pretrained_dir, **kwargs):
        path = check_dir(pretrained_dir, revision=kwargs.pop("revision", None))
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
            family = _family_from_model_config(model_config)
            if family is not None:
                return family.tokenizer_class.from_pretrained(path, **kwargs)
        raise PaddleRembertError(
            f"cannot tell which tokenizer {path} holds: it needs tokenizer_config.json with 'tokenizer_class' "
            f"or config.json with 'model_type' (one of {', '.join(registry.model_types())})")


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
