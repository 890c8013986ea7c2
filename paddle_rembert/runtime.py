"""Process-level settings: CPU threads and logging.

Importing paddle sets ``OMP_NUM_THREADS=1`` when it is unset, which leaves all but one core idle.
Entry points call :func:`set_num_threads` deliberately instead.
"""
import logging
import os

import paddle


def default_num_threads(world_size=1):
    """``PADDLE_REMBERT_THREADS`` if set, else the cores this process may use, split among ranks."""
    env = os.environ.get("PADDLE_REMBERT_THREADS")
    if env:
        return max(1, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, world_size))


def set_num_threads(n=None, world_size=1):
    """Set Paddle's CPU math threads (oneDNN/MKL/OpenMP); returns the number set."""
    n = n or default_num_threads(world_size)
    paddle.base.core.set_num_threads(n)
    return n


def setup_logging(level=logging.INFO, log_file=None):
    handlers = [logging.StreamHandler()]
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    root = logging.getLogger("paddle_rembert")
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.propagate = False
    return root
