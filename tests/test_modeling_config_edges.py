"""Parity with transformers where a config or a call takes a less common path: ``return_dict`` set in the
config, tuples without a pooler, decoders' caches and 3-D masks, RemBERT's masked LM as a cross-attending
decoder and its absolute-only attention, and every activation name transformers knows."""
import numpy as np
import pytest
import torch
from transformers.activations import ACT2FN as TRANSFORMERS_ACTIVATIONS

import paddle_rembert as pr
from paddle_rembert import testing as T

from .test_modeling_parity import ATOL, GRAD_RTOL, assert_outputs_match, run_pair


def _tuples_match(t_tuple, p_tuple):
    """Nested tuples of tensors: the same structure (None where transformers has None) and values."""
    assert isinstance(p_tuple, tuple) and len(p_tuple) == len(t_tuple), (len(p_tuple), len(t_tuple))
    for p_item, t_item in zip(p_tuple, t_tuple):
        if t_item is None:
            assert p_item is None
        elif isinstance(t_item, tuple):
            _tuples_match(t_item, p_item)
        else:
            np.testing.assert_allclose(p_item.numpy(), t_item.detach().numpy(), atol=ATOL)


@pytest.mark.parametrize("family,class_name", T.ALL_CLASSES)
def test_return_dict_false_in_the_config_gives_transformers_tuples(saved, family, class_name):
    """Heads read their backbone's outputs by name, whatever the config says about tuples."""
    torch_model, path = saved(family, class_name, "safetensors")
    model = getattr(pr, class_name).from_pretrained(path, return_dict=False)
    assert model.config.return_dict is False
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)
    # transformers' heads pass return_dict on to their backbone: the same tuple as its config set to False
    _tuples_match(torch_model(**T.to_torch(inputs), output_hidden_states=True, return_dict=False),
                  model(**T.to_paddle(inputs), output_hidden_states=True))


@pytest.mark.parametrize("class_name", ["AlbertForMaskedLM", "AlbertForQuestionAnswering"])
def test_albert_backbone_without_pooler_keeps_the_none_slot(saved, class_name):
    torch_model, path = saved("albert", class_name, "safetensors")
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs("albert", class_name, torch_model.config.vocab_size, with_labels=False)
    kwargs = dict(return_dict=False, output_hidden_states=True, output_attentions=True)
    t_tuple = torch_model.albert(**T.to_torch(inputs), **kwargs)
    p_tuple = model.albert(**T.to_paddle(inputs), **kwargs)
    assert t_tuple[1] is None and len(t_tuple) == 4
    _tuples_match(t_tuple, p_tuple)


@pytest.mark.parametrize("family,class_name", [("electra", "ElectraForCausalLM"), ("bert", "BertLMHeadModel")])
def test_decoder_cache_without_use_cache_follows_each_family(saved, family, class_name):
    """transformers' BERT falls back to ``config.use_cache``; its ELECTRA returns no cache unless asked."""
    torch_model, path = saved(family, class_name, "safetensors")
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    assert torch_model.config.use_cache
    t_out, p_out = torch_model(**T.to_torch(inputs)), model(**T.to_paddle(inputs))
    assert (p_out.past_key_values is None) == (t_out.past_key_values is None)
    assert (family == "electra") == (t_out.past_key_values is None)
    _tuples_match(torch_model(**T.to_torch(inputs), return_dict=False), model(**T.to_paddle(inputs), return_dict=False))
    t_out, p_out = torch_model(**T.to_torch(inputs), use_cache=True), model(**T.to_paddle(inputs), use_cache=True)
    assert p_out.past_key_values is not None and t_out.past_key_values is not None
    assert_outputs_match(t_out, p_out)


@pytest.mark.parametrize("family,class_name", [("bert", "BertLMHeadModel"), ("roberta", "RobertaForCausalLM"),
                                               ("electra", "ElectraForCausalLM"), ("rembert", "RemBertForCausalLM")])
