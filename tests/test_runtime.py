"""Process-level settings: MKL's code path on AMD, glibc's freed memory, threads, the transpose flag, and the
notices Paddle prints on import."""
import io
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_rembert.modeling.layers import transpose
from paddle_rembert.runtime.settings import StderrWithoutNotice, default_num_threads, mkl_cpu_type

AMD = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma {extra}\n"


def test_mkl_cpu_type_only_for_amd(tmp_path):
    cases = {
        AMD.format(extra="avx512f avx512dq avx512cd avx512bw avx512vl"): "7",
        AMD.format(extra="avx512f"): "5",  # AVX-512 without the Skylake-SP set: the AVX2 path
        AMD.format(extra=""): "5",
        "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2\n": None,
        "vendor_id\t: GenuineIntel\nflags\t\t: avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl\n": None,
    }
    for text, expected in cases.items():
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        assert mkl_cpu_type(str(path)) == expected, text
    assert mkl_cpu_type(str(tmp_path / "missing")) is None


def test_threads_are_split_among_ranks(monkeypatch):
    monkeypatch.delenv("PADDLE_REMBERT_THREADS", raising=False)
    cores = default_num_threads()
    assert cores >= 1 and default_num_threads(world_size=cores) == 1
    monkeypatch.setenv("PADDLE_REMBERT_THREADS", "3")
    assert default_num_threads(world_size=2) == 3


def test_contiguous_transpose_leaves_the_stride_flag_alone():
    before = paddle.get_flags(["FLAGS_use_stride_kernel"])["FLAGS_use_stride_kernel"]
    x = paddle.to_tensor(np.arange(24, dtype="float32").reshape(2, 3, 4), stop_gradient=False)
    y = transpose(x, [2, 0, 1])
    np.testing.assert_array_equal(y.numpy(), np.arange(24, dtype="float32").reshape(2, 3, 4).transpose(2, 0, 1))
    (y * paddle.arange(24, dtype="float32").reshape([4, 2, 3])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(24, dtype="float32").reshape(4, 2, 3).transpose(1, 2, 0))
    assert paddle.get_flags(["FLAGS_use_stride_kernel"])["FLAGS_use_stride_kernel"] == before


@pytest.mark.parametrize("value,expected", [(None, True), ("1", True), ("0", False)])
def test_glibc_keeps_freed_memory_unless_turned_off(value, expected):
    """On by default (Paddle's CPU outputs come from malloc: without it, every large output faults in
    fresh pages); PADDLE_REMBERT_MALLOC_TUNING=0 leaves glibc alone."""
    env = {k: v for k, v in os.environ.items() if k != "PADDLE_REMBERT_MALLOC_TUNING"}
    if value is not None:
        env["PADDLE_REMBERT_MALLOC_TUNING"] = value
    code = "from paddle_rembert.runtime.settings import tune_cpu; print(tune_cpu().get('malloc', False))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(expected)


def test_importing_the_package_hides_paddles_thread_notice():
    """Paddle prints a two-line notice on import whenever OMP_NUM_THREADS > 1 (our benchmark tools set it
    before importing Paddle); importing the package first imports Paddle without it."""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    plain = subprocess.run([sys.executable, "-c", "import paddle"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert "OMP_NUM_THREADS set to 2" in plain.stderr  # what Paddle alone prints
    ours = subprocess.run([sys.executable, "-c", "import paddle_rembert, paddle; print(paddle.__version__)"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert ours.returncode == 0 and ours.stdout.strip() == paddle.__version__, ours.stderr
    assert "OMP_NUM_THREADS" not in ours.stderr and "ccache" not in ours.stderr, ours.stderr


def test_only_the_thread_notice_is_dropped_and_only_while_active():
    out = io.StringIO()
    quiet = StderrWithoutNotice(out)
    print("WARNING: OMP_NUM_THREADS set to 4, not 1. The computation speed will not be optimized.", file=quiet)
    print("PLEASE USE OMP_NUM_THREADS WISELY.", file=quiet)
    print("something else Paddle printed", file=quiet)
    print("  WARNING: OMP_NUM_THREADS set to 4 (not at the start of a line)", file=quiet)
    print("", file=quiet)  # an empty line not after the notice is kept
    assert out.getvalue() == ("something else Paddle printed\n"
                              "  WARNING: OMP_NUM_THREADS set to 4 (not at the start of a line)\n\n")
    assert quiet.getvalue() == out.getvalue()  # anything else is the stream's
    quiet.active = False  # after the import: a logger Paddle made meanwhile still writes through it
    print("PLEASE USE OMP_NUM_THREADS WISELY.", file=quiet)
    assert out.getvalue().endswith("\nPLEASE USE OMP_NUM_THREADS WISELY.\n")


def test_paddles_loggers_still_reach_stderr():
    """Paddle creates logging handlers on sys.stderr while it is imported; they must not end up writing into
    something that swallows them."""
    code = ("import logging, paddle_rembert\n"
            "logging.getLogger('paddle.base.io').warning('still here')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "still here" in done.stderr, done.stderr


def test_entry_points_drop_only_the_quantizers_info_records(monkeypatch):
    """onnxruntime's quantizer logs each skipped tensor at INFO on the root logger; the CLI hides those and
    nothing else (its warnings, and other libraries' INFO records, still pass)."""
    import logging

    from paddle_rembert.runtime import settings

    root = logging.getLogger()
    monkeypatch.setattr(root, "filters", list(root.filters))  # restored after the test
    settings.quiet_third_party()
    settings.quiet_third_party()  # idempotent
    assert sum(isinstance(f, settings._QuietQuantizer) for f in root.filters) == 1
    quantizer = os.path.join(os.sep, "venv", "onnxruntime", "quantization", "matmul.py")

    def passes(level, path):
        return bool(root.filter(logging.LogRecord("root", level, path, 36, "Ignore MatMul", None, None)))

    assert not passes(logging.INFO, quantizer)
    assert passes(logging.WARNING, quantizer)
    assert passes(logging.INFO, os.path.join(os.sep, "venv", "paddle2onnx", "convert.py"))
