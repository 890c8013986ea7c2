"""int8 inference (paddle_rembert.kernels.int8, modeling.int8): the operator against the per-token formula in
numpy, and every family's model against the same rounding done in fp32."""
import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.kernels import build, int8
from paddle_rembert.modeling import int8 as model_int8


@pytest.fixture(scope="module")
def int8_kernel():
    assert int8.cpu_has_vnni(), "these tests need a CPU with VNNI"
    assert build.available(), build.unavailable_reason()
    return int8


def _fake_quant_rows(x):
    """Each row rounded as the operator rounds it: uint8, its own range with 0 in it, ONNX's formula."""
    x = np.asarray(x, dtype=np.float32)
    lo = np.minimum(x.min(-1, keepdims=True), 0)
    hi = np.maximum(x.max(-1, keepdims=True), 0)
    with np.errstate(over="ignore"):
        s = ((hi - lo) / np.float32(255)).astype(np.float32)
    wide = ~np.isfinite(s)  # hi - lo overflowed: the operator divides first
    s[wide] = (hi / np.float32(255) - lo / np.float32(255))[wide]
    s[s == 0] = 1
    z = np.clip(np.rint(-lo / s), 0, 255)
    q = np.clip(np.rint(x * (np.float32(1) / s)) + z, 0, 255)
    return (q - z) * s.astype(np.float64)


def _reference(x, weight, bias=None, add=None):
    q, scale = int8.quantize_weight(weight)
    y = _fake_quant_rows(x) @ (q.astype(np.float64) * scale)
    return y + (0 if bias is None else bias) + (0 if add is None else add)


def _run(x, weight, bias=None, add=None):
    table = int8.Int8Table()
    w = paddle.to_tensor(weight)
    table.add(w, *int8.quantize_weight(weight))
    entry = table.get(w)
    tensor = lambda a: None if a is None else paddle.to_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return int8.linear(tensor(x), entry, tensor(bias), tensor(add)).numpy()


@pytest.mark.parametrize("shape,n", [((3, 7, 37), 19), ((2, 5, 64), 48), ((1, 16), 5), ((4, 1, 33), 70)])
def test_operator_is_the_per_token_formula(int8_kernel, shape, n):
    """Odd widths (a masked tail of the 16-lane loops), 2-D and 3-D inputs, with and without bias and residual."""
    rng = np.random.RandomState(sum(shape) + n)
    x = (rng.randn(*shape) * rng.uniform(0.1, 8, size=shape[:-1] + (1,))).astype("float32")
    x[..., 0, :] += 3.0  # a row of one sign: its range still includes 0
    w = rng.randn(shape[-1], n).astype("float32")
    bias = rng.randn(n).astype("float32")
    add = rng.randn(*shape[:-1], n).astype("float32")
    for b, a in ((None, None), (bias, None), (bias, add), (None, add)):
        got = _run(x, w, b, a)
        want = _reference(x, w, b, a)
        assert got.shape == want.shape == shape[:-1] + (n,)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    # and it is a quantized product: not the fp32 one
    assert np.abs(_run(x, w) - x @ w).max() > 1e-3 * np.abs(x @ w).max()


def test_operator_rows_beyond_the_kept_buffer(int8_kernel):
    """More than 16 MiB of quantized rows (a buffer of their own, freed after the call) give the same formula."""
    rng = np.random.RandomState(4)
    x = rng.randn(5500, 3072).astype("float32")
    w = rng.randn(3072, 4).astype("float32")
    want = _reference(x, w)
    np.testing.assert_allclose(_run(x, w), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_operator_edges(int8_kernel):
    """An all-zero row (scale 1, not a division by zero), an all-zero weight column, no rows."""
    rng = np.random.RandomState(0)
    x = rng.randn(3, 20).astype("float32")
    x[1] = 0
    w = rng.randn(20, 6).astype("float32")
    w[:, 2] = 0
    got = _run(x, w, bias=np.arange(6, dtype="float32"))
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got[1], np.arange(6, dtype="float32"))  # only the bias
    np.testing.assert_allclose(got[:, 2], 2.0, rtol=0, atol=1e-6)
    assert _run(np.zeros((0, 20), "float32"), w).shape == (0, 6)


