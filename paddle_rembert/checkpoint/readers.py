"""Open the weights of a model directory, whatever wrote them, as one tensor-by-tensor reader.

Layouts:

* ``paddle``: our ``model_state.pdparams`` (also PaddleNLP's), or a ``model.safetensors`` whose
  metadata says ``format: paddle``. Linear weights are ``[in, out]``.
* ``torch``: transformers' ``model.safetensors`` (metadata ``format: pt``), ``pytorch_model.bin``
  (zip, or the legacy pre-1.6 pickle), or their shards with a ``*.index.json``. Linear weights
  are ``[out, in]``.
"""
import logging
import os
import pickle
import re
import zipfile

import numpy as np

from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json
from .safe_pickle import as_array, safe_load
from .safetensors import FLOAT_NAMES, SafetensorsFile, cast, numpy_to_st_dtype

logger = logging.getLogger("paddle_rembert")

PADDLE_WEIGHTS = "model_state.pdparams"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"
# In order of preference when a directory holds several.
WEIGHT_FILES = (PADDLE_WEIGHTS, SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX)


def weight_files(use_safetensors=None):
    """:data:`WEIGHT_FILES` as transformers' ``use_safetensors`` narrows them: True only safetensors, False none."""
    if use_safetensors is None:
        return WEIGHT_FILES
    return tuple(name for name in WEIGHT_FILES if (name in (SAFETENSORS, SAFETENSORS_INDEX)) == bool(use_safetensors))


class Checkpoint:
    """Keys, shapes and dtypes of a checkpoint; ``read`` returns one tensor as numpy."""

    layout = None  # "paddle" or "torch"

    def __init__(self, path, layout, files):
        self.path, self.layout = path, layout
        self._files = files  # key -> object with shape/dtype/read, or None for shards not yet opened

    def keys(self):
        return list(self._files)

    def shape(self, key):
        return self._files[key].shape(key)

    def dtype(self, key):
        """safetensors dtype name (``F32``, ``BF16`` ...)."""
        return self._files[key].dtype(key)

    def read(self, key, transpose=False, dtype=None):
        """``key`` as numpy (bfloat16 as uint16 bits), transposed and cast to ``dtype`` if asked."""
        return self._files[key].read(key, transpose=transpose, dtype=dtype)

    def source(self, key):
        """The file that holds ``key`` (its shard, for sharded checkpoints): error messages name it."""
        return getattr(self._files[key], "path", self.path)


class _InMemory:
    """Tensors already in memory (a ``.pdparams`` pickle, or a ``.bin`` mapped by torch)."""

    def __init__(self, path, arrays, to_numpy=None):
        self.path, self.arrays, self.to_numpy = path, arrays, to_numpy

    def keys(self):
        return list(self.arrays)

    def _array(self, key):
        value = self.arrays[key]
        return self.to_numpy(value) if self.to_numpy else value

    def shape(self, key):
        return tuple(self.arrays[key].shape)

    def dtype(self, key):
        value = self.arrays[key]
        if self.to_numpy is not None:  # torch tensor: by its own dtype (numpy has no bfloat16, float8 or uint16
            name = _TORCH_TO_ST.get(str(value.dtype))  # apart, and no float8 or complex32 at all)
            if name is None:
                raise PaddleRembertError(f"{self.path}: tensor {key} is {str(value.dtype).removeprefix('torch.')}, "
                                         "which no model parameter takes")
            return name
        return numpy_to_st_dtype(value)

    def read(self, key, transpose=False, dtype=None):
        arr = cast(self._array(key), self.dtype(key), dtype)
        return np.ascontiguousarray(arr.T if transpose else arr)


_TORCH_TO_ST = {"torch.bfloat16": "BF16", "torch.float16": "F16", "torch.float32": "F32", "torch.float64": "F64",
                "torch.float8_e4m3fn": "F8_E4M3", "torch.float8_e5m2": "F8_E5M2", "torch.bool": "BOOL",
                "torch.uint8": "U8", "torch.int8": "I8", "torch.int16": "I16", "torch.uint16": "U16",
                "torch.int32": "I32", "torch.uint32": "U32", "torch.int64": "I64", "torch.uint64": "U64"}
