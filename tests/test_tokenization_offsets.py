"""Offsets, overflow windows, sequence ids and word ids against transformers' *fast* tokenizers.

The ids are the slow reference's; the fast tokenizers (BertTokenizerFast, RobertaTokenizerFast
with ``trim_offsets=True``, AlbertTokenizerFast, RemBertTokenizerFast) are the yardstick for what
they add, on every input where their ids equal the slow ones. Every expected value comes from them.
"""
import numpy as np
import pytest
import transformers

from paddle_rembert.models import registry
from paddle_rembert.models.bert.tokenizer import BertTokenizer
from paddle_rembert.models.roberta.tokenizer import RobertaTokenizer
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.models.auto import AutoTokenizer
from paddle_rembert.tokenization.sentencepiece_train import train_sentencepiece, write_tokenizer_dir

from .test_tokenization_wordpiece import REAL_DIR, fixture_sentences, make_texts

transformers.logging.set_verbosity_error()
# ALBERT's user-defined pieces are added tokens in its fast tokenizer (other ids); control characters and CR
# shift the fast SentencePiece tokenizers' own spans (a defect of theirs, not a convention to copy)
NO_SYMBOLS = str.maketrans("", "", '().-"\u2013\u00a3\u20ac\x00\x07\x1c\x85\r')
TEXTS = make_texts(900, seed=41, tricky=0.2) + make_texts(500, seed=42, tricky=0.05, nfd_share=0.05)
PAIRS_A = [t.translate(NO_SYMBOLS).strip() for t in make_texts(300, seed=43, tricky=0.05)]
PAIRS_B = [t.translate(NO_SYMBOLS).strip() for t in make_texts(300, seed=44, tricky=0.05)][::-1]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    from tokenizers import ByteLevelBPETokenizer

    root = tmp_path_factory.mktemp("offsets")
    corpus = fixture_sentences() + make_texts(2000, seed=7)
    for layout in ("albert", "rembert"):
        spm_layout = registry.get(layout).tokenizer_layout
        model = train_sentencepiece(corpus, root / f"{layout}-spm", layout=spm_layout, vocab_size=3000)
        write_tokenizer_dir(model, root / layout, layout=spm_layout)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=3000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    (root / "roberta").mkdir()
    bpe.save_model(str(root / "roberta"))
    return root


def pair_of(name, dirs, **kw):
    """(ours, transformers' fast tokenizer) of one backend."""
    if name == "bert":
        return BertTokenizer.from_pretrained(REAL_DIR, **kw), transformers.BertTokenizerFast.from_pretrained(
            str(REAL_DIR), **kw)
    if name == "roberta":
        d = dirs / "roberta"
        return RobertaTokenizer.from_pretrained(d, **kw), transformers.RobertaTokenizerFast(
            str(d / "vocab.json"), str(d / "merges.txt"), trim_offsets=True, **kw)
    fast_cls = {"albert": transformers.AlbertTokenizerFast, "rembert": transformers.RemBertTokenizerFast}[name]
    return AutoTokenizer.from_pretrained(dirs / name, **kw), fast_cls.from_pretrained(str(dirs / name), from_slow=True,
                                                                                       **kw)


def compare_details(ours, fast, texts, pairs=None, **kw):
    """Rows where the ids agree: number compared and the first mismatches of offsets/word/sequence ids."""
    args = (texts,) if pairs is None else (texts, pairs)
    got, want = ours(*args, return_offsets_mapping=True, **kw), fast(*args, return_offsets_mapping=True, **kw)
    plain = ours(*args, **kw)
    assert got["input_ids"] == plain["input_ids"]  # the flags never change the ids
    compared, bad = 0, []
    for i, text in enumerate(texts):
        if got["input_ids"][i] != want["input_ids"][i]:
            continue
        compared += 1
        mine = (got["offset_mapping"][i], got.word_ids(i), got.sequence_ids(i), plain.word_ids(i),
                plain.sequence_ids(i))
        theirs = (want["offset_mapping"][i], want.word_ids(i), want.sequence_ids(i), want.word_ids(i),
                  want.sequence_ids(i))
        if mine != theirs:
            bad.append((text, ours.convert_ids_to_tokens(got["input_ids"][i]), mine[:2], theirs[:2]))
    return compared, bad[:3]


@pytest.mark.parametrize("options", [{}, dict(do_lower_case=False), dict(do_lower_case=False, strip_accents=True)])
def test_wordpiece_offsets_match_fast(dirs, options):
    ours, fast = pair_of("bert", dirs, **options)
    compared, bad = compare_details(ours, fast, TEXTS)
    assert bad == [] and compared > 0.8 * len(TEXTS)


