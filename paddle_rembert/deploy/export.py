"""``paddle-rembert export``: a model directory -> a static-graph deployment directory.

The output directory holds everything :class:`paddle_rembert.inference.Predictor`, PaddleNLP's
Taskflow (after ``import paddle_rembert.deploy.taskflow``) and onnxruntime need, and nothing else:

* ``inference.json`` + ``inference.pdiparams``: the PIR program and weights written by
  ``paddle.jit.save`` from ``paddle.jit.to_static(..., full_graph=True)``. Its inputs are
  ``input_ids``, ``token_type_ids`` and ``attention_mask`` (all ``int64 [batch, length]``, both
  dimensions dynamic), without ``token_type_ids`` when the tokenizer's ``model_input_names``
  has none (RoBERTa); ``export_meta.json`` lists them. The mask is always an input, so padding
  never changes a result and results never depend on how examples were batched.
* the tokenizer files (``tokenizer_config.json``, ``special_tokens_map.json``, the
  SentencePiece model);
* ``config.json`` with ``id2label`` / ``label2id`` always present;
* ``export_meta.json``: the task, the inputs and outputs (names, dtypes, symbolic shapes), the
  Paddle and paddle-rembert versions, the maximum length, and the check against dygraph;
* with ``onnx=True``: ``model.onnx`` converted by paddle2onnx (see :mod:`.onnx_export`);
* with ``quantize="int8"``: ``model.int8.safetensors``, the int8 weights the Predictor's int8 engine runs
  (see :mod:`.int8`), checked against fp32 where this CPU can run it; with ``onnx=True`` as well,
  onnxruntime's ``model.int8.onnx`` (see :mod:`.quantize`).

The directory is written under a temporary name and renamed into place only after the
exported program has been checked against the dygraph model on a padded batch, so a failed
export never leaves a half-written or wrong directory behind.
"""
import contextlib
import json
import logging
import os
import tempfile

import numpy as np

from ..models import registry
from ..runtime.errors import MissingVocabularyError, PaddleRembertError
from ..runtime.files import atomic_dir, check_destination, read_json, write_json
from ..tokenization.utils import fast_clean_up
from .format import (EXPORT_FORMAT, FORMAT_VERSION, INPUT_NAMES, INT8_FILE, META_FILE, MODEL_FILE, ONNX_FILE,
                     OPTIONAL_OUTPUTS, PARAMS_FILE, TASKS, input_names_for, is_export_output, task_for_architecture)
from .layer import export_layer
from .onnx import check_opset

logger = logging.getLogger("paddle_rembert")


def family_tasks(family):
    """The export tasks ``family`` has a head for, in :data:`TASKS` order (only ELECTRA's discriminator is
    replaced-token detection)."""
    have = {task_for_architecture(c.__name__, family.export_tasks) for c in family.model_classes}
    return [task for task in TASKS if task in have]


def check_family_task(family, task, source):
    if task not in family_tasks(family):
        raise PaddleRembertError(f"{source}: {family.model_type} has no head for the {task} task; its tasks: "
                                 f"{', '.join(family_tasks(family))}")


def infer_task(config_dict, source="config.json"):
    """The export task a config describes, from its ``architectures`` entry (and the family's overrides)."""
    archs = config_dict.get("architectures") or []
    for arch in archs:
        family = registry.family_of_class(arch) if isinstance(arch, str) else None
        task = task_for_architecture(arch, family.export_tasks if family else None) if isinstance(arch, str) else None
        if task is not None:
            return task
    names = ", ".join(map(str, archs)) if archs else "none"
    model_type = config_dict.get("model_type")
    family = registry.get(model_type) if model_type in registry.model_types() else None
    raise PaddleRembertError(
        f"cannot infer the export task from {source} (architectures: {names}); "
        f"pass --task, one of {', '.join(family_tasks(family) if family else TASKS)}")


def check_batch(tokenizer, max_length, input_names=INPUT_NAMES):
    """A padded batch of two unequal rows (one a pair) for checking an export, as numpy int64."""
    texts = ["the quick brown fox jumps over the lazy dog", "hello"]
    pairs = ["a second segment", None]
    rows = [tokenizer(t, p, truncation=True, max_length=max_length) for t, p in zip(texts, pairs)]
    batch = tokenizer.pad(rows, padding="longest", return_tensors="np")
    return {name: np.asarray(batch[name], dtype=np.int64) for name in input_names}


def _max_length(config, tokenizer=None):
    n = int(config.max_sequence_length or 512)
    tok_max = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if tok_max and tok_max < n:
        n = int(tok_max)
    return n


