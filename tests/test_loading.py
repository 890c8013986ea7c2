"""from_pretrained / save_pretrained behaviour: layouts, reports, strict mode, Auto classes."""
import hashlib
import os

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import PaddleRembertError
from paddle_rembert import testing as T


def tree_digest(path):
    """Names, sizes and contents of every file below ``path``."""
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(full.encode())
            with open(full, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def state_numpy(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def rembert_backbone_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("rembert-backbone")
    T.torch_model("rembert", "RemBertModel").save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def albert_mlm_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("albert-mlm")
    T.torch_model("albert", "AlbertForMaskedLM").save_pretrained(path, safe_serialization=False)
    return str(path)


def test_backbone_checkpoint_into_head_initialises_and_lists_the_head(rembert_backbone_dir):
    before = tree_digest(rembert_backbone_dir)
    model, report = pr.RemBertForSequenceClassification.from_pretrained(
        rembert_backbone_dir, num_labels=3, output_loading_info=True)
    assert sorted(report.missing_keys) == ["classifier.bias", "classifier.weight"]
    assert not report.unexpected_keys and not report.mismatched_keys
    backbone = pr.RemBertModel.from_pretrained(rembert_backbone_dir)
    ours = state_numpy(model)
    for key, value in state_numpy(backbone).items():
        np.testing.assert_array_equal(ours["rembert." + key], value)
    # the source directory was read, never written
    assert tree_digest(rembert_backbone_dir) == before
    with pytest.raises(PaddleRembertError, match="classifier.weight"):
        pr.RemBertForSequenceClassification.from_pretrained(rembert_backbone_dir, strict=True)


def test_head_checkpoint_into_backbone_lists_unexpected_head_keys(albert_mlm_dir):
    model, report = pr.AlbertModel.from_pretrained(albert_mlm_dir, output_loading_info=True)
    assert report.unexpected_keys and all(k.startswith("predictions.") for k in report.unexpected_keys)
    assert sorted(report.missing_keys) == ["pooler.bias", "pooler.weight"]
    with pytest.raises(PaddleRembertError, match="unexpected.*predictions"):
        pr.AlbertModel.from_pretrained(albert_mlm_dir, strict=True)


def test_shape_mismatch_raises_unless_ignored(tmp_path):
    """A 3-label classifier into a 5-label model is refused (as transformers), naming key, shapes and file."""
    T.torch_model("albert", "AlbertForSequenceClassification").save_pretrained(tmp_path)
    with pytest.raises(PaddleRembertError, match=r"model.safetensors: classifier.bias has shape \[3\] in the "
                                                 r"checkpoint, the model needs \[5\] \(and 1 more: classifier.weight\)"
                                                 r".*ignore_mismatched_sizes"):
        pr.AlbertForSequenceClassification.from_pretrained(str(tmp_path), num_labels=5)
    model, report = pr.AlbertForSequenceClassification.from_pretrained(
        str(tmp_path), num_labels=5, output_loading_info=True, ignore_mismatched_sizes=True)
    assert {k for k, _, _ in report.mismatched_keys} == {"classifier.weight", "classifier.bias"}
    assert ("classifier.bias", (3,), (5,)) in report.mismatched_keys
    assert tuple(model.classifier.bias.shape) == (5,)
    strict_message = r"shape mismatch for classifier.bias: checkpoint \[3\], expected \[5\]"
    with pytest.raises(PaddleRembertError, match=strict_message):
        pr.AlbertForSequenceClassification.from_pretrained(str(tmp_path), num_labels=5, strict=True,
                                                           ignore_mismatched_sizes=True)


@pytest.mark.parametrize("safe", [False, True])
def test_save_pretrained_round_trip_is_bit_identical(albert_mlm_dir, tmp_path, safe):
    model = pr.AlbertForMaskedLM.from_pretrained(albert_mlm_dir)
    model.save_pretrained(tmp_path, safe_serialization=safe)
    expected_file = "model.safetensors" if safe else "model_state.pdparams"
    assert sorted(os.listdir(tmp_path)) == sorted(["config.json", expected_file])
    again, report = pr.AlbertForMaskedLM.from_pretrained(str(tmp_path), output_loading_info=True, strict=True)
    assert report.clean
    a, b = state_numpy(model), state_numpy(again)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_pdparams_are_plain_paddle_state_dicts(albert_mlm_dir, tmp_path):
    """paddle.load (what PaddleNLP uses) reads our weight file into a model directly."""
    model = pr.AlbertForMaskedLM.from_pretrained(albert_mlm_dir)
    model.save_pretrained(tmp_path)
    state = paddle.load(str(tmp_path / "model_state.pdparams"))
    fresh = pr.AlbertForMaskedLM(model.config)
    missing, unexpected = fresh.set_state_dict(state)
    assert not missing and not unexpected
    np.testing.assert_array_equal(fresh.predictions.bias.numpy(), model.predictions.bias.numpy())


def test_model_type_mismatch_and_missing_dirs(rembert_backbone_dir, tmp_path):
    with pytest.raises(PaddleRembertError, match="model_type 'rembert'"):
        pr.AlbertModel.from_pretrained(rembert_backbone_dir)
    with pytest.raises(PaddleRembertError, match="model directory not found"):
        pr.AlbertModel.from_pretrained(str(tmp_path / "nope"))
    pr.AlbertConfig(**T.TINY_CONFIGS["albert"]).save_pretrained(tmp_path)
    with pytest.raises(PaddleRembertError, match="no weights in"):
        pr.AlbertModel.from_pretrained(str(tmp_path))


def test_auto_classes_dispatch_on_model_type(rembert_backbone_dir, albert_mlm_dir):
    assert type(pr.AutoModel.from_pretrained(rembert_backbone_dir)) is pr.RemBertModel
    assert type(pr.AutoModelForMaskedLM.from_pretrained(albert_mlm_dir)) is pr.AlbertForMaskedLM
    assert type(pr.AutoModelForSequenceClassification.from_pretrained(albert_mlm_dir)) is \
        pr.AlbertForSequenceClassification
    assert type(pr.AutoModelForPreTraining.from_pretrained(albert_mlm_dir)) is pr.AlbertForPreTraining
    assert type(pr.AutoModelForCausalLM.from_pretrained(rembert_backbone_dir)) is pr.RemBertForCausalLM
    with pytest.raises(PaddleRembertError, match="AutoModelForCausalLM has no class for model_type 'albert'"):
        pr.AutoModelForCausalLM.from_pretrained(albert_mlm_dir)
    config = pr.AutoConfig.for_model("albert", **T.TINY_CONFIGS["albert"])
    assert type(pr.AutoModelForQuestionAnswering.from_config(config)) is pr.AlbertForQuestionAnswering


def test_albert_mlm_decoder_is_tied_to_word_embeddings(albert_mlm_dir):
    model = pr.AlbertForMaskedLM.from_pretrained(albert_mlm_dir)
    assert not any("decoder" in k for k in model.state_dict())
    emb = model.albert.embeddings.word_embeddings.weight
    ids = paddle.to_tensor([[5, 6, 7]])
    before = model(ids).logits.numpy()
    with paddle.no_grad():
        emb.set_value(emb * 2.0)
    assert not np.allclose(model(ids).logits.numpy(), before)  # the decoder moved with the embedding


def test_rembert_output_embedding_is_separate():
    config = pr.RemBertConfig(**T.TINY_CONFIGS["rembert"])
    model = pr.RemBertForMaskedLM(config)
    decoder = model.cls.predictions.decoder.weight
    assert list(decoder.shape) == [config.output_embedding_size, config.vocab_size]
    assert list(model.rembert.embeddings.word_embeddings.weight.shape) == [config.vocab_size,
                                                                          config.input_embedding_size]
    assert config.input_embedding_size != config.output_embedding_size != config.hidden_size


def test_written_files_get_ordinary_permissions(albert_mlm_dir, tmp_path):
    """Atomic writes go through temporary files (0600) and dirs (0700); results must not keep that."""
    old = os.umask(0o022)
    try:
        from paddle_rembert.convert import convert_checkpoint

        convert_checkpoint(albert_mlm_dir, str(tmp_path / "converted"), progress=False)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "converted").st_mode & 0o777 == 0o755
    for name in os.listdir(tmp_path / "converted"):
        assert os.stat(tmp_path / "converted" / name).st_mode & 0o777 == 0o644, name
