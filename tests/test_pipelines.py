"""``paddle_rembert.deploy.pipelines.pipeline`` against ``transformers.pipeline`` on the same converted weights.

Each family's tiny model is built with our code (QA weights scaled so answers move with the input), exported
(Paddle program + ONNX) and converted to transformers' layout; transformers runs it with the fast tokenizer made
from the same files. Inputs are ones where that fast tokenizer gives our (the slow tokenizer's) ids, which the
tests check first. Answers must be equal: text, start and end exactly, scores to 1e-4.
"""
import threading

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_rembert
from paddle_rembert.convert import convert_checkpoint
from paddle_rembert.deploy.export import export_model
from paddle_rembert.deploy.pipelines import make_feed, pipeline, qa_record
from paddle_rembert.deploy.qa import qa_windowing
from paddle_rembert.models.auto import auto_class
from paddle_rembert.models import registry
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.testing import synthetic_texts, write_tiny_model_dir

transformers.logging.set_verbosity_error()
FAMILIES = registry.model_types()
CONTEXTS = [
    "river stone cloud lamp paper garden music window summer winter market forest bridge letter silver orange "
    "engine castle pepper rabbit ticket planet candle mirror pocket ladder butter jacket kettle velvet, river garden. "
    "Winter market, summer forest: the bridge letter is silver and orange; engine castle pepper rabbit ticket planet "
    "candle mirror pocket ladder butter jacket kettle velvet.",
    "Café river naïve stone résumé: São Paulo cloud Zürich lamp, déjà vu garden! 東京 music 北京 window Straße "
    "summer winter market forest bridge letter silver; orange engine castle.",
    "Machine Learning is a subset of Artificial Intelligence. It was built by people who lived near the old bridge, "
    "and the river stone was near the castle.",
    "naïve Größe über Überraschung — «garden» mirror… pocket’s ladder. ¿butter? jacket kettle velvet; ÉCOLE élève.",
]
QUESTIONS = ["river lamp?", "Where is the castle?", "What is Machine Learning?", "Qui a construit le pont?"]
QA_SETTINGS = [
    dict(max_seq_len=48, doc_stride=12),
    dict(max_seq_len=48, doc_stride=10, top_k=3),
    dict(max_seq_len=56, doc_stride=16, top_k=3, handle_impossible_answer=True),
    dict(max_seq_len=52, doc_stride=8, handle_impossible_answer=True, max_answer_len=4),
    dict(max_seq_len=48, doc_stride=12, top_k=2, align_to_words=False),
]
SPANBERT_CONTEXT = ("Machine Learning is a subset of Artificial Intelligence. It is the study of computer algorithms "
                    "that improve automatically through experience and by the use of data.")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """One tiny backbone + tokenizer directory per family, made on first use."""
    made = {}

    def get(family):
        if family not in made:
            made[family] = str(tmp_path_factory.mktemp(f"{family}-tiny"))
            write_tiny_model_dir(made[family], family, synthetic_texts(), vocab_size=200)
        return made[family]

    return get


def _head(tiny, tmp_path_factory, family, suffix, scale_attr=None, **config):
    """A head saved with our code (``scale_attr``'s weight times 40: peaky logits) and its transformers copy."""
    paddle.seed(7)
    model = auto_class(suffix).from_pretrained(tiny, **config)
    if scale_attr is not None:
        weight = getattr(model, scale_attr).weight
        weight.set_value(weight * 40.0)
    out = str(tmp_path_factory.mktemp(f"{family}-{suffix}"))
    model.save_pretrained(out)
    paddle_rembert.AutoTokenizer.from_pretrained(tiny).save_pretrained(out)
    torch_dir = out + "-torch"
    convert_checkpoint(out, torch_dir, to="torch", progress=False)
    return out, torch_dir


def _reference(task, torch_dir, suffix, **kwargs):
    tokenizer = transformers.AutoTokenizer.from_pretrained(torch_dir, use_fast=True)
    model = getattr(transformers, f"AutoModel{suffix}").from_pretrained(torch_dir).eval()
    return transformers.pipeline(task, model=model, tokenizer=tokenizer, **kwargs), tokenizer


