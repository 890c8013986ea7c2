"""Edges of the CPU operators (paddle_rembert.kernels): the bounded primitive cache, empty GEMMs,
double backward, LayerNorm over several axes, how the built library is trusted and rebuilt, and
``PADDLE_REMBERT_KERNELS=0`` as the way to Paddle's own autograd (``paddle.grad`` over some inputs)."""
import logging
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_rembert.kernels import bf16, build, ops
from paddle_rembert.modeling import layers

from .conftest import round_bf16


@pytest.fixture(scope="module")
def kernels():
    assert build.available(), build.unavailable_reason()
    assert bf16.available(), bf16.unavailable_reason()


def _run(code, **env):
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# -- the primitive cache ---------------------------------------------------------------------------------
def test_the_primitive_cache_keeps_at_most_its_capacity_and_rebuilds_what_it_evicted(kernels):
    """A server sees a new shape with every sequence length; each bf16 primitive holds JIT code (0.3-0.7 MB)."""
    code = """
import numpy as np, paddle
from paddle_rembert.kernels import bf16
assert bf16.available()
w = paddle.to_tensor(np.random.RandomState(0).randn(16, 24).astype("float32"))
def run(rows):
    x = paddle.to_tensor(np.random.RandomState(rows).randn(rows, 16).astype("float32"))
    return bf16.matmul_raw(x, w).numpy()
first = run(1)
for rows in range(2, 40):
    run(rows)
print(len(bf16.implementations()), float(np.abs(run(1) - first).max()))
"""
    count, diff = _run(code, ONEDNN_PRIMITIVE_CACHE_CAPACITY="8").split()
    assert int(count) <= 8 and float(diff) == 0.0  # the first shape was evicted, rebuilt, and computes the same
    count, _ = _run(code).split()
    assert int(count) >= 39  # the default capacity (1024) keeps them all


# -- empty GEMMs ----------------------------------------------------------------------------------------
def test_a_gemm_over_an_empty_inner_dim_is_zero_plus_its_epilogue(kernels):
    bias = paddle.to_tensor([0.0, 1.0, 2.0, 3.0])
    add = paddle.to_tensor(np.arange(12, dtype="float32").reshape(3, 4))
    out = bf16.matmul_raw(paddle.ones([3, 0]), paddle.ones([0, 4]), bias, add=add)
    np.testing.assert_array_equal(out.numpy(), np.tile([0.0, 1.0, 2.0, 3.0], (3, 1)) + add.numpy())
    np.testing.assert_array_equal(bf16.matmul_raw(paddle.ones([2, 3, 0]), paddle.ones([2, 0, 5])).numpy(),
                                  np.zeros((2, 3, 5), "float32"))


def test_an_empty_batch_gives_zero_weight_gradients_in_bf16(kernels):
    """E.g. the rows a mask selects, when it selects none: the weight gradient's GEMM has K = 0."""
    paddle.seed(0)
    w = paddle.create_parameter([16, 8], "float32")
    b = paddle.create_parameter([8], "float32", is_bias=True)
    hidden = paddle.randn([2, 5, 16])
    hidden.stop_gradient = False
    rows = hidden[paddle.zeros([2, 5], dtype="bool")]
    with bf16.autocast():
        out = layers.linear(rows, w, b)
    (out.sum() + 0.0 * hidden.sum()).backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros([16, 8], "float32"))
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros([8], "float32"))


# -- double backward ------------------------------------------------------------------------------------
def _penalised_weight_grad(linear, w, b, x):
    """d/dW of ``sum(tanh(y)) + |d sum(tanh(y)) / dx|^2``: needs the backward's own gradient."""
    w.clear_grad()
    loss = paddle.tanh(linear(x, w, b)).sum()
    gx = paddle.grad(loss, [x, w, b], create_graph=True)[0]
    (loss + (gx * gx).sum()).backward()
    return w.grad.numpy()


