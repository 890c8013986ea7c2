"""AdamW with decoupled weight decay (none on biases and LayerNorm), warmup + linear decay, clipping."""
import math

import paddle
from paddle import nn


def no_decay_names(model):
    """Parameters that get no weight decay: every bias and every LayerNorm parameter."""
    names = set()
    for layer_name, layer in model.named_sublayers(include_self=True):
        for pname, param in layer.named_parameters(include_sublayers=False):
            if pname == "bias" or isinstance(layer, nn.LayerNorm):
                names.add(param.name)
    return names


def linear_schedule(learning_rate, total_steps, warmup_steps):
    """0 -> ``learning_rate`` over ``warmup_steps``, then linearly to 0 at ``total_steps``."""

    def factor(step):
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return paddle.optimizer.lr.LambdaDecay(learning_rate, factor)


def build(model, args, total_steps):
    """The optimizer, its scheduler, and the warm-up length actually used."""
    warmup_steps = int(math.ceil(args.warmup_proportion * total_steps))
    scheduler = linear_schedule(args.learning_rate, total_steps, warmup_steps)
    exclude = no_decay_names(model)
    optimizer = paddle.optimizer.AdamW(
        learning_rate=scheduler,
        parameters=model.parameters(),
        weight_decay=args.weight_decay,
        apply_decay_param_fun=lambda name: name not in exclude,
        epsilon=args.adam_epsilon,
        grad_clip=nn.ClipGradByGlobalNorm(args.max_grad_norm) if args.max_grad_norm > 0 else None,
    )
    return optimizer, scheduler, warmup_steps


def grad_scaler(amp):
    """Dynamic loss scaling for fp16; bf16 and fp32 need none (a disabled scaler passes through)."""
    return paddle.amp.GradScaler(enable=amp == "fp16", init_loss_scaling=2.0 ** 15)


def autocast(amp):
    """The mixed-precision context of ``--amp``. On CPU, Paddle's ``auto_cast`` does nothing (it
    only acts on CUDA places), so bf16 uses our oneDNN kernels (:mod:`paddle_rembert.kernels.bf16`:
    bf16 GEMMs with fp32 accumulation; fp32 with one warning where the CPU lacks bf16)."""
    if amp == "none":
        return paddle.amp.auto_cast(enable=False)
    if amp == "bf16" and paddle.get_device().startswith("cpu"):
        from ..kernels import bf16

        return bf16.autocast()
    return paddle.amp.auto_cast(enable=True, dtype="bfloat16" if amp == "bf16" else "float16", level="O1")
