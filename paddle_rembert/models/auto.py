"""``Auto*`` classes and ``AutoTokenizer``: pick the model family from a directory's files.

Families, their head classes and tokenizers come from the registry (:mod:`.registry`); head
classes follow transformers' names (``<Prefix>ForSequenceClassification`` ...). A config without
``model_type`` (SpanBERT's) resolves as transformers resolves it: from ``architectures``, then
from the directory name. The tokenizer class: ``tokenizer_config.json``'s ``tokenizer_class``
(PaddleNLP's older ``init_class`` too), else ``config.json``'s ``model_type`` (or, without one,
its ``architectures``), else a clear error. This sits above the families, so the modeling core
and the tokenizers below them never import the registry.
"""
import os

from ..checkpoint.hub import pop_hub_options, resolve
from ..modeling.configuration_utils import config_file_of
from ..runtime.errors import MissingVocabularyError, PaddleRembertError
from ..runtime.files import read_json
from ..tokenization.files import check_dir, has_vocabulary, vocabulary_names
from . import registry


def read_model_type(path, **hub_options):
    """``(model_type, config.json path)`` of a model directory, a path to its config.json, or a hub id.

    A hub id (``google/rembert``, at ``revision``) is resolved to its snapshot in the Hugging Face
    cache first (fetching the config and tokenizer files), so the path returned is always local.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise PaddleRembertError(f"a model directory or hub id is needed, got {type(path).__name__}")
    path = resolve(path, weights=False, **hub_options)
    config_path = config_file_of(path)
    return model_type_of(read_json(config_path, "config file"), config_path), config_path


def model_type_of(config, config_path):
    """The ``model_type`` of a config read from ``config_path`` (inferred when absent); errors name the file."""
    if not isinstance(config, dict):
        raise PaddleRembertError(f"{config_path} must hold a JSON object, got {type(config).__name__}")
    architectures = config.get("architectures")
    if architectures is not None and not (isinstance(architectures, list)
                                          and all(isinstance(a, str) for a in architectures)):
        raise PaddleRembertError(f"{config_path}: architectures must be a list of class names, got {architectures!r}")
    model_type = config.get("model_type")
    if model_type is None:
        model_type = _infer_model_type(config, config_path)
    if not isinstance(model_type, str):
        raise PaddleRembertError(f"{config_path}: model_type must be a string, got {model_type!r}")
    return model_type


def _infer_model_type(config, config_path):
    """transformers' fallback for configs without ``model_type``: the architectures, then the path's name."""
    for arch in config.get("architectures") or []:
        family = registry.family_of_class(arch) if isinstance(arch, str) else None
        if family is not None:
            return family.model_type
    # as transformers: the longest model_type found in the path wins ("roberta" before "bert"); a hub
    # snapshot's path holds the repository name (models--SpanBERT--spanbert-base-cased/snapshots/...)
    for model_type in sorted(registry.model_types(), key=len, reverse=True):
        if model_type in os.path.dirname(config_path):
            return model_type
    raise PaddleRembertError(
        f"{config_path} has no model_type, and neither its architectures nor its directory name tell the "
        f"family; add \"model_type\": one of {', '.join(registry.model_types())}")


def config_class(model_type, source="config"):
    return registry.get(model_type, source).config_class


def model_classes(model_type, source="config"):
    """All model classes of a family (the backbone first)."""
    return list(registry.get(model_type, source).model_classes)


class AutoConfig:
    @staticmethod
    def for_model(model_type, **kwargs):
        return config_class(model_type)(**kwargs)

    @staticmethod
    def from_pretrained(path, **overrides):
        model_type, config_path = read_model_type(path, **pop_hub_options(overrides))
        return config_class(model_type, config_path).from_pretrained(config_path, **overrides)

    @staticmethod
    def from_json_dict(config, config_path):
        """The config of a ``config.json`` already read (``config``: its JSON), for a reader that needs both."""
        return config_class(model_type_of(config, config_path), config_path).from_json_dict(config, config_path)


class _AutoModel:
    suffix = None

    @classmethod
    def model_class(cls, model_type, source="config"):
        family = registry.get(model_type, source)
        try:
            return family.model_class(cls.suffix, source)
        except PaddleRembertError as e:
            raise PaddleRembertError(f"{cls.__name__} has no class for model_type {model_type!r}: {e}") from None

    @classmethod
    def from_config(cls, config):
        return cls.model_class(config.model_type)(config)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        model_type, config_path = read_model_type(path, **pop_hub_options(dict(kwargs)))  # the class takes them too
        return cls.model_class(model_type, config_path).from_pretrained(path, **kwargs)


def auto_class(suffix, name=None):
    """The ``Auto*`` class (``AutoModel<suffix>`` unless ``name``) that dispatches to ``<Family><suffix>``."""
    name = name or ("AutoModel" if suffix == "Model" else f"AutoModel{suffix}")
    return type(name, (_AutoModel,), {"suffix": suffix, "__doc__": f"Dispatches to ``<Family>{suffix}``."})


AutoModel = auto_class("Model")
AutoModelForPreTraining = auto_class("ForPreTraining")
AutoModelForMaskedLM = auto_class("ForMaskedLM")
AutoModelForCausalLM = auto_class("ForCausalLM")
AutoModelForNextSentencePrediction = auto_class("ForNextSentencePrediction")
AutoModelForSequenceClassification = auto_class("ForSequenceClassification")
AutoModelForMultipleChoice = auto_class("ForMultipleChoice")
AutoModelForTokenClassification = auto_class("ForTokenClassification")
AutoModelForQuestionAnswering = auto_class("ForQuestionAnswering")
AutoModelWithLMHead = auto_class("ForMaskedLM", "AutoModelWithLMHead")  # transformers' deprecated name, same mapping

def tokenizer_class_for(model_type, source="config"):
    """The tokenizer class of the family of ``model_type``."""
    return registry.get(model_type, source).tokenizer_class


def _classes_by_name(class_name, where):
    """The tokenizer classes a ``tokenizer_class`` of ``where`` may stand for: the class of that name (a ``Fast``
    suffix ignored), then those PaddleNLP saves under it (its AlbertTokenizer over a vocab.txt is BERT's)."""
    family = registry.family_of_class(class_name) if isinstance(class_name, str) else None
    if family is None:
        known = ", ".join(f.tokenizer_class.__name__ for f in registry.families())
        raise PaddleRembertError(f"{where} names tokenizer_class {class_name!r}, which is not supported "
                                 f"(known: {known})")
    name = class_name[:-4] if class_name.endswith("Fast") else class_name
    own = [f.tokenizer_class for f in registry.families() if f.tokenizer_class.__name__ == name]
    saved = [f.tokenizer_class for f in registry.families() if name in f.tokenizer_class.paddlenlp_class_names]
    return list(dict.fromkeys(own + saved)) or [family.tokenizer_class]


def _class_for_files(classes, path, where, class_name):
    """Of several classes one name stands for, the first whose vocabulary files ``path`` holds."""
    if len(classes) == 1:
        return classes[0]  # its own loader names a missing file
    for cls in classes:
        if has_vocabulary(cls, path):
            return cls
    wanted = [" and ".join(" or ".join(names) for names in vocabulary_names(c).values()) + f" ({c.__name__})"
              for c in classes]
    raise MissingVocabularyError(f"no tokenizer vocabulary in {path}: {where} names tokenizer_class {class_name!r}, "
                             f"which needs {wanted[0]}" + "".join(f" or, as PaddleNLP saves it, {w}"
                                                                 for w in wanted[1:]))


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
        path = check_dir(pretrained_dir, **pop_hub_options(kwargs))
        return tokenizer_class_of(path)[0].from_pretrained(path, **kwargs)


def tokenizer_class_of(path):
    """``(class, name)``: the tokenizer class that reads the local directory ``path`` and the class name its
    ``tokenizer_config.json`` gives (None without one; PaddleNLP's names differ from ours)."""
    if not os.path.isdir(path):
        raise PaddleRembertError(f"AutoTokenizer needs a tokenizer directory, got a file: {path}")
    tok_config = os.path.join(path, "tokenizer_config.json")
    if os.path.isfile(tok_config):
        data = read_json(tok_config, "tokenizer config")
        name = data.get("tokenizer_class") or data.get("init_class") if isinstance(data, dict) else None
        if name:
            return _class_for_files(_classes_by_name(name, tok_config), path, tok_config, name), name
    model_config = os.path.join(path, "config.json")
    if os.path.isfile(model_config):
        family = _family_from_model_config(model_config)
        if family is not None:
            return family.tokenizer_class, None
    raise PaddleRembertError(
        f"cannot tell which tokenizer {path} holds: it needs tokenizer_config.json with 'tokenizer_class' "
        f"or config.json with 'model_type' (one of {', '.join(registry.model_types())})")
