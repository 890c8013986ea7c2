"""ALBERT and RemBERT tokenizers against the reference: transformers 4.46's slow tokenizers.

Small unigram SentencePiece models are trained here, in the real id layouts, on the real XNLI /
PAWS-X fixture sentences plus our own multilingual text with ``2000,``-style numbers. Every
expected value comes from the reference (or from PaddleNLP for the loading checks).
"""
import json
import os
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import transformers

from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.models.albert.tokenizer import AlbertTokenizer
from paddle_rembert.models.rembert.tokenizer import RemBertTokenizer
from paddle_rembert.tokenization.sentencepiece_train import train_sentencepiece, write_tokenizer_dir
from paddle_rembert.models import registry
from paddle_rembert.models.auto import AutoTokenizer
from paddle_rembert.tokenization.types import BatchEncoding

transformers.logging.set_verbosity_error()
FIXTURES = Path(__file__).parent / "fixtures"
REF_CLASSES = {"albert": transformers.AlbertTokenizer, "rembert": transformers.RemBertTokenizer}
OUR_CLASSES = {"albert": AlbertTokenizer, "rembert": RemBertTokenizer}

OWN_TEXT = [
    "Ça coûte 3,50 € à Montréal. L'ÉTÉ est CHAUD, naïve café, São Paulo, Açaí, Über große Straßen.",
    "He said ``hello'' and \"bye\" -- then 'ok' (twice).",
    "Η ΟΔΟΣ είναι μεγάλη και η Σοφία ΤΡΕΧΕΙ ΓΡΗΓΟΡΑ.",
    "İstanbul ve Ankara, IĞDIR ılık.",
    "中文文本和数字 2000, 3,000 人。日本語のテキストです。한국어 문장입니다.",
    "مرحبا بالعالم، هذا نص عربي ٣،٤ و ١٢٣.",
    "สวัสดีครับ นี่คือข้อความภาษาไทย",
    "नमस्ते दुनिया, यह हिंदी पाठ है।",
    "Emoji 😀 and 👍 in text, zero\u200bwidth and e\u0301 combining.",
]
OWN_TEXT += [f"In {y}, about {n},000 people paid ${m},{k} each; {n},{m},{k} and {y}, again."
             for y in range(1990, 2031) for n, m, k in ((1, 45, 300), (2, 12, 999), (7, 3, 250))]

TRICKY = ["2000,", "1,000,000", "3,5", "9,9", "12,", "\u0663,", "\u00b2,", "x2,", "$45,", "``", "''", '"', "'",
          "café", "e\u0301", "naïve", "\ufb01ne", "Σ", "ΟΔΟΣ", "ς", "İ", "ß", "Ǆ", "中文", "日本語のテキスト", "한국어",
          "مرحبا", "สวัสดีครับ", "नमस्ते", "😀", "👍🏽", "\u200b", "\u200d", "\ufeff", "a\u0308", "\u0301",
          "ｆｕｌｌ", "①", "…", "—", "–", "£", "€", "(x)", "-", ".", "\u00a0", "\u3000", "\x07", "A.B.C."]
SPECIALS_IN_TEXT = ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "<pad>", "<unk>", "[mask]", "<PAD>", "<UNK>",
                    "[MASK][MASK]", "x[MASK]y", " [MASK] ", "[Mask]", "[SEP][CLS]"]
SEPARATORS = [" ", " ", " ", "", "  ", "\t", "\n", "   ", "\u3000", "\xa0", " \n "]


