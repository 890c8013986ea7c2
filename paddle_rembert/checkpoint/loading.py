"""Load any supported checkpoint into a built model, tensor by tensor."""
from ..runtime.errors import PaddleRembertError
from .paddlenlp import refuse_unmatched, transformers_names
from .readers import open_checkpoint
from .rules import plan_load
from .safetensors import PADDLE_TO_ST, ST_FLOAT_NAMES

FLOAT_ST = ("F16", "BF16", "F32", "F64")


def st_dtype_of(tensor):
    """The safetensors code of a float tensor's dtype ("F32", ...); None for any other tensor."""
    code = PADDLE_TO_ST.get(str(tensor.dtype))
    return code if code in FLOAT_ST else None


def check_plan(plan, ckpt, float_keys, ignore_mismatched_sizes=False):
    """Refuse what would load wrong: shape mismatches (unless ignored) and integer tensors for float parameters.

    A mismatched tensor left out would leave a randomly initialised parameter behind a model that
    looks loaded (a classifier of another ``num_labels``); transformers refuses it the same way unless
    ``ignore_mismatched_sizes=True``. Integer data cast into a float parameter is never what a checkpoint meant.
    """
    mismatched = plan.report.mismatched_keys
    if mismatched and not ignore_mismatched_sizes:
        key, ckpt_shape, expected = mismatched[0]
        others = [k for k, _, _ in mismatched[1:]]
        more = f" (and {len(others)} more: {', '.join(others[:3])}{', ...' if len(others) > 3 else ''})" \
            if others else ""
        if len(mismatched) > 3:  # many tensors at once: a config of another size, not a head of another size
            more += "; config.json's sizes do not match these weights"
        source = ckpt.source(plan.mismatched_sources.get(key, key)) if plan.mismatched_sources else ckpt.path
        raise PaddleRembertError(
            f"{source}: {key} has shape {list(ckpt_shape)} in the checkpoint, the model needs {list(expected)}"
            f"{more}; pass ignore_mismatched_sizes=True (--ignore-mismatched-sizes) to initialise them randomly")
    for key, ckpt_key, _ in plan.pairs:
        if key in float_keys and ckpt.dtype(ckpt_key) not in FLOAT_ST:
            raise PaddleRembertError(
                f"{ckpt.source(ckpt_key)}: {ckpt_key} holds {ckpt.dtype(ckpt_key)} values, but {key} is a "
                f"{float_keys[key]} parameter; a floating-point tensor is needed")


def load_weights(model, directory, ignore_mismatched_sizes=False, use_safetensors=None):
    """Fill ``model``'s parameters from ``directory``; returns the :class:`LoadReport`.

    PyTorch-layout tensors are transposed and cast while being read, one at a time, straight
    into the parameter, so loading needs the model plus one tensor of memory. Nothing is loaded
    when :func:`check_plan` refuses the checkpoint.
    """
    ckpt = transformers_names(open_checkpoint(directory, use_safetensors), model.paddlenlp_names,
                              model.paddlenlp_qa_names, model.config.architectures, model.config.model_type)
    state = model.state_dict()
    plan = plan_load(
        {k: tuple(v.shape) for k, v in state.items()}, model.linear_weight_keys(), model.tied_weights,
        model.base_model_prefix, {k: ckpt.shape(k) for k in ckpt.keys()}, ckpt.layout, model.tied_copies_kept)
    refuse_unmatched(ckpt, plan.report, type(model).__name__, model.base_model_prefix,
                     backbone=plan.backbone,
                     architectures=model.config.architectures)
    float_keys = {k: str(v.dtype).replace("paddle.", "") for k, v in state.items() if st_dtype_of(v)}
    check_plan(plan, ckpt, float_keys, ignore_mismatched_sizes)
    plan.report.checkpoint_dtype = next((ST_FLOAT_NAMES[ckpt.dtype(k)] for _, k, _ in plan.pairs
                                         if ckpt.dtype(k) in FLOAT_ST), None)
    for key, ckpt_key, transpose in plan.pairs:
        param = state[key]
        param.set_value(ckpt.read(ckpt_key, transpose=transpose, dtype=st_dtype_of(param)))
    return plan.report