def test_a_row_with_inf_or_nan_gives_a_nan_row(int8_kernel):
    """As an fp32 product is poisoned by them (the range would otherwise drop a nan and clamp an inf into a
    plausible finite result); the other rows keep their values. Values near the float maximum still work."""
    rng = np.random.RandomState(2)
    x = rng.randn(4, 40).astype("float32")
    w = rng.randn(40, 6).astype("float32")
    clean = _run(x, w)
    x[1, 7], x[2, 39] = np.nan, np.inf  # 39: the masked tail of the 16-lane loop
    got = _run(x, w)
    assert np.isnan(got[1]).all() and np.isnan(got[2]).all()
    np.testing.assert_array_equal(got[[0, 3]], clean[[0, 3]])
    huge = np.zeros((1, 40), "float32")
    huge[0, :2] = [3e38, -3e38]  # hi - lo overflows
    small = w / 1000  # so that the products stay below the float maximum
    np.testing.assert_allclose(_run(huge, small), _reference(huge, small), rtol=1e-5)


def test_quantize_weight_is_symmetric_per_output_column():
    w = np.array([[1.0, -0.5, 0.0], [-2.54, 0.2, 0.0]], dtype="float32")
    q, scale = int8.quantize_weight(w)
    np.testing.assert_allclose(scale, [2.54 / 127, 0.5 / 127, 1.0], rtol=1e-6)  # an all-zero column: scale 1
    np.testing.assert_array_equal(q, [[50, -127, 0], [-127, 51, 0]])  # 1 / 0.02 = 50; 0.2 / (0.5/127) = 50.8
    table, weight = int8.Int8Table(), paddle.to_tensor(w)
    table.add(weight, q, scale)  # the column sums the operator's correction uses
    np.testing.assert_allclose(table.get(weight)[3].numpy(), scale * q.sum(0))


def test_results_do_not_depend_on_the_other_rows(int8_kernel):
    """One range per row: a row's result is the same alone as next to a row of huge values (per call, as
    onnxruntime's dynamic quantization, the wide row would coarsen every other)."""
    rng = np.random.RandomState(1)
    x = rng.randn(4, 32).astype("float32")
    w = rng.randn(32, 8).astype("float32")
    wide = np.concatenate([x, 1000 * rng.randn(1, 32).astype("float32")])
    np.testing.assert_array_equal(_run(wide, w)[:4], _run(x, w))


def test_table_refuses_codes_that_do_not_fit_the_weight():
    table = int8.Int8Table()
    w = paddle.zeros([4, 3])
    with pytest.raises(ValueError, match="shape"):
        table.add(w, np.zeros((3, 4), np.int8), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="3 scales"):
        table.add(w, np.zeros((4, 3), np.int8), np.ones(4, np.float32))


def test_quantize_weight_refuses_bf16_bit_patterns():
    with pytest.raises(ValueError, match="float32"):
        int8.quantize_weight(np.zeros((4, 3), np.uint16))  # what a bf16 tensor's .numpy() returns


def test_without_vnni_int8_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(int8, "cpu_has_vnni", lambda: False)
    with pytest.raises(RuntimeError, match="VNNI"):
        with int8.use(int8.Int8Table()):
            pass


# -- every family: int8 inside the model is exactly the per-token rounding of each Linear ------------------
FAMILIES = ["bert", "albert", "roberta", "electra", "rembert"]


def _tiny_model(family, **overrides):
    """A classifier of the family with odd sizes (hidden 36 over 3 heads, intermediate 37), biases not zero.
    (BERT's tiny config has relative positions: its attention takes the unfused path, one int8 GEMM each.)"""
    config = T.tiny_config_dict(family, "ForSequenceClassification", hidden_size=36, num_attention_heads=3,
                                intermediate_size=37, num_labels=3, **overrides)
    paddle.seed(5)
    model = pr.AutoModelForSequenceClassification.from_config(pr.AutoConfig.for_model(family, **config)).eval()
    with paddle.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.set_value(p + paddle.randn(p.shape) * 0.1)
    for p in model.parameters():
        p.stop_gradient = True
    return model, config


