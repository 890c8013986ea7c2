"""Process-level settings: CPU threads, logging, the GPU check, and the noise our entry points hide.

Importing paddle sets ``OMP_NUM_THREADS=1`` when it is unset, which leaves all but one core idle.
Entry points call :func:`set_num_threads` deliberately instead.

:func:`tune_cpu` runs when the package is imported (``PADDLE_REMBERT_CPU_TUNING=0`` skips it).
"""
import contextlib
import ctypes
import functools
import logging
import logging.handlers
import os
import sys
import warnings

# Printed by Paddle's import whenever OMP_NUM_THREADS > 1, which our entry points set on purpose (the
# benchmark tools before importing Paddle); it warns about data parallelism and OpenBLAS, neither ours.
_PADDLE_THREAD_NOTICE = ("WARNING: OMP_NUM_THREADS set to ", "PLEASE USE OMP_NUM_THREADS WISELY.")


class StderrWithoutNotice:
    """Stands in for ``sys.stderr`` while Paddle is imported. Everything written passes straight on to
    ``stream``, except the lines of Paddle's OMP_NUM_THREADS notice (each a ``print``: its text, then
    ``"\\n"``). Paddle's loggers, created during the import, keep this object as their stream, so after
    the import (``active = False``) it passes on everything."""

    def __init__(self, stream):
        self.stream, self.active, self._dropped_line = stream, True, False

    def write(self, text):
        if self.active:
            if text.startswith(_PADDLE_THREAD_NOTICE):
                self._dropped_line = True
                return len(text)
            if self._dropped_line and text == "\n":
                self._dropped_line = False
                return len(text)
            self._dropped_line = False
        return self.stream.write(text)

    def __getattr__(self, name):  # flush, fileno, isatty, encoding, ...
        return getattr(self.stream, name)


def _import_paddle():
    """Import Paddle once, without two notices that would reach every command: the warning that ccache
    is missing (ccache only speeds up compiling custom operators; ours are built once and cached), and
    the OMP_NUM_THREADS notice above."""
    stderr = sys.stderr
    quiet = None if stderr is None else StderrWithoutNotice(stderr)  # None: no console (pythonw)
    if quiet is not None:
        sys.stderr = quiet
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
            import paddle  # noqa: F401
    finally:
        if quiet is not None:
            quiet.active = False
            if sys.stderr is quiet:
                sys.stderr = stderr


_import_paddle()
import paddle  # noqa: E402  (already imported, quietly)

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
    * glibc keeps freed memory (see :func:`_keep_freed_memory`; ``PADDLE_REMBERT_MALLOC_TUNING=0``
      turns it off). Paddle's CPU allocator takes every output from malloc, so without it large
      outputs fault in fresh pages on every op: BERT-base's bf16 forward at batch 32 took 1.50x as
      long (attention scores 14.3 ms per layer instead of 3.1 ms). The heap then stays at its peak
      size, as PyTorch's caching allocator does.
    """
    if os.environ.get("PADDLE_REMBERT_CPU_TUNING", "1") == "0":
        return {}
    done = {}
    cpu_type = mkl_cpu_type()
    if cpu_type and "MKL_DEBUG_CPU_TYPE" not in os.environ:
        os.environ["MKL_DEBUG_CPU_TYPE"] = done["MKL_DEBUG_CPU_TYPE"] = cpu_type
    if os.environ.get("PADDLE_REMBERT_MALLOC_TUNING", "1") != "0" and sys.platform.startswith("linux"):
        done["malloc"] = _keep_freed_memory()
    return done


def _keep_freed_memory(mmap_threshold=32 << 20):
    """glibc: serve blocks up to 32 MiB (glibc's largest mmap threshold) from the heap and never trim it,
    so that an op's output buffer reuses freed memory instead of faulting in fresh pages (up to 20x on
    elementwise ops). Set once at import; nothing is toggled around calls."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1
        return bool(libc.mallopt(-3, mmap_threshold)) and bool(libc.mallopt(-1, 2**31 - 1))
    except OSError:
        return False


def max_threads():
    """4x the cores: OpenMP aborts the process when it cannot start a huge team, and more only contend."""
    return 4 * (os.cpu_count() or 1)


def check_threads(n, what="--threads"):
    """``n`` if it is an integer from 1 to :func:`max_threads`, None for None; else a PaddleRembertError."""
    from .errors import PaddleRembertError

    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise PaddleRembertError(f"{what} must be a positive integer, got {n!r}")
    if n > max_threads():
        raise PaddleRembertError(f"{what} must be at most {max_threads()} (4x this machine's {os.cpu_count()} "
                                 f"cores), got {n}")
    return n


def default_num_threads(world_size=1):
    """``PADDLE_REMBERT_THREADS`` if set, else the cores this process may use, split among ranks."""
    env = os.environ.get("PADDLE_REMBERT_THREADS")
    if env:
        from .errors import PaddleRembertError

        try:
            value = int(env)
        except ValueError:
            raise PaddleRembertError(f"PADDLE_REMBERT_THREADS must be a positive integer, got {env!r}") from None
        return check_threads(value, "PADDLE_REMBERT_THREADS")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, world_size))


