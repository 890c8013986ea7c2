"""Byte-level BPE backend (RoBERTa, GPT-2 style): transformers 4.46's slow ``RobertaTokenizer`` id for id, batched.

The reference splits a chunk with the GPT-2 regex, maps each pre-token's UTF-8 bytes to
printable characters and merges pairs by rank. Here the regex runs once per chunk (C code of
``regex``), and each pre-token's ids are cached (natural text is Zipfian), so a batch mostly
costs one dict look-up per pre-token; the merge loop itself is the reference's.
"""
import functools
import json
import os

import regex

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open
from .base import WORD_CACHE_LIMIT as _CACHE_LIMIT
from .base import PreTrainedTokenizer

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@functools.lru_cache(maxsize=None)
def bytes_to_unicode():
    """Byte -> printable character, the reference's table (whitespace and control bytes moved above 255)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _read_json_vocab(path):
    if path is None or not os.path.isfile(path):
        raise PaddleRembertError(f"vocabulary file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            vocab = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise PaddleRembertError(f"{path} is not a valid vocab.json: {e}") from None
    if not isinstance(vocab, dict):
        raise PaddleRembertError(f"{path} must hold a JSON object {{token: id}}")
    return vocab


def _read_merges(path):
    """Merge ranks as the reference reads merges.txt: drop the first line (``#version``) and the last one."""
    if path is None or not os.path.isfile(path):
        raise PaddleRembertError(f"merges file not found: {path}")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:-1]
    return {tuple(line.split()): i for i, line in enumerate(lines)}


class BPETokenizer(PreTrainedTokenizer):
    """Byte-level BPE backend; the special-token layout comes from the subclass (see RobertaTokenizer)."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}
    # the reference's prepare_for_tokenization: add_prefix_space per call, and a prefix space for every pre-split word
    _per_call_options = ("add_prefix_space",)
    _split_into_words_options = {"add_prefix_space": True}
    unknown_id_is_none = True  # the reference's decoder.get(index): None for an id outside the vocabulary

    def __init__(self, vocab_file, merges_file, errors="replace", add_prefix_space=False, **kwargs):
        self.vocab_file, self.merges_file = (os.fspath(p) if p is not None else None for p in (vocab_file, merges_file))
        self.encoder = _read_json_vocab(self.vocab_file)
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.bpe_ranks = _read_merges(self.merges_file)
        self.errors, self.add_prefix_space = errors, add_prefix_space
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.pat = regex.compile(GPT2_PATTERN)
        self._cache, self._detail_cache, self._trim_cache = {}, {}, {}
        super().__init__(errors=errors, add_prefix_space=add_prefix_space, **kwargs)

    # ----------------------------------------------------------------- vocabulary and files
    @property
    def vocab_size(self):
        return len(self.encoder)

    def get_vocab(self):
        vocab = dict(self.encoder)
        vocab.update(self.added_tokens_encoder)
        return vocab

    def _vocab_token_to_id(self, token):
        return self.encoder.get(token, self.encoder.get(self.unk_token))

    def _vocab_id_to_token(self, index):
        return self.decoder.get(index)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        vocab_path = self._vocab_path(save_directory, filename_prefix, "vocab_file")
        merges_path = self._vocab_path(save_directory, filename_prefix, "merges_file")
        with atomic_open(vocab_path, "w") as f:
            f.write(json.dumps(self.encoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        with atomic_open(merges_path, "w") as f:
            f.write("#version: 0.2\n")
            f.writelines(" ".join(pair) + "\n" for pair, _ in sorted(self.bpe_ranks.items(), key=lambda kv: kv[1]))
        return vocab_path, merges_path

    def _refresh_backend(self):
        # ids depend on the added tokens (they are looked up first); new dicts, so a running call keeps its own
        self._cache, self._detail_cache, self._trim_cache = {}, {}, {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(pat=None, _cache={}, _detail_cache={}, _trim_cache={})
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.pat = regex.compile(GPT2_PATTERN)

    # ----------------------------------------------------------------- tokenization
    def _prepare_text(self, text):
        if self.add_prefix_space and text and not text[0].isspace():
            return " " + text
        return text

    def bpe(self, token):
        """The reference's merge loop over one byte-encoded pre-token; returns space-joined pieces."""
        word = tuple(token)
        if len(word) < 2:
            return token
        ranks, inf = self.bpe_ranks, float("inf")
        while True:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda pair: ranks.get(pair, inf))
            if bigram not in ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
        return " ".join(word)

    def _pretoken_tokens(self, pretoken):
        try:
            data = pretoken.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate, from a bad decode: named, as the other tokenizers do
            raise PaddleRembertError(f"text {pretoken!r} holds a lone surrogate (U+{ord(pretoken[e.start]):04X}), "
                                     "which is not Unicode text; byte-level BPE cannot encode it") from None
        encoded = "".join(self.byte_encoder[b] for b in data)
        return self.bpe(encoded).split(" ")

    def _tokenize_chunk(self, text):
        return [t for pretoken in self.pat.findall(text) for t in self._pretoken_tokens(pretoken)]

    def _encode_chunks(self, chunks):
        return self._encode_words_cached(chunks, self.pat.findall, self._pretoken_tokens)

    added_token_offsets_include_stripped = False  # RobertaTokenizerFast trims them off again

    def _encode_chunks_detailed(self, chunks):
        """Ids, untrimmed character offsets and pre-token word ids per chunk (trimmed in :meth:`_finish_offsets`)."""
        return [self._encode_chunk_detailed(c) for c in chunks]

    def _encode_chunk_detailed(self, chunk):
        cache = self._detail_cache
        if len(cache) > _CACHE_LIMIT:
            cache = self._detail_cache = {}
        ids, offsets, words = [], [], []
        for word, m in enumerate(self.pat.finditer(chunk)):
            pretoken, start = m.group(), m.start()
            entry = cache.get(pretoken)
            if entry is None:  # (ids, first and last character of each token within the pre-token)
                tokens, spans, b = self._pretoken_tokens(pretoken), [], 0
                char_of_byte = [i for i, c in enumerate(pretoken) for _ in range(len(c.encode("utf-8")))]
                for token in tokens:  # one character per byte
                    spans.append((char_of_byte[b], char_of_byte[b + len(token) - 1] + 1))
                    b += len(token)
                entry = cache[pretoken] = (self.convert_tokens_to_ids(tokens), spans)
            ids += entry[0]
            offsets += [(start + s, start + e) for s, e in entry[1]]
            words += [word] * len(entry[0])
        return ids, offsets, words

    def _finish_offsets(self, ids, offsets):
        """RobertaTokenizerFast's ``trim_offsets=True`` (Rust ``process_offsets``) on one sequence, in place:
        leading and trailing spaces leave the span, except the first token's single prefix space."""
        space = self.byte_encoder[ord(" ")]

        def run(chars):
            return next((k for k, c in enumerate(chars) if c != space and not c.isspace()), len(chars))

        trims = self._trim_cache  # id -> (leading, trailing) spaces of its token
        for i, (idx, (start, end)) in enumerate(zip(ids, offsets)):
            trim = trims.get(idx)
            if trim is None:
                token = self._id_to_token(idx)
                trim = trims[idx] = (run(token), run(token[::-1]))
            lead, trail = trim
            if lead and not ((i == 0 or start == 0) and self.add_prefix_space and lead == 1):
                start = min(start + lead, end)
            if trail and end >= trail:
                end = max(end - trail, start)
            offsets[i] = (start, end)

    # ----------------------------------------------------------------- decoding
    def convert_tokens_to_string(self, tokens):
        text = "".join(tokens)
        return bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", errors=self.errors)
