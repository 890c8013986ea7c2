"""Pipeline post-processing against transformers 4.46.3's real pipelines on the same torch model outputs.

Tiny random BERT/RoBERTa heads and fast tokenizers whose vocabularies are trained here (accented Latin, CJK and
emoji words, so offsets, [UNK]s and ##-pieces all occur). Every expected value is what ``transformers.pipeline``
returns; our functions get features from the same fast tokenizer and logits from the same torch model.
"""
import copy
import random

import numpy as np
import pytest
import torch
import transformers
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer

from paddle_rembert.deploy.postprocess import (feature_extraction, fill_mask, fill_mask_target_ids, text_classification,
                                               token_classification, token_classification_tokenizer_kwargs)
from paddle_rembert.deploy.qa import postprocess_qa, postprocess_qa_batch, qa_windowing
from paddle_rembert.runtime.errors import PaddleRembertError

transformers.logging.set_verbosity_error()

WORDS = ("machine learning is a subset of artificial intelligence the quick brown fox jumps over lazy dog in 1990 "
         "café naïve résumé Zürich São Paulo Straße déjà vu 東京 北京 学习 中文 日本語 😀 🚀 👍 Paris Berlin river "
         "mountain , . ? ! ( ) - it was built by people who lived near the old bridge Machine Learning Artificial "
         "Intelligence It The What Where Qui did live and a le pont à").split()
CONTEXTS = [
    "Machine Learning is a subset of Artificial Intelligence. It was built by people who lived near the old bridge "
    "in 1990, and the quick brown fox jumps over the lazy dog (twice) near the river. The mountain people of "
    "Berlin built a bridge, it was quick; Artificial Intelligence is learning what the river did in Paris!",
    "Café naïve résumé: São Paulo and Zürich, déjà vu! 東京と北京で学习中文 😀🚀 people lived near the Straße; "
    "the mountain river, unbekannte Wörter wie Überraschung und Größe, then Paris, Berlin and 日本語 👍.",
    "The old bridge near Paris. " * 8 + "Intelligence is built by quick people.",
]
QUESTIONS = ["What is Machine Learning?", "Where did people live near the river?", "Qui a construit le pont à Paris?"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sentences(seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 15))) for _ in range(400)]


