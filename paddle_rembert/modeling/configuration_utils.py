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
WEIGHT_SUFFIXES = (".pdparams", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5")


def config_file_of(path):
    """The ``config.json`` of a model directory, or ``path`` itself when it names the file; a weights file
    given for the directory (a common slip) is named as such rather than read as JSON."""
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, CONFIG_NAME)):
            raise PaddleRembertError(f"{path} holds no {CONFIG_NAME}: not a model directory")
        return os.path.join(path, CONFIG_NAME)
    if str(path).endswith(WEIGHT_SUFFIXES) and os.path.isfile(path):
        raise PaddleRembertError(f"{path} is a weights file: give the model directory (with {CONFIG_NAME} "
                                 f"beside the weights)")
    if not os.path.exists(path) and not str(path).endswith(".json"):
        raise PaddleRembertError(f"model directory not found: {path}")
    return path

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
# The other keys transformers' PretrainedConfig carries (generation, export and bookkeeping settings these
# encoders do not read): from_pretrained takes them as config overrides, as transformers does.
TRANSFORMERS_CONFIG_KEYS = (
    "return_dict", "torchscript", "torch_dtype", "use_bfloat16", "tf_legacy_loss", "pruned_heads",
    "is_encoder_decoder", "cross_attention_hidden_size", "tie_encoder_decoder", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k",
    "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "tokenizer_class", "prefix",
    "sep_token_id", "decoder_start_token_id", "task_specific_params")
_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")
# Sizes a config may set, each a positive integer up to a bound far above any released model of these
# families but low enough that a typo (``num_hidden_layers: 1000000000``) is refused before a model of that
# size is built (``convert`` builds it too, without weights).
SIZE_LIMITS = {
    "vocab_size": 2 ** 24, "hidden_size": 2 ** 16, "num_hidden_layers": 1024, "num_attention_heads": 1024,
    "intermediate_size": 2 ** 18, "max_position_embeddings": 2 ** 20, "type_vocab_size": 2 ** 16,
    "embedding_size": 2 ** 16, "input_embedding_size": 2 ** 16, "output_embedding_size": 2 ** 16,
    "num_hidden_groups": 1024, "inner_group_num": 1024,
}
MAX_PARAMETERS = 5 * 10 ** 10  # 200 GB of float32: five times the largest BERT-family model released
_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob",
                  "classifier_dropout")
# null: the hidden dropout, as transformers reads it (classifier_dropout_prob: for ALBERT's token classifier only)
_MAY_BE_NULL = ("classifier_dropout", "classifier_dropout_prob")
# switches the models read: a string such as "no" would count as true
_BOOLEANS = ("is_decoder", "add_cross_attention", "tie_word_embeddings", "return_dict", "output_hidden_states",
             "output_attentions", "use_cache")
_POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label_id(value, what):
    """An id2label key or label2id value as int (JSON keys are strings: "0" -> 0)."""
    if _is_int(value):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise PaddleRembertError(f"{what} must be integer label ids, got {value!r}")


class _ValidatedOnCreation(type):
    """Runs ``validate()`` once the outermost ``__init__`` (a family config's) has set every field."""

    def __call__(cls, *args, **kwargs):
        config = super().__call__(*args, **kwargs)
        config.validate()
        return config


