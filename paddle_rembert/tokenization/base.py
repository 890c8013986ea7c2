"""Backend-agnostic tokenizer base: transformers 4.46's *slow* ``PreTrainedTokenizer`` semantics.

A converted model is only as good as its inputs, so the tokenizers reproduce transformers 4.46's
slow tokenizers id for id (quirks included: per-character lower-casing outside special tokens,
literal special tokens split out of the text, ``[MASK]`` eating the space on its left, the exact
truncation arithmetic). This class holds everything that does not depend on the vocabulary
model: special and added tokens, splitting them out of text, truncation, padding, ``__call__``,
``pad``, ``decode``, the config files. A backend (SentencePiece, WordPiece, byte-level BPE)
implements the small interface below; its batched ``_encode_chunks`` is where the speed comes from.

Backend interface (subclasses):

* ``__init__``: load the vocabulary, then call ``super().__init__(**every_init_argument)``.
* ``vocab_files_names``: ``{__init__ argument: file name}`` (``from_pretrained`` and ``save_vocabulary``).
* ``vocab_size``, ``get_vocab()``, ``_vocab_token_to_id(token)``, ``_vocab_id_to_token(index)``
  (``None`` when out of range, negative ids included; WordPiece gives the unk token there, as its reference):
  the model's own vocabulary, without added tokens.
* ``_tokenize_chunk(text) -> tokens``: the reference's ``_tokenize`` of one chunk (no added tokens in it).
* ``_encode_chunks(chunks) -> [[id, ...], ...]``: ids of many chunks at once (default: one by one).
* ``_encode_chunks_detailed(chunks) -> [(ids, offsets, word_ids), ...]``: ids plus ``(start, end)``
  character spans into each chunk and the index of each token's pre-tokenised word in the chunk.
* ``convert_tokens_to_string(tokens)``, ``save_vocabulary(directory, filename_prefix) -> paths``.
* Optional: ``_special_layout(pair)`` (the special-token template; RoBERTa's ``<s> A </s></s> B </s>``),
  ``_prepare_text(text)`` (text before lower-casing, e.g. RoBERTa's prefix space),
  ``_lowercase_outside_added`` (the reference's ``do_lower_case`` test), ``_refresh_backend()``
  (called when the added tokens change), ``_special_ids_in_mask()``, and for offsets
  ``_finish_offsets(ids, offsets)`` and ``added_token_offsets_include_stripped`` (see :mod:`.offsets`).

Files: ``from_pretrained`` reads hub and ``save_pretrained`` dirs of transformers and PaddleNLP;
``save_pretrained`` writes transformers 4.46's layout (see docs/tokenizers.md).
"""
import copy
import logging
import os
import re

import numpy as np

from ..runtime.errors import PaddleRembertError
from .compat import TransformersApiMixin
from .offsets import LazyDetail, call_detailed
from .types import (SPECIAL_TOKENS_ATTRIBUTES, TENSOR_TYPES, AddedToken, BatchEncoding, _check_choice, _lower_per_char,
                    _type_field)
from .utils import (bind_options, check_text, clean_up_tokenization, collate_columns, per_word,
                    split_inputs, split_word_inputs, to_list, write_sorted_json)

VERY_LARGE_INTEGER = int(1e30)  # transformers' "no maximum length" sentinel (saved as is)
LARGE_INTEGER = int(1e20)
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
logger = logging.getLogger(__name__)
_PADDED_KEYS = ("input_ids", "token_type_ids", "special_tokens_mask", "attention_mask", "offset_mapping")


def _warn_uncut(which, length, remove, strategy):
    advice = "" if strategy == "longest_first" else " (use truncation='longest_first')"
    logger.warning("cannot truncate to max_length: the %s sequence has %d token%s and %d must go; it is kept "
                   "whole%s", which, length, "s" * (length != 1), remove, advice)


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


WORD_CACHE_LIMIT = 200_000  # words; a backend's word cache is dropped (not trimmed) when it grows past this