def set_num_threads(n=None, world_size=1):
    """Set Paddle's CPU math threads (oneDNN/MKL/OpenMP); returns the number set.

    MKL's count is the process's, but OpenMP's (oneDNN's) is the calling thread's: see
    :func:`use_threads_in_this_thread` for code that runs in other threads."""
    n = check_threads(n) or default_num_threads(world_size)
    paddle.base.core.set_num_threads(n)
    return n


@functools.lru_cache(maxsize=None)
def _openmp_runtime():
    """The OpenMP runtime Paddle's kernels run on (the wheel's ``libiomp5``, already loaded), or None where
    the wheel has none (then nothing else is guessed at: another runtime would be another library's)."""
    path = os.path.join(os.path.dirname(paddle.__file__), "libs", "libiomp5.so")
    if not os.path.isfile(path):
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.omp_set_num_threads.argtypes, lib.omp_get_max_threads.restype = [ctypes.c_int], ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


def use_threads_in_this_thread(n):
    """Give oneDNN and OpenMP ``n`` threads when the calling thread runs them (where Paddle ships libiomp5).

    ``omp_set_num_threads`` sets the calling thread's count only, so a server thread that did not make an
    engine would run its kernels with ``OMP_NUM_THREADS`` (1, as importing Paddle sets it; MiniLM's int8 forward
    took 1.5x the time on two cores). This sets the calling thread's own count (nothing process-wide) when it
    differs."""
    lib = _openmp_runtime()
    if lib is not None and lib.omp_get_max_threads() != n:
        lib.omp_set_num_threads(n)


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record is emitted, not as it was when the handler was made
    (a test harness or a caller that swaps stderr would otherwise leave it writing to a closed stream)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ / setStream assign it; the current stderr always wins
        pass


def setup_logging(level=logging.INFO, log_file=None):
    handlers = [_StderrHandler()]
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


@contextlib.contextmanager
def held_log_records(name="paddle_rembert"):
    """Hold the records of logger ``name`` and its children instead of emitting them; yields their list for
    :func:`replay_log_records` once logging is set up (the trainer reads its inputs before it may create its
    log file). If the block raises, they are emitted at once, through the handlers the logger had."""
    root = logging.getLogger(name)
    hold = logging.handlers.BufferingHandler(capacity=sys.maxsize)  # never full: it only keeps them
    records, saved = hold.buffer, (root.handlers[:], root.propagate)
    root.handlers, root.propagate = [hold], False
    try:
        yield records
    except BaseException:
        root.handlers, root.propagate = saved
        replay_log_records(records)
        raise
    root.handlers, root.propagate = saved


def replay_log_records(records):
    for record in records:
        logging.getLogger(record.name).handle(record)


def require_cuda(what):
    """Raise a clear PaddleRembertError when this Paddle wheel has no CUDA (the CPU wheel) or sees no GPU."""
    from .errors import PaddleRembertError

    if not paddle.device.is_compiled_with_cuda():
        raise PaddleRembertError(f"{what} needs a CUDA build of PaddlePaddle, and this one ({paddle.__version__}) is "
                                 f"CPU-only: install the GPU wheel (README.md, 'GPU'), e.g. make install "
                                 f"PADDLE=paddlepaddle-gpu==3.3.1 "
                                 f"PADDLE_INDEX=https://www.paddlepaddle.org.cn/packages/stable/cu126/")
    if paddle.device.cuda.device_count() < 1:
        raise PaddleRembertError(f"{what}: this PaddlePaddle has CUDA but sees no GPU (check the driver and "
                                 f"CUDA_VISIBLE_DEVICES)")


# Library messages our entry points hide: (category, message regex). Each is noise for a user of the
# command line; a library user importing paddle_rembert keeps them (quiet_third_party is never called).
_QUIET_WARNINGS = (
    (UserWarning, r"Tensor do not have 'place' interface for pir graph mode"),  # paddle.jit.to_static (export)
    # torch.load(weights_only=True) on an old-format pickle (SpanBERT's .bin), which the reader reports itself
    (UserWarning, r"Detected pickle protocol \d+ in the checkpoint"),
)


class _QuietQuantizer(logging.Filter):
    """onnxruntime's quantizer logs every tensor and MatMul it skips at INFO on the root logger (nine lines for a
    one-layer model, hundreds for a real one): ``export --quantize int8`` reports what it wrote instead."""

    _PATH = os.path.join("onnxruntime", "quantization", "")

    def filter(self, record):
        return record.levelno > logging.INFO or self._PATH not in record.pathname


def quiet_third_party():
    """Entry points only (the CLI, tools/train.py, the example): hide library noise that is not the user's concern.

    Adds targeted ``warnings`` filters (see ``_QUIET_WARNINGS``) and drops onnxruntime's quantizer INFO records
    (:class:`_QuietQuantizer`); nothing else changes.
    """
    for category, message in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    root = logging.getLogger()
    if not any(isinstance(f, _QuietQuantizer) for f in root.filters):
        root.addFilter(_QuietQuantizer())
