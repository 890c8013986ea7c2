"""The fused AMX self-attention of bf16 inference (kernels/csrc/amx_attention.cc).

Without ``output_attentions``, a no-gradient forward inside ``autocast()`` on a CPU with AMX computes each
head's scores, softmax and context in one pass. It must give what the unfused steps give (the scores GEMM,
oneDNN's softmax, the context GEMM): the same rounding points, so the same bf16 context up to a rare last-bit
difference from the exponential. It must take every mask the models build, any length, and leave masked keys
out exactly. With ``output_attentions`` the models keep the unfused steps, which return the probabilities.
"""
import math

import numpy as np
import paddle
import pytest

from paddle_rembert.kernels import bf16, build

from .conftest import results_in_threads
from .test_amx import HAS_AMX, _batch, _tiny  # heads 32 wide: the attention fits the kernel

NEG = float(np.finfo(np.float32).min)


@pytest.fixture()
def amx(kernel):
    if not HAS_AMX:  # the operator refuses; the models keep the unfused steps (tests/test_amx.py)
        with pytest.raises(Exception, match="does not grant AMX tiles"):
            build.run("pr_amx_attention", paddle.zeros([1, 1, 96]).astype("bfloat16"), None, 1, 1.0)
    return HAS_AMX


def _unfused(qkv, add, heads):
    """The three operators the fused kernel replaces: the scores GEMM, the softmax, the context GEMM."""
    return bf16.attention_inference(qkv, add, heads, need_probs=True)[0]


def _fused(qkv, add, heads):
    d = qkv.shape[-1] // (3 * heads)
    return build.run("pr_amx_attention", qkv, add, heads, 1.0 / math.sqrt(d))[0]


def _reference(qkv, add, heads):
    x = qkv.astype("float32").numpy().astype(np.float64)
    b, length, width = x.shape
    hd = width // 3
    q, k, v = [x[..., i * hd:(i + 1) * hd].reshape(b, length, heads, -1).transpose(0, 2, 1, 3) for i in range(3)]
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    if add is not None:
        s = s + add.numpy()
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p @ v).transpose(0, 2, 1, 3).reshape(b, length, hd)


def _qkv(rng, b, length, heads, d, scale=2.0):
    return paddle.to_tensor((scale * rng.randn(b, length, 3 * heads * d)).astype("float32")).astype("bfloat16")


def _mask(rng, kind, b, length):
    if kind == "none":
        return None
    if kind == "padding":  # [B, 1, 1, L], as additive_attention_mask builds it from an attention_mask
        lengths = rng.randint(1, length + 1, b)
        lengths[0] = length
        keep = np.arange(length)[None] < lengths[:, None]
        return paddle.to_tensor(np.where(keep, 0.0, NEG).astype("float32")[:, None, None, :])
    if kind == "full":  # [B, 1, L, L]: a 3-D attention mask or a causal one
        keep = rng.rand(b, 1, length, length) < 0.7
        keep[..., 0] = True
        return paddle.to_tensor(np.where(keep, 0.0, NEG).astype("float32"))
    if kind == "shared-full":  # [1, 1, L, L]: one mask for every row of the batch
        return paddle.to_tensor(rng.randn(1, 1, length, length).astype("float32"))
    return paddle.to_tensor(rng.randn(1, 1, 1, length).astype("float32"))  # "shared": one row for all


def _assert_same_context(got, want):
    """Equal, but for a rare last-bit difference of the bf16 context (the exponential is not oneDNN's); a sum
    that nearly cancels can move by more than its own last bit, so the bound is one bit of the largest value."""
    got, want = got.astype("float32").numpy(), want.astype("float32").numpy()
    differ = got != want
    assert differ.mean() < 0.01, f"{differ.sum()} of {got.size} values differ"
    np.testing.assert_allclose(got, want, rtol=2 ** -7, atol=2 ** -8 * np.abs(want).max())


# -- the kernel ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("b,length,heads,d", [(1, 1, 1, 32), (2, 7, 2, 32), (3, 45, 3, 64), (1, 130, 2, 96),
                                              (2, 64, 4, 64), (2, 300, 1, 128)])
@pytest.mark.parametrize("kind", ["none", "padding", "full", "shared", "shared-full"])
def test_fused_attention_gives_the_unfused_steps_context(amx, b, length, heads, d, kind):
    if not amx:
        return
    rng = np.random.RandomState(length * 7 + d)
    qkv, add = _qkv(rng, b, length, heads, d), _mask(rng, kind, b, length)
    got = _fused(qkv, add, heads)
    assert got.dtype == paddle.bfloat16 and got.shape == [b, length, heads * d]
    want = _unfused(qkv, add, heads)
    _assert_same_context(got, want)
    ref = _reference(qkv, add, heads)
    worst = np.abs(want.astype("float32").numpy() - ref).max()  # the bf16 rounding of the unfused steps
    assert np.abs(got.astype("float32").numpy() - ref).max() <= worst * 1.01 + 1e-6


