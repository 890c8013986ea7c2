"""Configs read and write transformers' config.json unchanged, and agree with transformers."""
import json
import os

import pytest
import transformers

import paddle_rembert as pr
from paddle_rembert import PaddleRembertError

from .conftest import FIXTURES

REAL = {
    "google-rembert": pr.RemBertConfig,
    "albert-base-v2": pr.AlbertConfig,
    "albert-large-v2": pr.AlbertConfig,
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_config_round_trips_unchanged(name, tmp_path):
    src = os.path.join(FIXTURES, "real-configs", name, "config.json")
    config = REAL[name].from_pretrained(src)
    config.save_pretrained(tmp_path)
    assert read(tmp_path / "config.json") == read(src)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_config_means_the_same_to_transformers(name, tmp_path):
    src = os.path.join(FIXTURES, "real-configs", name, "config.json")
    ours = REAL[name].from_pretrained(src)
    ours.save_pretrained(tmp_path)
    theirs = transformers.AutoConfig.from_pretrained(str(tmp_path))
    original = transformers.AutoConfig.from_pretrained(os.path.dirname(src))
    for key, value in original.to_dict().items():
        if key in ("transformers_version", "_name_or_path", "_commit_hash", "_attn_implementation_autoset"):
            continue
        assert theirs.to_dict()[key] == value, key
        if hasattr(ours, key):
            assert getattr(ours, key) == value, key


def test_legacy_and_unknown_keys_are_kept(tmp_path):
    rembert = read(os.path.join(FIXTURES, "real-configs", "google-rembert", "config.json"))
    assert {"embedding_size", "embedding_dropout_prob"} <= set(rembert)
    albert = dict(read(os.path.join(FIXTURES, "real-configs", "albert-large-v2", "config.json")))
    assert {"down_scale_factor", "gap_size", "net_structure_type", "num_memory_blocks"} <= set(albert)
    albert["my_research_flag"] = {"nested": [1, 2]}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text(json.dumps(albert))
    config = pr.AlbertConfig.from_pretrained(str(tmp_path / "src"))
    assert config.my_research_flag == {"nested": [1, 2]} and config.gap_size == 0
    config.save_pretrained(tmp_path / "out")
    assert read(tmp_path / "out" / "config.json") == albert


@pytest.mark.parametrize("ours,theirs", [(pr.RemBertConfig, transformers.RemBertConfig),
                                         (pr.AlbertConfig, transformers.AlbertConfig)])
def test_defaults_equal_transformers(ours, theirs):
    mine, ref = ours().to_dict(), theirs().to_dict()
    for key, value in mine.items():
        if key in ref:
            assert ref[key] == value, key
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "hidden_act", "classifier_dropout_prob", "pad_token_id", "bos_token_id", "eos_token_id",
                "layer_norm_eps", "type_vocab_size", "max_position_embeddings", "tie_word_embeddings"):
        assert key in mine, key


def test_labels_and_task_fields(tmp_path):
    config = pr.RemBertConfig(num_labels=3)
    assert config.num_labels == 3 and config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert config.classifier_dropout_prob == 0.1 and config.model_type == "rembert"
    config = pr.AlbertConfig(id2label={"0": "contradiction", "1": "entailment", "2": "neutral"})
    assert config.num_labels == 3 and config.id2label[1] == "entailment"
    config.save_pretrained(tmp_path)
    saved = read(tmp_path / "config.json")
    assert saved["id2label"] == {"0": "contradiction", "1": "entailment", "2": "neutral"}
    assert saved["label2id"] == {"contradiction": 0, "entailment": 1, "neutral": 2}
    reloaded = transformers.AlbertConfig.from_pretrained(str(tmp_path))
    assert reloaded.num_labels == 3 and reloaded.id2label[2] == "neutral"
    # an override at load time wins over the file
    assert pr.AlbertConfig.from_pretrained(str(tmp_path), num_labels=2).num_labels == 2