def test_a_decoders_3d_mask_is_used_as_given(saved, family, class_name):
    """transformers adds the causal triangle to 2-D masks only: a 3-D mask is the caller's whole mask."""
    torch_model, path = saved(family, class_name, "safetensors")
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    mask2d = inputs["attention_mask"]
    length = mask2d.shape[1]
    bidirectional = np.repeat(mask2d[:, None, :], length, axis=1)
    for mask in (bidirectional, bidirectional * np.tril(np.ones((length, length), dtype=mask2d.dtype))):
        inputs["attention_mask"] = mask
        t_out, p_out = run_pair(torch_model, model, inputs)
        assert_outputs_match(t_out, p_out)
    inputs["attention_mask"] = bidirectional  # and it does change the result: a causal triangle is not added
    p_bi = model(**T.to_paddle(inputs)).logits.numpy()
    inputs["attention_mask"] = mask2d
    assert np.abs(p_bi - model(**T.to_paddle(inputs)).logits.numpy()).max() > 1e-4


def test_rembert_masked_lm_cross_attends_like_transformers(saved):
    torch_model, path = saved("rembert", "RemBertForMaskedLM", "safetensors", is_decoder=True,
                              add_cross_attention=True)
    model = pr.RemBertForMaskedLM.from_pretrained(path)
    inputs = T.make_inputs("rembert", "RemBertForMaskedLM", torch_model.config.vocab_size)
    rng = np.random.RandomState(3)
    batch = inputs["input_ids"].shape[0]
    inputs["encoder_hidden_states"] = rng.randn(batch, 5, torch_model.config.hidden_size).astype("float32")
    inputs["encoder_attention_mask"] = np.array([[1, 1, 1, 1, 0]] * batch, dtype=np.int64)
    t_out, p_out = run_pair(torch_model, model, inputs)
    assert_outputs_match(t_out, p_out)
    assert t_out.loss is not None


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
def test_rembert_attention_stays_absolute_whatever_the_config_says(saved, kind):
    """transformers' RemBERT has no relative positions and ignores ``position_embedding_type``."""
    torch_model, path = saved("rembert", "RemBertModel", "safetensors", position_embedding_type=kind)
    model, report = pr.RemBertModel.from_pretrained(path, output_loading_info=True)
    assert report.clean, report.describe("RemBertModel", path)
    assert not any("distance_embedding" in k for k in model.state_dict())
    inputs = T.make_inputs("rembert", "RemBertModel", torch_model.config.vocab_size, with_labels=False)
    assert_outputs_match(*run_pair(torch_model, model, inputs))


# every name transformers 4.46 accepts as an activation (prelu is a layer with a parameter of its own)
ACTIVATIONS = sorted(set(TRANSFORMERS_ACTIVATIONS) - {"prelu"})


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_transformers_activation_name_matches_with_gradients(saved, act):
    torch_model, path = saved("bert", "BertForSequenceClassification", "safetensors", hidden_act=act)
    model = pr.BertForSequenceClassification.from_pretrained(path)
    inputs = T.make_inputs("bert", "BertForSequenceClassification", torch_model.config.vocab_size)
    t_out, p_out = run_pair(torch_model, model, inputs)
    assert_outputs_match(t_out, p_out)
    torch_model.zero_grad()
    t_out.loss.backward()
    p_out.loss.backward()
    t_grads = T.torch_grads(torch_model)
    p_grads = T.paddle_grads(model, model.linear_weight_keys())
    diffs, only_one = T.max_abs_diff(t_grads, p_grads)
    assert not only_one
    scale = max(float(np.abs(g).max()) for g in t_grads.values())
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= GRAD_RTOL * scale, f"grad of {worst} differs by {diffs[worst]:.3g} (scale {scale:.3g})"
    model.clear_gradients()


