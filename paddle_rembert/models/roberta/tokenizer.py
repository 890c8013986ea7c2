"""RoBERTa's byte-level BPE tokenizer, id for id with transformers 4.46's slow ``RobertaTokenizer``.

The algorithm lives in :mod:`paddle_rembert.tokenization.bpe`; RoBERTa adds its special tokens
(``<s> A </s></s> B </s>``, all token type ids 0, no ``token_type_ids`` by default) and makes
``<mask>`` take the space on its left, as the reference does.
"""
from ...tokenization.bpe import BPETokenizer
from ...tokenization.types import AddedToken


class RobertaTokenizer(BPETokenizer):
    """RoBERTa tokenizer (``vocab.json``, ``merges.txt``); arguments and defaults as transformers' RobertaTokenizer."""

    model_input_names = ["input_ids", "attention_mask"]
    paddlenlp_class_names = ("RobertaBPETokenizer",)

    def __init__(self, vocab_file, merges_file, errors="replace", bos_token="<s>", eos_token="</s>", sep_token="</s>",
                 cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", add_prefix_space=False,
                 **kwargs):
        specials = dict(bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, sep_token=sep_token,
                        cls_token=cls_token, pad_token=pad_token)
        specials = {k: AddedToken(v, lstrip=False, rstrip=False) if isinstance(v, str) else v
                    for k, v in specials.items()}
        if isinstance(mask_token, str):  # <mask> behaves like a word: it takes the space on its left
            mask_token = AddedToken(mask_token, lstrip=True, rstrip=False, normalized=False)
        super().__init__(vocab_file, merges_file, errors=errors, mask_token=mask_token,
                         add_prefix_space=add_prefix_space, **specials, **kwargs)

    def _special_layout(self, pair):
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if not pair:
            return [(cls, 0), (0, 0), (sep, 0)]
        return [(cls, 0), (0, 0), (sep + sep, 0), (1, 0), (sep, 0)]
