"""RemBERT-only behaviour: the decoder with cross-attention and a KV cache, real-size parameter counts."""
import json
import os

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import testing as T

from ..conftest import FIXTURES

ATOL = 1e-5


def test_decoder_cache_and_cross_attention_match(saved):
    class_name = "RemBertForCausalLM"
    torch_model, path = saved("rembert", class_name, "safetensors", add_cross_attention=True)
    model = pr.RemBertForCausalLM.from_pretrained(path)
    inputs = T.make_inputs("rembert", class_name, torch_model.config.vocab_size, with_labels=False)
    rng = np.random.RandomState(3)
    enc = rng.randn(3, 4, torch_model.config.hidden_size).astype(np.float32)
    enc_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    extra = dict(encoder_hidden_states=enc, encoder_attention_mask=enc_mask)
    t_out = torch_model(**T.to_torch({**inputs, **extra}), use_cache=True)
    p_out = model(**T.to_paddle({**inputs, **extra}), use_cache=True)
    np.testing.assert_allclose(p_out.logits.numpy(), t_out.logits.detach().numpy(), atol=ATOL)
    # one more token through the cache
    nxt = {"input_ids": rng.randint(5, 50, size=(3, 1)), "attention_mask": np.concatenate(
        [inputs["attention_mask"], np.ones((3, 1), dtype=np.int64)], axis=1)}
    t_next = torch_model(**T.to_torch({**nxt, **extra}), past_key_values=t_out.past_key_values)
    p_next = model(**T.to_paddle({**nxt, **extra}), past_key_values=p_out.past_key_values)
    np.testing.assert_allclose(p_next.logits.numpy(), t_next.logits.detach().numpy(), atol=ATOL)




@pytest.mark.parametrize("class_name", ["RemBertModel", "RemBertForMaskedLM"])
def test_real_size_parameter_counts_equal_transformers(class_name):
    with open(os.path.join(FIXTURES, "real-configs", "google-rembert", "config.json")) as f:
        config_dict = json.load(f)
    with torch.device("meta"):
        theirs = getattr(transformers, class_name)(transformers.RemBertConfig(**config_dict))
    expected = sum(p.numel() for p in theirs.parameters())
    with paddle.LazyGuard():
        ours = getattr(pr, class_name)(pr.RemBertConfig(**config_dict))
    assert ours.num_parameters() == expected
    if class_name == "RemBertModel":  # the size the paper quotes
        assert round(expected / 1e6, 1) == 575.9
