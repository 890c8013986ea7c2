"""SentencePiece tokenizer base shared by ALBERT and RemBERT.

A converted model is only as good as its inputs, so this class reproduces transformers 4.46's
*slow* tokenizers id for id (quirks included: per-character lower-casing outside special tokens,
literal special tokens split out of the text, ``[MASK]`` eating the space on its left, the exact
truncation arithmetic). What differs is speed: all the text chunks of a batch go to
SentencePiece's C++ batch encoder in one call, and only the rare chunks that need the reference's
Python logic (an unknown piece, ALBERT's ``2000,`` pieces) are redone piece by piece.

Files: ``from_pretrained`` reads hub and ``save_pretrained`` dirs of transformers and PaddleNLP;
``save_pretrained`` writes transformers 4.46's layout (see docs/tokenizers.md).
"""
import contextlib
import copy
import gc
import json
import os
import re

import numpy as np
import sentencepiece as spm

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open
from .types import SPECIAL_TOKENS_ATTRIBUTES, TENSOR_TYPES, AddedToken, BatchEncoding, _check_choice, _type_field

VERY_LARGE_INTEGER = int(1e30)  # transformers' "no maximum length" sentinel (saved as is)
LARGE_INTEGER = int(1e20)
SPIECE_UNDERLINE = "\u2581"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
_PADDED_KEYS = ("input_ids", "token_type_ids", "special_tokens_mask", "attention_mask")
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")

def _special_token_property(attr):
    """``<attr>`` (str, settable) and ``<attr>_id`` properties of one special token."""
    def setter(self, value):
        self._special_tokens[attr] = None if value is None else AddedToken.coerce(value, attr)
        self._refresh_split_patterns()

    def get(self):
        value = self._special_tokens.get(attr)
        return None if value is None else str(value)

    return property(get, setter), property(lambda self: None if get(self) is None else self._token_to_id(get(self)))


