"""The rest of transformers 4.46's public ``PreTrainedTokenizer`` API, on top of :mod:`.base`'s internals.

``add_special_tokens``, ``additional_special_tokens`` (settable) and their ids,
``special_tokens_map_extended``, ``get_added_vocab``, ``batch_encode_plus``, ``prepare_for_model``,
``max_len_single_sentence`` / ``max_len_sentences_pair``, ``is_fast`` and ``clean_up_tokenization``,
with the reference's semantics. Mixed into :class:`.base.PreTrainedTokenizer`; nothing here holds
state of its own.
"""
from ..runtime.errors import PaddleRembertError
from .types import SPECIAL_TOKENS_ATTRIBUTES, TENSOR_TYPES, AddedToken, BatchEncoding, _check_choice
from .utils import bind_options, clean_up_tokenization, to_list


def _special_token(value, key):
    """A value of ``add_special_tokens``: a str becomes a non-normalised special ``AddedToken``, as the reference."""
    if isinstance(value, str):
        return AddedToken(value, normalized=False, special=True)
    if isinstance(value, AddedToken) or (hasattr(value, "content") and hasattr(value, "lstrip")):
        return AddedToken.coerce(value, key)
    raise PaddleRembertError(f"{key} must be a str or AddedToken, got {type(value).__name__}: {value!r}"[:200])


