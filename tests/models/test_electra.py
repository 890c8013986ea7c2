"""ELECTRA beyond the registry-wide parity suite: the discriminator (batch 1, loss over real tokens),
the generator (tied and untied), the decoder, ``SequenceSummary`` variants and the projection."""
import numpy as np
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.models import registry

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


def test_discriminator_batch_of_one_keeps_the_batch_axis(saved):
    torch_model, model = load_pair(saved, "electra", "ElectraForPreTraining")
    inputs = T.make_inputs("electra", "ElectraForPreTraining", torch_model.config.vocab_size, lengths=(7,))
    t_out, p_out = run_both(torch_model, model, inputs)
    assert list(p_out.logits.shape) == list(t_out.logits.shape) == [1, 7]
    assert_same(t_out, p_out)


def test_discriminator_loss_is_over_real_tokens_only(saved):
    torch_model, model = load_pair(saved, "electra", "ElectraForPreTraining")
    inputs = T.make_inputs("electra", "ElectraForPreTraining", torch_model.config.vocab_size)
    loss = float(model(**T.to_paddle(inputs)).loss)
    flipped = dict(inputs, labels=np.where(inputs["attention_mask"] == 1, inputs["labels"], 1 - inputs["labels"]))
    np.testing.assert_allclose(float(model(**T.to_paddle(flipped)).loss), loss, rtol=1e-6)
    flipped_real = dict(inputs, labels=np.where(inputs["attention_mask"] == 1, 1 - inputs["labels"], inputs["labels"]))
    assert abs(float(model(**T.to_paddle(flipped_real)).loss) - loss) > 1e-3
    # without a mask transformers averages over every position
    unpadded = T.make_inputs("electra", "ElectraForPreTraining", torch_model.config.vocab_size, lengths=(9, 9, 9))
    del unpadded["attention_mask"]
    assert_same(*run_both(torch_model, model, unpadded))


def test_export_task_of_the_discriminator_is_replaced_token_detection():
    family = registry.get("electra")
    assert family.export_tasks == {"ElectraForPreTraining": "replaced-token-detection"}
    assert family.model_class("ForPreTraining") is pr.ElectraForPreTraining


def test_generator_head_is_tied_with_its_own_bias(saved):
    _, model = load_pair(saved, "electra", "ElectraForMaskedLM")
    assert model.tied_weights == {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}
    assert "generator_lm_head.bias" in model.state_dict()


@pytest.mark.parametrize("class_name", ["ElectraForMaskedLM", "ElectraForCausalLM"])
def test_untied_generator_matches(saved, class_name):
    check_untied_lm(saved, "electra", class_name)


def test_decoder_cache_and_cross_attention_match(saved):
    check_decoder_cache(saved, "electra", "ElectraForCausalLM")


@pytest.mark.parametrize("summary", [dict(summary_type="mean"), dict(summary_type="last", summary_use_proj=False),
                                     dict(summary_type="cls_index", summary_activation="tanh")])
def test_multiple_choice_sequence_summary_variants_match(saved, summary):
    torch_model, model = load_pair(saved, "electra", "ElectraForMultipleChoice", **summary)
    inputs = T.make_inputs("electra", "ElectraForMultipleChoice", torch_model.config.vocab_size)
    assert_same(*run_both(torch_model, model, inputs))


def test_no_projection_when_embedding_size_equals_hidden_size(saved):
    torch_model, model = load_pair(saved, "electra", "ElectraModel", embedding_size=15)
    assert not hasattr(model, "embeddings_project") and "pooler" not in str(list(model.state_dict()))
    assert set(model.state_dict()) == set(torch_model.state_dict()) - {"embeddings.position_ids",
                                                                       "embeddings.token_type_ids"}
    inputs = T.make_inputs("electra", "ElectraModel", torch_model.config.vocab_size, with_labels=False)
    assert_same(*run_both(torch_model, model, inputs, output_hidden_states=True))


def test_backbone_tuple_is_transformers(saved):
    torch_model, model = load_pair(saved, "electra", "ElectraModel")
    inputs = T.make_inputs("electra", "ElectraModel", torch_model.config.vocab_size, with_labels=False)
    t_tuple, p_tuple = run_both(torch_model, model, inputs, return_dict=False, output_hidden_states=True,
                                output_attentions=True)
    assert isinstance(p_tuple, tuple) and len(p_tuple) == len(t_tuple) == 3
    np.testing.assert_allclose(p_tuple[1][-1].numpy(), t_tuple[1][-1].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(p_tuple[2][0].numpy(), t_tuple[2][0].detach().numpy(), atol=1e-5)


def test_padding_invariance(saved):
    torch_model, model = load_pair(saved, "electra", "ElectraModel")
    check_padding_invariance(model, "electra", "ElectraModel", torch_model.config.vocab_size)


@pytest.mark.parametrize("class_name", ["ElectraForMaskedLM", "ElectraForPreTraining"])
def test_checkpoint_round_trip_through_paddle(saved, tmp_path, class_name):
    check_round_trip(saved, tmp_path, "electra", class_name)


def test_config_defaults_and_round_trip(tmp_path):
    check_config_defaults_and_round_trip("electra", tmp_path)


def test_tiny_tokenizer_is_a_hub_directory(tmp_path):
    special_ids = {"pad_token_id": 0, "unk_token_id": 1, "cls_token_id": 2,
                   "sep_token_id": 3, "mask_token_id": 4}
    check_tiny_tokenizer("electra", tmp_path, special_ids)


def test_the_discriminator_exports_as_replaced_token_detection(tmp_path):
    """ElectraForPreTraining deploys as per-token replaced-token detection (not masked-LM): the task is
    inferred from config.json, and the Predictor's scores are the dygraph discriminator's sigmoids."""
    import paddle

    from paddle_rembert.deploy.export import export_model
    from paddle_rembert.deploy.inference import Predictor

    base = T.write_tiny_model_dir(str(tmp_path / "base"), "electra", T.synthetic_texts(60), vocab_size=120)
    model = pr.ElectraForPreTraining.from_pretrained(base)
    model.save_pretrained(str(tmp_path / "rtd"))
    pr.AutoTokenizer.from_pretrained(base).save_pretrained(str(tmp_path / "rtd"))
    meta = export_model(str(tmp_path / "rtd"), str(tmp_path / "export"))
    assert meta["task"] == "replaced-token-detection" and [o["name"] for o in meta["outputs"]] == ["logits"]
    (result,) = Predictor(str(tmp_path / "export")).predict(["river stone cloud"])
    tokenizer = pr.AutoTokenizer.from_pretrained(base)
    enc = tokenizer(["river stone cloud"], return_tensors="pd")
    with paddle.no_grad():
        probs = paddle.nn.functional.sigmoid(model.eval()(**enc).logits).numpy()[0]
    content = [i for i, t in enumerate(enc["input_ids"].numpy()[0]) if t not in tokenizer.all_special_ids]
    assert [t["index"] for t in result["tokens"]] == content
    np.testing.assert_allclose([t["score"] for t in result["tokens"]], probs[content], atol=1e-5)
    assert [t["replaced"] for t in result["tokens"]] == [bool(p > 0.5) for p in probs[content]]
