"""RoBERTa: configuration, models and tokenizer (byte-level BPE), declared to the registry below."""
import os

from ...runtime.files import write_json
from ..registry import Family, register
from .configuration import RobertaConfig
from .modeling import (
    RobertaForCausalLM,
    RobertaForMaskedLM,
    RobertaForMultipleChoice,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
    RobertaPreTrainedModel,
)
from .tokenizer import RobertaTokenizer

_MASK = {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False}
# roberta-base's layout: <s>=0 <pad>=1 </s>=2 <unk>=3 (fairseq's dictionary order); its <mask> is the
# last id, a tiny vocabulary puts it at 4. The two JSON files are roberta-base's.
TOKENIZER_LAYOUT = {
    "vocab_file": "vocab.json",
    "merges_file": "merges.txt",
    "special_tokens": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "tokenizer_config": {"errors": "replace", "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                         "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": _MASK,
                         "add_prefix_space": False, "trim_offsets": True, "model_max_length": 512,
                         "tokenizer_class": "RobertaTokenizer"},
    "special_tokens_map": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                           "pad_token": "<pad>", "cls_token": "<s>", "mask_token": _MASK},
}


def make_tiny_tokenizer(texts, out_dir, vocab_size=300, **options):
    """A byte-level BPE (``tokenizers.ByteLevelBPETokenizer``) trained on ``texts`` in roberta-base's
    id layout: ``vocab.json``, ``merges.txt`` and the two JSON files, as a hub directory.

    The 256 byte symbols are always in the vocabulary: it has at least 261 entries.
    """
    from tokenizers import ByteLevelBPETokenizer

    os.makedirs(out_dir, exist_ok=True)
    trainer = ByteLevelBPETokenizer(add_prefix_space=options.pop("add_prefix_space", False))
    trainer.train_from_iterator(list(texts), vocab_size=vocab_size, special_tokens=TOKENIZER_LAYOUT["special_tokens"],
                                show_progress=False, **options)
    trainer.save_model(out_dir)
    for name in ("tokenizer_config", "special_tokens_map"):
        write_json(os.path.join(out_dir, name + ".json"), TOKENIZER_LAYOUT[name])
    return out_dir


FAMILY = register(Family(
    model_type="roberta",
    prefix="Roberta",
    config_class=RobertaConfig,
    model_classes=(RobertaModel, RobertaForCausalLM, RobertaForMaskedLM, RobertaForSequenceClassification,
                   RobertaForMultipleChoice, RobertaForTokenClassification, RobertaForQuestionAnswering),
    tokenizer_class=RobertaTokenizer,
    tokenizer_files=("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                     "added_tokens.json", "tokenizer.json"),
    # odd sizes on purpose: hidden 15 over 3 heads; fairseq's <pad>=1 and a single token type
    tiny_config=dict(vocab_size=101, hidden_size=15, num_hidden_layers=3, num_attention_heads=3, intermediate_size=17,
                     max_position_embeddings=40, hidden_act="gelu", hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
                     eos_token_id=2, num_labels=3),
    make_tiny_tokenizer=make_tiny_tokenizer,
    tokenizer_layout=TOKENIZER_LAYOUT,
    auto_names={"ForPreTraining": "RobertaForMaskedLM"},  # transformers' AutoModelForPreTraining mapping
    paddlenlp_prefix="Roberta",
))