def test_wrong_model_type_and_bad_values_are_clear_errors(tmp_path):
    src = os.path.join(FIXTURES, "real-configs", "albert-base-v2")
    with pytest.raises(PaddleRembertError, match="model_type 'albert'.*'rembert'"):
        pr.RemBertConfig.from_pretrained(src)
    with pytest.raises(PaddleRembertError, match="problem_type"):
        pr.AlbertConfig(problem_type="ranking")
    with pytest.raises(PaddleRembertError, match="num_labels=2 does not match"):
        pr.AlbertConfig(num_labels=2, id2label={0: "a", 1: "b", 2: "c"})
    with pytest.raises(PaddleRembertError, match="holds no config.json: not a model directory"):
        pr.AlbertConfig.from_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PaddleRembertError, match="not valid JSON"):
        pr.AlbertConfig.from_pretrained(str(tmp_path))


def test_auto_config_dispatches_on_model_type(tmp_path):
    for name, cls in REAL.items():
        assert type(pr.AutoConfig.from_pretrained(os.path.join(FIXTURES, "real-configs", name))) is cls
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(PaddleRembertError, match="unknown model_type 'gpt2'.*supported: albert, .*rembert"):
        pr.AutoConfig.from_pretrained(str(tmp_path))


ALBERT_BASE = os.path.join(FIXTURES, "real-configs", "albert-base-v2", "config.json")


def _write_config(tmp_path, **changes):
    config = read(ALBERT_BASE)
    for key, value in changes.items():
        if value is _DROP:
            config.pop(key, None)
        else:
            config[key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path / "config.json")


_DROP = object()
BAD_VALUES = [
    ("num_hidden_layers", 1e9, "num_hidden_layers must be a positive integer, got 1000000000.0"),
    ("num_hidden_layers", 10 ** 9, "num_hidden_layers is 1000000000, above the limit of 1024"),
    ("hidden_size", "768", "hidden_size must be a positive integer, got '768'"),
    ("vocab_size", -5, "vocab_size must be a positive integer, got -5"),
    ("num_attention_heads", 0, "num_attention_heads must be a positive integer, got 0"),
    ("intermediate_size", True, "intermediate_size must be a positive integer, got True"),
    ("embedding_size", None, "embedding_size must be a positive integer, got None"),
    ("num_attention_heads", 7, r"hidden_size \(768\) is not a multiple of num_attention_heads \(7\)"),
    ("hidden_dropout_prob", 1.5, r"hidden_dropout_prob must be a probability in \[0, 1\], got 1.5"),
    ("layer_norm_eps", "tiny", "layer_norm_eps must be a non-negative number"),
    ("pad_token_id", 30000, r"pad_token_id must be a token id below vocab_size \(30000\), got 30000"),
    ("architectures", "AlbertForMaskedLM", "architectures must be a list of class names"),
    ("model_type", ["albert"], r"model_type must be a string, got \['albert'\]"),
    ("id2label", ["neg", "pos"], "id2label must be a mapping, got list"),
    ("id2label", {"first": "neg"}, "id2label keys must be integer label ids, got 'first'"),
    ("id2label", {"0": "neg", "2": "pos"}, r"id2label must number its labels 0..1, got ids \[0, 2\]"),
    ("label2id", {"neg": 0, "pos": 5}, r"label2id maps 'pos' to 5, which is not an id of id2label \(0..1\)"),
    ("label2id", "neg,pos", "label2id must be a mapping, got str"),
    ("num_labels", 0, "num_labels must be a positive integer, got 0"),
    # null where the models need a value, and switches that are not true or false ("no" would count as true)
    ("layer_norm_eps", None, "layer_norm_eps must be a non-negative number, got None"),
    ("initializer_range", None, "initializer_range must be a non-negative number, got None"),
    ("hidden_dropout_prob", None, r"hidden_dropout_prob must be a probability in \[0, 1\], got None"),
    ("classifier_dropout_prob", "0.1", r"classifier_dropout_prob must be a probability in \[0, 1\], got '0.1'"),
    ("is_decoder", "no", "is_decoder must be true or false, got 'no'"),
    ("tie_word_embeddings", "false", "tie_word_embeddings must be true or false, got 'false'"),
    ("use_cache", 3, "use_cache must be true or false, got 3"),
    ("position_embedding_type", "foo", "position_embedding_type must be one of absolute, relative_key, "
                                       "relative_key_query, got 'foo'"),
]


