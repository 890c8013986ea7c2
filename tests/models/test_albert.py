"""ALBERT-only behaviour: relative position embeddings, the untied decoder, real-size parameter counts."""
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


def test_albert_relative_position_embeddings_match(saved):
    for kind in ("relative_key", "relative_key_query"):
        torch_model, path = saved("albert", "AlbertModel", "safetensors", position_embedding_type=kind)
        model = pr.AlbertModel.from_pretrained(path)
        inputs = T.make_inputs("albert", "AlbertModel", torch_model.config.vocab_size, with_labels=False)
        t_out = torch_model(**T.to_torch(inputs), output_attentions=True)  # eager path supports it
        p_out = model(**T.to_paddle(inputs))
        np.testing.assert_allclose(p_out.last_hidden_state.numpy(), t_out.last_hidden_state.detach().numpy(),
                                   atol=ATOL)


@pytest.mark.parametrize("class_name", ["AlbertForMaskedLM", "AlbertForPreTraining"])
def test_untied_decoder_matches_and_round_trips(saved, class_name, tmp_path):
    """tie_word_embeddings=False: the decoder owns its weight (predictions.decoder.weight), as in transformers."""
    torch_model, path = saved("albert", class_name, "safetensors", tie_word_embeddings=False)
    model, report = getattr(pr, class_name).from_pretrained(path, output_loading_info=True)
    assert report.clean and "predictions.decoder.weight" in report.loaded
    assert set(model.tied_weights) == {"predictions.decoder.bias"}
    inputs = T.make_inputs("albert", class_name, torch_model.config.vocab_size, with_labels=False)
    logits = "logits" if class_name.endswith("MaskedLM") else "prediction_logits"
    np.testing.assert_allclose(model(**T.to_paddle(inputs))[logits].numpy(),
                               torch_model(**T.to_torch(inputs))[logits].detach().numpy(), atol=ATOL)
    emb = model.albert.embeddings.word_embeddings.weight.numpy()
    assert not np.array_equal(model.predictions.decoder.weight.numpy().T, emb)


REAL_SIZES = [("albert-base-v2", "AlbertForMaskedLM"), ("albert-large-v2", "AlbertModel"),
              ("albert-xxlarge-v2", "AlbertForPreTraining")]


@pytest.mark.parametrize("name,class_name", REAL_SIZES)
def test_real_size_parameter_counts_equal_transformers(name, class_name):
    if name == "albert-xxlarge-v2":  # no copy of its config.json was found; its shape is AlbertConfig's default
        config_dict = {}
    else:
        with open(os.path.join(FIXTURES, "real-configs", name, "config.json")) as f:
            config_dict = json.load(f)
    with torch.device("meta"):
        theirs = getattr(transformers, class_name)(transformers.AlbertConfig(**config_dict))
    with paddle.LazyGuard():
        ours = getattr(pr, class_name)(pr.AlbertConfig(**config_dict))
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
