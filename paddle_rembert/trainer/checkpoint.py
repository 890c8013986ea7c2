"""Training checkpoints: written atomically, complete enough to resume bit for bit.

``checkpoint-<step>/`` holds what ``AutoModelForSequenceClassification.from_pretrained`` loads
(``config.json`` with id2label, ``model_state.pdparams``, tokenizer files) plus the optimizer,
scheduler and loss-scaler states, every rank's RNG state, and ``trainer_state.json`` (step,
data position, best score so far). A checkpoint directory appears under its final name only
once it is complete, so the newest ``checkpoint-*`` with a state file is always usable.
"""
import json
import os
import pickle
import re
import shutil

import paddle

from ..errors import PaddleRembertError
from ..io_utils import atomic_dir, read_json

PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pdopt"
SCALER_FILE = "scaler.pdparams"
RNG_FILE = "rng_state.pkl"


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
        paddle.save(rename_optimizer_state(optimizer.state_dict(), _param_names(model)),
                    os.path.join(tmp, OPTIMIZER_FILE))
        paddle.save(scaler.state_dict(), os.path.join(tmp, SCALER_FILE))
        with open(os.path.join(tmp, RNG_FILE), "wb") as f:
            pickle.dump(rng_states, f)
        full = dict(state, scheduler=scheduler.state_dict())
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
    from ..convert import load_weights

    report = load_weights(model, path)
    if not report.clean:
        raise PaddleRembertError(report.describe(type(model).__name__, path))
    saved = paddle.load(os.path.join(path, OPTIMIZER_FILE))
    back = {key: name for name, key in _param_names(model).items()}
    optimizer.set_state_dict(rename_optimizer_state(saved, back))
    scaler.load_state_dict(paddle.load(os.path.join(path, SCALER_FILE)))
    state = read_json(os.path.join(path, STATE_FILE), "trainer state")
    scheduler.set_state_dict(state.pop("scheduler"))
    with open(os.path.join(path, RNG_FILE), "rb") as f:
        rng_states = pickle.load(f)
    return state, rng_states


def save_model_dir(path, model, tokenizer, extra=None):
    """A model directory (weights, config, tokenizer, optional info json), written atomically."""
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if extra is not None:
            with open(os.path.join(tmp, "selection.json"), "w", encoding="utf-8") as f:
                json.dump(extra, f, indent=2)
