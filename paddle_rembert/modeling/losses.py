"""Losses with transformers' conventions: ignore index -100, problem types, span clamping.

Half-precision logits are computed in float32; float32 and float64 ones in their own dtype, as transformers does."""
import paddle
import paddle.nn.functional as F

from ..runtime.errors import PaddleRembertError


def _wide(x):
    """``x`` in float32 if it is a half-precision float, else as it is (float64 stays float64)."""
    return x.astype("float32") if x.dtype in (paddle.float16, paddle.bfloat16) else x


def cross_entropy(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the labels that are not ``ignore_index`` (``[N, C]``, ``[N]``).

    The default is a literal: ``paddle.jit.to_static`` rebuilds the function where a module constant
    there is not defined (``NameError`` for any model called with labels in a static graph)."""
    labels = labels.reshape([-1]).astype("int64")
    logits = logits.reshape([-1, logits.shape[-1]])
    valid = labels != ignore_index
    safe_labels = paddle.where(valid, labels, paddle.zeros_like(labels))
    nll = F.cross_entropy(_wide(logits), safe_labels.unsqueeze(-1), reduction="none").squeeze(-1)
    valid = valid.astype(nll.dtype)
    return (nll * valid).sum() / valid.sum()


def binary_cross_entropy(logits, labels):
    """Elementwise PyTorch's ``BCEWithLogitsLoss`` for every label: Paddle's ``binary_cross_entropy_with_logits``
    gives 0 where a label is -100, which transformers' losses do not skip. ``softplus(x) - x * y`` spelled
    per sign, so that nothing cancels for confident logits and the gradient at 0 is 0.5 - y, as PyTorch's."""
    positive = logits * (1 - labels) + F.softplus(-logits)
    negative = F.softplus(logits) - logits * labels
    return paddle.where(logits >= 0, positive, negative)


def sequence_classification_loss(config, logits, labels):
    """transformers' rule: regression for one label, else single- or multi-label by label dtype.

    Like transformers, the inferred ``problem_type`` is stored on the config.
    """
    if labels is None:
        return None
    num_labels = config.num_labels
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (paddle.int64, paddle.int32):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    logits = _wide(logits)
    if config.problem_type == "regression":
        labels = labels.astype(logits.dtype)
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(), labels.squeeze())
        return F.mse_loss(logits, labels)
    if config.problem_type == "single_label_classification":
        return cross_entropy(logits, labels)
    if paddle.in_dynamic_mode() and list(labels.shape) != list(logits.shape):  # else it would broadcast
        raise PaddleRembertError(
            f"multi_label_classification needs labels shaped like the logits {list(logits.shape)} (one 0/1 per "
            f"label), got {list(labels.shape)} {str(labels.dtype).replace('paddle.', '')}; class ids are int64")
    return binary_cross_entropy(logits, labels.astype(logits.dtype)).mean()


def span_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of start and end cross-entropy; positions outside the sequence are ignored."""
    if start_positions is None or end_positions is None:
        return None
    seq_len = start_logits.shape[1]
    start = paddle.clip(start_positions.reshape([-1]), 0, seq_len)
    end = paddle.clip(end_positions.reshape([-1]), 0, seq_len)
    return (cross_entropy(start_logits, start, seq_len) + cross_entropy(end_logits, end, seq_len)) / 2


def token_loss(logits, labels):
    """Cross-entropy over every position whose label is not -100."""
    return None if labels is None else cross_entropy(logits, labels)


def next_sentence_loss(logits, labels):
    """BERT's next-sentence (and MLM+NSP) classification term: cross-entropy over 2 classes."""
    return None if labels is None else cross_entropy(logits.reshape([-1, 2]), labels.reshape([-1]))


def replaced_token_loss(logits, labels, attention_mask=None):
    """ELECTRA's replaced-token detection: mean binary cross-entropy over the tokens the mask keeps
    (every token without a mask), as transformers' ``ElectraForPreTraining``."""
    if labels is None:
        return None
    if attention_mask is not None and attention_mask.ndim != 2:  # a 3-D/4-D mask keeps no token "== 1"
        raise PaddleRembertError(f"ElectraForPreTraining's loss counts the tokens a 2-D attention_mask [batch, "
                                 f"length] marks 1; got a mask of shape {list(attention_mask.shape)}")
    length = logits.shape[-1]
    logits = _wide(logits.reshape([-1, length]))
    labels = labels.reshape([-1, length]).astype(logits.dtype)
    bce = binary_cross_entropy(logits, labels)
    if attention_mask is None:
        return bce.mean()
    active = (attention_mask.reshape([-1, length]) == 1).astype(bce.dtype)
    return (bce * active).sum() / active.sum()