def test_double_backward_through_the_bf16_linear_keeps_the_second_order_term(kernels):
    rng = np.random.RandomState(0)
    w = paddle.create_parameter([8, 6], "float32")
    w.set_value(rng.randn(8, 6).astype("float32") * 0.5)
    b = paddle.create_parameter([6], "float32", is_bias=True)
    x = paddle.to_tensor(round_bf16(rng.randn(5, 8).astype("float32")), stop_gradient=False)
    w.set_value(round_bf16(w.numpy()))
    reference = _penalised_weight_grad(paddle.nn.functional.linear, w, b, x)
    with bf16.autocast():
        ours = _penalised_weight_grad(layers.linear, w, b, x)
    w.clear_grad()
    paddle.tanh(paddle.nn.functional.linear(x, w, b)).sum().backward()
    first_order = w.grad.numpy()
    scale = np.abs(reference).max()
    assert np.abs(ours - reference).max() < 0.05 * scale  # bf16 forward: a few per cent
    assert np.abs(first_order - reference).max() > 0.5 * scale  # the term matters, so the check can fail


@pytest.mark.parametrize("op", ["softmax", "gelu", "layer_norm", "dropout"])
def test_double_backward_through_the_fp32_kernels_is_refused_not_wrong(kernels, op):
    x = paddle.randn([4, 8])
    x.stop_gradient = False
    w, b = paddle.ones([8]), paddle.zeros([8])  # constants: paddle.grad over x alone passes a PyLayer only so
    y = {"softmax": lambda: ops.softmax(x), "gelu": lambda: ops.gelu(x),
         "layer_norm": lambda: ops.layer_norm(x, w, b), "dropout": lambda: ops.dropout(x, 0.5)}[op]()
    with pytest.raises(Exception, match="double backward"):
        paddle.grad((y * y).sum(), [x], create_graph=True)
    (gx,) = paddle.grad((y * y).sum(), [x])  # first order is fine
    assert gx.shape == x.shape



def test_to_static_runs_under_autocast(kernels):
    """paddle.jit.to_static's default (SOT) mode simulates the dygraph code (its bf16 weight cache crashed it):
    the traced graph keeps fp32 GEMMs, as AST mode's does; what SOT leaves to dygraph may run in bf16."""
    paddle.seed(0)
    head = paddle.nn.Sequential(layers.Linear(16, 16), paddle.nn.Tanh(), layers.Linear(16, 4))
    head.eval()
    x = paddle.randn([3, 16])
    fp32 = head(x).numpy()
    for full_graph in (False, True):
        static = paddle.jit.to_static(head, full_graph=full_graph)
        with paddle.no_grad(), bf16.autocast():
            out = static(x).numpy()
        np.testing.assert_allclose(out, fp32, atol=1e-6 if full_graph else 2e-2)

# -- LayerNorm over several axes ------------------------------------------------------------------------
def test_layer_norm_over_two_axes_equals_paddles(kernels):
    x = paddle.randn([2, 3, 8])
    ours, theirs = layers.LayerNorm([3, 8]), paddle.nn.LayerNorm([3, 8])
    theirs.set_state_dict(ours.state_dict())
    np.testing.assert_array_equal(ours(x).numpy(), theirs(x).numpy())


# -- trusting and rebuilding the library ----------------------------------------------------------------
@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    """``build._load`` with compiling and registering replaced, in an empty cache."""
    monkeypatch.setenv("PADDLE_REMBERT_CACHE", str(tmp_path))
    calls = {"compile": 0, "loaded": []}

    def compile_(name, so):
        calls["compile"] += 1
        if calls.get("fail"):
            raise RuntimeError("building them failed: no C++ compiler")
        with open(so, "wb") as f:
            f.write(b"\x7fELF built")
        with open(build._digest_path(so), "w") as f:
            f.write(build._digest(so))

    monkeypatch.setattr(build, "_compile", compile_)
    import paddle.utils.cpp_extension as ext
    monkeypatch.setattr(ext, "load_op_meta_info_and_register_op", calls["loaded"].append)
    so = os.path.join(build.cache_dir(), build.build_tag() + ".so")
    return calls, so


