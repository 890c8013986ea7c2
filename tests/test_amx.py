"""The AMX kernel for bf16 inference Linears (kernels/csrc/amx.cc).

Where the CPU has AMX, a no-gradient Linear inside ``autocast()`` runs the package's own tile kernel on a
weight packed once per block. Its products must equal a bf16 x bf16 GEMM with fp32 accumulation (numpy in
fp64 on the bf16-rounded operands, and oneDNN's kernel), with every epilogue, for row counts that are not
multiples of the 32-row blocks. On a CPU without AMX the kernel must refuse to run and the layers must
keep oneDNN's GEMMs.
"""
import math
import threading

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert.kernels import bf16, build

from .conftest import results_in_threads, round_bf16


def _cpu_has_amx():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    return {"amx_bf16", "amx_tile", "avx512_bf16"} <= set(flags)


HAS_AMX = _cpu_has_amx()


@pytest.fixture()
def amx(kernel):
    assert bf16.amx_enabled() == HAS_AMX  # Linux grants the tiles to a process that asks
    return HAS_AMX


def _ref(x, w, b=None):
    out = round_bf16(x).astype(np.float64) @ round_bf16(w).astype(np.float64)
    return out if b is None else out + b


def _gelu(v, approximate):
    if approximate:
        return 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    return 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))


def _close(got, ref, rel=1e-5):
    np.testing.assert_allclose(got, ref, rtol=rel, atol=rel * np.abs(ref).max())


def _run(x, weights, bias=None, add=None, post=0, out_bf16=False):
    packed = build.run("pr_amx_pack", [paddle.to_tensor(w) for w in weights])[0]
    return build.run("pr_amx_linear", x, packed, None if bias is None else paddle.to_tensor(bias),
                     None if add is None else paddle.to_tensor(add), post, out_bf16)[0]


# -- the kernel ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 7, 45, 100])  # one block, partial blocks, several blocks per thread
@pytest.mark.parametrize("x_bf16", [False, True])
def test_products_equal_a_bf16_gemm_with_fp32_sums(amx, rows, x_bf16):
    rng = np.random.RandomState(rows)
    x, w = rng.randn(rows, 96).astype("float32"), rng.randn(96, 160).astype("float32")
    b = rng.randn(160).astype("float32")
    X = paddle.to_tensor(x)
    if x_bf16:
        X = X.astype("bfloat16")
    if not amx:
        with pytest.raises(Exception, match="does not grant AMX tiles"):
            _run(X, [w], b)
        return
    out = _run(X, [w], b)
    assert out.dtype == paddle.float32 and out.shape == [rows, 160]
    _close(out.numpy(), _ref(x, w, b))
    # oneDNN's kernel sums the same products in the same order
    _close(out.numpy(), bf16.matmul_raw(X, paddle.to_tensor(w), paddle.to_tensor(b)).numpy(), rel=1e-6)


def test_epilogues_gelu_residual_and_bf16_output(amx):
    if not amx:
        return
    rng = np.random.RandomState(1)
    x, w = rng.randn(2, 37, 64).astype("float32"), (0.3 * rng.randn(64, 96)).astype("float32")
    b, residual = rng.randn(96).astype("float32"), rng.randn(2, 37, 96).astype("float32")
    pre = _ref(x, w, b)
    X = paddle.to_tensor(x)
    for post, approximate in ((1, False), (2, True)):
        act = _gelu(pre, approximate)
        _close(_run(X, [w], b, post=post).numpy(), act)
        out = _run(X, [w], b, post=post, out_bf16=True)
        assert out.dtype == paddle.bfloat16 and out.shape == [2, 37, 96]
        np.testing.assert_allclose(out.astype("float32").numpy(), act, rtol=2 ** -8, atol=1e-5)  # then rounded
        _close(_run(X, [w], b, add=residual, post=post).numpy(), act + residual)
    _close(_run(X, [w], b, add=residual).numpy(), pre + residual)
    # large arguments: gelu is x or 0 there, with no overflow or NaN
    big = np.array([[-60.0, -12.0, 12.0, 60.0, 3e38, -3e38, np.inf, 0.0] * 4], "float32")
    eye = np.eye(32, dtype="float32")
    for post in (1, 2):
        got = _run(paddle.to_tensor(np.zeros((1, 32), "float32")), [eye], bias=big[0], post=post).numpy()
        np.testing.assert_allclose(got, np.maximum(big, 0), atol=1e-6)


