"""RemBERT's SentencePiece tokenizer, id for id with transformers 4.46's slow ``RemBertTokenizer``.

RemBERT hands raw text to SentencePiece: no lower-casing, no accent or quote handling (only the
model's own normaliser, usually nmt_nfkc, runs inside SentencePiece). ``do_lower_case``,
``remove_space`` and ``keep_accents`` are stored and saved, as in the reference, and only
``do_lower_case`` has an effect (the shared lower-casing of text outside special tokens).
Transformers 5 adds quote and space normalisation here; we do not (docs/tokenizers.md).
"""
from ...tokenization.sentencepiece import SentencePieceTokenizer


class RemBertTokenizer(SentencePieceTokenizer):
    """RemBERT tokenizer (``sentencepiece.model``); arguments and defaults as transformers' ``RemBertTokenizer``."""

    vocab_file_name = "sentencepiece.model"
    uses_sp_model_kwargs = False

    def __init__(self, vocab_file, do_lower_case=False, remove_space=True, keep_accents=True, bos_token="[CLS]",
                 eos_token="[SEP]", unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                 mask_token="[MASK]", **kwargs):
        super().__init__(vocab_file, do_lower_case=do_lower_case, remove_space=remove_space,
                         keep_accents=keep_accents, bos_token=bos_token, eos_token=eos_token, unk_token=unk_token,
                         sep_token=sep_token, pad_token=pad_token, cls_token=cls_token, mask_token=mask_token,
                         **kwargs)

    def _special_ids_in_mask(self):
        # The reference marks only [CLS] and [SEP] when the ids already hold special tokens.
        return {self.sep_token_id, self.cls_token_id}