@pytest.fixture(scope="module", params=FAMILIES)
def qa_family(request, tiny_dirs, tmp_path_factory):
    family = request.param
    model_dir, torch_dir = _head(tiny_dirs(family), tmp_path_factory, family, "ForQuestionAnswering", "qa_outputs")
    export_dir = str(tmp_path_factory.mktemp(f"{family}-qa-export")) + "/export"
    export_model(model_dir, export_dir, onnx=True, verify=False)
    ref, fast = _reference("question-answering", torch_dir, "ForQuestionAnswering")
    return family, model_dir, export_dir, ref, fast


def _assert_same_answers(ours, ref, more=None, ties=None):
    """Equal answers, except where two spans tie to float noise (scores within 1e-6): then ours must be among
    transformers' own candidates with that score (``more()``: its answers with a larger top_k); ``ties`` counts."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict), (ours, ref)
        ours, ref = [ours], [ref]
    assert isinstance(ours, list) and len(ours) == len(ref), (ours, ref)
    for a, b in zip(ours, ref):
        assert list(a) == list(b), (a, b)
        assert a["score"] == pytest.approx(b["score"], abs=1e-4, rel=1e-4), (ours, ref)
        span = (a["answer"], a["start"], a["end"])
        if span != (b["answer"], b["start"], b["end"]):
            assert more is not None and abs(a["score"] - b["score"]) < 1e-6, (ours, ref)
            assert any((c["answer"], c["start"], c["end"]) == span and abs(c["score"] - b["score"]) < 1e-6
                       for c in more()), (ours, ref)
            ties.append(span)
    return len(ref)


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _assert_fast_equals_ours(ours_tok, fast, question, context, settings):
    """The precondition of a fair comparison: transformers' fast tokenizer windows exactly as ours."""
    windowing = qa_windowing(None, settings["max_seq_len"], settings["doc_stride"])
    a = fast(question, context, **windowing.tokenizer_kwargs)
    b = ours_tok(question, context, **windowing.tokenizer_kwargs)
    assert sorted(a) == sorted(b)
    for key in a:
        assert _plain(a[key]) == _plain(b[key]), key
    for i in range(len(a["input_ids"])):
        assert a.sequence_ids(i) == b.sequence_ids(i) and a.word_ids(i) == b.word_ids(i)
    return len(a["input_ids"])


def test_question_answering_equals_transformers_on_every_backend(qa_family):
    family, model_dir, export_dir, ref, fast = qa_family
    ours_tok = paddle_rembert.AutoTokenizer.from_pretrained(model_dir)
    pipes = {"dygraph": pipeline("question-answering", model=model_dir),
             "paddle": pipeline("question-answering", model=export_dir),
             "onnxruntime": pipeline("question-answering", model=export_dir, backend="onnxruntime")}
    compared, windows, answers, ties = 0, [], set(), []
    for settings in QA_SETTINGS:
        for question, context in zip(QUESTIONS, CONTEXTS):
            windows.append(_assert_fast_equals_ours(ours_tok, fast, question, context, settings))
            expected = ref(question=question, context=context, **settings)
            for answer in expected if isinstance(expected, list) else [expected]:
                answers.add((answer["start"], answer["end"]))
            def more():
                return ref(question=question, context=context, **dict(settings, top_k=settings.get("top_k", 1) + 5))

            for name, qa in pipes.items():
                compared += _assert_same_answers(qa(question=question, context=context, **settings), expected, more,
                                                 ties)
    assert max(windows) >= 3 and min(windows) >= 2, windows  # several windows per context
    assert len(answers) >= 8  # answers really move with the input
    # batched inputs: lists of questions and contexts, a list of dicts, and transformers' one-example unwrapping
    settings = QA_SETTINGS[1]
    expected = ref(question=QUESTIONS, context=CONTEXTS, **settings)
    wider = dict(settings, top_k=settings.get("top_k", 1) + 5)
    mores = [lambda q=q, c=c: ref(question=q, context=c, **wider) for q, c in zip(QUESTIONS, CONTEXTS)]
    for qa in pipes.values():
        compared += sum(_assert_same_answers(o, e, m, ties) for o, e, m in
                        zip(qa(question=QUESTIONS, context=CONTEXTS, **settings), expected, mores))
        listed = qa([{"question": q, "context": c} for q, c in zip(QUESTIONS, CONTEXTS)], **settings)
        compared += sum(_assert_same_answers(o, e, m, ties) for o, e, m in zip(listed, expected, mores))
        compared += _assert_same_answers(qa([{"question": QUESTIONS[0], "context": CONTEXTS[0]}], **settings),
                                         expected[0], mores[0], ties)
    print(f"\n{family}: {compared} question-answering answers equal transformers' ({len(ties)} float ties)")
    # each tie above is one of transformers' own equal-score candidates; they come from adjacent tokens with equal
    # hidden states (runs of [UNK]), so their number follows the tiny vocabulary, which tokenizers' WordPiece
    # trainer does not learn the same way twice (0 to 36 of 201 seen for BERT): a bound, not a count
    assert len(ties) <= compared // 4, ties
    assert compared >= 3 * 4 * (1 + 3 + 3 + 1 + 2)


