"""Bad files and arguments a user can hand us: each gets one line naming the file, key or value (exit 2 on the
command line), never a traceback, a process abort or a silently wrong result."""
import json
import logging
import os
import re
import shutil

import numpy as np
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.cli import main as cli_main
from paddle_rembert.cli import run_guarded
from paddle_rembert.deploy.inference import Predictor
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.tokenization.utils import check_ids_fit
from paddle_rembert.trainer import from_yaml

from .conftest import REPO, make_model_dir

RECIPE = os.path.join(REPO, "configs", "albert-base-v2_xnli.yaml")


def _one_line_error(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "\x1b" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def bert_dir(deploy_root, tmp_path):
    """A copy of a tiny fine-tuned BERT directory (tokenizer included) the test may spoil."""
    return shutil.copytree(make_model_dir(deploy_root, "bert", "sequence-classification"), tmp_path / "model")


# -- files that are not what they claim -------------------------------------------------------------
def test_json_and_yaml_that_are_not_utf8_name_the_file(bert_dir, tmp_path, capsys):
    config = json.loads((bert_dir / "config.json").read_text())
    config["id2label"] = {"0": "négatif", "1": "positif"}
    (bert_dir / "config.json").write_bytes(json.dumps(config, ensure_ascii=False).encode("latin-1"))
    _one_line_error(capsys, cli_main(["convert", "--quiet", str(bert_dir), str(tmp_path / "out")]),
                    "config.json is not UTF-8 text")
    assert not (tmp_path / "out").exists()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(b"# r\xe9glages\n" + open(RECIPE, "rb").read())
    with pytest.raises(PaddleRembertError, match="recipe.yaml is not UTF-8 text"):
        from_yaml(str(recipe))


def test_a_weights_file_given_for_the_model_directory_is_named(bert_dir):
    with pytest.raises(PaddleRembertError, match="model_state.pdparams is a weights file: give the model directory"):
        pr.AutoModelForSequenceClassification.from_pretrained(str(bert_dir / "model_state.pdparams"))


def test_unreadable_torch_checkpoints_get_one_line_with_the_cause(deploy_root, tmp_path, capsys):
    import torch

    source = tmp_path / "hf"
    T.torch_model("bert", "BertModel").save_pretrained(source, safe_serialization=False)
    (source / "pytorch_model.bin").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    _one_line_error(capsys, cli_main(["convert", "--quiet", str(source), str(tmp_path / "a")]),
                    "is a Git LFS pointer, not the weights")
    torch.save(torch.nn.Linear(2, 2), source / "pytorch_model.bin")  # a pickled module: not loaded, code never runs
    line = _one_line_error(capsys, cli_main(["convert", "--quiet", str(source), str(tmp_path / "b")]),
                           "refusing to load", "it references torch.nn.modules.linear.Linear")
    assert "weights_only" not in line and "add_safe_globals" not in line
    (source / "pytorch_model.bin").unlink()
    (source / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    _one_line_error(capsys, cli_main(["convert", "--quiet", str(source), str(tmp_path / "c")]),
                    "model.safetensors is a Git LFS pointer, not the weights")


def test_a_tokenizer_that_does_not_fit_the_model_is_refused(deploy_root, tmp_path, capsys):
    small = T.write_tiny_model_dir(str(tmp_path / "small"), "bert", T.synthetic_texts(60), vocab_size=60,
                                  torch_layout=True)
    big = make_model_dir(deploy_root, "bert", "feature-extraction")
    big_tokenizer = pr.AutoTokenizer.from_pretrained(big)
    assert len(big_tokenizer) > 60
    _one_line_error(capsys, cli_main(["export", small, str(tmp_path / "export"), "--tokenizer", big, "--no-verify"]),
                    f"has {len(big_tokenizer)} token ids, but the model's vocab_size is 60")
    assert not (tmp_path / "export").exists()
    with pytest.raises(PaddleRembertError, match="not this model's tokenizer"):
        check_ids_fit(big_tokenizer, 60, big)
    check_ids_fit(big_tokenizer, len(big_tokenizer), big)  # a tokenizer as large as the table is fine
    # convert: --tokenizer must hold a tokenizer of the model's family
    roberta = make_model_dir(deploy_root, "roberta", "feature-extraction")
    _one_line_error(capsys, cli_main(["convert", "--quiet", small, str(tmp_path / "c"), "--tokenizer", roberta]),
                    "holds no tokenizer of this model's family", "vocab.txt")
    assert not (tmp_path / "c").exists()


def test_an_empty_vocabulary_file_is_refused(bert_dir):
    (bert_dir / "vocab.txt").write_text("")
    with pytest.raises(PaddleRembertError, match="vocab.txt is empty"):
        pr.AutoTokenizer.from_pretrained(str(bert_dir))


@pytest.mark.parametrize("name, content, message", [
    ("tokenizer_config.json", {"tokenizer_class": "BertTokenizer", "added_tokens_decoder": []},
     "added_tokens_decoder must be a JSON object, got list"),
    ("tokenizer_config.json", {"tokenizer_class": "BertTokenizer", "added_tokens_decoder": {"new": {"content": "x"}}},
     "added_tokens_decoder key 'new' must be a token id"),
    ("tokenizer_config.json", {"tokenizer_class": "BertTokenizer", "added_tokens_decoder": {"300": {"special": True}}},
     "added_tokens_decoder['300'] has no 'content' string"),
    ("tokenizer_config.json", {"tokenizer_class": "BertTokenizer", "model_max_length": "large"},
     "model_max_length must be a number, got 'large'"),
    ("special_tokens_map.json", ["[PAD]"], "special_tokens_map.json: the file must be a JSON object, got list"),
    ("added_tokens.json", {"[NEW]": "new"}, "added_tokens.json: '[NEW]' must be a token id"),
    ("tokenizer.json", {"added_tokens": [{"content": "[NEW]"}]},
     "tokenizer.json: added_tokens[0] id must be a token id"),
])
def test_malformed_tokenizer_files_name_the_file_and_key(bert_dir, name, content, message):
    if name != "tokenizer_config.json":  # the legacy files are read when tokenizer_config has no added_tokens_decoder
        (bert_dir / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    (bert_dir / name).write_text(json.dumps(content))
    with pytest.raises(PaddleRembertError, match=message.replace("[", r"\[").replace("]", r"\]")):
        pr.AutoTokenizer.from_pretrained(str(bert_dir))


# -- weights written twice -------------------------------------------------------------------------------
def test_saving_safetensors_removes_the_pdparams_that_would_shadow_them(bert_dir, tmp_path, caplog):
    model = pr.AutoModelForSequenceClassification.from_pretrained(str(bert_dir))
    out = tmp_path / "saved"
    model.save_pretrained(str(out))
    weights = model.get_input_embeddings().weight
    weights.set_value(np.ones(weights.shape, dtype="float32"))
    model.save_pretrained(str(out), safe_serialization=True)
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    reloaded = pr.AutoModelForSequenceClassification.from_pretrained(str(out))
    assert float(reloaded.get_input_embeddings().weight.numpy().min()) == 1.0
    shutil.copy(bert_dir / "model_state.pdparams", out)  # several weight files: the one used is named
    with caplog.at_level(logging.WARNING, logger="paddle_rembert"):
        pr.AutoModelForSequenceClassification.from_pretrained(str(out))
    assert "several weight files; loading model_state.pdparams, not model.safetensors" in caplog.text


# -- export and predict arguments ------------------------------------------------------------------------
def test_an_onnx_opset_paddle2onnx_cannot_write_is_refused_first(bert_dir, tmp_path, capsys):
    for opset in ("22", "6"):
        _one_line_error(capsys, cli_main(["export", str(bert_dir), str(tmp_path / "out"), "--onnx", "--opset", opset]),
                        "ONNX opset must be between 7 and 21", f"got {opset}")
    assert not (tmp_path / "out").exists()


def test_predictor_refuses_a_label_count_that_is_not_the_models_and_a_str_of_pairs(exports, tmp_path):
    _, export = exports("bert", "sequence-classification")
    predictor = Predictor(export)
    with pytest.raises(PaddleRembertError, match="text_pairs is a single str but texts is a list"):
        predictor.predict(["hello world", "river stone"], "ab")
    edited = shutil.copytree(export, tmp_path / "edited")
    config = json.loads((edited / "config.json").read_text())
    n = len(config["id2label"])
    config["id2label"] = {**config["id2label"], str(n): "extra"}
    (edited / "config.json").write_text(json.dumps(config))
    with pytest.raises(PaddleRembertError, match=f"config.json: id2label names labels .*but the model returns {n} "):
        Predictor(str(edited))


def test_threads_beyond_what_openmp_can_start_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["--threads", "100000", "predict", "x", "--text", "a"])
    assert e.value.code == 2 and "--threads: must be at most" in capsys.readouterr().err


def test_ctrl_c_is_one_line_and_exit_130(capsys):
    def interrupted():
        raise KeyboardInterrupt

    def interrupted_inside_paddle():  # Paddle's C++ turns the interrupt into a RuntimeError raised while handling it
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("(PreconditionNotMet) Failed to get callstack object") from None

    def interrupted_in_a_backward_pass():  # Paddle's ExternalError (an OSError) quotes the interrupt it caught
        raise OSError("(External) \n{\n    === Error message in backward of GradNodePyLayer__LinearFunction ===\n"
                      "    KeyboardInterrupt: <EMPTY MESSAGE>\n}\n"
                      " (at /paddle/paddle/fluid/eager/pylayer/py_layer_node.cc:177)")

    for fn in (interrupted, interrupted_inside_paddle, interrupted_in_a_backward_pass):
        assert run_guarded(fn, "paddle-rembert export") == 130
        assert capsys.readouterr().err == "paddle-rembert export: interrupted\n"
    def bug():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):  # other errors are not disguised
        run_guarded(bug, "paddle-rembert export")


# -- training recipes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("learning_rate=.nan", "learning_rate must be a positive number, got nan"),
    ("learning_rate=-2e-5", "learning_rate must be a positive number"),
    ("num_train_epochs=0", "num_train_epochs must be positive"),
    ("max_grad_norm=-1", "max_grad_norm must be a non-negative number"),
    ("weight_decay=-5", "weight_decay must be a non-negative number"),
])
def test_training_numbers_are_range_checked(override, message):
    with pytest.raises(PaddleRembertError, match=message):
        from_yaml(RECIPE, [override, "do_train=true", "max_steps=-1"])


