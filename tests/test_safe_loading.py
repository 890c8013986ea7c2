"""No file that a command reads can run code: crafted pickles are refused before anything is called.

Each payload's ``__reduce__`` would create a marker directory; every loader must refuse the file
with an error that names it and the refused global, and the marker must never appear.
"""
import json
import os
import collections
import pickle

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.checkpoint.safe_pickle import safe_load
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.trainer import checkpoint

from .conftest import run_cli


class Payload:
    """Pickles as ``os.mkdir(marker)``: what an attacker's __reduce__ would do, harmlessly visible."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def write_pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


@pytest.fixture
def evil_model_dir(tmp_path):
    """A Paddle-layout model dir whose model_state.pdparams holds a payload beside real weights."""
    model_dir = tmp_path / "model"
    T.write_tiny_model_dir(str(model_dir), "albert", T.synthetic_texts(), vocab_size=120)
    state = safe_load(str(model_dir / "model_state.pdparams"))
    marker = str(tmp_path / "pwned")
    state["albert.extra"] = Payload(marker)
    write_pickle(model_dir / "model_state.pdparams", state)
    return str(model_dir), marker


def test_from_pretrained_refuses_a_crafted_pdparams(evil_model_dir):
    model_dir, marker = evil_model_dir
    with pytest.raises(PaddleRembertError, match=r"model_state\.pdparams.*(posix|os)\.mkdir"):
        pr.AutoModel.from_pretrained(model_dir)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("command", [["convert", "--to", "torch"], ["export"]])
def test_convert_and_export_refuse_a_crafted_pdparams(evil_model_dir, tmp_path, command):
    model_dir, marker = evil_model_dir
    result = run_cli(command[0], model_dir, str(tmp_path / "out"), *command[1:])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "refusing to load" in result.stderr and "model_state.pdparams" in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(marker) and not os.path.exists(tmp_path / "out")


def test_the_trainer_refuses_a_crafted_starting_model(evil_model_dir, tmp_path):
    model_dir, marker = evil_model_dir
    data = T.write_synthetic_xnli(str(tmp_path / "data"), num_train=8, num_eval=4)
    result = run_cli("train", "--config", os.devnull, f"model_name_or_path={model_dir}", f"data_dir={data}",
                     "model_type=albert", f"output_dir={tmp_path / 'run'}", "do_train=true", "device=cpu")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "refusing to load" in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(marker)


def _checkpoint_dir(tmp_path):
    """A real training checkpoint's optimizer, scaler and RNG files, then the model and objects to load into."""
    paddle.seed(0)
    model = pr.AlbertForSequenceClassification(pr.AlbertConfig(**T.TINY_CONFIGS["albert"]))
    optimizer = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=model.parameters())
    ids = paddle.to_tensor(np.array([[5, 6, 7]]))
    model(ids, labels=paddle.to_tensor(np.array([1]))).loss.backward()
    optimizer.step()
    path = tmp_path / "checkpoint-1"
    path.mkdir()
    model.save_pretrained(str(path))
    paddle.save(checkpoint.rename_optimizer_state(optimizer.state_dict(), checkpoint._param_names(model)),
                str(path / checkpoint.OPTIMIZER_FILE))
    scaler = paddle.amp.GradScaler(enable=False)
    paddle.save(scaler.state_dict(), str(path / checkpoint.SCALER_FILE))
    (path / checkpoint.RNG_FILE).write_text(json.dumps([checkpoint.rng_state_to_json(paddle.get_rng_state())]))
    (path / checkpoint.STATE_FILE).write_text(json.dumps({  # as the trainer writes it
        "global_step": 1, "epoch": 0, "batch_in_epoch": 1, "best_score": None, "best_step": None, "history": [],
        "sampler": {}, "scheduler": {"last_epoch": 1, "last_lr": 1e-3}}))
    return str(path), model, optimizer, scaler


def test_resume_reads_optimizer_scaler_and_rng_state_without_pickle_code(tmp_path):
    path, model, optimizer, scaler = _checkpoint_dir(tmp_path)
    before = paddle.get_rng_state()
    scheduler = paddle.optimizer.lr.LambdaDecay(1e-3, lambda s: 1.0)
    state, rng_states = checkpoint.load(path, model, optimizer, scheduler, scaler)
    assert state["global_step"] == 1 and len(rng_states) == 1
    # the JSON RNG state restores the same stream
    paddle.set_rng_state(rng_states[0])
    a = paddle.rand([4]).numpy()
    paddle.set_rng_state(before)
    np.testing.assert_array_equal(a, paddle.rand([4]).numpy())


@pytest.mark.parametrize("name", [checkpoint.OPTIMIZER_FILE, checkpoint.SCALER_FILE, checkpoint.LEGACY_RNG_FILE])
def test_resume_refuses_crafted_optimizer_scaler_and_rng_pickles(tmp_path, name):
    path, model, optimizer, scaler = _checkpoint_dir(tmp_path)
    marker = str(tmp_path / "pwned")
    if name == checkpoint.LEGACY_RNG_FILE:  # a 0.1.0 checkpoint: rng_state.pkl instead of .json
        os.remove(os.path.join(path, checkpoint.RNG_FILE))
        write_pickle(os.path.join(path, name), [Payload(marker)])
    else:
        state = safe_load(os.path.join(path, name))
        state["extra"] = Payload(marker)
        write_pickle(os.path.join(path, name), state)
    scheduler = paddle.optimizer.lr.LambdaDecay(1e-3, lambda s: 1.0)
    with pytest.raises(PaddleRembertError, match=f"refusing to load .*{name}.*mkdir"):
        checkpoint.load(path, model, optimizer, scheduler, scaler)
    assert not os.path.exists(marker)


