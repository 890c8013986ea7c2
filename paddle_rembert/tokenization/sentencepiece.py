"""SentencePiece backend shared by ALBERT and RemBERT.

Speed without leaving the reference: all the text chunks of a batch go to SentencePiece's C++
batch encoder in one call, and only the rare chunks that need the reference's Python logic (an
unknown piece, ALBERT's ``2000,`` pieces) are redone piece by piece.
"""
import os
import re
import unicodedata

import sentencepiece as spm

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open
from .base import PreTrainedTokenizer
from .types import AddedToken

_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(chunks):
    """SentencePiece takes UTF-8 only: a lone surrogate (from a bad decode) is named, not a C++ cast error."""
    for chunk in chunks:
        m = _SURROGATE.search(chunk)
        if m:
            around = chunk[max(0, m.start() - 30):m.start() + 30]
            raise PaddleRembertError(f"text {around!r} holds a lone surrogate (U+{ord(m.group()):04X}), which "
                                     f"is not Unicode text; SentencePiece cannot encode it")

SPIECE_UNDERLINE = "\u2581"


def _fast_span(chunk, kinds, start, end, piece, rewritten):
    """A piece's span in the fast tokenizers' convention (SentencePiece's own differs at whitespace and expansions).

    A leading ``▁`` is the last whitespace character before the piece's first content character
    (or that character itself at the start of the text); a character that expands to several
    pieces (``…`` -> ``...``) spans each of them; a base letter with combining marks that the
    normaliser rewrites as one (``rewritten``: ``a`` + diaeresis + acute -> ``ä`` + acute) is the
    base letter's span.
    """
    body = piece.lstrip(SPIECE_UNDERLINE)
    first = start
    if body != piece:
        while first < len(chunk) and kinds[first] != "text":
            first += 1
        j = first - 1
        while j >= start and kinds[j] == "gone":
            j -= 1
        start = j if j >= 0 and kinds[j] == "space" else first
        if not body:
            return start, min(start + 1, len(chunk))
    if body and end <= first < len(chunk):
        end = first + 1
    base = end - 1
    while base > start and unicodedata.combining(chunk[base]):
        base -= 1
    if end - base > 1 and kinds[base] == "text" and rewritten(chunk[base:end]):
        end = base + 1
    return start, end


