"""ELECTRA: configuration, models (discriminator and generator heads) and tokenizer, declared to the registry."""
from ..bert import SPECIAL_TOKENS_MAP, TOKENIZER_LAYOUT as BERT_LAYOUT, write_wordpiece_dir
from ..registry import Family, register
from .configuration import ElectraConfig
from .modeling import (
    ElectraForCausalLM,
    ElectraForMaskedLM,
    ElectraForMultipleChoice,
    ElectraForPreTraining,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraModel,
    ElectraPreTrainedModel,
)
from .tokenizer import ElectraTokenizer

# google/electra-*'s vocab.txt is bert-base-uncased's; its tokenizer_config names ElectraTokenizer.
TOKENIZER_LAYOUT = dict(BERT_LAYOUT, tokenizer_config=dict(BERT_LAYOUT["tokenizer_config"],
                                                           tokenizer_class="ElectraTokenizer"),
                        special_tokens_map=SPECIAL_TOKENS_MAP)


def make_tiny_tokenizer(texts, out_dir, vocab_size=200, **options):
    """A WordPiece vocabulary trained on ``texts`` in ELECTRA's (BERT's) layout, as a hub directory."""
    return write_wordpiece_dir(texts, out_dir, vocab_size, TOKENIZER_LAYOUT, **options)


FAMILY = register(Family(
    model_type="electra",
    prefix="Electra",
    config_class=ElectraConfig,
    model_classes=(ElectraModel, ElectraForPreTraining, ElectraForMaskedLM, ElectraForCausalLM,
                   ElectraForSequenceClassification, ElectraForMultipleChoice, ElectraForTokenClassification,
                   ElectraForQuestionAnswering),
    tokenizer_class=ElectraTokenizer,
    tokenizer_files=("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                     "tokenizer.json"),
    # odd sizes on purpose: embeddings 7 projected to hidden 15 over 3 heads
    tiny_config=dict(vocab_size=99, embedding_size=7, hidden_size=15, num_hidden_layers=3, num_attention_heads=3,
                     intermediate_size=21, max_position_embeddings=40, hidden_act="gelu", hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, summary_last_dropout=0.0, type_vocab_size=2, pad_token_id=0,
                     num_labels=3),
    make_tiny_tokenizer=make_tiny_tokenizer,
    tokenizer_layout=TOKENIZER_LAYOUT,
    # the discriminator tags every token as replaced or original: not masked-LM
    export_tasks={"ElectraForPreTraining": "replaced-token-detection"},
    paddlenlp_prefix="Electra",
))
