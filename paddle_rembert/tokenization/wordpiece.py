"""WordPiece backend (BERT, ELECTRA): transformers 4.46's slow ``BertTokenizer`` id for id, batched.

The reference's ``BasicTokenizer`` walks every character in Python; here each step is one C-level
call over the whole chunk with character classes built once from this Python's ``unicodedata``
(the reference's own tables): control characters removed by a regex, CJK spacing by a regex,
NFC, ``str.split``. What stays per word (lower-casing, accent stripping, punctuation splitting,
greedy longest-match WordPiece) is cached per word, and natural text is Zipfian, so a batch
mostly costs one dict look-up per word. ``_encode_chunks_detailed`` redoes the same steps per
character to keep an alignment to the original text (offsets, word ids).
"""
import functools
import os
import re
import sys
import unicodedata

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open
from .base import WORD_CACHE_LIMIT as _CACHE_LIMIT
from .base import PreTrainedTokenizer

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))  # the reference's _is_chinese_char


def _char_class(codepoints):
    """A regex character class (without brackets) of sorted code points, as ranges."""
    parts, start, prev = [], None, None
    for cp in codepoints:
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            parts.append((start, prev))
            start = prev = cp
    if start is not None:
        parts.append((start, prev))
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in parts)


@functools.lru_cache(maxsize=None)
def _removed_codepoints():
    """The reference's ``_clean_text`` drops: NUL, U+FFFD and ``_is_control`` (category C*, but not tab/LF/CR)."""
    return tuple(cp for cp in range(sys.maxunicode + 1)
                 if (cp in (0, 0xFFFD) or unicodedata.category(chr(cp))[0] == "C") and cp not in (9, 10, 13))


def _is_removed(ch):
    return (ch in "\x00\ufffd" or unicodedata.category(ch)[0] == "C") and ch not in "\t\n\r"


@functools.lru_cache(maxsize=None)
def _classes():
    """``(removed, punctuation, Mn, CJK)`` character classes of the reference's predicates (built once)."""
    cats = [unicodedata.category(chr(cp)) for cp in range(sys.maxunicode + 1)]
    removed = _removed_codepoints()
    punct = [cp for cp, c in enumerate(cats) if c[0] == "P" or 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96
             or 123 <= cp <= 126]
    marks = [cp for cp, c in enumerate(cats) if c == "Mn"]
    cjk = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _CJK_RANGES)
    return _char_class(removed), _char_class(punct), _char_class(marks), cjk


@functools.lru_cache(maxsize=None)
def _patterns():
    removed, punct, marks, cjk = _classes()
    bmp_removed = _char_class(cp for cp in _removed_codepoints() if cp < 0x10000)
    return {
        # a BMP-only class compiles to one bitmap in ``re``; astral characters are checked one by one (rare)
        "removed_bmp": re.compile(f"[{bmp_removed}]+"),
        "astral": re.compile("[\U00010000-\U0010ffff]"),
        "kept": re.compile(f"[^{removed}]+"),
        "cjk": re.compile(f"[{cjk}]"),
        "words": re.compile(r"\S+"),
        "words_cjk": re.compile(f"[{cjk}]|[^\\s{cjk}]+"),
        "punct_split": re.compile(f"[{punct}]|[^{punct}]+"),
        "marks": re.compile(f"[{marks}]+"),
    }


def _clusters(text, spans):
    """``[[(char, span), ...], ...]``: each base character with what NFC composes into it (marks, Hangul jamo);
    a mark NFC leaves as it is (after ``.``, say) is a cluster of its own, with its own span."""
    out, prev = [], ""
    for c, span in zip(text, spans):
        if out and (unicodedata.combining(c) or len(unicodedata.normalize("NFC", prev + c)) <=
                    len(unicodedata.normalize("NFC", prev))):
            out[-1].append((c, span))
            prev += c
        else:
            out.append([(c, span)])
            prev = c
    return [part for cluster in out for part in _split_off_uncomposed(cluster)]


def _split_off_uncomposed(cluster):
    """The cluster cut where NFC does not compose across: at each step the shortest head whose NFC followed by
    the rest's NFC is the NFC of both (NFC may also reorder the marks of the rest among themselves). The search
    is quadratic: a cluster of more than 32 characters (no text has that many marks on one letter) stays whole."""
    if len(cluster) > 32:
        return [cluster]
    parts, nfc = [], lambda items: unicodedata.normalize("NFC", "".join(c for c, _ in items))
    while cluster:
        whole = nfc(cluster)
        k = next(k for k in range(1, len(cluster) + 1) if nfc(cluster[:k]) + nfc(cluster[k:]) == whole)
        parts.append(cluster[:k])
        cluster = cluster[k:]
    return parts


