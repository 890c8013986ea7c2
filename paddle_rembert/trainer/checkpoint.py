"""Training checkpoints: written atomically, complete enough to resume bit for bit.

``checkpoint-<step>/`` holds what ``AutoModelForSequenceClassification.from_pretrained`` loads
(``config.json`` with id2label, ``model_state.pdparams``, tokenizer files) plus the optimizer,
scheduler and loss-scaler states, every rank's RNG state, and ``trainer_state.json`` (step,
data position, best score so far). A checkpoint directory appears under its final name only
once it is complete, so the newest ``checkpoint-*`` with a state file is always usable.
"""
import json
import os
import re
import shutil

import paddle

from ..checkpoint.safe_pickle import safe_load
from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_dir, read_json

PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pdopt"
SCALER_FILE = "scaler.pdparams"
RNG_FILE = "rng_state.json"
LEGACY_RNG_FILE = "rng_state.pkl"  # written by 0.1.0; read without running code (see load_rng_states)
SELECTION_FILE = "selection.json"  # beside a selected model: its step, score and selection language


def _param_names(model):
    """Paddle's generated parameter name (``linear_3.w_0``) -> state-dict key."""
    return {p.name: key for key, p in model.state_dict().items()}


def rename_optimizer_state(state, mapping):
    """Rename the parameter part of optimizer-state keys (``linear_3.w_0_moment1_0``).

    Paddle keys accumulators by generated parameter names, which depend on how many layers the
    process built before; checkpoints store state-dict keys instead, and loading maps back.
    """
    ordered = sorted(mapping, key=len, reverse=True)

    def rename(key):
        for old in ordered:
            if key == old or key.startswith(old + "_"):
                return mapping[old] + key[len(old):]
        return key

    out = {}
    for key, value in state.items():
        if key == "master_weights" and isinstance(value, dict):
            out[key] = {rename(k): v for k, v in value.items()}
        elif key == "LR_Scheduler":
            out[key] = value
        else:
            out[rename(key)] = value
    return out


def save(output_dir, step, model, tokenizer, optimizer, scheduler, scaler, rng_states, state, keep):
    """Write ``checkpoint-<step>`` atomically and prune all but the newest ``keep``."""
    path = os.path.join(output_dir, f"{PREFIX}{step}")
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        optimizer_state = rename_optimizer_state(optimizer.state_dict(), _param_names(model))
        paddle.save(optimizer_state, os.path.join(tmp, OPTIMIZER_FILE))
        scaler_state = scaler.state_dict()
        if scaler_state:  # a disabled scaler (fp32, bf16) has no state: no file, and no Paddle warning about it
            paddle.save(scaler_state, os.path.join(tmp, SCALER_FILE))
        with open(os.path.join(tmp, RNG_FILE), "w", encoding="utf-8") as f:
            json.dump(rng_states, f)
        full = dict(state, scheduler=scheduler.state_dict(), optimizer_tensors=_tensor_shapes(optimizer_state))
        with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
            json.dump(full, f, indent=2)
    for old in list_checkpoints(output_dir)[:-keep]:
        if old != path:
            shutil.rmtree(old, ignore_errors=True)
    return path


def list_checkpoints(output_dir):
    """Complete checkpoints, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)", name)
        if m and os.path.isfile(os.path.join(output_dir, name, STATE_FILE)):
            found.append((int(m.group(1)), os.path.join(output_dir, name)))
    return [p for _, p in sorted(found)]


def latest(output_dir):
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def load(path, model, optimizer, scheduler, scaler):
    """Restore weights and optimizer/scheduler/scaler states; returns (trainer state, rng states)."""
    from ..checkpoint.loading import load_weights

    report = load_weights(model, path)
    if not report.clean:
        raise PaddleRembertError(f"{path} does not hold a complete {type(model).__name__}: {report.summary()}")
    state = _check_state(os.path.join(path, STATE_FILE), read_json(os.path.join(path, STATE_FILE), "trainer state"))
    saved = _read_state_pickle(os.path.join(path, OPTIMIZER_FILE), "optimizer state")
    _check_optimizer_state(os.path.join(path, OPTIMIZER_FILE), saved, state.pop("optimizer_tensors", None), model)
    back = {key: name for name, key in _param_names(model).items()}
    optimizer.set_state_dict(rename_optimizer_state(saved, back))
    if os.path.isfile(os.path.join(path, SCALER_FILE)):
        scaler.load_state_dict(_read_state_pickle(os.path.join(path, SCALER_FILE), "loss-scaler state"))
    scheduler.set_state_dict(state.pop("scheduler"))
    return state, load_rng_states(path)


def _tensor_shapes(state):
    """``{key: shape}`` of an optimizer state's tensors, recorded beside it: a resume checks the file against it."""
    return {key: list(value.shape) for key, value in state.items() if hasattr(value, "shape")}


