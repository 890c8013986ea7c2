"""PaddleNLP's own checkpoints, read under transformers' parameter names.

PaddleNLP 2.x builds BERT, RoBERTa and ELECTRA on ``paddle.nn.TransformerEncoder`` (``self_attn.q_proj``,
``linear1``, ``norm1`` ...), names LayerNorms ``layer_norm`` and keeps ALBERT under ``transformer.``; its
question-answering heads are ``classifier``. The weights are the same tensors in Paddle's layout, so a
renaming rule is the whole conversion (checked against PaddleNLP's own forward in the tests). This module
holds the mechanism and PaddleNLP's shared conventions; each family declares its rule on its model classes
(``paddlenlp_names``). A checkpoint with PaddleNLP's names of a family that declares none, or tensors the
rule leaves without a counterpart in the class that saved them (PaddleNLP's ELECTRA generator and
discriminator saved as one model, a head of another architecture), are refused by name: read by the wrong names
they would load with their weights left random.
"""
import re

from ..runtime.errors import PaddleRembertError
from .readers import Checkpoint
from .rules import initialisable

PADDLENLP_NAMES = re.compile(r"(^|\.)self_attn\.(q|k|v|out)_proj\.|(^|\.)embeddings\.layer_norm\.|"
                             r"^transformer\.encoder\.albert_layer_groups\.|\.output\.layer_norm\.")

# PaddleNLP's shared conventions; each family's ``<Family>PreTrainedModel`` lists the rules its names follow
# (``paddlenlp_names``, and ``paddlenlp_qa_names`` for a question-answering checkpoint)
EMBEDDINGS_LAYER_NORM = ((r"(^|\.)embeddings\.layer_norm\.", r"\1embeddings.LayerNorm."),)
# nn.TransformerEncoderLayer (normalize_before=False) -> BertLayer; a backbone saved alone has no prefix
TRANSFORMER_ENCODER = (
    (r"(^|\.)encoder\.layers\.(\d+)\.self_attn\.q_proj\.", r"\1encoder.layer.\2.attention.self.query."),
    (r"(^|\.)encoder\.layers\.(\d+)\.self_attn\.k_proj\.", r"\1encoder.layer.\2.attention.self.key."),
    (r"(^|\.)encoder\.layers\.(\d+)\.self_attn\.v_proj\.", r"\1encoder.layer.\2.attention.self.value."),
    (r"(^|\.)encoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"\1encoder.layer.\2.attention.output.dense."),
    (r"(^|\.)encoder\.layers\.(\d+)\.norm1\.", r"\1encoder.layer.\2.attention.output.LayerNorm."),
    (r"(^|\.)encoder\.layers\.(\d+)\.linear1\.", r"\1encoder.layer.\2.intermediate.dense."),
    (r"(^|\.)encoder\.layers\.(\d+)\.linear2\.", r"\1encoder.layer.\2.output.dense."),
    (r"(^|\.)encoder\.layers\.(\d+)\.norm2\.", r"\1encoder.layer.\2.output.LayerNorm."),
) + EMBEDDINGS_LAYER_NORM
CLASSIFIER_AS_QA_OUTPUTS = ((r"^classifier\.", "qa_outputs."),)  # PaddleNLP's question-answering heads


class _Renamed(Checkpoint):
    """``ckpt`` under other key names (``names``: new -> the checkpoint's own)."""

    def __init__(self, ckpt, names):
        super().__init__(ckpt.path, ckpt.layout, {})
        self._ckpt, self._names = ckpt, names

    def keys(self):
        return list(self._names)

    def shape(self, key):
        return self._ckpt.shape(self._names[key])

    def dtype(self, key):
        return self._ckpt.dtype(self._names[key])

    def read(self, key, transpose=False, dtype=None):
        return self._ckpt.read(self._names[key], transpose=transpose, dtype=dtype)

    def source(self, key):
        return self._ckpt.source(self._names[key])

    def original(self, key):
        return self._names[key]


def is_paddlenlp(ckpt):
    """Whether ``ckpt`` is a PaddleNLP checkpoint read under transformers' names."""
    return isinstance(ckpt, _Renamed)


def transformers_names(ckpt, rules, qa_rules=(), architectures=(), model_type=None):
    """``ckpt`` if its keys are transformers'; a PaddleNLP checkpoint under transformers' names by ``rules`` (and
    ``qa_rules`` when ``architectures``, its ``config.json`` classes, name a question-answering head). ``rules``
    None: the family's PaddleNLP names are not read, and such a checkpoint (``model_type``'s) is refused."""
    key = next((k for k in ckpt.keys() if PADDLENLP_NAMES.search(k)), None)
    if key is None:
        return ckpt
    if rules is None:
        raise PaddleRembertError(
            f"{ckpt.path} is a PaddleNLP checkpoint ({key} is PaddleNLP's parameter name), whose {model_type} names "
            "paddle-rembert does not read; start from the model's transformers checkpoint (a PyTorch directory or "
            "hub id) instead")
    if any(str(a).endswith("ForQuestionAnswering") for a in architectures or ()):
        rules = tuple(rules) + tuple(qa_rules)
    names = {}
    for old in ckpt.keys():
        new = old
        for pattern, replacement in rules:
            new = re.sub(pattern, replacement, new)
        names[new] = old
    return _Renamed(ckpt, names)


def refuse_unmatched(ckpt, report, model_name, prefix, backbone, architectures=()):
    """A PaddleNLP checkpoint whose tensors the rule leaves without a counterpart is refused when that means the
    rule does not cover it: the class it was saved as (``architectures``) is the one loading it, or an encoder
    tensor (not a task head's or the pooler's) is missing. Otherwise unused tensors are another class's head (a
    pre-training checkpoint loaded into a classifier), which transformers reports and drops, and so do we.
    ``backbone``: the model is the family's base model, whose keys have no ``prefix``."""
    if not is_paddlenlp(ckpt) or not report.unexpected_keys:
        return
    same_class = model_name.lower() in {str(a).lower() for a in architectures or ()}  # PaddleNLP's "Pretraining"
    if same_class or not all(initialisable(k, prefix, backbone) for k in report.missing_keys):
        names = [ckpt.original(k) for k in report.unexpected_keys]
        raise PaddleRembertError(
            f"{ckpt.path} is a PaddleNLP checkpoint; {len(names)} of its tensors have no counterpart in "
            f"{model_name} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''}): paddle-rembert reads the "
            "PaddleNLP classes that share transformers' architecture (the README lists them)")