@pytest.fixture(scope="module")
def bert_tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("wordpiece")
    trainer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    trainer.train_from_iterator(_sentences(0), vocab_size=300, min_frequency=1,
                                special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    trainer.save_model(str(path))
    return transformers.BertTokenizerFast(str(path / "vocab.txt"), do_lower_case=False)


@pytest.fixture(scope="module")
def roberta_tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("bytebpe")
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(_sentences(1), vocab_size=400, min_frequency=1,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    trainer.save_model(str(path))
    return transformers.RobertaTokenizerFast(str(path / "vocab.json"), str(path / "merges.txt"))


def _bert_config(tok, **kw):
    return transformers.BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=128, **kw)


class _NullBiasedQA(transformers.BertForQuestionAnswering):
    """Adds a large logit at token 0 so the impossible answer can win."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.start_logits[:, 0] += 9.0
        out.end_logits[:, 0] += 9.0
        return out


def _qa_model(tok, cls=transformers.BertForQuestionAnswering, seed=0):
    torch.manual_seed(seed)
    model = cls(_bert_config(tok)).eval()
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0.0, 1.0)  # peaky logits: scores well apart from float noise
    return model


def _roberta_qa_model(tok):
    torch.manual_seed(1)
    config = transformers.RobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2,
                                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=130,
                                        pad_token_id=tok.pad_token_id, bos_token_id=0, eos_token_id=2)
    model = transformers.RobertaForQuestionAnswering(config).eval()
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0.0, 1.0)
    return model


def _qa_features(tok, question, context, max_seq_len, doc_stride, padding="do_not_pad"):
    windowing = qa_windowing(tok.model_max_length, max_seq_len, doc_stride, padding_side=tok.padding_side,
                             padding=padding)
    text, pair = windowing.order(question, context)
    enc = tok(text, pair, **windowing.tokenizer_kwargs)
    n = len(enc["input_ids"])
    features = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "offset_mapping": enc["offset_mapping"], "sequence_ids": [enc.sequence_ids(i) for i in range(n)],
                "word_ids": [enc.word_ids(i) for i in range(n)]}
    return features, enc


def _qa_logits(model, enc, names):
    """Run every window on its own, as the pipeline does (batch size 1, no padding)."""
    starts, ends = [], []
    with torch.no_grad():
        for i in range(len(enc["input_ids"])):
            out = model(**{k: torch.tensor([enc[k][i]]) for k in names})
            starts.append(out.start_logits[0].numpy())
            ends.append(out.end_logits[0].numpy())
    return starts, ends


def _ours_qa(tok, model, question, context, max_seq_len, doc_stride, padding="do_not_pad", **kw):
    features, enc = _qa_features(tok, question, context, max_seq_len, doc_stride, padding)
    starts, ends = _qa_logits(model, enc, tok.model_input_names)
    return postprocess_qa(features, starts, ends, context, cls_token_id=tok.cls_token_id,
                          pad_token_id=tok.pad_token_id, padding_side=tok.padding_side, **kw), len(starts)


def _assert_same_answers(ours, ref):
    if isinstance(ref, dict):
        assert isinstance(ours, dict), (ours, ref)
        ours, ref = [ours], [ref]
    assert isinstance(ours, list) and len(ours) == len(ref), (ours, ref)
    for a, b in zip(ours, ref):
        assert (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"]), (ours, ref)
        assert a["score"] == pytest.approx(b["score"], abs=1e-6, rel=1e-6)


QA_SETTINGS = [
    dict(max_seq_len=40, doc_stride=12),
    dict(max_seq_len=36, doc_stride=8, top_k=3),
    dict(max_seq_len=48, doc_stride=16, top_k=3, handle_impossible_answer=True),
    dict(max_seq_len=36, doc_stride=10, handle_impossible_answer=True, max_answer_len=4),
    dict(max_seq_len=40, doc_stride=14, top_k=5, align_to_words=False),
    dict(max_seq_len=44, doc_stride=9, top_k=2, max_answer_len=1),
]


@pytest.mark.parametrize("settings", QA_SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("null_biased", [False, True], ids=["plain", "null-biased"])
def test_qa_equals_pipeline_over_windows(bert_tok, settings, null_biased):
    model = _qa_model(bert_tok, _NullBiasedQA if null_biased else transformers.BertForQuestionAnswering)
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=bert_tok)
    for question, context in zip(QUESTIONS, CONTEXTS):
        ref = pipe(question=question, context=context, **settings)
        ours, windows = _ours_qa(bert_tok, model, question, context, **settings)
        assert windows >= 3
        _assert_same_answers(ours, ref)
        for answer in (ours if isinstance(ours, list) else [ours]):
            assert answer["answer"] == context[answer["start"]:answer["end"]]


def test_null_answer_and_word_alignment_are_exercised(bert_tok):
    """The cases above must really reach the null answer and mid-word spans, else they prove little."""
    context = CONTEXTS[1]
    biased = _qa_model(bert_tok, _NullBiasedQA)
    ours, _ = _ours_qa(bert_tok, biased, QUESTIONS[1], context, 36, 10, handle_impossible_answer=True, top_k=2)
    assert ours[0]["answer"] == "" and ours[0]["start"] == ours[0]["end"] == 0
    model = _qa_model(bert_tok)
    aligned, _ = _ours_qa(bert_tok, model, QUESTIONS[1], context, 40, 14, top_k=15)
    raw, _ = _ours_qa(bert_tok, model, QUESTIONS[1], context, 40, 14, top_k=15, align_to_words=False)
    assert [a["score"] for a in aligned] == [a["score"] for a in raw]
    assert any((a["start"], a["end"]) != (b["start"], b["end"]) for a, b in zip(aligned, raw))


def test_qa_short_context_large_top_k_keeps_zero_score_spans(bert_tok):
    """Fewer spans than top_k: transformers' index-0 quirk returns zero-score empty answers; we return the same."""
    model = _qa_model(bert_tok)
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=bert_tok)
    zero_score = []
    for settings in (dict(top_k=6, max_answer_len=1), dict(top_k=50), dict(top_k=1),
                     dict(top_k=4, handle_impossible_answer=True)):
        ref = pipe(question="Where?", context="Paris .", **settings)
        ours, windows = _ours_qa(bert_tok, model, "Where?", "Paris .", 384, 128, **settings)
        assert windows == 1
        _assert_same_answers(ours, ref)
        zero_score.append(isinstance(ours, list) and any(a["score"] == 0.0 for a in ours))
    assert zero_score == [True, True, False, False]


