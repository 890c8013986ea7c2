"""PaddleNLP's own checkpoints: BERT, RoBERTa, ELECTRA and ALBERT backbones and their classification, token,
question-answering, masked-LM and pre-training heads load under transformers' names with PaddleNLP's outputs;
RemBERT's backbone and heads load with its layers' outputs (its own forward crashes). What the renaming rule does
not cover (ELECTRA's generator and discriminator in one model, RemBERT's masked-LM head of another architecture) is
refused by name instead of loading with random weights."""
import collections
import json
import os

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import PaddleRembertError
from paddle_rembert.cli import main
from paddle_rembert.models import registry

from .conftest import chinese_fixture_pairs

SIZES = {"albert": dict(embedding_size=8), "electra": dict(embedding_size=8),
         "rembert": dict(input_embedding_size=8, output_embedding_size=12)}
HEADS = ["Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"]


def paddlenlp_dir(tmp_path, family, head, seed=1, safe_serialization=False, vocab_size=100):
    """A tiny random PaddleNLP model of ``family`` with ``head``, saved by PaddleNLP; (model, directory)."""
    import paddlenlp.transformers as nlp  # here: importing PaddleNLP takes seconds, and only these tests need it

    prefix = registry.get(family).prefix
    paddle.seed(seed)
    config = getattr(nlp, prefix + "Config")(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
        num_labels=2 if head == "ForQuestionAnswering" else 3, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **SIZES.get(family, {}))
    model = getattr(nlp, prefix + head)(config)
    model.eval()
    directory = tmp_path / f"{family}-{head}{'-safetensors' if safe_serialization else ''}"
    model.save_pretrained(str(directory), safe_serialization=safe_serialization)
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


@pytest.mark.parametrize("safe_serialization", [False, True])
def test_a_paddlenlp_checkpoint_converts_to_transformers(tmp_path, capsys, safe_serialization):
    """Its model_state.pdparams, or its model.safetensors (metadata format "np", Paddle's layout)."""
    theirs_model, directory = paddlenlp_dir(tmp_path, "bert", "ForSequenceClassification",
                                            safe_serialization=safe_serialization)
    assert os.path.isfile(os.path.join(directory, "model.safetensors")) == safe_serialization
    assert main(["convert", "--quiet", directory, str(tmp_path / "torch"), "--to", "torch"]) == 0
    torch_model = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "torch").eval()
    ids, types, mask = padded_batch("bert", 0)
    want = theirs_model(input_ids=paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types),
                        attention_mask=paddle.to_tensor(mask)).numpy()
    with torch.no_grad():
        got = torch_model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                          attention_mask=torch.tensor(mask)).logits.numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


# PaddleNLP's pre-training classes -> ours: (family, PaddleNLP's class, ours)
PRETRAINING = [("bert", "BertForMaskedLM", "BertForMaskedLM"), ("bert", "BertForPretraining", "BertForPreTraining"),
               ("albert", "AlbertForMaskedLM", "AlbertForMaskedLM"),
               ("albert", "AlbertForPretraining", "AlbertForPreTraining"),
               ("roberta", "RobertaForMaskedLM", "RobertaForMaskedLM"),
               ("electra", "ElectraGenerator", "ElectraForMaskedLM"),
               ("electra", "ElectraDiscriminator", "ElectraForPreTraining")]


def paddlenlp_pretraining_dir(tmp_path, family, theirs, seed=1):
    import paddlenlp.transformers as nlp

    paddle.seed(seed)
    config = getattr(nlp, registry.get(family).prefix + "Config")(
        vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **SIZES.get(family, {}))
    model = getattr(nlp, theirs)(config)
    model.eval()
    if family == "albert":
        # PaddleNLP's ALBERT head differs from the architecture (transformers', Google's) in two ways, which are
        # set to the architecture here so that the comparison checks the names: its LayerNorm ignores the
        # config's epsilon, and its pre-training model leaves the decoder untied (a tied checkpoint is the norm)
        model.predictions.layer_norm._epsilon = config.layer_norm_eps
        if theirs == "AlbertForPretraining":
            model.predictions.decoder.weight.set_value(model.transformer.embeddings.word_embeddings.weight)
    directory = tmp_path / theirs
    model.save_pretrained(str(directory))
    return model, str(directory)


