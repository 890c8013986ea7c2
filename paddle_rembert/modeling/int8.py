"""Which of a model's GEMMs run in int8, and their int8 weights (:mod:`paddle_rembert.kernels.int8` runs them).

    table = quantize_linears(model)
    with paddle_rembert.kernels.int8.use(table):
        outputs = model(**inputs)

Every :class:`~paddle_rembert.modeling.layers.Linear` goes int8 (as onnxruntime quantizes every MatMul with a
constant weight), and each self-attention's query, key and value side by side as one GEMM.
"""
from ..kernels.int8 import Int8Table, quantize_weight
from .layers import Linear


def linear_layers(model):
    """``(name, layer)`` of every Linear of ``model`` (the layers whose GEMMs go int8)."""
    return [(name, layer) for name, layer in model.named_sublayers(include_self=True) if isinstance(layer, Linear)]


def attention_projections(model):
    """The ``(query, key, value)`` Linears of each self-attention of ``model`` (layers that hold all three)."""
    found = []
    for layer in model.sublayers(include_self=True):
        qkv = tuple(getattr(layer, name, None) for name in ("query", "key", "value"))
        if all(isinstance(p, Linear) and p.bias is not None for p in qkv):
            found.append(qkv)
    return found


def quantize_linears(model):
    """An :class:`Int8Table` of every Linear weight of ``model``, quantized from its current fp32 values."""
    table = Int8Table()
    for _, layer in linear_layers(model):
        table.add(layer.weight, *quantize_weight(layer.weight.numpy()))
    for layers in attention_projections(model):
        table.add_group(layers)
    return table
