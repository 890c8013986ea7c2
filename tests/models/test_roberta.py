"""RoBERTa beyond the registry-wide parity suite: fairseq positions (left padding, ``inputs_embeds``),
the decoder (cache, cross-attention), untied ``lm_head``, the classification head and argument order."""
import numpy as np
import paddle

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.models.roberta.modeling import create_position_ids_from_input_ids

from . import (
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


def left_padded(inputs, pad_token_id):
    """The same rows with their padding moved to the left."""
    out = {k: v.copy() for k, v in inputs.items()}
    for i, n in enumerate(inputs["attention_mask"].sum(1)):
        for key, fill in (("input_ids", pad_token_id), ("attention_mask", 0), ("token_type_ids", 0)):
            row = inputs[key][i]
            out[key][i] = np.concatenate([np.full(len(row) - n, fill, dtype=row.dtype), row[:n]])
    return out


def test_positions_count_real_tokens_from_padding_idx_plus_one():
    ids = paddle.to_tensor([[1, 1, 7, 8, 9], [7, 8, 1, 9, 1]])
    np.testing.assert_array_equal(create_position_ids_from_input_ids(ids, 1).numpy(),
                                  [[1, 1, 2, 3, 4], [2, 3, 1, 4, 1]])
    np.testing.assert_array_equal(create_position_ids_from_input_ids(ids, 1, 5).numpy(),
                                  [[1, 1, 7, 8, 9], [7, 8, 1, 9, 1]])


def test_left_padding_matches_transformers_and_right_padding(saved):
    torch_model, model = load_pair(saved, "roberta", "RobertaModel")
    pad = torch_model.config.pad_token_id
    assert pad == 1
    right = T.make_inputs("roberta", "RobertaModel", torch_model.config.vocab_size, with_labels=False)
    left = left_padded(right, pad)
    t_out, p_out = run_both(torch_model, model, left, output_hidden_states=True)
    assert_same(t_out, p_out)
    right_out = model(**T.to_paddle(right)).last_hidden_state.numpy()
    for i, n in enumerate(right["attention_mask"].sum(1)):  # real tokens see the same positions either way
        np.testing.assert_allclose(p_out.last_hidden_state.numpy()[i, -n:], right_out[i, :n], atol=1e-5)


def test_inputs_embeds_use_transformers_sequential_positions(saved):
    torch_model, model = load_pair(saved, "roberta", "RobertaForMaskedLM")
    inputs = T.make_inputs("roberta", "RobertaForMaskedLM", torch_model.config.vocab_size)
    ids = inputs.pop("input_ids")
    embeds = torch_model.get_input_embeddings().weight.detach().numpy()[ids]
    t_out, p_out = run_both(torch_model, model, {**inputs, "inputs_embeds": embeds})
    assert_same(t_out, p_out)
    # with ids padding sits at position pad_token_id; from embeddings it counts on: only padding differs
    with_ids = model(**T.to_paddle({**inputs, "input_ids": ids})).logits.numpy()
    np.testing.assert_allclose(with_ids[1, :6], p_out.logits.numpy()[1, :6], atol=1e-5)
    assert not np.allclose(with_ids[1, 6:], p_out.logits.numpy()[1, 6:], atol=1e-3)


def test_decoder_cache_and_cross_attention_match(saved):
    check_decoder_cache(saved, "roberta", "RobertaForCausalLM")


def test_untied_lm_head_matches(saved):
    check_untied_lm(saved, "roberta", "RobertaForMaskedLM")


def test_lm_head_is_tied_to_word_embeddings_with_shared_bias(saved):
    _, model = load_pair(saved, "roberta", "RobertaForCausalLM")
    assert model.tied_weights == {"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight",
                                  "lm_head.decoder.bias": "lm_head.bias"}
    assert model.roberta.pooler is None


def test_padding_invariance(saved):
    torch_model, model = load_pair(saved, "roberta", "RobertaModel")
    check_padding_invariance(model, "roberta", "RobertaModel", torch_model.config.vocab_size)


def test_multiple_choice_takes_transformers_positional_order(saved):
    torch_model, model = load_pair(saved, "roberta", "RobertaForMultipleChoice")
    inputs = T.make_inputs("roberta", "RobertaForMultipleChoice", torch_model.config.vocab_size)
    order = ("input_ids", "token_type_ids", "attention_mask", "labels")
    t_out = torch_model(*T.to_torch({k: inputs[k] for k in order}).values())
    p_out = model(*T.to_paddle({k: inputs[k] for k in order}).values())
    assert_same(t_out, p_out)


def test_classification_head_reads_the_first_token(saved):
    torch_model, model = load_pair(saved, "roberta", "RobertaForSequenceClassification")
    assert sorted(k for k in model.state_dict() if k.startswith("classifier")) == [
        "classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias", "classifier.out_proj.weight"]
    inputs = T.make_inputs("roberta", "RobertaForSequenceClassification", torch_model.config.vocab_size)
    assert_same(*run_both(torch_model, model, inputs, output_attentions=True))


def test_config_defaults_are_fairseq_ids():
    config = pr.RobertaConfig()
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id, config.vocab_size) == (1, 0, 2, 50265)


def test_checkpoint_round_trip_through_paddle(saved, tmp_path):
    check_round_trip(saved, tmp_path, "roberta", "RobertaForCausalLM")


def test_config_defaults_and_round_trip(tmp_path):
    check_config_defaults_and_round_trip("roberta", tmp_path)


def test_tiny_tokenizer_is_a_hub_directory(tmp_path):
    special_ids = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2,
                   "unk_token_id": 3, "mask_token_id": 4}
    check_tiny_tokenizer("roberta", tmp_path, special_ids)