class SentencePieceTokenizer:
    """Base of :class:`AlbertTokenizer` and :class:`RemBertTokenizer` (transformers 4.46 semantics).

    Subclasses set the file name and defaults and may override :meth:`_normalize` (text of one
    chunk before SentencePiece), :meth:`_fix_pieces` and :meth:`_needs_exact` (pieces the fast
    id path cannot handle) and :meth:`convert_tokens_to_string`.
    """

    vocab_file_name = "spiece.model"
    vocab_file_names = ("spiece.model", "sentencepiece.model")
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"
    pad_token_type_id = 0
    uses_sp_model_kwargs = True  # RemBERT's reference ignores sp_model_kwargs
    num_threads = None  # threads of SentencePiece's batch encoder; None: its default (all cores)
    mask_token_normalized = None  # None: AddedToken default (normalized); ALBERT: False

    def __init__(self, vocab_file, do_lower_case, remove_space, keep_accents, bos_token, eos_token,
                 unk_token, sep_token, pad_token, cls_token, mask_token, sp_model_kwargs=None, **kwargs):
        if isinstance(mask_token, str):  # [MASK] behaves like a word: it takes the space on its left
            mask_token = AddedToken(mask_token, lstrip=True, rstrip=False, normalized=self.mask_token_normalized)
        self.do_lower_case, self.remove_space, self.keep_accents = do_lower_case, remove_space, keep_accents
        self.vocab_file = os.fspath(vocab_file) if vocab_file is not None else None
        self.sp_model_kwargs = {} if sp_model_kwargs is None else dict(sp_model_kwargs)
        self.sp_model = self._load_sp_model(self.vocab_file)
        specials = dict(bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, sep_token=sep_token,
                        pad_token=pad_token, cls_token=cls_token, mask_token=mask_token)
        init = dict(do_lower_case=do_lower_case, remove_space=remove_space, keep_accents=keep_accents, **specials)
        if self.uses_sp_model_kwargs:
            init["sp_model_kwargs"] = self.sp_model_kwargs
        added_decoder = kwargs.pop("added_tokens_decoder", None) or {}
        init.update(kwargs)
        self.init_kwargs = copy.deepcopy(init)
        self.name_or_path = kwargs.pop("name_or_path", "")
        max_len = kwargs.pop("model_max_length", kwargs.pop("max_len", None))
        self.model_max_length = int(max_len) if max_len is not None else VERY_LARGE_INTEGER
        self.padding_side = kwargs.pop("padding_side", self.padding_side)
        self.truncation_side = kwargs.pop("truncation_side", self.truncation_side)
        _check_choice("padding_side", self.padding_side, ("right", "left"))
        _check_choice("truncation_side", self.truncation_side, ("right", "left"))
        self.model_input_names = list(kwargs.pop("model_input_names", self.model_input_names))
        self.clean_up_tokenization_spaces = bool(kwargs.pop("clean_up_tokenization_spaces", False))
        self.split_special_tokens = bool(kwargs.pop("split_special_tokens", False))
        self._special_tokens = {k: AddedToken.coerce(v, k) for k, v in specials.items() if v is not None}
        additional = kwargs.pop("additional_special_tokens", None) or []
        if not isinstance(additional, (list, tuple)):
            raise PaddleRembertError(f"additional_special_tokens must be a list, got {type(additional).__name__}")
        self._special_tokens["additional_special_tokens"] = [AddedToken.coerce(t) for t in additional]
        self._added_tokens_decoder = {int(i): AddedToken.coerce(t) if not isinstance(t, str) else AddedToken(t)
                                      for i, t in added_decoder.items()}
        self._added_tokens_encoder = {t.content: i for i, t in self._added_tokens_decoder.items()}
        self._pieces = self.sp_model.id_to_piece(list(range(len(self.sp_model))))
        needs_exact = type(self)._needs_exact is not SentencePieceTokenizer._needs_exact
        self._piece_exact_ids = {i for i, p in enumerate(self._pieces) if self._needs_exact(p)} if needs_exact else set()
        self.add_tokens([t for t in self.all_special_tokens_extended if str(t) not in self._added_tokens_encoder],
                        special_tokens=True)

    # ----------------------------------------------------------------- loading and saving
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

    @classmethod
    def from_pretrained(cls, pretrained_dir, **kwargs):
        """Load a tokenizer dir of transformers (hub or ``save_pretrained``), PaddleNLP or ours.

        The files are read as transformers 4.46 reads them (see
        :func:`paddle_rembert.tokenization.files.read_tokenizer_dir`); ``kwargs`` override the config.
        """
        from .files import read_tokenizer_dir

        vocab_file, init_kwargs = read_tokenizer_dir(cls, pretrained_dir, kwargs)
        return cls(vocab_file, **init_kwargs)

    def save_pretrained(self, save_directory, filename_prefix=None):
        """Write the model file, tokenizer_config.json and special_tokens_map.json (transformers 4.46 layout).

        The dir loads with the same ids in this class, transformers' slow tokenizer and PaddleNLP's
        ``AutoTokenizer``. Each file is written to a temporary name and renamed.
        """
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise PaddleRembertError(f"save_directory {save_directory} is a file, not a directory")
        os.makedirs(save_directory, exist_ok=True)
        prefix = filename_prefix + "-" if filename_prefix else ""
        config = copy.deepcopy(self.init_kwargs)
        for key in set(config) | {"model_max_length", "clean_up_tokenization_spaces"}:
            if hasattr(self, key) and not callable(getattr(self, key)):
                config[key] = copy.deepcopy(getattr(self, key))
        config.update(self.special_tokens_map)
        config = _type_field(config, save=True)
        config["added_tokens_decoder"] = {str(i): t.to_dict() for i, t in sorted(self._added_tokens_decoder.items())}
        config["tokenizer_class"] = type(self).__name__
        config.update(self._extra_saved_config())
        for key in ("name_or_path", "special_tokens_map_file", "tokenizer_file", "vocab_file"):
            config.pop(key, None)
        files = [os.path.join(save_directory, prefix + TOKENIZER_CONFIG_FILE),
                 os.path.join(save_directory, prefix + SPECIAL_TOKENS_MAP_FILE)]
        _write_sorted_json(files[0], config)
        specials = {k: ([t.to_dict(False) if isinstance(t, AddedToken) else t for t in v] if isinstance(v, list)
                        else v.to_dict(False) if isinstance(v, AddedToken) else v)
                    for k, v in self._special_tokens.items() if v}
        _write_sorted_json(files[1], specials)
        added = {t.content: i for i, t in sorted(self._added_tokens_decoder.items()) if i >= self.vocab_size}
        if added:
            files.append(os.path.join(save_directory, prefix + ADDED_TOKENS_FILE))
            _write_sorted_json(files[-1], added)
        files.append(os.path.join(save_directory, prefix + self.vocab_file_name))
        with atomic_open(files[-1], "wb") as f:
            f.write(self.sp_model.serialized_model_proto())
        return tuple(files)

    def _extra_saved_config(self):
        """Extra tokenizer_config.json keys a subclass needs for other loaders (see AlbertTokenizer)."""
        return {}

    # ----------------------------------------------------------------- vocabulary and special tokens
    bos_token, bos_token_id = _special_token_property("bos_token")
    eos_token, eos_token_id = _special_token_property("eos_token")
    unk_token, unk_token_id = _special_token_property("unk_token")
    sep_token, sep_token_id = _special_token_property("sep_token")
    pad_token, pad_token_id = _special_token_property("pad_token")
    cls_token, cls_token_id = _special_token_property("cls_token")
    mask_token, mask_token_id = _special_token_property("mask_token")

    @property
    def additional_special_tokens(self):
        return [str(t) for t in self._special_tokens.get("additional_special_tokens", [])]

    @property
    def special_tokens_map(self):
        """``{attribute: token}`` for every special token that is set (strings)."""
        return {k: ([str(t) for t in v] if isinstance(v, list) else str(v))
                for k, v in self._special_tokens.items() if v}

    @property
    def all_special_tokens_extended(self):
        seen, out = set(), []
        for key in SPECIAL_TOKENS_ATTRIBUTES:
            value = self._special_tokens.get(key)
            for tok in (value if isinstance(value, list) else [value] if value else []):
                if str(tok) not in seen:
                    seen.add(str(tok))
                    out.append(tok)
        return out

    @property
    def all_special_tokens(self):
        return [str(t) for t in self.all_special_tokens_extended]

    @property
    def all_special_ids(self):
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def added_tokens_encoder(self):
        return {t.content: i for i, t in sorted(self._added_tokens_decoder.items())}

    @property
    def vocab_size(self):
        """Size of the SentencePiece vocabulary (without added tokens)."""
        return len(self._pieces)

    def __len__(self):
        """Size of the full vocabulary with the added tokens."""
        return self._total_vocab_size

    def get_vocab(self):
        keys = list(self._pieces)
        for i, tok in self._added_tokens_decoder.items():
            if i < len(keys):
                keys[i] = tok.content
        vocab = dict(zip(keys, range(len(keys))))
        vocab.update(self.added_tokens_encoder)
        return vocab

    def num_special_tokens_to_add(self, pair=False):
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    def add_tokens(self, new_tokens, special_tokens=False):
        """Add tokens that are split out of raw text (new ids at the end); returns how many are new."""
        new_tokens = [new_tokens] if isinstance(new_tokens, (str, AddedToken)) else new_tokens
        vocab = self.get_vocab()
        new_idx, added = len(vocab), 0
        for token in new_tokens:
            token = AddedToken.coerce(token)
            if str(token) == "":
                continue
            if isinstance(token, str):
                if token in self._added_tokens_encoder:
                    continue
                special = token in self.all_special_tokens or special_tokens
                token = AddedToken(token, normalized=not special, special=special)
            elif special_tokens:
                token.special = True
            if not token.special and token.normalized and self.do_lower_case:
                token.content = token.content.lower()
            if token.content not in vocab:
                vocab[token.content] = index = new_idx + added
                added += 1
            else:
                index = vocab[token.content]
            if token.special and str(token) not in self.all_special_tokens:
                self._special_tokens["additional_special_tokens"].append(token)
            self._added_tokens_decoder[index] = token
            self._added_tokens_encoder[token.content] = index
        self._total_vocab_size = len(self.get_vocab())
        self._refresh_split_patterns()
        return added

    def _refresh_split_patterns(self):
        """Rebuild the regexes that split added tokens out of the text and protect them from lower()."""
        if not hasattr(self, "_added_tokens_encoder"):
            return
        toks = sorted(self._added_tokens_encoder, key=len, reverse=True)  # longest match first, like the Trie
        self._added_re = re.compile("(" + "|".join(map(re.escape, toks)) + ")") if toks else None
        protect = list(self.all_special_tokens) + [t.content for t in self._added_tokens_decoder.values()
                                                   if not t.special and t.normalized]
        self._protect_re = re.compile("(" + "|".join(map(re.escape, protect)) + ")") if protect else None
        slow = set(self._piece_exact_ids)
        slow.add(self.sp_model.unk_id())
        for content, idx in self._added_tokens_encoder.items():
            sp_id = self.sp_model.piece_to_id(content)
            if self._pieces[sp_id] == content and sp_id != idx:
                slow.add(sp_id)
        self._exact_ids = frozenset(i for i in slow if i >= 0)

    def convert_tokens_to_ids(self, tokens):
        """Token (or list of tokens) to id(s); added tokens first, then the SentencePiece vocabulary."""
        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(t) for t in tokens]

    def _token_to_id(self, token):
        if token is None:
            return None
        if not isinstance(token, str):
            raise PaddleRembertError(f"tokens must be str, got {type(token).__name__}: {token!r}")
        idx = self._added_tokens_encoder.get(token)
        return idx if idx is not None else self.sp_model.piece_to_id(token)

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Id (or list of ids) to token(s); ``skip_special_tokens`` drops special ids from a list."""
        if isinstance(ids, (int, np.integer)):
            return self._id_to_token(int(ids))
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(int(i)) for i in _to_list(ids) if int(i) not in skip]

    def _id_to_token(self, index):
        tok = self._added_tokens_decoder.get(index)
        if tok is not None:
            return tok.content
        if not 0 <= index < len(self._pieces):
            raise PaddleRembertError(f"token id {index} is out of range: the vocabulary has {len(self)} ids")
        return self._pieces[index]

    # ----------------------------------------------------------------- tokenization
    def _split_text(self, text, split_special_tokens):
        """Reference ``tokenize`` up to SentencePiece: lower-case, split out added tokens, strip around them."""
        if self.do_lower_case:
            if self._protect_re is None:
                text = _lower_per_char(text)
            else:
                parts = self._protect_re.split(text)
                text = "".join(p if i % 2 else _lower_per_char(p) for i, p in enumerate(parts))
        if split_special_tokens or self._added_re is None:
            return [text] if text else []
        tokens = [t for t in self._added_re.split(text) if t]
        if len(tokens) == 1:
            return tokens
        encoder = self._added_tokens_encoder
        for i, token in enumerate(tokens):
            if token not in encoder:
                continue
            tok = self._added_tokens_decoder[encoder[token]]
            left = tokens[i - 1] if i > 0 else None
            right = tokens[i + 1] if i < len(tokens) - 1 else None
            if tok.rstrip and right:
                tokens[i + 1] = right.lstrip()
            if tok.lstrip and left:
                tokens[i - 1] = left.rstrip()
            if tok.single_word and left and left[-1] != " ":
                tokens[i - 1] += token
                tokens[i] = ""
            elif tok.single_word and right and right[0] != " ":
                tokens[i + 1] = token + tokens[i + 1]
                tokens[i] = ""
        return [t for t in tokens if t]

    def _normalize(self, text):
        """Text of one chunk as handed to SentencePiece (RemBERT: unchanged)."""
        return text

    def _needs_exact(self, piece):
        """Whether a piece must go through the reference's piece-by-piece path (ALBERT: ``2000,``)."""
        return False

    def _fix_pieces(self, pieces):
        return pieces

    def _tokenize_chunk(self, text):
        return self._fix_pieces(self.sp_model.encode(self._normalize(text), out_type=str))

    def tokenize(self, text, split_special_tokens=None, **kwargs):
        """Text to pieces, exactly as the reference's ``tokenize`` (unknown pieces keep their surface)."""
        _check_text(text, "text")
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        out = []
        for chunk in self._split_text(text, split):
            out.extend([chunk] if chunk in self._added_tokens_encoder and not split else self._tokenize_chunk(chunk))
        return out

    def encode_texts(self, texts, split_special_tokens=None):
        """Ids of each text without special tokens: the batched fast path behind ``__call__``.

        All chunks go to SentencePiece's C++ batch encoder at once; a chunk whose ids contain an
        unknown piece or a piece the subclass must fix is redone with the reference's string path.
        """
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        encoder, plans, chunks = self._added_tokens_encoder, [], []
        for text in texts:
            plan = []
            for part in self._split_text(text, split):
                if not split and part in encoder:
                    plan.append(-1 - encoder[part])  # negative: an added token's id
                else:
                    plan.append(len(chunks))
                    chunks.append(part)
            plans.append(plan)
        normed = [self._normalize(c) for c in chunks] if type(self)._normalize is not SentencePieceTokenizer._normalize \
            else chunks
        ids = self.sp_model.encode(normed, out_type=int, num_threads=self.num_threads) if normed else []
        exact = self._exact_ids
        for i, row in enumerate(ids):
            if not exact.isdisjoint(row):
                ids[i] = self.convert_tokens_to_ids(self._fix_pieces(self.sp_model.encode(normed[i], out_type=str)))
        out = []
        for plan in plans:
            if len(plan) == 1 and plan[0] >= 0:
                out.append(ids[plan[0]])
                continue
            row = []
            for p in plan:
                row.extend(ids[p]) if p >= 0 else row.append(-1 - p)
            out.append(row)
        return out

    # ----------------------------------------------------------------- model inputs
    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if token_ids_1 is None:
            return cls + token_ids_0 + sep
        return cls + token_ids_0 + sep + token_ids_1 + sep

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        if token_ids_1 is None:
            return [0] * (len(token_ids_0) + 2)
        return [0] * (len(token_ids_0) + 2) + [1] * (len(token_ids_1) + 1)

    def _special_ids_in_mask(self):
        """Ids marked by ``get_special_tokens_mask(..., already_has_special_tokens=True)``."""
        return set(self.all_special_ids)

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        """1 where ``build_inputs_with_special_tokens`` puts a special token, else 0."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise PaddleRembertError("token_ids_1 must be None when already_has_special_tokens=True: "
                                         "ids that already hold special tokens are one sequence")
            special = self._special_ids_in_mask()
            return [1 if t in special else 0 for t in token_ids_0]
        if token_ids_1 is None:
            return [1] + [0] * len(token_ids_0) + [1]
        return [1] + [0] * len(token_ids_0) + [1] + [0] * len(token_ids_1) + [1]

    def truncate_sequences(self, ids, pair_ids=None, num_tokens_to_remove=0, truncation_strategy="longest_first",
                           stride=0):
        """Transformers 4.46's truncation arithmetic; returns ``(ids, pair_ids, overflowing_tokens)``."""
        if num_tokens_to_remove <= 0:
            return ids, pair_ids, []
        _check_choice("truncation", truncation_strategy, TRUNCATION_STRATEGIES)
        left, overflow = self.truncation_side == "left", []
        if truncation_strategy == "only_first" or (truncation_strategy == "longest_first" and pair_ids is None):
            if len(ids) > num_tokens_to_remove:  # else: the reference logs an error and keeps everything
                window = min(len(ids), stride + num_tokens_to_remove)
                overflow = ids[:window] if left else ids[-window:]
                ids = ids[num_tokens_to_remove:] if left else ids[:-num_tokens_to_remove]
        elif truncation_strategy == "longest_first":
            n0, n1 = len(ids), len(pair_ids)
            first = min(abs(n1 - n0), num_tokens_to_remove)
            second = num_tokens_to_remove - first
            if n0 > n1:
                cut0, cut1 = first + second // 2, second - second // 2
            else:
                cut0, cut1 = second // 2, first + second - second // 2
            if left:
                ids, pair_ids = ids[cut0:], pair_ids[cut1:]
            else:
                ids = ids[:-cut0] if cut0 > 0 else ids
                pair_ids = pair_ids[:-cut1] if cut1 > 0 else pair_ids
        elif truncation_strategy == "only_second" and pair_ids is not None:
            if len(pair_ids) > num_tokens_to_remove:
                window = min(len(pair_ids), stride + num_tokens_to_remove)
                overflow = pair_ids[:window] if left else pair_ids[-window:]
                pair_ids = pair_ids[num_tokens_to_remove:] if left else pair_ids[:-num_tokens_to_remove]
        return ids, pair_ids, overflow

    def _resolve_strategies(self, padding, truncation, max_length, pad_to_multiple_of):
        """Map the user's padding/truncation/max_length to strategies, with transformers' defaults."""
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer))):
            raise PaddleRembertError(f"max_length must be an int or None, got {max_length!r}")
        if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
            raise PaddleRembertError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # transformers: max_length alone switches truncation on
        pad = "longest" if padding is True else "do_not_pad" if padding in (False, None) else padding
        trunc = "longest_first" if truncation is True else "do_not_truncate" if truncation in (False, None) \
            else truncation
        _check_choice("padding", pad, PADDING_STRATEGIES + (True, False))
        _check_choice("truncation", trunc, TRUNCATION_STRATEGIES + (True, False))
        if max_length is None:  # fall back to model_max_length; without one, neither pad nor truncate
            if pad == "max_length":
                pad, max_length = ("do_not_pad", None) if self.model_max_length > LARGE_INTEGER \
                    else (pad, self.model_max_length)
            if trunc != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    trunc = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if pad != "do_not_pad" and (self.pad_token is None or self.pad_token_id < 0):
            raise PaddleRembertError("padding needs a pad_token but this tokenizer has none")
        if (trunc != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of is not None
                and max_length is not None and max_length % pad_to_multiple_of != 0):
            raise PaddleRembertError(f"truncation length max_length={max_length} is not a multiple of "
                                     f"pad_to_multiple_of={pad_to_multiple_of}")
        return pad, trunc, max_length

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None):
        """Pad one encoding or a batch (dict of lists or list of dicts), e.g. as a ``collate_fn``."""
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            encoded_inputs = {k: [e[k] for e in encoded_inputs] for k in encoded_inputs[0]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            raise PaddleRembertError("pad() needs encodings that include 'input_ids'")
        if padding_side is not None:
            _check_choice("padding_side", padding_side, ("right", "left"))
        cols = {k: _to_list(v) for k, v in encoded_inputs.items()}
        single = not cols["input_ids"] or not isinstance(cols["input_ids"][0], (list, tuple))
        cols = {k: [list(r) for r in ([v] if single else v)] if k in _PADDED_KEYS else ([v] if single else v)
                for k, v in cols.items()}
        strategy, _, max_length = self._resolve_strategies(padding, None, max_length, None)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        self._pad_columns(cols, max_length, strategy, pad_to_multiple_of, padding_side, return_attention_mask)
        return BatchEncoding({k: v[0] for k, v in cols.items()} if single else cols, tensor_type=return_tensors)

    def __call__(self, text=None, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
                 max_length=None, stride=0, pad_to_multiple_of=None, padding_side=None, return_tensors=None,
                 return_token_type_ids=None, return_attention_mask=None, return_special_tokens_mask=False,
                 return_length=False, split_special_tokens=None, verbose=True, **kwargs):
        """Encode a text, a pair, or a batch (list) of either; same arguments and output as transformers 4.46.

        For big pair lists (training), ``tok(texts_a, texts_b, truncation='longest_first',
        max_length=N)`` is the fast path: one C++ SentencePiece call per batch.
        """
        for name, value in kwargs.items():
            if value not in (False, None, 0):
                raise PaddleRembertError(f"argument {name}={value!r} is not supported by {type(self).__name__}")
        _check_choice("return_tensors", return_tensors, TENSOR_TYPES)
        if padding_side is not None:
            _check_choice("padding_side", padding_side, ("right", "left"))
        if return_token_type_ids and not add_special_tokens:
            raise PaddleRembertError("return_token_type_ids=True needs add_special_tokens=True")
        pad, trunc, max_length = self._resolve_strategies(padding, truncation, max_length, pad_to_multiple_of)
        firsts, seconds, batched = _split_inputs(text, text_pair)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        with _gc_paused(len(firsts) >= 256):  # many new lists, no cycles: skip the collector's passes
            all_ids = self.encode_texts(firsts + (seconds or []), split_special_tokens)
            cols = self._build_columns(all_ids, len(firsts), seconds is not None, add_special_tokens,
                                       trunc if max_length else "do_not_truncate", max_length, stride,
                                       return_token_type_ids, return_special_tokens_mask)
            if return_length and batched:  # the reference: unpadded in a batch, padded for one text
                cols["length"] = [len(r) for r in cols["input_ids"]]
            self._pad_columns(cols, max_length, pad, pad_to_multiple_of, padding_side, return_attention_mask)
            if batched:
                return BatchEncoding(cols, tensor_type=return_tensors)
            enc = {k: v[0] for k, v in cols.items()}
            if return_length:
                enc["length"] = len(enc["input_ids"])
            return BatchEncoding(enc, tensor_type=return_tensors, prepend_batch_axis=True)

    def _build_columns(self, all_ids, n, pair, add_special_tokens, trunc, max_length, stride, with_types,
                       with_special_mask):
        """Truncate and add special tokens to ``n`` rows: ``{"input_ids": [...], ...}`` of lists."""
        base = SentencePieceTokenizer
        standard = all(getattr(type(self), m) is getattr(base, m) for m in (
            "build_inputs_with_special_tokens", "create_token_type_ids_from_sequences", "get_special_tokens_mask"))
        cls_id, sep_id = self.cls_token_id, self.sep_token_id
        n_special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
        ids_col, types_col, mask_col = [], [], []
        for i in range(n):
            a, b = all_ids[i], (all_ids[n + i] if pair else None)
            if trunc != "do_not_truncate":
                total = len(a) + (len(b) if pair else 0) + n_special
                if total > max_length:
                    a, b, _ = self.truncate_sequences(a, b, total - max_length, trunc, stride)
            if not add_special_tokens:
                seq = a + b if pair else a
                types, special = [0] * len(seq), [0] * len(seq)
            elif standard:  # inlined [CLS] A [SEP] (B [SEP]) of the base methods
                if pair:
                    seq = [cls_id, *a, sep_id, *b, sep_id]
                    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
                    special = [1] + [0] * len(a) + [1] + [0] * len(b) + [1]
                else:
                    seq, types = [cls_id, *a, sep_id], [0] * (len(a) + 2)
                    special = [1] + [0] * len(a) + [1]
            else:
                seq = self.build_inputs_with_special_tokens(a, b)
                types = self.create_token_type_ids_from_sequences(a, b)
                special = self.get_special_tokens_mask(a, b) if with_special_mask else None
            ids_col.append(seq)
            types_col.append(types)
            mask_col.append(special)
        cols = {"input_ids": ids_col}
        if with_types:
            cols["token_type_ids"] = types_col
        if with_special_mask:
            cols["special_tokens_mask"] = mask_col
        return cols

    def _pad_columns(self, cols, max_length, strategy, pad_to_multiple_of, padding_side, return_attention_mask):
        """Batch padding in place (the reference's ``pad``): to the longest row or to ``max_length``."""
        ids = cols["input_ids"]
        if strategy == "longest":
            max_length, strategy = max(map(len, ids)), "max_length"
        if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        fills = [(k, f) for k, f in (("token_type_ids", self.pad_token_type_id), ("special_tokens_mask", 1),
                                     ("attention_mask", 0)) if k in cols]
        right = (padding_side or self.padding_side) == "right"
        pad_id = self.pad_token_id if strategy != "do_not_pad" else None
        masks = [] if return_attention_mask and "attention_mask" not in cols else None
        for i, row in enumerate(ids):
            n = max_length - len(row) if strategy != "do_not_pad" else 0
            if n <= 0:
                if masks is not None:
                    masks.append([1] * len(row))
                continue
            if right:
                ids[i] = row + [pad_id] * n
                for key, fill in fills:
                    cols[key][i] = cols[key][i] + [fill] * n
                if masks is not None:
                    masks.append([1] * len(row) + [0] * n)
            else:
                ids[i] = [pad_id] * n + row
                for key, fill in fills:
                    cols[key][i] = [fill] * n + cols[key][i]
                if masks is not None:
                    masks.append([0] * n + [1] * len(row))
        if masks is not None:
            cols["attention_mask"] = masks
        return cols

    def encode(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
               max_length=None, return_tensors=None, **kwargs):
        """The ``input_ids`` of one text (or pair)."""
        if not isinstance(text, str):
            raise PaddleRembertError(f"encode() takes one text (str), got {type(text).__name__}; use __call__ for batches")
        return self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                    max_length=max_length, return_tensors=return_tensors, **kwargs)["input_ids"]

    def encode_plus(self, text, text_pair=None, **kwargs):
        return self(text, text_pair, **kwargs)

    # ----------------------------------------------------------------- decoding
    def convert_tokens_to_string(self, tokens):
        return self.sp_model.decode_pieces(tokens)

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None,
               spaces_between_special_tokens=True, **kwargs):
        """Ids to text, as transformers' slow ``decode`` (added non-special tokens kept verbatim)."""
        tokens = self.convert_ids_to_tokens(_to_list(token_ids), skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        specials = set(self.all_special_tokens)
        legacy = (set(self._added_tokens_encoder) - specials) | {
            t for t in self.additional_special_tokens if self.convert_tokens_to_ids(t) >= self.vocab_size}
        texts, current = [], []
        for token in tokens:
            if skip_special_tokens and token in specials:
                continue
            if token in legacy:
                if current:
                    string = self.convert_tokens_to_string(current)
                    if string:
                        texts.append(string)
                    current = []
                texts.append(token)
            else:
                current.append(token)
        if current:
            texts.append(self.convert_tokens_to_string(current))
        text = (" " if spaces_between_special_tokens else "").join(texts)
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        return _clean_up_tokenization(text) if clean else text

    def batch_decode(self, sequences, **kwargs):
        return [self.decode(seq, **kwargs) for seq in _to_list(sequences)]

    def __repr__(self):
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, special_tokens={self.special_tokens_map})")


