"""Parity where the default tiny batch is blind.

The tiny models' weights (initializer_range 0.02) keep every pre-activation near zero, where gelu and
its tanh form agree to 1e-6 and a position term barely moves a score; so the sweep here reruns every
class with weights of standard deviation 0.3. It also covers inputs the default batch does not pass:
explicit position ids, inputs_embeds for multiple choice, int32 labels, a 1-D head mask, the dropout
settings, and the zeroed padding row of a freshly initialised embedding.
"""
import numpy as np
import paddle
import pytest
import torch

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.models import registry

from .models import check_decoder_cache

LARGE = dict(initializer_range=0.3)
BACKBONES = [(f.model_type, f.model_classes[0].__name__) for f in registry.families()]


def _assert_close(t_out, p_out, rtol=1e-5):
    """Every field within ``rtol`` of its own magnitude (larger weights give larger outputs)."""
    t_flat, p_flat = T.flatten_outputs(t_out), T.flatten_outputs(p_out)
    diffs, only_one = T.max_abs_diff(t_flat, p_flat)
    assert not only_one, only_one
    for name, diff in diffs.items():
        scale = max(1.0, float(np.abs(t_flat[name]).max()))
        assert diff <= rtol * scale, f"{name} differs by {diff:.3g} (scale {scale:.3g})"


def _pair(saved, family, class_name, **overrides):
    torch_model, path = saved(family, class_name, "safetensors", **overrides)
    return torch_model, getattr(pr, class_name).from_pretrained(path)


def _run(torch_model, model, inputs, **kwargs):
    return torch_model(**T.to_torch(inputs), **kwargs), model(**T.to_paddle(inputs), **kwargs)


@pytest.mark.parametrize("family,class_name", T.ALL_CLASSES)
def test_large_weights_match_with_explicit_position_ids(saved, family, class_name):
    torch_model, model = _pair(saved, family, class_name, **LARGE)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)
    ids = inputs["input_ids"]
    # positions other than the default 0..L-1 (or RoBERTa's padding-offset ones): reversed, from 2
    positions = np.broadcast_to(np.arange(ids.shape[-1])[::-1] + 2, ids.shape).astype("int64")
    _assert_close(*_run(torch_model, model, inputs, output_hidden_states=True))
    _assert_close(*_run(torch_model, model, {**inputs, "position_ids": positions.copy()}))


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
def test_large_weights_decoder_cache_matches(saved, kind):
    check_decoder_cache(saved, "bert", "BertLMHeadModel", position_embedding_type=kind, initializer_range=0.3)


@pytest.mark.parametrize("family", registry.model_types())
def test_multiple_choice_takes_inputs_embeds(saved, family):
    class_name = registry.get(family).model_class("ForMultipleChoice").__name__
    torch_model, model = _pair(saved, family, class_name, **LARGE)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size)
    embeddings = torch_model.get_input_embeddings()(torch.from_numpy(inputs.pop("input_ids"))).detach().numpy()
    _assert_close(*_run(torch_model, model, {**inputs, "inputs_embeds": embeddings}))


@pytest.mark.parametrize("class_suffix", ["ForSequenceClassification", "ForTokenClassification"])
def test_int32_labels_give_the_int64_loss(saved, class_suffix):
    class_name = "Bert" + class_suffix
    torch_model, model = _pair(saved, "bert", class_name)
    inputs = T.make_inputs("bert", class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)
    # a fresh model first: the first call with labels records config.problem_type, as transformers does
    p32 = model(**T.to_paddle({**inputs, "labels": inputs["labels"].astype("int32")}))
    if class_suffix == "ForSequenceClassification":
        assert model.config.problem_type == "single_label_classification"
    t_out, p_out = _run(torch_model, _pair(saved, "bert", class_name)[1], inputs)
    assert abs(float(p32.loss) - float(t_out.loss)) < 1e-5 and abs(float(p_out.loss) - float(p32.loss)) < 1e-6


@pytest.mark.parametrize("family,class_name", BACKBONES)
def test_a_one_dimensional_head_mask_masks_every_layer(saved, family, class_name):
    torch_model, model = _pair(saved, family, class_name, **LARGE)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    inputs["head_mask"] = np.array([1.0, 0.0, 1.0], dtype=np.float32)  # the tiny configs have 3 heads
    _assert_close(*_run(torch_model, model, inputs, output_attentions=True))


def test_attention_and_classifier_dropout_apply_where_the_config_says():
    """transformers: attention_probs_dropout_prob on the attention probabilities; classifier_dropout (when set)
    before the classifier, instead of hidden_dropout_prob."""
    base = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
                hidden_dropout_prob=0.0, num_labels=3)
    ids = paddle.to_tensor(np.random.RandomState(0).randint(5, 50, (2, 9)))

    def train_and_eval(**config):
        paddle.seed(0)
        model = pr.BertForSequenceClassification(pr.BertConfig(**base, **config))
        model.train()
        train = model(ids, output_hidden_states=True)
        model.eval()
        return train, model(ids, output_hidden_states=True)

    train, evaluation = train_and_eval(attention_probs_dropout_prob=0.5)
    assert not np.allclose(train.hidden_states[-1].numpy(), evaluation.hidden_states[-1].numpy())
    train, evaluation = train_and_eval(attention_probs_dropout_prob=0.0, classifier_dropout=0.5)
    np.testing.assert_array_equal(train.hidden_states[-1].numpy(), evaluation.hidden_states[-1].numpy())
    assert not np.allclose(train.logits.numpy(), evaluation.logits.numpy())


@pytest.mark.parametrize("family,class_name", BACKBONES)
def test_a_new_model_zeroes_its_padding_embedding_row_as_transformers_does(family, class_name):
    config = getattr(pr, registry.get(family).config_class.__name__)(**T.tiny_config_dict(family, class_name))
    model = getattr(pr, class_name)(config)
    pad = config.pad_token_id
    np.testing.assert_array_equal(model.get_input_embeddings().weight.numpy()[pad], 0.0)
    assert np.abs(model.get_input_embeddings().weight.numpy()).sum() > 0
    reference = T.torch_model(family, class_name).get_input_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(reference[pad], 0.0)
