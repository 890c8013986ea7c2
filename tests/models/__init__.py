"""Family tests beyond the registry-wide parity suite; the helpers below are shared by them."""
import os

import numpy as np
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.convert import convert_checkpoint
from paddle_rembert.models import registry

ATOL = 1e-5


def load_pair(saved, family, class_name, **overrides):
    """(tiny random transformers model, our model loaded from its safetensors directory)."""
    torch_model, path = saved(family, class_name, "safetensors", **overrides)
    model, report = getattr(pr, class_name).from_pretrained(path, output_loading_info=True)
    assert report.clean, report.describe(class_name, path)
    return torch_model, model


def run_both(torch_model, model, inputs, **kwargs):
    """Both models on the same numpy inputs (extra keyword arguments passed as they are)."""
    return torch_model(**T.to_torch(inputs), **kwargs), model(**T.to_paddle(inputs), **kwargs)


def assert_same(t_out, p_out, atol=ATOL):
    """Every tensor field (tuples per item) present on both sides and within ``atol``; returns the worst difference."""
    diffs, only_one = T.max_abs_diff(T.flatten_outputs(t_out), T.flatten_outputs(p_out))
    assert not only_one, f"fields present on one side only: {only_one}"
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < atol, f"{worst} differs by {diffs[worst]:.3g}"
    return diffs[worst]


def check_decoder_cache(saved, family, class_name, **overrides):
    """A decoder with cross-attention: full pass with the cache, then one token through the cache,
    logits, cache tensors and cross-attentions equal to transformers'."""
    torch_model, model = load_pair(saved, family, class_name, add_cross_attention=True, **overrides)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    rng = np.random.RandomState(3)
    enc = rng.randn(3, 4, torch_model.config.hidden_size).astype(np.float32)
    extra = dict(encoder_hidden_states=enc, encoder_attention_mask=np.array([[1, 1, 1, 1], [1, 1, 0, 0],
                                                                             [1, 0, 0, 0]]))
    t_out, p_out = run_both(torch_model, model, {**inputs, **extra}, use_cache=True, output_attentions=True)
    assert_same(t_out, p_out)
    assert len(p_out.past_key_values) == torch_model.config.num_hidden_layers
    for t_layer, p_layer in zip(t_out.past_key_values, p_out.past_key_values):
        assert len(p_layer) == len(t_layer) == 4  # self key/value, cross key/value
        for t, p in zip(t_layer, p_layer):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), atol=ATOL)
    assert len(p_out.cross_attentions) == len(t_out.cross_attentions) > 0
    nxt = {"input_ids": rng.randint(5, torch_model.config.vocab_size, size=(3, 1)), "attention_mask": np.concatenate(
        [inputs["attention_mask"], np.ones((3, 1), dtype=np.int64)], axis=1)}
    t_next = torch_model(**T.to_torch({**nxt, **extra}), past_key_values=t_out.past_key_values)
    p_next = model(**T.to_paddle({**nxt, **extra}), past_key_values=p_out.past_key_values)
    np.testing.assert_allclose(p_next.logits.numpy(), t_next.logits.detach().numpy(), atol=ATOL)
    # without use_cache, BERT-style models fall back to config.use_cache; ELECTRA returns no cache
    assert (p_next.past_key_values is None) == (t_next.past_key_values is None) == (family == "electra")
    t_next = torch_model(**T.to_torch({**nxt, **extra}), past_key_values=t_out.past_key_values, use_cache=True)
    p_next = model(**T.to_paddle({**nxt, **extra}), past_key_values=p_out.past_key_values, use_cache=True)
    np.testing.assert_allclose(p_next.logits.numpy(), t_next.logits.detach().numpy(), atol=ATOL)
    assert p_next.past_key_values[0][0].shape[2] == inputs["input_ids"].shape[1] + 1


