"""bf16 GEMM kernels (paddle_rembert.kernels.bf16) and the thread-safe contiguous transpose.

The custom operators are built once per machine on first use (~15-20 s, cached under
``$PADDLE_REMBERT_CACHE`` or ``~/.cache/paddle_rembert``); later sessions only load them.
The fp32 operators (softmax, gelu, LayerNorm, dropout) are tested in test_kernels_ops.py.
"""
import contextlib
import logging
import threading

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert.kernels import bf16
from paddle_rembert.modeling import layers

from .conftest import round_bf16


def _np(t):
    return t.numpy().astype(np.float64)


# -- the thread-safe transpose ---------------------------------------------------------------------
def test_transpose_copy_is_a_contiguous_copy_and_leaves_the_flag_alone():
    x = paddle.randn([3, 5, 4, 6])
    before = paddle.get_flags(["FLAGS_use_stride_kernel"])
    for perm in ([0, 2, 1, 3], [3, 1, 0, 2]):
        y = layers._transpose_copy(x, perm)
        assert y.is_contiguous() and y.shape == [x.shape[p] for p in perm]
        np.testing.assert_array_equal(y.numpy(), x.numpy().transpose(perm))
        assert y.data_ptr() != x.data_ptr()
    ids = paddle.arange(24, dtype="int64").reshape([2, 3, 4])
    np.testing.assert_array_equal(layers._transpose_copy(ids, [2, 0, 1]).numpy(), ids.numpy().transpose(2, 0, 1))
    assert paddle.get_flags(["FLAGS_use_stride_kernel"]) == before


def test_transpose_gradient_is_the_inverse_permutation():
    x = paddle.randn([2, 7, 3, 5])
    x.stop_gradient = False
    g = np.random.RandomState(0).randn(2, 3, 7, 5).astype("float32")
    layers.split_heads(x.reshape([2, 7, 15]), 3).backward(paddle.to_tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), g.transpose(0, 2, 1, 3))


def test_transposes_in_one_thread_keep_views_working_in_another():
    """Another thread's in-place writes through a view must reach the base tensor while our transposes run."""
    stop = threading.Event()
    errors = []

    def transposing():
        x = paddle.randn([8, 32, 4, 16])
        x.stop_gradient = False
        while not stop.is_set():
            layers.split_heads(x.reshape([8, 32, 64]), 4)
            layers.merge_heads(layers.transpose(x, [0, 2, 1, 3]))

    def writing():
        for i in range(3000):
            if not paddle.get_flags(["FLAGS_use_stride_kernel"])["FLAGS_use_stride_kernel"]:
                errors.append(f"stride kernels switched off under another thread (iteration {i})")
                return
            base = paddle.zeros([6, 4])
            view = base.transpose([1, 0])
            view[1:3] = 1.0  # through the view: columns 1 and 2 of base
            if float(base.sum()) != 12.0:
                errors.append(f"an in-place write through a view was lost (iteration {i})")
                return

    t = threading.Thread(target=transposing)
    t.start()
    try:
        writing()
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]


# -- the switch ------------------------------------------------------------------------------------------
def test_autocast_is_scoped_per_thread_and_nests():
    seen = {}
    assert not bf16.requested()
    with bf16.autocast():
        assert bf16.requested()
        with bf16.autocast(enable=False):
            assert not bf16.requested()
        assert bf16.requested()
        t = threading.Thread(target=lambda: seen.setdefault("other", bf16.requested()))
        t.start()
        t.join()
    assert not bf16.requested() and seen["other"] is False


def test_inactive_outside_autocast_in_static_graphs_and_for_other_dtypes(kernel):
    x = paddle.randn([4, 8])
    assert not bf16.active(x)
    with bf16.autocast():
        assert bf16.active(x)
        assert not bf16.active(x.astype("float64"))
        paddle.enable_static()
        try:
            assert not bf16.active()
        finally:
            paddle.disable_static()