class PreTrainedTokenizer(TransformersApiMixin):
    """Base of every tokenizer here (transformers 4.46 slow semantics); see the module docstring.

    The rest of transformers' public API (``add_special_tokens``, ``batch_encode_plus``,
    ``prepare_for_model``, ...) comes from :class:`.compat.TransformersApiMixin`.
    """

    vocab_files_names = {}
    # PaddleNLP's names for this tokenizer (same files, same ids), as its tokenizer_config.json may give them
    paddlenlp_class_names = ()
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"
    pad_token_type_id = 0

    def __init__(self, **kwargs):
        added_decoder = kwargs.pop("added_tokens_decoder", None) or {}
        self.init_kwargs = copy.deepcopy(kwargs)
        specials = {k: kwargs.pop(k, None) for k in SPECIAL_TOKENS_ATTRIBUTES[:-1]}
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
        self.add_tokens([t for t in self.all_special_tokens_extended if str(t) not in self._added_tokens_encoder],
                        special_tokens=True)

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def from_pretrained(cls, pretrained_dir, **kwargs):
        """Load a tokenizer dir of transformers (hub or ``save_pretrained``), PaddleNLP or ours.

        The files are read as transformers 4.46 reads them (see
        :func:`paddle_rembert.tokenization.files.read_tokenizer_dir`); ``kwargs`` override the config.
        """
        from .files import read_tokenizer_dir

        vocab_files, init_kwargs = read_tokenizer_dir(cls, pretrained_dir, kwargs)
        return cls(*vocab_files, **init_kwargs)

    def save_pretrained(self, save_directory, legacy_format=None, filename_prefix=None, push_to_hub=False):
        """Write the vocabulary files, tokenizer_config.json and special_tokens_map.json (transformers 4.46 layout,
        its slow tokenizers' ``legacy_format``).

        The dir loads with the same ids in this class, transformers' slow tokenizer and PaddleNLP's
        ``AutoTokenizer``. Each file is written to a temporary name and renamed.
        """
        if legacy_format is False or push_to_hub:
            raise PaddleRembertError("save_pretrained writes a slow tokenizer's files: legacy_format=False (a fast "
                                     "tokenizer's tokenizer.json alone) and push_to_hub are not supported")
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
        for key in ("name_or_path", "special_tokens_map_file", "tokenizer_file", *self.vocab_files_names):
            config.pop(key, None)
        files = [os.path.join(save_directory, prefix + TOKENIZER_CONFIG_FILE),
                 os.path.join(save_directory, prefix + SPECIAL_TOKENS_MAP_FILE)]
        write_sorted_json(files[0], config)
        specials = {k: ([t.to_dict(False) if isinstance(t, AddedToken) else t for t in v] if isinstance(v, list)
                        else v.to_dict(False) if isinstance(v, AddedToken) else v)
                    for k, v in self._special_tokens.items() if v}
        write_sorted_json(files[1], specials)
        added = {t.content: i for i, t in sorted(self._added_tokens_decoder.items()) if i >= self.vocab_size}
        if added:
            files.append(os.path.join(save_directory, prefix + ADDED_TOKENS_FILE))
            write_sorted_json(files[-1], added)
        files.extend(self.save_vocabulary(save_directory, filename_prefix))
        return tuple(files)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        """Write the backend's vocabulary files into ``save_directory``; returns their paths."""
        raise NotImplementedError

    def _vocab_path(self, save_directory, filename_prefix, arg):
        return os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") +
                            self.vocab_files_names[arg])

    def _extra_saved_config(self):
        """Extra tokenizer_config.json keys a subclass needs for other loaders (see AlbertTokenizer)."""
        return {}

    @classmethod
    def missing_vocabulary_hint(cls, directory):
        """Text added to the error for a ``directory`` without this class's vocabulary (see AlbertTokenizer)."""
        return ""

    # ----------------------------------------------------------------- vocabulary and special tokens
    bos_token, bos_token_id = _special_token_property("bos_token")
    eos_token, eos_token_id = _special_token_property("eos_token")
    unk_token, unk_token_id = _special_token_property("unk_token")
    sep_token, sep_token_id = _special_token_property("sep_token")
    pad_token, pad_token_id = _special_token_property("pad_token")
    cls_token, cls_token_id = _special_token_property("cls_token")
    mask_token, mask_token_id = _special_token_property("mask_token")

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
    def added_tokens_decoder(self):
        return dict(sorted(self._added_tokens_decoder.items()))

    @property
    def _lowercase_outside_added(self):
        """The reference's ``hasattr(self, "do_lower_case") and self.do_lower_case`` test."""
        return bool(getattr(self, "do_lower_case", False))

    def __len__(self):
        """Size of the full vocabulary with the added tokens."""
        return self._total_vocab_size

    def num_special_tokens_to_add(self, pair=False):
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    def add_tokens(self, new_tokens, special_tokens=False):
        """Add tokens that are split out of raw text (new ids at the end); returns how many are new."""
        new_tokens = [new_tokens] if isinstance(new_tokens, (str, AddedToken)) else new_tokens or []  # None: none
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]  # one token of another AddedToken type, or a wrong type coerce names
        vocab = self.get_vocab()
        new_idx, added = len(vocab), 0
        for token in new_tokens:
            token = AddedToken.coerce(token, "a special token" if special_tokens else "a token")
            if str(token) == "":
                continue
            if isinstance(token, str):
                if token in self._added_tokens_encoder:
                    continue
                special = token in self.all_special_tokens or special_tokens
                token = AddedToken(token, normalized=not special, special=special)
            elif special_tokens:
                token.special = True
            if not token.special and token.normalized and self._lowercase_outside_added:
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
        self._refresh_backend()

    def _refresh_backend(self):
        """Hook: the added or special tokens changed (drop caches that depend on them)."""

    def convert_tokens_to_ids(self, tokens):
        """Token (or list of tokens) to id(s); added tokens first, then the model's vocabulary."""
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
        return idx if idx is not None else self._vocab_token_to_id(token)

    # an id outside the vocabulary: None from convert_ids_to_tokens (the reference's RoBERTa), else an error
    unknown_id_is_none = False

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Id (or list of ids) to token(s); ``skip_special_tokens`` drops special ids from a list."""
        return self._ids_to_tokens(ids, skip_special_tokens, self.unknown_id_is_none)

    def _ids_to_tokens(self, ids, skip_special_tokens=False, unknown_is_none=False):
        if isinstance(ids, (int, np.integer)):
            return self._id_to_token(int(ids), unknown_is_none)
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(int(i), unknown_is_none) for i in to_list(ids) if int(i) not in skip]

    def _id_to_token(self, index, unknown_is_none=False):
        tok = self._added_tokens_decoder.get(index)
        if tok is not None:
            return tok.content
        token = self._vocab_id_to_token(index)
        if token is None and not unknown_is_none:
            raise PaddleRembertError(f"token id {index} is out of range: the vocabulary has {len(self)} ids")
        return token

    # ----------------------------------------------------------------- tokenization
    def _prepare_text(self, text):
        """Hook: the text before lower-casing and added-token splitting (RoBERTa adds a prefix space)."""
        return text

    def _lower_outside_protected(self, text):
        if self._protect_re is None:
            return _lower_per_char(text)
        parts = self._protect_re.split(text)
        return "".join(p if i % 2 else _lower_per_char(p) for i, p in enumerate(parts))

    def _split_text(self, text, split_special_tokens):
        """Reference ``tokenize`` up to the model: lower-case, split out added tokens, strip around them."""
        text = self._prepare_text(text)
        if self._lowercase_outside_added:
            text = self._lower_outside_protected(text)
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

    def _tokenize_chunk(self, text):
        """The reference's ``_tokenize`` of one chunk without added tokens (backend)."""
        raise NotImplementedError

    def _encode_chunks(self, chunks):
        """Ids of many chunks (backend; this default goes one by one)."""
        return [self.convert_tokens_to_ids(self._tokenize_chunk(c)) for c in chunks]

    def _encode_chunks_detailed(self, chunks):
        """``[(ids, offsets into the chunk, word index per token), ...]`` (backend; offsets and word ids)."""
        raise PaddleRembertError(f"{type(self).__name__} cannot return offsets or word ids")

    # the fast tokenizers (not RoBERTa's, which trims offsets): an added token's span covers the whitespace its
    # lstrip / rstrip took
    added_token_offsets_include_stripped = True

    def _finish_offsets(self, ids, offsets):
        """Hook: adjust one sequence's offsets in place once they index the original text (RoBERTa trims spaces)."""

    def tokenize(self, text, *, split_special_tokens=None, **kwargs):
        """Text to tokens, exactly as the reference's ``tokenize`` (other keyword arguments are ignored, as there,
        except the backend's per-call options, e.g. RoBERTa's ``add_prefix_space`` and ``is_split_into_words``)."""
        check_text(text, "text")
        tok = self._call_copy(kwargs, kwargs.pop("is_split_into_words", False))
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        out = []
        for chunk in tok._split_text(text, split):
            out.extend([chunk] if chunk in tok._added_tokens_encoder and not split else tok._tokenize_chunk(chunk))
        return out

    # per-call overrides of attributes: the keyword arguments of the reference's prepare_for_tokenization
    _per_call_options = ()  # RoBERTa: ("add_prefix_space",)
    _split_into_words_options = {}  # what is_split_into_words=True sets (RoBERTa: a prefix space for every word)

    def _call_copy(self, kwargs, is_split_into_words=False):
        """The tokenizer one call runs on: ``self``, or a shallow copy with the call's options (popped from
        ``kwargs``). The copy shares the vocabulary and the word caches (which no such option changes)."""
        options = {k: kwargs.pop(k) for k in self._per_call_options if k in kwargs}
        if is_split_into_words:
            options.update(self._split_into_words_options)
        options = {k: v for k, v in options.items() if getattr(self, k) != v}
        if not options:
            return self
        tok = object.__new__(type(self))
        tok.__dict__.update(self.__dict__)
        tok.__dict__.update(options)
        return tok

    def _refuse_kwargs(self, kwargs):
        for name, value in kwargs.items():
            if value not in (False, None, 0):
                raise PaddleRembertError(f"argument {name}={value!r} is not supported by {type(self).__name__}")

    def _encode_words_cached(self, chunks, split, tokens_of):
        """Ids of each chunk: ``split(chunk)`` gives its words, ``tokens_of(word)`` a word's tokens. Natural text
        repeats words, so each word's ids are cached on the tokenizer (``self._cache``, a new dict when full)."""
        cache = self._cache
        if len(cache) > WORD_CACHE_LIMIT:
            cache = self._cache = {}
        out = []
        for chunk in chunks:
            row = []
            for word in split(chunk):
                ids = cache.get(word)
                if ids is None:
                    ids = cache[word] = self.convert_tokens_to_ids(tokens_of(word))
                row += ids
            out.append(row)
        return out

    def _encode_word_lists(self, word_lists, split):
        """``encode_texts`` of pre-split texts (``is_split_into_words``): every word alone, then joined per text."""
        encoded = per_word(word_lists, lambda words: self.encode_texts(words, split))
        return [[i for ids in words for i in ids] for words in encoded]

    def encode_texts(self, texts, split_special_tokens=None):
        """Ids of each text without special tokens: the batched path behind ``__call__``.

        The texts are cut at their added tokens and all the other chunks go to the backend's
        ``_encode_chunks`` in one call.
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
        ids = self._encode_chunks(chunks) if chunks else []
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
    def _special_layout(self, pair):
        """The model's template: ``[(special ids or 0/1 for the first/second sequence, token type id), ...]``."""
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if not pair:
            return [(cls, 0), (0, 0), (sep, 0)]
        return [(cls, 0), (0, 0), (sep, 0), (1, 1), (sep, 1)]

    def _from_layout(self, token_ids_0, token_ids_1, what):
        seqs, out = (token_ids_0, token_ids_1), []
        for part, type_id in self._special_layout(token_ids_1 is not None):
            items = seqs[part] if isinstance(part, int) else part
            out += items if what == "ids" else [type_id] * len(items) if what == "types" else \
                [0 if isinstance(part, int) else 1] * len(items)
        return out

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` (the model's ``_special_layout``)."""
        return self._from_layout(token_ids_0, token_ids_1, "ids")

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]`` (the model's ``_special_layout``)."""
        return self._from_layout(token_ids_0, token_ids_1, "types")

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
        return self._from_layout(token_ids_0, token_ids_1, "special")

    def truncate_sequences(self, ids, pair_ids=None, num_tokens_to_remove=0, truncation_strategy="longest_first",
                           stride=0, *, verbose=True):
        """Transformers 4.46's truncation arithmetic; returns ``(ids, pair_ids, overflowing_tokens)``. A side that
        cannot shrink enough is kept whole, with a warning (the reference logs an error) unless not ``verbose``."""
        if num_tokens_to_remove <= 0:
            return ids, pair_ids, []
        _check_choice("truncation", truncation_strategy, TRUNCATION_STRATEGIES)
        left, overflow = self.truncation_side == "left", []
        if truncation_strategy == "only_first" or (truncation_strategy == "longest_first" and pair_ids is None):
            if len(ids) > num_tokens_to_remove:
                window = min(len(ids), stride + num_tokens_to_remove)
                overflow = ids[:window] if left else ids[-window:]
                ids = ids[num_tokens_to_remove:] if left else ids[:-num_tokens_to_remove]
            elif verbose:  # kept whole, as the reference does (it logs an error)
                _warn_uncut("first", len(ids), num_tokens_to_remove, truncation_strategy)
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
        elif truncation_strategy == "only_second" and pair_ids is not None:  # without a pair: untouched, silently
            if len(pair_ids) > num_tokens_to_remove:
                window = min(len(pair_ids), stride + num_tokens_to_remove)
                overflow = pair_ids[:window] if left else pair_ids[-window:]
                pair_ids = pair_ids[num_tokens_to_remove:] if left else pair_ids[:-num_tokens_to_remove]
            elif verbose:
                _warn_uncut("second", len(pair_ids), num_tokens_to_remove, truncation_strategy)
        return ids, pair_ids, overflow

    def _resolve_strategies(self, padding, truncation, max_length, pad_to_multiple_of):
        """Map the user's padding/truncation/max_length to strategies, with transformers' defaults."""
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer))):
            raise PaddleRembertError(f"max_length must be an int or None, got {max_length!r}")
        if max_length is not None and max_length < 0:  # transformers' fast tokenizers overflow, its slow ones log
            raise PaddleRembertError(f"max_length must be >= 0 (0: no limit), got {max_length}")
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
            return_attention_mask=None, return_tensors=None, verbose=True):
        """Pad one encoding or a batch (dict of lists or list of dicts), e.g. as a ``collate_fn``. Rows may be
        lists, numpy arrays or tensors; each example holds one sequence (not a ``[1, n]`` batch of one)."""
        cols, single, row_type = collate_columns(encoded_inputs, _PADDED_KEYS, _PADDED_KEYS[:4])
        return_tensors = row_type if return_tensors is None else return_tensors  # as transformers returns them
        if padding_side is not None:
            _check_choice("padding_side", padding_side, ("right", "left"))
        strategy, _, max_length = self._resolve_strategies(padding, None, max_length, None)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        self._pad_columns(cols, max_length, strategy, pad_to_multiple_of, padding_side, return_attention_mask)
        return BatchEncoding({k: v[0] for k, v in cols.items()} if single else cols, tensor_type=return_tensors)

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None, add_special_tokens=True,
                 padding=False, truncation=None, max_length=None, stride=0, is_split_into_words=False,
                 pad_to_multiple_of=None, padding_side=None, return_tensors=None, return_token_type_ids=None,
                 return_attention_mask=None, return_overflowing_tokens=False, return_special_tokens_mask=False,
                 return_offsets_mapping=False, return_length=False, verbose=True, split_special_tokens=None, **kwargs):
        """Encode a text, a pair, or a batch (list) of either; same arguments and output as transformers 4.46.

        For big pair lists (training), ``tok(texts_a, texts_b, truncation='longest_first',
        max_length=N)`` is the fast path: one batched backend call. ``return_offsets_mapping`` and
        ``return_overflowing_tokens`` (with ``stride``) give what transformers' fast tokenizers give
        (see :mod:`.offsets`); ``sequence_ids(i)`` and ``word_ids(i)`` work on every result.
        ``is_split_into_words=True``: a text is a list of words, each tokenized on its own (the
        reference's semantics; offsets are then within each word and word ids index the list).
        """
        tok = self._call_copy(kwargs, is_split_into_words)
        self._refuse_kwargs(dict(kwargs, text_target=text_target, text_pair_target=text_pair_target))
        _check_choice("return_tensors", return_tensors, TENSOR_TYPES)
        if padding_side is not None:
            _check_choice("padding_side", padding_side, ("right", "left"))
        if return_token_type_ids and not add_special_tokens:
            raise PaddleRembertError("return_token_type_ids=True needs add_special_tokens=True")
        pad, trunc, max_length = self._resolve_strategies(padding, truncation, max_length, pad_to_multiple_of)
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise PaddleRembertError(f"stride must be an int >= 0, got {stride!r}")
        firsts, seconds, batched = (split_word_inputs if is_split_into_words else split_inputs)(text, text_pair)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        trunc = trunc if max_length else "do_not_truncate"
        args = (firsts, seconds, split, add_special_tokens, trunc, max_length, stride)
        if return_offsets_mapping or return_overflowing_tokens:
            enc = call_detailed(tok, args, return_overflowing_tokens, return_offsets_mapping, batched, pad,
                                pad_to_multiple_of, padding_side, return_tensors, return_token_type_ids,
                                return_attention_mask, return_special_tokens_mask, return_length)
            if verbose and max_length is None:
                ids = enc["input_ids"]
                self._warn_if_too_long(ids.shape[-1] if hasattr(ids, "shape") else
                                       max(map(len, ids), default=0) if batched else len(ids))
            return enc
        texts = firsts + (seconds or [])
        all_ids = tok._encode_word_lists(texts, split) if is_split_into_words else tok.encode_texts(texts, split)
        cols = self._build_columns(all_ids, len(firsts), seconds is not None, add_special_tokens, trunc,
                                   max_length, stride, return_token_type_ids, return_special_tokens_mask,
                                   verbose)
        if verbose and max_length is None:
            self._warn_if_too_long(max(map(len, cols["input_ids"]), default=0))
        if return_length and batched:  # the reference: unpadded in a batch, padded for one text
            cols["length"] = [len(r) for r in cols["input_ids"]]
        self._pad_columns(cols, max_length, pad, pad_to_multiple_of, padding_side, return_attention_mask)
        side = padding_side or self.padding_side
        if batched:
            return BatchEncoding(cols, tensor_type=return_tensors, detail=LazyDetail(tok, args, side))
        enc = {k: v[0] for k, v in cols.items()}
        if return_length:
            enc["length"] = len(enc["input_ids"])
        return BatchEncoding(enc, tensor_type=return_tensors, prepend_batch_axis=True,
                             detail=LazyDetail(tok, args, side))

    def _warn_if_too_long(self, length):
        """transformers' warning, once per tokenizer, when an untruncated encoding exceeds ``model_max_length``:
        the model's position embeddings end there."""
        if length > self.model_max_length and not self.__dict__.get("_warned_too_long"):
            self._warned_too_long = True
            logger.warning("Token indices sequence length is longer than the specified maximum sequence length for "
                           "this model (%d > %d). Running this sequence through the model will result in indexing "
                           "errors", length, self.model_max_length)

    def _build_columns(self, all_ids, n, pair, add_special_tokens, trunc, max_length, stride, with_types,
                       with_special_mask, verbose=True):
        """Truncate and add special tokens to ``n`` rows: ``{"input_ids": [...], ...}`` of lists."""
        cls_id, sep_id = self.cls_token_id, self.sep_token_id
        standard = self._special_layout(pair) == PreTrainedTokenizer._special_layout(self, pair)
        n_special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
        ids_col, types_col, mask_col = [], [], []
        for i in range(n):
            a, b = all_ids[i], (all_ids[n + i] if pair else None)
            if trunc != "do_not_truncate":
                total = len(a) + (len(b) if pair else 0) + n_special
                if total > max_length:
                    a, b, _ = self.truncate_sequences(a, b, total - max_length, trunc, stride, verbose=verbose)
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
                                     ("attention_mask", 0), ("offset_mapping", (0, 0))) if k in cols]
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
               max_length=None, stride=0, padding_side=None, return_tensors=None, **kwargs):
        """The ``input_ids`` of one text (or pair); with ``is_split_into_words=True``, of one list of words."""
        words = kwargs.get("is_split_into_words") and isinstance(text, (list, tuple)) and \
            not any(isinstance(w, (list, tuple)) for w in text)
        if not isinstance(text, str) and not words:
            raise PaddleRembertError(f"encode() takes one text (str), got {type(text).__name__}; "
                                     "use __call__ for batches")
        return self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                    max_length=max_length, stride=stride, padding_side=padding_side, return_tensors=return_tensors,
                    **kwargs)["input_ids"]

    def encode_plus(self, text, text_pair=None, *options, **kwargs):
        """One text (or pair) as ``__call__`` encodes it; the options in transformers' positional order."""
        kwargs = bind_options("encode_plus", options, kwargs)
        if not isinstance(text, str) and not kwargs.get("is_split_into_words"):
            raise PaddleRembertError(f"encode_plus() takes one text (str), got {type(text).__name__}; use __call__ or "
                                     "batch_encode_plus for batches, is_split_into_words=True for a list of words")
        return self(text, text_pair, **kwargs)

    # ----------------------------------------------------------------- decoding
    def convert_tokens_to_string(self, tokens):
        """Tokens back to text (backend)."""
        raise NotImplementedError

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None,
               spaces_between_special_tokens=True, **kwargs):
        """Ids to text, as transformers' slow ``decode`` (added non-special tokens kept verbatim)."""
        tokens = self._ids_to_tokens(to_list(token_ids), skip_special_tokens)
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
        clean = clean_up_tokenization_spaces
        if clean is None:
            clean = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean else text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        return [self.decode(seq, skip_special_tokens, clean_up_tokenization_spaces, **kwargs)
                for seq in to_list(sequences)]

    def __repr__(self):
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, special_tokens={self.special_tokens_map})")
