"""PaddleNLP's own checkpoints: BERT, RoBERTa, ELECTRA and ALBERT backbones and their classification, token and
question-answering heads load under transformers' names with PaddleNLP's outputs; what the renaming rule does not
cover (pre-training heads, RemBERT) is refused by name instead of loading with random weights."""
import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import PaddleRembertError
from paddle_rembert.cli import main
from paddle_rembert.models import registry

SIZES = {"albert": dict(embedding_size=8), "electra": dict(embedding_size=8),
         "rembert": dict(input_embedding_size=8, output_embedding_size=12)}
HEADS = ["Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"]


def paddlenlp_dir(tmp_path, family, head, seed=1):
    """A tiny random PaddleNLP model of ``family`` with ``head``, saved by PaddleNLP; (model, directory)."""
    import paddlenlp.transformers as nlp  # here: importing PaddleNLP takes seconds, and only these tests need it

    prefix = registry.get(family).prefix
    paddle.seed(seed)
    config = getattr(nlp, prefix + "Config")(
        vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
        num_labels=2 if head == "ForQuestionAnswering" else 3, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **SIZES.get(family, {}))
    model = getattr(nlp, prefix + head)(config)
    model.eval()
    directory = tmp_path / f"{family}-{head}"
    model.save_pretrained(str(directory))
    return model, str(directory)


def padded_batch(family, pad_id, seed=0):
    rng = np.random.RandomState(seed)
    mask = np.ones((3, 9), "int64")
    mask[1, 6:] = mask[2, 3:] = 0
    ids = np.where(mask == 1, rng.randint(5, 100, (3, 9)), pad_id)
    types = np.zeros_like(ids)
    if family != "roberta":  # one token type there
        types[:, 4:] = 1
    return ids, types, mask


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("family", ["albert", "bert", "electra", "roberta"])
def test_a_paddlenlp_checkpoint_loads_with_paddlenlps_outputs(family, head, tmp_path):
    theirs_model, directory = paddlenlp_dir(tmp_path, family, head)
    ids, types, mask = padded_batch(family, theirs_model.config.pad_token_id or 0)
    feed = {"input_ids": paddle.to_tensor(ids), "token_type_ids": paddle.to_tensor(types),
            "attention_mask": paddle.to_tensor(mask)}
    theirs = theirs_model(**feed)
    ours, info = getattr(pr, registry.get(family).prefix + head).from_pretrained(directory, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    out = ours(**feed)
    real = mask.astype(bool)
    if head == "Model":
        pairs = [(theirs if isinstance(theirs, paddle.Tensor) else theirs[0], out.last_hidden_state)]
    elif head == "ForSequenceClassification":
        pairs = [(theirs, out.logits)]
    elif head == "ForTokenClassification":
        pairs = [(theirs, out.logits)]
    else:  # PaddleNLP's ALBERT returns its start logits as the end logits: the end is compared where it is right
        pairs = [(theirs[0], out.start_logits)] + ([] if family == "albert" else [(theirs[1], out.end_logits)])
    for want, got in pairs:
        want, got = want.numpy(), got.numpy()
        if want.ndim > 1 and want.shape[:2] == real.shape:  # per token: the real tokens (padding positions differ)
            want, got = want[real], got[real]
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_paddlenlp_checkpoint_converts_to_transformers(tmp_path, capsys):
    theirs_model, directory = paddlenlp_dir(tmp_path, "bert", "ForSequenceClassification")
    assert main(["convert", "--quiet", directory, str(tmp_path / "torch"), "--to", "torch"]) == 0
    torch_model = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "torch").eval()
    ids, types, mask = padded_batch("bert", 0)
    want = theirs_model(input_ids=paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                        attention_mask=paddle.to_tensor(mask)).numpy()
    with torch.no_grad():
        got = torch_model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                          attention_mask=torch.tensor(mask)).logits.numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("family, head, message", [
    ("bert", "ForMaskedLM",
     r"5 of its tensors have no counterpart in BertForMaskedLM \(cls\.predictions\.decoder_bias"),
    ("albert", "ForMaskedLM", r"2 of its tensors have no counterpart in AlbertForMaskedLM \(predictions\.layer_norm"),
    ("rembert", "ForSequenceClassification", r"whose rembert names paddle-rembert does not read"),
])
def test_what_the_rule_does_not_cover_is_refused_by_name(family, head, message, tmp_path, capsys):
    _, directory = paddlenlp_dir(tmp_path, family, head)
    with pytest.raises(PaddleRembertError, match=r"model_state\.pdparams is a PaddleNLP checkpoint"):
        getattr(pr, registry.get(family).prefix + head).from_pretrained(directory)
    with pytest.raises(PaddleRembertError, match=message):
        getattr(pr, registry.get(family).prefix + head).from_pretrained(directory)
    assert main(["convert", "--quiet", directory, str(tmp_path / "out"), "--to", "torch"]) == 2
    assert "PaddleNLP" in capsys.readouterr().err or family != "rembert"
    assert not (tmp_path / "out").exists()
