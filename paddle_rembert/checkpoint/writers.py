"""Write Paddle-layout weights: ``model_state.pdparams`` (default) or ``model.safetensors``."""
import os
import pickle

import numpy as np

from ..runtime.files import atomic_open
from .readers import PADDLE_WEIGHTS, SAFETENSORS
from .safetensors import numpy_to_st_dtype, write_safetensors


def _to_numpy(value):
    return value if isinstance(value, np.ndarray) else value.numpy()


def write_paddle_weights(directory, items, safe_serialization=False):
    """``items``: iterable of (key, paddle Tensor or numpy array). Returns the file written.

    ``.pdparams`` is a pickled dict of numpy arrays, what ``paddle.load`` and PaddleNLP read;
    protocol 5 writes each array's buffer directly, without a second copy in memory.
    """
    if safe_serialization:
        arrays = [(k, _to_numpy(v)) for k, v in items]
        lookup = dict(arrays)
        path = os.path.join(directory, SAFETENSORS)
        specs = [(k, numpy_to_st_dtype(a), a.shape) for k, a in arrays]
        with atomic_open(path, "wb") as f:
            write_safetensors(f, specs, lookup.__getitem__, {"format": "paddle"})
        return path
    path = os.path.join(directory, PADDLE_WEIGHTS)
    state = {k: _to_numpy(v) for k, v in items}
    with atomic_open(path, "wb") as f:
        pickle.dump(state, f, protocol=5)
    return path