@pytest.mark.parametrize("act", ["sigmoid", "quick_gelu", "relu6"])
def test_electra_summary_activation_names(saved, act):
    torch_model, path = saved("electra", "ElectraForMultipleChoice", "safetensors", summary_activation=act)
    model = pr.ElectraForMultipleChoice.from_pretrained(path)
    inputs = T.make_inputs("electra", "ElectraForMultipleChoice", torch_model.config.vocab_size)
    with torch.no_grad():
        assert_outputs_match(*run_pair(torch_model, model, inputs))


DECODER_CAPABLE = [(f, c) for f, c in T.ALL_CLASSES if f != "albert"]  # transformers' ALBERT has no decoder


@pytest.mark.parametrize("family,class_name", DECODER_CAPABLE)
def test_a_decoder_heads_tuple_carries_its_backbones_cache_and_cross_attentions(saved, family, class_name):
    """transformers' head tuple is the head's fields, then its backbone's tuple after the sequence (and pooled)
    output: a decoder's cache (BERT, RoBERTa and RemBERT follow ``config.use_cache``) and cross-attentions
    come with it, though the head's output class has no field for them."""
    torch_model, path = saved(family, class_name, "safetensors", is_decoder=True, add_cross_attention=True)
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)
    kwargs = dict(return_dict=False, output_attentions=True, output_hidden_states=True)
    if "encoder_hidden_states" in T.forward_arguments(family, class_name):
        batch = inputs["input_ids"].shape[0]
        rng = np.random.RandomState(5)
        inputs["encoder_hidden_states"] = rng.randn(batch, 4, torch_model.config.hidden_size).astype("float32")
        inputs["encoder_attention_mask"] = np.array([[1, 1, 1, 0]] * batch, dtype=np.int64)
        _tuples_match(torch_model(**T.to_torch(inputs), **kwargs), model(**T.to_paddle(inputs), **kwargs))
        return
    t_tuple, p_tuple = torch_model(**T.to_torch(inputs), **kwargs), model(**T.to_paddle(inputs), **kwargs)
    # with nothing to cross-attend to, the cross-attentions are empty; transformers 4.46 lists each layer's
    # self-attention cache there instead (its encoder appends the layer's third output, which is the cache)
    assert p_tuple[-1] == () and [len(c) for c in t_tuple[-1]] == [2] * torch_model.config.num_hidden_layers
    _tuples_match(t_tuple[:-1], p_tuple[:-1])


@pytest.mark.parametrize("family,class_name,labels", [
    ("electra", "ElectraForPreTraining", [[0, 1, -100, 0, -100, 1, 0, 1, 1]]),
    ("bert", "BertForSequenceClassification", [[1, -100, 0]]),
])
def test_binary_cross_entropy_takes_every_label_as_transformers_does(saved, family, class_name, labels):
    """transformers' BCE losses read -100 as a label; Paddle's own BCE skips it (loss 0 there)."""
    torch_model, path = saved(family, class_name, "safetensors", problem_type="multi_label_classification")
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    batch = inputs["input_ids"].shape[0]
    labels = np.array(labels * batch, dtype=np.float32 if "Sequence" in class_name else np.int64)
    inputs["labels"] = labels[:, :inputs["input_ids"].shape[1]] if "Sequence" not in class_name else labels
    for mask in (True, False):
        case = dict(inputs) if mask else {k: v for k, v in inputs.items() if k != "attention_mask"}
        if not mask:  # no padding either: without a mask ours masks the padding id, transformers does not
            case["input_ids"] = np.where(inputs["attention_mask"] == 1, inputs["input_ids"], 5)
        t_out, p_out = run_pair(torch_model, model, case)
        np.testing.assert_allclose(float(p_out.loss), t_out.loss.item(), rtol=1e-5)
        torch_model.zero_grad()
        t_out.loss.backward()
        p_out.loss.backward()
        t_grads, p_grads = T.torch_grads(torch_model), T.paddle_grads(model, model.linear_weight_keys())
        diffs, _ = T.max_abs_diff(t_grads, p_grads)
        scale = max(float(np.abs(g).max()) for g in t_grads.values())
        assert max(diffs.values()) <= GRAD_RTOL * scale
        model.clear_gradients()
