"""Process-level settings: CPU threads and logging.

Importing paddle sets ``OMP_NUM_THREADS=1`` when it is unset, which leaves all but one core idle.
Entry points call :func:`set_num_threads` deliberately instead.

:func:`tune_cpu` runs when the package is imported (``PADDLE_REMBERT_CPU_TUNING=0`` skips it).
"""
import ctypes
import logging
import os
import sys

import paddle

_SKX_FLAGS = {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"}


def mkl_cpu_type(cpuinfo="/proc/cpuinfo"):
    """The ``MKL_DEBUG_CPU_TYPE`` an AMD CPU needs, or None (Intel, unknown, not Linux).

    paddlepaddle's CPU wheels bundle MKL 2019 (libmklml_intel), which runs a generic code path
    on every non-Intel CPU: fp32 GEMM at ~45 GFLOP/s per core on an AVX-512 EPYC, where its
    AVX-512 path does ~180. MKL 2019 honours ``MKL_DEBUG_CPU_TYPE``: 7 = AVX-512 (Skylake-SP
    path: needs AVX-512 F/DQ/CD/BW/VL, i.e. Zen 4 and later), 5 = AVX2 (Zen 1-3).
    """
    try:
        with open(cpuinfo) as f:
            info = f.read()
    except OSError:
        return None
    if "AuthenticAMD" not in info:
        return None
    flags = set()
    for line in info.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if _SKX_FLAGS <= flags:
        return "7"
    if {"avx2", "fma"} <= flags:
        return "5"
    return None


def tune_cpu():
    """Process-wide CPU settings that make Paddle's kernels fast; returns what was set.

    * ``MKL_DEBUG_CPU_TYPE`` on AMD CPUs (see :func:`mkl_cpu_type`): 2.5-4x faster GEMMs.
      MKL reads it at its first call, so this must run before any matmul; a value already in
      the environment is left alone.
    * with ``PADDLE_REMBERT_MALLOC_TUNING=1`` only: glibc keeps freed memory (see
      :func:`_keep_freed_memory`); 1-3% on ALBERT-base, so off by default.
    """
    if os.environ.get("PADDLE_REMBERT_CPU_TUNING", "1") == "0":
        return {}
    done = {}
    cpu_type = mkl_cpu_type()
    if cpu_type and "MKL_DEBUG_CPU_TYPE" not in os.environ:
        os.environ["MKL_DEBUG_CPU_TYPE"] = done["MKL_DEBUG_CPU_TYPE"] = cpu_type
    if os.environ.get("PADDLE_REMBERT_MALLOC_TUNING", "0") == "1" and sys.platform.startswith("linux"):
        done["malloc"] = _keep_freed_memory()
    return done


def _keep_freed_memory(mmap_threshold=32 << 20):
    """glibc: serve blocks up to 32 MiB from the heap and never trim it, so that an op's output
    buffer reuses freed memory instead of faulting in fresh pages (up to 20x on elementwise ops)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1
        return bool(libc.mallopt(-3, mmap_threshold)) and bool(libc.mallopt(-1, 2**31 - 1))
    except OSError:
        return False


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