def _config_dict(config, model):
    d = json.loads(config.to_json_string())
    d["architectures"] = [type(model).__name__]  # the head exported, whatever the source checkpoint had
    d["id2label"] = {str(k): v for k, v in config.id2label.items()}
    d["label2id"] = {k: int(v) for k, v in config.label2id.items()}
    return d


def _produced_outputs(model, outputs):
    """The task's outputs less the optional ones this model does not produce (ELECTRA has no pooler)."""
    import paddle

    if not any(name in OPTIONAL_OUTPUTS for name, _ in outputs):
        return outputs
    with paddle.no_grad():
        probe = model(input_ids=paddle.to_tensor([[1, 2]], dtype="int64"), return_dict=True)
    return tuple((name, shape) for name, shape in outputs
                 if name not in OPTIONAL_OUTPUTS or probe.get(name) is not None)


def _check_destination(out_dir, overwrite, *sources):
    """See :func:`~paddle_rembert.runtime.files.check_destination`: --overwrite replaces only an export."""
    check_destination(out_dir, sources, overwrite, replaceable=is_export_output, what="export directory",
                      rule=f"a previous export holding only what an export writes ({META_FILE}, the models, "
                           f"config and tokenizer files)")


def export_model(model_dir, out_dir, task=None, onnx=False, opset=None, overwrite=False, verify=True,
                 tokenizer_dir=None, atol=1e-4, ignore_mismatched_sizes=False, quantize=None):
    """Export ``model_dir`` to ``out_dir`` (see the module docstring); returns the export metadata.

    A checkpoint tensor whose shape differs from the model's raises unless ``ignore_mismatched_sizes``
    (then it is initialised like a missing head and listed in ``newly_initialized_keys``).

    ``model_dir`` may be a hub id; ``tokenizer_dir`` gives the tokenizer of a checkpoint that ships none.
    ``task`` defaults to the one ``config.json``'s ``architectures`` names. A head that the
    checkpoint lacks (``--task sequence-classification`` on a backbone) is initialised randomly,
    with a warning, and listed in ``export_meta.json`` under ``newly_initialized_keys``.
    """
    import paddle

    from ..checkpoint.hub import resolve
    from ..modeling.configuration_utils import config_file_of
    from ..models.auto import auto_class, model_type_of
    from ..tokenization.utils import check_ids_fit

    check_opset(opset)
    model_dir = resolve(model_dir)  # a hub id becomes its snapshot in the Hugging Face cache
    if not os.path.isdir(model_dir):
        raise PaddleRembertError(f"model directory not found: {model_dir}")
    _check_destination(out_dir, overwrite, model_dir, tokenizer_dir)
    config_path = config_file_of(model_dir)  # model_dir is local now: its config.json is read once, here
    config_dict = read_json(config_path, "config file")
    model_type = model_type_of(config_dict, config_path)
    if task is None:
        task = infer_task(config_dict, config_path)
    if task not in TASKS:
        raise PaddleRembertError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    check_family_task(registry.get(model_type, config_path), task, model_dir)
    tokenizer = _load_tokenizer(model_dir, tokenizer_dir)
    paddle.disable_static()
    model, report = auto_class(TASKS[task][0]).from_pretrained(model_dir, output_loading_info=True,
                                                               ignore_mismatched_sizes=ignore_mismatched_sizes)
    check_ids_fit(tokenizer, model.config.vocab_size, tokenizer_dir or model_dir)
    initialised = report.missing_keys + [key for key, _, _ in report.mismatched_keys]
    if initialised and task != "feature-extraction":
        logger.warning("%s: the %s head was not in the checkpoint and is randomly initialised; its "
                       "predictions are meaningless until it is fine-tuned", model_dir, task)
    meta = export_loaded(model, out_dir, task, tokenizer=tokenizer, onnx=onnx, opset=opset, overwrite=overwrite,
                         verify=verify, atol=atol, newly_initialized_keys=initialised, quantize=quantize)
    logger.debug("exported %s (%s) to %s", model_dir, task, out_dir)  # the command prints its own line
    return meta


def _load_tokenizer(model_dir, tokenizer_dir):
    """The export's tokenizer; a model directory without a vocabulary is told where one can come from."""
    from ..models.auto import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(tokenizer_dir or model_dir)
    except MissingVocabularyError as e:
        if tokenizer_dir is not None:
            raise
        raise PaddleRembertError(f"{e}; a model directory that ships no tokenizer takes one from another directory "
                                 "(--tokenizer DIR, tokenizer_dir= in Python)") from None