def test_several_weights_packed_side_by_side_give_concatenated_outputs(amx):
    if not amx:
        return
    rng = np.random.RandomState(2)
    x = rng.randn(33, 64).astype("float32")
    ws = [rng.randn(64, n).astype("float32") for n in (32, 96, 64)]
    _close(_run(paddle.to_tensor(x), ws).numpy(), _ref(x, np.concatenate(ws, axis=1)))


def test_bad_operands_are_refused_with_a_message(amx):
    if not amx:
        return
    for bad in ([48, 64], [0, 32]):
        with pytest.raises(Exception, match="positive multiples of 32"):
            build.run("pr_amx_pack", [paddle.randn(bad)])
    with pytest.raises(Exception, match="the same K"):
        build.run("pr_amx_pack", [paddle.randn([64, 64]), paddle.randn([32, 64])])
    packed = build.run("pr_amx_pack", [paddle.randn([64, 32])])[0]
    with pytest.raises(Exception, match="X has 32 features, the weight 64"):
        build.run("pr_amx_linear", paddle.randn([3, 32]), packed, None, None, 0, False)
    with pytest.raises(Exception, match="Add must have the output's shape"):
        build.run("pr_amx_linear", paddle.randn([3, 64]), packed, None, paddle.randn([4, 32]), 0, False)


def test_the_bias_of_each_call_is_used(amx):
    """The packed weight is cached for the block, its bias is not: another bias with the same weight counts."""
    rng = np.random.RandomState(5)
    w = paddle.create_parameter([64, 32], "float32")
    w.set_value(rng.randn(64, 32).astype("float32"))
    w2 = paddle.create_parameter([64, 32], "float32")
    w2.set_value(rng.randn(64, 32).astype("float32"))
    x = paddle.to_tensor(rng.randn(5, 64).astype("float32"))
    b1, b2 = paddle.ones([32]), paddle.full([32], 5.0)
    with paddle.no_grad(), bf16.autocast():
        one, five, none = (bf16.linear(x, w, b).numpy() for b in (b1, b2, None))
        pair = [bf16.amx_linear(x, [w, w2], [b1, b]).numpy() for b in (b1, b2)] if amx else None
    np.testing.assert_allclose(five - one, 4.0, atol=1e-5)
    np.testing.assert_allclose(one - none, 1.0, atol=1e-5)
    if amx:
        np.testing.assert_allclose(pair[1] - pair[0], np.r_[np.zeros(32), np.full(32, 4.0)][None].repeat(5, 0),
                                   atol=1e-5)