def check_untied_lm(saved, family, class_name):
    """``tie_word_embeddings=False``: the decoder owns its weight, loads transformers' and matches its outputs."""
    torch_model, model = load_pair(saved, family, class_name, tie_word_embeddings=False)
    decoder = model.get_output_embeddings()
    assert decoder.weight is not None and decoder.tied_embeddings is None
    t_weight = torch_model.get_output_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(decoder.weight.numpy().T, t_weight)
    assert not np.allclose(t_weight, torch_model.get_input_embeddings().weight.detach().numpy())
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size)
    assert_same(*run_both(torch_model, model, inputs))


def check_padding_invariance(model, family, class_name, vocab_size):
    """Each row alone (no padding) gives what it gives inside the padded batch, at its real positions."""
    inputs = T.make_inputs(family, class_name, vocab_size, with_labels=False)
    batched = model(**T.to_paddle(inputs)).last_hidden_state.numpy()
    for i, n in enumerate(inputs["attention_mask"].sum(1)):
        row = {k: v[i:i + 1, :n] for k, v in inputs.items()}
        alone = model(**T.to_paddle(row)).last_hidden_state.numpy()
        np.testing.assert_allclose(alone[0], batched[i, :n], atol=ATOL)


def check_round_trip(saved, tmp_path, family, class_name):
    """transformers -> Paddle -> transformers: tied keys written again, every tensor back bit for bit."""
    torch_model, path = saved(family, class_name, "safetensors")
    convert_checkpoint(path, str(tmp_path / "paddle"), progress=False)
    convert_checkpoint(str(tmp_path / "paddle"), str(tmp_path / "torch"), to="torch", progress=False)
    back, info = getattr(transformers, class_name).from_pretrained(tmp_path / "torch", output_loading_info=True)
    assert not any(info.values()), info
    expected = torch_model.state_dict()
    assert set(back.state_dict()) == set(expected)
    for key, value in back.state_dict().items():
        assert torch.equal(value, expected[key]), key



def check_config_defaults_and_round_trip(family, tmp_path):
    """Our config's defaults are transformers'; the tiny config.json reads and writes back unchanged."""
    ours = registry.get(family).config_class
    reference = getattr(transformers, ours.__name__)
    defaults = reference().to_dict()
    for key, value in ours().to_dict().items():
        if key in defaults and key not in ("architectures", "id2label", "label2id"):
            assert defaults[key] == value, key
    config = reference(**registry.get(family).tiny_config)
    config.save_pretrained(tmp_path)
    ours.from_pretrained(str(tmp_path)).save_pretrained(str(tmp_path / "again"))
    assert reference.from_pretrained(tmp_path / "again").to_dict() == config.to_dict()


def check_tiny_tokenizer(family, tmp_path, special_ids):
    """``make_tiny_tokenizer`` writes a hub directory that ours, transformers' slow and fast tokenizers
    read alike, with the family's special ids (e.g. RoBERTa's ``<pad>`` = 1)."""
    fam = registry.get(family)
    texts = T.synthetic_texts(60) + ["Hello, World! Caf\u00e9 na\u00efve \u6771\u4eac 42"]
    fam.make_tiny_tokenizer(texts, str(tmp_path), 300)
    assert set(fam.tokenizer_files) & set(os.listdir(tmp_path)) >= {"tokenizer_config.json",
                                                                     "special_tokens_map.json"}
    ours = pr.AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(ours) is fam.tokenizer_class
    slow = getattr(transformers, fam.tokenizer_class.__name__).from_pretrained(str(tmp_path))
    fast = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(fast).__name__ == fam.tokenizer_class.__name__ + "Fast"
    sample = texts[:10] + texts[-1:]
    assert ours(sample)["input_ids"] == slow(sample)["input_ids"] == fast(sample)["input_ids"]
    assert ours(sample[0], sample[1]) == slow(sample[0], sample[1]).data
    for name, expected in special_ids.items():
        assert getattr(ours, name) == getattr(slow, name) == expected, name
