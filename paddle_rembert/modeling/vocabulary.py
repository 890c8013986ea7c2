"""Resizing a model's vocabulary, as transformers' ``resize_token_embeddings`` does.

The word embedding keeps its layer and gets a new ``weight`` of ``n`` rows: the old rows first, then new
ones. A tied decoder reads that layer, so it follows; only its bias is padded with zeros (transformers'
``_tie_or_clone_weights``). An untied decoder (RemBERT's, or any with ``tie_word_embeddings=False``) is
resized like the embedding. New rows, with ``mean_resizing`` (transformers' default), are the old rows'
mean and an untied decoder's new bias entries the old bias's mean, which keeps the model's predictions
over the old tokens; without it, rows are drawn from N(0, ``initializer_range``) (Paddle's generator:
``paddle.seed`` repeats them) and biases are zero. (transformers 4.46 means to draw the rows around the
mean with 1e-9 times the old rows' covariance, but its positive-definiteness check tests
``torch.linalg.eigvals``, which is always complex, so it always takes the mean: so do we.)
"""
import numpy as np
import paddle
from paddle import nn

from ..runtime.errors import PaddleRembertError
from .heads import TiedLMDecoder


def new_size(current, new_num_tokens, pad_to_multiple_of):
    """The new vocabulary size: ``new_num_tokens`` (or the current size), rounded up to ``pad_to_multiple_of``."""
    for name, value in (("new_num_tokens", new_num_tokens), ("pad_to_multiple_of", pad_to_multiple_of)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
            raise PaddleRembertError(f"resize_token_embeddings: {name} must be a positive integer, got {value!r}")
    n = current if new_num_tokens is None else int(new_num_tokens)
    if pad_to_multiple_of is not None:
        n = -(-n // int(pad_to_multiple_of)) * int(pad_to_multiple_of)
    return n


def _float32(param):
    return param.astype("float32").numpy()


def _replace(layer, name, values, like):
    """``layer.<name>`` becomes a new parameter holding ``values`` (float32), in ``like``'s dtype and trainability."""
    param = paddle.create_parameter(list(values.shape), dtype=like.dtype)
    param.set_value(paddle.to_tensor(values).astype(like.dtype))
    param.stop_gradient = like.stop_gradient
    setattr(layer, name, param)
    return param


def _added_rows(old, count, mean_resizing, std):
    """``count`` new rows for the ``[rows, dim]`` float32 array ``old``."""
    if not mean_resizing:
        return paddle.normal(0.0, std, [count, old.shape[1]]).numpy()
    return np.repeat(old.mean(axis=0)[None, :], count, axis=0)


def _resized_rows(old, n, mean_resizing, std):
    out = np.empty((n, old.shape[1]), dtype="float32")
    kept = min(n, old.shape[0])
    out[:kept] = old[:kept]
    if n > old.shape[0]:
        out[old.shape[0]:] = _added_rows(old, n - old.shape[0], mean_resizing, std)
    return out


def _resized_bias(old, n, mean):
    """``old`` cut or padded to ``n`` entries; new entries are the old mean (``mean``) or zero."""
    out = np.zeros(n, dtype="float32")
    kept = min(n, old.shape[0])
    out[:kept] = old[:kept]
    if mean and n > old.shape[0]:
        out[old.shape[0]:] = old.mean()
    return out


def resize_embedding(embedding, n, mean_resizing, std):
    """Give ``embedding`` (:class:`~paddle_rembert.modeling.layers.Embedding`) ``n`` rows in place."""
    if not isinstance(embedding, nn.Embedding):
        raise PaddleRembertError(f"resize_token_embeddings resizes an Embedding, not a {type(embedding).__name__}")
    old = _float32(embedding.weight)
    if n == old.shape[0]:
        return
    _replace(embedding, "weight", _resized_rows(old, n, mean_resizing, std), embedding.weight)
    embedding._num_embeddings = n
    embedding._size = [n, old.shape[1]]
    if getattr(embedding, "torch_padding_idx", None) is not None and embedding.torch_padding_idx >= n:
        embedding.torch_padding_idx = None  # the padding row is gone, as transformers drops padding_idx


def _bias_owner(model, decoder):
    """``(layer, attribute)`` holding the decoder's bias: its own, or its parent's shared one."""
    if decoder.bias is not None:
        return decoder, "bias"
    for layer in model.sublayers(include_self=True):
        if layer is not decoder and getattr(layer, "bias", None) is decoder.shared_bias:
            return layer, "bias"
    raise PaddleRembertError(f"the bias of {type(decoder).__name__} is not found in {type(model).__name__}")


def _resize_bias(model, decoder, n, mean):
    layer, name = _bias_owner(model, decoder)
    old = getattr(layer, name)
    new = _replace(layer, name, _resized_bias(_float32(old), n, mean), old)
    if layer is not decoder:
        decoder._refs["bias"] = new


def resize_output(model, decoder, n, mean_resizing, std):
    """Resize the output embeddings ``decoder`` of ``model`` to ``n`` tokens (see the module docstring)."""
    if isinstance(decoder, TiedLMDecoder) and decoder.weight is None:  # tied: the embedding is already resized
        if (decoder.bias if decoder.bias is not None else decoder.shared_bias).shape[0] != n:
            _resize_bias(model, decoder, n, mean=False)
        return
    if not isinstance(decoder, (TiedLMDecoder, nn.Linear)):
        raise PaddleRembertError(f"resize_token_embeddings cannot resize an output layer of type "
                                 f"{type(decoder).__name__}")
    weight = decoder.weight  # [in, vocab], stored transposed: the vocabulary is the columns
    if weight.shape[1] != n:
        _replace(decoder, "weight", _resized_rows(_float32(weight).T, n, mean_resizing, std).T.copy(), weight)
    if isinstance(decoder, nn.Linear):
        if decoder.bias is not None and decoder.bias.shape[0] != n:
            _replace(decoder, "bias", _resized_bias(_float32(decoder.bias), n, mean_resizing), decoder.bias)
    else:
        _resize_bias(model, decoder, n, mean=mean_resizing)


def tie_decoders(model):
    """Point every tied decoder of ``model`` at its current input embedding; pad its bias to the vocabulary."""
    embedding = model.get_input_embeddings()
    for layer in model.sublayers():
        if isinstance(layer, TiedLMDecoder) and layer.weight is None:
            layer._refs["embeddings"] = embedding
            resize_output(model, layer, embedding.weight.shape[0], False, 0.0)