def test_a_damaged_library_in_the_cache_is_rebuilt_not_loaded(fake_build):
    calls, so = fake_build
    build._load()
    assert calls["compile"] == 1 and calls["loaded"] == [so]
    build._load()  # intact: loaded, not rebuilt
    assert calls["compile"] == 1
    with open(so, "r+b") as f:  # truncated (a crash while copying) or overwritten
        f.truncate(3)
    build._load()
    assert calls["compile"] == 2 and open(so, "rb").read() == b"\x7fELF built"


def test_an_intact_library_loads_without_writing_to_the_cache(fake_build):
    """A read-only cache of built kernels (a container image) must work: no lock file is needed to load."""
    calls, so = fake_build
    build._load()
    os.remove(so[:-3] + ".lock")
    before = sorted(os.listdir(os.path.dirname(so)))
    build._load()
    assert sorted(os.listdir(os.path.dirname(so))) == before and len(calls["loaded"]) == 2


def test_a_failed_build_is_recorded_and_not_retried_by_every_process(fake_build):
    calls, so = fake_build
    calls["fail"] = True
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler") as first:
        build._load()
    failed = so[:-3] + ".failed"
    assert f"delete {failed}" in str(first.value)
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        build._load()
    assert calls["compile"] == 1  # the second "process" read the record
    os.remove(failed)
    calls["fail"] = False
    build._load()
    assert calls["compile"] == 2 and calls["loaded"] == [so]


def test_the_build_error_names_the_cause_not_a_traceback_line():
    traceback = """Traceback (most recent call last):
  File "<string>", line 3, in <module>
    raise CalledProcessError(retcode, process.args,
subprocess.CalledProcessError: Command '['which', 'g++']' returned non-zero exit status 1."""
    assert build._build_error(traceback, 1) == \
        "subprocess.CalledProcessError: Command '['which', 'g++']' returned non-zero exit status 1."
    compiler = "x\n/src/ops.cc:12:3: error: 'foo' was not declared in this scope\nmore\nTraceback\nRuntimeError: x"
    assert build._build_error(compiler, 1) == "/src/ops.cc:12:3: error: 'foo' was not declared in this scope"
    assert build._build_error("", 9) == "exit status 9"


def test_a_failed_build_gives_one_warning_for_both_paths(monkeypatch, caplog):
    monkeypatch.setattr(build, "_STATE", {})
    monkeypatch.setattr(bf16, "_STATE", {})
    monkeypatch.setattr(bf16, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(build, "_load", lambda: (_ for _ in ()).throw(RuntimeError("building them failed: x")))
    with caplog.at_level(logging.WARNING, logger="paddle_rembert"):
        assert not bf16.available() and not build.available()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "building them failed: x" in messages[0] and "fp32" in messages[0]


# -- gradients with respect to the inputs ---------------------------------------------------------------
def test_gradients_over_the_input_embeddings_match_transformers(kernels, tmp_path):
    """Saliency-style gradients: ``backward()`` and the embeddings' ``.grad`` (``paddle.grad`` over some inputs
    only cannot pass through PyLayers, which must return a gradient for each input that needed one)."""
    import torch

    from paddle_rembert import testing
    import paddle_rembert as pr

    tm = testing.torch_model("bert", "BertForSequenceClassification", num_labels=3)
    tm.save_pretrained(tmp_path)
    model = pr.BertForSequenceClassification.from_pretrained(tmp_path)
    model.eval()
    rng = np.random.RandomState(0)
    ids = rng.randint(5, tm.config.vocab_size, (2, 7))
    mask = np.ones((2, 7), "int64")
    mask[1, 5:] = 0
    emb = model.bert.embeddings.word_embeddings(paddle.to_tensor(ids)).detach()
    emb.stop_gradient = False
    model(inputs_embeds=emb, attention_mask=paddle.to_tensor(mask)).logits[:, 1].sum().backward()
    temb = tm.bert.embeddings.word_embeddings(torch.tensor(ids)).detach().requires_grad_(True)
    tm(inputs_embeds=temb, attention_mask=torch.tensor(mask)).logits[:, 1].sum().backward()
    theirs = temb.grad.numpy()
    assert np.abs(theirs).max() > 1e-3
    np.testing.assert_allclose(emb.grad.numpy(), theirs, atol=1e-6 * np.abs(theirs).max() + 1e-8, rtol=1e-4)
