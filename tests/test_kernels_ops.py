"""The fp32 CPU operators the models use in dygraph (paddle_rembert.kernels.ops): softmax, gelu and
LayerNorm (oneDNN) and the threaded dropout, against Paddle's kernels; how they are switched on and
off; and the fallback when they cannot be built."""
import logging
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert.kernels import build, ops
from paddle_rembert.modeling import layers
from paddle_rembert.runtime.settings import set_num_threads


@pytest.fixture(scope="module")
def kernels():
    assert build.available(), build.unavailable_reason()
    return ops


@pytest.fixture
def without_kernels(monkeypatch):
    """As when the operators cannot be built: Paddle's kernels everywhere."""
    monkeypatch.setattr(build, "_STATE", {"ok": False, "error": "disabled by the test"})


def _grad(out, inputs, g):
    return [t.numpy() for t in paddle.grad(out, inputs, g)]


# -- numerics against Paddle's kernels ------------------------------------------------------------
def test_softmax_matches_paddle_forward_and_backward(kernels):
    paddle.seed(4)
    x = paddle.randn([2, 3, 5, 37]) * 4
    x.stop_gradient = False
    g = paddle.randn([2, 3, 5, 37])
    ref = paddle.nn.functional.softmax(x, axis=-1)
    out = ops.softmax(x)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(_grad(out, x, g)[0], _grad(ref, x, g)[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_matches_paddle_forward_and_backward(kernels, approximate):
    paddle.seed(5)
    x = paddle.randn([3, 7, 41]) * 3
    x.stop_gradient = False
    g = paddle.randn([3, 7, 41])
    ref = paddle.nn.functional.gelu(x, approximate=approximate)
    out = ops.gelu(x, approximate=approximate)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_grad(out, x, g)[0], _grad(ref, x, g)[0], rtol=1e-4, atol=1e-5)


def test_layer_norm_matches_paddle_forward_and_backward(kernels):
    paddle.seed(7)
    x = paddle.randn([4, 9, 48]) * 2 + 1
    w, b = paddle.randn([48]), paddle.randn([48])
    for t in (x, w, b):
        t.stop_gradient = False
    g = paddle.randn([4, 9, 48])
    ref = paddle.nn.functional.layer_norm(x, [48], w, b, 1e-12)
    out = ops.layer_norm(x, w, b, 1e-12)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    for got, want in zip(_grad(out, [x, w, b], g), _grad(ref, [x, w, b], g)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_layer_norm_gradient_only_for_what_needs_it(kernels):
    x, w, b = paddle.randn([3, 16]), paddle.randn([16]), paddle.randn([16])
    x.stop_gradient = False
    out = ops.layer_norm(x, w, b)
    out.sum().backward()
    assert x.grad is not None and w.grad is None and b.grad is None


# -- dropout -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keeps_one_minus_p_and_scales_the_kept(kernels, p):
    paddle.seed(11)
    x = paddle.rand([6, 13, 1031]) + 0.5  # no zeros, several blocks and a ragged tail
    y = ops.dropout(x, p).numpy()
    kept = y != 0
    n = kept.size
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    scale = np.float32(1) / (np.float32(1) - np.float32(p))  # in float32, as the kernel computes it
    np.testing.assert_array_equal(y[kept], (x.numpy() * scale)[kept])
    # no structure: neighbours and rows are independent, and every block keeps about 1 - p
    flat = kept.reshape(-1).astype(np.float64)
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(flat[:-1031], flat[1031:])[0, 1]) < 0.01
    blocks = flat[: n // 16384 * 16384].reshape(-1, 16384).mean(axis=1)
    assert np.abs(blocks - (1 - p)).max() < 6 * np.sqrt(p * (1 - p) / 16384)


def test_dropout_gradient_is_the_mask_scaled(kernels):
    paddle.seed(12)
    x = paddle.randn([5, 300])
    x.stop_gradient = False
    y = ops.dropout(x, 0.3)
    g = paddle.randn([5, 300])
    (dx,) = paddle.grad(y, x, g)
    kept = y.numpy() != 0
    np.testing.assert_allclose(dx.numpy(), np.where(kept, g.numpy() / 0.7, 0), rtol=1e-6)


def test_dropout_masks_follow_paddle_seed_not_the_thread_count(kernels):
    x = paddle.ones([4, 40000])
    paddle.seed(3)
    first, second = ops.dropout(x, 0.2).numpy(), ops.dropout(x, 0.2).numpy()
    assert (first != second).any()  # each call draws a new seed
    paddle.base.core.set_num_threads(1)
    try:
        paddle.seed(3)
        again = ops.dropout(x, 0.2).numpy()
    finally:
        set_num_threads()  # what conftest set
    np.testing.assert_array_equal(first, again)
    # the generator's state replays them too (the trainer's resume)
    paddle.seed(3)
    ops.dropout(x, 0.2)
    state = paddle.get_rng_state()
    expected = ops.dropout(x, 0.2).numpy()
    paddle.set_rng_state(state)
    np.testing.assert_array_equal(ops.dropout(x, 0.2).numpy(), expected)


def test_dropout_rejects_a_bad_probability(kernels):
    with pytest.raises(Exception, match="p must be in"):
        build.run("pr_dropout", paddle.ones([4]), 1.0, 0)


# -- the layers' switch --------------------------------------------------------------------------------
def test_dropout_layer_uses_the_kernel_only_when_training(kernels):
    layer = layers.Dropout(0.25)
    x = paddle.ones([8, 512])
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    layer.train()
    paddle.seed(9)
    ours = layer(x).numpy()
    paddle.seed(9)
    np.testing.assert_array_equal(ops.dropout(x, 0.25).numpy(), ours)
    assert set(np.unique(ours)) == {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(layers.Dropout(0.0)(x).numpy(), x.numpy())


def test_without_kernels_the_layers_are_paddles_bit_for_bit(without_kernels):
    paddle.seed(1)
    x = paddle.randn([2, 7, 32])
    ln = layers.LayerNorm(32)
    np.testing.assert_array_equal(ln(x).numpy(), paddle.nn.functional.layer_norm(x, [32], ln.weight, ln.bias).numpy())
    np.testing.assert_array_equal(layers.get_activation("gelu")(x).numpy(), paddle.nn.functional.gelu(x).numpy())
    q, k, v = (paddle.randn([2, 3, 5, 4]) for _ in range(3))
    _, probs = layers.attention(q, k, v, None, lambda p: p)
    scores = paddle.nn.functional.softmax(paddle.matmul(q, k, transpose_y=True) / 2.0, axis=-1)
    np.testing.assert_array_equal(probs.numpy(), scores.numpy())
    drop = layers.Dropout(0.3)
    paddle.seed(4)
    ours = drop(x).numpy()
    paddle.seed(4)
    np.testing.assert_array_equal(ours, paddle.nn.functional.dropout(x, 0.3).numpy())



@pytest.mark.parametrize("frozen", ["weight", "bias", "both"])
def test_a_frozen_layer_norm_passes_the_right_gradient_without_kernels(without_kernels, frozen):
    """Paddle 3.3's CPU layer_norm returns a wrong input gradient when it computes no scale gradient."""
    import torch

    rng = np.random.RandomState(0)
    x_np, scale = rng.randn(2, 7, 32).astype("float32"), rng.randn(2, 7, 32).astype("float32")
    ln = layers.LayerNorm(32)
    ln.weight.set_value((1 + 0.1 * rng.randn(32)).astype("float32"))
    ln.bias.set_value((0.1 * rng.randn(32)).astype("float32"))
    ln.weight.stop_gradient = frozen in ("weight", "both")
    ln.bias.stop_gradient = frozen in ("bias", "both")
    x = paddle.to_tensor(x_np, stop_gradient=False)
    (ln(x) * paddle.to_tensor(scale)).sum().backward()
    xt = torch.tensor(x_np, requires_grad=True)
    weight, bias = torch.tensor(ln.weight.numpy()), torch.tensor(ln.bias.numpy())
    (torch.nn.functional.layer_norm(xt, [32], weight, bias, ln._epsilon) * torch.tensor(scale)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-5)
    assert (ln.weight.grad is None) == ln.weight.stop_gradient and (ln.bias.grad is None) == ln.bias.stop_gradient

def test_static_graphs_and_other_dtypes_take_paddles_kernels(kernels):
    assert ops.enabled(paddle.ones([2]))
    assert not ops.enabled(paddle.ones([2], dtype="float64"))
    paddle.enable_static()
    try:
        assert not ops.enabled()
    finally:
        paddle.disable_static()


def test_model_trains_the_same_with_and_without_kernels(kernels, monkeypatch):
    """A tiny BERT's loss and gradients (dropout off) match across the two paths within fp32 round-off."""
    cfg = pr.BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    rng = np.random.RandomState(0)
    batch = {"input_ids": paddle.to_tensor(rng.randint(5, 97, (3, 11))),
             "attention_mask": paddle.to_tensor((np.arange(11)[None] < np.array([[11], [7], [4]])).astype("int64")),
             "labels": paddle.to_tensor([0, 2, 1])}

    def run():
        paddle.seed(0)
        model = pr.BertForSequenceClassification(cfg)
        loss = model(**batch).loss
        loss.backward()
        return float(loss), {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}

    fast_loss, fast = run()
    monkeypatch.setattr(build, "_STATE", {"ok": False, "error": "disabled by the test"})
    plain_loss, plain = run()
    assert abs(fast_loss - plain_loss) < 1e-6
    assert fast.keys() == plain.keys()
    for name in plain:
        scale = max(np.abs(plain[name]).max(), 1e-6)
        assert np.abs(fast[name] - plain[name]).max() <= 1e-5 * scale + 1e-7, name


# -- availability -----------------------------------------------------------------------------------
def test_a_failed_build_warns_once_and_leaves_paddles_kernels(monkeypatch, caplog):
    monkeypatch.setattr(build, "_STATE", {})
    monkeypatch.setattr(build, "_load", lambda: (_ for _ in ()).throw(RuntimeError("no compiler\nmore")))
    x = paddle.randn([3, 8])
    with caplog.at_level(logging.WARNING, logger="paddle_rembert"):
        assert not ops.enabled(x) and not ops.enabled(x)
        out = layers.get_activation("gelu")(x)
    np.testing.assert_array_equal(out.numpy(), paddle.nn.functional.gelu(x).numpy())
    warnings = [r.getMessage() for r in caplog.records if "CPU kernels are unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "no compiler" in warnings[0] and "more" not in warnings[0]


def test_the_environment_variable_turns_them_off_quietly(tmp_path):
    code = ("import logging; logging.basicConfig(level=logging.WARNING)\n"
            "from paddle_rembert.kernels import build\n"
            "print(build.available(), build.unavailable_reason())\n")
    env = dict(os.environ, PADDLE_REMBERT_KERNELS="0", PADDLE_REMBERT_CACHE=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False PADDLE_REMBERT_KERNELS=0"
    assert "unavailable" not in done.stderr and not list(tmp_path.iterdir())  # nothing built


@pytest.mark.parametrize("family", ["bert", "albert"])
def test_recompute_replays_the_dropout_masks(kernels, family):
    """Gradient checkpointing re-runs each layer's forward in the backward: Paddle's recompute restores the
    CPU generator, so our dropout draws the same seeds and the gradients equal the plain run's."""
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3, num_labels=3, vocab_size=97)
    config = pr.BertConfig(**common) if family == "bert" else pr.AlbertConfig(embedding_size=16, **common)
    cls = pr.BertForSequenceClassification if family == "bert" else pr.AlbertForSequenceClassification
    rng = np.random.RandomState(1)
    batch = {"input_ids": paddle.to_tensor(rng.randint(5, 97, (3, 13))), "labels": paddle.to_tensor([0, 2, 1])}

    def run(checkpointing):
        paddle.seed(0)
        model = cls(config)
        model.train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        paddle.seed(5)
        loss = model(**batch).loss
        loss.backward()
        return float(loss), {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}

    plain_loss, plain = run(False)
    loss, grads = run(True)
    assert loss == plain_loss
    assert grads.keys() == plain.keys()
    for name in plain:
        np.testing.assert_allclose(grads[name], plain[name], rtol=1e-5, atol=1e-7, err_msg=name)