def test_spanbert_style_example_and_cli_record(qa_family):
    family, _, export_dir, ref, _ = qa_family
    qa = pipeline("question-answering", model=export_dir, max_seq_len=64)
    question = {"question": "What is Machine Learning?", "context": SPANBERT_CONTEXT}
    result = qa(question)
    assert list(result) == ["score", "start", "end", "answer"]
    assert result["answer"] == SPANBERT_CONTEXT[result["start"]:result["end"]] and result["answer"]
    _assert_same_answers(result, ref(question, max_seq_len=64))
    record = qa_record(result)
    assert record == {"answer": result["answer"], "score": result["score"], "start": result["start"],
                      "end": result["end"]}
    top = qa(question, top_k=3)
    record = qa_record(top, top_k=3)
    assert record["answer"] == top[0]["answer"] and [a["start"] for a in record["answers"]] == \
        [a["start"] for a in top]
    assert qa_record([], top_k=2) == {"answer": "", "score": 0.0, "start": None, "end": None, "answers": []}


def test_question_answering_is_thread_safe(qa_family):
    _, model_dir, export_dir, _, _ = qa_family
    for qa in (pipeline("question-answering", model=export_dir), pipeline("question-answering", model=model_dir)):
        jobs = [(q, c, s) for q, c in zip(QUESTIONS, CONTEXTS) for s in QA_SETTINGS[:3]]
        expected = [qa(question=q, context=c, **s) for q, c, s in jobs]
        results, errors = [None] * len(jobs), []

        def work(k):
            try:
                for i in range(k, len(jobs), 4):
                    results[i] = qa(question=jobs[i][0], context=jobs[i][1], **jobs[i][2])
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and results == expected


def test_question_answering_rejects_bad_use(qa_family, tmp_path):
    _, model_dir, export_dir, _, _ = qa_family
    qa = pipeline("question-answering", model=export_dir)
    bad_calls = [dict(question="", context="river"), dict(question="river?", context="river", top_k=0),
                 dict(question="river?", context="river", max_answer_len=0),
                 dict(question="river?", context="river", max_seq_len=16, doc_stride=17),
                 dict(question="river?", context="river", beam_size=3),
                 dict(question=["a?", "b?"], context=["river"]), dict(question=3, context="river")]
    for kwargs in bad_calls:
        with pytest.raises(PaddleRembertError) as info:
            qa(**kwargs)
        assert "\n" not in str(info.value)
    # a window above the positions is taken, as transformers takes it, while the input fits
    assert qa(question="river?", context="river", max_seq_len=100000) == qa(question="river?", context="river")
    with pytest.raises(PaddleRembertError, match="question"):
        qa({"context": "river"})
    with pytest.raises(PaddleRembertError, match="sequence-classification|question-answering"):
        pipeline("text-classification", model=export_dir)
    with pytest.raises(PaddleRembertError, match="backend"):
        pipeline("question-answering", model=export_dir, backend="dygraph")
    with pytest.raises(PaddleRembertError, match="backend"):
        pipeline("question-answering", model=model_dir, backend="onnxruntime")
    with pytest.raises(PaddleRembertError, match="unknown task"):
        pipeline("summarization", model=export_dir)
    with pytest.raises(PaddleRembertError, match="tokenizer"):
        pipeline("question-answering", model=export_dir, tokenizer=str(tmp_path))
    with pytest.raises(PaddleRembertError, match="cannot run"):
        pipeline("fill-mask", model=model_dir)
    with pytest.raises(PaddleRembertError, match="not found"):
        pipeline("question-answering", model=str(tmp_path / "missing"))


