"""Helpers shared by every benchmark module: threads, timing, tables, ratios, JSON, subprocesses.

Nothing here imports a framework at module level, so a benchmark can set the thread count
before paddle or torch is imported (importing paddle sets ``OMP_NUM_THREADS=1`` when unset).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- command-line values ---------------------------------------------------------------------
class ArgumentParser(argparse.ArgumentParser):
    """The package's one-line usage error (``paddle_rembert.runtime.errors.ArgumentParser``: the message and where
    to find the usage, status 2) without importing the package, which imports Paddle: the threads come first."""

    def error(self, message):
        self.exit(2, usage_line(self.prog, message))


def usage_line(prog, message):
    return f"{prog}: error: {message} (see {prog} --help)\n"


def usage_error(prog, message):
    """Status 2 after :func:`usage_line` on stderr, for a choice made before any parser (a subcommand's name)."""
    sys.stderr.write(usage_line(prog, message))
    return 2


def count(minimum=1):
    """argparse type: an integer of at least ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer of at least {minimum}, got {text!r}")
        return value
    return parse


def counts(text):
    """argparse type: comma-separated positive integers (``--batches 1,8,32``)."""
    parts = [part for part in text.split(",") if part]
    if not parts:
        raise argparse.ArgumentTypeError(f"must list positive integers, got {text!r}")
    return [count()(part) for part in parts]


def writable_file(path):
    """argparse type: a path the report can be written to (its directories are made then), checked before a
    long run rather than at its end."""
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path} is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {path}: {parent} is not a writable directory")
    return path


def guarded(fn, prog):
    """``fn()``'s exit status; errors as the package's commands report them (``paddle_rembert.cli.error_status``,
    imported only then: a benchmark sets its threads before Paddle is imported)."""
    try:
        return fn() or 0
    except (Exception, KeyboardInterrupt) as e:
        from paddle_rembert.cli import error_status

        return error_status(e, prog)


# -- threads ----------------------------------------------------------------------------------
def cpu_count():
    """Cores this process may run on (affinity-aware)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_threads(n=None, frameworks=("paddle", "torch")):
    """Give every listed framework ``n`` CPU threads (all cores when ``None``); returns ``n``.

    ``OMP_NUM_THREADS`` is set first so that a framework imported later starts with ``n`` too;
    then each already importable framework is told explicitly. A framework that is not
    installed is skipped.
    """
    n = int(n or cpu_count())
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "paddle" in frameworks:
        try:
            import paddle_rembert.runtime.settings  # noqa: F401  (imports Paddle without its ccache warning and
            # the notice it prints because OMP_NUM_THREADS, set just above, is over 1)
            import paddle

            paddle.base.core.set_num_threads(n)
            _THREADS_SET["paddle"] = n
        except ImportError:
            pass
    if "torch" in frameworks:
        try:
            import torch

            torch.set_num_threads(n)
        except ImportError:
            pass
    return n


_THREADS_SET = {}  # paddle has no getter for its math-thread count: remember what we set


def thread_report():
    """The thread counts each loaded framework actually reports (for the output)."""
    out = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if "paddle" in sys.modules:
        out["paddle"] = _THREADS_SET.get("paddle")
    return out


# -- timing -----------------------------------------------------------------------------------
def _busy_seconds():
    """CPU seconds all processes on the machine have been busy (from /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in (fields + ["0"] * 8)[:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_seconds():
    t = os.times()
    return t.user + t.system


class LoadMonitor:
    """How many cores *other* processes kept busy between ``start()`` and ``stop()``.

    Benchmarks on a shared machine are only meaningful when this is near 0; it is reported
    next to every timing so that a disturbed run is visible.
    """

    def start(self):
        self._t, self._busy, self._own = time.perf_counter(), _busy_seconds(), _own_seconds()
        return self

    def stop(self):
        """Cores busy with other work, or None: no /proc/stat, or a window too short for its clock ticks."""
        busy = _busy_seconds()
        if busy is None or self._busy is None:
            return None
        wall = time.perf_counter() - self._t
        # /proc/stat counts 10 ms ticks per CPU, each off by up to one: a 1 ms window read 8 cores on 2
        if wall * os.sysconf("SC_CLK_TCK") < 10 * max(2, os.cpu_count() or 1):
            return None
        others = (busy - self._busy) - (_own_seconds() - self._own)
        return max(0.0, others / wall)


def other_load(seconds=1.0):
    """Cores other processes keep busy right now, sampled over ``seconds``."""
    monitor = LoadMonitor().start()
    time.sleep(seconds)
    return monitor.stop()


def wait_for_idle(max_wait, threshold=0.3, sample=2.0):
    """Wait (up to ``max_wait`` seconds) until other processes use fewer than ``threshold`` cores.

    Returns the last sampled load (None where /proc/stat is missing). On a shared machine this
    keeps a benchmark from being timed while someone else's job runs.
    """
    deadline = time.monotonic() + max_wait
    load = other_load(sample)
    while load is not None and load >= threshold and time.monotonic() < deadline:
        log(f"[bench] other processes use {load:.1f} cores; waiting for the machine to go idle ...")
        time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
        load = other_load(sample)
    return load


class Timing:
    """Wall-clock seconds of ``repeat`` calls after ``warmup`` calls."""

    def __init__(self, times, warmup, other_load=None):
        self.times = list(times)
        self.warmup = warmup
        self.other_load = other_load

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def min(self):
        return min(self.times)

    @property
    def spread(self):
        """(max - min) / median: how noisy the run was."""
        return (max(self.times) - min(self.times)) / self.median if self.median else 0.0

    def as_dict(self):
        return {"median_s": self.median, "min_s": self.min, "spread": self.spread, "warmup": self.warmup,
                "times_s": self.times, "other_load_cores": self.other_load}


def measure(fn, repeat=5, warmup=2, sync=None):
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times timed; ``sync()`` runs after each call."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    monitor = LoadMonitor().start()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return Timing(times, warmup, monitor.stop())


# -- output -----------------------------------------------------------------------------------
def padded_batch(cfg, batch, seq_len, rng):
    """A realistic padded batch as int64 numpy: lengths between half and all of ``seq_len`` (the
    first row full), two token-type segments (one where the config has one type, as RoBERTa's),
    ``pad_token_id`` with mask 0 after each sequence."""
    import numpy as np

    pad = cfg.get("pad_token_id", 0) or 0
    lengths = rng.integers(max(1, seq_len // 2), seq_len + 1, size=batch)
    lengths[0] = seq_len
    ids = rng.integers(5, cfg["vocab_size"], size=(batch, seq_len), dtype=np.int64)
    mask = np.zeros((batch, seq_len), dtype=np.int64)
    types = np.zeros((batch, seq_len), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, n:] = pad
        mask[i, :n] = 1
        types[i, n // 2:n] = 1 if cfg.get("type_vocab_size", 2) > 1 else 0
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def ratio(a, b):
    """``a / b`` or ``None`` when either is missing."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def fmt_seconds(s):
    if s is None:
        return "-"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def format_table(headers, rows):
    """Plain Markdown table (aligned, so it also reads well in a terminal)."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def package_versions(names):
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(packages=()):
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": cpu_count(),
        "packages": package_versions(packages),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_json(path, payload):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False, default=str)
    os.replace(tmp, path)


# -- subprocesses -----------------------------------------------------------------------------
def without_options(argv, names):
    """``argv`` minus the options ``names`` (``--opt VALUE`` and ``--opt=VALUE`` forms): what a parent
    benchmark strips before re-running its own command line in a child process."""
    keep, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in names:
            skip = True
        elif not a.startswith(tuple(n + "=" for n in names)):
            keep.append(a)
    return keep


def run_child(argv, result_flag="--result-file", env=None, timeout=None, cwd=REPO):
    """Run ``python argv... RESULT_FLAG tmp.json`` in a fresh process (in the repository, so that
    ``-m tools.bench.<module>`` resolves) and return the JSON it wrote.

    The child's stderr passes through (progress, warnings); a failed child raises
    ``RuntimeError`` with its exit code.
    """
    fd, path = tempfile.mkstemp(suffix=".json", prefix="bench-")
    os.close(fd)
    try:
        cmd = [sys.executable, *argv, result_flag, path]
        proc = subprocess.run(cmd, env=dict(os.environ, **(env or {})), timeout=timeout, cwd=cwd,
                              stdout=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"child exited with {proc.returncode}: {' '.join(cmd)}")
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def log(msg):
    print(msg, file=sys.stderr, flush=True)
