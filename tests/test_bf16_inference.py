"""Fused bf16 inference (kernels.bf16 inside ``autocast()`` with no gradient wanted).

Inference fuses what training keeps apart: q|k|v in one GEMM whose heads the attention GEMMs read in
place, the context written with its heads merged, gelu and the residual in GEMM epilogues, and bf16
results where the next GEMM would round them anyway. The rounding points are the unfused path's, so the
outputs must match it to fp32 round-off; the kernels themselves are checked against numpy here.
"""
import math

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert.kernels import bf16

from .conftest import round_bf16


def _gemm(x, y):
    """fp64 product of the bf16-rounded operands (the kernel accumulates in fp32)."""
    return round_bf16(x).astype(np.float64) @ round_bf16(y).astype(np.float64)


def _close(got, ref, rel=1e-5):
    np.testing.assert_allclose(got, ref, rtol=rel, atol=rel * np.abs(ref).max())


# -- the kernel: views, merged heads, epilogues ----------------------------------------------------------
B, L, H, D = 2, 7, 3, 8  # odd sizes
WIDTH = 3 * H * D


def _heads_spec(i, batch=B):
    return bf16.view_spec(i * H * D, [batch, H, L, D], [L * WIDTH, D, WIDTH, 1])


def _np_heads(qkv, i):
    return qkv[:, :, i * H * D:(i + 1) * H * D].reshape(qkv.shape[0], L, H, D).transpose(0, 2, 1, 3)


def test_attention_gemms_read_heads_in_place_and_write_them_merged(kernel):
    rng = np.random.RandomState(0)
    qkv = rng.randn(B, L, WIDTH).astype("float32")
    mask = np.where(rng.rand(B, 1, 1, L) < 0.3, -1e4, 0.0).astype("float32")
    t = paddle.to_tensor(qkv)
    scores = bf16.matmul_raw(t, t, None, False, True, alpha=0.5, add=paddle.to_tensor(mask), x_view=_heads_spec(0),
                             y_view=_heads_spec(1)).numpy()
    _close(scores, 0.5 * _gemm(_np_heads(qkv, 0), np.swapaxes(_np_heads(qkv, 1), -1, -2)) + mask)

    probs = rng.rand(B, H, L, L).astype("float32")
    context = bf16.matmul_raw(paddle.to_tensor(probs), t, y_view=_heads_spec(2), out_heads=True)
    assert context.shape == [B, L, H * D] and context.dtype == paddle.float32
    _close(context.numpy(), _gemm(probs, _np_heads(qkv, 2)).transpose(0, 2, 1, 3).reshape(B, L, H * D))


def _gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def test_gelu_and_residual_ride_in_the_epilogue(kernel):
    rng = np.random.RandomState(1)
    x, w, b = rng.randn(B, L, 20).astype("float32"), (0.3 * rng.randn(20, 24)).astype("float32"), \
        rng.randn(24).astype("float32")
    X, W, Bias = (paddle.to_tensor(a) for a in (x, w, b))
    pre = _gemm(x, w) + b
    for act, approximate in (("gelu", False), ("gelu_tanh", True)):
        out = bf16.matmul_raw(X, W, Bias, act=act, out_bf16=True)
        assert out.dtype == paddle.bfloat16 and out.shape == [B, L, 24]
        ref = _gelu(pre, approximate)  # then rounded to bf16: half an ulp of 2^-8 relative
        np.testing.assert_allclose(out.astype("float32").numpy(), ref, rtol=2 ** -8, atol=1e-5)
    residual = rng.randn(B, L, 24).astype("float32")  # [B, L, N]: X's rows are folded, so are the residual's
    _close(bf16.matmul_raw(X, W, Bias, add=paddle.to_tensor(residual)).numpy(), pre + residual)


def test_weight_copies_in_either_layout(kernel):
    from paddle_rembert.kernels import build

    w = np.random.RandomState(2).randn(20, 36).astype("float32")
    plain, transposed = (build.run("pr_to_bf16", paddle.to_tensor(w), t)[0] for t in (False, True))
    assert plain.dtype == transposed.dtype == paddle.bfloat16 and transposed.shape == [36, 20]
    np.testing.assert_array_equal(plain.astype("float32").numpy(), round_bf16(w))
    np.testing.assert_array_equal(transposed.astype("float32").numpy(), round_bf16(w).T)


def test_bad_view_specs_are_refused(kernel):
    t = paddle.randn([B, L, WIDTH])
    outside = bf16.view_spec(2 * H * D + 1, [B, H, L, D], [L * WIDTH, D, WIDTH, 1])  # v's heads, one element on
    with pytest.raises(Exception, match="outside its tensor"):
        bf16.matmul_raw(t, t, None, False, True, x_view=outside, y_view=_heads_spec(1))
    with pytest.raises(Exception, match="view spec"):
        bf16.matmul_raw(t, t, None, False, True, x_view=[0, 4, B, H], y_view=_heads_spec(1))


