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
from paddle.base.framework import EagerParamBase

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


def _values(param):
    """``param`` as a numpy array: float64 as it is, other dtypes as float32 (which holds bf16 and fp16 exactly)."""
    return param.numpy() if param.dtype == paddle.float64 else param.astype("float32").numpy()


def _swap(model, old, values):
    """A new parameter holding ``values``, in ``old``'s dtype, on ``old``'s device, with its trainability and
    optimizer attributes, wherever ``model`` holds ``old``: a layer's parameter (a head's bias a decoder shares, say)
    or a tied decoder's reference to it. (transformers makes the new layers on the old weights' device and dtype.)"""
    tensor = paddle.to_tensor(values, place=old.place).astype(old.dtype)
    new = EagerParamBase.from_tensor(tensor, trainable=not old.stop_gradient, optimize_attr=old.optimize_attr,
                                     regularizer=old.regularizer, do_model_average=old.do_model_average,
                                     need_clip=old.need_clip, is_distributed=old.is_distributed)
    for layer in model.sublayers(include_self=True):
        for name, param in list(layer._parameters.items()):
            if param is old:
                setattr(layer, name, new)
        if isinstance(layer, TiedLMDecoder) and layer.shared_bias is old:
            layer._refs["bias"] = new
    return new


def _added_rows(old, count, mean_resizing, std):
    """``count`` new rows for the ``[rows, dim]`` array ``old`` (the mean is taken in float32, as transformers takes
    it)."""
    if not mean_resizing:
        return paddle.normal(0.0, std, [count, old.shape[1]]).numpy()
    return np.repeat(old.astype("float32").mean(axis=0)[None, :], count, axis=0)


def _resized_rows(old, n, mean_resizing, std):
    out = np.empty((n, old.shape[1]), dtype=old.dtype)
    kept = min(n, old.shape[0])
    out[:kept] = old[:kept]
    if n > old.shape[0]:
        out[old.shape[0]:] = _added_rows(old, n - old.shape[0], mean_resizing, std)
    return out


def _resized_bias(old, n, mean):
    """``old`` cut or padded to ``n`` entries; new entries are the old mean (``mean``) or zero."""
    out = np.zeros(n, dtype=old.dtype)
    kept = min(n, old.shape[0])
    out[:kept] = old[:kept]
    if mean and n > old.shape[0]:
        out[old.shape[0]:] = old.astype("float32").mean()
    return out


def resize_embedding(model, embedding, n, mean_resizing, std):
    """Give ``embedding`` (:class:`~paddle_rembert.modeling.layers.Embedding`) of ``model`` ``n`` rows in place."""
    if not isinstance(embedding, nn.Embedding):
        raise PaddleRembertError(f"resize_token_embeddings resizes an Embedding, not a {type(embedding).__name__}")
    old = _values(embedding.weight)
    if n == old.shape[0]:
        return
    _swap(model, embedding.weight, _resized_rows(old, n, mean_resizing, std))
    embedding._num_embeddings = n
    embedding._size = [n, old.shape[1]]
    if getattr(embedding, "torch_padding_idx", None) is not None and embedding.torch_padding_idx >= n:
        embedding.torch_padding_idx = None  # the padding row is gone, as transformers drops padding_idx


def resize_output(model, decoder, n, mean_resizing, std):
    """Resize the output embeddings ``decoder`` of ``model`` to ``n`` tokens (see the module docstring)."""
    if not isinstance(decoder, (TiedLMDecoder, nn.Linear)):
        raise PaddleRembertError(f"resize_token_embeddings cannot resize an output layer of type "
                                 f"{type(decoder).__name__}")
    tied = isinstance(decoder, TiedLMDecoder) and decoder.tied  # the embedding is resized already
    if not tied and decoder.weight.shape[1] != n:  # [in, vocab], stored transposed: the vocabulary is the columns
        _swap(model, decoder.weight, _resized_rows(_values(decoder.weight).T, n, mean_resizing, std).T.copy())
    bias = decoder.bias if decoder.bias is not None or not isinstance(decoder, TiedLMDecoder) else decoder.shared_bias
    if bias is not None and bias.shape[0] != n:  # a tied decoder's is padded with zeros, as transformers pads it
        _swap(model, bias, _resized_bias(_values(bias), n, mean=mean_resizing and not tied))


def output_to_tie(model):
    """``model``'s decoder if it has a weight of its own while the config ties the embeddings (a Linear that
    ``set_output_embeddings`` put in, or a decoder whose ``weight`` was assigned), else None: transformers'
    ``tie_weights`` ties whatever the output embedding is when the config says so."""
    output = model.get_output_embeddings()
    if not getattr(model.config, "tie_word_embeddings", False):
        return None
    if isinstance(output, nn.Linear) or (isinstance(output, TiedLMDecoder) and not output.tied):
        return output
    return None


def tie_decoders(model):
    """Point every tied decoder of ``model`` at its current input embedding; pad its bias to the vocabulary.

    The decoder of a tying config that has a weight of its own (:func:`output_to_tie`) is tied too, as
    transformers ties it. A Paddle Linear's ``[in, vocab]`` weight cannot be the ``[vocab, in]`` embedding, so a
    tied decoder that keeps the Linear's bias takes its place; a bias-less Linear's gets no bias, as transformers'
    keeps none (so no state-dict key transformers lacks, and no bias in a dtype other than the model's). Where
    transformers' ``tie_weights`` then fails (ALBERT's and RoBERTa's read the missing bias), this ties it alike."""
    embedding = model.get_input_embeddings()
    output = output_to_tie(model)
    if isinstance(output, nn.Linear):
        decoder = TiedLMDecoder(embedding, output.weight.shape[0], output.weight.shape[1],
                                bias=output.bias is not None)
        if output.bias is not None:
            decoder.bias = output.bias
        model.set_output_embeddings(decoder)
    elif output is not None:
        output._refs["embeddings"] = embedding
        output.weight = embedding.weight  # ties it: its own weight is dropped
    for layer in model.sublayers():
        if isinstance(layer, TiedLMDecoder) and layer.tied:
            layer._refs["embeddings"] = embedding
            resize_output(model, layer, embedding.weight.shape[0], False, 0.0)
