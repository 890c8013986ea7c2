"""Hub ids (``google/rembert``) to local directories, as transformers resolves them.

A local directory of that name wins. Otherwise the id is fetched with ``huggingface_hub``'s
``snapshot_download`` into its cache -- only the config, one weight format and the tokenizer
files, not every framework's weights -- or found there when offline. The environment is read at
call time (``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``), not when
``huggingface_hub`` was imported, so a process can switch it. Progress bars are the library's.
"""
import os
import re

from ..runtime.errors import PaddleRembertError
from .readers import PADDLE_WEIGHTS, SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX, weight_files

CONFIG_FILES = ("config.json",)
# Each weight file of readers.WEIGHT_FILES with the shards its index names.
_WEIGHT_PATTERNS = {PADDLE_WEIGHTS: (PADDLE_WEIGHTS,), SAFETENSORS: (SAFETENSORS,),
                    SAFETENSORS_INDEX: (SAFETENSORS_INDEX, "model-*-of-*.safetensors"), TORCH_BIN: (TORCH_BIN,),
                    TORCH_BIN_INDEX: (TORCH_BIN_INDEX, "pytorch_model-*-of-*.bin")}
# huggingface_hub's REGEX_REPO_ID rules: "name" or "org/name", at most 96 characters, no "--" or "..".
_REPO_ID = re.compile(r"^(?:[\w\-.]+/)?[\w\-.]+$")


def is_hub_id(name):
    """Whether ``name`` can only mean a hub repository: not a path that exists, and shaped like a repo id."""
    if not isinstance(name, str) or os.path.exists(name) or os.path.isabs(name) or len(name) > 96:
        return False
    return bool(_REPO_ID.match(name)) and "--" not in name and ".." not in name \
        and not name.startswith((".", "-")) and not name.endswith((".", "-"))


# The tokenizer files fetched beside a model: every family's ``tokenizer_files``, added by
# ``models.registry.register`` (this package knows no family). Importing paddle_rembert registers them all.
_TOKENIZER_FILES = set()


def add_tokenizer_files(names):
    _TOKENIZER_FILES.update(names)


def tokenizer_patterns():
    return sorted(_TOKENIZER_FILES)