def test_a_question_without_a_context_names_its_line(exports, tmp_path, capsys):
    _, export = exports("bert", "question-answering")
    capsys.readouterr()  # the export's own log, when this test is the first to need it
    lines = tmp_path / "qa.txt"
    lines.write_text("who came?\tthe river came\nwhere is it\n", encoding="utf-8")
    _one_line_error(capsys, cli_main(["predict", export, "--input-file", str(lines)]),
                    "qa.txt:2: no context: question-answering needs a question, a tab and its context")
    _one_line_error(capsys, cli_main(["predict", export, "--text", "who came?"]), "needs --text-pair")


def test_an_example_that_cannot_be_windowed_or_truncated_names_its_line(exports, tmp_path, capsys):
    """predict names the input file's line of a question that leaves its context no room, or of a pair whose special
    tokens alone overflow --max-length; the Predictor, which has no file, keeps naming the example's position."""
    _, qa_export = exports("bert", "question-answering")
    _, roberta_export = exports("roberta", "sequence-classification")  # four special tokens in a pair
    capsys.readouterr()  # the exports' own log, when this test is the first to need them
    long_question = " ".join(["river stone cloud lamp"] * 60)
    questions = tmp_path / "qa.txt"
    questions.write_text(f"who came?\tthe river came\nwhere is it\tby the lamp\n{long_question}\tstone\n",
                         encoding="utf-8")
    line = _one_line_error(capsys, cli_main(["predict", qa_export, "--input-file", str(questions)]))
    assert re.fullmatch(rf"paddle-rembert predict: error: {re.escape(str(questions))}:3: the question \(\d+ tokens\) "
                        r"leaves no room for its context in a window of 128 tokens: shorten the question or widen "
                        r"the window \(--max-length\)", line), line
    line = _one_line_error(capsys, cli_main(["predict", qa_export, "--text", long_question, "--text-pair", "stone"]))
    assert line.startswith("paddle-rembert predict: error: the question ("), line
    with pytest.raises(PaddleRembertError, match=r"^question 3 \(\d+ tokens\) leaves no room"):
        Predictor(qa_export).predict(["who came?", "where is it", long_question], ["a river", "a lamp", "stone"])
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a single text\none\ttwo\n", encoding="utf-8")
    _one_line_error(capsys, cli_main(["predict", roberta_export, "--max-length", "3", "--input-file", str(pairs)]),
                    f"error: {pairs}:2: the example cannot be truncated to max_length 3 (the special tokens alone do "
                    f"not fit; it has 4 tokens); raise --max-length")
    with pytest.raises(PaddleRembertError, match=r"^example 2: cannot be truncated to max_length 3"):  # from 1
        Predictor(roberta_export, max_length=3).predict(["a single text", "one"], [None, "two"])