def test_cpu_flag_detection(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor : 0\nflags : fpu avx512f avx512_vnni\n")
    assert not bf16.cpu_has_bf16(str(f))
    f.write_text("processor : 0\nflags : fpu avx512f avx512_bf16 amx_tile\n")
    assert bf16.cpu_has_bf16(str(f))
    assert not bf16.cpu_has_bf16(str(tmp_path / "missing"))


def test_emulation_is_asked_for_and_needs_avx512(tmp_path, monkeypatch):
    f = tmp_path / "cpuinfo"
    f.write_text("processor : 0\nflags : fpu avx512f avx512dq avx512bw avx512vl avx512_vnni\n")
    assert bf16.cpu_emulates_bf16(str(f)) and not bf16.cpu_has_bf16(str(f))
    f.write_text("processor : 0\nflags : fpu avx2 fma\n")
    assert not bf16.cpu_emulates_bf16(str(f))
    monkeypatch.setattr(bf16, "cpu_has_bf16", lambda: False)
    for setting, emulates, ok in (("emulate", True, True), ("emulate", False, False), ("", True, False)):
        monkeypatch.setattr(bf16, "_STATE", {})
        monkeypatch.setenv("PADDLE_REMBERT_BF16", setting)
        monkeypatch.setattr(bf16, "cpu_emulates_bf16", lambda: emulates)
        assert bf16.available() is ok, (setting, emulates)


def test_unavailable_kernel_warns_once_and_falls_back_to_fp32(monkeypatch, caplog):
    monkeypatch.setattr(bf16, "_STATE", {})
    monkeypatch.setattr(bf16, "cpu_has_bf16", lambda: False)
    monkeypatch.delenv("PADDLE_REMBERT_BF16", raising=False)  # the suite asks for emulation where it can
    x, w, b = paddle.randn([3, 8]), paddle.randn([8, 5]), paddle.randn([5])
    with caplog.at_level(logging.WARNING, logger="paddle_rembert"), bf16.autocast():
        out = layers.linear(x, w, b)
        layers.linear(x, w, b)
    np.testing.assert_array_equal(out.numpy(), paddle.nn.functional.linear(x, w, b).numpy())
    warnings = [r for r in caplog.records if "bf16 GEMMs unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "AVX512-BF16" in warnings[0].getMessage()


# -- the operator ---------------------------------------------------------------------------------------
CASES = [  # x shape, y shape, transpose_x, transpose_y
    ([2, 9, 24], [24, 40], False, False),  # Linear: rows of a 3-D x against a 2-D weight
    ([2, 9, 24], [40, 24], False, True),  # Linear with an [out, in] weight / dx = dy @ W
    ([24, 18], [24, 40], True, False),  # weight gradient x^T @ dy
    ([2, 3, 9, 16], [2, 3, 11, 16], False, True),  # attention scores q @ k^T
    ([2, 3, 9, 11], [2, 3, 11, 16], False, False),  # probs @ v
    ([2, 3, 11, 9], [2, 3, 11, 16], True, False),  # its gradient probs^T @ dctx
]


@pytest.mark.parametrize("xs,ys,tx,ty", CASES)
def test_reorder_mode_is_fp32_accumulation_of_bf16_rounded_operands(kernel, xs, ys, tx, ty):
    rng = np.random.RandomState(0)
    x, y = rng.randn(*xs).astype("float32"), rng.randn(*ys).astype("float32")
    out = bf16.matmul_raw(paddle.to_tensor(x), paddle.to_tensor(y), None, tx, ty, mode=0).numpy()
    xr, yr = round_bf16(x).astype(np.float64), round_bf16(y).astype(np.float64)
    ref = np.matmul(np.swapaxes(xr, -1, -2) if tx else xr, np.swapaxes(yr, -1, -2) if ty else yr)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    unrounded = np.matmul(np.swapaxes(x, -1, -2) if tx else x, np.swapaxes(y, -1, -2) if ty else y)
    assert np.abs(out - unrounded).max() > 1e-4 * np.abs(ref).max()  # the operands really were rounded


@pytest.mark.parametrize("mode", [0, 1])
def test_bias_strided_views_and_bf16_operands(kernel, mode):
    rng = np.random.RandomState(1)
    x = paddle.to_tensor(rng.randn(4, 6, 3, 32).astype("float32"))
    w = paddle.to_tensor(rng.randn(32, 48).astype("float32"))
    b = paddle.to_tensor(rng.randn(48).astype("float32"))
    ref = _np(x) @ _np(w) + _np(b)
    tol = 2e-2 * np.abs(ref).max()
    np.testing.assert_allclose(bf16.matmul_raw(x, w, b, mode=mode).numpy(), ref, atol=tol)
    view = x.transpose([0, 2, 1, 3])  # a strided view (stride kernels are on): read through its strides
    np.testing.assert_allclose(bf16.matmul_raw(view, w, b, mode=mode).numpy(), ref.transpose(0, 2, 1, 3), atol=tol)
    out = bf16.matmul_raw(x.astype("bfloat16"), w.astype("bfloat16"), b, mode=mode)
    assert out.dtype == paddle.float32
    np.testing.assert_allclose(out.numpy(), ref, atol=tol)


def test_mismatched_shapes_raise(kernel):
    with pytest.raises(Exception, match="inner dims"):
        bf16.matmul_raw(paddle.randn([4, 5]), paddle.randn([6, 3]))


def _grads(fn, tensors, ctx):
    for t in tensors:
        t.clear_gradient()
    with ctx:
        out = fn()
        (out * out).sum().backward()
    return [out.numpy()] + [t.grad.numpy() for t in tensors]


def _assert_close_to_fp32(got, ref, rel=2e-2):
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        assert np.abs(g - r).max() <= rel * np.abs(r).max(), (np.abs(g - r).max(), np.abs(r).max())


@pytest.mark.parametrize("with_bias,transpose_w", [(True, False), (False, False), (True, True)])
def test_linear_forward_and_gradients_follow_fp32(kernel, with_bias, transpose_w):
    paddle.seed(0)
    x = paddle.randn([3, 17, 64])
    w = paddle.randn([48, 64] if transpose_w else [64, 48]) * 0.1
    b = paddle.randn([48]) if with_bias else None
    params = [t for t in (x, w, b) if t is not None]
    for t in params:
        t.stop_gradient = False
    fn = lambda: layers.linear(x, w, b, transpose_w=transpose_w)  # noqa: E731
    ref = _grads(fn, params, contextlib.nullcontext())
    got = _grads(fn, params, bf16.autocast())
    _assert_close_to_fp32(got, ref)
    assert any(np.abs(g - r).max() > 0 for g, r in zip(got, ref))  # the bf16 path ran
    np.testing.assert_array_equal(_grads(fn, params, bf16.autocast(enable=False))[0], ref[0])


def test_attention_forward_and_gradients_follow_fp32(kernel):
    paddle.seed(1)
    q, k, v = (paddle.randn([2, 4, 33, 16]) for _ in range(3))
    mask = layers.additive_attention_mask(paddle.to_tensor(np.r_[[1] * 33, [1] * 20 + [0] * 13].reshape(2, 33)),
                                          paddle.float32)
    for t in (q, k, v):
        t.stop_gradient = False
    fn = lambda: layers.attention(q, k, v, mask, lambda p: p)[0]  # noqa: E731
    ref = _grads(fn, [q, k, v], contextlib.nullcontext())
    got = _grads(fn, [q, k, v], bf16.autocast())
    _assert_close_to_fp32(got, ref)
    assert any(np.abs(g - r).max() > 0 for g, r in zip(got, ref))


def test_gemms_outside_autocast_are_paddles_fp32_ones():
    """Outside autocast, linear and attention's GEMMs are exactly Paddle's fp32 ops (only the softmax is
    oneDNN's, equal within round-off: tests/test_kernels_ops.py)."""
    paddle.seed(2)
    x, w, b = paddle.randn([2, 5, 16]), paddle.randn([16, 8]), paddle.randn([8])
    np.testing.assert_array_equal(layers.linear(x, w, b).numpy(), paddle.nn.functional.linear(x, w, b).numpy())
    q, k, v = (paddle.randn([2, 3, 5, 4]) for _ in range(3))
    ctx, probs = layers.attention(q, k, v, None, lambda p: p)
    np.testing.assert_array_equal(ctx.numpy(), paddle.matmul(probs, v).numpy())
    scores = paddle.nn.functional.softmax(paddle.matmul(q, k, transpose_y=True) / 2.0, axis=-1)
    np.testing.assert_allclose(probs.numpy(), scores.numpy(), rtol=1e-6, atol=1e-7)


def test_tiny_albert_trains_in_bf16_like_fp32(kernel):
    """20 AdamW steps on a fixed batch: every bf16 loss within 2% of the fp32 run's."""
    cfg = dict(vocab_size=99, embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3,
               max_position_embeddings=64)
    rng = np.random.RandomState(0)
    batch = {"input_ids": paddle.to_tensor(rng.randint(5, 99, (8, 24))),
             "attention_mask": paddle.to_tensor((np.arange(24)[None] < rng.randint(8, 25, (8, 1))).astype("int64")),
             "labels": paddle.to_tensor(rng.randint(0, 3, 8))}

    def run(ctx):
        paddle.seed(0)
        model = pr.AlbertForSequenceClassification(pr.AlbertConfig(**cfg))
        model.train()
        opt = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=model.parameters())
        losses = []
        for _ in range(20):
            with ctx():
                loss = model(**batch).loss
            loss.backward()
            opt.step()
            opt.clear_grad()
            losses.append(float(loss))
        return np.array(losses)

    fp32, low = run(contextlib.nullcontext), run(bf16.autocast)
    assert fp32[-1] < 0.5 * fp32[0]  # it learns, so the comparison covers a moving loss
    assert (np.abs(low - fp32) <= 0.02 * np.abs(fp32)).all(), (fp32, low)  # measured: at most 0.2%
    assert not np.array_equal(low, fp32)


def test_scale_and_broadcast_add_run_in_the_gemm_epilogue(kernel):
    rng = np.random.RandomState(6)
    q, k = rng.randn(2, 3, 9, 16).astype("float32"), rng.randn(2, 3, 11, 16).astype("float32")
    mask = np.where(rng.rand(2, 1, 1, 11) < 0.3, -1e4, 0.0).astype("float32")
    out = bf16.matmul_raw(paddle.to_tensor(q), paddle.to_tensor(k), None, False, True, mode=0, alpha=0.25,
                          add=paddle.to_tensor(mask)).numpy()
    ref = 0.25 * (round_bf16(q).astype(np.float64) @ np.swapaxes(round_bf16(k), -1, -2)) + mask
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)


