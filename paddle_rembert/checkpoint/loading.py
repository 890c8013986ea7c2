"""Load any supported checkpoint into a built model, tensor by tensor."""
from .readers import open_checkpoint
from .rules import plan_load

_PADDLE_TO_ST = {"paddle.float32": "F32", "paddle.float16": "F16", "paddle.bfloat16": "BF16",
                 "paddle.float64": "F64"}


def st_dtype_of(tensor):
    return _PADDLE_TO_ST.get(str(tensor.dtype))


def load_weights(model, directory):
    """Fill ``model``'s parameters from ``directory``; returns the :class:`LoadReport`.

    PyTorch-layout tensors are transposed and cast while being read, one at a time, straight
    into the parameter, so loading needs the model plus one tensor of memory.
    """
    ckpt = open_checkpoint(directory)
    state = model.state_dict()
    plan = plan_load(
        {k: tuple(v.shape) for k, v in state.items()}, model.linear_weight_keys(), model.tied_weights,
        model.base_model_prefix, {k: ckpt.shape(k) for k in ckpt.keys()}, ckpt.layout)
    for key, ckpt_key, transpose in plan.pairs:
        param = state[key]
        param.set_value(ckpt.read(ckpt_key, transpose=transpose, dtype=st_dtype_of(param)))
    return plan.report
