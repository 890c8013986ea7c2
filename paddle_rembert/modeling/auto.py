"""``Auto*`` classes: pick the model family from ``config.json``'s ``model_type``.

Each family is one entry in ``MODEL_FAMILIES``: its package and its class-name prefix. Head
classes follow transformers' names (``<Prefix>ForSequenceClassification`` ...), so adding BERT,
RoBERTa or ELECTRA is one line here plus their ``models/<name>/`` package.
"""
import importlib
import os

from .configuration_utils import CONFIG_NAME
from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json

MODEL_FAMILIES = {
    "albert": ("paddle_rembert.models.albert", "Albert"),
    "rembert": ("paddle_rembert.models.rembert", "RemBert"),
}
HEAD_SUFFIXES = ("Model", "ForPreTraining", "ForMaskedLM", "ForCausalLM", "ForSequenceClassification",
                 "ForMultipleChoice", "ForTokenClassification", "ForQuestionAnswering")


def family(model_type, source="config"):
    if model_type not in MODEL_FAMILIES:
        raise PaddleRembertError(
            f"unknown model_type {model_type!r} in {source}; supported: {', '.join(sorted(MODEL_FAMILIES))}"
        )
    module_name, prefix = MODEL_FAMILIES[model_type]
    return importlib.import_module(module_name), prefix


def config_class(model_type, source="config"):
    module, prefix = family(model_type, source)
    return getattr(module, f"{prefix}Config")


def model_classes(model_type, source="config"):
    """All model classes of a family, in ``HEAD_SUFFIXES`` order."""
    module, prefix = family(model_type, source)
    return [getattr(module, prefix + s) for s in HEAD_SUFFIXES if hasattr(module, prefix + s)]


def read_model_type(path):
    config_path = os.path.join(path, CONFIG_NAME) if os.path.isdir(path) else path
    config = read_json(config_path, "config file")
    if "model_type" not in config:
        raise PaddleRembertError(f"{config_path} has no model_type")
    return config["model_type"], config_path


class AutoConfig:
    @staticmethod
    def for_model(model_type, **kwargs):
        return config_class(model_type)(**kwargs)

    @staticmethod
    def from_pretrained(path, **overrides):
        model_type, config_path = read_model_type(path)
        return config_class(model_type, config_path).from_pretrained(config_path, **overrides)


class _AutoModel:
    suffix = None

    @classmethod
    def model_class(cls, model_type, source="config"):
        module, prefix = family(model_type, source)
        name = prefix + cls.suffix
        if not hasattr(module, name):
            raise PaddleRembertError(f"{cls.__name__} has no class for model_type {model_type!r} (no {name})")
        return getattr(module, name)

    @classmethod
    def from_config(cls, config):
        return cls.model_class(config.model_type)(config)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        model_type, config_path = read_model_type(path)
        return cls.model_class(model_type, config_path).from_pretrained(path, **kwargs)


def _auto(suffix):
    name = "AutoModel" if suffix == "Model" else f"AutoModel{suffix}"
    return type(name, (_AutoModel,), {"suffix": suffix, "__doc__": f"Dispatches to ``<Family>{suffix}``."})


AutoModel = _auto("Model")
AutoModelForPreTraining = _auto("ForPreTraining")
AutoModelForMaskedLM = _auto("ForMaskedLM")
AutoModelForCausalLM = _auto("ForCausalLM")
AutoModelForSequenceClassification = _auto("ForSequenceClassification")
AutoModelForMultipleChoice = _auto("ForMultipleChoice")
AutoModelForTokenClassification = _auto("ForTokenClassification")
AutoModelForQuestionAnswering = _auto("ForQuestionAnswering")
