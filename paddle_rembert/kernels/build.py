"""Build, cache and load the package's CPU operators (``csrc/``), once per machine.

The operators (bf16 GEMMs, and fp32 softmax, gelu, LayerNorm and dropout) are compiled with
``paddle.utils.cpp_extension`` against the oneDNN and the OpenMP runtime inside the Paddle wheel
(``paddle/libs/libdnnl.so.3``, ``libiomp5.so``): 12 s on an idle 2-core machine, 30-60 s on a busy
one. The library is cached under ``$PADDLE_REMBERT_CACHE`` or ``~/.cache/paddle_rembert`` by a tag
of the sources, the Paddle build and the Python version, so a stale build is never loaded.

No compiler, a failed build or ``PADDLE_REMBERT_KERNELS=0`` gives one warning (none for the
variable) and Paddle's own kernels everywhere: the operators only make things faster. A failed
build is recorded (``<tag>.failed``) so later processes do not try again until it is deleted.
"""
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import paddle

from ..runtime.files import atomic_open

logger = logging.getLogger("paddle_rembert")

CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
SOURCES = ("matmul.cc", "ops.cc", "amx.cc", "amx_attention.cc", "int8.cc")
HEADERS = ("dnnl_util.h", "dnnl_min.h", "amx_util.h")
_LOCK = threading.Lock()
_STATE = {}  # "ok": bool once decided; "error": why not


def cache_dir():
    root = os.environ.get("PADDLE_REMBERT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle_rembert")
    return os.path.join(root, "kernels")


def build_tag():
    """Changes whenever the sources, Paddle or the Python ABI change, so a stale build is never loaded."""
    h = hashlib.sha256()
    for name in SOURCES + HEADERS:
        with open(os.path.join(CSRC, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    h.update(f"{paddle.__version__}|{paddle.version.commit}|{sys.version_info[:2]}|{sys.platform}".encode())
    return "pr_kernels_" + h.hexdigest()[:16]


def _paddle_libs():
    return os.path.join(os.path.dirname(paddle.__file__), "libs")


def _build_error(output, returncode):
    """The line of a failed build's output that says why: the compiler's first ``error:``, else the child's
    exception (the last line of its traceback, e.g. no ``g++`` on the PATH)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line.lower() and not line.startswith(("raise ", "File ")):
            return line
    tail = [line for line in lines if not line.startswith(("File ", "raise ", "^"))]
    return tail[-1] if tail else f"exit status {returncode}"


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _compile(name, out_path):
    """Build the operators in a child process (Paddle's builder logs every compiler line; the child's output
    is kept for the error) and move the shared library to ``out_path`` atomically, with its digest beside it
    (``<tag>.sha256``, checked before every load: a truncated library would crash the process loading it).

    ``-fopenmp`` compiles the dropout loops against the GOMP ABI, which the wheel's ``libiomp5`` provides:
    linking it (not GCC's libgomp) keeps one OpenMP runtime, and one thread count, in the process.
    """
    libs = _paddle_libs()
    work = tempfile.mkdtemp(prefix=".build-", dir=os.path.dirname(out_path))
    options = dict(name=name, sources=[os.path.join(CSRC, s) for s in SOURCES], extra_include_paths=[CSRC],
                   extra_cxx_cflags=["-O3", "-fopenmp"],
                   extra_ldflags=[f"-L{libs}", "-l:libdnnl.so.3", "-l:libiomp5.so", f"-Wl,-rpath,{libs}"],
                   build_directory=work, verbose=False)
    code = "import sys, json\nfrom paddle.utils.cpp_extension import load\nload(**json.loads(sys.argv[1]))\n"
    try:
        done = subprocess.run([sys.executable, "-c", code, json.dumps(options)], capture_output=True, text=True,
                              timeout=1800)
        built = os.path.join(work, name, name + ".so")
        if done.returncode != 0 or not os.path.exists(built):
            raise RuntimeError("building them failed: " + _build_error(done.stderr + done.stdout, done.returncode))
        with open(built, "rb") as src, atomic_open(out_path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        with atomic_open(_digest_path(out_path)) as f:
            f.write(_digest(out_path) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _digest_path(so):
    return so[:-len(".so")] + ".sha256"


def _intact(so):
    """Whether ``so`` is the library a build wrote (its digest matches the one recorded beside it)."""
    try:
        with open(_digest_path(so)) as f:
            return f.read().strip() == _digest(so)
    except OSError:
        return False


def _load():
    """Register the custom operators, building them first if the cache holds no intact build (a file lock
    keeps concurrent processes from building at once; an intact build loads without it, so a read-only
    cache of built kernels works)."""
    import fcntl

    from paddle.utils.cpp_extension import load_op_meta_info_and_register_op

    for lib in ("libdnnl.so.3", "libiomp5.so"):
        if not os.path.exists(os.path.join(_paddle_libs(), lib)):
            raise RuntimeError(f"this Paddle wheel ships no {lib} (paddle/libs/)")
    name = build_tag()
    d = cache_dir()
    so = os.path.join(d, name + ".so")
    if not _intact(so):
        os.makedirs(d, exist_ok=True)
        failed = os.path.join(d, name + ".failed")
        if os.path.exists(failed):  # do not spend a build on every process start
            with open(failed, encoding="utf-8", errors="replace") as f:
                raise RuntimeError(f"{f.read().strip()} (delete {failed} to try again)")
        with open(os.path.join(d, name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not _intact(so):  # another process may have built it while this one waited
                    logger.info("building the CPU kernels (once per machine, 15-60 s) into %s", d)
                    try:
                        _compile(name, so)
                    except RuntimeError as e:
                        with atomic_open(failed) as f:
                            f.write(str(e))
                        raise RuntimeError(f"{e} (delete {failed} to try again)") from None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    load_op_meta_info_and_register_op(so)


def decide_once(state, lock, decide):
    """``state["ok"]``, set by ``decide()`` on the first call only (under ``lock``; later calls take no lock)."""
    ok = state.get("ok")
    if ok is not None:
        return ok
    with lock:
        if "ok" not in state:
            decide()
        return state["ok"]


def _decide():
    if os.environ.get("PADDLE_REMBERT_KERNELS", "1") == "0":
        _STATE.update(ok=False, error="PADDLE_REMBERT_KERNELS=0")
        return
    try:
        _load()
        _STATE["ok"] = True
    except Exception as e:  # a failed build must not break anything: Paddle's kernels remain
        _STATE["error"] = (str(e) if isinstance(e, RuntimeError) else f"{type(e).__name__}: {e}").strip()
        _STATE["error"] = _STATE["error"].splitlines()[0][:400]
        logger.warning("the package's CPU kernels are unavailable: %s; using Paddle's kernels, and fp32 GEMMs "
                       "where bf16 is asked", _STATE["error"])
        _STATE["ok"] = False


def available():
    """Whether the operators can be used; the first call decides (and builds them if needed)."""
    return decide_once(_STATE, _LOCK, _decide)


def unavailable_reason():
    return _STATE.get("error")


def failed():
    """Whether the operators were wanted but could not be built or loaded (that has been warned about)."""
    return _STATE.get("ok") is False and _STATE.get("error") != "PADDLE_REMBERT_KERNELS=0"


def run(op, *args):
    """Run custom operator ``op`` (dygraph); returns its list of outputs."""
    return paddle._C_ops._run_custom_op(op, *args)


def main():
    """Build (or find) the operators now, as ``make install`` does."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if available():
        print(f"paddle_rembert CPU kernels ready in {cache_dir()}")
    else:
        print(f"paddle_rembert CPU kernels unavailable ({unavailable_reason()}); Paddle's kernels will be used")