def test_qa_left_padding_tokenizer_puts_context_first(bert_tok):
    tok = transformers.BertTokenizerFast(tokenizer_object=bert_tok.backend_tokenizer, padding_side="left",
                                         cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                                         unk_token="[UNK]", mask_token="[MASK]")
    model = _qa_model(tok)
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=tok)
    padded_differs = []
    for question, context in zip(QUESTIONS, CONTEXTS):
        for padding in ("do_not_pad", "max_length"):  # left pads shift transformers' token indices: same shift here
            ref = pipe(question=question, context=context, max_seq_len=40, doc_stride=12, top_k=3, padding=padding)
            ours, windows = _ours_qa(tok, model, question, context, 40, 12, padding, top_k=3)
            assert windows >= 3
            _assert_same_answers(ours, ref)
        padded_differs.append(ours != _ours_qa(tok, model, question, context, 40, 12, top_k=3)[0])
    assert any(padded_differs)
    # every span of a short padded window: transformers' decode_spans also admits index 0 (a pad here)
    ref = pipe(question="Where?", context="Paris .", max_seq_len=16, top_k=300, padding="max_length")
    ours, _ = _ours_qa(tok, model, "Where?", "Paris .", 16, 8, "max_length", top_k=300)
    _assert_same_answers(ours, ref)


def test_qa_byte_level_bpe_roberta(roberta_tok):
    model = _roberta_qa_model(roberta_tok)
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=roberta_tok)
    features, _ = _qa_features(roberta_tok, QUESTIONS[0], CONTEXTS[1], 40, 12)
    ids = features["input_ids"][0]
    assert "token_type_ids" not in roberta_tok.model_input_names
    assert ids[0] == roberta_tok.cls_token_id and ids.count(roberta_tok.sep_token_id) == 3  # <s> q </s></s> c </s>
    for settings in (dict(max_seq_len=40, doc_stride=12), dict(max_seq_len=36, doc_stride=8, top_k=3),
                     dict(max_seq_len=48, doc_stride=16, top_k=4, handle_impossible_answer=True)):
        for question, context in zip(QUESTIONS, CONTEXTS):
            ref = pipe(question=question, context=context, **settings)
            ours, windows = _ours_qa(roberta_tok, model, question, context, **settings)
            assert windows >= 2
            _assert_same_answers(ours, ref)


