"""RoBERTa's byte-level BPE tokenizer against the reference: transformers 4.46's slow RobertaTokenizer.

The vocabulary (vocab.json + merges.txt) is trained here with ``tokenizers.ByteLevelBPETokenizer``
on the generated multilingual text of the WordPiece tests. Every expected value comes from
transformers (or PaddleNLP).
"""
import json
import os
import pickle

import pytest
import transformers

from paddle_rembert.models.roberta.tokenizer import RobertaTokenizer
from paddle_rembert.runtime.errors import PaddleRembertError

from .test_tokenization_wordpiece import fixture_sentences, make_texts, mismatches

transformers.logging.set_verbosity_error()
TEXTS = make_texts(2000, seed=31) + ["hello <mask> there", "x <mask>", " <mask>", "a  <mask>b", "<mask>", "don't 'll"]
PAIRS_A, PAIRS_B = make_texts(300, seed=32), make_texts(300, seed=33)[::-1]


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    from tokenizers import ByteLevelBPETokenizer

    d = tmp_path_factory.mktemp("bpe")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(fixture_sentences() + make_texts(3000, seed=6), vocab_size=4000,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(d))
    (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer"}))
    return d


def load(d, **kw):
    ours = RobertaTokenizer.from_pretrained(d, **kw)
    ref = transformers.RobertaTokenizer.from_pretrained(str(d), **kw)
    return ours, ref


@pytest.mark.parametrize("options", [{}, dict(add_prefix_space=True), dict(errors="ignore")])
def test_tokenize_and_ids_match_reference(bpe_dir, options):
    ours, ref = load(bpe_dir, **options)
    assert mismatches([ours.tokenize(t) for t in TEXTS], [ref.tokenize(t) for t in TEXTS], TEXTS) == []
    got, want = ours(TEXTS, return_special_tokens_mask=True), ref(TEXTS, return_special_tokens_mask=True)
    assert list(got) == list(want) == ["input_ids", "special_tokens_mask", "attention_mask"]
    for key in want:
        assert mismatches(got[key], want[key], TEXTS) == [], key


def test_mask_takes_the_space_on_its_left(bpe_dir):
    ours, ref = load(bpe_dir)
    for text in ("a <mask> b", "a   <mask>b", "a\t<mask>", " <mask> ", "<mask>"):
        assert ours(text)["input_ids"] == ref(text)["input_ids"], text
    assert ours("word <mask>")["input_ids"] == ours("word<mask>")["input_ids"]


def test_one_by_one_equals_batch_and_reference(bpe_dir):
    ours, ref = load(bpe_dir)
    batch = ours(TEXTS[:300])
    for i, text in enumerate(TEXTS[:300]):
        assert dict(ours(text)) == dict(ref(text)) == {k: v[i] for k, v in batch.items()}, text


@pytest.mark.parametrize("truncation", [True, "only_first", "only_second", False])
def test_pairs_truncation_and_padding_match_reference(bpe_dir, truncation):
    ours, ref = load(bpe_dir)
    for padding in (False, True, "max_length"):
        for max_length in (None, 9, 24):
            kw = dict(truncation=truncation, padding=padding, max_length=max_length)
            assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(ref(PAIRS_A, PAIRS_B, **kw)), kw
    kw = dict(truncation=truncation, max_length=16, padding=True, pad_to_multiple_of=8, padding_side="left",
              return_token_type_ids=True, return_special_tokens_mask=True)
    assert dict(ours(PAIRS_A, PAIRS_B, **kw)) == dict(ref(PAIRS_A, PAIRS_B, **kw))


def test_methods_match_reference(bpe_dir):
    ours, ref = load(bpe_dir)
    a, b = ref.encode("some text", add_special_tokens=False), ref.encode("<mask> more", add_special_tokens=False)
    for pair in (None, b):
        assert ours.build_inputs_with_special_tokens(a, pair) == ref.build_inputs_with_special_tokens(a, pair)
        assert ours.create_token_type_ids_from_sequences(a, pair) == ref.create_token_type_ids_from_sequences(a, pair)
        assert ours.get_special_tokens_mask(a, pair) == ref.get_special_tokens_mask(a, pair)
    assert ours.num_special_tokens_to_add(True) == ref.num_special_tokens_to_add(True) == 4
    assert ours.get_vocab() == ref.get_vocab() and len(ours) == len(ref) and ours.vocab_size == ref.vocab_size
    assert ours.all_special_ids == ref.all_special_ids and ours.special_tokens_map == ref.special_tokens_map
    every = list(range(len(ref)))
    assert ours.convert_ids_to_tokens(every) == ref.convert_ids_to_tokens(every)


@pytest.mark.parametrize("errors", ["replace", "ignore"])
def test_decode_matches_reference(bpe_dir, errors):
    ours, ref = load(bpe_dir, errors=errors)
    ids = ref(TEXTS[:500])["input_ids"]
    for skip in (False, True):
        assert mismatches([ours.decode(i, skip_special_tokens=skip) for i in ids],
                          [ref.decode(i, skip_special_tokens=skip) for i in ids], TEXTS) == []
    broken = [i[:-2] for i in ids if len(i) > 3]  # cut inside multi-byte characters: errors= decides
    assert [ours.decode(i) for i in broken] == [ref.decode(i) for i in broken]


def test_added_tokens_match_reference(bpe_dir, tmp_path):
    ours, ref = load(bpe_dir)
    new = ["zqxword", transformers.AddedToken("<ent>", lstrip=True, rstrip=True)]
    assert ours.add_tokens(new) == ref.add_tokens(new)
    texts = [t + " zqxword a <ent> b" for t in TEXTS[:300]]
    assert dict(ours(texts)) == dict(ref(texts))
    ours.save_pretrained(tmp_path)
    again = RobertaTokenizer.from_pretrained(tmp_path)
    assert again(texts)["input_ids"] == ref(texts)["input_ids"] == \
        transformers.RobertaTokenizer.from_pretrained(str(tmp_path))(texts)["input_ids"]


def test_save_pretrained_loads_in_transformers_and_paddlenlp(bpe_dir, tmp_path):
    import paddlenlp.transformers as pdt

    ours, ref = load(bpe_dir, add_prefix_space=True)
    files = ours.save_pretrained(tmp_path / "ours")
    assert sorted(os.path.basename(f) for f in files) == ["merges.txt", "special_tokens_map.json",
                                                          "tokenizer_config.json", "vocab.json"]
    ref.save_pretrained(str(tmp_path / "ref"))
    for name in ("tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
        got, want = ((tmp_path / d / name).read_text() for d in ("ours", "ref"))
        assert (json.loads(got) == json.loads(want)) if name.endswith(".json") else got == want, name
    want = ours(TEXTS)["input_ids"]
    assert ref(TEXTS)["input_ids"] == want
    assert RobertaTokenizer.from_pretrained(tmp_path / "ref")(TEXTS)["input_ids"] == want
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"), use_fast=False)
    assert type(hf) is transformers.RobertaTokenizer and hf(TEXTS)["input_ids"] == want
    pd = pdt.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    assert mismatches([pd(t)["input_ids"] for t in TEXTS[:800]], want[:800], TEXTS) == []
    pd.save_pretrained(str(tmp_path / "pd"))
    assert RobertaTokenizer.from_pretrained(tmp_path / "pd")(TEXTS)["input_ids"] == want


def test_errors_and_pickle(bpe_dir, tmp_path):
    with pytest.raises(PaddleRembertError, match=r"merges file not found: .*nope\.txt"):
        RobertaTokenizer(str(bpe_dir / "vocab.json"), str(tmp_path / "nope.txt"))
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(PaddleRembertError, match=r"bad\.json must hold a JSON object"):
        RobertaTokenizer(str(tmp_path / "bad.json"), str(bpe_dir / "merges.txt"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "vocab.json").write_text((bpe_dir / "vocab.json").read_text())
    with pytest.raises(PaddleRembertError, match=r"no vocabulary file in .*expected merges\.txt"):
        RobertaTokenizer.from_pretrained(tmp_path / "d")
    ours, _ = load(bpe_dir)
    clone = pickle.loads(pickle.dumps(ours))
    assert clone(TEXTS[:300])["input_ids"] == ours(TEXTS[:300])["input_ids"]


def test_a_lone_surrogate_is_named_in_one_line(bpe_dir):
    """Text from a bad decode (``errors="surrogateescape"``) cannot be UTF-8 encoded: the error names it, with or
    without offsets, as the SentencePiece tokenizers do (it was a raw UnicodeEncodeError)."""
    ours, _ = load(bpe_dir)
    for kw in ({}, {"return_offsets_mapping": True}):
        with pytest.raises(PaddleRembertError, match=r"lone surrogate \(U\+DC80\)"):
            ours("fine \udc80 text", **kw)
