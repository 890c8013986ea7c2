"""Google's RemBERT and ALBERT and the BERT family for PaddlePaddle 3, numerically equal to Hugging Face transformers.

Every family's config, model and tokenizer classes (``AlbertModel``, ``RemBertTokenizer`` ...) are
exported here from the family registry (:mod:`paddle_rembert.models.registry`).
"""
from .runtime.settings import tune_cpu as _tune_cpu

_tune_cpu()  # before anything runs a matmul: MKL reads its CPU type once
from .models.auto import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoModelWithLMHead,
    AutoTokenizer,
)
from .models import registry as _registry  # noqa: E402
from .deploy.pipelines import pipeline  # noqa: E402
from .runtime.errors import PaddleRembertError  # noqa: E402
from .tokenization.sentencepiece_train import train_sentencepiece, write_tokenizer_dir  # noqa: E402
from .tokenization.types import AddedToken, BatchEncoding  # noqa: E402
from .version import __version__  # noqa: E402

_FAMILY_NAMES = {name: cls for family in _registry.families() for name, cls in family.public_names().items()}
globals().update(_FAMILY_NAMES)
__all__ = sorted([
    "AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoModelForMultipleChoice",
    "AutoModelForNextSentencePrediction", "AutoModelForPreTraining", "AutoModelForQuestionAnswering",
    "AutoModelForSequenceClassification", "AutoModelForTokenClassification", "AutoModelWithLMHead", "AutoTokenizer",
    "AddedToken", "BatchEncoding", "PaddleRembertError", "pipeline", "train_sentencepiece", "write_tokenizer_dir",
    "__version__", *_FAMILY_NAMES])
