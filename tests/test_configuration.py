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
    with pytest.raises(PaddleRembertError, match="not found"):
        pr.AlbertConfig.from_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PaddleRembertError, match="not valid JSON"):
        pr.AlbertConfig.from_pretrained(str(tmp_path))


def test_auto_config_dispatches_on_model_type(tmp_path):
    for name, cls in REAL.items():
        assert type(pr.AutoConfig.from_pretrained(os.path.join(FIXTURES, "real-configs", name))) is cls
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(PaddleRembertError, match="unknown model_type 'gpt2'.*supported: albert, rembert"):
        pr.AutoConfig.from_pretrained(str(tmp_path))
