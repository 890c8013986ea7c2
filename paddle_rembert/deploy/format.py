"""The export format: file names, model inputs and outputs per task, and reading ``export_meta.json``.

A leaf module (no Paddle, no model code): the exporter writes this format, and the predictor,
the ONNX engine and the Taskflow loader read it.
"""
import os
import re

from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json

MODEL_FILE = "inference.json"
PARAMS_FILE = "inference.pdiparams"
META_FILE = "export_meta.json"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.safetensors"  # `export --quantize int8`: int8 Linear weights for the Paddle int8 engine
INT8_ONNX_FILE = "model.int8.onnx"  # `export --onnx --quantize int8`: onnxruntime dynamic int8, beside model.onnx
EXPORT_FORMAT = "paddle-rembert-export"
FORMAT_VERSION = 1
INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")  # the default; an export records its own

# task -> (head class suffix, output fields in the order the program returns them, their shapes)
TASKS = {
    "sequence-classification": ("ForSequenceClassification", (("logits", ["batch", "num_labels"]),)),
    "token-classification": ("ForTokenClassification", (("logits", ["batch", "sequence", "num_labels"]),)),
    "question-answering": ("ForQuestionAnswering", (("start_logits", ["batch", "sequence"]),
                                                    ("end_logits", ["batch", "sequence"]))),
    "masked-lm": ("ForMaskedLM", (("logits", ["batch", "sequence", "vocab_size"]),)),
    "feature-extraction": ("Model", (("last_hidden_state", ["batch", "sequence", "hidden_size"]),
                                     ("pooler_output", ["batch", "hidden_size"]))),
    # ELECTRA's discriminator: one logit per token, > 0 where the token looks replaced
    "replaced-token-detection": ("ForPreTraining", (("logits", ["batch", "sequence"]),)),
}
# Outputs a model may lack: a backbone without a pooler (ELECTRA) exports no pooler_output.
OPTIONAL_OUTPUTS = ("pooler_output",)
# config.json "architectures" suffix -> task (a family may override it per class: Family.export_tasks)
ARCHITECTURE_SUFFIX_TASKS = (
    ("ForSequenceClassification", "sequence-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "masked-lm"),
    ("Model", "feature-extraction"),
)


def task_for_architecture(name, overrides=None):
    """The export task of a model class name: the family's override, else the suffix rule, else None."""
    if overrides and name in overrides:
        return overrides[name]
    for suffix, task in ARCHITECTURE_SUFFIX_TASKS:
        if name.endswith(suffix):
            return task
    return None


def input_names_for(tokenizer):
    """The export inputs a tokenizer provides: its ``model_input_names`` in :data:`INPUT_NAMES` order.

    RoBERTa's tokenizer gives no ``token_type_ids``; then the export takes none. ``input_ids``
    and ``attention_mask`` are always inputs.
    """
    given = set(getattr(tokenizer, "model_input_names", None) or INPUT_NAMES) | {"input_ids", "attention_mask"}
    return tuple(name for name in INPUT_NAMES if name in given)


def is_export_dir(path):
    """Whether ``path`` is a previous ``paddle-rembert export`` output (it has ``export_meta.json``)."""
    return os.path.isfile(os.path.join(path, META_FILE))


_EXPORT_FILE = re.compile(r"export_meta\.json|config\.json|inference\.(json|pdiparams|pdiparams\.info|pdmodel)"
                          r"|.+\.onnx(\.data)?|model\.int8\.safetensors"
                          r"|tokenizer(_config)?\.json|special_tokens_map\.json|added_tokens\.json"
                          r"|[^.].*\.model|vocab\.(txt|json)|merges\.txt")


def is_export_output(path):
    """Whether ``export --overwrite`` may replace ``path``: an export with nothing of the user's in it (only the
    files an export writes: no other file, subdirectory or hidden entry, e.g. predictions written there)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return False
    return is_export_dir(path) and all(
        not e.name.startswith(".") and e.is_file(follow_symlinks=False) and _EXPORT_FILE.fullmatch(e.name)
        for e in entries)


def _plain_name(value):
    return isinstance(value, str) and value and os.path.basename(value) == value and value not in (".", "..")


def _fits(size, dim):
    """An output's recorded size fits the task's dimension: the dynamic ones by name, the others a count."""
    if dim in ("batch", "sequence"):
        return size in (dim, None, -1)
    return size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)


def validate_meta(meta, path):
    """Raise PaddleRembertError naming ``path`` and the key when ``meta`` has a wrong type or value."""
    def bad(key, want):
        return PaddleRembertError(f"{path}: {key!r} must be {want}, got {meta.get(key)!r}")

    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("format_version", "an integer")
    if version > FORMAT_VERSION:
        raise PaddleRembertError(f"{path} has format_version {version}; this paddle-rembert "
                                 f"reads up to {FORMAT_VERSION}: upgrade paddle-rembert")
    if not isinstance(meta.get("task"), str) or meta["task"] not in TASKS:
        raise PaddleRembertError(f"{path} names unknown task {meta.get('task')!r}")
    for key in ("model_file", "params_file"):
        if key in meta and not _plain_name(meta[key]):
            raise bad(key, "a file name in the export directory")
    if meta.get("onnx_file") is not None and not _plain_name(meta["onnx_file"]):
        raise bad("onnx_file", "a file name in the export directory or null")
    length = meta.get("max_length")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 2):
        raise bad("max_length", "an integer of at least 2 or null")
    want_outputs = [name for name, _ in TASKS[meta["task"]][1]]
    outputs = meta.get("outputs")
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                for o in outputs):
        raise bad("outputs", "a list of {\"name\": ...} objects")
    required = [name for name in want_outputs if name not in OPTIONAL_OUTPUTS]
    if [o["name"] for o in outputs] not in (want_outputs, required):
        raise bad("outputs", f"named {want_outputs} for {meta['task']}")
    for output, (_, dims) in zip(outputs, TASKS[meta["task"]][1]):  # an edited task the program does not compute
        shape = output.get("shape")
        if shape is not None and (not isinstance(shape, list) or len(shape) != len(dims)
                                  or not all(_fits(size, dim) for size, dim in zip(shape, dims))):
            raise PaddleRembertError(f"{path}: output {output['name']!r} has shape {shape!r}, but task "
                                     f"{meta['task']} gives {dims}")
    for key, file_key in (("int8", "file"), ("int8_onnx", "onnx_file")):
        info = meta.get(key)
        if info is not None and not (isinstance(info, dict) and all(
                _plain_name(info[k]) for k in ("file", "onnx_file") if k in info)):
            raise bad(key, f"null or an object whose {file_key!r} is a file name in the export directory")
    inputs = meta.get("inputs", [{"name": n} for n in INPUT_NAMES])
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and i.get("name") in INPUT_NAMES
                                               for i in inputs):
        raise bad("inputs", f"a list of {{\"name\": ...}} objects naming some of {list(INPUT_NAMES)}")
    names = [i["name"] for i in inputs]
    if "input_ids" not in names or len(set(names)) != len(names):
        raise bad("inputs", "distinct names including 'input_ids'")
    return meta


def meta_input_names(meta):
    """The inputs an export takes, in its order (older exports: :data:`INPUT_NAMES`)."""
    return tuple(i["name"] for i in meta.get("inputs") or [{"name": n} for n in INPUT_NAMES])


def read_meta(export_dir):
    """``export_meta.json`` of an export directory, with clear errors for anything else."""
    if not os.path.isdir(export_dir):
        raise PaddleRembertError(f"exported model directory not found: {export_dir}")
    path = os.path.join(export_dir, META_FILE)
    if not os.path.isfile(path):
        # a model directory (config.json) is the export's source, not its destination
        how = (f"export it first (`paddle-rembert export {export_dir} EXPORT_DIR`) and pass EXPORT_DIR"
               if os.path.isfile(os.path.join(export_dir, "config.json"))
               else "create one with `paddle-rembert export MODEL_DIR EXPORT_DIR`")
        raise PaddleRembertError(f"{export_dir} is not a paddle-rembert export (no {META_FILE}); {how}")
    meta = read_json(path, "export metadata")
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise PaddleRembertError(f"{path} is not paddle-rembert export metadata")
    return validate_meta(meta, path)