def test_a_legacy_pickled_rng_state_still_resumes(tmp_path):
    path, model, optimizer, scaler = _checkpoint_dir(tmp_path)
    os.remove(os.path.join(path, checkpoint.RNG_FILE))
    write_pickle(os.path.join(path, checkpoint.LEGACY_RNG_FILE), [paddle.get_rng_state()])
    expected = paddle.rand([3]).numpy()
    scheduler = paddle.optimizer.lr.LambdaDecay(1e-3, lambda s: 1.0)
    _, rng_states = checkpoint.load(path, model, optimizer, scheduler, scaler)
    paddle.set_rng_state(rng_states[0])
    np.testing.assert_array_equal(paddle.rand([3]).numpy(), expected)


@pytest.mark.parametrize("payload", [
    b"cos\nsystem\n(S'true'\ntR.",  # protocol 0 GLOBAL + REDUCE
    pickle.dumps(print, protocol=2),  # a bare builtin reference
    pickle.dumps(np.load, protocol=4),  # a numpy function that is not a constructor
])
def test_refused_globals_are_named(tmp_path, payload):
    path = tmp_path / "x.pdparams"
    path.write_bytes(payload)
    with pytest.raises(PaddleRembertError, match=r"refusing to load .*x\.pdparams: it references \S+"):
        safe_load(str(path))


def test_plain_weights_of_every_protocol_load(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pdparams"
        write_pickle(path, arrays) if protocol == 4 else path.write_bytes(pickle.dumps(arrays, protocol=protocol))
        loaded = safe_load(str(path))
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
    (tmp_path / "cut.pdparams").write_bytes(pickle.dumps(arrays)[:40])
    with pytest.raises(PaddleRembertError, match="cut.pdparams.*truncated"):
        safe_load(str(tmp_path / "cut.pdparams"))


class _Allocate:
    """bytearray(n): an admitted constructor asked to allocate what a 50-byte file says."""

    def __reduce__(self):
        return bytearray, (10 ** 11,)


class _Data:
    def __reduce__(self):
        return bytearray, (b"\x00\x01",)


def test_bytearray_builds_data_but_allocates_nothing_a_file_asks(tmp_path):
    path = tmp_path / "bomb.pdparams"
    path.write_bytes(pickle.dumps({"x": _Allocate()}, protocol=4))
    with pytest.raises(PaddleRembertError, match=r"refusing to load .*bomb\.pdparams: it calls bytearray with int"):
        safe_load(str(path))
    path.write_bytes(pickle.dumps({"x": _Data()}, protocol=4))
    assert safe_load(str(path)) == {"x": bytearray(b"\x00\x01")}


@pytest.mark.parametrize("name", ["model_state.pdparams", "pytorch_model.bin"])
def test_a_state_dict_key_that_is_not_a_name_is_refused_naming_it(tmp_path, name):
    import torch

    model = T.torch_model("bert", "BertModel")
    model.config.save_pretrained(tmp_path)
    state = {k: v.numpy() if name.endswith("pdparams") else v for k, v in model.state_dict().items()}
    state[("a", 1)] = state["pooler.dense.bias"]
    write_pickle(tmp_path / name, state) if name.endswith("pdparams") else torch.save(state, tmp_path / name)
    with pytest.raises(PaddleRembertError, match=r"is not a state dict: its key \('a', 1\) \(tuple\) is not a "
                                                 r"parameter name"):
        pr.BertModel.from_pretrained(str(tmp_path))


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_crafted_pytorch_model_bin_is_refused_naming_the_reference(tmp_path, zip_format):
    """torch's weights-only unpickler stops at the payload; the message says what it referenced (not "truncated")."""
    import torch

    model = T.torch_model("bert", "BertForSequenceClassification")
    model.config.save_pretrained(tmp_path)
    marker = str(tmp_path / "pwned")
    state = dict(model.state_dict(), extra=Payload(marker))
    torch.save(state, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=zip_format)
    with pytest.raises(PaddleRembertError,
                       match=r"refusing to load .*pytorch_model\.bin: it references (posix|os)\.mkdir"):
        pr.BertForSequenceClassification.from_pretrained(str(tmp_path))
    assert not os.path.exists(marker)


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_plain_pickle_named_pytorch_model_bin_is_refused_naming_the_reference(tmp_path, protocol):
    """Not written by torch.save at all: torch's unpickler stops at an opcode it does not take (protocol 4's
    FRAME) before the payload; reading the opcodes, without running them, still names what it references."""
    T.torch_model("bert", "BertForSequenceClassification").config.save_pretrained(tmp_path)
    marker = str(tmp_path / "pwned")
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Payload(marker)}, protocol=protocol))
    with pytest.raises(PaddleRembertError, match=r"refusing to load .*pytorch_model\.bin: it references "
                                                 r"(posix|os)\.mkdir"):
        pr.BertForSequenceClassification.from_pretrained(str(tmp_path))
    assert not os.path.exists(marker)



def test_a_plain_pickle_of_arrays_is_unreadable_not_malicious(tmp_path):
    """Numpy arrays in a plain pickle reference numpy's constructors only: not torch's format, nothing refused."""
    T.torch_model("bert", "BertForSequenceClassification").config.save_pretrained(tmp_path)
    arrays = collections.OrderedDict(a=np.zeros(2), b=np.ones(3), c=np.ones(3))
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps(arrays, protocol=4))
    with pytest.raises(PaddleRembertError, match=r"cannot read .*pytorch_model\.bin: it is truncated or not a "
                                                 r"PyTorch state dict"):
        pr.BertForSequenceClassification.from_pretrained(str(tmp_path))
