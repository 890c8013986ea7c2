"""Losses with transformers' conventions: ignore index -100, problem types, span clamping."""
import paddle
import paddle.nn.functional as F


def cross_entropy(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the labels that are not ``ignore_index`` (``[N, C]``, ``[N]``).

    The default is a literal: ``paddle.jit.to_static`` rebuilds the function where a module constant
    there is not defined (``NameError`` for any model called with labels in a static graph)."""
    labels = labels.reshape([-1]).astype("int64")
    logits = logits.reshape([-1, logits.shape[-1]])
    valid = labels != ignore_index
    safe_labels = paddle.where(valid, labels, paddle.zeros_like(labels))
    nll = F.cross_entropy(logits.astype("float32"), safe_labels.unsqueeze(-1), reduction="none").squeeze(-1)
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
    logits32 = logits.astype("float32")
    if config.problem_type == "regression":
        labels = labels.astype("float32")
        if num_labels == 1:
            return F.mse_loss(logits32.squeeze(), labels.squeeze())
        return F.mse_loss(logits32, labels)
    if config.problem_type == "single_label_classification":
        return cross_entropy(logits32, labels)
    return binary_cross_entropy(logits32, labels.astype("float32")).mean()


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
    length = logits.shape[-1]
    logits = logits.reshape([-1, length]).astype("float32")
    labels = labels.reshape([-1, length]).astype("float32")
    bce = binary_cross_entropy(logits, labels)
    if attention_mask is None:
        return bce.mean()
    active = (attention_mask.reshape([-1, length]) == 1).astype("float32")
    return (bce * active).sum() / active.sum()