@pytest.mark.parametrize("family, theirs, ours", PRETRAINING)
def test_paddlenlps_pretraining_heads_load_with_its_outputs(family, theirs, ours, tmp_path):
    theirs_model, directory = paddlenlp_pretraining_dir(tmp_path, family, theirs)
    ids, types, mask = padded_batch(family, theirs_model.config.pad_token_id or 0)
    feed = {"input_ids": paddle.to_tensor(ids), "token_type_ids": paddle.to_tensor(types),
            "attention_mask": paddle.to_tensor(mask)}
    want = theirs_model(**feed)
    model, info = getattr(pr, ours).from_pretrained(directory, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    assert set(info["unexpected_keys"]) <= {f"{registry.get(family).prefix.lower()}.pooler.{name}"
                                            for name in ("weight", "bias", "dense.weight", "dense.bias")}, info
    got = model(**feed).to_tuple()
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert len(want) == len(got) if theirs != "ElectraDiscriminator" else len(got) == 1
    real = mask.astype(bool)
    for w, g in zip(want, got):
        w, g = w.numpy(), g.numpy()
        if w.shape[:2] == real.shape:  # per token: the real tokens (padding positions differ)
            w, g = w[real], g[real]
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_a_paddlenlp_pretraining_checkpoint_loads_into_a_classifier_as_transformers_does(tmp_path, capsys):
    """Its heads are another class's: reported and dropped, the encoder loaded, the classifier initialised."""
    theirs_model, directory = paddlenlp_pretraining_dir(tmp_path, "bert", "BertForPretraining")
    model, info = pr.BertForSequenceClassification.from_pretrained(directory, output_loading_info=True)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"]
    assert "cls.seq_relationship.weight" in info["unexpected_keys"]
    ids, types, mask = padded_batch("bert", 0)
    feed = {"input_ids": paddle.to_tensor(ids), "token_type_ids": paddle.to_tensor(types),
            "attention_mask": paddle.to_tensor(mask)}
    np.testing.assert_allclose(model.bert(**feed).pooler_output.numpy(),
                               theirs_model.bert(**feed)[1].numpy(), atol=1e-5)
    assert main(["convert", "--quiet", directory, str(tmp_path / "torch"), "--to", "torch"]) == 0
    torch_model, info = transformers.BertForPreTraining.from_pretrained(tmp_path / "torch", output_loading_info=True)
    assert not any(info.values()), info
    with torch.no_grad():
        logits = torch_model.eval()(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                                    attention_mask=torch.tensor(mask)).seq_relationship_logits.numpy()
    np.testing.assert_allclose(logits, theirs_model(**feed)[1].numpy(), atol=1e-5)


def paddlenlp_rembert_forward(model, ids, types):
    """PaddleNLP's RemBERT forward, by its own layers: its attention hands a tuple on and crashes, so the layers
    are wired here as its RemBertLayer means to be (its mask rule: the padding id, -1e4)."""
    base = model.rembert if hasattr(model, "rembert") else model
    mask = paddle.unsqueeze((ids == base.pad_token_id).astype("float32") * -1e4, axis=[1, 2])
    hidden = base.encoder.embedding_hidden_mapping_in(base.embeddings(input_ids=ids, token_type_ids=types))
    for layer in base.encoder.layer:
        attended = layer.attention.output(layer.attention.self(hidden, mask)[0], hidden)
        hidden = layer.output(layer.intermediate(attended), attended)
    return hidden, base.pooler(hidden)


@pytest.mark.parametrize("head", HEADS + ["ForMultipleChoice"])
def test_a_paddlenlp_rembert_checkpoint_loads_with_its_layers_outputs(head, tmp_path):
    theirs_model, directory = paddlenlp_dir(tmp_path, "rembert", head)
    ids, types, _ = padded_batch("rembert", 0)
    ids, types = paddle.to_tensor(ids), paddle.to_tensor(types)
    hidden, pooled = paddlenlp_rembert_forward(theirs_model, ids, types)
    ours, info = getattr(pr, "RemBert" + head).from_pretrained(directory, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    real = (ids != 0).numpy()
    choices = head == "ForMultipleChoice"  # the three rows as one example's three choices
    # no mask: ours masks the padding id too
    out = ours(input_ids=ids.unsqueeze(0) if choices else ids, token_type_ids=types.unsqueeze(0) if choices else types)
    if choices:
        pairs = [(theirs_model.classifier(pooled).reshape([1, 3]), out.logits)]
    elif head == "Model":
        pairs = [(hidden, out.last_hidden_state), (pooled, out.pooler_output)]
    elif head == "ForSequenceClassification":
        pairs = [(theirs_model.dense(pooled), out.logits)]
    elif head == "ForTokenClassification":
        pairs = [(theirs_model.classifier(hidden), out.logits)]
    else:
        start, end = paddle.unstack(theirs_model.qa_outputs(hidden), axis=-1)
        pairs = [(start, out.start_logits), (end, out.end_logits)]
    for want, got in pairs:
        want, got = want.numpy(), got.numpy()
        if want.shape[:2] == real.shape:
            want, got = want[real], got[real]
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_what_the_rule_does_not_cover_is_refused_by_name(tmp_path, capsys):
    """PaddleNLP's RemBERT masked-LM head is not RemBERT's (its decoder outputs the hidden size); ELECTRA's
    generator and discriminator saved as one model have no counterpart, in the class of its name or any other."""
    _, directory = paddlenlp_dir(tmp_path, "rembert", "ForMaskedLM")
    with pytest.raises(PaddleRembertError, match=r"model_state\.pdparams is a PaddleNLP checkpoint; 4 of its "
                                                 r"tensors have no counterpart in RemBertForMaskedLM \(cls\."
                                                 r"predictions\.transform\.weight"):
        pr.RemBertForMaskedLM.from_pretrained(directory)
    assert main(["convert", "--quiet", directory, str(tmp_path / "out"), "--to", "torch"]) == 2
    assert "PaddleNLP" in capsys.readouterr().err
    import paddlenlp.transformers as nlp

    config = nlp.ElectraConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=20, embedding_size=8)
    nlp.ElectraForPretraining(config).save_pretrained(str(tmp_path / "both"))
    for name in ("ElectraForPreTraining", "ElectraForSequenceClassification"):
        with pytest.raises(PaddleRembertError, match=r"is a PaddleNLP checkpoint; 55 of its tensors have no "
                                                     r"counterpart in " + name + r" \(generator\."):
            getattr(pr, name).from_pretrained(str(tmp_path / "both"))
    assert main(["convert", "--quiet", str(tmp_path / "both"), str(tmp_path / "out"), "--to", "torch"]) == 2
    assert "(a PaddleNLP checkpoint, read under transformers' names) do not fit" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


SAMPLES = ["Hello world, this is a test.", "Ünïcödé café naïve  spaces 中文", "numbers 12,345 and 3.14!"]


@pytest.mark.parametrize("family, theirs", [("albert", "AlbertTokenizer"), ("bert", "BertTokenizer"),
                                            ("electra", "ElectraTokenizer"), ("rembert", "RemBertTokenizer"),
                                            ("roberta", "RobertaBPETokenizer"), ("bert", "RobertaChineseTokenizer")])
def test_a_tokenizer_paddlenlp_saved_loads_with_its_ids(family, theirs, tmp_path, recwarn):
    """PaddleNLP names RoBERTa's byte-level BPE tokenizer RobertaBPETokenizer, and its Chinese RoBERTa's WordPiece
    one RobertaChineseTokenizer: AutoTokenizer reads both, without a warning, with PaddleNLP's ids."""
    import paddlenlp.transformers as nlp
    from paddle_rembert.testing import synthetic_texts

    registry.get(family).make_tiny_tokenizer(synthetic_texts(300) + SAMPLES, str(tmp_path / "src"), 200)
    files = {"albert": ["spiece.model"], "rembert": ["sentencepiece.model"],
             "roberta": ["vocab.json", "merges.txt"]}.get(family, ["vocab.txt"])
    paths = [str(tmp_path / "src" / name) for name in files]
    tokenizer = getattr(nlp, theirs)(None, *paths) if theirs == "AlbertTokenizer" else getattr(nlp, theirs)(*paths)
    tokenizer.save_pretrained(str(tmp_path / "paddlenlp"))
    ours = pr.AutoTokenizer.from_pretrained(str(tmp_path / "paddlenlp"))
    assert type(ours).__name__ == registry.get(family).tokenizer_class.__name__
    assert not [w for w in recwarn if "tokenizer_class" in str(w.message)]
    for text in SAMPLES:
        want = tokenizer(text, "and a pair")
        got = ours(text, "and a pair")
        assert got["input_ids"] == want["input_ids"], text
        if "token_type_ids" in got:
            assert got["token_type_ids"] == want["token_type_ids"], text


@pytest.mark.parametrize("family, theirs", [("albert", "AlbertTokenizer"), ("roberta", "RobertaChineseTokenizer")])
def test_a_chinese_paddlenlp_model_dir_converts_and_deploys_with_its_wordpiece_tokenizer(family, theirs, tmp_path):
    """PaddleNLP saves Chinese ALBERT's and Chinese RoBERTa's WordPiece vocab.txt beside the model under its own
    class names. convert writes it under BertTokenizer's name, which transformers loads (PaddleNLP's names fail
    there), and the export and its Predictor read it: PaddleNLP's ids and outputs throughout."""
    import paddlenlp.transformers as nlp
    from paddle_rembert.deploy.export import export_model
    from paddle_rembert.deploy.inference import Predictor

    theirs_model, directory = paddlenlp_dir(tmp_path, family, "ForSequenceClassification")
    pairs = chinese_fixture_pairs()
    counts = collections.Counter(c for a, b in pairs for c in a + b if not c.isspace())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [c for c, _ in counts.most_common(95)]  # model's 100
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    if theirs == "AlbertTokenizer":  # albert-chinese-*'s settings
        tokenizer = nlp.AlbertTokenizer(str(tmp_path / "vocab.txt"), None, do_lower_case=False, unk_token="[UNK]",
                                        pad_token="[PAD]")
    else:
        tokenizer = nlp.RobertaChineseTokenizer(str(tmp_path / "vocab.txt"))
    tokenizer.save_pretrained(directory)
    assert json.load(open(os.path.join(directory, "tokenizer_config.json")))["tokenizer_class"] == theirs
    texts, text_pairs = [a for a, _ in pairs], [b for _, b in pairs]
    want = [tokenizer(a, b, max_length=64, truncation=True) for a, b in pairs]
    assert {1} < {i for w in want for i in w["input_ids"]}  # [UNK] and known characters both

    assert main(["convert", "--quiet", directory, str(tmp_path / "torch"), "--to", "torch"]) == 0
    converted = tmp_path / "torch"
    assert json.loads((converted / "tokenizer_config.json").read_text())["tokenizer_class"] == "BertTokenizer"
    assert (converted / "vocab.txt").read_text(encoding="utf-8").splitlines() == vocab
    hf = transformers.AutoTokenizer.from_pretrained(str(converted), use_fast=False)
    assert type(hf) is transformers.BertTokenizer
    got = hf(texts, text_pairs, max_length=64, truncation=True)
    assert got["input_ids"] == [w["input_ids"] for w in want]
    assert got["token_type_ids"] == [w["token_type_ids"] for w in want]

    export_model(directory, str(tmp_path / "export"), task="sequence-classification")
    predictor = Predictor(str(tmp_path / "export"), max_length=64)
    assert type(predictor.tokenizer) is pr.BertTokenizer
    assert [r["input_ids"] for r in predictor.encode(texts, text_pairs)] == [w["input_ids"] for w in want]
    results = predictor.predict(texts, text_pairs)
    for w, result in zip(want, results):
        logits = theirs_model(input_ids=paddle.to_tensor([w["input_ids"]]),
                              token_type_ids=paddle.to_tensor([w["token_type_ids"]])).numpy()[0]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose(list(result["probabilities"].values()), probs, atol=1e-5)


def test_a_paddlenlp_roberta_bpe_tokenizer_converts_under_our_name(tmp_path):
    """PaddleNLP's RobertaBPETokenizer name is unknown to transformers: convert writes the tokenizer as
    RobertaTokenizer, which transformers loads with PaddleNLP's ids."""
    import paddlenlp.transformers as nlp
    from paddle_rembert.testing import synthetic_texts

    registry.get("roberta").make_tiny_tokenizer(synthetic_texts(300) + SAMPLES, str(tmp_path / "src"), 300)
    config = nlp.RobertaConfig(vocab_size=300, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=20)
    nlp.RobertaForSequenceClassification(config).save_pretrained(str(tmp_path / "model"))
    tokenizer = nlp.RobertaBPETokenizer(str(tmp_path / "src" / "vocab.json"), str(tmp_path / "src" / "merges.txt"))
    tokenizer.save_pretrained(str(tmp_path / "model"))
    assert main(["convert", "--quiet", str(tmp_path / "model"), str(tmp_path / "torch"), "--to", "torch"]) == 0
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "torch"), use_fast=False)
    assert type(hf) is transformers.RobertaTokenizer
    for text in SAMPLES:
        assert hf(text, "and a pair")["input_ids"] == tokenizer(text, "and a pair")["input_ids"], text