@pytest.mark.parametrize("name", ["albert", "rembert"])
def test_sentencepiece_offsets_of_letters_with_several_marks(dirs, name):
    """A word ending in a base letter with marks that the normaliser rewrites as one (a + diaeresis + acute ->
    ä + acute) spans up to the base letter, as the fast tokenizers align it; marks left as they are keep their
    own characters. (Leftover marks that start a piece of their own, inside a word, are not covered.)"""
    ours, fast = pair_of(name, dirs)
    rng = np.random.RandomState(4)
    marks = ["\u0301", "\u0327", "\u0300", "\u0308", "\u0323", "\u0302"]

    def word():
        return rng.choice(["", "river", "1990", "b"]) + rng.choice(list("aeoqx.") + ["\u00e4"]) + "".join(
            rng.choice(marks, size=rng.randint(0, 4)))

    texts = ["river a\u0308\u0301", "1990a\u0308\u0301", "a\u0301\u0327", "q\u0323\u0301"] + [
        " ".join(word() for _ in range(rng.randint(1, 4))) for _ in range(600)]
    compared, bad = compare_details(ours, fast, texts)
    assert bad == [] and compared > 0.6 * len(texts)  # ALBERT's slow and fast part on some ids of stacked marks


@pytest.mark.parametrize("name", ["bert", "albert", "rembert", "roberta"])
@pytest.mark.parametrize("special", [False, True])
def test_added_tokens_spans_cover_the_whitespace_they_strip(dirs, name, special):
    """An added token's span covers the whitespace its lstrip and rstrip took, on either side, as the fast
    tokenizers count it (RoBERTa's trims it off again)."""
    texts = ["a <ent> b", "a  <ent>  b", "<ent> b", "a <ent>", "a\t<ent>\nb", "x<ent>y", "a <ent> <ent> b",
             " <ent> ", "a <x> b", "a <x> <ent> b"]
    compared = 0
    for lstrip, rstrip in ((True, True), (True, False), (False, True)):
        ours, fast = pair_of(name, dirs)
        for tok in (ours, fast):
            added = [transformers.AddedToken("<ent>", lstrip=lstrip, rstrip=rstrip, normalized=False),
                     transformers.AddedToken("<x>", lstrip=rstrip, rstrip=lstrip, normalized=False)]
            if special:
                tok.add_special_tokens({"additional_special_tokens": added})
            else:
                tok.add_tokens(added)
        n, bad = compare_details(ours, fast, texts, add_special_tokens=False)
        assert bad == []
        compared += n
    assert compared >= 2 * len(texts)  # the SentencePiece slow and fast tokenizers part on some ids


@pytest.mark.parametrize("options", [dict(do_lower_case=False), dict(strip_accents=False)])
def test_wordpiece_offsets_of_marks_that_nfc_leaves_alone(dirs, options):
    """A combining mark after punctuation (or any base it does not compose with) has its own span, also where
    NFC composes elsewhere in the word or reorders the marks; random strings of bases and marks."""
    ours, fast = pair_of("bert", dirs, **options)
    rng = np.random.RandomState(3)
    pieces = list("ea.?/xE-") + ["\u00e9", "\u1100", "\u1161", "\u11a8"] + \
        ["\u0301", "\u0327", "\u0300", "\u0308", "\u0323", "\u0302"]
    texts = ["Cafe\u0301.\u0301", "\u00e9?\u0300", "a.\u0301\u0327b", "\u1100\u1161\u11a8/\u0300x"] + [
        "".join(rng.choice(pieces, size=rng.randint(1, 9))) for _ in range(600)]
    compared, bad = compare_details(ours, fast, texts)
    assert bad == [] and compared > 0.9 * len(texts)


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_bpe_offsets_match_fast(dirs, add_prefix_space):
    ours, fast = pair_of("roberta", dirs, add_prefix_space=add_prefix_space)
    texts = TEXTS + ["hello <mask> there", "x <mask>", "<mask>", "  two  spaces  ", "a\n\nb", "😀 x"]
    if add_prefix_space:
        # RobertaTokenizerFast shifts the spans after "<one whitespace><added token>" at the start of the text
        texts = [t for t in texts if not (t[:1].isspace() and t[1:2] == "<" and t[1:].lstrip()[:1] == "<")]
    compared, bad = compare_details(ours, fast, texts)
    assert bad == [] and compared > 0.8 * len(texts)