def _keep_fast_clean_up(tokenizer, directory):
    """The export holds no tokenizer.json, so its clean-up setting is written out as the source's fast tokenizer
    decodes (a hub directory with tokenizer.json decodes without it): the pipelines answer as before the export."""
    fast = fast_clean_up(tokenizer)
    if fast != tokenizer.clean_up_tokenization_spaces:
        path = os.path.join(directory, "tokenizer_config.json")
        write_json(path, dict(read_json(path, "tokenizer config"), clean_up_tokenization_spaces=fast))


def export_loaded(model, out_dir, task, tokenizer=None, onnx=False, opset=None, overwrite=False, verify=True,
                  atol=1e-4, newly_initialized_keys=(), quantize=None):
    """Export an in-memory model (the head ``task`` needs) to ``out_dir``; returns the metadata.

    Without a tokenizer the directory holds no tokenizer files (fine for :func:`load_engine`,
    not for :class:`~paddle_rembert.inference.Predictor`) and the check uses random ids.
    """
    import paddle

    from ..version import __version__
    from .engines import load_engine

    if task not in TASKS:
        raise PaddleRembertError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    check_opset(opset)
    if quantize not in (None, "int8"):
        raise PaddleRembertError(f"quantize must be None or 'int8', got {quantize!r}")
    suffix, outputs = TASKS[task]
    family = registry.family_of_class(type(model).__name__)
    if family is not None:
        check_family_task(family, task, type(model).__name__)
    if not type(model).__name__.endswith(suffix):
        raise PaddleRembertError(f"task {task} needs a *{suffix} model, got {type(model).__name__}")
    _check_destination(out_dir, overwrite)
    paddle.disable_static()
    model.eval()
    outputs = _produced_outputs(model, outputs)
    output_names = [name for name, _ in outputs]
    input_names = input_names_for(tokenizer) if tokenizer is not None else INPUT_NAMES
    layer = export_layer(model, output_names, input_names)
    spec = [paddle.static.InputSpec([None, None], "int64", name) for name in input_names]
    max_length = _max_length(model.config, tokenizer)
    sizes = {"num_labels": model.config.num_labels, "vocab_size": model.config.vocab_size,
             "hidden_size": model.config.hidden_size}
    meta = {
        "format": EXPORT_FORMAT,
        "format_version": FORMAT_VERSION,
        "task": task,
        "model_type": model.config.model_type,
        "architecture": type(model).__name__,
        "model_file": MODEL_FILE,
        "params_file": PARAMS_FILE,
        "onnx_file": None,
        "inputs": [{"name": name, "dtype": "int64", "shape": ["batch", "sequence"]} for name in input_names],
        "outputs": [{"name": name, "dtype": "float32",
                     "shape": [d if d in ("batch", "sequence") else sizes[d] for d in shape]}
                    for name, shape in outputs],
        "attention_mask": "int64 0/1 [batch, sequence]: 1 = real token, 0 = padding",
        "max_length": max_length,
        "paddle_version": paddle.__version__,
        "paddle_rembert_version": __version__,
        "newly_initialized_keys": list(newly_initialized_keys),
    }
    if verify:  # the dygraph reference, computed before to_static replaces the layer's forward
        batch = check_batch(tokenizer, max_length, input_names) if tokenizer is not None else \
            random_batch(model.config.vocab_size, model.config.pad_token_id or 0, (min(16, max_length), 5))
        with paddle.no_grad():
            expected = layer(*[paddle.to_tensor(batch[n]) for n in input_names])
        expected = {n: t.numpy() for n, t in zip(output_names, expected)}
    with atomic_dir(out_dir) as tmp:
        with _our_errors_unwrapped():
            static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
            paddle.jit.save(static, os.path.join(tmp, "inference"))
        paddle.disable_static()
        for name in (MODEL_FILE, PARAMS_FILE):
            if not os.path.isfile(os.path.join(tmp, name)):
                raise PaddleRembertError(f"paddle.jit.save did not write {name} (is PIR disabled? "
                                         f"FLAGS_enable_pir_api must be on)")
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
            _keep_fast_clean_up(tokenizer, tmp)
        write_json(os.path.join(tmp, "config.json"), _config_dict(model.config, model), sort_keys=True)
        fp32 = None
        if verify:
            fp32 = load_engine(tmp, meta, backend="paddle", threads=None)
            meta["check"] = _check(fp32, batch, expected, atol)
        if onnx:
            from .onnx import onnx_traceable, paddle_to_onnx

            # paddle2onnx 2.1.0 turns gelu(approximate=True) (ALBERT's gelu_new) into the exact erf
            # gelu, a 5e-4 error per activation: the ONNX source program spells the tanh formula out.
            with tempfile.TemporaryDirectory(dir=tmp) as src:
                onnx_layer = export_layer(onnx_traceable(model), output_names, input_names)
                with _our_errors_unwrapped():
                    paddle.jit.save(paddle.jit.to_static(onnx_layer, input_spec=spec, full_graph=True),
                                    os.path.join(src, "inference"))
                del onnx_layer
                paddle.disable_static()
                meta["onnx_file"] = ONNX_FILE
                meta["onnx_opset"] = paddle_to_onnx(os.path.join(src, MODEL_FILE), os.path.join(src, PARAMS_FILE),
                                                    os.path.join(tmp, ONNX_FILE), opset=opset)
            if verify:
                meta["onnx_check"] = _check(load_engine(tmp, meta, backend="onnxruntime", threads=None), batch,
                                            expected, atol)
        if quantize == "int8":
            meta["int8"] = _write_int8(model, tmp, meta, fp32)
            if onnx:  # onnxruntime's int8 model too, inside the same atomic directory
                from .quantize import quantize_onnx

                meta["int8_onnx"] = quantize_onnx(tmp, meta, check=verify)
        write_json(os.path.join(tmp, META_FILE), meta)
    return meta


