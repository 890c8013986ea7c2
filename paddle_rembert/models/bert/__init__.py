"""BERT (and the MultiBERTs and SpanBERT checkpoints): configuration, models and tokenizer, for the registry."""
import os

from ...runtime.files import write_json
from ..registry import Family, register
from .configuration import BertConfig
from .modeling import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertLMHeadModel,
    BertModel,
    BertPreTrainedModel,
)
from .tokenizer import BertTokenizer

WORDPIECE_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# bert-base-uncased's two JSON files (its vocab.txt has [PAD]=0 and [UNK]=100 [CLS]=101 [SEP]=102
# [MASK]=103 after [unused*]; tiny vocabularies put the five special tokens first: 0-4).
SPECIAL_TOKENS_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                      "mask_token": "[MASK]"}
TOKENIZER_LAYOUT = {
    "vocab_file": "vocab.txt",
    "special_tokens": WORDPIECE_SPECIAL_TOKENS,
    "tokenizer_config": {"do_lower_case": True, "do_basic_tokenize": True, "never_split": None,
                         "tokenize_chinese_chars": True, "strip_accents": None, "model_max_length": 512,
                         "tokenizer_class": "BertTokenizer", **SPECIAL_TOKENS_MAP},
    "special_tokens_map": SPECIAL_TOKENS_MAP,
}


def write_wordpiece_dir(texts, out_dir, vocab_size, layout, do_lower_case=True, strip_accents=None, **train_options):
    """Train a WordPiece vocabulary (``tokenizers.BertWordPieceTokenizer``) on ``texts`` and write
    ``vocab.txt`` + the layout's ``tokenizer_config.json`` and ``special_tokens_map.json``."""
    from tokenizers import BertWordPieceTokenizer

    os.makedirs(out_dir, exist_ok=True)
    trainer = BertWordPieceTokenizer(lowercase=do_lower_case, strip_accents=strip_accents)
    trainer.train_from_iterator(list(texts), vocab_size=vocab_size, special_tokens=list(layout["special_tokens"]),
                                show_progress=False, **train_options)
    trainer.save_model(out_dir)  # vocab.txt, in id order
    config = dict(layout["tokenizer_config"], do_lower_case=do_lower_case, strip_accents=strip_accents)
    write_json(os.path.join(out_dir, "tokenizer_config.json"), config)
    write_json(os.path.join(out_dir, "special_tokens_map.json"), layout["special_tokens_map"])
    return out_dir


def make_tiny_tokenizer(texts, out_dir, vocab_size=200, **options):
    """A WordPiece vocabulary trained on ``texts`` in BERT's layout, as a hub directory."""
    return write_wordpiece_dir(texts, out_dir, vocab_size, TOKENIZER_LAYOUT, **options)


FAMILY = register(Family(
    model_type="bert",
    prefix="Bert",
    config_class=BertConfig,
    model_classes=(BertModel, BertForPreTraining, BertLMHeadModel, BertForMaskedLM, BertForNextSentencePrediction,
                   BertForSequenceClassification, BertForMultipleChoice, BertForTokenClassification,
                   BertForQuestionAnswering),
    tokenizer_class=BertTokenizer,
    tokenizer_files=("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                     "tokenizer.json"),
    # odd sizes on purpose: hidden 15 over 3 heads, 3 token types, relative positions (key and query)
    tiny_config=dict(vocab_size=97, hidden_size=15, num_hidden_layers=3, num_attention_heads=3, intermediate_size=19,
                     max_position_embeddings=40, hidden_act="gelu", hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, type_vocab_size=3, position_embedding_type="relative_key_query",
                     pad_token_id=0, num_labels=3),
    make_tiny_tokenizer=make_tiny_tokenizer,
    tokenizer_layout=TOKENIZER_LAYOUT,
    # pre-training deploys its MLM head; the causal LM has no export task (the suffix rule would say "Model")
    export_tasks={"BertForPreTraining": "masked-lm", "BertLMHeadModel": None},
    auto_names={"ForCausalLM": "BertLMHeadModel"},
    paddlenlp_prefix="Bert",
))