def _id_list(value, name):
    value = to_list(value)
    if not isinstance(value, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise PaddleRembertError(f"{name} must be a list of token ids (int), got {value!r}"[:200])
    return list(value)


class TransformersApiMixin:
    """transformers' ``PreTrainedTokenizer`` methods that :class:`.base.PreTrainedTokenizer` builds from its own."""

    is_fast = False
    clean_up_tokenization = staticmethod(clean_up_tokenization)

    # ----------------------------------------------------------------- special tokens
    @property
    def additional_special_tokens(self):
        return [str(t) for t in self._special_tokens.get("additional_special_tokens", [])]

    @additional_special_tokens.setter
    def additional_special_tokens(self, value):
        """Replace the list; as in the reference, the tokens are not added to the vocabulary (``add_special_tokens``
        does that)."""
        if value is not None and not isinstance(value, (list, tuple)):
            raise PaddleRembertError(f"additional_special_tokens must be a list, got {type(value).__name__}")
        self._special_tokens["additional_special_tokens"] = [AddedToken.coerce(t) for t in value or []]
        self._refresh_split_patterns()

    @property
    def additional_special_tokens_ids(self):
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    @property
    def special_tokens_map_extended(self):
        """``special_tokens_map`` with the tokens as stored (``AddedToken`` objects kept), as the reference."""
        out = {}
        for key in SPECIAL_TOKENS_ATTRIBUTES:
            value = self._special_tokens.get(key)
            if value:
                out[key] = list(value) if isinstance(value, list) else value
        return out

    def get_added_vocab(self):
        """``{token: id}`` of the added tokens (the special tokens included), in the order they were added."""
        return dict(self._added_tokens_encoder)

    def add_special_tokens(self, special_tokens_dict, replace_additional_special_tokens=True):
        """Set special tokens (``{"pad_token": "[PAD]", "additional_special_tokens": [...]}``) and add the ones
        the vocabulary lacks; returns how many new ids were added.

        As transformers 4.46: a str becomes ``AddedToken(normalized=False, special=True)``; a non-empty
        ``additional_special_tokens`` replaces the list (the old tokens stay added tokens but are no
        longer special) or, with ``replace_additional_special_tokens=False``, extends it.
        """
        if not special_tokens_dict:
            return 0
        if not isinstance(special_tokens_dict, dict):
            raise PaddleRembertError(f"special_tokens_dict must be a dict, got {type(special_tokens_dict).__name__}")
        added = []
        for key, value in special_tokens_dict.items():
            if key not in SPECIAL_TOKENS_ATTRIBUTES:
                raise PaddleRembertError(f"{key!r} is not a special token attribute (one of "
                                         f"{', '.join(SPECIAL_TOKENS_ATTRIBUTES)})")
            if key != "additional_special_tokens":
                token = _special_token(value, key)
                setattr(self, key, token)
                added.append(token)
                continue
            if not isinstance(value, (list, tuple)):
                raise PaddleRembertError(f"additional_special_tokens must be a list, got {type(value).__name__}")
            current = self.additional_special_tokens
            to_add = [t for t in (_special_token(v, key) for v in value)
                      if replace_additional_special_tokens or str(t) not in current]
            if replace_additional_special_tokens and to_add:
                self.additional_special_tokens = to_add
            else:
                self._special_tokens["additional_special_tokens"].extend(to_add)
            added += to_add
        return self.add_tokens(added, special_tokens=True)

    # ----------------------------------------------------------------- lengths
    @property
    def max_len_single_sentence(self):
        """The longest text the model takes with the special tokens of one sequence."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @max_len_single_sentence.setter
    def max_len_single_sentence(self, value):
        if value != self.max_len_single_sentence:  # the reference only tolerates setting the current value
            raise PaddleRembertError("max_len_single_sentence follows model_max_length: set model_max_length instead")

    @property
    def max_len_sentences_pair(self):
        """The longest pair (both texts) the model takes with the special tokens of a pair."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    @max_len_sentences_pair.setter
    def max_len_sentences_pair(self, value):
        if value != self.max_len_sentences_pair:
            raise PaddleRembertError("max_len_sentences_pair follows model_max_length: set model_max_length instead")

    # ----------------------------------------------------------------- encoding
    def sanitize_special_tokens(self):
        """transformers' (deprecated) way to make sure every special token is an added token; returns how many
        were added (0 once they are, as they are from the start)."""
        return self.add_tokens(self.all_special_tokens_extended, special_tokens=True)

    def batch_encode_plus(self, batch_text_or_text_pairs, *options, **kwargs):
        """A batch of texts or ``(text, text_pair)`` tuples (with ``is_split_into_words``: lists of words or pairs of
        them); the same as ``__call__`` on the batch. Every item must be a pair, or none. The options come in
        transformers' positional order."""
        kwargs = bind_options("batch_encode_plus", options, kwargs)
        batch = batch_text_or_text_pairs
        if not isinstance(batch, (list, tuple)):
            raise PaddleRembertError(f"batch_encode_plus takes a list of texts or pairs, got {type(batch).__name__}")
        if kwargs.get("is_split_into_words") and batch:
            if isinstance(batch[0], (list, tuple)) and batch[0] and isinstance(batch[0][0], (list, tuple)):
                for i, item in enumerate(batch):
                    if not isinstance(item, (list, tuple)) or len(item) != 2:
                        raise PaddleRembertError(f"batch[{i}] must be a (words, pair words) pair like batch[0]")
                return self([item[0] for item in batch], [item[1] for item in batch], **kwargs)
            batch = [[item] if isinstance(item, str) else item for item in batch]  # a str item: one word
        return self(list(batch), **kwargs)

    def prepare_for_model(self, ids, pair_ids=None, add_special_tokens=True, padding=False, truncation=None,
                          max_length=None, stride=0, pad_to_multiple_of=None, padding_side=None, return_tensors=None,
                          return_token_type_ids=None, return_attention_mask=None, return_overflowing_tokens=False,
                          return_special_tokens_mask=False, return_offsets_mapping=False, return_length=False,
                          verbose=True, prepend_batch_axis=False, **kwargs):
        """Truncate, add special tokens and pad ids that are already converted (one sequence or a pair), as
        transformers' ``prepare_for_model``; ``return_overflowing_tokens`` gives ``overflowing_tokens`` and
        ``num_truncated_tokens`` (the slow tokenizers' fields, not the fast windows of ``__call__``)."""
        self._refuse_kwargs(kwargs)
        if return_offsets_mapping:
            raise PaddleRembertError("return_offsets_mapping needs the text: pass it to __call__ (prepare_for_model "
                                     "takes ids)")
        _check_choice("return_tensors", return_tensors, TENSOR_TYPES)
        if padding_side is not None:
            _check_choice("padding_side", padding_side, ("right", "left"))
        ids = _id_list(ids, "ids")
        pair = pair_ids is not None
        pair_ids = _id_list(pair_ids, "pair_ids") if pair else None
        pad, trunc, max_length = self._resolve_strategies(padding, truncation, max_length, pad_to_multiple_of)
        if return_token_type_ids and not add_special_tokens:
            raise PaddleRembertError("return_token_type_ids=True needs add_special_tokens=True")
        if return_overflowing_tokens and trunc == "longest_first" and pair:
            raise PaddleRembertError("return_overflowing_tokens=True with a pair needs truncation='only_first' or "
                                     "'only_second', not 'longest_first'")
        if return_overflowing_tokens and max_length is None:
            raise PaddleRembertError("return_overflowing_tokens=True needs max_length")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        total = len(ids) + (len(pair_ids) if pair else 0) + (self.num_special_tokens_to_add(pair)
                                                            if add_special_tokens else 0)
        overflow = []
        if trunc != "do_not_truncate" and max_length and total > max_length:
            ids, pair_ids, overflow = self.truncate_sequences(ids, pair_ids, total - max_length, trunc, stride)
        enc = {"overflowing_tokens": overflow, "num_truncated_tokens": total - max_length} \
            if return_overflowing_tokens else {}
        cols = self._build_columns([ids, pair_ids] if pair else [ids], 1, pair, add_special_tokens, "do_not_truncate",
                                   None, 0, return_token_type_ids, return_special_tokens_mask)
        self._pad_columns(cols, max_length, pad, pad_to_multiple_of, padding_side, return_attention_mask)
        enc.update((k, v[0]) for k, v in cols.items())
        if return_length:
            enc["length"] = len(enc["input_ids"])
        return BatchEncoding(enc, tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis)
