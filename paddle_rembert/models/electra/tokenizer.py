"""ELECTRA's tokenizer: transformers' ``ElectraTokenizer`` is a copy of ``BertTokenizer`` (same vocab.txt, same steps).

A separate class only so that saved dirs name ``ElectraTokenizer`` (what transformers and PaddleNLP expect).
"""
from ..bert.tokenizer import BertTokenizer


class ElectraTokenizer(BertTokenizer):
    """ELECTRA tokenizer (``vocab.txt``); arguments and defaults as transformers' ``ElectraTokenizer``."""

    paddlenlp_class_names = ()  # PaddleNLP's names of other WordPiece tokenizers are BertTokenizer's alone
