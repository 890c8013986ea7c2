"""BERT's WordPiece tokenizer, id for id with transformers 4.46's slow ``BertTokenizer``.

The algorithm and its speed-ups live in :mod:`paddle_rembert.tokenization.wordpiece`; this class
fixes the name that ``tokenizer_config.json`` records, so transformers and PaddleNLP load our dirs
with their ``BertTokenizer``.
"""
from ...tokenization.wordpiece import WordPieceTokenizer


class BertTokenizer(WordPieceTokenizer):
    """BERT tokenizer (``vocab.txt``); arguments and defaults as transformers' ``BertTokenizer``:
    ``vocab_file, do_lower_case=True, do_basic_tokenize=True, never_split=None, unk_token="[UNK]",
    sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
    tokenize_chinese_chars=True, strip_accents=None, clean_up_tokenization_spaces=True``.
    """

    # PaddleNLP's WordPiece tokenizers of Chinese RoBERTa and Chinese ALBERT: its AlbertTokenizer saved over a
    # vocab.txt (albert-chinese-*) instead of a spiece.model is this tokenizer, id for id
    paddlenlp_class_names = ("RobertaChineseTokenizer", "AlbertTokenizer")