@contextlib.contextmanager
def _our_errors_unwrapped():
    """A PaddleRembertError raised while Paddle traces the model (a QA head without two labels, say) comes back
    with Paddle's "In transformed code" listing in its message: keep our one line."""
    marker = "PaddleRembertError: "
    try:
        yield
    except PaddleRembertError as e:
        message = str(e)
        if "In transformed code" not in message or marker not in message:
            raise
        raise PaddleRembertError(message.rsplit(marker, 1)[1].strip()) from None


def _write_int8(model, export_dir, meta, fp32=None):
    """Write the int8 weights into ``export_dir`` and, given the export's ``fp32`` engine (None: unverified),
    check them against it where this CPU runs int8; returns what ``export_meta.json`` records under ``int8``."""
    from ..kernels.int8 import unsupported_reason
    from .engines import PaddleInt8Engine
    from .int8 import write_int8_weights
    from .quantize import compare_engines

    write_int8_weights(model, os.path.join(export_dir, INT8_FILE))
    info = {"file": INT8_FILE, "method": "paddle_rembert.kernels.int8",
            "weights": "int8 symmetric, per output channel", "activations": "uint8 asymmetric, per token at run time",
            "check": None}
    if fp32 is None:
        return info
    reason = unsupported_reason()
    if reason:
        logger.warning("wrote %s but could not check it here: %s", INT8_FILE, reason)
    else:  # the process's thread count stays the caller's
        with_int8 = dict(meta, int8=info)
        info["check"] = compare_engines(export_dir, with_int8, fp32,
                                        PaddleInt8Engine(export_dir, with_int8, set_threads=False))
    return info


def random_batch(vocab_size, pad_token_id, lengths, seed=0):
    """Random ids with right padding (row ``i`` has ``lengths[i]`` real tokens), two segments, int64."""
    rng = np.random.RandomState(seed)
    width = max(lengths)
    ids = np.full((len(lengths), width), pad_token_id, dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.randint(min(5, vocab_size - 1), vocab_size, size=n)
        types[i, n // 2:n] = 1
        mask[i, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def _check(engine, batch, expected, atol):
    """Run the export's ``engine`` on ``batch`` and compare with dygraph; raises when they differ."""
    backend = engine.backend
    got = engine.run(batch)
    diffs, largest = {}, {}
    for name, want in expected.items():
        have = got[name]
        if have.shape != want.shape:
            raise PaddleRembertError(f"{backend} export check failed: {name} has shape {list(have.shape)}, "
                                     f"dygraph {list(want.shape)}")
        diffs[name] = float(np.max(np.abs(have.astype(np.float64) - want))) if want.size else 0.0
        largest[name] = float(np.max(np.abs(want))) if want.size else 0.0
        scale = max(1.0, largest[name])
        if not diffs[name] <= atol * scale:
            raise PaddleRembertError(f"{backend} export check failed: {name} differs from dygraph by "
                                     f"{diffs[name]:.3g} (tolerance {atol * scale:.3g})")
    # the largest output beside the difference: fp32 round-off is relative to it
    return {"backend": backend, "batch_shape": list(batch["input_ids"].shape), "max_abs_diff": diffs,
            "max_abs_value": largest}
