"""The little the trainer needs from ``paddle.distributed``: who am I, gather, and no-sync.

Runs the same under ``python -m paddle.distributed.launch --nproc_per_node N`` (gloo on CPU,
nccl on GPU) and under plain ``python`` (world size 1, no collectives at all).
"""
import contextlib
import sys
from dataclasses import dataclass

import numpy as np
import paddle
import paddle.distributed as dist



@dataclass
class Env:
    rank: int
    world_size: int
    device: str

    @property
    def is_main(self):
        return self.rank == 0


def init(device=None):
    """Select the device and, when launched with several processes, join the process group."""
    from ..runtime.settings import require_cuda

    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if device is None:
        device = "gpu" if has_gpu else "cpu"
    if device == "gpu":
        require_cuda("--device gpu")
    world_size = dist.get_world_size()
    paddle.set_device(f"gpu:{dist.ParallelEnv().device_id}" if device == "gpu" and world_size > 1 else device)
    if world_size > 1:
        _init_parallel_env_quietly()
    return Env(rank=dist.get_rank(), world_size=world_size, device=device)


def _init_parallel_env_quietly():
    """``init_parallel_env`` without its "Modified FLAGS detected" banner on every rank's stderr.

    Paddle writes it straight to ``sys.stderr`` when any flag differs from its default (the
    launcher sets some); it is logged at debug level instead. Runs once, at start-up, before
    the trainer starts any thread.
    """
    import io
    import logging

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            dist.init_parallel_env()
    except BaseException:
        sys.stderr.write(captured.getvalue())
        raise
    if captured.getvalue().strip():
        logging.getLogger("paddle_rembert.trainer").debug("paddle.distributed: %s", captured.getvalue().strip())


def wrap(model, env):
    return paddle.DataParallel(model) if env.world_size > 1 else model


def no_sync(model, skip):
    """Skip the gradient all-reduce of this backward (a non-final micro-step of accumulation)."""
    if skip and isinstance(model, paddle.DataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def gather_rows(array, env):
    """All-gather a numpy array whose first axis differs per rank; returns the per-rank arrays.

    Every rank sends the same number of rows (padded to the largest shard), as collectives
    require; the caller drops the padding with ``data.merge_shards``.
    """
    if env.world_size == 1:
        return [array]
    counts = []
    dist.all_gather(counts, paddle.to_tensor(np.array([len(array)], dtype=np.int64)))
    rows = int(max(int(c.numpy()[0]) for c in counts))
    padded = np.zeros((rows,) + array.shape[1:], dtype=array.dtype)
    padded[: len(array)] = array
    parts = []
    dist.all_gather(parts, paddle.to_tensor(padded))
    return [p.numpy() for p in parts]


def gather_objects(obj, env):
    if env.world_size == 1:
        return [obj]
    out = []
    dist.all_gather_object(out, obj)
    return out


def barrier(env):
    if env.world_size > 1:
        dist.barrier()