@pytest.mark.parametrize("key,value,message", BAD_VALUES, ids=[f"{k}={v!r}"[:40] for k, v, _ in BAD_VALUES])
def test_bad_config_values_name_the_key_and_the_file(key, value, message, tmp_path):
    changes = {key: value}
    if key == "label2id":
        changes["id2label"] = {"0": "neg", "1": "pos"}
    path = _write_config(tmp_path, **changes)
    for load in (pr.AlbertConfig.from_pretrained, pr.AutoConfig.from_pretrained):
        with pytest.raises(PaddleRembertError, match=message) as info:
            load(str(tmp_path))
        assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_values_are_checked_in_code_and_after_overrides_too():
    with pytest.raises(PaddleRembertError, match="hidden_size must be a positive integer, got -1"):
        pr.RemBertConfig(hidden_size=-1)
    with pytest.raises(PaddleRembertError, match="output_embedding_size must be a positive integer"):
        pr.RemBertConfig(output_embedding_size=0)
    with pytest.raises(PaddleRembertError, match="num_labels must be a positive integer"):
        pr.AlbertConfig.from_pretrained(ALBERT_BASE, num_labels=-2)
    with pytest.raises(PaddleRembertError, match="num_attention_heads"):
        pr.AlbertConfig.from_pretrained(ALBERT_BASE, num_attention_heads=5)
    with pytest.raises(PaddleRembertError, match="about 1.1e\\+12 parameters, above the limit"):
        pr.AlbertConfig(vocab_size=2 ** 24, embedding_size=2 ** 16, hidden_size=2 ** 10, num_attention_heads=8)
    # ALBERT shares its layers: 1024 applications of one group are not 1024 layers of weights
    assert pr.AlbertConfig(num_hidden_layers=1024, hidden_size=4096, intermediate_size=16384).num_hidden_layers == 1024


@pytest.mark.parametrize("content,message", [
    ("42", "must hold a JSON object, got int"), ("null", "must hold a JSON object, got NoneType"),
    ('["albert"]', "must hold a JSON object, got list")])
def test_config_json_that_is_not_an_object_is_one_line(content, message, tmp_path):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(PaddleRembertError, match=message):
        pr.AutoConfig.from_pretrained(str(tmp_path))
    with pytest.raises(PaddleRembertError, match="config.json: a config must be a JSON object"):
        pr.AlbertConfig.from_pretrained(str(tmp_path))


def test_convert_refuses_a_huge_config_before_building_anything(tmp_path):
    """``num_hidden_layers: 1e9`` must fail at once, not after building a billion lazy layers."""
    import time

    from paddle_rembert.cli import main

    src = tmp_path / "src"
    src.mkdir()
    _write_config(src, num_hidden_layers=10 ** 9)
    (src / "model.safetensors").write_bytes(b"")
    start = time.perf_counter()
    assert main(["convert", "--quiet", str(src), str(tmp_path / "out")]) == 2
    assert time.perf_counter() - start < 5 and not (tmp_path / "out").exists()


def test_a_value_no_layer_takes_names_the_config_file(tmp_path):
    config = pr.BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=8).to_dict()
    config["hidden_act"] = "foo"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PaddleRembertError, match=r"config.json: unknown hidden_act 'foo'; known: \['gelu'"):
        pr.BertModel.from_pretrained(str(tmp_path))

    with pytest.raises(PaddleRembertError, match=r"^unknown hidden_act 'bar'"):  # the caller's value: no file named
        pr.BertModel.from_pretrained(str(tmp_path), hidden_act="bar")
