"""from_pretrained / save_pretrained behaviour: layouts, reports, strict mode, Auto classes."""
import hashlib
import json
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
    import transformers

    _, theirs = transformers.AlbertForSequenceClassification.from_pretrained(
        str(tmp_path), num_labels=5, output_loading_info=True, ignore_mismatched_sizes=True)
    assert [(k, tuple(a), tuple(b)) for k, a, b in theirs["mismatched_keys"]] == report["mismatched_keys"]
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


# -- transformers' keywords ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bert_classifier_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert-classifier")
    T.torch_model("bert", "BertForSequenceClassification").save_pretrained(path)
    return str(path)


def test_fetching_keywords_are_taken_not_stored_and_unknown_ones_raise(bert_classifier_dir, tmp_path):
    import json
    import shutil

    options = dict(cache_dir=str(tmp_path / "cache"), local_files_only=True, low_cpu_mem_usage=True,
                   trust_remote_code=False, revision="main", force_download=False, attn_implementation="eager")
    model = pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, num_labels=3, **options)
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert not set(options) & set(saved)
    with pytest.raises(PaddleRembertError, match=r"got an unexpected keyword argument 'foo': neither a config "
                                                 r"attribute nor a loading option"):
        pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, foo=1)
    # transformers' and PaddleNLP's switches that change nothing here
    for name in ("weights_only", "use_flash_attention_2", "from_hf_hub", "convert_from_torch", "load_state_as_np"):
        pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, **{name: True})
    for name, value in (("variant", "fp16"), ("state_dict", {}), ("device_map", "auto"), ("adapter_name", "a"),
                        ("from_aistudio", True)):
        with pytest.raises(PaddleRembertError, match=f"{name}= is not supported here") as e:
            pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, **{name: value})
        advice = "download the model from AI Studio" if name == "from_aistudio" else "change the model afterwards"
        assert advice in str(e.value)
    # transformers' generic config keys and the model's own arguments are taken as transformers takes them
    backbone = pr.BertModel.from_pretrained(bert_classifier_dir, add_pooling_layer=False, return_dict=False,
                                            num_beams=2)
    assert backbone.pooler is None and backbone.config.return_dict is False
    shutil.copytree(bert_classifier_dir, tmp_path / "repo" / "inner")
    inner = pr.AutoModelForSequenceClassification.from_pretrained(tmp_path / "repo", subfolder="inner")
    assert all(np.array_equal(a, b) for a, b in zip(state_numpy(inner).values(), state_numpy(model).values()))
    assert pr.AutoConfig.from_pretrained(tmp_path / "repo", subfolder="inner").num_labels == 3
    with pytest.raises(PaddleRembertError, match="has no subfolder 'other'"):
        pr.BertModel.from_pretrained(tmp_path / "repo", subfolder="other")


def test_torch_dtype_is_dtype_under_transformers_name(bert_classifier_dir, tmp_path, caplog):
    import torch

    for torch_dtype in (torch.float16, "float16"):
        with caplog.at_level("WARNING", logger="paddle_rembert"):
            model = pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, torch_dtype=torch_dtype)
        assert {p.dtype for p in model.parameters()} == {paddle.float16}
        assert "float16 weights cannot run a forward on this CPU-only Paddle" in caplog.text
    model.save_pretrained(tmp_path / "half")  # config.json records torch_dtype float16
    auto = pr.BertForSequenceClassification.from_pretrained(tmp_path / "half", torch_dtype="auto")
    assert {p.dtype for p in auto.parameters()} == {paddle.float16}
    config = json.loads((tmp_path / "half" / "config.json").read_text())
    del config["torch_dtype"]  # then transformers takes the checkpoint's first floating-point tensor's dtype
    (tmp_path / "half" / "config.json").write_text(json.dumps(config))
    auto = pr.BertForSequenceClassification.from_pretrained(tmp_path / "half", torch_dtype="auto")
    assert {p.dtype for p in auto.parameters()} == {paddle.float16}
    kept = pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, torch_dtype="auto")
    assert {p.dtype for p in kept.parameters()} == {paddle.float32}
    with pytest.raises(PaddleRembertError, match="pass dtype or torch_dtype, not both"):
        pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, dtype="float16", torch_dtype="float16")