class PretrainedConfig(metaclass=_ValidatedOnCreation):
    """Base config. Subclasses set ``model_type`` and define their fields in ``__init__``.

    Every config is validated when created and after ``from_pretrained``'s overrides (see
    :meth:`validate`): a bad value raises a one-line :class:`PaddleRembertError` naming the key
    (and the file, when read from one) instead of failing later inside the model.
    """

    model_type = ""

    def __init__(self, **kwargs):
        self._keys_from_file = set(kwargs.pop("_keys_from_file", ()))
        kwargs.pop("model_type", None)  # a class attribute; checked by from_dict
        for key, default in _COMMON_DEFAULTS.items():
            setattr(self, key, kwargs.pop(key, default))
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        for name, value in (("id2label", id2label), ("label2id", label2id)):
            if value is not None and not isinstance(value, dict):
                raise PaddleRembertError(f"{name} must be a mapping, got {type(value).__name__}")
        if id2label is not None:
            self.id2label = {_label_id(k, "id2label keys"): v for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(self.id2label):
                raise PaddleRembertError(
                    f"num_labels={num_labels} does not match id2label with {len(self.id2label)} entries"
                )
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        if label2id is not None:
            self.label2id = {k: _label_id(v, "label2id values") for k, v in label2id.items()}
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
        if not _is_int(n) or not 1 <= n <= SIZE_LIMITS["vocab_size"]:
            raise PaddleRembertError(f"num_labels must be a positive integer, got {n!r}")
        if not hasattr(self, "id2label") or len(self.id2label) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    # -- validation -----------------------------------------------------------------------
    def validate(self):
        """Raise on values no model can be built from: sizes, head split, probabilities, labels."""
        for key, limit in SIZE_LIMITS.items():
            if key in self.__dict__:
                value = self.__dict__[key]
                if not _is_int(value) or value < 1:
                    raise PaddleRembertError(f"{key} must be a positive integer, got {value!r}")
                if value > limit:
                    raise PaddleRembertError(f"{key} is {value}, above the limit of {limit} (a typo?)")
        hidden, heads = self.__dict__.get("hidden_size"), self.__dict__.get("num_attention_heads")
        if hidden is not None and heads is not None and hidden % heads:
            raise PaddleRembertError(f"hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads})")
        for key in _PROBABILITIES:
            value = self.__dict__.get(key)
            if key in self.__dict__ and not (value is None and key in _MAY_BE_NULL) and \
                    not (_is_number(value) and 0 <= value <= 1):
                raise PaddleRembertError(f"{key} must be a probability in [0, 1], got {value!r}")
        for key in ("layer_norm_eps", "initializer_range"):
            value = self.__dict__.get(key)
            if key in self.__dict__ and not (_is_number(value) and value >= 0):  # NaN fails the comparison
                raise PaddleRembertError(f"{key} must be a non-negative number, got {value!r}")
        for key in _BOOLEANS:
            value = self.__dict__.get(key)
            if key in self.__dict__ and not isinstance(value, bool):
                raise PaddleRembertError(f"{key} must be true or false, got {value!r}")
        kind = self.__dict__.get("position_embedding_type", "absolute")
        if kind not in _POSITION_EMBEDDING_TYPES:
            raise PaddleRembertError(f"position_embedding_type must be one of {', '.join(_POSITION_EMBEDDING_TYPES)}, "
                                     f"got {kind!r}")
        vocab, pad = self.__dict__.get("vocab_size"), self.pad_token_id
        if pad is not None and not (_is_int(pad) and (vocab is None or -vocab <= pad < vocab)):
            raise PaddleRembertError(f"pad_token_id must be a token id below vocab_size ({vocab}), got {pad!r}")
        value = self.__dict__.get("hidden_act")
        if value is not None and not isinstance(value, str):
            raise PaddleRembertError(f"hidden_act must be a string, got {value!r}")
        if self.architectures is not None and not (isinstance(self.architectures, list)
                                                   and all(isinstance(a, str) for a in self.architectures)):
            raise PaddleRembertError(f"architectures must be a list of class names, got {self.architectures!r}")
        self._validate_labels()
        n = self.estimated_parameters()
        if n > MAX_PARAMETERS:
            raise PaddleRembertError(f"the config describes a model of about {n:.3g} parameters, above the limit of "
                                     f"{MAX_PARAMETERS:.0e} (check vocab_size, hidden_size, num_hidden_layers)")

    def _validate_labels(self):
        if not isinstance(self.id2label, dict):
            raise PaddleRembertError(f"id2label must be a mapping, got {type(self.id2label).__name__}")
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise PaddleRembertError(f"id2label must number its labels 0..{len(self.id2label) - 1}, "
                                     f"got ids {sorted(self.id2label)}")
        label2id = getattr(self, "label2id", {})
        if not isinstance(label2id, dict):
            raise PaddleRembertError(f"label2id must be a mapping, got {type(label2id).__name__}")
        for label, idx in label2id.items():
            if idx not in self.id2label:
                raise PaddleRembertError(f"label2id maps {label!r} to {idx!r}, which is not an id of id2label "
                                         f"(0..{len(self.id2label) - 1})")

    def weight_layers(self):
        """Layers that own weights (ALBERT shares them across its ``num_hidden_layers``)."""
        return self.__dict__.get("num_hidden_layers", 0)

    def estimated_parameters(self):
        """A rough upper estimate of the model's size: embeddings, output embeddings and transformer layers."""
        get = self.__dict__.get
        hidden = get("hidden_size", 0)
        embedding = get("embedding_size") or get("input_embedding_size") or hidden
        rows = get("vocab_size", 0) + get("max_position_embeddings", 0) + get("type_vocab_size", 0)
        layer = 4 * hidden * hidden + 2 * hidden * get("intermediate_size", 0)
        return rows * embedding + get("vocab_size", 0) * get("output_embedding_size", 0) + self.weight_layers() * layer

    @property
    def max_sequence_length(self):
        """The longest input the position table allows (RoBERTa's positions start after the padding id)."""
        n = getattr(self, "max_position_embeddings", None)
        return n - self.position_offset() if isinstance(n, int) and not isinstance(n, bool) else None

    def position_offset(self):
        """Positions the table holds before the first token's: 0, or ``pad_token_id + 1`` for RoBERTa."""
        return 0

    # -- (de)serialisation ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, config_dict, **overrides):
        if not isinstance(config_dict, dict):
            raise PaddleRembertError(f"a config must be a JSON object, got {type(config_dict).__name__}")
        config_dict = dict(config_dict)
        model_type = config_dict.get("model_type")
        if model_type is not None and not isinstance(model_type, str):
            raise PaddleRembertError(f"model_type must be a string, got {model_type!r}")
        if cls.model_type and model_type not in (None, cls.model_type):
            raise PaddleRembertError(
                f"config has model_type {model_type!r} but {cls.__name__} expects {cls.model_type!r}"
            )
        config = cls(**config_dict, _keys_from_file=set(config_dict))
        for key, value in overrides.items():  # set after, as transformers does: num_labels wins over id2label
            if key == "id2label":
                if not isinstance(value, dict):
                    raise PaddleRembertError(f"id2label must be a mapping, got {type(value).__name__}")
                value = {_label_id(k, "id2label keys"): v for k, v in value.items()}
                config.label2id = {v: k for k, v in value.items()}
            setattr(config, key, value)
        if overrides:
            config.validate()
        return config

    @classmethod
    def from_json_file(cls, path, **overrides):
        """The config in ``path``; a bad value's error names the file too."""
        return cls.from_json_dict(read_json(path, "config file"), path, **overrides)

    @classmethod
    def from_json_dict(cls, data, path, **overrides):
        """The config of ``path``'s JSON, already read; a bad value's error names the file."""
        try:
            return cls.from_dict(data, **overrides)
        except PaddleRembertError as e:
            raise PaddleRembertError(f"{path}: {e}") from None

    @classmethod
    def from_pretrained(cls, path, **overrides):
        """Load ``config.json`` from a model directory, a path to the json file itself, or a hub id (transformers'
        fetching keywords, ``revision``, ``subfolder``, ..., are taken, not stored)."""
        from ..checkpoint.hub import pop_hub_options, resolve

        overrides = dict(overrides)
        path = resolve(path, weights=False, **pop_hub_options(overrides))
        return cls.from_json_file(config_file_of(path), **overrides)

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
