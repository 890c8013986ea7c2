"""Suite-wide settings: both cores for Paddle and torch, quiet third-party loggers."""
import logging
import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import paddle  # noqa: E402

from paddle_rembert.runtime.settings import set_num_threads  # noqa: E402

set_num_threads()
try:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
except ImportError:  # pragma: no cover - torch is in the test extra
    pass
logging.getLogger("transformers").setLevel(logging.ERROR)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")


@pytest.fixture(autouse=True)
def _eager_mode():
    paddle.disable_static()
    yield


def run_cli(*args, env=None, timeout=600):
    """Run ``python -m paddle_rembert ARGS`` in a fresh process; returns CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "paddle_rembert", *args], capture_output=True, text=True,
                          cwd=REPO, env=full_env, timeout=timeout)