def test_a_given_config_is_copied_and_not_overridden_by_keywords(bert_classifier_dir, tmp_path):
    config = pr.BertConfig.from_pretrained(bert_classifier_dir)
    before = config.to_dict()
    model = pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, config=config, dtype="float64")
    model.save_pretrained(tmp_path / "out")  # writes architectures and torch_dtype on the model's config
    assert config.to_dict() == before and model.config is not config
    with pytest.raises(PaddleRembertError, match="config= was given, so num_labels, problem_type cannot override it"):
        pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, config=config, num_labels=5,
                                                         problem_type="multi_label_classification")
    by_path = pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, config=bert_classifier_dir)
    assert by_path.config.to_dict() == before
    # a config given by path is read as transformers reads it: keywords override it
    by_path = pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, config=bert_classifier_dir,
                                                               problem_type="multi_label_classification")
    assert by_path.config.problem_type == "multi_label_classification"
    with pytest.raises(PaddleRembertError, match="unexpected keyword argument 'foo'"):
        pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, config=bert_classifier_dir, foo=1)
    with pytest.raises(PaddleRembertError, match="does not match the 2 labels of id2label"):
        pr.BertForSequenceClassification.from_pretrained(bert_classifier_dir, num_labels=3,
                                                         id2label={0: "a", 1: "b"})


def test_loading_info_is_transformers_dict(bert_classifier_dir):
    import json

    import transformers

    for cls in ("BertForTokenClassification", "BertModel", "BertForSequenceClassification"):
        _, ours = getattr(pr, cls).from_pretrained(bert_classifier_dir, output_loading_info=True)
        _, theirs = getattr(transformers, cls).from_pretrained(bert_classifier_dir, output_loading_info=True)
        assert sorted(ours) == sorted(theirs) == ["error_msgs", "mismatched_keys", "missing_keys", "unexpected_keys"]
        assert isinstance(ours, dict) and json.loads(json.dumps(ours)) == {k: list(v) for k, v in ours.items()}
        for key in ("missing_keys", "unexpected_keys"):  # transformers prefixes head checkpoints' keys: strip it
            assert ours[key] == sorted(ours[key])  # in transformers' order
            assert sorted(k.removeprefix("bert.") for k in ours[key]) == \
                sorted(k.removeprefix("bert.") for k in theirs[key]), (cls, key)
        assert ours["mismatched_keys"] == theirs["mismatched_keys"] == [] and ours["error_msgs"] == []


def test_unused_checkpoint_keys_warn_only_when_the_config_names_the_class(tmp_path, caplog):
    T.torch_model("bert", "BertForPreTraining").save_pretrained(tmp_path)
    for cls, level in (("BertModel", "INFO"), ("BertForMaskedLM", "INFO"), ("BertForPreTraining", None)):
        caplog.clear()
        with caplog.at_level("INFO", logger="paddle_rembert"):
            getattr(pr, cls).from_pretrained(tmp_path)
        levels = {r.levelname for r in caplog.records if r.getMessage().startswith(f"loading {cls} from")}
        assert levels == ({level} if level else set()), cls
    (tmp_path / "config.json").write_text((tmp_path / "config.json").read_text().replace(
        '"BertForPreTraining"', '"BertForMaskedLM"'))
    caplog.clear()
    with caplog.at_level("INFO", logger="paddle_rembert"):
        pr.BertForMaskedLM.from_pretrained(tmp_path)  # the config says it is this class: unused keys are a surprise
    assert [r.levelname for r in caplog.records if r.getMessage().startswith("loading BertForMaskedLM")] == ["WARNING"]