def test_feed_defaults_token_types_to_zeros():
    rows = [{"input_ids": [5, 6, 7]}, {"input_ids": [8], "token_type_ids": [1]}]
    feed = make_feed(rows, ("input_ids", "token_type_ids", "attention_mask"), pad_token_id=1)
    assert feed["input_ids"].tolist() == [[5, 6, 7], [8, 1, 1]]
    assert feed["token_type_ids"].tolist() == [[0, 0, 0], [1, 0, 0]]
    assert feed["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert list(make_feed(rows, ("input_ids", "attention_mask"), 0)) == ["input_ids", "attention_mask"]


def _assert_same_nested(ours, ref):
    assert type(ours) is type(ref) or isinstance(ref, (float, np.floating)), (ours, ref)
    if isinstance(ref, list):
        assert len(ours) == len(ref), (ours, ref)
        return sum(_assert_same_nested(a, b) for a, b in zip(ours, ref))
    if isinstance(ref, dict):
        assert list(ours) == list(ref), (ours, ref)
        for key in ref:
            _assert_same_nested(ours[key], ref[key])
        return 1
    if isinstance(ref, (float, np.floating)):
        assert ours == pytest.approx(ref, abs=1e-4, rel=1e-4)
    else:
        assert ours == ref
    return 0


TEXTS = ["river stone cloud lamp paper garden", "Café naïve résumé: São Paulo, Zürich lamp! 東京 music Straße.",
         "Machine Learning is a subset of Artificial Intelligence near the old bridge."]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _flat(value):
    return [x for v in value for x in _flat(v)] if isinstance(value, list) else [value]


def test_text_classification_equals_transformers(tiny_dirs, tmp_path_factory):
    family = "bert" if "bert" in FAMILIES else FAMILIES[0]
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    model_dir, torch_dir = _head(tiny_dirs(family), tmp_path_factory, family, "ForSequenceClassification",
                                 "classifier", num_labels=3, id2label=labels)
    export_dir = str(tmp_path_factory.mktemp("tc-export")) + "/export"
    export_model(model_dir, export_dir, verify=False)
    ref, _ = _reference("text-classification", torch_dir, "ForSequenceClassification")
    calls = [((TEXTS[0],), {}), ((TEXTS,), {}), ((TEXTS[1],), {"top_k": None}), ((TEXTS,), {"top_k": 2}),
             (({"text": TEXTS[0], "text_pair": TEXTS[1]},), {}), (([{"text": TEXTS[2], "text_pair": TEXTS[0]}],), {}),
             ((TEXTS[2],), {"function_to_apply": "sigmoid", "top_k": 3}), (([[[TEXTS[0], TEXTS[1]]]],), {})]
    with pytest.raises(ValueError, match="text pairs"):
        ref([[TEXTS[0], TEXTS[1]]])
    compared, labels_seen = 0, set()
    for pipe in (pipeline("sentiment-analysis", model=model_dir), pipeline("text-classification", model=export_dir)):
        for args, kwargs in calls:
            expected = ref(*args, **kwargs)
            compared += _assert_same_nested(pipe(*args, **kwargs), expected)
            labels_seen.update(r["label"] for r in _flat(expected))
        with pytest.raises(PaddleRembertError, match="text pairs"):  # transformers: ValueError, same message
            pipe([[TEXTS[0], TEXTS[1]]])
    assert len(labels_seen) >= 2, labels_seen
    print(f"\ntext-classification: {compared} results equal transformers'")
    assert compared >= 2 * 14


@pytest.mark.parametrize("family", [f for f in ("bert", "albert", "roberta") if f in FAMILIES] or FAMILIES[:1])
def test_token_classification_equals_transformers(family, tiny_dirs, tmp_path_factory):
    labels = dict(enumerate(LABELS))
    model_dir, torch_dir = _head(tiny_dirs(family), tmp_path_factory, family, "ForTokenClassification", "classifier",
                                 num_labels=len(LABELS), id2label=labels, label2id={v: k for k, v in labels.items()})
    ner = pipeline("ner", model=model_dir)
    compared, groups = 0, set()
    for strategy in ("none", "simple", "first", "average", "max"):
        ref, _ = _reference("token-classification", torch_dir, "ForTokenClassification",
                            aggregation_strategy=strategy)
        expected = ref(TEXTS)
        compared += _assert_same_nested(ner(TEXTS, aggregation_strategy=strategy), expected)
        groups.update(e.get("entity_group", e.get("entity")) for row in expected for e in row)
    assert len(groups) >= 2 and compared >= 20, (groups, compared)
    long_text = " ".join(TEXTS)
    ner.tokenizer.model_max_length = 16  # overflowing windows of 16 tokens, both sides
    for strategy in ("simple", "first", "max"):
        ref, fast = _reference("token-classification", torch_dir, "ForTokenClassification",
                               aggregation_strategy=strategy, stride=5)
        fast.model_max_length = 16
        assert len(fast(long_text, truncation=True, max_length=16, stride=5, return_overflowing_tokens=True)
                   ["input_ids"]) >= 3
        compared += _assert_same_nested(ner(long_text, aggregation_strategy=strategy, stride=5), ref(long_text))
    print(f"\n{family} token-classification: {compared} entities equal transformers'")


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_fill_mask_of_an_id_past_the_tokenizer_is_an_empty_token_as_transformers(family, tiny_dirs,
                                                                                 tmp_path_factory):
    """A model whose vocabulary is padded past its tokenizer's, predicting a padding id: the fast tokenizer that
    transformers' pipeline decodes with has no token there and drops it."""
    tiny = tiny_dirs(family)
    size = len(paddle_rembert.AutoTokenizer.from_pretrained(tiny))
    paddle.seed(7)
    model = auto_class("ForMaskedLM").from_pretrained(tiny, vocab_size=size + 6, ignore_mismatched_sizes=True)
    bias = next(p for name, p in model.named_parameters() if name.endswith("bias") and p.shape == [size + 6])
    bias.set_value(paddle.to_tensor([0.0] * (size + 4) + [60.0, 50.0]))  # the last two ids win
    out = str(tmp_path_factory.mktemp(f"{family}-padded-vocab"))
    model.save_pretrained(out)
    paddle_rembert.AutoTokenizer.from_pretrained(tiny).save_pretrained(out)
    convert_checkpoint(out, out + "-torch", to="torch", progress=False)
    ref, fast = _reference("fill-mask", out + "-torch", "ForMaskedLM")
    text = f"river stone {fast.mask_token} lamp"
    ours = pipeline("fill-mask", model=out)(text, top_k=3)
    assert [r["token"] for r in ours[:2]] == [size + 4, size + 5]
    assert _assert_same_nested(ours, ref(text, top_k=3)) >= 3


def test_fill_mask_and_feature_extraction_equal_transformers(tiny_dirs, tmp_path_factory):
    family = "bert" if "bert" in FAMILIES else FAMILIES[0]
    model_dir, torch_dir = _head(tiny_dirs(family), tmp_path_factory, family, "ForMaskedLM")
    ref, fast = _reference("fill-mask", torch_dir, "ForMaskedLM")
    mask = fast.mask_token
    texts = [f"river stone {mask} lamp paper garden", f"Café naïve {mask}: São Paulo, Zürich lamp!",
             f"{mask} river {mask} castle."]
    fill = pipeline("fill-mask", model=model_dir)
    compared = 0
    for kwargs in ({}, {"top_k": 2}, {"targets": ["river", "castle", "lamp"]}, {"targets": "garden", "top_k": 1}):
        compared += _assert_same_nested(fill(texts, **kwargs), ref(texts, **kwargs))
        compared += _assert_same_nested(fill(texts[0], **kwargs), ref(texts[0], **kwargs))
    with pytest.raises(PaddleRembertError, match="mask_token"):
        fill("no mask here")
    backbone = tiny_dirs(family)
    torch_backbone = str(tmp_path_factory.mktemp("fe")) + "/torch"
    convert_checkpoint(backbone, torch_backbone, to="torch", progress=False)
    fe_ref, _ = _reference("feature-extraction", torch_backbone, "")
    features = pipeline("feature-extraction", model=backbone)
    ours, expected = features(TEXTS), fe_ref(TEXTS)
    assert [np.asarray(r).shape for r in ours] == [np.asarray(r).shape for r in expected]
    np.testing.assert_allclose(np.concatenate([np.asarray(r)[0] for r in ours]),
                               np.concatenate([np.asarray(r)[0] for r in expected]), atol=1e-4, rtol=1e-4)
    assert features(TEXTS[0], return_tensors=True).shape == np.asarray(fe_ref(TEXTS[0])).shape
    print(f"\nfill-mask: {compared} predictions equal transformers'; feature-extraction: {len(TEXTS)} inputs")
    assert compared >= 30
