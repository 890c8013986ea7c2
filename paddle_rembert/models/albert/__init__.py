"""ALBERT: configuration, models and tokenizer, declared to the registry below."""
import functools

from ...tokenization.sentencepiece_train import train_tokenizer_dir
from ..registry import Family, register
from .configuration import AlbertConfig
from .modeling import (
    AlbertForMaskedLM,
    AlbertForMultipleChoice,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
    AlbertModel,
    AlbertPreTrainedModel,
)
from .tokenizer import AlbertTokenizer

_MASK = {"content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False}
# albert-base-v2's spiece.model: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4 (control symbols), then the
# user-defined symbols of ALBERT's spm_train command ( ) " - . – £ € (5-12); the hub's two JSON files.
TOKENIZER_LAYOUT = {
    "trainer": dict(pad_id=0, pad_piece="<pad>", unk_id=1, unk_piece="<unk>", bos_id=-1, eos_id=-1,
                    control_symbols=["[CLS]", "[SEP]", "[MASK]"],
                    user_defined_symbols=["(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac"]),
    "vocab_file": "spiece.model",
    "tokenizer_config": {"do_lower_case": True, "remove_space": True, "keep_accents": False, "bos_token": "[CLS]",
                         "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]", "pad_token": "<pad>",
                         "cls_token": "[CLS]", "mask_token": "[MASK]", "tokenizer_class": "AlbertTokenizer"},
    "special_tokens_map": {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
                           "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": _MASK},
}


# a SentencePiece model trained on the given texts in albert-base-v2's id layout, as a hub directory
make_tiny_tokenizer = functools.partial(train_tokenizer_dir, layout=TOKENIZER_LAYOUT)


FAMILY = register(Family(
    model_type="albert",
    prefix="Albert",
    config_class=AlbertConfig,
    model_classes=(AlbertModel, AlbertForPreTraining, AlbertForMaskedLM, AlbertForSequenceClassification,
                   AlbertForMultipleChoice, AlbertForTokenClassification, AlbertForQuestionAnswering),
    tokenizer_class=AlbertTokenizer,
    tokenizer_files=("spiece.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                     "tokenizer.json"),
    # odd sizes on purpose: 6 layers over 2 groups of 2 inner layers, nothing divides by accident
    tiny_config=dict(vocab_size=101, embedding_size=10, hidden_size=15, num_hidden_layers=6, num_hidden_groups=2,
                     inner_group_num=2, num_attention_heads=3, intermediate_size=23, max_position_embeddings=40,
                     hidden_act="gelu_new", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     classifier_dropout_prob=0.0, type_vocab_size=2, pad_token_id=0, num_labels=3),
    make_tiny_tokenizer=make_tiny_tokenizer,
    tokenizer_layout=TOKENIZER_LAYOUT,
    export_tasks={"AlbertForPreTraining": "masked-lm"},  # its MLM head deploys as masked-LM
    paddlenlp_prefix="Albert",
))
