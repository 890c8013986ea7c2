"""Checkpoints as they come: shape and dtype mismatches, crafted safetensors, legacy .bin, old key names."""
import json
import os
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import paddle_rembert as pr
from paddle_rembert import PaddleRembertError
from paddle_rembert import testing as T
from paddle_rembert.checkpoint.readers import open_checkpoint
from paddle_rembert.checkpoint.safetensors import SafetensorsFile
from paddle_rembert.cli import main


def convert(capsys, *args):
    code = main(["convert", "--quiet", *map(str, args)])
    captured = capsys.readouterr()
    if code == 2:  # one line, no traceback
        assert captured.err.strip().splitlines()[-1].startswith("paddle-rembert convert: error: ")
    return code, captured.out, captured.err


def save(model_or_state, path, kind="safetensors", config=None):
    """A transformers-layout directory: ``model_or_state`` is a transformers model, or a state dict plus ``config``."""
    os.makedirs(path, exist_ok=True)
    if not isinstance(model_or_state, dict):
        model_or_state.save_pretrained(path, safe_serialization=kind == "safetensors")
        return str(path)
    config.save_pretrained(path)
    if kind == "safetensors":
        save_file({k: v.detach().clone() for k, v in model_or_state.items()}, os.path.join(path, "model.safetensors"),
                  metadata={"format": "pt"})
    else:
        torch.save(model_or_state, os.path.join(path, "pytorch_model.bin"),
                   _use_new_zipfile_serialization=kind != "legacy-bin")
    return str(path)


def state_numpy(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


# -- 1. shape and dtype mismatches ---------------------------------------------------------------------
def test_int32_tensor_for_a_float_parameter_is_refused(tmp_path, capsys):
    model = T.torch_model("albert", "AlbertModel")
    state = model.state_dict()
    state["encoder.embedding_hidden_mapping_in.bias"] = torch.arange(15, dtype=torch.int32)
    src = save(state, tmp_path / "hf", config=model.config)
    with pytest.raises(PaddleRembertError, match=r"model.safetensors: encoder.embedding_hidden_mapping_in.bias holds "
                                                 r"I32 values, but .* is a float32 parameter"):
        pr.AlbertModel.from_pretrained(src)
    code, _, err = convert(capsys, src, tmp_path / "pd")
    assert code == 2 and "I32" in err and "encoder.embedding_hidden_mapping_in.bias" in err
    assert not (tmp_path / "pd").exists()


def _relabelled(tmp_path, num_labels=5):
    """A 3-label RemBERT classifier whose config.json was edited to ``num_labels`` labels."""
    src = save(T.torch_model("rembert", "RemBertForSequenceClassification"), tmp_path / "hf")
    cfg = json.loads(open(os.path.join(src, "config.json")).read())
    cfg.pop("id2label"), cfg.pop("label2id")
    cfg["num_labels"] = num_labels
    with open(os.path.join(src, "config.json"), "w") as f:
        json.dump(cfg, f)
    return src


def test_convert_refuses_mismatched_sizes_unless_asked(tmp_path, capsys):
    src = _relabelled(tmp_path)
    code, _, err = convert(capsys, src, tmp_path / "pd")
    assert code == 2 and "shape mismatch for classifier.weight: checkpoint [3, 15], expected [5, 15]" in err
    code, _, err = convert(capsys, src, tmp_path / "pd", "--ignore-mismatched-sizes")
    assert code == 0, err
    model, report = pr.RemBertForSequenceClassification.from_pretrained(str(tmp_path / "pd"), output_loading_info=True)
    assert sorted(report.missing_keys) == ["classifier.bias", "classifier.weight"]
    assert tuple(model.classifier.weight.shape) == (15, 5)


def test_export_refuses_mismatched_head_unless_asked(tmp_path, capsys):
    base = T.write_tiny_model_dir(str(tmp_path / "base"), "albert", T.synthetic_texts(60), vocab_size=80)
    tokenizer_files = [n for n in os.listdir(base) if n not in ("config.json", "model_state.pdparams")]
    head = tmp_path / "head"
    pr.AlbertForSequenceClassification.from_pretrained(base, num_labels=2).save_pretrained(str(head))
    for name in tokenizer_files:
        (head / name).write_bytes((tmp_path / "base" / name).read_bytes())
    cfg = json.loads((head / "config.json").read_text())
    cfg["id2label"] = {"0": "a", "1": "b", "2": "c"}
    cfg["label2id"] = {"a": 0, "b": 1, "c": 2}
    (head / "config.json").write_text(json.dumps(cfg))
    code = main(["export", str(head), str(tmp_path / "out"), "--no-verify"])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and line.startswith("paddle-rembert export: error: ") and "model_state.pdparams" in line
    assert "classifier.weight has shape [15, 2] in the checkpoint, the model needs [15, 3]" in line
    assert not (tmp_path / "out").exists()
    code = main(["export", str(head), str(tmp_path / "out"), "--no-verify", "--ignore-mismatched-sizes"])
    assert code == 0, capsys.readouterr().err
    meta = json.loads((tmp_path / "out" / "export_meta.json").read_text())
    assert {"classifier.weight", "classifier.bias"} <= set(meta["newly_initialized_keys"])


# -- 3. safetensors headers, validated as the safetensors library validates them -----------------------
def craft(path, header, data_len, extra=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(data_len) + extra)
    return str(path)


def f32(shape, begin, end):
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}