def test_the_first_use_from_two_threads_waits_for_the_decision(kernel, monkeypatch):
    """A thread asking while another decides whether AMX is there must wait for it, not read half a state."""
    import time

    monkeypatch.setattr(bf16, "_STATE", {})
    real = build.run

    def slow(op, *args):
        if op == "pr_amx_available":
            time.sleep(0.3)
        return real(op, *args)

    monkeypatch.setattr(build, "run", slow)
    got, errors = [], []

    def ask(call, delay):
        time.sleep(delay)
        try:
            got.append(call())
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(bf16.available, 0)),
               threading.Thread(target=ask, args=(bf16.amx_enabled, 0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(got) == sorted([True, HAS_AMX])


# -- the models ---------------------------------------------------------------------------------------------
def _tiny(family):
    """Widths that are multiples of 32, so the Linears fit the AMX kernel."""
    common = dict(vocab_size=97, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96,
                  max_position_embeddings=40, type_vocab_size=2, num_labels=3)
    if family == "albert":
        model = pr.AlbertForSequenceClassification(pr.AlbertConfig(embedding_size=32, **common))
    else:
        model = pr.BertForSequenceClassification(pr.BertConfig(**common))
    rng = np.random.RandomState(7)
    for name, p in model.named_parameters():  # biases start at zero: make them count
        if name.endswith(".bias"):
            p.set_value((0.1 * rng.randn(*p.shape)).astype("float32"))
    return model


def _batch():
    rng = np.random.RandomState(4)
    lengths = np.array([13, 6, 1])
    return {"input_ids": paddle.to_tensor(rng.randint(5, 97, (3, 13))),
            "token_type_ids": paddle.to_tensor((np.arange(13)[None] >= lengths[:, None] // 2).astype("int64")),
            "attention_mask": paddle.to_tensor((np.arange(13)[None] < lengths[:, None]).astype("int64"))}


def _count_amx(monkeypatch):
    calls = []
    real = bf16.amx_linear
    monkeypatch.setattr(bf16, "amx_linear", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    return calls


@pytest.mark.parametrize("family", ["bert", "albert"])
def test_inference_through_the_kernel_matches_the_unfused_bf16_steps(amx, family, monkeypatch):
    paddle.seed(3)
    model = _tiny(family).eval()
    batch = _batch()
    with bf16.autocast():  # gradients wanted: the training path, oneDNN's GEMMs one by one
        unfused = model(**batch, output_hidden_states=True)
    calls = _count_amx(monkeypatch)
    with paddle.no_grad(), bf16.autocast():
        fused = model(**batch, output_hidden_states=True)
    # per layer: q|k|v, the attention output, the two FFN GEMMs; then the pooler (ALBERT: the embedding
    # projection too); the 3-label classifier is too narrow for the kernel
    assert len(calls) == ((4 * 2 + 1 + (family == "albert")) if amx else 0)
    _close(fused.logits.numpy(), unfused.logits.numpy())
    for got, ref in zip(fused.hidden_states, unfused.hidden_states):
        _close(got.numpy(), ref.numpy())


def test_switched_off_by_the_environment(amx, monkeypatch):
    paddle.seed(3)
    model = _tiny("bert").eval()
    batch = _batch()
    calls = _count_amx(monkeypatch)
    monkeypatch.setenv("PADDLE_REMBERT_AMX", "0")
    assert not bf16.amx_enabled()
    with paddle.no_grad(), bf16.autocast():
        off = model(**batch).logits.numpy()
    assert calls == []
    monkeypatch.delenv("PADDLE_REMBERT_AMX")
    with paddle.no_grad(), bf16.autocast():
        on = model(**batch).logits.numpy()
    assert len(calls) == (9 if amx else 0)
    _close(on, off)


def test_switched_off_for_a_block(amx, monkeypatch):
    """``autocast(amx=False)`` keeps oneDNN's GEMMs in its block, nested blocks included, and nowhere else."""
    paddle.seed(3)
    model = _tiny("bert").eval()
    batch = _batch()
    calls = _count_amx(monkeypatch)
    with paddle.no_grad(), bf16.autocast(amx=False):
        assert not bf16.amx_enabled()
        with bf16.autocast():  # inherits the choice
            off = model(**batch).logits.numpy()
    assert calls == [] and bf16.amx_enabled() == amx
    with paddle.no_grad(), bf16.autocast():
        on = model(**batch).logits.numpy()
    assert len(calls) == (9 if amx else 0)
    _close(on, off)


def test_threads_share_a_model(amx):
    """Each thread configures and releases its own tiles; results must not depend on the other threads."""
    paddle.seed(3)
    model = _tiny("bert").eval()
    batch = _batch()
    with paddle.no_grad(), bf16.autocast():
        want = model(**batch).logits.numpy()

    def forward():
        with paddle.no_grad(), bf16.autocast():
            return model(**batch).logits.numpy()

    for got in results_in_threads(forward):
        np.testing.assert_array_equal(got, want)