@pytest.mark.parametrize("name", ["albert", "rembert"])
def test_sentencepiece_offsets_match_fast(dirs, name):
    ours, fast = pair_of(name, dirs)
    # a trailing space is a piece of the fast tokenizers only (other ids): the texts are stripped
    texts = [t.translate(NO_SYMBOLS).strip() for t in TEXTS] + [
        "hello world", "  two  spaces ", "Café  naïve ÉTÉ", "He said ``hi'' ok", "x [MASK] y",
        "In 2000, 3,000 and 1,2,3",
        "…\u3000ﬁne\xa0 [MASK]", "e\u0301t\u00e9 A\u0308"]
    compared, bad = compare_details(ours, fast, texts)
    assert bad == [] and compared > 0.3 * len(texts)  # the fast ids differ on many hard strings (see test_tokenization)


@pytest.mark.parametrize("name, padding_side", [("bert", "left"), ("roberta", "right"), ("albert", "left"),
                                                ("rembert", "right")])
def test_pairs_sequence_ids_and_word_ids_match_fast(dirs, name, padding_side):
    ours, fast = pair_of(name, dirs, padding_side=padding_side)
    a, b = agreeing_pairs(ours, fast)
    got = ours(a, b, padding=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    want = fast(a, b, padding=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    assert dict(got) == dict(want)
    plain = ours(a, b, padding=True)
    for i in range(len(a)):
        assert got.sequence_ids(i) == want.sequence_ids(i) == plain.sequence_ids(i)
        assert got.word_ids(i) == want.word_ids(i) == plain.word_ids(i)
    assert set().union(*(want.sequence_ids(i) for i in range(len(a)))) == {None, 0, 1}


def agreeing_pairs(ours, fast):
    """Pairs whose two texts both get the fast tokenizer's ids (so windows are comparable row by row)."""
    ok = [i for i, (x, y) in enumerate(zip(PAIRS_A, PAIRS_B)) if
          ours(x)["input_ids"] == fast(x)["input_ids"] and ours(y)["input_ids"] == fast(y)["input_ids"]]
    assert len(ok) > 40
    return [PAIRS_A[i] for i in ok], [PAIRS_B[i] for i in ok]


def fast_or_none(fast, *args, **kw):
    """The fast tokenizer's encoding, or None when it refuses (a Rust panic is a BaseException)."""
    try:
        return fast(*args, **kw)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None


@pytest.mark.parametrize("name", ["bert", "roberta", "albert"])
def test_overflow_windows_match_fast(dirs, name):
    ours, fast = pair_of(name, dirs)
    a, b = agreeing_pairs(ours, fast)
    long_a = [" ".join(t for t in (x, y, x) if t) for x, y in zip(a, b)]  # long enough for several windows
    keep = [i for i, t in enumerate(long_a) if ours(t)["input_ids"] == fast(t)["input_ids"]]
    assert len(keep) > 30
    a, b, long_a = ([seq[i] for i in keep] for seq in (a, b, long_a))
    checked = 0
    for side in ("right", "left"):
        ours.truncation_side = fast.truncation_side = side
        for truncation in ("only_second", "only_first", "longest_first"):
            for max_length, stride, padding in ((40, 8, False), (24, 0, True), (64, 16, "max_length")):
                kw = dict(truncation=truncation, max_length=max_length, stride=stride, padding=padding,
                          return_overflowing_tokens=True, return_offsets_mapping=True,
                          return_special_tokens_mask=True)
                first, second = (a, long_a) if truncation == "only_second" else (long_a, b)
                want = fast_or_none(fast, first, second, **kw)
                if want is None:  # the Rust side refuses (stride too large / sequence too short): so do we
                    with pytest.raises(PaddleRembertError):
                        ours(first, second, **kw)
                    continue
                got = ours(first, second, **kw)
                assert dict(got) == dict(want), (side, kw)
                assert all(got.sequence_ids(i) == want.sequence_ids(i) and got.word_ids(i) == want.word_ids(i)
                           for i in range(len(want["input_ids"])))
                checked += len(want["input_ids"]) > len(first)
    assert checked >= 6  # windows really overflowed


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_tiny_max_length_and_large_stride_match_fast(dirs, name):
    """``max_length`` at, below and just above the special tokens' count and ``stride`` up to and past the room:
    ours gives the fast tokenizer's rows where it gives rows, and refuses where it refuses (a ValueError for a
    stride above max_length less one text's specials, whether or not anything is cut; a Rust panic for a stride
    equal to the room). With ``max_length`` below the specials nothing is cut, as there (and in the slow ones)."""
    ours, fast = pair_of(name, dirs)
    texts = ["hello world", "hello world this is a long sentence indeed and it goes on"]
    compared = refused = 0
    for max_length in range(1, 9):
        for stride in range(0, 8):
            for text, pair in [(t, None) for t in texts] + [(texts[1], "and another one"), (texts[0], texts[1])]:
                kw = dict(truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True,
                          return_offsets_mapping=True)
                try:
                    want = fast(text, pair, **kw)
                except BaseException:  # noqa: B036  ValueError, or pyo3's PanicException (a BaseException)
                    with pytest.raises(PaddleRembertError):
                        ours(text, pair, **kw)
                    refused += 1
                    continue
                assert dict(ours(text, pair, **kw)) == dict(want), (max_length, stride, text, pair)
                compared += 1
    assert compared > 60 and refused > 60


def _alignment(enc, texts, seconds=None):
    """Every answer of the ``BatchEncoding`` alignment methods, row by row (``texts``: each row's first text)."""
    out = []
    for b in range(len(enc["input_ids"]) if isinstance(enc["input_ids"][0], list) else 1):
        n, words = len(enc.tokens(b)), [w for w in enc.word_ids(b) if w is not None]
        chars = max(len(t) for t in (texts + (seconds or []))) + 2
        row = [[t.strip() for t in enc.tokens(b)], enc.n_sequences]  # fast: ' [MASK]', with the space lstrip took
        row += [(enc.token_to_sequence(b, t), enc.token_to_word(b, t)) for t in range(n + 1)]
        row += [enc.token_to_chars(b, t) for t in range(n)]
        for seq in (0, 1):
            row += [(enc.char_to_token(b, c, seq), enc.char_to_word(b, c, seq)) for c in range(chars)]
            spans = [enc.word_to_tokens(b, w, seq) for w in range(max(words, default=0) + 2)]
            row += [spans, [enc.word_to_chars(b, w, seq) for w, span in enumerate(spans) if span is not None]]
        out.append(row)
    if not isinstance(enc["input_ids"][0], list):
        out.append((enc.token_to_chars(1), enc.char_to_token(0), enc.word_to_tokens(0), enc.char_to_word(0)))
    return out


@pytest.mark.parametrize("name", ["bert", "roberta", "albert", "rembert"])
def test_alignment_methods_match_fast(dirs, name):
    """``tokens``, ``n_sequences``, ``token_to_*``, ``char_to_*`` and ``word_to_*`` of transformers' fast encodings,
    on single texts, pairs, padded batches (both sides) and overflow windows, with and without offsets asked for."""
    ours, fast = pair_of(name, dirs)
    a, b = agreeing_pairs(ours, fast)
    a, b = a[:12], b[:12]
    calls = [((a[0],), {}), ((a[1], b[1]), {"return_offsets_mapping": True}), ((a,), {"padding": True}),
             ((a, b), {"padding": True, "return_offsets_mapping": True}),
             ((a, b), {"padding": "max_length", "max_length": 64, "truncation": "only_second"}),
             ((a[:4], b[:4]), {"truncation": "only_second", "max_length": 24, "stride": 4,
                               "return_overflowing_tokens": True})]
    for side in ("right", "left"):
        ours.padding_side = fast.padding_side = side
        for args, kw in calls:
            got, want = ours(*args, **kw), fast(*args, **kw)
            assert got["input_ids"] == want["input_ids"]
            seconds = [args[1]] if len(args) > 1 and isinstance(args[1], str) else args[1] if len(args) > 1 else None
            firsts = [args[0]] if isinstance(args[0], str) else args[0]
            assert _alignment(got, firsts, seconds) == _alignment(want, firsts, seconds), (side, kw)
    enc = ours(a[:2], padding=True)  # negative batch and token indices count from the end
    n = len(enc["input_ids"][1])
    assert [enc.token_to_chars(-1, t - n) for t in range(n)] == [enc.token_to_chars(1, t) for t in range(n)]
    assert enc.token_to_word(-2) == enc.token_to_word(0, n - 2) and enc.token_to_sequence(-1, -1) is None
    assert enc.word_to_tokens(-1) is None and enc.char_to_token(-1) is None


def test_single_text_overflow_and_tensors(dirs):
    ours, fast = pair_of("bert", dirs)
    text = " ".join(TEXTS[:40])
    kw = dict(truncation=True, max_length=32, stride=5, return_overflowing_tokens=True, return_offsets_mapping=True)
    got, want = ours(text, **kw), fast(text, **kw)
    assert dict(got) == dict(want) and len(got["input_ids"]) > 3
    assert got["overflow_to_sample_mapping"] == [0] * len(got["input_ids"])
    arr = ours(PAIRS_A[:5], PAIRS_B[:5], padding=True, return_offsets_mapping=True, return_tensors="np")
    ref = fast(PAIRS_A[:5], PAIRS_B[:5], padding=True, return_offsets_mapping=True, return_tensors="np")
    assert arr["offset_mapping"].shape == ref["offset_mapping"].shape and arr["offset_mapping"].shape[-1] == 2
    single = ours("hello world", return_offsets_mapping=True)
    assert single["offset_mapping"] == fast("hello world", return_offsets_mapping=True)["offset_mapping"]
    assert single.word_ids() == [None, 0, 1, None] and single.sequence_ids() == [None, 0, 0, None]


def test_plain_calls_are_unchanged_and_errors(dirs):
    ours, _ = pair_of("bert", dirs)
    ref = transformers.BertTokenizer.from_pretrained(str(REAL_DIR))
    kw = dict(truncation="longest_first", max_length=20, padding=True)
    assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(ref(PAIRS_A, PAIRS_B, **kw))
    with pytest.raises(PaddleRembertError, match="stride=30"):
        ours(PAIRS_A[:3], PAIRS_B[:3], truncation="only_second", max_length=20, stride=30,
             return_overflowing_tokens=True)
    with pytest.raises(PaddleRembertError, match="only_second"):
        ours(" ".join(TEXTS[:20]), truncation="only_second", max_length=20, return_overflowing_tokens=True)
    with pytest.raises(PaddleRembertError, match="word_ids"):
        from paddle_rembert.tokenization.types import BatchEncoding

        BatchEncoding({"input_ids": [[1, 2]]}).word_ids(0)
    enc = ours(PAIRS_A[:4], PAIRS_B[:4], padding=True, return_tensors="np")
    assert isinstance(enc["input_ids"], np.ndarray) and len(enc.word_ids(3)) == enc["input_ids"].shape[1]


@pytest.mark.parametrize("name", ["bert", "roberta", "albert", "rembert"])
def test_a_single_row_below_the_special_tokens_count_follows_the_slow_ids(dirs, name):
    """Without windows, ``max_length`` below a pair's special tokens cuts as the slow tokenizers cut (longest_first
    empties both texts, only_first/only_second give up): the ids, and the offsets, sequence and word ids that
    describe them, are the same with or without ``return_offsets_mapping`` (they used to describe the whole
    pair while the ids held none of it)."""
    ours, _ = pair_of(name, dirs)
    slow_cls = getattr(transformers, type(ours).__name__)
    slow = slow_cls.from_pretrained(str(REAL_DIR if name == "bert" else dirs / name))
    n_special = ours.num_special_tokens_to_add(pair=True)
    for max_length in range(1, n_special):
        for strategy in ("longest_first", "only_first", "only_second"):
            kw = dict(truncation=strategy, max_length=max_length)
            plain = ours("hello world", "stone river", **kw)
            detailed = ours("hello world", "stone river", return_offsets_mapping=True, **kw)
            assert plain["input_ids"] == detailed["input_ids"] == slow("hello world", "stone river", **kw)["input_ids"]
            for enc in (plain, detailed):
                assert len(enc.word_ids()) == len(enc.sequence_ids()) == len(enc["input_ids"])
            assert len(detailed["offset_mapping"]) == len(detailed["input_ids"])
            assert plain.word_ids() == detailed.word_ids()


def test_a_split_digit_comma_piece_starting_a_text_spans_its_first_character(dirs):
    """ALBERT re-encodes "▁2," as "▁" "2" ","; with no space before the word the bare "▁" spans the word's first
    character, as in the fast tokenizer (it had the empty span (0, 0) that marks special tokens, which question
    answering skips)."""
    ours, fast = pair_of("albert", dirs)
    texts = ["2,", "10,000 people", "x 2, b", "3,4"]
    compared, bad = compare_details(ours, fast, texts)
    assert compared == len(texts) and not bad, bad
    compared, bad = compare_details(ours, fast, ["x", "why"], ["2, b", "7,5 and 8,"])
    assert compared == 2 and not bad, bad
    assert (0, 0) not in ours("2,", return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
