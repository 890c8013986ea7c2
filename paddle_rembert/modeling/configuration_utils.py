"""Model configs that read and write transformers' ``config.json`` unchanged.

A config is a bag of attributes. Three rules make round trips exact:

* every key read from a file is kept (unknown and legacy keys included) and written back;
* a key that was not in the file is written only when its value differs from the class
  default (as transformers' ``to_diff_dict`` does), so saving does not grow the file;
* defaults equal transformers' defaults, so a file we write means the same to transformers.
"""
import copy
import json
import os

from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json, write_json

CONFIG_NAME = "config.json"

# Generic keys every config carries (names and defaults of transformers' PretrainedConfig).
_COMMON_DEFAULTS = {
    "output_hidden_states": False,
    "output_attentions": False,
    "is_decoder": False,
    "add_cross_attention": False,
    "tie_word_embeddings": True,
    "chunk_size_feed_forward": 0,
    "architectures": None,
    "finetuning_task": None,
    "problem_type": None,
    "pad_token_id": None,
    "bos_token_id": None,
    "eos_token_id": None,
}
_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")


class PretrainedConfig:
    """Base config. Subclasses set ``model_type`` and define their fields in ``__init__``."""

    model_type = ""

    def __init__(self, **kwargs):
        self._keys_from_file = set(kwargs.pop("_keys_from_file", ()))
        kwargs.pop("model_type", None)  # a class attribute; checked by from_dict
        for key, default in _COMMON_DEFAULTS.items():
            setattr(self, key, kwargs.pop(key, default))
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        if id2label is not None:
            self.id2label = {int(k): v for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(self.id2label):
                raise PaddleRembertError(
                    f"num_labels={num_labels} does not match id2label with {len(self.id2label)} entries"
                )
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        if label2id is not None:
            self.label2id = {k: int(v) for k, v in label2id.items()}
        elif id2label is not None:
            self.label2id = {v: k for k, v in self.id2label.items()}
        if self.problem_type not in _PROBLEM_TYPES:
            raise PaddleRembertError(f"problem_type must be one of {_PROBLEM_TYPES}, got {self.problem_type!r}")
        # transformers keeps every other key as an attribute, and so do we.
        for key, value in kwargs.items():
            setattr(self, key, value)

    # -- labels ---------------------------------------------------------------------------
    @property
    def num_labels(self):
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n):
        if not hasattr(self, "id2label") or len(self.id2label) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def use_return_dict(self):
        return True

    # -- (de)serialisation ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, config_dict, **overrides):
        config_dict = dict(config_dict)
        model_type = config_dict.get("model_type")
        if cls.model_type and model_type not in (None, cls.model_type):
            raise PaddleRembertError(
                f"config has model_type {model_type!r} but {cls.__name__} expects {cls.model_type!r}"
            )
        config = cls(**config_dict, _keys_from_file=set(config_dict))
        for key, value in overrides.items():  # set after, as transformers does: num_labels wins over id2label
            if key == "id2label":
                value = {int(k): v for k, v in value.items()}
                config.label2id = {v: k for k, v in value.items()}
            setattr(config, key, value)
        return config

    @classmethod
    def from_json_file(cls, path, **overrides):
        return cls.from_dict(read_json(path, "config file"), **overrides)

    @classmethod
    def from_pretrained(cls, path, **overrides):
        """Load ``config.json`` from a model directory (or a path to the json file itself)."""
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        return cls.from_json_file(path, **overrides)

    def to_dict(self):
        """Every attribute, transformers' layout (id2label keys as strings in JSON)."""
        out = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "_keys_from_file"}
        out["model_type"] = self.model_type
        return out

    def to_diff_dict(self):
        """What ``save_pretrained`` writes: keys read from file, plus values changed from the defaults."""
        defaults = type(self)().to_dict()
        full = self.to_dict()
        out = {}
        for key, value in full.items():
            if key in self._keys_from_file or key == "model_type" or defaults.get(key, object()) != value:
                out[key] = value
        if "label2id" in out or "id2label" in out:  # the two travel together
            out["id2label"], out["label2id"] = full["id2label"], full["label2id"]
        if "num_labels" in self._keys_from_file:
            out["num_labels"] = self.num_labels
        return out

    def to_json_string(self, diff=True):
        d = self.to_diff_dict() if diff else self.to_dict()
        if "id2label" in d:
            d["id2label"] = {str(k): v for k, v in d["id2label"].items()}
        return json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save_pretrained(self, save_directory):
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, CONFIG_NAME)
        write_json(path, json.loads(self.to_json_string()), sort_keys=True)
        return path

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__} {self.to_json_string(diff=False)}"