class _FakeQuant:
    """Forward pre-hooks that round each Linear's input per token, with its weight set to the dequantized
    codes: the int8 model's math in fp32 GEMMs."""

    def __init__(self, model):
        self.hooks = []
        for _, layer in model_int8.linear_layers(model):
            q, scale = int8.quantize_weight(layer.weight.numpy())
            layer.weight.set_value((q.astype(np.float32) * scale).astype(np.float32))
            self.hooks.append(layer.register_forward_pre_hook(self._round))

    @staticmethod
    def _round(layer, inputs):
        x = inputs[0]
        return (paddle.to_tensor(_fake_quant_rows(x.numpy()).astype(np.float32)),) + tuple(inputs[1:])

    def remove(self):
        for h in self.hooks:
            h.remove()


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_model_is_the_rounded_fp32_model(int8_kernel, family):
    """With padding, token types and output_attentions: the int8 logits equal the fp32 model whose Linears
    round their inputs per token and use the dequantized weights, far closer than they equal fp32's; every
    Linear (q|k|v fused into one GEMM) ran in int8."""
    model, config = _tiny_model(family)
    inputs = T.make_inputs(family, "ForSequenceClassification", config["vocab_size"], with_labels=False,
                           lengths=(11, 7, 2))
    feed = T.to_paddle(inputs)
    fp32 = model(**feed).logits.numpy()
    table = model_int8.quantize_linears(model)
    assert len(table) == len(model_int8.linear_layers(model)) and model_int8.attention_projections(model)
    with int8.use(table):
        out = model(**feed, output_attentions=True)
    got = out.logits.numpy()
    probs = out.attentions[0].numpy()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert (probs[2, :, :, 2:] == 0).all()  # the padding of the 2-token row is still masked
    rounding = _FakeQuant(model)
    try:
        want = model(**feed).logits.numpy()
    finally:
        rounding.remove()
    assert np.abs(got - fp32).max() > 1e-4  # it is another model
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert np.abs(got - want).max() < 0.05 * np.abs(got - fp32).max()


def test_int8_is_off_outside_the_block_and_where_gradients_are_wanted(int8_kernel):
    model, config = _tiny_model("bert")
    feed = T.to_paddle(T.make_inputs("bert", "ForSequenceClassification", config["vocab_size"], with_labels=False))
    fp32 = model(**feed).logits.numpy()
    table = model_int8.quantize_linears(model)
    with int8.use(table):
        assert np.abs(model(**feed).logits.numpy() - fp32).max() > 0
    np.testing.assert_array_equal(model(**feed).logits.numpy(), fp32)  # the block is closed
    for p in model.parameters():
        p.stop_gradient = False
    with int8.use(table):  # training through it: fp32 GEMMs, so the gradient is the model's own
        logits = model(**feed).logits
    np.testing.assert_allclose(logits.numpy(), fp32, rtol=1e-6, atol=1e-6)


def test_fused_paths_run_int8_each_attention_as_one_gemm_and_residuals_in_the_epilogue(int8_kernel, monkeypatch):
    """Per layer: q|k|v in one int8 GEMM, the attention output and the FFN output with their residual added in
    the GEMM's pass, the FFN input; then the pooler and the classifier."""
    model, config = _tiny_model("bert", position_embedding_type="absolute")
    feed = T.to_paddle(T.make_inputs("bert", "ForSequenceClassification", config["vocab_size"], with_labels=False))
    calls = []
    real = int8.linear
    monkeypatch.setattr(int8, "linear", lambda x, entry, bias=None, add=None: (
        calls.append((entry[1].shape[1], add is not None)), real(x, entry, bias, add))[1])
    with int8.use(model_int8.quantize_linears(model)):
        model(**feed)
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    per_layer = [(3 * hidden, False), (hidden, True), (config["intermediate_size"], False), (hidden, True)]
    assert calls == per_layer * layers + [(hidden, False), (3, False)]
    calls.clear()  # relative positions: q, k and v one by one
    model, _ = _tiny_model("bert")
    with int8.use(model_int8.quantize_linears(model)):
        model(**feed)
    assert calls[:3] == [(hidden, False)] * 3 and len(calls) == len(per_layer * layers) + 2 + 2 * layers


def test_a_trainable_bias_keeps_its_linear_in_fp32_with_its_gradient(int8_kernel):
    model, config = _tiny_model("bert")
    feed = T.to_paddle(T.make_inputs("bert", "ForSequenceClassification", config["vocab_size"], with_labels=False))
    table = model_int8.quantize_linears(model)
    with int8.use(table):
        frozen = model(**feed).logits.numpy()
    model.classifier.bias.stop_gradient = False
    with int8.use(table):
        logits = model(**feed).logits
    assert not logits.stop_gradient
    logits.sum().backward()
    np.testing.assert_allclose(model.classifier.bias.grad.numpy(), np.full(3, len(T.LENGTHS)), rtol=1e-6)
    # the classifier ran fp32 on the same int8 features: only its own rounding differs
    np.testing.assert_allclose(logits.numpy(), frozen, rtol=1e-2, atol=1e-2 * np.abs(frozen).max())

