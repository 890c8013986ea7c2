"""Atomic file and directory writes: nothing this project writes is ever left half-written.

Every writer goes to a temporary name beside its destination and is renamed into place only
after it has been written completely, so a crash (or SIGKILL) leaves either the old content or
the new one, never a mix.
"""
import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_dir(dst, overwrite=True):
    """Yield a temporary directory that replaces ``dst`` when the block ends without error."""
    dst = os.path.abspath(dst)
    parent = os.path.dirname(dst)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.tmp-", dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like a plain mkdir
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(tmp)
    if os.path.exists(dst):
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(dst)
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.old-", dir=parent)
        os.rmdir(old)
        os.rename(dst, old)
        os.rename(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, dst)
    _fsync_dir(parent)


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding=None):
    """Open a temporary file beside ``path``; it is renamed onto ``path`` on success."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=os.path.dirname(path))
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should look like a plain open()
    if encoding is None and "b" not in mode:
        encoding = "utf-8"
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path, obj, indent=2, sort_keys=False):
    """Write ``obj`` as UTF-8 JSON atomically."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
        f.write("\n")


def read_json(path, what="JSON file"):
    """Read a JSON file, turning a missing or malformed file into a clear PaddleRembertError."""
    from .errors import PaddleRembertError

    if not os.path.isfile(path):
        raise PaddleRembertError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise PaddleRembertError(f"{what} {path} is not valid JSON: {e}") from None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