@contextlib.contextmanager
def _gc_paused(pause=True):
    enabled = pause and gc.isenabled()
    gc.disable() if enabled else None
    try:
        yield
    finally:
        gc.enable() if enabled else None


def _lower_per_char(text):
    """``str.lower`` of each character alone, as the reference's regex does: no final-sigma rule."""
    return text.replace("\u03a3", "\u03c3").lower()


def _check_text(value, name):
    if not isinstance(value, str):
        raise PaddleRembertError(f"{name} must be a str, got {type(value).__name__}: {value!r}"[:200].replace(
            "got NoneType: None", "got None"))


def _split_inputs(text, text_pair):
    """Validate ``text``/``text_pair``; return (first texts, second texts or None, batched?)."""
    if isinstance(text, str):
        if text_pair is not None:
            _check_text(text_pair, "text_pair")
            return [text], [text_pair], False
        return [text], None, False
    if not isinstance(text, (list, tuple)):
        _check_text(text, "text")
    if not text:
        raise PaddleRembertError("text is an empty list: there is nothing to encode")
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)):
            raise PaddleRembertError(f"text is a batch, so text_pair must be a list, got {type(text_pair).__name__}")
        if len(text_pair) != len(text):
            raise PaddleRembertError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
        firsts, seconds = list(text), list(text_pair)
    elif isinstance(text[0], (list, tuple)):  # a batch of (text, text_pair)
        for i, item in enumerate(text):
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise PaddleRembertError(f"text[{i}] must be a (text, text_pair) pair like text[0], got {item!r}"[:200])
        firsts, seconds = [t[0] for t in text], [t[1] for t in text]
    else:
        firsts, seconds = list(text), None
    for name, values in (("text", firsts), ("text_pair", seconds or ())):
        for i in (i for i, v in enumerate(values) if not isinstance(v, str)):
            _check_text(values[i], f"{name}[{i}]")
    return firsts, seconds, True


def _to_list(value):
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (int, np.integer)):
        return int(value)
    return value


def _clean_up_tokenization(text):
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def _write_sorted_json(path, obj):
    with atomic_open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
