"""RemBERT: configuration, models and tokenizer, declared to the registry below."""
import functools

from ...tokenization.sentencepiece_train import train_tokenizer_dir
from ..registry import Family, register
from .configuration import RemBertConfig
from .modeling import (
    RemBertForCausalLM,
    RemBertForMaskedLM,
    RemBertForMultipleChoice,
    RemBertForQuestionAnswering,
    RemBertForSequenceClassification,
    RemBertForTokenClassification,
    RemBertModel,
    RemBertPreTrainedModel,
)
from .tokenizer import RemBertTokenizer

# google/rembert's sentencepiece.model has [PAD]=0 but [CLS]=312 and [SEP]=313; the tokenizers read
# every special id from the model file, so tiny models use [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
# The two JSON files are google/rembert's.
TOKENIZER_LAYOUT = {
    "trainer": dict(pad_id=0, pad_piece="[PAD]", unk_id=1, unk_piece="[UNK]", bos_id=-1, eos_id=-1,
                    control_symbols=["[CLS]", "[SEP]", "[MASK]"], user_defined_symbols=[]),
    "vocab_file": "sentencepiece.model",
    "tokenizer_config": {"bos_token": "[CLS]", "cls_token": "[CLS]", "do_lower_case": False, "eos_token": "[SEP]",
                         "keep_accents": True, "mask_token": "[MASK]", "pad_token": "[PAD]", "remove_space": True,
                         "sep_token": "[SEP]", "tokenizer_class": "RemBertTokenizer", "unk_token": "[UNK]"},
    "special_tokens_map": {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
                           "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"},
}


# a SentencePiece model trained on the given texts in RemBERT's layout, as a hub directory
make_tiny_tokenizer = functools.partial(train_tokenizer_dir, layout=TOKENIZER_LAYOUT)


FAMILY = register(Family(
    model_type="rembert",
    prefix="RemBert",
    config_class=RemBertConfig,
    model_classes=(RemBertModel, RemBertForMaskedLM, RemBertForCausalLM, RemBertForSequenceClassification,
                   RemBertForMultipleChoice, RemBertForTokenClassification, RemBertForQuestionAnswering),
    tokenizer_class=RemBertTokenizer,
    tokenizer_files=("sentencepiece.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                     "tokenizer.json"),
    # odd sizes on purpose: input embedding 7, output embedding 11, hidden 15 over 3 heads
    tiny_config=dict(vocab_size=103, input_embedding_size=7, output_embedding_size=11, hidden_size=15,
                     num_hidden_layers=3, num_attention_heads=3, intermediate_size=19, max_position_embeddings=40,
                     hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     classifier_dropout_prob=0.0, type_vocab_size=2, pad_token_id=0, num_labels=3),
    make_tiny_tokenizer=make_tiny_tokenizer,
    tokenizer_layout=TOKENIZER_LAYOUT,
    paddlenlp_prefix="RemBert",
))