def fixture_sentences():
    out = []
    for path in sorted((FIXTURES / "real-format").rglob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            out.extend(cell for cell in line.split("\t") if len(cell) > 3 and not cell.isdigit())
    return out


def make_strings(n, seed):
    """``n`` deterministic test strings mixing corpus words, tricky characters and literal specials."""
    rng = random.Random(seed)
    words = [w for s in fixture_sentences() + OWN_TEXT for w in s.split()]
    out = ["", " ", "\t\n", "  leading and trailing  ", "[MASK]", " [MASK]", "a [MASK] b", "ΟΔΟΣ Σ ΣΑ",
           "In 2000, 3,000 and 1,2,3", "``''", "<PAD> <pad> [PAD] [UNK] <unk>"]
    while len(out) < n:
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            word = rng.choice(words) if r < 0.55 else rng.choice(TRICKY) if r < 0.87 else rng.choice(SPECIALS_IN_TEXT)
            r = rng.random()
            parts.append(word.upper() if r < 0.12 else word.title() if r < 0.2 else word)
        text = "".join(p + rng.choice(SEPARATORS) for p in parts)
        out.append((" " if rng.random() < 0.15 else "") + text)
    return out


STRINGS = make_strings(3000, seed=1234)
PAIRS_A, PAIRS_B = make_strings(400, seed=7), make_strings(400, seed=8)[::-1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    corpus = fixture_sentences() + OWN_TEXT
    for layout in ("albert", "rembert"):
        spm_layout = registry.get(layout).tokenizer_layout
        model = train_sentencepiece(corpus, root / f"{layout}-spm", layout=spm_layout, vocab_size=4000)
        write_tokenizer_dir(model, root / layout, layout=spm_layout)
    return root


@pytest.fixture(scope="module", params=["albert", "rembert"])
def layout(request):
    return request.param


@pytest.fixture(scope="module")
def toks(workdir, layout):
    """(ours, reference) loaded from the same hub-style dir."""
    return AutoTokenizer.from_pretrained(workdir / layout), REF_CLASSES[layout].from_pretrained(str(workdir / layout))


def mismatches(ours, ref, items):
    return [(i, item, a, b) for i, (item, a, b) in enumerate(zip(items, ours, ref)) if a != b][:5]


# ----------------------------------------------------------------------------------- the models
def test_trained_models_have_the_real_id_layouts(workdir, layout):
    sp = spm.SentencePieceProcessor(model_file=str(workdir / f"{layout}-spm.model"))
    specials = ["<pad>", "<unk>"] if layout == "albert" else ["[PAD]", "[UNK]"]
    assert [sp.id_to_piece(i) for i in range(5)] == specials + ["[CLS]", "[SEP]", "[MASK]"]
    assert [sp.is_control(i) for i in (2, 3, 4)] == [True, True, True]
    if layout == "albert":
        assert [sp.id_to_piece(i) for i in range(5, 13)] == ["(", ")", '"', "-", ".", "–", "£", "€"]


def test_training_is_deterministic_and_validates(tmp_path):
    texts = OWN_TEXT[:40]
    a = train_sentencepiece(texts, tmp_path / "a", vocab_size=300)
    b = train_sentencepiece(texts, tmp_path / "b.model", vocab_size=300)
    assert Path(a).read_bytes() == Path(b).read_bytes()
    with pytest.raises(PaddleRembertError, match="layout"):
        train_sentencepiece(texts, tmp_path / "c", layout="bert")  # a layout is a family's dict
    with pytest.raises(PaddleRembertError, match=r"texts\[1\]"):
        train_sentencepiece(["ok", None], tmp_path / "d")


def test_digit_comma_pieces_are_exercised(toks, layout):
    ours, ref = toks
    raw = [ref.sp_model.encode(ref.preprocess_text(s), out_type=str) if layout == "albert" else [] for s in STRINGS]
    hits = [s for s, pieces in zip(STRINGS, raw)
            if any(len(p) > 1 and p[-1] == "," and p[-2].isdigit() for p in pieces)]
    if layout == "albert":
        assert len(hits) > 100  # the vocabulary has `2000,`-style pieces and the strings hit them
        assert [ours.tokenize(s) for s in hits] == [ref.tokenize(s) for s in hits]


# ----------------------------------------------------------------------------------- id for id
def test_tokenize_matches_reference(toks):
    ours, ref = toks
    assert mismatches([ours.tokenize(s) for s in STRINGS], [ref.tokenize(s) for s in STRINGS], STRINGS) == []


def test_batch_call_matches_reference(toks):
    ours, ref = toks
    got, want = ours(STRINGS), ref(STRINGS)
    assert isinstance(got, BatchEncoding) and list(got) == list(want)
    for key in want:
        assert mismatches(got[key], want[key], STRINGS) == [], key


def test_one_by_one_matches_batch_and_reference(toks):
    ours, ref = toks
    batch = ours(STRINGS[:500], return_special_tokens_mask=True)
    for i, s in enumerate(STRINGS[:500]):
        one = ours(s, return_special_tokens_mask=True)
        assert dict(one) == dict(ref(s, return_special_tokens_mask=True)), s
        assert {k: v[i] for k, v in batch.items()} == dict(one), s
        assert ours.encode(s) == ref.encode(s)


@pytest.mark.parametrize("truncation", [True, "longest_first", "only_first", "only_second", False, None])
def test_pairs_truncation_and_padding_match_reference(toks, truncation):
    ours, ref = toks
    for padding in (False, True, "longest", "max_length"):
        for max_length in (None, 5, 12, 30):
            kw = dict(truncation=truncation, padding=padding, max_length=max_length)
            want = ref(PAIRS_A, PAIRS_B, **kw)
            assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(want), kw
            assert dict(ours(list(zip(PAIRS_A, PAIRS_B)), **kw)) == dict(want), kw
            for a, b in list(zip(PAIRS_A, PAIRS_B))[:40]:
                assert dict(ours(a, b, **kw)) == dict(ref(a, b, **kw)), (kw, a, b)


@pytest.mark.parametrize("kw", [
    dict(return_special_tokens_mask=True, padding=True),
    dict(return_attention_mask=False, return_token_type_ids=False, padding="max_length", max_length=20),
    dict(add_special_tokens=False, truncation="longest_first", max_length=10),
    dict(padding=True, pad_to_multiple_of=8, padding_side="left", return_length=True),
    dict(padding="max_length", truncation=True, max_length=16, pad_to_multiple_of=8, return_special_tokens_mask=True),
])
def test_call_options_match_reference(toks, kw):
    ours, ref = toks
    assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(ref(PAIRS_A, PAIRS_B, **kw))
    assert dict(ours(STRINGS[:300], **kw)) == dict(ref(STRINGS[:300], **kw))
    for s in STRINGS[:30]:
        assert dict(ours(s, **kw)) == dict(ref(s, **kw)), s


def test_split_special_tokens(toks):
    # transformers 4.46 honours split_special_tokens only for one text (its batch path drops the
    # flag before tokenize); we honour it in both, so the batch is checked against one-by-one.
    ours, ref = toks
    texts = [s for s in STRINGS if "[MASK]" in s or "<pad>" in s][:200]
    want = [ref(s, split_special_tokens=True)["input_ids"] for s in texts]
    assert ours(texts, split_special_tokens=True)["input_ids"] == want
    assert [ours(s, split_special_tokens=True)["input_ids"] for s in texts] == want
    assert [ours.tokenize(s, split_special_tokens=True) for s in texts] == [
        ref.tokenize(s, split_special_tokens=True) for s in texts]


def test_sides_and_model_max_length_from_config(workdir, layout, tmp_path):
    shutil.copytree(workdir / layout, tmp_path / "d")
    config = json.loads((tmp_path / "d" / "tokenizer_config.json").read_text())
    (tmp_path / "d" / "tokenizer_config.json").write_text(json.dumps(dict(config, model_max_length=16)))
    for kw in ({}, {"truncation_side": "left", "padding_side": "left"}):
        ours = AutoTokenizer.from_pretrained(tmp_path / "d", **kw)
        ref = REF_CLASSES[layout].from_pretrained(str(tmp_path / "d"), **kw)
        assert ours.model_max_length == ref.model_max_length == 16
        for call in (dict(truncation=True), dict(truncation=True, padding="max_length"), dict(padding="max_length")):
            assert dict(ours(PAIRS_A, PAIRS_B, **call)) == dict(ref(PAIRS_A, PAIRS_B, **call)), (kw, call)
    ours = AutoTokenizer.from_pretrained(workdir / layout)  # no model_max_length: no implicit truncation
    ref = REF_CLASSES[layout].from_pretrained(str(workdir / layout))
    assert ours.model_max_length == ref.model_max_length
    assert dict(ours(PAIRS_A, PAIRS_B, truncation=True)) == dict(ref(PAIRS_A, PAIRS_B, truncation=True))


def test_return_tensors(toks):
    import paddle

    ours, ref = toks
    got, want = ours(PAIRS_A, PAIRS_B, padding=True, return_tensors="np"), ref(PAIRS_A, PAIRS_B, padding=True,
                                                                                return_tensors="np")
    for key in want:
        assert got[key].dtype == want[key].dtype and np.array_equal(got[key], want[key]), key
    pd = ours(PAIRS_A, PAIRS_B, padding=True, return_tensors="pd")
    assert isinstance(pd["input_ids"], paddle.Tensor) and np.array_equal(pd["input_ids"].numpy(), want["input_ids"])
    single, ref_single = ours("a [MASK] b", return_tensors="np"), ref("a [MASK] b", return_tensors="np")
    assert single["input_ids"].shape == ref_single["input_ids"].shape and single["input_ids"].shape[0] == 1
    ragged, ref_ragged = ours(STRINGS[5:9], return_tensors="np"), ref(STRINGS[5:9], return_tensors="np")
    assert ragged["input_ids"].dtype == ref_ragged["input_ids"].dtype == object
    with pytest.raises(PaddleRembertError, match="padding"):
        ours(STRINGS[5:9], return_tensors="pd")


def test_decode_matches_reference(toks):
    ours, ref = toks
    batch = ref(STRINGS[:800])["input_ids"]
    for skip in (False, True):
        assert mismatches([ours.decode(ids, skip_special_tokens=skip) for ids in batch],
                          [ref.decode(ids, skip_special_tokens=skip) for ids in batch], STRINGS) == []
    assert ours.batch_decode(np.array(batch[:3], dtype=object)) == ref.batch_decode(batch[:3])
    assert ours.decode(ref.mask_token_id) == ref.decode(ref.mask_token_id)


def test_methods_and_attributes_match_reference(toks):
    ours, ref = toks
    for name in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token"):
        assert getattr(ours, name) == getattr(ref, name) and getattr(ours, name + "_id") == getattr(ref, name + "_id")
    assert len(ours) == len(ref) and ours.vocab_size == ref.vocab_size and ours.get_vocab() == ref.get_vocab()
    assert ours.all_special_tokens == ref.all_special_tokens and ours.all_special_ids == ref.all_special_ids
    assert ours.special_tokens_map == ref.special_tokens_map
    assert [ours.num_special_tokens_to_add(p) for p in (False, True)] == [ref.num_special_tokens_to_add(p)
                                                                           for p in (False, True)]
    ids = list(range(len(ref)))
    assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == ref.convert_ids_to_tokens(ids, True)
    tokens = [t for s in STRINGS[:300] for t in ref.tokenize(s)] + ["never-seen-piece", "[MASK]", "<pad>"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("[CLS]") == ref.convert_tokens_to_ids("[CLS]")
    a, b = ref.encode("a 2000, b", add_special_tokens=False), ref.encode("[MASK] c", add_special_tokens=False)
    for pair in (None, b):
        assert ours.build_inputs_with_special_tokens(a, pair) == ref.build_inputs_with_special_tokens(a, pair)
        assert ours.create_token_type_ids_from_sequences(a, pair) == ref.create_token_type_ids_from_sequences(a, pair)
        assert ours.get_special_tokens_mask(a, pair) == ref.get_special_tokens_mask(a, pair)
    full = ref.build_inputs_with_special_tokens(a, b) + [ref.pad_token_id, ref.unk_token_id]
    assert ours.get_special_tokens_mask(full, already_has_special_tokens=True) == \
        ref.get_special_tokens_mask(full, already_has_special_tokens=True)


@pytest.mark.parametrize("options", [dict(keep_accents=True), dict(do_lower_case=False), dict(remove_space=False),
                                     dict(do_lower_case=True, keep_accents=False)])
def test_normalisation_options_match_reference(workdir, layout, options):
    ours = AutoTokenizer.from_pretrained(workdir / layout, **options)
    ref = REF_CLASSES[layout].from_pretrained(str(workdir / layout), **options)
    texts = STRINGS[:1000]
    assert mismatches([ours.tokenize(s) for s in texts], [ref.tokenize(s) for s in texts], texts) == []
    assert ours(texts)["input_ids"] == ref(texts)["input_ids"]


def test_mask_token_takes_the_space_on_its_left(toks):
    ours, ref = toks
    for s in ("a [MASK] b", "a   [MASK]b", "a\t[MASK]", " [MASK] ", "[MASK]"):
        assert ours(s)["input_ids"] == ref(s)["input_ids"], s
    assert ours("word [MASK]")["input_ids"] == ours("word[MASK]")["input_ids"]


def test_added_tokens_match_reference(workdir, layout, tmp_path):
    ours = AutoTokenizer.from_pretrained(workdir / layout)
    ref = REF_CLASSES[layout].from_pretrained(str(workdir / layout))
    new = ["newtok", "Bigword", "[NEW]"]
    assert ours.add_tokens(new) == ref.add_tokens(new)
    texts = [s + " newtok Bigword x[NEW]y bigword" for s in STRINGS[:200]]
    assert dict(ours(texts)) == dict(ref(texts)) and len(ours) == len(ref)
    ids = ref(texts[:50])["input_ids"]
    assert [ours.decode(i) for i in ids] == [ref.decode(i) for i in ids]
    ours.save_pretrained(tmp_path / "ours")
    assert (tmp_path / "ours" / "added_tokens.json").is_file()
    again, ref_again = AutoTokenizer.from_pretrained(tmp_path / "ours"), REF_CLASSES[layout].from_pretrained(
        str(tmp_path / "ours"))
    assert dict(again(texts)) == dict(ref(texts)) == dict(ref_again(texts))


# ----------------------------------------------------------------------------------- files
def _no_literal_specials(s):
    return not any(t in s.lower() for t in ("[mask]", "[cls]", "[sep]", "[pad]", "[unk]", "<pad>", "<unk>"))


def test_save_pretrained_loads_in_ours_transformers_and_paddlenlp(toks, layout, tmp_path):
    import paddlenlp.transformers as pdt

    ours, _ = toks
    files = ours.save_pretrained(tmp_path / "saved")
    assert sorted(os.path.basename(f) for f in files) == sorted(
        [ours.vocab_file_name, "tokenizer_config.json", "special_tokens_map.json"])
    texts = STRINGS[:600]
    want = ours(texts)["input_ids"]
    assert AutoTokenizer.from_pretrained(tmp_path / "saved")(texts)["input_ids"] == want
    assert REF_CLASSES[layout].from_pretrained(str(tmp_path / "saved"))(texts)["input_ids"] == want
    hf_auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"), use_fast=False)
    assert type(hf_auto) is REF_CLASSES[layout] and hf_auto(texts)["input_ids"] == want
    pd = pdt.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    # PaddleNLP's ALBERT wrapper tokenizes with an inner tokenizer that knows no special tokens,
    # so literal "[MASK]" etc. in the text are only comparable for RemBERT (docs/tokenizers.md).
    comparable = texts if layout == "rembert" else [s for s in texts if _no_literal_specials(s)]
    assert len(comparable) > 200
    got = [pd(s)["input_ids"] for s in comparable]
    assert mismatches(got, ours(comparable)["input_ids"], comparable) == []
    pair = pd(PAIRS_A[3], PAIRS_B[3], max_length=12, truncation="longest_first", return_attention_mask=True)
    assert pair["input_ids"] == ours(PAIRS_A[3], PAIRS_B[3], max_length=12, truncation="longest_first")["input_ids"]


def test_loads_dirs_saved_by_transformers_and_paddlenlp(toks, layout, tmp_path):
    import paddlenlp.transformers as pdt

    ours, ref = toks
    texts = STRINGS[:400]
    want = ref(texts)["input_ids"]
    ref.save_pretrained(str(tmp_path / "hf"))
    assert AutoTokenizer.from_pretrained(tmp_path / "hf")(texts)["input_ids"] == want
    fast_cls = {"albert": transformers.AlbertTokenizerFast, "rembert": transformers.RemBertTokenizerFast}[layout]
    fast_cls.from_pretrained(str(tmp_path / "hf"), from_slow=True).save_pretrained(str(tmp_path / "fast"))
    assert (tmp_path / "fast" / "tokenizer.json").is_file()
    # A fast-saved ALBERT dir lists the user-defined symbols ( ) " - . as added tokens, which
    # changes the reference's own ids; the reference loaded from the same dir is the yardstick.
    assert AutoTokenizer.from_pretrained(tmp_path / "fast")(texts)["input_ids"] == \
        REF_CLASSES[layout].from_pretrained(str(tmp_path / "fast"))(texts)["input_ids"]
    ours.save_pretrained(tmp_path / "ours")
    pdt.AutoTokenizer.from_pretrained(str(tmp_path / "ours")).save_pretrained(str(tmp_path / "pd"))
    assert AutoTokenizer.from_pretrained(tmp_path / "pd")(texts)["input_ids"] == want


def test_real_google_rembert_hub_files(workdir, tmp_path):
    d = tmp_path / "hub"
    d.mkdir()
    shutil.copy(workdir / "rembert-spm.model", d / "sentencepiece.model")
    for name in ("tokenizer_config.json", "special_tokens_map.json", "config.json"):
        shutil.copy(FIXTURES / "real-configs" / "google-rembert" / name, d / name)
    ours, ref = AutoTokenizer.from_pretrained(d), transformers.AutoTokenizer.from_pretrained(str(d), use_fast=False)
    assert isinstance(ours, RemBertTokenizer) and isinstance(ref, transformers.RemBertTokenizer)
    assert dict(ours(PAIRS_A, PAIRS_B, padding=True)) == dict(ref(PAIRS_A, PAIRS_B, padding=True))
    assert ours.model_max_length == ref.model_max_length  # the hub config has none: no implicit limit


def test_spiece_or_sentencepiece_file_name(workdir, layout, tmp_path):
    other = {"albert": "sentencepiece.model", "rembert": "spiece.model"}[layout]
    shutil.copytree(workdir / layout, tmp_path / "d")
    os.rename(tmp_path / "d" / OUR_CLASSES[layout].vocab_file_name, tmp_path / "d" / other)
    ours = AutoTokenizer.from_pretrained(tmp_path / "d")
    theirs = AutoTokenizer.from_pretrained(workdir / layout)
    assert ours(STRINGS[:100])["input_ids"] == theirs(STRINGS[:100])["input_ids"]


def test_saved_tokenizer_config_has_transformers_layout(workdir, layout, tmp_path):
    ours = AutoTokenizer.from_pretrained(workdir / layout)
    ref = REF_CLASSES[layout].from_pretrained(str(workdir / layout))
    ours.save_pretrained(tmp_path / "ours")
    ref.save_pretrained(str(tmp_path / "ref"))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        got, want = (json.loads((tmp_path / d / name).read_text()) for d in ("ours", "ref"))
        got.pop("init_args", None)  # ours adds it for PaddleNLP's ALBERT (see AlbertTokenizer)
        assert got == want, name
    written = (tmp_path / "ours" / ours.vocab_file_name).read_bytes()
    assert written == (tmp_path / "ref" / ours.vocab_file_name).read_bytes()


# ----------------------------------------------------------------------------------- AutoTokenizer
def test_auto_tokenizer_dispatch(workdir, layout, tmp_path):
    assert type(AutoTokenizer.from_pretrained(workdir / layout)) is OUR_CLASSES[layout]
    d = tmp_path / "by-model-type"
    shutil.copytree(workdir / layout, d)
    os.remove(d / "tokenizer_config.json")
    with pytest.raises(PaddleRembertError, match="tokenizer_class.*model_type"):
        AutoTokenizer.from_pretrained(d)
    (d / "config.json").write_text(json.dumps({"model_type": layout}))
    tok = AutoTokenizer.from_pretrained(d)
    assert type(tok) is OUR_CLASSES[layout]
    ref = REF_CLASSES[layout].from_pretrained(str(d))
    assert tok(STRINGS[:200])["input_ids"] == ref(STRINGS[:200])["input_ids"]
    (d / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(PaddleRembertError, match="gpt2"):
        AutoTokenizer.from_pretrained(d)
    (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    with pytest.raises(PaddleRembertError, match="GPT2Tokenizer"):
        AutoTokenizer.from_pretrained(d)
    assert set(registry.model_types()) >= {"albert", "rembert"}


# ----------------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors(toks, workdir, tmp_path):
    ours, _ = toks
    cases = [
        (lambda: ours(None), r"text must be a str, got None"),
        (lambda: ours(5), r"text must be a str, got int"),
        (lambda: ours(["a", None]), r"text\[1\] must be a str, got None"),
        (lambda: ours(["a", 3]), r"text\[1\] must be a str, got int"),
        (lambda: ours("a", 3), r"text_pair must be a str"),
        (lambda: ours(["a", "b"], ["c"]), r"text has 2 items but text_pair has 1"),
        (lambda: ours(["a", "b"], "c"), r"text_pair must be a list"),
        (lambda: ours(["a"], [None]), r"text_pair\[0\] must be a str"),
        (lambda: ours([]), r"empty list"),
        (lambda: ours("a", padding="foo"), r"padding must be one of"),
        (lambda: ours("a", truncation="bar", max_length=3), r"truncation must be one of"),
        (lambda: ours("a", return_tensors="pt"), r"return_tensors must be one of"),
        (lambda: ours("a", max_length="3"), r"max_length must be an int"),
        (lambda: ours("a", is_split_into_words=True), r"is_split_into_words"),
        (lambda: ours.tokenize(None), r"text must be a str, got None"),
        (lambda: ours.convert_ids_to_tokens([10 ** 6]), r"token id 1000000 is out of range"),
        (lambda: AutoTokenizer.from_pretrained(tmp_path / "missing"), r"tokenizer directory not found: .*missing"),
        (lambda: AlbertTokenizer(str(tmp_path / "nope.model")), r"SentencePiece model file not found: .*nope\.model"),
    ] + [(lambda call=call: call("a\ud800b"), r"text 'a\\ud800b' holds a lone surrogate \(U\+D800\)")
         for call in (ours, lambda t: ours([t]), ours.tokenize, lambda t: ours("x", t, return_offsets_mapping=True))]
    for call, pattern in cases:
        with pytest.raises(PaddleRembertError, match=pattern):
            call()
    empty = tmp_path / "no-model"
    shutil.copytree(workdir / "rembert", empty)
    os.remove(empty / "sentencepiece.model")
    with pytest.raises(PaddleRembertError, match=r"no SentencePiece model in .*no-model"):
        AutoTokenizer.from_pretrained(empty)
    (empty / "sentencepiece.model").write_bytes(b"not a model")
    with pytest.raises(PaddleRembertError, match=r"sentencepiece\.model is not a valid SentencePiece model"):
        AutoTokenizer.from_pretrained(empty)
    (empty / "tokenizer_config.json").write_text("{broken")
    with pytest.raises(PaddleRembertError, match=r"tokenizer_config\.json is not valid JSON"):
        AutoTokenizer.from_pretrained(empty)
    switched = tmp_path / "switched"  # a string would count as true: "no" lower-cased every text
    shutil.copytree(workdir / "rembert", switched)
    config = json.loads((switched / "tokenizer_config.json").read_text())
    (switched / "tokenizer_config.json").write_text(json.dumps(dict(config, do_lower_case="no")))
    with pytest.raises(PaddleRembertError, match=r"switched.tokenizer_config\.json: do_lower_case must be true or "
                                                 r"false, got 'no'"):
        AutoTokenizer.from_pretrained(switched)
    assert AutoTokenizer.from_pretrained(switched, do_lower_case=False).do_lower_case is False  # the call wins


def test_batch_encoding_and_pickle(toks):
    ours, _ = toks
    enc = ours(PAIRS_A[:4], PAIRS_B[:4], padding=True)
    assert isinstance(enc, dict) and enc.input_ids is enc["input_ids"] and enc.attention_mask == enc["attention_mask"]
    assert set(enc) == {"input_ids", "token_type_ids", "attention_mask"}
    with pytest.raises(AttributeError):
        enc.nope
    assert dict(pickle.loads(pickle.dumps(enc))) == dict(enc)
    detailed = ours(PAIRS_A[:2], return_offsets_mapping=True)
    restored = pickle.loads(pickle.dumps(detailed))  # the alignment rows travel, the tokenizer does not
    assert restored.char_to_token(1, 0) == detailed.char_to_token(1, 0) and restored.word_ids(1) == detailed.word_ids(1)
    with pytest.raises(PaddleRembertError, match="tokens"):
        restored.tokens()
    assert detailed.tokens(1) == ours.convert_ids_to_tokens(detailed["input_ids"][1])
    clone = pickle.loads(pickle.dumps(ours))
    assert clone(STRINGS[:200])["input_ids"] == ours(STRINGS[:200])["input_ids"]
    padded = ours.pad([{"input_ids": [5, 6, 7]}, {"input_ids": [8]}], return_tensors="np")
    assert padded["input_ids"].tolist() == [[5, 6, 7], [8, ours.pad_token_id, ours.pad_token_id]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_transformers_fast_tokenizers_differ_where_documented(toks, layout):
    """The fast (Rust) pipeline, which transformers 5 builds on, is not the original one: ours is."""
    ours, ref = toks
    fast = {"albert": transformers.AlbertTokenizerFast, "rembert": transformers.RemBertTokenizerFast}[layout](
        vocab_file=ref.vocab_file, from_slow=True)
    texts = {"albert": ["In 2000, 3,000 people", "9,9 and 12,5"],
             "rembert": ["He said ``hello'' to me", "``quoted'' text, 2000,"]}[layout]
    assert fast(texts)["input_ids"] != ref(texts)["input_ids"]
    assert ours(texts)["input_ids"] == ref(texts)["input_ids"]