def test_qa_padded_batch_logits_and_batched_examples(bert_tok):
    """One padded batch over all windows of two examples gives the pipeline's answers per example."""
    model = _qa_model(bert_tok)
    pipe = transformers.pipeline("question-answering", model=model, tokenizer=bert_tok)
    windowing = qa_windowing(bert_tok.model_max_length, 40, 12)
    enc = bert_tok(QUESTIONS[:2], CONTEXTS[:2], **dict(windowing.tokenizer_kwargs, padding="longest"))
    n = len(enc["input_ids"])
    features = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "offset_mapping": enc["offset_mapping"], "sequence_ids": [enc.sequence_ids(i) for i in range(n)],
                "word_ids": [enc.word_ids(i) for i in range(n)],
                "overflow_to_sample_mapping": enc["overflow_to_sample_mapping"]}
    with torch.no_grad():
        out = model(**{k: torch.tensor(enc[k]) for k in bert_tok.model_input_names})
    ours = postprocess_qa_batch(features, out.start_logits.numpy(), out.end_logits.numpy(), CONTEXTS[:2],
                                top_k=3, cls_token_id=bert_tok.cls_token_id)
    as_arrays = {k: np.array([[-1 if v is None else v for v in row] for row in rows]) if k.endswith("_ids") and
                 k != "input_ids" else np.asarray(rows) for k, rows in features.items()}
    assert as_arrays["sequence_ids"].dtype.kind == "i" and as_arrays["offset_mapping"].ndim == 3
    from_arrays = postprocess_qa_batch(as_arrays, out.start_logits.numpy(), out.end_logits.numpy(), CONTEXTS[:2],
                                       top_k=3, cls_token_id=bert_tok.cls_token_id)
    assert len(set(enc["overflow_to_sample_mapping"])) == 2
    for question, context, answers, answers_np in zip(QUESTIONS, CONTEXTS, ours, from_arrays):
        ref = pipe(question=question, context=context, max_seq_len=40, doc_stride=12, top_k=3)
        _assert_same_answers(answers, ref)
        _assert_same_answers(answers_np, ref)


def test_qa_windowing_defaults_and_limits(bert_tok):
    assert (qa_windowing(512).max_seq_len, qa_windowing(512).doc_stride) == (384, 128)
    assert (qa_windowing(100).max_seq_len, qa_windowing(100).doc_stride) == (100, 50)
    assert qa_windowing(512, max_seq_len=40).doc_stride == 20
    assert qa_windowing(512, padding_side="left").tokenizer_kwargs["truncation"] == "only_first"
    with pytest.raises(PaddleRembertError, match="larger than"):
        qa_windowing(512, max_seq_len=32, doc_stride=33)
    with pytest.raises(PaddleRembertError):
        qa_windowing(None)
    question = "What is Machine Learning?"
    question_tokens = len(bert_tok(question, add_special_tokens=False)["input_ids"])
    outcomes = []
    for stride in (22, 23, 24, 25):
        windowing = qa_windowing(512, max_seq_len=32, doc_stride=stride)
        try:  # the Rust tokenizer panics (pyo3 PanicException derives from BaseException) when the stride is too big
            bert_tok(question, CONTEXTS[0], **windowing.tokenizer_kwargs)
            outcomes.append(True)
        except BaseException:  # noqa: B036
            outcomes.append(False)
        if outcomes[-1]:
            windowing.check_fits(question_tokens, 3)
        else:
            with pytest.raises(PaddleRembertError, match="doc_stride"):
                windowing.check_fits(question_tokens, 3)
    assert outcomes == [True, True, False, False]


def test_qa_rejects_bad_arguments(bert_tok):
    features, enc = _qa_features(bert_tok, QUESTIONS[0], CONTEXTS[0], 40, 12)
    starts, ends = _qa_logits(_qa_model(bert_tok), enc, bert_tok.model_input_names)
    with pytest.raises(PaddleRembertError, match="top_k"):
        postprocess_qa(features, starts, ends, CONTEXTS[0], top_k=0)
    with pytest.raises(PaddleRembertError, match="max_answer_len"):
        postprocess_qa(features, starts, ends, CONTEXTS[0], max_answer_len=0)
    with pytest.raises(PaddleRembertError, match="rows"):
        postprocess_qa(features, starts[:-1], ends, CONTEXTS[0])
    with pytest.raises(PaddleRembertError, match="offset_mapping"):
        postprocess_qa({k: v for k, v in features.items() if k != "offset_mapping"}, starts, ends, CONTEXTS[0])
    with pytest.raises(PaddleRembertError, match="tokens for a"):
        postprocess_qa(features, [s[:5] for s in starts], ends, CONTEXTS[0])