def test_save_pretrained_shards_as_transformers(albert_mlm_dir, tmp_path):
    import json

    import transformers

    model = pr.AlbertForMaskedLM.from_pretrained(albert_mlm_dir)
    model.save_pretrained(tmp_path / "one", safe_serialization=True)
    model.save_pretrained(tmp_path / "sharded")  # an earlier save in another format: replaced, not shadowing
    model.save_pretrained(tmp_path / "sharded", max_shard_size="4KB")  # shards are safetensors, as transformers'
    files = sorted(os.listdir(tmp_path / "sharded"))
    shards = [f for f in files if f.startswith("model-")]
    assert len(shards) > 2 and files == sorted(["config.json", "model.safetensors.index.json", *shards])
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards) and set(index["weight_map"]) == set(model.state_dict())
    sizes = {k: v.numpy().nbytes for k, v in model.state_dict().items()}
    for shard in shards:
        held = [sizes[k] for k, v in index["weight_map"].items() if v == shard]
        assert sum(held) <= 4000 or len(held) == 1, shard  # "KB" is 1000 bytes, as transformers counts
    assert index["metadata"]["total_size"] == sum(sizes.values())
    again, info = pr.AlbertForMaskedLM.from_pretrained(tmp_path / "sharded", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for key, value in state_numpy(model).items():
        np.testing.assert_array_equal(state_numpy(again)[key], value)
    from paddle_rembert.cli import main

    assert main(["convert", "--quiet", str(tmp_path / "sharded"), str(tmp_path / "pt"), "--to", "torch"]) == 0
    _, theirs = transformers.AlbertForMaskedLM.from_pretrained(str(tmp_path / "pt"), output_loading_info=True)
    assert not theirs["missing_keys"] and not theirs["unexpected_keys"]
    model.save_pretrained(tmp_path / "sharded", safe_serialization=True, max_shard_size="1MB")  # one shard now
    assert sorted(os.listdir(tmp_path / "sharded")) == ["config.json", "model.safetensors"]
    for kwargs, message in ((dict(max_shard_size="40KB", safe_serialization=False), "drop safe_serialization"),
                            (dict(safe_serialization=True, max_shard_size="lots"), "max_shard_size must be"),
                            (dict(variant="v2"), "variant= is not supported")):
        with pytest.raises(PaddleRembertError, match=message):
            model.save_pretrained(tmp_path / "bad", **kwargs)
    assert not os.path.exists(tmp_path / "bad")


def test_shards_split_and_sizes_read_as_transformers_and_huggingface_hub(albert_mlm_dir, tmp_path, monkeypatch):
    import huggingface_hub
    import torch
    from huggingface_hub.serialization._base import parse_size_to_int

    from paddle_rembert.checkpoint import writers

    for size in ("5GB", "5Gb", "40Kb", "20KB", "3kb", "7 MB"):  # as transformers 4.46's save_pretrained reads them
        assert writers.shard_size_bytes(size) == parse_size_to_int(size), size
    assert writers.shard_size_bytes("500MiB") == 500 * 2 ** 20 and writers.shard_size_bytes(12345) == 12345
    model = pr.AlbertForMaskedLM.from_pretrained(albert_mlm_dir)
    specs = writers.tensor_specs(model.state_dict())
    torch_state = {key: torch.zeros(list(shape) or [1], dtype=torch.float32) for key, _, shape in specs}
    sizes = sorted({int(np.prod(shape)) * 4 for _, _, shape in specs})
    for max_bytes in (sizes[len(sizes) // 2], sizes[-1] - 1, sizes[-1] * 3):  # some tensors above the limit
        ours = [[key for key, _, _ in group] for group in writers.shards(specs, max_bytes)]
        split = huggingface_hub.split_torch_state_dict_into_shards(torch_state, max_shard_size=max_bytes)
        assert ours == [list(keys) for keys in split.filename_to_tensors.values()], max_bytes
    # a re-save that fails half-way leaves no index naming old and new shards: it cannot load silently
    model.save_pretrained(tmp_path, safe_serialization=True, max_shard_size="4KB")
    written, real = [], writers.write_safetensors

    def fail_on_second(f, group, produce, metadata=None):
        written.append(group)
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        return real(f, group, produce, metadata)

    monkeypatch.setattr(writers, "write_safetensors", fail_on_second)
    with pytest.raises(OSError):
        model.save_pretrained(tmp_path, safe_serialization=True, max_shard_size="4KB")
    monkeypatch.undo()
    assert not os.path.exists(tmp_path / "model.safetensors.index.json")
    with pytest.raises(PaddleRembertError):
        pr.AlbertForMaskedLM.from_pretrained(tmp_path)


@pytest.mark.parametrize("family", sorted(T.PREFIX))
def test_half_precision_weights_on_the_cpu_are_refused_in_one_line(family):
    """Paddle 3.3 has no CPU kernels for fp16/bf16 weights (transformers runs them): the forward says so in one
    line, instead of the first kernel's many-line error."""
    class_name = T.PREFIX[family] + "ForSequenceClassification"
    model = getattr(pr, class_name)(getattr(pr, T.PREFIX[family] + "Config")(**T.tiny_config_dict(family, class_name)))
    ids = paddle.to_tensor([[2, 5, 7, 3]])
    model.eval()(ids)  # float32 runs
    for dtype in ("float16", "bfloat16"):
        model.to(dtype=dtype)
        with pytest.raises(PaddleRembertError, match=rf"^{T.PREFIX[family]}\w*'s weights are {dtype}, which Paddle "
                                                     r"cannot run on the CPU \(no kernels\): load them as float32"):
            model(ids)


def test_use_safetensors_chooses_the_weight_files_as_transformers(tmp_path):
    """A directory with both formats (different values): None and True read the safetensors, False the .bin; a
    format asked for and absent is a clear error."""
    import shutil

    import torch

    T.torch_model("bert", "BertModel", seed=0).save_pretrained(tmp_path / "both", safe_serialization=True)
    T.torch_model("bert", "BertModel", seed=1).save_pretrained(tmp_path / "bin", safe_serialization=False)
    shutil.copy(tmp_path / "bin" / "pytorch_model.bin", tmp_path / "both")
    key = "embeddings.word_embeddings.weight"
    from_bin = torch.load(tmp_path / "bin" / "pytorch_model.bin", weights_only=True)[key].numpy()
    for use_safetensors, reads_bin in ((None, False), (True, False), (False, True)):
        loaded = pr.BertModel.from_pretrained(tmp_path / "both", use_safetensors=use_safetensors).state_dict()[key]
        assert np.array_equal(loaded.numpy(), from_bin) == reads_bin, use_safetensors
    with pytest.raises(PaddleRembertError, match=r"no weights in .*bin \(use_safetensors=True\): expected one of "
                                                 r"model\.safetensors, model\.safetensors\.index\.json"):
        pr.BertModel.from_pretrained(tmp_path / "bin", use_safetensors=True)


def test_save_pretrained_takes_transformers_state_dict_and_is_main_process(tmp_path):
    model = pr.BertModel(pr.BertConfig(**T.TINY_CONFIGS["bert"]))
    model.save_pretrained(tmp_path / "other-rank", is_main_process=False)
    assert not (tmp_path / "other-rank").exists()
    state = {k: v * 2 for k, v in model.state_dict().items()}  # e.g. weights gathered or merged elsewhere
    model.save_pretrained(tmp_path / "given", state_dict=state)
    loaded = pr.BertModel.from_pretrained(tmp_path / "given").state_dict()
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())
    numpy_state = {k: v.numpy() for k, v in state.items()}
    model.save_pretrained(tmp_path / "numpy", state_dict=numpy_state, safe_serialization=True)
    np.testing.assert_array_equal(pr.BertModel.from_pretrained(tmp_path / "numpy").pooler.dense.weight.numpy(),
                                  numpy_state["pooler.dense.weight"])
    for kwargs, message in ((dict(push_to_hub=True), "push_to_hub is not supported"),
                            (dict(save_function=print), "unexpected keyword argument 'save_function'"),
                            (dict(state_dict={"a": 1}), "'a' holds a int")):
        with pytest.raises(PaddleRembertError, match=message):
            model.save_pretrained(tmp_path / "refused", **kwargs)
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize("family", sorted(T.TINY_CONFIGS))
def test_loading_info_lists_the_keys_transformers_lists(family, tmp_path):
    """A backbone checkpoint into a masked LM, and a masked LM's into a classifier and a backbone: the same
    missing and unexpected keys as transformers, the tied copies of missing head parameters included. The one
    kept difference: transformers names a backbone's missing pooler with the head's prefix, a key no model has."""
    import transformers

    prefix = T.PREFIX[family]
    backbone, mlm = tmp_path / "backbone", tmp_path / "mlm"
    T.torch_model(family, prefix + "Model").save_pretrained(backbone)
    T.torch_model(family, prefix + "ForMaskedLM").save_pretrained(mlm)
    base_prefix = getattr(pr, prefix + "Model").base_model_prefix
    for source, name in [(backbone, "ForMaskedLM"), (mlm, "ForSequenceClassification"), (mlm, "Model")]:
        _, ours = getattr(pr, prefix + name).from_pretrained(str(source), output_loading_info=True)
        _, theirs = getattr(transformers, prefix + name).from_pretrained(str(source), output_loading_info=True)
        if name == "Model":
            theirs["missing_keys"] = [k.removeprefix(base_prefix + ".") for k in theirs["missing_keys"]]
        assert ours["missing_keys"] == sorted(theirs["missing_keys"]), (source.name, name)
        assert ours["unexpected_keys"] == sorted(theirs["unexpected_keys"]), (source.name, name)


def test_float64_checkpoint_loads_exactly_in_float64(tmp_path):
    """The weights are read straight into the requested dtype: float64 values do not pass through float32."""
    import torch

    source = T.torch_model("bert", "BertModel").double()
    with torch.no_grad():
        for param in source.parameters():
            param.add_(torch.randn_like(param) * 1e-11)  # below float32's resolution at these magnitudes
    source.save_pretrained(tmp_path)
    expected = {k: v.numpy() for k, v in source.state_dict().items()}
    for kwargs in ({"dtype": "float64"}, {"torch_dtype": "auto"}):
        model = pr.BertModel.from_pretrained(str(tmp_path), **kwargs)
        np.testing.assert_array_equal(model.embeddings.word_embeddings.weight.numpy(),
                                      expected["embeddings.word_embeddings.weight"])
        np.testing.assert_array_equal(model.encoder.layer[0].attention.self.query.weight.numpy(),
                                      expected["encoder.layer.0.attention.self.query.weight"].T)
