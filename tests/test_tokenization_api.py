"""transformers' public tokenizer API beyond ``__call__`` against the reference, for every family.

``add_special_tokens``, ``additional_special_tokens(_ids)``, ``get_added_vocab``,
``special_tokens_map_extended``, ``batch_encode_plus``, ``prepare_for_model``, the ``max_len_*``
properties, RoBERTa's per-call ``add_prefix_space``, ``is_split_into_words`` and WordPiece's
decoding of ids outside the vocabulary. Expected values come from transformers 4.46's slow
tokenizers (offsets and word ids of pre-split words: from the fast ones), on the vocabularies of
the other tokenizer tests (the real bert-base-uncased vocab.txt; the SentencePiece and byte-level
BPE models of ``test_tokenization_offsets``).
"""
import os

import numpy as np
import pytest
import transformers

from paddle_rembert.models.bert.tokenizer import BertTokenizer
from paddle_rembert.models.electra.tokenizer import ElectraTokenizer
from paddle_rembert.models.roberta.tokenizer import RobertaTokenizer
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.models.auto import AutoTokenizer
from paddle_rembert.tokenization.base import PreTrainedTokenizer

from .test_tokenization_offsets import NO_SYMBOLS, dirs, pair_of  # noqa: F401 (dirs is a fixture)
from .test_tokenization_wordpiece import REAL_DIR, make_texts

transformers.logging.set_verbosity_error()
FAMILIES = ["bert", "electra", "roberta", "albert", "rembert"]
TEXTS = make_texts(150, seed=51, tricky=0.15)
PAIRS_A, PAIRS_B = make_texts(80, seed=52, tricky=0.1), make_texts(80, seed=53, tricky=0.1)[::-1]
SLOW = {"bert": transformers.BertTokenizer, "electra": transformers.ElectraTokenizer,
        "roberta": transformers.RobertaTokenizer, "albert": transformers.AlbertTokenizer,
        "rembert": transformers.RemBertTokenizer}


def load(name, dirs, **kw):
    """(ours, transformers' slow tokenizer) of one family, from the same files."""
    if name in ("bert", "electra"):
        ours = {"bert": BertTokenizer, "electra": ElectraTokenizer}[name].from_pretrained(REAL_DIR, **kw)
        return ours, SLOW[name].from_pretrained(str(REAL_DIR), **kw)
    ours = RobertaTokenizer.from_pretrained(dirs / name, **kw) if name == "roberta" else \
        AutoTokenizer.from_pretrained(dirs / name, **kw)
    return ours, SLOW[name].from_pretrained(str(dirs / name), **kw)


def outcome(call):
    """The value of ``call()`` (a BatchEncoding as a dict), or ``"raises"`` when it raises (a user error)."""
    try:
        value = call()
    except (ValueError, TypeError, IndexError, AssertionError):
        return "raises"
    return dict(value) if isinstance(value, dict) else value


