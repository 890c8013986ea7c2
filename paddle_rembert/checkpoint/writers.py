"""Write Paddle-layout weights: ``model_state.pdparams`` (default) or ``model.safetensors``, sharded on request."""
import os
import pickle
import re

import numpy as np

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open, write_json
from .readers import PADDLE_WEIGHTS, SAFETENSORS, SAFETENSORS_INDEX
from .safetensors import paddle_to_st_dtype, spec_nbytes, write_safetensors

_SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
_UNITS = {"B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12, "KIB": 2 ** 10, "MIB": 2 ** 20,
          "GIB": 2 ** 30, "TIB": 2 ** 40}


def shard_size_bytes(size):
    """transformers' ``max_shard_size``: bytes, or a string such as ``"5GB"`` (10**9; any case, as
    huggingface_hub reads it for transformers 4.46's save_pretrained) or ``"500MiB"`` (2**20)."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
        return int(size)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)\s*", size.upper()) if isinstance(size, str) else None
    if not match or float(match.group(1)) <= 0:
        raise PaddleRembertError(f"max_shard_size must be a positive number of bytes or a size such as '5GB' or "
                                 f"'500MiB', got {size!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def shards(specs, max_bytes):
    """``specs`` in groups of at most ``max_bytes``, as huggingface_hub splits a state dict: in order, a new
    group when the next tensor would tip the current one over, and a larger tensor in a group of its own
    (the current group goes on filling)."""
    groups, current, size = [], [], 0
    for spec in specs:
        nbytes = spec_nbytes(spec[1], spec[2])
        if nbytes > max_bytes:
            groups.append([spec])
            continue
        if size + nbytes > max_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(spec)
        size += nbytes
    return groups + [current] if current else groups


def write_sharded_safetensors(directory, specs, produce, max_bytes):
    """transformers' sharded layout, Paddle tensors: ``model-0000i-of-0000n.safetensors`` and the index
    ``model.safetensors.index.json``; a single shard is a plain ``model.safetensors``. Weight files of an
    earlier save that loading would prefer or that the new index does not name are removed."""
    groups = shards(specs, max_bytes)
    if len(groups) == 1:
        return write_paddle_weights(directory, specs, produce, safe_serialization=True)
    names = [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    index = os.path.join(directory, SAFETENSORS_INDEX)
    if os.path.isfile(index):  # first: a save that fails half-way must not leave an index naming old and new shards
        os.remove(index)
    for name, group in zip(names, groups):
        with atomic_open(os.path.join(directory, name), "wb") as f:
            write_safetensors(f, group, produce, {"format": "paddle"})
    total = sum(spec_nbytes(dt, shape) for _, dt, shape in specs)
    write_json(index,
               {"metadata": {"total_size": total},
                "weight_map": {key: name for name, group in zip(names, groups) for key, _, _ in group}})
    _remove_earlier_weights(directory, keep=[SAFETENSORS_INDEX, *names])
    return index


def _remove_earlier_weights(directory, keep):
    """After a safetensors save, remove what an earlier save left that loading would prefer (pdparams; a single
    ``model.safetensors`` over shards) and stale ``model-*-of-*`` shards and their index, as transformers cleans
    its own files up. A pdparams save removes nothing: loading prefers it anyway."""
    for entry in os.listdir(directory):
        if entry not in keep and (entry in (PADDLE_WEIGHTS, SAFETENSORS, SAFETENSORS_INDEX) or _SHARD.fullmatch(entry)):
            os.remove(os.path.join(directory, entry))


def write_paddle_weights(directory, specs, produce, safe_serialization=False):
    """Write Paddle-layout weights into ``directory``, one tensor at a time; returns the file written.

    ``specs`` lists ``(key, safetensors dtype, shape)`` in file order and ``produce(key)`` returns
    each numpy array when its turn comes (``save_pretrained`` reads a parameter, ``convert`` reads
    and transposes a checkpoint tensor). ``model.safetensors`` (metadata ``format: paddle``) streams
    them to disk; ``model_state.pdparams`` is a pickled dict of numpy arrays, what ``paddle.load``
    and PaddleNLP read (protocol 5 writes each array's buffer without a second copy).
    """
    if safe_serialization:
        path = os.path.join(directory, SAFETENSORS)
        with atomic_open(path, "wb") as f:
            write_safetensors(f, specs, produce, {"format": "paddle"})
        _remove_earlier_weights(directory, keep=[SAFETENSORS])
        return path
    path = os.path.join(directory, PADDLE_WEIGHTS)
    state = {key: produce(key) for key, _, _ in specs}
    with atomic_open(path, "wb") as f:
        pickle.dump(state, f, protocol=5)
    return path


def tensor_specs(state):
    """``(key, safetensors dtype, shape)`` of each Paddle tensor of a state dict."""
    return [(key, paddle_to_st_dtype(t), tuple(t.shape)) for key, t in state.items()]