def _offline():
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _cache_dir():
    """huggingface_hub's cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def weight_patterns(repo_files, use_safetensors=None):
    """The patterns of the one weight format to fetch: the first of ``weight_files(use_safetensors)`` the
    repository has.

    Hub repositories often hold the same weights several times (safetensors, ``.bin``, TF, Flax);
    reading needs one. An empty listing (not known) gives every format we read.
    """
    names = weight_files(use_safetensors)
    for name in names:
        if name in repo_files:
            return list(_WEIGHT_PATTERNS[name])
    return [p for name in names for p in _WEIGHT_PATTERNS[name]]


# transformers' from_pretrained keywords that say where and how to fetch, not what to build. ``revision``,
# ``subfolder``, ``cache_dir``, ``local_files_only``, ``token``, ``force_download`` and ``use_safetensors`` (which
# weight files: only safetensors, or none) are used; the others change
# nothing here (no code from a repository is ever run, whatever ``trust_remote_code`` or ``weights_only`` say;
# the encoders have one attention implementation and no generation settings). None is stored. PaddleNLP's
# ``from_aistudio`` has no counterpart: the callers refuse it.
HUB_OPTIONS = ("revision", "subfolder", "cache_dir", "local_files_only", "token", "use_auth_token", "force_download",
               "proxies", "resume_download", "trust_remote_code", "mirror", "user_agent", "_from_auto",
               "_from_pipeline", "_commit_hash", "low_cpu_mem_usage", "_fast_init", "use_safetensors",
               "attn_implementation", "use_flash_attention_2", "use_fast", "weights_only", "generation_config",
               # PaddleNLP's: a hub id is fetched from the Hugging Face Hub and PyTorch weights converted anyway
               "from_hf_hub", "convert_from_torch", "load_state_as_np")


def pop_hub_options(kwargs):
    """Take :data:`HUB_OPTIONS` out of ``kwargs`` (in place): ``{name: value}`` for :func:`resolve`."""
    return {name: kwargs.pop(name) for name in HUB_OPTIONS if name in kwargs}


def resolve(name_or_path, revision=None, what="model", weights=True, subfolder=None, cache_dir=None,
            local_files_only=False, token=None, use_auth_token=None, force_download=False, use_safetensors=None,
            **_unused):
    """A local directory for ``name_or_path``: the path itself, or the hub snapshot of that id; with
    ``subfolder``, that folder inside it (transformers' layout for a repository of several models).

    Anything that is not a hub id (an existing path, an absolute or malformed path) comes back
    unchanged for the caller to report. ``weights=False`` fetches the config and tokenizer only.
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if subfolder is not None and (not isinstance(subfolder, str) or os.path.isabs(subfolder)
                                  or ".." in subfolder.replace("\\", "/").split("/")):
        raise PaddleRembertError(f"subfolder must be a relative path inside the {what} directory, got {subfolder!r}")
    if not is_hub_id(name_or_path):  # as transformers, a local path ignores ``revision``
        if subfolder and isinstance(name_or_path, str) and os.path.isdir(name_or_path):
            inner = os.path.join(name_or_path, subfolder)
            if not os.path.isdir(inner):
                raise PaddleRembertError(f"{what} directory {name_or_path} has no subfolder {subfolder!r}")
            return inner
        return name_or_path
    try:
        import huggingface_hub
        from huggingface_hub import snapshot_download
    except ImportError:
        raise PaddleRembertError(f"{what} {name_or_path!r} is not a local directory, and fetching it from the "
                                 "Hugging Face Hub needs huggingface_hub (pip install huggingface_hub)") from None
    offline = _offline() or bool(local_files_only)
    endpoint = os.environ.get("HF_ENDPOINT") or None
    token = token if token is not None else use_auth_token
    prefix = subfolder.strip("/") + "/" if subfolder else ""
    patterns = list(CONFIG_FILES) + tokenizer_patterns()
    if weights:
        repo_files = ()
        if not offline:
            try:
                info = huggingface_hub.HfApi(endpoint=endpoint, token=token).model_info(
                    name_or_path, revision=revision, timeout=10)
                repo_files = {s.rfilename[len(prefix):] for s in info.siblings or () if s.rfilename.startswith(prefix)}
            except Exception:  # unreachable, private, missing: snapshot_download below says which, or uses the cache
                pass
        patterns += weight_patterns(repo_files, use_safetensors)
    try:
        path = snapshot_download(name_or_path, revision=revision, cache_dir=cache_dir or _cache_dir(),
                                 local_files_only=offline, allow_patterns=[prefix + p for p in patterns],
                                 endpoint=endpoint, token=token, force_download=bool(force_download))
        path = os.path.join(path, subfolder) if subfolder else path
    except Exception as e:  # huggingface_hub raises its own errors, requests' and OSError
        reason = _reason(e, offline, cache_dir or _cache_dir())
        raise PaddleRembertError(
            f"{what} {name_or_path!r}{'' if revision is None else f' (revision {revision!r})'} is not a local "
            f"directory and could not be fetched from the Hugging Face Hub ({reason}); download it on a machine "
            f"with access (huggingface-cli download {name_or_path} --local-dir DIR) and pass that directory") from None
    return path


def _reason(error, offline, cache):
    name = type(error).__name__
    if name == "RepositoryNotFoundError":
        return "no such repository, or it is private"
    if name == "RevisionNotFoundError":
        return "no such revision"
    if name in ("LocalEntryNotFoundError", "OfflineModeIsEnabled") or offline:
        return "not in the cache at " + cache + (" and offline (HF_HUB_OFFLINE or local_files_only)" if offline
                                                 else " and the Hub is unreachable")
    return f"{name}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