def plain(value):
    """A special-token value with its AddedToken fields (ours and tokenizers' AddedToken compare equal)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return value
    return {k: getattr(value, k) for k in ("content", "lstrip", "rstrip", "single_word", "normalized", "special")}


def fresh(tokens):
    """A new ``add_special_tokens`` dict: callables make new AddedTokens (transformers mutates the ones it gets)."""
    def make(t):
        return t() if callable(t) else t

    return {k: [make(t) for t in v] if isinstance(v, list) else make(v) for k, v in tokens.items()}


def same_specials(ours, ref):
    assert ours.additional_special_tokens == ref.additional_special_tokens
    assert ours.additional_special_tokens_ids == ref.additional_special_tokens_ids
    assert ours.all_special_tokens == ref.all_special_tokens and ours.all_special_ids == ref.all_special_ids
    assert ours.special_tokens_map == ref.special_tokens_map
    assert plain(ours.special_tokens_map_extended) == plain(ref.special_tokens_map_extended)
    assert list(ours.get_added_vocab().items()) == list(ref.get_added_vocab().items())
    assert len(ours) == len(ref) and ours.get_vocab() == ref.get_vocab()
    assert {i: plain(t) for i, t in ours.added_tokens_decoder.items()} == \
        {i: plain(t) for i, t in ref.added_tokens_decoder.items()}


# ----------------------------------------------------------------------------------- finding 1: the missing API
@pytest.mark.parametrize("name", FAMILIES)
def test_properties_match_reference(dirs, name):
    ours, ref = load(name, dirs, model_max_length=128)
    same_specials(ours, ref)
    assert ours.is_fast is ref.is_fast is False
    for pair in (False, True):
        attr = "max_len_sentences_pair" if pair else "max_len_single_sentence"
        assert getattr(ours, attr) == getattr(ref, attr) == 128 - ref.num_special_tokens_to_add(pair)
        setattr(ours, attr, getattr(ours, attr))  # the reference tolerates the current value only
        with pytest.raises(ValueError):
            setattr(ours, attr, 7)
    unbounded, _ = load(name, dirs)
    assert unbounded.max_len_single_sentence == SLOW[name].from_pretrained(
        str(REAL_DIR if name in ("bert", "electra") else dirs / name)).max_len_single_sentence
    text = "a , b . c ! d ? I 'm sure it 's ok , don 't you ' re we 've"
    assert ours.clean_up_tokenization(text) == type(ours).clean_up_tokenization(text) == \
        PreTrainedTokenizer.clean_up_tokenization(text) == ref.clean_up_tokenization(text)


@pytest.mark.parametrize("name", FAMILIES)
def test_add_special_tokens_matches_reference(dirs, name, tmp_path):
    ours, ref = load(name, dirs)
    texts = [t + " <ent> x </ent>y <X> [NEW] <m>z " + p for t, p in zip(TEXTS[:60], PAIRS_B)]
    steps = [
        ({}, {}),
        ({"additional_special_tokens": ["<ent>", "</ent>"]}, {}),
        ({"additional_special_tokens": ["<X>"]}, {}),  # replaces the list; <ent> stays an added token
        ({"additional_special_tokens": ["<ent>", "[NEW]"]}, dict(replace_additional_special_tokens=False)),
        ({"additional_special_tokens": []}, {}),  # an empty list changes nothing
        ({"pad_token": ref.pad_token, "unk_token": ref.unk_token}, {}),  # already in the vocabulary: nothing new
        ({"cls_token": "<cls2>", "mask_token": lambda: transformers.AddedToken("<m>", lstrip=True)}, {}),
        ({"additional_special_tokens": [lambda: transformers.AddedToken("[NEW]", rstrip=True), "<ent>"]}, {}),
    ]
    for tokens, kw in steps:
        assert ours.add_special_tokens(fresh(tokens), **kw) == ref.add_special_tokens(fresh(tokens), **kw), tokens
        same_specials(ours, ref)
        assert [ours.tokenize(t) for t in texts] == [ref.tokenize(t) for t in texts], tokens
        ids = ref(texts, PAIRS_A[:60])["input_ids"]
        assert ours(texts, PAIRS_A[:60])["input_ids"] == ids, tokens
        for skip in (False, True):
            assert ours.batch_decode(ids, skip_special_tokens=skip) == ref.batch_decode(ids, skip_special_tokens=skip)
    assert ours.cls_token == "<cls2>" and ours.cls_token_id == ref.cls_token_id >= ref.vocab_size
    ours.save_pretrained(tmp_path)
    again = SLOW[name].from_pretrained(str(tmp_path))
    assert again.additional_special_tokens == ref.additional_special_tokens
    assert again(texts)["input_ids"] == ref(texts)["input_ids"]
    for bad in ({"foo_token": "x"}, {"additional_special_tokens": "<a>"}, {"pad_token": 5}):
        with pytest.raises(PaddleRembertError):
            ours.add_special_tokens(bad)


@pytest.mark.parametrize("name", FAMILIES)
def test_batch_encode_plus_matches_reference(dirs, name):
    ours, ref = load(name, dirs)
    pairs = list(zip(PAIRS_A, PAIRS_B))
    for kw in ({}, dict(padding=True, return_special_tokens_mask=True, return_length=True),
               dict(truncation="only_first", max_length=24, padding="max_length", padding_side="left"),
               dict(truncation=True, max_length=12, add_special_tokens=False)):
        assert dict(ours.batch_encode_plus(TEXTS, **kw)) == dict(ref.batch_encode_plus(TEXTS, **kw)), kw
        assert dict(ours.batch_encode_plus(pairs, **kw)) == dict(ref.batch_encode_plus(pairs, **kw)), kw
    got = ours.batch_encode_plus(["a b", "c"], padding=True, return_tensors="np")
    want = ref.batch_encode_plus(["a b", "c"], padding=True, return_tensors="np")
    assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in want.items()}
    assert dict(ours.encode_plus(PAIRS_A[0], PAIRS_B[0])) == dict(ref.encode_plus(PAIRS_A[0], PAIRS_B[0]))


@pytest.mark.parametrize("name", FAMILIES)
def test_prepare_for_model_matches_reference(dirs, name):
    ours, ref = load(name, dirs)
    a = ref.encode(" ".join(PAIRS_A[10:20]), add_special_tokens=False)[:20]
    b = ref.encode(" ".join(PAIRS_B[10:15]), add_special_tokens=False)[:6]
    assert len(a) == 20 and len(b) == 6
    compared = 0
    for pair in (None, b):
        for truncation in (None, True, "only_first", "only_second", "longest_first", False):
            for max_length, stride in ((None, 0), (9, 0), (10, 2), (len(a) + 20, 1)):
                for overflow in (False, True):
                    for extra in ({}, dict(padding="max_length", return_special_tokens_mask=True, return_length=True),
                                  dict(add_special_tokens=False, padding=True, padding_side="left")):
                        if overflow and max_length is None:
                            continue  # the reference fails on None arithmetic; ours raises a clear error
                        kw = dict(truncation=truncation, max_length=max_length, stride=stride,
                                  return_overflowing_tokens=overflow, **extra)
                        want = outcome(lambda: ref.prepare_for_model(list(a), pair and list(pair), **kw))
                        got = outcome(lambda: ours.prepare_for_model(list(a), pair and list(pair), **kw))
                        assert got == want, (pair is not None, kw)
                        compared += want != "raises"
    assert compared > 150
    ids = np.array(a[:5])  # numpy ids and tensors with a batch axis
    got = ours.prepare_for_model(ids, return_tensors="np", prepend_batch_axis=True)
    want = ref.prepare_for_model(a[:5], return_tensors="np", prepend_batch_axis=True)
    assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in want.items()}
    assert outcome(lambda: ours.prepare_for_model(a, return_token_type_ids=True, add_special_tokens=False)) == \
        outcome(lambda: ref.prepare_for_model(a, return_token_type_ids=True, add_special_tokens=False)) == "raises"
    with pytest.raises(PaddleRembertError, match="list of token ids"):
        ours.prepare_for_model("not ids")


# ------------------------------------------------------------------------------ finding 2: RoBERTa's add_prefix_space
@pytest.mark.parametrize("init_prefix", [False, True])
def test_roberta_add_prefix_space_per_call_matches_reference(dirs, init_prefix):
    ours, ref = load("roberta", dirs, add_prefix_space=init_prefix)
    texts = TEXTS[:100] + ["Hello world", " leading", "<mask> first", "x <mask>", ""]
    for per_call in (True, False):
        kw = dict(add_prefix_space=per_call)
        assert [ours.tokenize(t, **kw) for t in texts] == [ref.tokenize(t, **kw) for t in texts]
        assert dict(ours(texts, **kw)) == dict(ref(texts, **kw))
        assert dict(ours(PAIRS_A, PAIRS_B, truncation=True, max_length=20, **kw)) == \
            dict(ref(PAIRS_A, PAIRS_B, truncation=True, max_length=20, **kw))
        assert [ours.encode(t, **kw) for t in texts[:40]] == [ref.encode(t, **kw) for t in texts[:40]]
        assert dict(ours.encode_plus(texts[0], texts[1], **kw)) == dict(ref.encode_plus(texts[0], texts[1], **kw))
        assert dict(ours.batch_encode_plus(texts, **kw)) == dict(ref.batch_encode_plus(texts, **kw))
        # offsets and word ids follow the per-call value as they follow the init one
        same, _ = load("roberta", dirs, add_prefix_space=per_call)
        got, want = ours(texts, return_offsets_mapping=True, **kw), same(texts, return_offsets_mapping=True)
        assert dict(got) == dict(want)
        plain_call = ours(texts, **kw)
        assert all(got.word_ids(i) == want.word_ids(i) == plain_call.word_ids(i) for i in range(len(texts)))
    assert ours.add_prefix_space is init_prefix  # the call's value does not stick
    assert dict(ours(texts)) == dict(ref(texts))


# ------------------------------------------------------------------------------ finding 4: ids outside the vocabulary
def test_out_of_range_ids_decode_as_reference(dirs):
    """WordPiece gives the unk token for any id it lacks (-100 label padding, past the end), as BertTokenizer;
    the other references raise, and so do we."""
    for name in FAMILIES:
        ours, ref = load(name, dirs)
        n = ref.vocab_size
        rows = [[ref.cls_token_id, 7, -100, -100, ref.sep_token_id], [ref.cls_token_id, n, n + 5, 10 ** 6, -1]]
        if name in ("bert", "electra"):
            for ids in rows:
                assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
                for skip in (False, True):
                    assert ours.convert_ids_to_tokens(ids, skip_special_tokens=skip) == \
                        ref.convert_ids_to_tokens(ids, skip_special_tokens=skip)
                    assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)
                    assert ours.decode(np.array(ids), skip_special_tokens=skip) == \
                        ref.decode(ids, skip_special_tokens=skip)
            for skip in (False, True):
                assert ours.batch_decode(rows, skip_special_tokens=skip) == ref.batch_decode(rows,
                                                                                           skip_special_tokens=skip)
            for idx in (-100, n, 10 ** 6):
                assert ours.convert_ids_to_tokens(idx) == ref.convert_ids_to_tokens(idx) == ref.unk_token
                assert ours.decode(idx) == ref.decode(idx)
        else:
            for ids in rows:
                assert outcome(lambda: ref.decode(ids)) == "raises"
                with pytest.raises(PaddleRembertError, match="out of range"):
                    ours.decode(ids)
            if name == "roberta":  # its decoder.get: None for an id it lacks, in slow and fast alike
                assert ours.convert_ids_to_tokens(rows[1]) == ref.convert_ids_to_tokens(rows[1])
                assert ours.convert_ids_to_tokens(n + 5) is ref.convert_ids_to_tokens(n + 5) is None


# ------------------------------------------------------------------------------ pad(), positional order, warnings
@pytest.mark.parametrize("name", ["bert", "albert"])
def test_pad_takes_rows_of_arrays_and_tensors_as_the_reference(dirs, name):
    import paddle

    ours, ref = load(name, dirs)
    rows = [ref(t)["input_ids"] for t in TEXTS[:5]]
    expected = ref.pad([{"input_ids": r} for r in rows])
    as_lists = dict(ref.pad([{"input_ids": r, "attention_mask": [1] * len(r)} for r in rows]))
    for convert, kind in ((np.array, np.ndarray), (paddle.to_tensor, paddle.Tensor), (tuple, list)):
        examples = [{"input_ids": convert(r), "attention_mask": convert([1] * len(r))} for r in rows]
        padded = ours.pad(examples)  # arrays and tensors come back as such, as transformers returns them
        assert all(isinstance(v, kind) for v in padded.values())
        assert {k: np.asarray(v).tolist() for k, v in padded.items()} == as_lists
        assert {k: np.asarray(v).tolist() for k, v in ours.pad([{"input_ids": convert(r)} for r in rows]).items()} \
            == dict(expected)
        assert ours.pad([{"input_ids": convert(r)} for r in rows], return_tensors="np")["input_ids"].tolist() == \
            expected["input_ids"]
    np_rows = [{"input_ids": np.array(r)} for r in rows]
    assert type(ours.pad(np_rows)["input_ids"]) is type(ref.pad(np_rows)["input_ids"]) is np.ndarray
    batch_of_one = [ours(t, return_tensors="np") for t in TEXTS[:2]]  # [1, n] each: one level too deep
    with pytest.raises(PaddleRembertError, match=r"^pad\(\): input_ids of example 0 must be one sequence of ints"):
        ours.pad(batch_of_one)
    with pytest.raises(PaddleRembertError, match="example 1 lacks keys that example 0 has"):
        ours.pad([{"input_ids": rows[0]}, {"attention_mask": [1]}])
    extra = [{"input_ids": rows[0]}, {"input_ids": rows[1], "label": 1}]  # example 0's keys, as transformers
    assert dict(ours.pad(extra)) == dict(ref.pad(extra))
    with pytest.raises(PaddleRembertError, match="input_ids of example 1 must be one sequence of ints"):
        ours.pad([{"input_ids": rows[0]}, {"input_ids": None}])


def test_positional_arguments_follow_the_references_order(dirs):
    ours, ref = load("bert", dirs)
    a, b = TEXTS[0], TEXTS[1]
    assert ours.encode_plus(a, b, False)["input_ids"] == ref.encode_plus(a, b, False)["input_ids"]
    assert ours.encode_plus(a, b, True, "max_length", True, 12)["input_ids"] == \
        ref.encode_plus(a, b, True, "max_length", True, 12)["input_ids"]
    assert ours.batch_encode_plus([a, b], False)["input_ids"] == ref.batch_encode_plus([a, b], False)["input_ids"]
    assert ours.encode(a, b, True, False, True, 9, 0, "left") == ref.encode(a, b, True, False, True, 9, 0, "left")
    ids = ref([a, b])["input_ids"]
    assert ours.batch_decode(ids, True) == ref.batch_decode(ids, True)
    with pytest.raises(PaddleRembertError, match="text_target='target' is not supported"):
        ours(a, b, "target")  # transformers' third argument: labels for sequence-to-sequence models
    assert ours(a, b, None, None, False)["input_ids"] == ref(a, b, None, None, False)["input_ids"]
    with pytest.raises(TypeError):
        ours.tokenize(a, "a pair")  # as the slow reference (its only positional argument is the text)
    with pytest.raises(TypeError, match="multiple values for argument 'add_special_tokens'"):
        ours.encode_plus(a, b, False, add_special_tokens=True)
    with pytest.raises(PaddleRembertError, match=r"encode_plus\(\) takes one text"):
        ours.encode_plus([a, b])


def test_too_long_and_uncuttable_inputs_are_logged_as_the_reference_logs_them(dirs, caplog):
    ours, _ = load("bert", dirs)  # the real bert-base vocabulary: model_max_length 512
    long_text = " ".join(TEXTS * 3)
    with caplog.at_level("WARNING", logger="paddle_rembert"):
        n = len(ours(long_text)["input_ids"])
        ours([long_text, long_text])
        ours(long_text, return_offsets_mapping=True)
        ours(long_text, truncation=True)
    assert n > 512
    too_long = [r.getMessage() for r in caplog.records if "Token indices sequence length" in r.getMessage()]
    assert too_long == [f"Token indices sequence length is longer than the specified maximum sequence length for "
                        f"this model ({n} > 512). Running this sequence through the model will result in indexing "
                        f"errors"]  # once per tokenizer, as transformers
    fresh_tok, _ = load("bert", dirs)
    caplog.clear()
    with caplog.at_level("WARNING", logger="paddle_rembert"):
        fresh_tok(long_text, verbose=False)
        assert fresh_tok("a b c d e f", "g", truncation="only_second", max_length=5)["input_ids"] == \
            fresh_tok("a b c d e f", "g")["input_ids"]  # kept whole, as the slow reference keeps it
        fresh_tok("a b c d", truncation="only_second", max_length=3)  # no pair: nothing to cut, nothing said
        fresh_tok("a b c", truncation=True, max_length=1)  # longest_first already: no advice to use it
    assert [r.getMessage() for r in caplog.records] == [
        "cannot truncate to max_length: the second sequence has 1 token and 5 must go; it is kept whole "
        "(use truncation='longest_first')",
        "cannot truncate to max_length: the first sequence has 3 tokens and 4 must go; it is kept whole"]


def test_add_tokens_takes_nothing_and_names_a_wrong_type(dirs):
    ours, ref = load("bert", dirs)
    assert ours.add_tokens(None) == ref.add_tokens(None) == 0 and ours.add_tokens([]) == 0
    for bad, which in ((5, "a token"), ([5], "a token")):
        with pytest.raises(PaddleRembertError, match=f"^{which} must be a str or AddedToken, got int$"):
            ours.add_tokens(bad)
    with pytest.raises(PaddleRembertError, match="^a special token must be"):
        ours.add_tokens([5], special_tokens=True)


def test_loading_options_are_taken_not_saved_and_subfolder_is_read(dirs, tmp_path):
    import json
    import shutil

    shutil.copytree(dirs / "albert", tmp_path / "repo" / "tok")
    options = dict(use_fast=False, cache_dir=str(tmp_path / "cache"), local_files_only=True, trust_remote_code=False,
                   revision="main", force_download=False, from_hf_hub=True)  # the last: PaddleNLP's
    albert_class = type(AutoTokenizer.from_pretrained(dirs / "albert"))
    for load_it in (AutoTokenizer.from_pretrained, albert_class.from_pretrained):
        tok = load_it(tmp_path / "repo", subfolder="tok", **options)
        assert tok("a b c")["input_ids"] == AutoTokenizer.from_pretrained(dirs / "albert")("a b c")["input_ids"]
        tok.save_pretrained(tmp_path / "saved")
        saved = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
        assert not set(options) & set(saved) and "subfolder" not in saved
    with pytest.raises(PaddleRembertError, match="has no subfolder 'nope'"):
        AutoTokenizer.from_pretrained(tmp_path / "repo", subfolder="nope")
    with pytest.raises(PaddleRembertError, match="subfolder must be a relative path"):
        AutoTokenizer.from_pretrained(tmp_path / "repo", subfolder="../repo")
    with pytest.raises(PaddleRembertError, match="from_aistudio is not supported"):
        AutoTokenizer.from_pretrained(tmp_path / "repo", subfolder="tok", from_aistudio=True)


# ----------------------------------------------------------------------------------- is_split_into_words
def word_lists(texts, for_fast=False):
    # for the fast SentencePiece tokenizers, without ALBERT's user-defined symbols (added tokens there, other ids)
    # and control characters (they shift the fast spans), as test_tokenization_offsets does
    texts = [t.translate(NO_SYMBOLS) for t in texts] if for_fast else texts
    return [t.split() for t in texts if t.split()]


@pytest.mark.parametrize("name", FAMILIES)
def test_is_split_into_words_matches_reference(dirs, name):
    ours, ref = load(name, dirs)
    words, pair_words = word_lists(TEXTS)[:80], word_lists(PAIRS_B)[:80]
    words[:3] = [["Hello", "world!", "naïve"], ["a", "", "[MASK]", "b"], ["x"]]  # an empty word, a special token
    n = min(len(words), len(pair_words))
    kw = dict(is_split_into_words=True)
    for options in ({}, dict(padding=True, truncation=True, max_length=16, return_special_tokens_mask=True),
                    dict(padding="max_length", max_length=40, truncation="only_second", padding_side="left")):
        if "only_second" not in str(options):
            assert dict(ours(words, **kw, **options)) == dict(ref(words, **kw, **options)), options
            assert [dict(ours(w, **kw, **options)) for w in words[:20]] == \
                [dict(ref(w, **kw, **options)) for w in words[:20]]
        assert dict(ours(words[:n], pair_words[:n], **kw, **options)) == \
            dict(ref(words[:n], pair_words[:n], **kw, **options)), options
        assert dict(ours(words[0], pair_words[0], **kw, **options)) == \
            dict(ref(words[0], pair_words[0], **kw, **options))
    assert [ours.encode(w, **kw) for w in words[:20]] == [ref.encode(w, **kw) for w in words[:20]]
    pairs = list(zip(words[:n], pair_words[:n]))
    assert dict(ours.batch_encode_plus(pairs, **kw)) == dict(ref.batch_encode_plus(pairs, **kw))
    assert dict(ours.batch_encode_plus(words, **kw)) == dict(ref.batch_encode_plus(words, **kw))
    assert [ours.tokenize(w, **kw) for w in words[0]] == [ref.tokenize(w, **kw) for w in words[0]]
    for bad in (lambda: ours("not split", **kw), lambda: ours([], **kw), lambda: ours([["a"], []], **kw),
                lambda: ours([["a"], ["b"]], [["c"]], **kw)):
        with pytest.raises(PaddleRembertError, match="is_split_into_words|word lists"):
            bad()


@pytest.mark.parametrize("name", ["bert", "roberta", "albert", "rembert"])
def test_is_split_into_words_offsets_and_word_ids_match_fast(dirs, name):
    """Offsets within each word and word ids indexing the word list, as the fast tokenizers give them."""
    ours, fast = pair_of(name, dirs, **(dict(add_prefix_space=True) if name == "roberta" else {}))
    kw = dict(is_split_into_words=True)
    sp = name in ("albert", "rembert")
    words, pair_words = ([w for w in word_lists(texts, sp) if ours(w, **kw)["input_ids"] == fast(w, **kw)["input_ids"]]
                         for texts in (TEXTS, PAIRS_B))
    n = min(len(words), len(pair_words), 60)
    assert n > 30
    words, pair_words = words[:n], pair_words[:n]
    for args, options in (((words,), dict(return_offsets_mapping=True)),
                          ((words, pair_words), dict(return_offsets_mapping=True, padding=True)),
                          ((words,), dict(truncation=True, max_length=16, stride=4, return_overflowing_tokens=True,
                                          return_offsets_mapping=True))):
        got, want = ours(*args, **kw, **options), fast(*args, **kw, **options)
        plain_call = ours(*args, **kw, **{k: v for k, v in options.items() if "return_" not in k})
        assert dict(got) == dict(want), options
        for i in range(len(want["input_ids"])):
            assert got.word_ids(i) == want.word_ids(i) and got.sequence_ids(i) == want.sequence_ids(i)
            if "return_overflowing_tokens" not in options:
                assert plain_call.word_ids(i) == want.word_ids(i)
    if name == "bert":
        assert ours(["Hello", "world!"], **kw).word_ids() == [None, 0, 1, 1, None]


def test_legacy_api_corners_match_the_slow_reference(dirs, tmp_path):
    ours, ref = load("albert", dirs)
    assert ours.sanitize_special_tokens() == ref.sanitize_special_tokens() == 0
    enc, ref_enc = ours("a b"), ref("a b")
    assert enc.is_fast is ref_enc.is_fast is False and enc.encodings is ref_enc.encodings is None
    written = ours.save_pretrained(tmp_path / "legacy", True)  # transformers' second argument: legacy_format
    assert all(os.path.isfile(f) for f in written) and not (tmp_path / "legacy" / "True-tokenizer_config.json").exists()
    with pytest.raises(ValueError):
        ref.save_pretrained(str(tmp_path / "ref"), legacy_format=False)
    with pytest.raises(PaddleRembertError, match="legacy_format=False"):
        ours.save_pretrained(tmp_path / "fast-only", legacy_format=False)


def test_a_large_batch_leaves_the_garbage_collector_to_the_other_threads():
    """A server tokenizes in several threads: no call may switch the process's collector off, even for a
    moment (it once paused it around batches of 256 texts and more, for every thread)."""
    import gc
    import threading

    ours = BertTokenizer.from_pretrained(REAL_DIR)
    texts = make_texts(2000, seed=54)
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            seen.add(gc.isenabled())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):
            assert len(ours(texts, texts[::-1], truncation=True, max_length=64, padding=True)["input_ids"]) == 2000
    finally:
        done.set()
        watcher.join()
    assert seen == {True}