def test_predictor_arguments_of_the_wrong_type_are_named(exports):
    _, export = exports("bert", "sequence-classification")
    for kwargs, message in (({"top_k": "x"}, "top_k must be an integer of at least 1, got 'x'"),
                            ({"threshold": "x"}, r"threshold must be a probability in \[0, 1\], got 'x'"),
                            ({"threshold": 2.0}, r"threshold must be a probability")):
        with pytest.raises(PaddleRembertError, match=message):
            Predictor(export, **kwargs)
    assert Predictor(export, top_k=np.int64(2)).top_k == 2


def test_weights_that_config_json_does_not_describe_get_a_short_message(tmp_path, capsys):
    source = tmp_path / "hf"
    T.torch_model("bert", "BertModel").save_pretrained(source)
    config = json.loads((source / "config.json").read_text())
    config["hidden_size"] *= 2  # a config of another size beside the weights
    config["intermediate_size"] *= 2
    (source / "config.json").write_text(json.dumps(config))
    line = _one_line_error(capsys, cli_main(["convert", "--quiet", str(source), str(tmp_path / "out")]),
                           "more shape mismatches: config.json's sizes do not match these weights")
    assert len(line) < 700, line


def test_an_edited_export_meta_the_program_cannot_serve_is_refused(exports, tmp_path):
    """Each edit was a traceback at some point (an IndexError, a KeyError, an AttributeError, the embedding's
    index error for RoBERTa's offset positions); each is one line naming what is wrong."""
    _, export = exports("bert", "sequence-classification")
    logits = {"name": "logits", "dtype": "float32"}
    for name, change, message in (
            ("tokcls", dict(task="token-classification"), r"output 'logits' has shape \['batch', 3\], but task "
                                                          r"token-classification gives"),
            ("rtd", dict(task="replaced-token-detection"), r"output 'logits' has shape \['batch', 3\], but task "
                                                           r"replaced-token-detection gives \['batch', 'sequence'\]"),
            ("long", dict(max_length=100000), "max_length 100000 is more than the model's .* positions"),
            ("int8", dict(int8="yes"), "'int8' must be null or an object"),
            ("int8-onnx", dict(int8_onnx=[1]), "'int8_onnx' must be null or an object"),
            ("mlm", dict(task="masked-lm", outputs=[dict(logits, shape=["batch", "sequence", 3])]),
             r"the model returned logits of shape \[1, 3\], but export_meta.json's task masked-lm needs")):
        edited = tmp_path / name
        shutil.copytree(export, edited)
        meta = json.loads((edited / "export_meta.json").read_text())
        (edited / "export_meta.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(PaddleRembertError, match=message):
            Predictor(str(edited)).predict(["river stone"])
    _, roberta = exports("roberta", "sequence-classification")
    edited = tmp_path / "roberta"
    shutil.copytree(roberta, edited)
    meta = json.loads((edited / "export_meta.json").read_text())
    config = json.loads((edited / "config.json").read_text())
    (edited / "export_meta.json").write_text(json.dumps(dict(meta, max_length=config["max_position_embeddings"])))
    with pytest.raises(PaddleRembertError, match=f"max_length {config['max_position_embeddings']} is more than the "
                                                 f"model's {config['max_position_embeddings'] - 2} positions"):
        Predictor(str(edited))


def test_a_hub_style_directory_with_safetensors_and_bin_loads_quietly(tmp_path, caplog):
    """Hub repos often ship both; as in transformers, model.safetensors is read, without a warning."""
    source = tmp_path / "hf"
    T.torch_model("bert", "BertModel").save_pretrained(source)
    T.torch_model("bert", "BertModel", seed=1).save_pretrained(tmp_path / "other", safe_serialization=False)
    shutil.copy(tmp_path / "other" / "pytorch_model.bin", source)
    with caplog.at_level(logging.WARNING, logger="paddle_rembert"):
        pr.BertModel.from_pretrained(str(source))
    assert "several weight files" not in caplog.text


def test_api_arguments_of_the_wrong_kind_are_named(bert_dir):
    from paddle_rembert.convert import convert_checkpoint

    for dtype in ("float128", "int8"):
        with pytest.raises(PaddleRembertError, match=f"dtype must be one of float32, .*got '{dtype}'"):
            pr.AutoModelForSequenceClassification.from_pretrained(str(bert_dir), dtype=dtype)
    model = pr.AutoModelForSequenceClassification.from_pretrained(str(bert_dir), dtype=np.float16)
    assert "float16" in str(model.classifier.weight.dtype)
    for args, message in (((None, "x"), "the source must be a directory path, got None"),
                          ((str(bert_dir), None), "the destination must be a directory path, got None")):
        with pytest.raises(PaddleRembertError, match=message):
            convert_checkpoint(*args)