# ------------------------------------------------------------------------------------------- other pipeline tasks
TEXTS = ["Machine Learning is a subset of Artificial Intelligence.", "Café naïve 東京 😀 near the river Überraschung!",
         "It was built by people who lived near the old bridge in Paris, Berlin and São Paulo.",
         "Qui a construit twice unbekannte Wörter, Zürichsee und Größe?"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC"]


def _head_model(tok, cls, seed=0, scale=1.0, **config):
    torch.manual_seed(seed)
    model = cls(_bert_config(tok, **config)).eval()
    head = model.classifier if hasattr(model, "classifier") else None
    if head is not None:
        with torch.no_grad():
            head.weight.normal_(0.0, scale)
    return model


def _run(model, enc, names):
    with torch.no_grad():
        return model(**{k: torch.as_tensor(enc[k]) for k in names}).logits.numpy()


TEXT_CLASSIFICATION_CASES = [
    (3, None, {}), (3, None, {"top_k": None}), (3, None, {"top_k": 1}), (3, None, {"top_k": 2}),
    (3, None, {"return_all_scores": True}), (3, None, {"return_all_scores": False}),
    (3, None, {"function_to_apply": "sigmoid", "top_k": None}), (3, None, {"function_to_apply": "none"}),
    (1, None, {}), (1, None, {"top_k": None}), (1, "regression", {}), (1, "regression", {"top_k": 3}),
    (4, "multi_label_classification", {"top_k": None}), (4, "multi_label_classification", {}),
    (2, "single_label_classification", {"function_to_apply": "softmax", "top_k": 5}),
    (3, None, {"top_k": 0}), (3, None, {"top_k": -1}), (4, "multi_label_classification", {"top_k": -3}),
]


@pytest.mark.parametrize("num_labels,problem_type,kwargs", TEXT_CLASSIFICATION_CASES)
def test_text_classification_equals_pipeline(bert_tok, num_labels, problem_type, kwargs):
    labels = {i: f"LABEL_{chr(65 + i)}" for i in range(num_labels)}
    model = _head_model(bert_tok, transformers.BertForSequenceClassification, num_labels=num_labels,
                        problem_type=problem_type, id2label=labels, label2id={v: k for k, v in labels.items()})
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=bert_tok)
    names = bert_tok.model_input_names
    pair = {"text": TEXTS[0], "text_pair": TEXTS[1]}
    for inputs in (TEXTS[1], TEXTS, pair):
        ref = pipe(inputs, **kwargs)
        if isinstance(inputs, list):
            logits = np.concatenate([_run(model, bert_tok(t, return_tensors="pt"), names) for t in inputs])
        else:
            enc = bert_tok(**inputs, return_tensors="pt") if isinstance(inputs, dict) else bert_tok(inputs,
                                                                                                   return_tensors="pt")
            logits = _run(model, enc, names)[0]
        ours = text_classification(logits, model.config.id2label, problem_type=problem_type,
                                   single_text=isinstance(inputs, str), **kwargs)
        _assert_same_nested(ours, ref)


def _assert_same_nested(ours, ref):
    """Same containers, keys, labels and ints; floats to 1e-5."""
    assert type(ours) is type(ref), (ours, ref)
    if isinstance(ref, list):
        assert len(ours) == len(ref), (ours, ref)
        for a, b in zip(ours, ref):
            _assert_same_nested(a, b)
    elif isinstance(ref, dict):
        assert list(ours) == list(ref), (ours, ref)
        for key in ref:
            _assert_same_nested(ours[key], ref[key])
    elif isinstance(ref, (float, np.floating)):
        assert ours == pytest.approx(ref, abs=1e-5, rel=1e-5)
    else:
        assert ours == ref


