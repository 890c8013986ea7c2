"""Atomic file and directory writes: nothing this project writes is ever left half-written.

Every writer goes to a temporary name beside its destination and is renamed into place only
after it has been written completely, so a crash (or SIGKILL) leaves either the old content or
the new one, never a mix.

Temporary names carry the writer's pid and host (``.NAME.tmp-<pid>.<host>-XXXX``), so the next
write into the same folder removes what a killed writer left there (a full RemBERT is several
GB) without touching the files of a writer that is still running.
"""
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile


def _read_umask():
    """The process umask: from /proc on Linux, else by setting and restoring it (once, at import)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: setting the umask to read it is a process-wide race between threads
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


# What `paddle-rembert convert` (and a trainer's best/, a checkpoint-N/) writes: a model directory
# of these files and nothing else (no subfolder, no hidden file).
_MODEL_DIR_FILE = re.compile(r"config\.json|generation_config\.json|selection\.json|.+\.pdparams|.+\.safetensors"
                             r"|.+\.bin|.+\.index\.json|tokenizer(_config)?\.json|special_tokens_map\.json"
                             r"|added_tokens\.json|[^.].*\.model|vocab\.(txt|json)|merges\.txt")
_WEIGHTS_FILE = re.compile(r".+\.(pdparams|safetensors|bin)")


def is_model_output(path):
    """Whether ``path`` looks like a model directory this tool wrote (the rule ``--overwrite`` trusts).

    ``config.json``, at least one weights file (``*.pdparams``, ``*.safetensors``, ``*.bin``), and
    otherwise only tokenizer files: no subdirectory, no hidden entry, no other file.
    """
    try:
        entries = list(os.scandir(path))
    except OSError:
        return False
    names = set()
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False) \
                or not _MODEL_DIR_FILE.fullmatch(entry.name):
            return False
        names.add(entry.name)
    return "config.json" in names and any(_WEIGHTS_FILE.fullmatch(n) for n in names)


def _contains(outer, inner):
    outer, inner = os.path.realpath(outer), os.path.realpath(inner)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def check_destination(dst, sources=(), overwrite=False, replaceable=is_model_output, what="destination",
                      rule="a model directory written by paddle-rembert"):
    """Refuse a destination that would destroy something: raise PaddleRembertError, or return.

    * ``dst`` equal to, or an ancestor of, any of ``sources`` (symlinks resolved): writing it
      would delete its own input;
    * ``dst`` exists and is not a directory;
    * ``dst`` is a non-empty directory and ``overwrite`` is false, or it is not ``replaceable(dst)``
      (a previous output of this tool, described by ``rule``): ``--overwrite`` never deletes a
      directory it did not write.
    """
    from .errors import PaddleRembertError

    for src in sources:
        if src and os.path.exists(src) and _contains(dst, src):
            same = os.path.realpath(dst) == os.path.realpath(src)
            raise PaddleRembertError(f"{what} {dst} {'is' if same else 'contains'} the source {src}; "
                                     f"writing it would delete the source: choose another {what}")
    if os.path.lexists(dst) and not os.path.isdir(dst):
        raise PaddleRembertError(f"{what} {dst} exists and is not a directory")
    if not os.path.isdir(dst):
        return
    try:
        empty = not os.listdir(dst)
    except OSError as e:
        raise PaddleRembertError(f"cannot read {what} {dst}: {e.strerror}") from None
    if empty:
        return
    if not overwrite:
        raise PaddleRembertError(f"{what} {dst} is not empty; pass --overwrite to replace it")
    if replaceable is not None and not replaceable(dst):
        raise PaddleRembertError(f"{what} {dst} is not {rule}; --overwrite replaces only such a directory: "
                                 f"remove it yourself or choose another {what}")


@contextlib.contextmanager
def atomic_dir(dst, overwrite=True):
    """Yield a temporary directory that replaces ``dst`` when the block ends without error.

    A ``dst`` that is a symbolic link to a directory is written where it points (the link is kept), as
    writing into it would: replacing the link itself would leave the output beside the link and the
    old output where the link pointed.
    """
    dst = os.path.abspath(dst)  # also drops a trailing slash, after which islink would see the target
    dst = os.path.realpath(dst) if os.path.islink(dst) else dst
    parent = os.path.dirname(dst)
    _make_parent(parent)
    remove_stale_temporaries(dst)
    tmp = _named(tempfile.mkdtemp, dst, prefix=_temp_prefix(dst, "tmp"), dir=parent)
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; the result should look like a plain mkdir
    try:
        yield tmp
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_named(e, dst, tmp)
        raise
    _fsync_dir(tmp)
    if os.path.exists(dst):
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(dst)
        old = tempfile.mkdtemp(prefix=_temp_prefix(dst, "old"), dir=parent)
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
    _make_parent(os.path.dirname(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    remove_stale_temporaries(path)
    fd, tmp = _named(tempfile.mkstemp, path, prefix=_temp_prefix(path, "tmp"), dir=os.path.dirname(path))
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the result should look like a plain open()
    if encoding is None and "b" not in mode:
        encoding = "utf-8"
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _raise_named(e, path)
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
    except UnicodeDecodeError as e:
        raise PaddleRembertError(f"{what} {path} is not UTF-8 text (byte {e.start}: {e.reason}); "
                                 f"JSON files must be saved as UTF-8") from None
    except RecursionError:
        raise PaddleRembertError(f"{what} {path} is nested too deeply to read") from None


def _make_parent(parent):
    """``os.makedirs(parent)``; a file in the way is named as such (makedirs says "File exists")."""
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = parent
        while blocker and not os.path.exists(blocker):
            blocker = os.path.dirname(blocker)
        raise NotADirectoryError(errno.ENOTDIR, "a file is where a directory should be", blocker) from None


def _raise_named(error, path, temporary=None):
    """An OSError that names no file (a full disk fails a write with ENOSPC and no name) gets ``path``; one that
    names a file inside ``temporary`` (the directory that becomes ``path``) names it where it was going."""
    if not isinstance(error, OSError):
        return
    if error.filename is None and error.errno is not None:
        raise OSError(error.errno, error.strerror or str(error), path) from error
    if temporary and isinstance(error.filename, str) and error.filename.startswith(temporary + os.sep):
        raise OSError(error.errno, error.strerror or str(error), path + error.filename[len(temporary):]) from error


def _named(make_temporary, path, **kwargs):
    """``make_temporary(**kwargs)``; its OSError names ``path``, the file the user asked for, not the hidden
    temporary beside it."""
    try:
        return make_temporary(**kwargs)
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), path) from None


def _temp_prefix(path, kind):
    return f".{os.path.basename(path)}.{kind}-{os.getpid()}.{_HOST}-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path):
    """Remove the ``.NAME.tmp-*`` / ``.NAME.old-*`` beside ``path`` (any NAME) left by dead processes of this host.

    Returns the paths removed. Temporaries of live processes, of other hosts (a shared file
    system) and names without a pid (not ours, or from before pids were recorded) are left alone.
    An ``.old`` whose NAME is missing while the same process's ``.tmp`` is still there is put back instead:
    that process died between :func:`atomic_dir`'s two renames, after moving the previous output aside and
    before moving the new one in (once the new one is in, a leftover ``.old`` is only garbage).
    """
    parent = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(r"\.(.+)\.(tmp|old)-(\d+)\.([0-9a-f]{8})-[^/]*")
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    matches = [(name, pattern.fullmatch(name)) for name in names]
    unfinished = {(m.group(1), m.group(3)) for _, m in matches if m and m.group(2) == "tmp"}
    for name, m in matches:
        if not m or m.group(4) != _HOST or int(m.group(3)) == os.getpid() or _pid_alive(int(m.group(3))):
            continue
        full = os.path.join(parent, name)
        original = os.path.join(parent, m.group(1))
        if m.group(2) == "old" and (m.group(1), m.group(3)) in unfinished and not os.path.lexists(original):
            try:
                os.rename(full, original)
            except OSError:
                pass  # left as it is: the previous output may be nowhere else
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(full)
        removed.append(full)
    return removed


def _fsync_dir(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
