"""``paddle-rembert convert``: transformers PyTorch directory <-> Paddle directory.

The model class is taken from ``config.json`` (``architectures``, else the first class of the
family whose keys match the checkpoint exactly) and built under ``paddle.LazyGuard`` -- no
memory for weights -- only to learn its keys, shapes and which keys are Linear weights. Tensors
then stream from the source to the destination one at a time, transposed and cast on the way.
The destination is written into a temporary directory that is renamed into place at the end.
"""
import logging
import os
import shutil

import numpy as np
import paddle
from tqdm.auto import tqdm

from .modeling import auto
from .runtime.errors import PaddleRembertError
from .runtime.files import atomic_dir, atomic_open
from .checkpoint.readers import PADDLE_WEIGHTS, SAFETENSORS, open_checkpoint, st_dtype_name
from .checkpoint.rules import plan_load, torch_key_shapes
from .checkpoint.safetensors import write_safetensors

logger = logging.getLogger("paddle_rembert.convert")

TOKENIZER_FILES = ("sentencepiece.model", "spiece.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "tokenizer.json")


def lazy_model(model_class, config):
    """The model's structure without allocating its weights."""
    with paddle.LazyGuard():
        return model_class(config)


def model_signature(model):
    """(key -> shape, Linear weight keys) of a (lazy) model."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, model.linear_weight_keys()


def choose_model(config, ckpt, source):
    """The model class whose keys and shapes match the checkpoint exactly, with its plan."""
    names = [c.__name__ for c in auto.model_classes(config.model_type, source)]
    wanted = [a for a in (config.architectures or []) if a in names]
    candidates = wanted or names
    ckpt_shapes = {k: ckpt.shape(k) for k in ckpt.keys()}
    best = None
    for name in candidates:
        model_class = getattr(auto.family(config.model_type)[0], name)
        model = lazy_model(model_class, config)
        shapes, linear = model_signature(model)
        plan = plan_load(shapes, linear, model.tied_weights, model.base_model_prefix, ckpt_shapes, ckpt.layout)
        if plan.report.clean:
            return model_class, model, plan
        problems = len(plan.report.missing_keys) + len(plan.report.unexpected_keys) + len(
            plan.report.mismatched_keys)
        if best is None or problems < best[0]:
            best = (problems, name, plan)
    raise PaddleRembertError(
        f"the weights in {ckpt.path} do not fit {' or '.join(candidates)}\n"
        + best[2].report.describe(best[1], ckpt.path)
    )


def convert_checkpoint(src, dst, to="paddle", dtype=None, safe_serialization=False, overwrite=False,
                       progress=True):
    """Convert ``src`` to ``dst``; see the module docstring. Returns the chosen class name."""
    if to not in ("paddle", "torch"):
        raise PaddleRembertError(f"--to must be 'paddle' or 'torch', got {to!r}")
    if not os.path.isdir(src):
        raise PaddleRembertError(f"source directory not found: {src}")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise PaddleRembertError("destination must differ from the source")
    if os.path.exists(dst) and os.listdir(dst) and not overwrite:
        raise PaddleRembertError(f"destination {dst} exists and is not empty (use --overwrite to replace it)")
    st_dtype = st_dtype_name(dtype)
    model_type, config_path = auto.read_model_type(src)
    config = auto.config_class(model_type, config_path).from_pretrained(config_path)
    ckpt = open_checkpoint(src)
    wanted_layout = "torch" if to == "paddle" else "paddle"
    if ckpt.layout != wanted_layout:
        raise PaddleRembertError(
            f"{ckpt.path} is already a {ckpt.layout}-layout checkpoint; use --to {'torch' if to == 'paddle' else 'paddle'}"
        )
    model_class, model, plan = choose_model(config, ckpt, config_path)
    _check_tied_copies(model, ckpt, plan)
    config.architectures = [model_class.__name__]
    with atomic_dir(dst) as tmp:
        config.save_pretrained(tmp)
        _copy_tokenizer_files(src, tmp)
        bar = tqdm(desc=f"convert to {to}", unit="tensor", disable=not progress)
        if to == "paddle":
            _write_paddle(tmp, ckpt, plan, st_dtype, safe_serialization, bar)
        else:
            _write_torch(tmp, ckpt, model, plan, st_dtype, bar)
        bar.close()
    logger.info("converted %s (%s) to %s", src, model_class.__name__, dst)
    return model_class.__name__


def _write_paddle(directory, ckpt, plan, st_dtype, safe_serialization, bar):
    bar.reset(total=len(plan.pairs))

    def produce(key, ckpt_key, transpose):
        arr = ckpt.read(ckpt_key, transpose=transpose, dtype=st_dtype)
        bar.update(1)
        return arr

    if safe_serialization:
        specs, sources = [], {}
        for key, ckpt_key, transpose in plan.pairs:
            shape = ckpt.shape(ckpt_key)[::-1] if transpose else ckpt.shape(ckpt_key)
            specs.append((key, st_dtype or ckpt.dtype(ckpt_key), shape))
            sources[key] = (ckpt_key, transpose)
        with atomic_open(os.path.join(directory, SAFETENSORS), "wb") as f:
            write_safetensors(f, specs, lambda k: produce(k, *sources[k]), {"format": "paddle"})
        return
    import pickle

    state = {key: produce(key, ckpt_key, transpose) for key, ckpt_key, transpose in plan.pairs}
    with atomic_open(os.path.join(directory, PADDLE_WEIGHTS), "wb") as f:
        pickle.dump(state, f, protocol=5)


def _write_torch(directory, ckpt, model, plan, st_dtype, bar):
    """transformers' layout: Linear weights transposed back, tied duplicates written out again."""
    shapes, linear = model_signature(model)
    torch_shapes = torch_key_shapes({k: shapes[k] for k, _, _ in plan.pairs}, linear, model.tied_weights)
    source_of = {key: ckpt_key for key, ckpt_key, _ in plan.pairs}
    for dup, target in model.tied_weights.items():
        if target in source_of:
            source_of[dup] = source_of[target]
    specs = [(key, st_dtype or ckpt.dtype(source_of[key]), shape) for key, shape in torch_shapes.items()]

    def produce(key):
        arr = ckpt.read(source_of[key], transpose=key in linear, dtype=st_dtype)
        bar.update(1)
        return arr

    bar.reset(total=len(specs))
    with atomic_open(os.path.join(directory, SAFETENSORS), "wb") as f:
        write_safetensors(f, specs, produce, {"format": "pt"})


def _check_tied_copies(model, ckpt, plan):
    """A checkpoint's tied duplicate should equal its source; warn (as the copy is dropped) if not."""
    keys = set(ckpt.keys())
    prefix_map = {model_key: ckpt_key for model_key, ckpt_key, _ in plan.pairs}
    for dup, target in model.tied_weights.items():
        if dup in keys and target in prefix_map:
            a, b = ckpt.read(dup), ckpt.read(prefix_map[target])
            if a.shape != b.shape or not np.array_equal(a, b):
                logger.warning("%s in %s differs from %s, which it is tied to; the tied value is kept",
                               dup, ckpt.path, prefix_map[target])


def _copy_tokenizer_files(src, dst):
    for name in TOKENIZER_FILES:
        path = os.path.join(src, name)
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(dst, name))