def test_a_paddlenlp_named_tokenizer_given_with_tokenizer_dir_must_be_of_the_models_family(tmp_path, capsys):
    """--tokenizer DIR holds a tokenizer of the model's family whichever class saved it: PaddleNLP's
    RobertaBPETokenizer (vocab.json and merges.txt) is refused for a BERT model, as transformers' RobertaTokenizer
    is (it was re-saved beside the BERT weights), and taken for a RoBERTa model, under our class name."""
    import paddlenlp.transformers as nlp
    from paddle_rembert.testing import synthetic_texts

    registry.get("roberta").make_tiny_tokenizer(synthetic_texts(300) + SAMPLES, str(tmp_path / "src"), 300)
    bpe = tmp_path / "bpe"
    nlp.RobertaBPETokenizer(str(tmp_path / "src" / "vocab.json"),
                            str(tmp_path / "src" / "merges.txt")).save_pretrained(str(bpe))
    assert json.loads((bpe / "tokenizer_config.json").read_text())["tokenizer_class"] == "RobertaBPETokenizer"
    _, bert = paddlenlp_dir(tmp_path, "bert", "Model", vocab_size=300)  # the ids fit: only the family differs
    capsys.readouterr()
    assert main(["convert", "--quiet", bert, str(tmp_path / "bert-torch"), "--to", "torch", "--tokenizer",
                 str(bpe)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bpe} holds no tokenizer of this model's family (no vocab.txt; its " \
        "tokenizer_config.json names RobertaBPETokenizer)" in err, err
    assert not (tmp_path / "bert-torch").exists()
    _, roberta = paddlenlp_dir(tmp_path, "roberta", "Model", vocab_size=300)
    assert main(["convert", "--quiet", roberta, str(tmp_path / "roberta-torch"), "--to", "torch", "--tokenizer",
                 str(bpe)]) == 0
    converted = tmp_path / "roberta-torch"
    assert json.loads((converted / "tokenizer_config.json").read_text())["tokenizer_class"] == "RobertaTokenizer"
    assert type(transformers.AutoTokenizer.from_pretrained(str(converted), use_fast=False)) is \
        transformers.RobertaTokenizer