def test_masked_keys_add_exactly_nothing(amx):
    """A masked key's probability is exactly 0: values of the largest bf16 size at masked keys leave the
    context as it is with zeros there, for the masks the models build and a user's large negative one."""
    if not amx:
        return
    rng = np.random.RandomState(3)
    b, length, heads, d = 2, 40, 2, 32
    x = (rng.randn(b, length, 3 * heads * d)).astype("float32")
    keep = np.ones((b, length), bool)
    keep[0, 25:], keep[1, 3:] = False, False
    huge, zero = x.copy(), x.copy()
    for i in range(b):
        huge[i, ~keep[i], 2 * heads * d:] = 3e38
        zero[i, ~keep[i], 2 * heads * d:] = 0.0
    for neg in (NEG, -1e9, -1e4 * 9):
        add = paddle.to_tensor(np.where(keep, 0.0, neg).astype("float32")[:, None, None, :])
        got = _fused(paddle.to_tensor(huge).astype("bfloat16"), add, heads).astype("float32").numpy()
        want = _fused(paddle.to_tensor(zero).astype("bfloat16"), add, heads).astype("float32").numpy()
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("part", ["q", "k", "v", "mask"])
def test_a_nan_spreads_as_in_the_unfused_steps(amx, part):
    """A NaN in one query, key, value or mask entry makes NaNs where the unfused steps make them (a NaN
    score must not come out of the softmax as probability 0)."""
    if not amx:
        return
    rng = np.random.RandomState(11)
    b, length, heads, d = 2, 20, 2, 32
    x = rng.randn(b, length, 3 * heads * d).astype("float32")
    mask = np.zeros((b, 1, 1, length), "float32")
    if part == "mask":
        mask[1, 0, 0, 4] = np.nan
    else:
        x[1, 4, "qkv".index(part) * heads * d + d + 3] = np.nan  # the second head's q, k or v, at token 4
    qkv, add = paddle.to_tensor(x).astype("bfloat16"), paddle.to_tensor(mask)
    got = np.isnan(_fused(qkv, add, heads).astype("float32").numpy())
    want = np.isnan(_unfused(qkv, add, heads).astype("float32").numpy())
    assert want.any() and not want[0].any()
    np.testing.assert_array_equal(got, want)


def test_bad_operands_are_refused_with_a_message(amx):
    if not amx:
        return
    qkv = paddle.zeros([2, 5, 3 * 2 * 32]).astype("bfloat16")
    with pytest.raises(Exception, match="is not 3 x 4 heads x a multiple of 32"):
        build.run("pr_amx_attention", qkv, None, 4, 1.0)
    with pytest.raises(Exception, match="contiguous bfloat16"):
        build.run("pr_amx_attention", qkv.astype("float32"), None, 2, 1.0)
    for shape in ([2, 2, 1, 5], [3, 1, 1, 5], [2, 1, 1, 4], [2, 1, 4, 5], [2, 5]):
        with pytest.raises(Exception, match=r"Mask must be \[B or 1, 1, L or 1, L\] for B = 2, L = 5"):
            build.run("pr_amx_attention", qkv, paddle.zeros(shape), 2, 1.0)


def test_threads_get_the_same_context(amx):
    if not amx:
        return
    rng = np.random.RandomState(9)
    qkv, add = _qkv(rng, 3, 50, 2, 64), _mask(rng, "padding", 3, 50)
    want = _fused(qkv, add, 2).astype("float32").numpy()
    for got in results_in_threads(lambda: _fused(qkv, add, 2).astype("float32").numpy(), calls=10):
        np.testing.assert_array_equal(got, want)


# -- the models ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["bert", "albert"])
def test_models_fuse_the_attention_unless_asked_for_the_probabilities(amx, family, monkeypatch):
    paddle.seed(3)
    model = _tiny(family).eval()
    batch = _batch()
    calls = []
    real = build.run
    monkeypatch.setattr(build, "run", lambda op, *a: (calls.append(op), real(op, *a))[1])
    with paddle.no_grad(), bf16.autocast():
        fused = model(**batch, output_hidden_states=True)
        assert calls.count("pr_amx_attention") == (2 if amx else 0)
        calls.clear()
        unfused = model(**batch, output_hidden_states=True, output_attentions=True)
        assert "pr_amx_attention" not in calls
    assert fused.attentions is None and len(unfused.attentions) == 2
    for probs in unfused.attentions:  # the probabilities are there, each row a distribution over the real keys
        p = probs.numpy()
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=2e-2)
        assert (p[2, :, :, 1:] == 0).all()  # the one-token row attends to its token only
    for got, want in zip(fused.hidden_states, unfused.hidden_states):
        _assert_same_context(paddle.to_tensor(got.numpy()), paddle.to_tensor(want.numpy()))
    np.testing.assert_allclose(fused.logits.numpy(), unfused.logits.numpy(), rtol=2 ** -7, atol=1e-3)