class SentencePieceTokenizer(PreTrainedTokenizer):
    """Base of :class:`AlbertTokenizer` and :class:`RemBertTokenizer` (transformers 4.46 semantics).

    Subclasses set the file name and defaults and may override :meth:`_normalize` (text of one
    chunk before SentencePiece), :meth:`_fix_pieces` and :meth:`_needs_exact` (pieces the fast
    id path cannot handle) and :meth:`convert_tokens_to_string`.
    """

    vocab_file_name = "spiece.model"
    vocab_files_names = {"vocab_file": "spiece.model"}
    vocab_file_alternatives = {"vocab_file": ("spiece.model", "sentencepiece.model")}  # either name loads
    uses_sp_model_kwargs = True  # RemBERT's reference ignores sp_model_kwargs
    num_threads = None  # threads of SentencePiece's batch encoder; None: its default (all cores)
    mask_token_normalized = None  # None: AddedToken default (normalized); ALBERT: False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.vocab_files_names = {"vocab_file": cls.vocab_file_name}

    def __init__(self, vocab_file, do_lower_case, remove_space, keep_accents, bos_token, eos_token,
                 unk_token, sep_token, pad_token, cls_token, mask_token, sp_model_kwargs=None, **kwargs):
        if isinstance(mask_token, str):  # [MASK] behaves like a word: it takes the space on its left
            mask_token = AddedToken(mask_token, lstrip=True, rstrip=False, normalized=self.mask_token_normalized)
        self.do_lower_case, self.remove_space, self.keep_accents = do_lower_case, remove_space, keep_accents
        self.vocab_file = os.fspath(vocab_file) if vocab_file is not None else None
        self.sp_model_kwargs = {} if sp_model_kwargs is None else dict(sp_model_kwargs)
        self.sp_model = self._load_sp_model(self.vocab_file)
        self._pieces = self.sp_model.id_to_piece(list(range(len(self.sp_model))))
        needs_exact = type(self)._needs_exact is not SentencePieceTokenizer._needs_exact
        self._piece_exact_ids = {i for i, p in enumerate(self._pieces) if self._needs_exact(p)} \
            if needs_exact else set()
        init = dict(do_lower_case=do_lower_case, remove_space=remove_space, keep_accents=keep_accents,
                    bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, sep_token=sep_token,
                    pad_token=pad_token, cls_token=cls_token, mask_token=mask_token)
        if self.uses_sp_model_kwargs:
            init["sp_model_kwargs"] = self.sp_model_kwargs
        super().__init__(**init, **kwargs)

    def _load_sp_model(self, path):
        if path is None or not os.path.isfile(path):
            raise PaddleRembertError(f"SentencePiece model file not found: {path}")
        sp = spm.SentencePieceProcessor(**(self.sp_model_kwargs if self.uses_sp_model_kwargs else {}))
        try:
            sp.Load(path)
        except (RuntimeError, OSError) as e:
            raise PaddleRembertError(f"{path} is not a valid SentencePiece model: {e}") from None
        return sp

    def __getstate__(self):
        state = self.__dict__.copy()
        state["sp_model"] = self.sp_model.serialized_model_proto()
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        sp = spm.SentencePieceProcessor(**(self.sp_model_kwargs if self.uses_sp_model_kwargs else {}))
        sp.LoadFromSerializedProto(state["sp_model"])
        self.sp_model = sp

    def save_vocabulary(self, save_directory, filename_prefix=None):
        path = self._vocab_path(save_directory, filename_prefix, "vocab_file")
        with atomic_open(path, "wb") as f:
            f.write(self.sp_model.serialized_model_proto())
        return (path,)

    # ----------------------------------------------------------------- vocabulary
    @property
    def vocab_size(self):
        """Size of the SentencePiece vocabulary (without added tokens)."""
        return len(self._pieces)

    def get_vocab(self):
        keys = list(self._pieces)
        for i, tok in self._added_tokens_decoder.items():
            if i < len(keys):
                keys[i] = tok.content
        vocab = dict(zip(keys, range(len(keys))))
        vocab.update(self.added_tokens_encoder)
        return vocab

    def _vocab_token_to_id(self, token):
        return self.sp_model.piece_to_id(token)

    def _vocab_id_to_token(self, index):
        return self._pieces[index] if 0 <= index < len(self._pieces) else None

    def _refresh_backend(self):
        """Ids whose chunks take the exact path: unknown, subclass-fixed, and pieces shadowed by added tokens."""
        slow = set(self._piece_exact_ids)
        slow.add(self.sp_model.unk_id())
        for content, idx in self._added_tokens_encoder.items():
            sp_id = self.sp_model.piece_to_id(content)
            if self._pieces[sp_id] == content and sp_id != idx:
                slow.add(sp_id)
        self._exact_ids = frozenset(i for i in slow if i >= 0)

    # ----------------------------------------------------------------- tokenization
    def _normalize(self, text):
        """Text of one chunk as handed to SentencePiece (RemBERT: unchanged)."""
        return text

    def _needs_exact(self, piece):
        """Whether a piece must go through the reference's piece-by-piece path (ALBERT: ``2000,``)."""
        return False

    def _fix_pieces(self, pieces):
        return pieces

    def _tokenize_chunk(self, text):
        _refuse_surrogates([text])
        return self._fix_pieces(self.sp_model.encode(self._normalize(text), out_type=str))

    def _encode_chunks(self, chunks):
        """One C++ batch call; a chunk whose ids hold an unknown or subclass-fixed piece is redone exactly."""
        _refuse_surrogates(chunks)
        own_normalize = type(self)._normalize is not SentencePieceTokenizer._normalize
        normed = [self._normalize(c) for c in chunks] if own_normalize else chunks
        ids = self.sp_model.encode(normed, out_type=int, num_threads=self.num_threads)
        exact = self._exact_ids
        for i, row in enumerate(ids):
            if not exact.isdisjoint(row):
                ids[i] = self.convert_tokens_to_ids(self._fix_pieces(self.sp_model.encode(normed[i], out_type=str)))
        return ids

    # ----------------------------------------------------------------- offsets
    def _char_kind(self, ch):
        """``"space"``, ``"gone"`` (normalised away) or ``"text"``: what one character becomes for SentencePiece."""
        if ch.isspace():
            return "space"
        py = self._normalize(ch)
        if not py:
            return "gone"
        probe = self.sp_model.normalize("a" + py + "a")
        return "space" if probe == "\u2581a\u2581a" else "gone" if probe == "\u2581aa" else "text"

    def _rewritten(self, cluster):
        """Whether SentencePiece's normaliser rewrites a base letter and its marks (the fast tokenizers then align
        all of the result with the base letter)."""
        text = self._normalize(cluster)
        return self.sp_model.normalize(text) != SPIECE_UNDERLINE + text

    def _user_defined_ids(self):
        """Ids of the model's user-defined symbols: the fast tokenizers make them added tokens (words of their own)."""
        if getattr(self, "_user_defined", None) is None:
            from sentencepiece import sentencepiece_model_pb2

            proto = sentencepiece_model_pb2.ModelProto()
            proto.ParseFromString(self.sp_model.serialized_model_proto())
            user = proto.SentencePiece.USER_DEFINED
            self._user_defined = frozenset(i for i, p in enumerate(proto.pieces) if p.type == user)
        return self._user_defined

    def _normalize_aligned(self, text):
        """``(normalized text, start, end)``: :meth:`_normalize` with each output character's span in ``text``."""
        return text, list(range(len(text))), list(range(1, len(text) + 1))

    def _encode_chunks_detailed(self, chunks):
        """SentencePiece's own piece spans, mapped back through :meth:`_normalize_aligned`, in the fast tokenizers'
        convention: a ``▁`` stands for the last whitespace character before its word (or the word's first character)."""
        _refuse_surrogates(chunks)
        user_defined, out, kind_cache, rewritten_cache = self._user_defined_ids(), [], {}, {}

        def rewritten(cluster):  # per call, as the kinds: nothing grows on the tokenizer
            if cluster not in rewritten_cache:
                rewritten_cache[cluster] = self._rewritten(cluster)
            return rewritten_cache[cluster]

        for chunk in chunks:
            norm, starts, ends = self._normalize_aligned(chunk)
            char_of_byte = [i for i, c in enumerate(norm) for _ in range(len(c.encode("utf-8")))] + [len(norm)]
            pieces = self.sp_model.encode(norm, return_type="proto").pieces
            kinds = [kind_cache.get(ch) or kind_cache.setdefault(ch, self._char_kind(ch)) for ch in chunk]
            exact = [p.id in self._exact_ids for p in pieces]
            ids, offsets, words, word, after_user = [], [], [], -1, False
            for p, redo in zip(pieces, exact):
                a, b = char_of_byte[p.begin], char_of_byte[p.end]
                start = starts[a] if a < len(norm) else len(chunk)
                end = ends[b - 1] if b > a else ends[a] if a < len(norm) and p.piece != SPIECE_UNDERLINE else start
                start, end = _fast_span(chunk, kinds, start, end, p.piece, rewritten)
                literal = p.id in user_defined and chunk[start:end] == p.piece  # split out by the fast tokenizers
                if p.piece.startswith(SPIECE_UNDERLINE) or word < 0 or literal or after_user:
                    word += 1
                after_user = literal
                fixed = self._fix_pieces([p.piece]) if redo else [p.piece]
                subs = self.convert_tokens_to_ids(fixed) if redo else [p.id]
                spans, cur = [], end  # a split piece (ALBERT's "2000," -> "2000" ","): parts from the right
                for sub in reversed(fixed[1:]):
                    spans.append((max(start, cur - len(sub.lstrip(SPIECE_UNDERLINE))), cur))
                    cur = spans[-1][0]
                spans.append((start, cur))
                spans.reverse()
                if len(spans) > 1 and spans[0][0] == spans[0][1]:  # a bare "▁" with no space before its word:
                    spans[0] = (spans[1][0], spans[1][0] + 1)  # the word's first character, as the fast tokenizers'

                ids.extend(subs)
                offsets.extend(spans)
                words.extend([word] * len(subs))
            out.append((ids, offsets, words))
        return out

    def convert_tokens_to_string(self, tokens):
        return self.sp_model.decode_pieces(tokens)