BAD_HEADERS = {
    "overlap": ({"a": f32([2], 0, 8), "b": f32([2], 4, 12)}, 12, r"'b' has invalid data_offsets \[4, 12\]: it overlap"),
    "gap": ({"a": f32([2], 0, 8), "b": f32([2], 12, 20)}, 20, r"'b' has invalid data_offsets \[12, 20\]: it leaves"),
    "not-from-zero": ({"a": f32([2], 4, 12)}, 12, r"invalid data_offsets \[4, 12\]: it leaves a gap after byte 0"),
    "end-before-begin": ({"a": f32([0], 0, 0), "b": f32([2], 8, 0)}, 8, "invalid data_offsets"),
    "negative": ({"a": f32([2], -8, 0)}, 8, "'a' has data_offsets \\[-8, 0\\]; two non-negative integers"),
    "size-mismatch": ({"a": f32([3], 0, 8)}, 8, "'a' has 8 bytes, its shape \\[3\\] and dtype F32 need 12"),
    "overflow": ({"a": f32([2 ** 32, 2 ** 32], 0, 8)}, 8, "overflows 64 bits"),
    "overflow-by-itemsize": ({"a": f32([2 ** 62], 0, 8)}, 8, "overflows 64 bits"),
    "offset-too-big": ({"a": f32([2], 0, 2 ** 64)}, 8, "two non-negative integers"),
    "truncated": ({"a": f32([4], 0, 16)}, 8, "truncated: tensor 'a' ends at byte"),
    "trailing-bytes": ({"a": f32([2], 0, 8)}, 12, "cover 8 bytes of data but the file holds 12"),
    "no-offsets": ({"a": {"dtype": "F32", "shape": [2]}}, 8, "'a' has no 'data_offsets'"),
    "no-dtype": ({"a": {"shape": [2], "data_offsets": [0, 8]}}, 8, "'a' has no 'dtype'"),
    "no-shape": ({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, 8, "'a' has no 'shape'"),
    "offsets-a-string": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": "0,8"}}, 8, "data_offsets '0,8'"),
    "one-offset": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, 8, "data_offsets \\[0\\]"),
    "float-offsets": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}}, 8, "two non-negative integers"),
    "shape-a-float": ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, 8, "shape \\[2.0\\]"),
    "shape-a-bool": ({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, 8, "shape \\[True, 2\\]"),
    "dtype-a-number": ({"a": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}}, 8, "unsupported dtype 4"),
    "dtype-unknown": ({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, 8, "unsupported dtype 'F33'"),
    "entry-a-list": ({"a": [0, 8]}, 8, "header entry 'a' is a list"),
    "header-a-list": (b"[1, 2]  ", 0, "a JSON list, not an object"),
    "metadata-not-strings": ({"__metadata__": {"format": 1}, "a": f32([2], 0, 8)}, 8, "__metadata__ must map strings"),
    "not-utf8": (b'{"\xff": 1}   ', 0, "corrupt safetensors header"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_crafted_safetensors_are_refused_like_the_safetensors_library(case, tmp_path):
    from safetensors import safe_open

    header, data_len, message = BAD_HEADERS[case]
    path = craft(tmp_path / "model.safetensors", header, data_len)
    with pytest.raises(PaddleRembertError, match=message) as info:
        SafetensorsFile(path)
    assert path in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(Exception):  # the reference implementation refuses the same file
        safe_open(path, framework="np")


def test_offsets_are_checked_in_offset_order_not_header_order(tmp_path):
    """safetensors sorts entries by offset: a header listing them in another order is valid, as are empty tensors."""
    from safetensors import safe_open

    data = np.arange(5, dtype=np.float32)
    header = {"__metadata__": {"format": "pt"}, "b": f32([3], 8, 20), "empty": f32([0, 4], 0, 0), "a": f32([2], 0, 8)}
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data.tobytes())
    st = SafetensorsFile(str(path))
    np.testing.assert_array_equal(st.read("a"), data[:2])
    np.testing.assert_array_equal(st.read("b"), data[2:])
    assert st.read("empty").shape == (0, 4)
    with safe_open(str(path), framework="np") as f:
        np.testing.assert_array_equal(f.get_tensor("b"), data[2:])


# -- 4. legacy (pre-zip) pytorch_model.bin --------------------------------------------------------------
def test_legacy_pickle_bin_with_fp16_tensors_converts_and_loads(tmp_path, capsys):
    """SpanBERT's checkpoint is a pre-zip pickle of fp16 tensors: mmap cannot read it; weights_only still applies."""
    model = T.torch_model("albert", "AlbertForMaskedLM")
    state = {k: v.half() for k, v in model.state_dict().items()}
    src = save(state, tmp_path / "legacy", kind="legacy-bin", config=model.config)
    import zipfile

    assert not zipfile.is_zipfile(os.path.join(src, "pytorch_model.bin"))
    ckpt = open_checkpoint(src)
    assert ckpt.dtype("albert.embeddings.word_embeddings.weight") == "F16"
    loaded = pr.AlbertForMaskedLM.from_pretrained(src)
    want = state["albert.embeddings.word_embeddings.weight"].float().numpy()
    np.testing.assert_array_equal(loaded.albert.embeddings.word_embeddings.weight.numpy(), want)
    code, _, err = convert(capsys, src, tmp_path / "pd")
    assert code == 0, err
    converted = pr.AlbertForMaskedLM.from_pretrained(str(tmp_path / "pd"))
    np.testing.assert_array_equal(converted.albert.embeddings.word_embeddings.weight.numpy(), want)


def test_legacy_bin_still_refuses_code(tmp_path):
    """Without mmap the file is still read with weights_only=True: a pickle that calls a function is refused."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    config = dict(T.tiny_config_dict("albert", "AlbertModel"), model_type="albert")
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.save({"x": Evil()}, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    with pytest.raises(PaddleRembertError,
                       match=r"refusing to load .*pytorch_model.bin: it references (posix|os)\.system"):
        open_checkpoint(str(tmp_path))


# -- 5. real checkpoints of the BERT family: old names, missing copies, buffers, dtypes -------------------
def test_tf_converted_layernorm_gamma_beta_names_load(tmp_path):
    model = T.torch_model("albert", "AlbertForMaskedLM")
    renamed = {}
    for key, value in model.state_dict().items():
        if "LayerNorm" in key:
            key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        renamed[key] = value
    assert "albert.embeddings.LayerNorm.gamma" in renamed
    src = save(renamed, tmp_path / "hf", kind="bin", config=model.config)
    loaded, report = pr.AlbertForMaskedLM.from_pretrained(src, output_loading_info=True)
    assert report.clean, report.describe("AlbertForMaskedLM", src)
    np.testing.assert_array_equal(loaded.predictions.LayerNorm.weight.numpy(),
                                  model.predictions.LayerNorm.weight.detach().numpy())


@pytest.mark.parametrize("drop", ["predictions.decoder.bias", "predictions.bias"])
def test_either_copy_of_the_tied_decoder_bias_is_enough(drop, tmp_path):
    """bert-base-uncased stores ``cls.predictions.bias`` only; other checkpoints only the decoder's copy."""
    model = T.torch_model("albert", "AlbertForMaskedLM")
    state = dict(model.state_dict())
    state["predictions.decoder.bias"] = state["predictions.decoder.bias"].clone()
    state.pop(drop)
    src = save(state, tmp_path / "hf", config=model.config)
    loaded, report = pr.AlbertForMaskedLM.from_pretrained(src, output_loading_info=True)
    assert report.clean, report.describe("AlbertForMaskedLM", src)
    np.testing.assert_array_equal(loaded.predictions.bias.numpy(), model.predictions.bias.detach().numpy())


def test_position_and_token_type_id_buffers_are_ignored(tmp_path, capsys):
    model = T.torch_model("rembert", "RemBertModel")
    state = dict(model.state_dict())
    state["embeddings.position_ids"] = torch.arange(40)[None]
    state["embeddings.token_type_ids"] = torch.zeros(1, 40, dtype=torch.int64)
    src = save(state, tmp_path / "hf", config=model.config)
    _, report = pr.RemBertModel.from_pretrained(src, output_loading_info=True)
    assert report.clean and {"embeddings.position_ids", "embeddings.token_type_ids"} <= set(report.dropped_keys)
    assert convert(capsys, src, tmp_path / "pd")[0] == 0


@pytest.mark.parametrize("torch_dtype,st", [(torch.float16, "F16"), (torch.bfloat16, "BF16")])
def test_convert_upcasts_half_checkpoints_to_float32_by_default(torch_dtype, st, tmp_path, capsys):
    model = T.torch_model("albert", "AlbertForMaskedLM").to(torch_dtype)
    src = save(model, tmp_path / "hf")
    assert open_checkpoint(src).dtype("albert.embeddings.word_embeddings.weight") == st
    want = model.albert.embeddings.word_embeddings.weight.float().detach().numpy()
    for i, (args, expected) in enumerate((((), "F32"), (("--dtype", "keep"), st), (("--dtype", "float16"), "F16"))):
        dst = tmp_path / f"pd{i}"
        code, _, err = convert(capsys, src, dst, "--safetensors", *args)
        assert code == 0, err
        assert open_checkpoint(str(dst)).dtype("albert.embeddings.word_embeddings.weight") == expected
    back = tmp_path / "torch"
    assert convert(capsys, tmp_path / "pd0", back, "--to", "torch")[0] == 0
    assert load_file(str(back / "model.safetensors"))["albert.embeddings.word_embeddings.weight"].dtype == torch.float32
    loaded = pr.AlbertForMaskedLM.from_pretrained(str(tmp_path / "pd0"))
    np.testing.assert_array_equal(loaded.albert.embeddings.word_embeddings.weight.numpy(), want)


def test_tied_decoder_weight_absent_from_safetensors_and_unprefixed_backbone_keys(tmp_path, capsys):
    """transformers' safetensors omit the tied decoder weight; a backbone checkpoint has no ``albert.`` prefix."""
    model = T.torch_model("albert", "AlbertForMaskedLM")
    src = save(model, tmp_path / "mlm")
    assert "predictions.decoder.weight" not in load_file(os.path.join(src, "model.safetensors"))
    loaded, report = pr.AlbertForMaskedLM.from_pretrained(src, output_loading_info=True)
    assert report.clean
    assert convert(capsys, src, tmp_path / "pd")[0] == 0
    backbone = {k[len("albert."):]: v for k, v in model.state_dict().items() if k.startswith("albert.")}
    src = save(backbone, tmp_path / "backbone", config=model.config)
    loaded, report = pr.AlbertForMaskedLM.from_pretrained(src, output_loading_info=True)
    assert report.loaded and all(k.startswith("predictions.") for k in report.missing_keys)
    assert not report.unexpected_keys
    np.testing.assert_array_equal(loaded.albert.embeddings.word_embeddings.weight.numpy(),
                                  backbone["embeddings.word_embeddings.weight"].numpy())


@pytest.mark.parametrize("shard", ["../outside.safetensors", "/etc/passwd", 7, "sub/model.safetensors"])
def test_shard_index_cannot_point_outside_the_directory(shard, tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": shard}}))
    with pytest.raises(PaddleRembertError, match="which is not a file name in"):
        open_checkpoint(str(tmp_path))


def test_mismatch_in_a_sharded_checkpoint_names_the_shard(tmp_path):
    model = T.torch_model("rembert", "RemBertForSequenceClassification")
    model.save_pretrained(tmp_path, max_shard_size="4KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shard = index["weight_map"]["classifier.bias"]
    assert len(set(index["weight_map"].values())) > 1
    with pytest.raises(PaddleRembertError, match=f"{shard}: classifier.bias has shape \\[3\\] in the checkpoint"):
        pr.RemBertForSequenceClassification.from_pretrained(str(tmp_path), num_labels=4)

