"""Write Paddle-layout weights: ``model_state.pdparams`` (default) or ``model.safetensors``."""
import os
import pickle

from ..runtime.files import atomic_open
from .readers import PADDLE_WEIGHTS, SAFETENSORS
from .safetensors import paddle_to_st_dtype, write_safetensors


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
        stale = os.path.join(directory, PADDLE_WEIGHTS)
        if os.path.isfile(stale):  # an earlier save's; loading prefers it, so it would shadow these weights
            os.remove(stale)
        return path
    path = os.path.join(directory, PADDLE_WEIGHTS)
    state = {key: produce(key) for key, _, _ in specs}
    with atomic_open(path, "wb") as f:
        pickle.dump(state, f, protocol=5)
    return path


def tensor_specs(state):
    """``(key, safetensors dtype, shape)`` of each Paddle tensor of a state dict."""
    return [(key, paddle_to_st_dtype(t), tuple(t.shape)) for key, t in state.items()]