def _check_optimizer_state(path, saved, recorded, model):
    """Refuse an optimizer state that would fail at the first step, or quietly restart its moments: one whose
    tensors are not the ones recorded when it was written (checkpoints from before the record: not checked),
    or whose moments do not have their parameter's shape."""
    found = _tensor_shapes(saved)
    if recorded is not None:
        if not isinstance(recorded, dict):
            raise PaddleRembertError(f"{path}: the trainer state's record of it is {type(recorded).__name__}, "
                                     f"not a mapping")
        missing = sorted(set(recorded) - set(found))
        if missing:
            raise PaddleRembertError(f"{path} lacks {len(missing)} of the {len(recorded)} tensors it was written "
                                     f"with (e.g. {missing[0]})")
        changed = sorted(k for k in recorded if list(recorded[k]) != found[k])
        if changed:
            raise PaddleRembertError(f"{path}: {changed[0]} has shape {found[changed[0]]}, it was written with "
                                     f"{list(recorded[changed[0]])}")
    shapes = {key: list(p.shape) for key, p in model.state_dict().items()}
    for key, shape in found.items():
        param = re.sub(r"_moment[12]_\d+$", "", key)
        if param != key and param in shapes and shape != shapes[param]:
            raise PaddleRembertError(f"{path}: {key} has shape {shape}, its parameter {shapes[param]}")


_STATE_FIELDS = (("global_step", int), ("epoch", int), ("batch_in_epoch", int), ("sampler", dict),
                 ("scheduler", dict))


def _check_state(path, state):
    """The trainer state a resume reads: its counters, sampler fingerprint and scheduler state (and the
    evaluation history and best score, empty when absent)."""
    if not isinstance(state, dict):
        raise PaddleRembertError(f"{path} does not hold a trainer state (a JSON object)")
    for key, kind in _STATE_FIELDS:
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise PaddleRembertError(f"{path}: {key} is {value!r}, not {'a count' if kind is int else kind.__name__}")
    for key, default in (("best_score", None), ("best_step", None), ("history", [])):
        state.setdefault(key, default)
    if not isinstance(state["history"], list):
        raise PaddleRembertError(f"{path}: history is {state['history']!r}, not a list")
    if not isinstance(state.get("optimization", {}), dict):  # recorded settings (absent in older checkpoints)
        raise PaddleRembertError(f"{path}: optimization is {state['optimization']!r}, not a mapping")
    return state


def _read_state_pickle(path, what):
    """A ``paddle.save`` state dict read without running code (numpy arrays and plain values only)."""
    state = safe_load(path, what)
    if not isinstance(state, dict):
        raise PaddleRembertError(f"{path} does not hold a {what} dict")
    state.pop("StructuredToParameterName@@", None)
    return state


def rng_state_to_json(states):
    """``paddle.get_rng_state()`` (one GeneratorState per device) as JSON-serialisable lists."""
    return [list(s.__getstate__()) for s in states]


def rng_state_from_json(states):
    from paddle.base import core

    out = []
    for saved in states:
        state = core.GeneratorState.__new__(core.GeneratorState)
        state.__setstate__(tuple(saved))
        out.append(state)
    return out


def load_rng_states(path):
    """Every rank's RNG state: ``rng_state.json``, or a 0.1.0 checkpoint's ``rng_state.pkl``.

    The old pickle is read with the restricted unpickler, admitting Paddle's ``GeneratorState``
    (which only rebuilds a random engine from numbers) besides plain data.
    """
    json_path = os.path.join(path, RNG_FILE)
    if os.path.isfile(json_path) or not os.path.isfile(os.path.join(path, LEGACY_RNG_FILE)):
        states = read_json(json_path, "RNG state")
        try:
            return [rng_state_from_json(rank) for rank in states]
        except (TypeError, ValueError, RuntimeError) as e:
            raise PaddleRembertError(f"{json_path} does not hold RNG states: {e}") from None
    states = safe_load(os.path.join(path, LEGACY_RNG_FILE), "RNG state",
                       extra=[("paddle.base.libpaddle", "GeneratorState")])
    return [rank if isinstance(rank, list) else [rank] for rank in states]


def save_model_dir(path, model, tokenizer, extra=None):
    """A model directory (weights, config, tokenizer, optional info json), written atomically."""
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if extra is not None:
            with open(os.path.join(tmp, SELECTION_FILE), "w", encoding="utf-8") as f:
                json.dump(extra, f, indent=2)