def test_concurrent_calls_from_threads_give_the_serial_results(kernel):
    """Primitives are shared across threads (each thread has its own oneDNN stream)."""
    rng = np.random.RandomState(8)
    jobs = [(paddle.to_tensor(rng.randn(64, 96).astype("float32")), paddle.to_tensor(rng.randn(96, 80 + 16 * i)
             .astype("float32"))) for i in range(4)]
    expected = [bf16.matmul_raw(x, y).numpy() for x, y in jobs]
    errors = []

    def work(i):
        x, y = jobs[i % len(jobs)]
        for _ in range(30):
            if not np.array_equal(bf16.matmul_raw(x, y).numpy(), expected[i % len(jobs)]):
                errors.append(i)
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_parameter_copies_are_made_once_per_autocast_block_and_change_nothing(kernel, monkeypatch):
    """As PyTorch's autocast: a parameter's bf16 copy is made once per (outermost) block and reused by every
    GEMM and their backward -- ALBERT's shared layers convert once, not per layer -- with the same results
    as converting inside each GEMM."""
    from paddle_rembert.kernels import build

    cfg = pr.AlbertConfig(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                          num_attention_heads=4, intermediate_size=40, num_labels=3, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    batch = {"input_ids": paddle.to_tensor(np.random.RandomState(0).randint(5, 99, (2, 9))),
             "labels": paddle.to_tensor([0, 2])}
    converted = []  # ids of the tensors given bf16 copies
    real_run = build.run
    monkeypatch.setattr(build, "run", lambda op, *a: (op == "pr_to_bf16" and converted.append(id(a[0])),
                                                      real_run(op, *a))[1])

    def step(model):
        with bf16.autocast():
            loss = model(**batch).loss
        loss.backward()
        return float(loss), {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}

    paddle.seed(0)
    model = pr.AlbertForSequenceClassification(cfg)
    cached_loss, cached_grads = step(model)
    shared = model.albert.encoder.albert_layer_groups[0].albert_layers[0]
    shared_weights = {id(layer.weight) for layer in shared.sublayers() if isinstance(layer, paddle.nn.Linear)}
    assert len(shared_weights) == 6 and shared_weights <= set(converted)
    assert len(converted) == len(set(converted))  # the 3 layers share one group: each weight converted once
    first = len(converted)
    step(model)
    assert len(converted) == 2 * first and set(converted[first:]) == set(converted[:first])  # a new block: again

    monkeypatch.setattr(bf16, "_bf16_weight", lambda w: w)  # convert inside every GEMM instead
    paddle.seed(0)
    plain_loss, plain_grads = step(pr.AlbertForSequenceClassification(cfg))
    assert cached_loss == plain_loss
    for name, g in plain_grads.items():  # equal on a bf16 CPU; oneDNN's emulation may sum in another order
        if bf16.cpu_has_bf16():
            np.testing.assert_array_equal(cached_grads[name], g, err_msg=name)
        else:
            np.testing.assert_allclose(cached_grads[name], g, rtol=1e-5, atol=1e-7, err_msg=name)


# -- paddle.grad over some tensors -----------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_paddle_grad_over_some_tensors_equals_the_full_backward(kernel, precision):
    """``paddle.grad`` w.r.t. only the input embeddings (saliency) or a few parameters, or with ``no_grad_vars``,
    runs a pruned graph whose cut edges Paddle marks stop-gradient; every PyLayer of several tensors (fp32 Linear
    and LayerNorm; bf16 Linear and attention GEMMs) must still answer, and equal a full ``backward``."""
    config = pr.BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=48, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    paddle.seed(3)
    model = pr.BertForSequenceClassification(config)
    model.train()
    ids = paddle.to_tensor(np.random.RandomState(3).randint(1, 40, (2, 9)))
    mask = paddle.to_tensor([[1] * 9, [1] * 6 + [0] * 3])
    embeds = model.bert.embeddings.word_embeddings(ids).detach()
    embeds.stop_gradient = False
    layer_norm = model.bert.encoder.layer[1].attention.output.LayerNorm.weight
    query = model.bert.encoder.layer[0].attention.self.query.weight
    picked = [layer_norm, query, model.classifier.weight]
    ctx = bf16.autocast if precision == "bf16" else contextlib.nullcontext

    def loss():
        with ctx():
            return model(inputs_embeds=embeds, attention_mask=mask, labels=paddle.to_tensor([0, 1])).loss

    loss().backward()
    full = {name: t.grad.numpy() for name, t in [("embeds", embeds), *zip("lqc", picked)]}
    model.clear_gradients()
    (g,) = paddle.grad(loss(), [embeds])
    np.testing.assert_allclose(g.numpy(), full["embeds"], rtol=1e-6, atol=1e-9)
    for got, name in zip(paddle.grad(loss(), picked), "lqc"):
        np.testing.assert_allclose(got.numpy(), full[name], rtol=1e-6, atol=1e-9)
    (g,) = paddle.grad(loss(), [embeds], no_grad_vars=[query, model.classifier.bias])
    np.testing.assert_allclose(g.numpy(), full["embeds"], rtol=1e-6, atol=1e-9)
    assert not any(p.grad is not None and p.grad.numpy().any() for p in model.parameters())  # nothing accumulated
