"""RemBERT and ALBERT for PaddlePaddle 3, numerically equal to Hugging Face transformers."""
from .runtime.settings import tune_cpu as _tune_cpu

_tune_cpu()  # before anything runs a matmul: MKL reads its CPU type once
from .modeling.auto import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)
from .runtime.errors import PaddleRembertError
from .models.albert import (
    AlbertConfig,
    AlbertForMaskedLM,
    AlbertForMultipleChoice,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
    AlbertModel,
)
from .models.rembert import (
    RemBertConfig,
    RemBertForCausalLM,
    RemBertForMaskedLM,
    RemBertForMultipleChoice,
    RemBertForQuestionAnswering,
    RemBertForSequenceClassification,
    RemBertForTokenClassification,
    RemBertModel,
)

from .models.albert.tokenizer import AlbertTokenizer
from .models.rembert.tokenizer import RemBertTokenizer
from .tokenization.sentencepiece_train import train_sentencepiece, write_tokenizer_dir
from .tokenization.auto import AutoTokenizer
from .tokenization.base import AddedToken, BatchEncoding, SentencePieceTokenizer

__version__ = "0.1.0"