def load_vocab(vocab_file):
    """``{token: index}`` of a vocab.txt as the reference reads it (one token a line, only ``\\n`` stripped)."""
    if vocab_file is None or not os.path.isfile(vocab_file):
        raise PaddleRembertError(f"vocabulary file not found: {vocab_file}")
    try:
        with open(vocab_file, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as e:
        raise PaddleRembertError(f"{vocab_file} is not a UTF-8 vocab.txt: {e}") from None
    if not lines:  # a failed download: every word would become [UNK] and the special tokens get new ids
        raise PaddleRembertError(f"{vocab_file} is empty")
    return {token.rstrip("\n"): i for i, token in enumerate(lines)}


class WordPieceTokenizer(PreTrainedTokenizer):
    """WordPiece backend with BERT's ``BasicTokenizer``; arguments and defaults as transformers' ``BertTokenizer``."""

    vocab_files_names = {"vocab_file": "vocab.txt"}
    max_input_chars_per_word = 100
    do_split_on_punc = True  # the reference's BasicTokenizer option (BertTokenizer never changes it)

    def __init__(self, vocab_file, do_lower_case=True, do_basic_tokenize=True, never_split=None, unk_token="[UNK]",
                 sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
                 tokenize_chinese_chars=True, strip_accents=None, clean_up_tokenization_spaces=True, **kwargs):
        self.vocab_file = os.fspath(vocab_file) if vocab_file is not None else None
        self.vocab = load_vocab(self.vocab_file)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self._max_piece_len = max(map(len, self.vocab), default=0)
        self.do_lower_case, self.do_basic_tokenize = do_lower_case, do_basic_tokenize
        self.never_split = never_split
        self._basic_never_split = set(never_split or ())
        self.tokenize_chinese_chars, self.strip_accents = tokenize_chinese_chars, strip_accents
        self._wordpiece_unk = str(unk_token)
        self._patterns = _patterns()
        self._cache, self._detail_cache = {}, {}
        super().__init__(do_lower_case=do_lower_case, do_basic_tokenize=do_basic_tokenize, never_split=never_split,
                         unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                         mask_token=mask_token, tokenize_chinese_chars=tokenize_chinese_chars,
                         strip_accents=strip_accents, clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                         **kwargs)

    # ----------------------------------------------------------------- vocabulary and files
    @property
    def vocab_size(self):
        return len(self.vocab)

    def get_vocab(self):
        return dict(self.vocab, **self.added_tokens_encoder)

    def _vocab_token_to_id(self, token):
        return self.vocab.get(token, self.vocab.get(self.unk_token))

    def _vocab_id_to_token(self, index):
        # the reference's ids_to_tokens.get(index, unk_token): any id it lacks (-100 label padding, past the end) is
        # the unk token
        return self.ids_to_tokens.get(index, self.unk_token)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        path = self._vocab_path(save_directory, filename_prefix, "vocab_file")
        with atomic_open(path, "w") as f:
            f.writelines(token + "\n" for token, _ in sorted(self.vocab.items(), key=lambda kv: kv[1]))
        return (path,)

    @property
    def _lowercase_outside_added(self):
        # The reference's do_lower_case property reads the BasicTokenizer, which exists only with do_basic_tokenize.
        return bool(self.do_basic_tokenize and self.do_lower_case)

    def _refresh_backend(self):
        self._never_split_all = self._basic_never_split | set(self.all_special_tokens)
        self._cache, self._detail_cache = {}, {}  # new dicts, not clear(): a concurrent call keeps its own

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_patterns"], state["_cache"], state["_detail_cache"] = None, {}, {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._patterns = _patterns()

    # ----------------------------------------------------------------- the reference's steps
    def _words(self, text):
        """The chunk's words before the per-word steps: ``_clean_text``, CJK spacing, NFC, whitespace split.

        CJK spacing is a split (a CJK character is a word of its own) rather than a substitution,
        and NFC runs on the words joined by single spaces: NFC never composes across whitespace,
        so the words are the reference's.
        """
        if not self.do_basic_tokenize:
            return text.split()
        patterns = self._patterns
        text = patterns["removed_bmp"].sub("", text)
        if text.isascii():
            return text.split()
        if patterns["astral"].search(text):
            text = "".join(ch for ch in text if ch < "\U00010000" or not _is_removed(ch))
        if self.tokenize_chinese_chars and patterns["cjk"].search(text):
            text = " ".join(patterns["words_cjk"].findall(text))
        return unicodedata.normalize("NFC", text).split()

    def _normalize_word(self, word):
        """Lower-casing and accent stripping of one word (the reference's order and flags)."""
        if self.do_lower_case:
            word = word.lower()
            if self.strip_accents is not False:
                word = self._strip_accents(word)
        elif self.strip_accents:
            word = self._strip_accents(word)
        return word

    def _strip_accents(self, text):
        return text if text.isascii() else self._patterns["marks"].sub("", unicodedata.normalize("NFD", text))

    def _basic_words(self, word):
        """One word of the cleaned text to the reference's BasicTokenizer output tokens."""
        if word in self._never_split_all:
            return [word]
        word = self._normalize_word(word)
        pieces = self._patterns["punct_split"].findall(word) if self.do_split_on_punc else [word]
        return " ".join(pieces).split()

    def _wordpiece(self, token):
        """Greedy longest-match-first WordPiece of one token (the reference's loop, bounded by the longest piece)."""
        n = len(token)
        if n > self.max_input_chars_per_word:
            return [self._wordpiece_unk]
        vocab, longest, start, out = self.vocab, self._max_piece_len, 0, []
        while start < n:
            end = min(n, start + (longest if start == 0 else longest - 2))
            while start < end:
                sub = token[start:end] if start == 0 else "##" + token[start:end]
                if sub in vocab:
                    break
                end -= 1
            else:
                return [self._wordpiece_unk]
            out.append(sub)
            start = end
        return out

    def _word_tokens(self, word):
        if not self.do_basic_tokenize:
            return self._wordpiece(word)
        out = []
        for token in self._basic_words(word):
            out.extend([token] if token in self._basic_never_split else self._wordpiece(token))
        return out

    def _tokenize_chunk(self, text):
        return [t for word in self._words(text) for t in self._word_tokens(word)]

    def _encode_chunks(self, chunks):
        return self._encode_words_cached(chunks, self._words, self._word_tokens)

    # ----------------------------------------------------------------- offsets
    def _encode_chunks_detailed(self, chunks):
        return [self._encode_chunk_detailed(c) for c in chunks]

    def _encode_chunk_detailed(self, chunk):
        """``(ids, offsets, word_ids)`` of one chunk; offsets index ``chunk``, words as BertPreTokenizer splits.

        Each word's tokens, with spans relative to the word's characters, are cached like the ids.
        """
        if self.do_basic_tokenize:
            kept = [m for m in self._patterns["kept"].finditer(chunk)]
            cleaned = "".join(m.group() for m in kept)
            pos = [i for m in kept for i in range(m.start(), m.end())]
            pattern = self._patterns["words_cjk" if self.tokenize_chinese_chars else "words"]
        else:
            cleaned, pos, pattern = chunk, range(len(chunk)), self._patterns["words"]
        cache = self._detail_cache
        if len(cache) > _CACHE_LIMIT:
            cache = self._detail_cache = {}
        ids, offsets, words, n_words = [], [], [], 0
        for m in pattern.finditer(cleaned):
            entry = cache.get(m.group())
            if entry is None:
                entry = cache[m.group()] = self._word_detail(m.group())
            start = m.start()
            for idx, a, b, w in entry[0]:
                ids.append(idx)
                offsets.append((pos[start + a], pos[start + b - 1] + 1))
                words.append(n_words + w)
            n_words += entry[1]
        return ids, offsets, words

    def _word_detail(self, raw):
        """``([(id, start, end, word), ...], number of words)`` of one cleaned word, spans in its characters."""
        ids, offsets, words = [], [], []
        spans = [(i, i + 1) for i in range(len(raw))]
        if not self.do_basic_tokenize:
            n = self._add_pieces(raw, spans, 0, ids, offsets, words, split=False)
            return list(zip(ids, *zip(*offsets), words)) if ids else [], n
        word = unicodedata.normalize("NFC", raw)
        if word in self._never_split_all:
            n = self._add_pieces(word, spans if len(word) == len(spans) else [(0, len(raw))] * len(word), 0, ids,
                                 offsets, words, split=False)
            return list(zip(ids, *zip(*offsets), words)) if ids else [], n
        target = self._normalize_word(word)
        chars, char_spans = [], []
        for c, span in zip(raw, spans):  # per original character, as the fast tokenizers align
            out = self._normalize_word(c)
            chars.append(out)
            char_spans.extend([span] * len(out))
        if "".join(chars) != target:  # NFC composed something: per base character and its marks
            chars, char_spans = [], []
            for cluster in _clusters(raw, spans):
                out = self._normalize_word(unicodedata.normalize("NFC", "".join(c for c, _ in cluster)))
                chars.append(out)
                char_spans.extend([(cluster[0][1][0], cluster[-1][1][1])] * len(out))
        if "".join(chars) != target:  # context-dependent case mapping: whole-word spans
            char_spans = [(0, len(raw))] * len(target)
        n = self._add_pieces(target, char_spans, 0, ids, offsets, words)
        return list(zip(ids, *zip(*offsets), words)) if ids else [], n

    def _add_pieces(self, word, spans, n_words, ids, offsets, words, split=True):
        """Punctuation-split ``word`` (spans per character), WordPiece each part; returns the next word index."""
        parts = [(m.group(), m.start()) for m in self._patterns["punct_split"].finditer(word)] \
            if split and self.do_split_on_punc else [(word, 0)] if word else []
        for token, a in parts:
            if token in self._basic_never_split and self.do_basic_tokenize:
                pieces = [token]
            else:
                pieces = self._wordpiece(token)
            if pieces == [self._wordpiece_unk] and not (len(token) == len(self._wordpiece_unk) and token == pieces[0]):
                bounds = [(0, len(token))]
            else:
                bounds, s = [], 0
                for p in pieces:
                    n = len(p) - (2 if s > 0 else 0)
                    bounds.append((s, s + n))
                    s += n
            for p, (s, e) in zip(pieces, bounds):
                ids.append(self._token_to_id(p))
                offsets.append((spans[a + s][0], spans[a + e - 1][1]))
                words.append(n_words)
            n_words += 1
        return n_words

    def convert_tokens_to_string(self, tokens):
        return " ".join(tokens).replace(" ##", "").strip()