def test_text_classification_rejects_bad_arguments():
    with pytest.raises(PaddleRembertError, match="function_to_apply"):
        text_classification(np.zeros(2), ["a", "b"], function_to_apply="relu")
    with pytest.raises(PaddleRembertError, match="top_k"):
        text_classification(np.zeros(2), ["a", "b"], top_k="2")
    with pytest.raises(PaddleRembertError, match="no label"):
        text_classification(np.zeros(3), ["a", "b"], top_k=None)


def _ner_model(tok, seed=3, cls=transformers.BertForTokenClassification):
    labels = dict(enumerate(NER_LABELS))
    config = dict(num_labels=len(NER_LABELS), id2label=labels, label2id={v: k for k, v in labels.items()})
    if cls is transformers.BertForTokenClassification:
        return _head_model(tok, cls, seed=seed, scale=1.5, **config)
    torch.manual_seed(seed)
    model = cls(transformers.RobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2,
                                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=130,
                                           pad_token_id=tok.pad_token_id, **config)).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.5)
    return model


def _ours_ner(tok, model, text, strategy, stride=None):
    kwargs = token_classification_tokenizer_kwargs(tok.model_max_length, strategy, stride)
    enc = tok(text, **kwargs)
    if stride is None:
        enc = {k: [v] for k, v in enc.items()}
    names = tok.model_input_names
    logits = [_run(model, {k: [enc[k][w]] for k in names}, names)[0] for w in range(len(enc["input_ids"]))]
    prefix = getattr(tok.backend_tokenizer.model, "continuing_subword_prefix", None)
    result = token_classification(enc, logits, text, model.config.id2label, aggregation_strategy=strategy,
                                  convert_ids_to_tokens=tok.convert_ids_to_tokens,
                                  convert_tokens_to_string=tok.convert_tokens_to_string,
                                  continuing_subword_prefix=prefix, unk_token_id=tok.unk_token_id)
    return result, len(logits)


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification_equals_pipeline(bert_tok, roberta_tok, strategy):
    for tok, cls in ((bert_tok, transformers.BertForTokenClassification),
                     (roberta_tok, transformers.RobertaForTokenClassification)):
        model = _ner_model(tok, cls=cls)
        pipe = transformers.pipeline("token-classification", model=model, tokenizer=tok,
                                     aggregation_strategy=strategy)
        found = set()
        for text in TEXTS:
            ref = pipe(text)
            ours, _ = _ours_ner(tok, model, text, strategy)
            _assert_same_nested(ours, ref)
            found.update(e.get("entity", e.get("entity_group")) for e in ours)
        assert len(found) >= 2, found  # several labels predicted, so grouping really happens


@pytest.mark.parametrize("strategy", ["simple", "first", "max"])
def test_token_classification_stride_windows_equal_pipeline(bert_tok, strategy):
    tok = copy.deepcopy(bert_tok)
    tok.model_max_length = 16
    model = _ner_model(tok)
    pipe = transformers.pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy=strategy,
                                 stride=5)
    long_text = " ".join(TEXTS)
    ref = pipe(long_text)
    ours, windows = _ours_ner(tok, model, long_text, strategy, stride=5)
    assert windows >= 4 and len(ref) >= 3
    _assert_same_nested(ours, ref)


def test_token_classification_rejects_stride_with_an_explicit_none_strategy():
    with pytest.raises(PaddleRembertError, match="aggregation_strategy"):
        token_classification_tokenizer_kwargs(512, "none", stride=8)
    # not given (transformers' default "none"): windows
    assert token_classification_tokenizer_kwargs(512, None, stride=8)["return_overflowing_tokens"] is True
    with pytest.raises(PaddleRembertError, match="model_max_length"):
        token_classification_tokenizer_kwargs(16, "first", stride=16)
    with pytest.raises(PaddleRembertError, match="aggregation_strategy must be"):
        token_classification_tokenizer_kwargs(16, "mean")


