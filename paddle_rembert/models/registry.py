"""The one registry of model families.

Each family declares itself once, in its own ``models/<name>/__init__.py``, with :func:`register`.
Everything that differs between families is read from its :class:`Family`: the ``Auto*``
classes and ``AutoTokenizer``, the converter's tokenizer files, the trainer's ``--model_type``
choices, export task inference, the test harness and the benchmarks. Family packages are found
by scanning this folder, so adding a family is adding a folder.
"""
import importlib
import os
import pkgutil
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from ..checkpoint.hub import add_tokenizer_files
from ..runtime.errors import PaddleRembertError

@dataclass(frozen=True)
class Family:
    """What the rest of the package knows about one model family.

    ``model_classes``: the backbone first, then every head. ``export_tasks`` maps a head class
    name to its export task where the suffix rule (``deploy.format.task_for_architecture``) is
    wrong, e.g. a pre-training head that deploys as masked-LM. ``tiny_config`` is an odd-sized
    tiny config for tests; ``make_tiny_tokenizer(texts, out_dir, vocab_size)`` trains a small
    tokenizer in the family's real id layout and writes a hub-layout tokenizer directory;
    ``tokenizer_layout`` describes that layout (its keys are the tokenizer backend's, e.g.
    :mod:`paddle_rembert.tokenization.sentencepiece_train`'s).
    ``auto_names`` maps an ``Auto*`` suffix to a class whose name breaks the
    ``<Prefix><suffix>`` rule (BERT's causal LM is ``BertLMHeadModel``). ``paddlenlp_prefix``
    names PaddleNLP's class prefix (for the benchmarks), if PaddleNLP has the family.
    """

    model_type: str
    prefix: str
    config_class: type
    model_classes: Tuple[type, ...]
    tokenizer_class: type
    tokenizer_files: Tuple[str, ...]
    tiny_config: Dict = field(default_factory=dict)
    make_tiny_tokenizer: Optional[Callable] = None
    tokenizer_layout: Dict = field(default_factory=dict)
    export_tasks: Dict[str, str] = field(default_factory=dict)
    auto_names: Dict[str, str] = field(default_factory=dict)
    paddlenlp_prefix: Optional[str] = None

    @property
    def base_model_prefix(self):
        return self.model_classes[0].base_model_prefix

    def model_class(self, suffix, source="config"):
        """``<Prefix><suffix>``, e.g. ``model_class("ForMaskedLM")``; a clear error when the family has none."""
        name = self.auto_names.get(suffix, self.prefix + suffix)
        for cls in self.model_classes:
            if cls.__name__ == name:
                return cls
        raise PaddleRembertError(f"model_type {self.model_type!r} ({source}) has no {name}; it has "
                                 f"{', '.join(c.__name__ for c in self.model_classes)}")

    def public_names(self):
        """The classes this family adds to ``paddle_rembert``'s namespace (with ``<Prefix>PreTrainedModel``, the
        base of its models, as transformers exports it)."""
        bases = [c for c in self.model_classes[0].__mro__ if c.__name__ == self.prefix + "PreTrainedModel"]
        classes = (self.config_class, *bases, *self.model_classes, self.tokenizer_class)
        return {cls.__name__: cls for cls in classes}


_FAMILIES: Dict[str, Family] = {}
_LOCK = threading.RLock()
_discovered = False


def register(family):
    """Add ``family`` (or replace the family of the same ``model_type``); returns it."""
    if not isinstance(family, Family):
        raise TypeError(f"register() takes a Family, got {type(family).__name__}")
    with _LOCK:
        _FAMILIES[family.model_type] = family
        add_tokenizer_files(family.tokenizer_files)  # what a hub download fetches beside the model
    return family


def unregister(model_type):
    with _LOCK:
        return _FAMILIES.pop(model_type, None)


def _discover():
    """Import every family package in this folder once; each registers itself on import."""
    global _discovered
    if _discovered:
        return
    with _LOCK:
        if _discovered:
            return
        package = __name__.rsplit(".", 1)[0]
        for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
            if info.ispkg:
                importlib.import_module(f"{package}.{info.name}")
        _discovered = True


def families():
    """Every registered family, in ``model_type`` order."""
    _discover()
    with _LOCK:
        return [_FAMILIES[k] for k in sorted(_FAMILIES)]


def model_types():
    return [f.model_type for f in families()]


def get(model_type, source="config"):
    """The family of ``model_type``; a clear error naming ``source`` when there is none."""
    _discover()
    with _LOCK:
        family = _FAMILIES.get(model_type) if isinstance(model_type, str) else None
    if family is None:
        raise PaddleRembertError(f"unknown model_type {model_type!r} in {source}; supported: "
                                 f"{', '.join(model_types())}")
    return family


def family_of_class(class_name):
    """The family that defines a model, config or tokenizer class of this name (``Fast`` suffix ignored; PaddleNLP's
    name of a tokenizer too), or None."""
    name = class_name[:-4] if class_name.endswith("Fast") else class_name
    for family in families():
        if name in family.public_names() or name in family.tokenizer_class.paddlenlp_class_names:
            return family
    return None