def test_batch_one_heads_take_a_jit_kernel_not_the_reference_one(kernel):
    """A size-1 batch dim of a strided Y once got stride 0 ("broadcast"), and oneDNN then ran its
    reference kernel: 40x slower. Every primitive built by these tests must be a jit one."""
    qkv = paddle.randn([1, L, WIDTH])
    bf16.matmul_raw(qkv, qkv, None, False, True, x_view=_heads_spec(0, 1), y_view=_heads_spec(1, 1))
    bf16.matmul_raw(paddle.rand([1, H, L, L]), qkv, y_view=_heads_spec(2, 1), out_heads=True)
    # a [1, 1, L, L] mask over a batch of 2, on the training path's operands and on views of one q|k|v
    q, k, mask = paddle.randn([2, H, L, D]), paddle.randn([2, H, L, D]), paddle.randn([1, 1, L, L])
    got = bf16.matmul_raw(q, k, None, False, True, alpha=0.5, add=mask)
    want = bf16.matmul_raw(q, k, None, False, True, alpha=0.5, add=mask.expand([2, 1, L, L]).contiguous())
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    qkv2 = paddle.randn([2, L, WIDTH])
    bf16.matmul_raw(qkv2, qkv2, None, False, True, add=mask, x_view=_heads_spec(0, 2), y_view=_heads_spec(1, 2))
    slow = {k: v for k, v in bf16.implementations().items() if v.startswith("ref") and not _empty_problem(k)}
    # oneDNN's bf16 emulation (PADDLE_REMBERT_BF16=emulate, an AVX-512 CPU without AVX512-BF16) has jit kernels
    # for dense operands only; the kernels never run there unless asked to
    assert not slow or not bf16.cpu_has_bf16(), slow


def _empty_problem(key):
    """A matmul primitive over a zero-size operand (oneDNN runs those with its reference kernel: no work)."""
    fields = key.split(";")  # matmul; 9 settings; Add's dims; X's dims; X's strides; Y's dims; Y's strides
    return fields[0] == "matmul" and any("0" in fields[i].split(",") for i in (11, 13))


# -- the models: fused inference equals the unfused steps -----------------------------------------------
def _tiny(family):
    common = dict(vocab_size=97, hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=72,
                  max_position_embeddings=40, type_vocab_size=2, num_labels=3)
    if family == "albert":  # gelu_new: the tanh gelu in the epilogue
        return pr.AlbertForSequenceClassification(pr.AlbertConfig(embedding_size=24, **common))
    return pr.BertForSequenceClassification(pr.BertConfig(**common))


@pytest.mark.parametrize("family", ["bert", "albert"])
@pytest.mark.parametrize("transposed_weights", [False, True])
def test_fused_inference_matches_the_unfused_bf16_steps(kernel, family, transposed_weights, monkeypatch):
    """Both weight layouts: [in, out], and the [out, in] copies read transposed from 2,048 rows on."""
    monkeypatch.setattr(bf16, "TRANSPOSED_WEIGHT_ROWS", 1 if transposed_weights else 10 ** 9)
    paddle.seed(3)
    model = _tiny(family).eval()
    rng = np.random.RandomState(4)
    lengths = np.array([11, 6, 1])
    batch = {"input_ids": paddle.to_tensor(rng.randint(5, 97, (3, 11))),
             "token_type_ids": paddle.to_tensor((np.arange(11)[None] >= lengths[:, None] // 2).astype("int64")),
             "attention_mask": paddle.to_tensor((np.arange(11)[None] < lengths[:, None]).astype("int64")),
             "output_attentions": True, "output_hidden_states": True}
    with bf16.autocast():  # gradients wanted: every step apart, as training runs them
        unfused = model(**batch)
    calls = []
    for name in ("self_attention_inference", "linear_inference"):
        real = getattr(bf16, name)
        monkeypatch.setattr(bf16, name, lambda *a, _real=real, _name=name, **k: (
            calls.append(k.get("act") or ("residual" if "add" in k else _name)), _real(*a, **k))[1])
    with paddle.no_grad(), bf16.autocast():
        fused = model(**batch)
    layers = 2
    assert sorted(calls) == sorted(["self_attention_inference"] * layers + ["residual"] * 2 * layers
                                   + ["gelu_tanh" if family == "albert" else "gelu"] * layers)
    _close(fused.logits.numpy(), unfused.logits.numpy())
    for got, ref in zip(fused.hidden_states, unfused.hidden_states):
        _close(got.numpy(), ref.numpy())
    with paddle.no_grad():
        fp32 = model(**batch).logits.numpy()
    assert np.abs(fused.logits.numpy() - fp32).max() > 0  # the bf16 path ran
    for got, ref in zip(fused.attentions, unfused.attentions):  # kept in bf16 inside; returned in fp32
        assert got.dtype == paddle.float32 and got.shape == ref.shape
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=2 ** -8)


def test_dropout_or_a_head_mask_keeps_the_unfused_path(kernel, monkeypatch):
    paddle.seed(5)
    model = _tiny("bert")
    model.train()  # dropout active
    monkeypatch.setattr(bf16, "self_attention_inference", lambda *a, **k: pytest.fail("fused while dropout runs"))
    ids = paddle.to_tensor(np.random.RandomState(6).randint(5, 97, (2, 9)))
    with paddle.no_grad(), bf16.autocast():
        model(input_ids=ids)
        model.eval()
        model(input_ids=ids, head_mask=paddle.to_tensor([1.0, 0.0, 1.0]))