MASK_TEXTS = ["Machine Learning is a [MASK] of Artificial Intelligence.", "Café [MASK] 東京 😀 near the river.",
              "It was [MASK] by people who [MASK] near the old bridge."]


@pytest.mark.parametrize("kwargs", [{}, {"top_k": 3}, {"top_k": 1}, {"targets": ["river", "bridge", "Zürich", "the"]},
                                    {"targets": "people", "top_k": 2}, {"targets": ["Überraschung", "river"]},
                                    {"top_k": 0}, {"targets": ["river", "the"], "top_k": 0}],
                         ids=["default", "top3", "top1", "targets", "one-target", "unknown-target", "top0",
                              "targets-top0"])
def test_fill_mask_equals_pipeline(bert_tok, kwargs):
    torch.manual_seed(5)
    model = transformers.BertForMaskedLM(_bert_config(bert_tok)).eval()
    pipe = transformers.pipeline("fill-mask", model=model, tokenizer=bert_tok)
    target_ids = None
    if "targets" in kwargs:
        def encode(word):  # the pipeline's own lookup for words outside the vocabulary
            return bert_tok(word, add_special_tokens=False, max_length=1, truncation=True)["input_ids"]

        target_ids = fill_mask_target_ids(kwargs["targets"], bert_tok.get_vocab(), encode)
    top_k = kwargs.get("top_k", 5)
    for text in MASK_TEXTS:
        ref = pipe(text, **kwargs)
        enc = bert_tok(text, return_tensors="pt")
        logits = _run(model, enc, bert_tok.model_input_names)[0]
        ours = fill_mask(enc["input_ids"][0].tolist(), logits, mask_token_id=bert_tok.mask_token_id,
                         pad_token_id=bert_tok.pad_token_id, decode=bert_tok.decode, top_k=top_k,
                         target_ids=target_ids)
        _assert_same_nested(ours, ref)


def test_fill_mask_rejects_text_without_mask(bert_tok):
    ids = bert_tok("no mask here")["input_ids"]
    with pytest.raises(PaddleRembertError, match="mask_token"):
        fill_mask(ids, np.zeros((len(ids), len(bert_tok))), mask_token_id=bert_tok.mask_token_id, pad_token_id=0,
                  decode=bert_tok.decode)
    with pytest.raises(PaddleRembertError, match="target"):
        fill_mask_target_ids(["not-a-word"], {}, lambda word: [])


def test_feature_extraction_equals_pipeline(bert_tok):
    torch.manual_seed(6)
    model = transformers.BertModel(_bert_config(bert_tok)).eval()
    pipe = transformers.pipeline("feature-extraction", model=model, tokenizer=bert_tok)
    names = bert_tok.model_input_names
    with torch.no_grad():
        single = model(**bert_tok(TEXTS[1], return_tensors="pt")).last_hidden_state.numpy()[0]
        padded = bert_tok(TEXTS, padding=True, return_tensors="pt")
        batch = model(**{k: padded[k] for k in names}).last_hidden_state.numpy()
    ours_single = feature_extraction(single)
    ref_single = pipe(TEXTS[1])
    assert np.asarray(ours_single).shape == np.asarray(ref_single).shape == (1, len(single), 16)
    _assert_same_nested(ours_single, ref_single)
    ours_batch = feature_extraction(batch, padded["attention_mask"].numpy())
    ref_batch = pipe(TEXTS)
    assert [np.asarray(r).shape[1] for r in ours_batch] == [np.asarray(r).shape[1] for r in ref_batch]
    assert len(set(np.asarray(r).shape[1] for r in ref_batch)) == len(TEXTS)  # padding really dropped
    _assert_same_nested(ours_batch, ref_batch)
    assert feature_extraction(single, return_tensors=True).shape == (1, len(single), 16)