_LFS_POINTER = b"version https://git-lfs"


def check_not_lfs_pointer(path):
    """Name the usual cause of an unreadable weights file: a clone made without git-lfs keeps a text pointer."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_LFS_POINTER))
    except OSError:
        return
    if head == _LFS_POINTER:
        raise PaddleRembertError(f"{path} is a Git LFS pointer, not the weights: fetch them (git lfs pull)")


def _plain(error):
    """An error's text without terminal colour codes (torch colours some)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(error))


def _first_reason(error):
    """torch's load errors run to many lines of advice (weights_only=False, add_safe_globals) that do not
    apply here: keep the reason only."""
    text = _plain(error)
    match = re.search(r"WeightsUnpickler error:\s*(.+)", text, re.S)
    lines = [line.strip() for line in (match.group(1) if match else text).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    return reason.split(". ")[0][:300]


class _Stub:
    """What a scanned pickle's admitted callables make: accepts any construction, state and items."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _CodeFound(Exception):
    pass


class _ReferenceFinder(pickle.Unpickler):
    """Reads a pickle with every callable replaced: torch's, numpy's and the containers' by :class:`_Stub`, any
    other raises :class:`_CodeFound` naming it. Nothing the file names is imported or called."""

    ADMITTED = ("torch", "collections", "numpy", "_codecs", "copyreg")

    def find_class(self, module, name):
        if module.split(".")[0] in self.ADMITTED:
            return _Stub
        raise _CodeFound(f"{module}.{name}")

    def persistent_load(self, pid):
        return _Stub()


def _code_reference(path):
    """The first callable outside torch's, numpy's and the containers' that a non-zip file's pickles name (a
    legacy torch file holds several), found without running anything; None if none (torch's unpickler may stop
    earlier, at an opcode it does not take, and then say nothing of the payload)."""
    try:
        with open(path, "rb") as f:
            while True:
                _ReferenceFinder(f).load()
    except _CodeFound as e:
        return str(e)
    except Exception:  # the end of the pickles (a legacy file's raw tensor bytes follow them), or not a pickle
        return None


def _torch_to_numpy(tensor):
    import torch

    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(np.uint16)
    return tensor.numpy()


def _load_torch_file(path):
    try:
        import torch
    except ImportError:
        raise PaddleRembertError(
            f"reading {path} needs PyTorch (pip install torch), or convert the checkpoint to safetensors "
            "with transformers first; safetensors checkpoints need no torch"
        ) from None
    # mmap needs the zip format (torch >= 1.6); older files (e.g. SpanBERT's) are legacy pickles read whole.
    # Either way weights_only=True: torch's own restricted unpickler, no code from the file runs.
    mmap = zipfile.is_zipfile(path)
    try:
        state = torch.load(path, map_location="cpu", mmap=mmap, weights_only=True)
    except Exception as e:  # torch raises many types for truncated/corrupt zips
        check_not_lfs_pointer(path)
        code = re.search(r"GLOBAL ([\w.]+)", _plain(e))
        code = code.group(1) if code else None if mmap else _code_reference(path)
        if code:  # torch's unpickler stopped at (or before) a reference to code: say so, as safe_pickle does
            raise PaddleRembertError(f"refusing to load {path}: it references {code}, which weights never "
                                     "need (nothing from the file was run)") from None
        raise PaddleRembertError(f"cannot read {path}: it is truncated or not a PyTorch state dict of tensors "
                                 f"({_first_reason(e)})") from None
    _check_state_dict(path, state)
    return _InMemory(path, {k: v for k, v in state.items() if hasattr(v, "shape")}, _torch_to_numpy)


def _check_state_dict(path, state):
    if not isinstance(state, dict):
        raise PaddleRembertError(f"{path} does not hold a state dict")
    key = next((k for k in state if not isinstance(k, str)), None)
    if key is not None:
        raise PaddleRembertError(f"{path} is not a state dict: its key {key!r} ({type(key).__name__}) is "
                                 "not a parameter name")


def _load_pdparams(path):
    check_not_lfs_pointer(path)
    state = safe_load(path, "Paddle state dict")
    _check_state_dict(path, state)
    state.pop("StructuredToParameterName@@", None)  # written by paddle.save for Layers
    arrays = {}
    for key, value in state.items():
        value = as_array(value)
        if not isinstance(value, np.ndarray) or value.dtype == object:
            raise PaddleRembertError(f"{path}: {key!r} is a {type(value).__name__}, not a numeric array")
        arrays[key] = value
    return _InMemory(path, arrays)


def _open_safetensors(path):
    check_not_lfs_pointer(path)
    return SafetensorsFile(path)


def _shards(directory, index_name, opener):
    index_path = os.path.join(directory, index_name)
    index = read_json(index_path, "shard index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise PaddleRembertError(f"{index_path} has no weight_map")
    opened, files = {}, {}
    for key, shard in weight_map.items():
        # a shard is a file beside the index: a crafted index must not make us read /etc/... or ../..
        if not isinstance(shard, str) or not shard or os.path.basename(shard) != shard or shard in (".", ".."):
            raise PaddleRembertError(f"{index_path} maps {key!r} to {shard!r}, which is not a file name in {directory}")
        if shard not in opened:
            shard_path = os.path.join(directory, shard)
            if not os.path.isfile(shard_path):
                raise PaddleRembertError(f"shard {shard_path} listed in {index_path} is missing")
            opened[shard] = opener(shard_path)
        if key not in opened[shard].keys():
            raise PaddleRembertError(f"{index_path} maps {key!r} to {shard}, which does not hold it")
        files[key] = opened[shard]
    for reader in opened.values():  # transformers loads every tensor of a listed shard, mapped or not
        for key in reader.keys():
            files.setdefault(key, reader)
    return files, next(iter(opened.values()))


def open_checkpoint(directory, use_safetensors=None):
    """Find and open the weights in ``directory`` (among :func:`weight_files`); a clear error when there are none."""
    if not os.path.isdir(directory):
        raise PaddleRembertError(f"model directory not found: {directory}")
    names = weight_files(use_safetensors)
    present = [name for name in names if os.path.isfile(os.path.join(directory, name))]
    if not present:
        which = "" if use_safetensors is None else f" (use_safetensors={use_safetensors})"
        raise PaddleRembertError(f"no weights in {directory}{which}: expected one of {', '.join(names)}")
    name = present[0]
    path = os.path.join(directory, name)
    if name == PADDLE_WEIGHTS and len(present) > 1:  # ours beside others (a hub repo's .safetensors + .bin is
        # usual, and transformers picks one silently too): the older may be the one loaded
        logger.warning("%s holds several weight files; loading %s, not %s", directory, name, ", ".join(present[1:]))
    if name == PADDLE_WEIGHTS:
        reader = _load_pdparams(path)
        return Checkpoint(path, "paddle", {k: reader for k in reader.keys()})
    if name == SAFETENSORS:
        st = _open_safetensors(path)
        return Checkpoint(path, _safetensors_layout(st), {k: st for k in st.keys()})
    if name == SAFETENSORS_INDEX:
        files, first = _shards(directory, name, _open_safetensors)
        return Checkpoint(path, _safetensors_layout(first), files)
    if name == TORCH_BIN:
        reader = _load_torch_file(path)
        return Checkpoint(path, "torch", {k: reader for k in reader.keys()})
    files, _ = _shards(directory, name, _load_torch_file)
    return Checkpoint(path, "torch", files)


def _safetensors_layout(st):
    fmt = st.metadata.get("format", "pt")
    if fmt in ("paddle", "np"):  # "np": PaddleNLP's save_pretrained(safe_serialization=True), Paddle's layout
        return "paddle"
    if fmt in ("pt", "torch"):
        return "torch"
    raise PaddleRembertError(f"{st.path} holds {fmt!r}-format weights; only PyTorch ('pt') and Paddle are supported")


def st_dtype_name(dtype):
    """``'float16'`` -> ``'F16'``; None stays None."""
    if dtype is None:
        return None
    if dtype not in FLOAT_NAMES:
        raise PaddleRembertError(f"unsupported dtype {dtype!r}; choose from {', '.join(FLOAT_NAMES)}")
    return FLOAT_NAMES[dtype]
