"""``PretrainedModel``: weight init, ``save_pretrained`` / ``from_pretrained`` and the load report.

Directories we write hold ``config.json`` + ``model_state.pdparams`` (PaddleNLP's names).
``from_pretrained`` also reads a Paddle-layout ``model.safetensors`` and, converting in memory,
any transformers PyTorch directory (``model.safetensors``, ``pytorch_model.bin`` or shards);
see :mod:`paddle_rembert.convert`.
"""
import copy
import inspect
import logging
import os

import numpy as np
import paddle
from paddle import nn

from .configuration_utils import CONFIG_NAME, TRANSFORMERS_CONFIG_KEYS, config_file_of
from ..runtime.errors import PaddleRembertError
from . import vocabulary
from .heads import TiedLMDecoder
from .layers import additive_attention_mask, default_position_ids, expand_head_mask

logger = logging.getLogger("paddle_rembert")


def _lazy_init_active():
    from paddle.nn.initializer.lazy_init import lazy_init_helper

    return bool(lazy_init_helper().state)


FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")  # what from_pretrained(dtype=...) casts to
# transformers' from_pretrained keywords that would change what is loaded, with no counterpart here: refused
_REFUSED_LOADING_OPTIONS = ("variant", "state_dict", "device_map", "max_memory", "quantization_config",
                            "load_in_8bit", "load_in_4bit", "gguf_file", "from_tf", "from_flax", "offload_folder",
                            "offload_state_dict", "offload_buffers", "key_mapping", "tp_plan", "adapter_name",
                            "adapter_kwargs", "from_aistudio")
# what to do instead, where it is not "load the weights, then change the model"
_REFUSED_ADVICE = {
    "from_aistudio": "download the model from AI Studio and pass its directory",
    "from_tf": "only PyTorch and Paddle weights are read: save the model in PyTorch with transformers first",
    "from_flax": "only PyTorch and Paddle weights are read: save the model in PyTorch with transformers first",
}


def _requested_dtype(dtype, torch_dtype, config, checkpoint_dtype=None):
    """The dtype name to cast to (None: keep float32) from ``dtype`` or transformers' ``torch_dtype``
    (``torch.float16``, ``"float16"``, or ``"auto"``: the dtype ``config.json`` records, else, as transformers
    falls back, the checkpoint's first floating-point tensor's, ``checkpoint_dtype``)."""
    if torch_dtype is not None:
        if dtype is not None:
            raise PaddleRembertError("pass dtype or torch_dtype, not both")
        dtype = (getattr(config, "torch_dtype", None) or checkpoint_dtype) if torch_dtype == "auto" else torch_dtype
    if dtype is None:
        return None
    name = str(getattr(dtype, "__name__", dtype)).replace("paddle.", "").replace("torch.", "")
    if name not in FLOAT_DTYPES:
        raise PaddleRembertError(f"dtype must be one of {', '.join(FLOAT_DTYPES)}, got {dtype!r}")
    return None if torch_dtype is not None and name == "float32" else name  # float32: what the model is built in


def _tensors(state_dict):
    """A caller's ``state_dict`` for :meth:`PretrainedModel.save_pretrained`: parameter names to Paddle tensors."""
    if not isinstance(state_dict, dict):
        raise PaddleRembertError(f"save_pretrained: state_dict must be a dict, got {type(state_dict).__name__}")
    out = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not hasattr(value, "shape"):
            raise PaddleRembertError(f"save_pretrained: state_dict must map parameter names to tensors; {key!r} "
                                     f"holds a {type(value).__name__}")
        out[key] = value if isinstance(value, paddle.Tensor) else paddle.to_tensor(np.asarray(value))
    return out


# A backbone's tuple after its sequence (and pooled) output, in transformers' order; a head's tuple ends with it.
BACKBONE_TUPLE_TAIL = ("past_key_values", "hidden_states", "attentions", "cross_attentions")


class PretrainedModel(nn.Layer):
    """Base of every model and head. Subclasses set ``config_class`` and ``base_model_prefix``."""

    config_class = None
    base_model_prefix = ""
    # PaddleNLP's checkpoints of the family: (pattern, replacement) rules to transformers' names
    # (checkpoint/paddlenlp.py); None: not read, refused by name
    paddlenlp_names = None
    paddlenlp_qa_names = ()

    def __init__(self, config, *args, **kwargs):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise PaddleRembertError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}"
            )
        if getattr(config, "pruned_heads", None):  # else its checkpoint fails to load, tensor by tensor
            raise PaddleRembertError(f"the config lists pruned attention heads (pruned_heads: {config.pruned_heads}); "
                                     "paddle-rembert builds every head, so it cannot hold a pruned model")
        self.config = config

    # -- structure --------------------------------------------------------------------------
    @property
    def base_model(self):
        return getattr(self, self.base_model_prefix, self)

    main_input_name = "input_ids"

    def get_input_embeddings(self):
        return self.base_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        """The word embedding layer becomes ``value``; a tied decoder follows it at :meth:`tie_weights`."""
        self.base_model.embeddings.word_embeddings = value

    def get_output_embeddings(self):
        return None

    def set_output_embeddings(self, new_embeddings):
        """Put ``new_embeddings`` where the LM decoder is; a head's own ``bias`` becomes the new layer's, as in
        transformers (``cls.predictions.bias = new_embeddings.bias``); a layer without a bias leaves the head
        none. (transformers' RoBERTa and ``AlbertForPreTraining`` keep the old head bias, which their forward no
        longer reads, until ``tie_weights`` fails on it; here the unused key goes at once.) A Linear set while the
        config ties the embeddings keeps its own weight until :meth:`tie_weights` (or a resize) ties it, as there;
        so does a decoder given a weight of its own."""
        old = self.get_output_embeddings()
        if old is None:
            raise PaddleRembertError(f"{type(self).__name__} has no output embeddings to replace")
        for parent in self.sublayers(include_self=True):
            for name, layer in parent.named_children():
                if layer is old:
                    setattr(parent, name, new_embeddings)
                    bias = getattr(new_embeddings, "bias", None)
                    if bias is None and isinstance(new_embeddings, TiedLMDecoder):
                        bias = new_embeddings.shared_bias
                    if isinstance(getattr(parent, "bias", None), paddle.Tensor):
                        parent.bias = bias
                    return

    def tie_weights(self):
        """Tie every tied decoder to the current word embedding again (after :meth:`set_input_embeddings`), and,
        as transformers, a decoder with a weight of its own while the config ties the embeddings: a Linear that
        :meth:`set_output_embeddings` put in, whose place a tied decoder with its bias takes, or a decoder whose
        ``weight`` was assigned."""
        vocabulary.tie_decoders(self)

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        """transformers' ``resize_token_embeddings``: ``new_num_tokens`` rows in the word embedding and the LM
        decoder (rounded up to ``pad_to_multiple_of``), ``config.vocab_size`` updated; returns the embedding.
        How new rows are drawn: :mod:`paddle_rembert.modeling.vocabulary`. Cut below ``pad_token_id``, the
        embedding forgets its padding row silently and the config keeps the id, as in transformers (so a model
        saved so is refused on loading there and here)."""
        embedding = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return embedding
        n = vocabulary.new_size(embedding.weight.shape[0], new_num_tokens, pad_to_multiple_of)
        std = self.config.initializer_range
        vocabulary.resize_embedding(self, embedding, n, mean_resizing, std)
        decoder = self.get_output_embeddings()
        if decoder is not None and vocabulary.output_to_tie(self) is None:  # that one is tied below, as there
            vocabulary.resize_output(self, decoder, n, mean_resizing, std)
        self.config.vocab_size = n
        self.tie_weights()
        return embedding

    def num_parameters(self, only_trainable=False, exclude_embeddings=False):
        """Parameters counted once each (a tied weight once); ``exclude_embeddings`` leaves out every
        embedding table, as transformers does."""
        skip = {id(layer.weight) for layer in self.sublayers() if isinstance(layer, nn.Embedding)} \
            if exclude_embeddings else set()
        return sum(int(p.size) for p in self.parameters()
                   if id(p) not in skip and not (only_trainable and p.stop_gradient))

    def linear_weight_keys(self):
        """State-dict keys of Linear weights: the ones stored transposed relative to PyTorch."""
        return {f"{name}.weight" for name, layer in self.named_sublayers()
                if isinstance(layer, nn.Linear)
                or (getattr(layer, "transposed_weight", False) and not layer.tied)}

    @property
    def tied_weights(self):
        """Keys transformers stores but we do not, because the tensor is shared -> the key they equal.

        Derived from the model's :class:`~paddle_rembert.modeling.heads.TiedLMDecoder` layers (a tied
        decoder weight is the word embedding; a shared bias is the parent's). The converter drops
        these keys on load and writes them again for PyTorch.
        """
        key_of = {id(p): key for key, p in self.state_dict().items()}
        out = {}
        for name, layer in self.named_sublayers():
            if not isinstance(layer, TiedLMDecoder):
                continue
            if layer.tied_embeddings is not None:
                out[f"{name}.weight"] = key_of[id(layer.tied_embeddings.weight)]
            if layer.shared_bias is not None:
                out[f"{name}.bias"] = key_of[id(layer.shared_bias)]
        return out

    @property
    def tied_copies_kept(self):
        """The keys of :attr:`tied_weights` whose stored value wins over their parameter's when a checkpoint holds
        both (transformers re-ties the parameter to that copy after loading)."""
        return {f"{name}.bias" for name, layer in self.named_sublayers()
                if isinstance(layer, TiedLMDecoder) and layer.shared_bias is not None and layer.copy_wins}

    # -- init -------------------------------------------------------------------------------
    def post_init(self):
        """Initialise like transformers: N(0, initializer_range) weights, zero biases, unit LayerNorm.

        A head's backbone initialised itself when it was built; only the head's own layers are
        initialised after it, so no parameter is drawn twice.
        """
        if _lazy_init_active():  # structure only (see convert.lazy_model): nothing to fill
            self._initialised = True
            return
        done = set()
        for sub in self.sublayers():
            if isinstance(sub, PretrainedModel) and getattr(sub, "_initialised", False):
                done.update(id(layer) for layer in sub.sublayers(include_self=True))
        std = self.config.initializer_range
        for layer in self.sublayers(include_self=True):
            if id(layer) in done:
                continue
            if isinstance(layer, (nn.Linear, nn.Embedding)):
                layer.weight.set_value(paddle.normal(0.0, std, layer.weight.shape).astype(layer.weight.dtype))
                if isinstance(layer, nn.Linear) and layer.bias is not None:
                    layer.bias.set_value(paddle.zeros_like(layer.bias))
                padding_idx = getattr(layer, "torch_padding_idx", None)
                if padding_idx is not None:
                    with paddle.no_grad():
                        layer.weight[padding_idx] = 0.0
            elif isinstance(layer, nn.LayerNorm):
                layer.weight.set_value(paddle.ones_like(layer.weight))
                layer.bias.set_value(paddle.zeros_like(layer.bias))
            elif isinstance(layer, TiedLMDecoder):  # an untied decoder is transformers' nn.Linear
                if not layer.tied:
                    layer.weight.set_value(paddle.normal(0.0, std, layer.weight.shape).astype(layer.weight.dtype))
                if layer.bias is not None:
                    layer.bias.set_value(paddle.zeros_like(layer.bias))
        self._initialised = True

    def gradient_checkpointing_enable(self):
        """Recompute each layer in the backward pass instead of storing its activations."""
        for layer in self.sublayers(include_self=True):
            if hasattr(layer, "gradient_checkpointing"):
                layer.gradient_checkpointing = True

    # -- forward helpers --------------------------------------------------------------------
    def _float_dtype(self):
        return next((p.dtype for p in self.parameters() if p.is_floating_point()), paddle.float32)

    def get_extended_attention_mask(self, attention_mask, input_shape, device=None, dtype=None):
        """transformers' additive mask: ``[B, 1, 1, L]`` from a 2-D 0/1 mask (a decoder's with its causal
        mask, ``[B, 1, L, L]``), ``[B, 1, Lq, Lk]`` from a 3-D one; masked positions hold ``finfo.min``. ``device``
        is transformers' deprecated argument, unused."""
        if attention_mask.ndim not in (2, 3):
            raise PaddleRembertError(f"attention_mask must be 2-D or 3-D, got shape {list(attention_mask.shape)} "
                                     f"(input shape {list(input_shape)})")
        causal = None
        if attention_mask.ndim == 2 and self.config.is_decoder:
            causal = int(input_shape[1])
        past = attention_mask.shape[-1] - causal if causal is not None else 0
        return additive_attention_mask(attention_mask, dtype or self._float_dtype(), causal_length=causal,
                                       past_length=past)

    def invert_attention_mask(self, encoder_attention_mask):
        """An encoder's 2-D or 3-D 0/1 mask as the additive mask cross-attention adds."""
        if encoder_attention_mask.ndim not in (2, 3):
            raise PaddleRembertError(f"encoder_attention_mask must be 2-D or 3-D, got shape "
                                     f"{list(encoder_attention_mask.shape)}")
        return additive_attention_mask(encoder_attention_mask, self._float_dtype())

    def get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
        """transformers' ``[layers, batch, heads, 1, 1]`` head mask from ``[heads]`` or ``[layers, heads]``
        (a 5-D one as it is), or ``[None] * num_hidden_layers``."""
        if head_mask is None:
            return [None] * num_hidden_layers
        head_mask = paddle.stack(expand_head_mask(head_mask, num_hidden_layers, self._float_dtype()))
        return head_mask.unsqueeze(-1) if is_attention_chunked else head_mask

    def output_flags(self, output_attentions, output_hidden_states):
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return output_attentions, output_hidden_states

    @staticmethod
    def check_inputs(input_ids, inputs_embeds):
        if input_ids is not None and inputs_embeds is not None:
            raise PaddleRembertError("You cannot specify both input_ids and inputs_embeds at the same time")
        if input_ids is None and inputs_embeds is None:
            raise PaddleRembertError("You have to specify either input_ids or inputs_embeds")
        return input_ids if input_ids is not None else inputs_embeds

    def embed_inputs(self, input_ids, token_type_ids, position_ids, inputs_embeds, past_length=0):
        """The backbone's embedding output with transformers' defaults for the optional inputs.

        Returns ``(embedding_output, shape)``; ``shape`` is the runtime ``[batch, length, ...]``
        (a tensor, so the graph stays dynamic under ``to_static``).
        """
        reference = self.check_inputs(input_ids, inputs_embeds)
        table = getattr(getattr(getattr(self, "embeddings", None), "word_embeddings", None), "weight", None)
        if paddle.in_dynamic_mode() and table is not None and table.dtype in (paddle.float16, paddle.bfloat16) \
                and table.place.is_cpu_place():  # else Paddle's first kernel fails, many lines long
            raise PaddleRembertError(f"{type(self).__name__}'s weights are {str(table.dtype).replace('paddle.', '')}, "
                                     "which Paddle cannot run on the CPU (no kernels): load them as float32; bf16 "
                                     "compute on the CPU is paddle_rembert.kernels.bf16.autocast() around a float32 "
                                     "model")
        shape = paddle.shape(reference)
        if token_type_ids is None:
            token_type_ids = paddle.zeros(shape[:2], dtype="int64")
        if position_ids is None:
            position_ids = self.make_position_ids(input_ids, inputs_embeds, shape, past_length)
        return self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds), shape

    def make_position_ids(self, input_ids, inputs_embeds, shape, past_length):
        """Positions when the caller gives none: ``past_length, past_length + 1, ...`` (RoBERTa overrides)."""
        return default_position_ids(shape, past_length)

    def wrap_output(self, output, return_dict, backbone=None):
        """``output``, or its tuple when ``return_dict`` is False (default: ``config.return_dict``).

        A head gives its ``backbone``'s outputs: transformers' head tuple is the head's own fields, then the
        backbone's tuple after the states the head read, so a decoder's cache and cross-attentions come with
        it even where the head's output class has no field for them."""
        if return_dict is None:
            return_dict = getattr(self.config, "return_dict", True)
        if return_dict:
            return output
        if backbone is None:
            return output.to_tuple()
        own = tuple(value for key, value in output.items() if key not in BACKBONE_TUPLE_TAIL)
        return own + tuple(backbone[key] for key in BACKBONE_TUPLE_TAIL if key in backbone)

    def wrap_pooled_output(self, output, return_dict, tuple_order):
        """:meth:`wrap_output` for a backbone with a pooler: transformers' tuple keeps the pooled slot even when
        it is None, then lists the fields present in ``tuple_order`` (not the output class's field order)."""
        if return_dict is None:
            return_dict = getattr(self.config, "return_dict", True)
        if return_dict:
            return output
        return (output.last_hidden_state, output.pooler_output) + tuple(output[k] for k in tuple_order if k in output)

    # -- save / load ------------------------------------------------------------------------
    def save_pretrained(self, save_directory, is_main_process=True, state_dict=None, safe_serialization=None,
                        max_shard_size=None, variant=None, push_to_hub=False, **kwargs):
        """Write ``config.json`` and ``model_state.pdparams`` (PaddleNLP's name; ``safe_serialization=True``: a
        Paddle-layout ``model.safetensors``; with ``max_shard_size``, e.g. ``"5GB"``, transformers' safetensors
        shards and ``model.safetensors.index.json``). As in transformers, ``state_dict`` saves those tensors in
        place of the model's, and ``is_main_process=False`` (another rank of a distributed run) writes nothing.

        Each file is written to a temporary name and renamed, so a crash never leaves a
        half-written weight file behind.
        """
        if push_to_hub or kwargs:
            raise PaddleRembertError("save_pretrained: " + ("push_to_hub is not supported (upload the directory with "
                                     "huggingface_hub)" if push_to_hub else
                                     f"unexpected keyword argument {sorted(kwargs)[0]!r}"))
        if not is_main_process:
            return
        from ..checkpoint.loading import st_dtype_of
        from ..checkpoint.safetensors import ST_FLOAT_NAMES
        from ..checkpoint.writers import shard_size_bytes, tensor_specs, write_paddle_weights, write_sharded_safetensors

        if variant is not None:
            raise PaddleRembertError("save_pretrained: variant= is not supported (from_pretrained reads the plain "
                                     "file names)")
        if max_shard_size is not None:
            if safe_serialization is False:
                raise PaddleRembertError("save_pretrained: max_shard_size writes safetensors shards, as transformers "
                                         "writes them; drop safe_serialization=False")
            max_shard_size = shard_size_bytes(max_shard_size)
        state = self.state_dict() if state_dict is None else _tensors(state_dict)
        os.makedirs(save_directory, exist_ok=True)
        self.config.architectures = [type(self).__name__]
        floats = {st_dtype_of(v) for v in state.values()} - {None}
        if len(floats) == 1:  # the weights' dtype, as transformers records it
            self.config.torch_dtype = ST_FLOAT_NAMES[floats.pop()]
        self.config.save_pretrained(save_directory)
        if max_shard_size is not None:
            write_sharded_safetensors(save_directory, tensor_specs(state), lambda key: state[key].numpy(),
                                      max_shard_size)
        else:
            write_paddle_weights(save_directory, tensor_specs(state), lambda key: state[key].numpy(),
                                 safe_serialization=bool(safe_serialization))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, config=None, strict=False, dtype=None, torch_dtype=None,
                        output_loading_info=False, ignore_mismatched_sizes=False, **kwargs):
        """Build the model from ``config.json`` and load its weights, converting PyTorch ones in memory.

        ``pretrained_model_name_or_path`` is a directory or a hub id (``google/rembert``, at
        ``revision``, in ``subfolder``), fetched or found in the Hugging Face cache
        (:mod:`paddle_rembert.checkpoint.hub`, which takes transformers' fetching keywords).
        Other keywords override config attributes (``num_labels=3``); one that is neither raises, as in
        transformers, and so do those that would change what is loaded but have no counterpart here
        (``variant``, ``state_dict``, ``device_map``, ...). ``torch_dtype`` is ``dtype``'s transformers name.
        Keys the checkpoint lacks (a new head on a backbone checkpoint) are initialised and listed;
        unexpected keys are listed by name. A tensor whose shape differs from the model's raises,
        as in transformers, unless ``ignore_mismatched_sizes=True`` (then it is initialised and
        listed). ``strict=True`` raises on any of them. The source directory is never written to.
        """
        from ..checkpoint.hub import pop_hub_options, resolve
        from ..checkpoint.loading import load_weights
        from .configuration_utils import PretrainedConfig

        hub = pop_hub_options(kwargs)
        labels = kwargs.get("id2label")
        if "num_labels" in kwargs and isinstance(labels, dict) and len(labels) != kwargs["num_labels"]:
            raise PaddleRembertError(f"num_labels={kwargs['num_labels']!r} does not match the {len(labels)} labels of "
                                     "id2label; pass one of them, or both in agreement")
        for name in _REFUSED_LOADING_OPTIONS:
            if kwargs.get(name) not in (None, False):
                advice = _REFUSED_ADVICE.get(name, "load the directory's own weights and cast or change the model "
                                                   "afterwards")
                raise PaddleRembertError(f"{cls.__name__}.from_pretrained: {name}= is not supported here; {advice}")
            kwargs.pop(name, None)
        path = resolve(pretrained_model_name_or_path, **hub)
        if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
            raise PaddleRembertError(f"model directory not found: {path}")
        config_file = config_file_of(path) if config is None else os.path.join(path, CONFIG_NAME)
        init_params = inspect.signature(cls.__init__).parameters  # e.g. a backbone's add_pooling_layer
        model_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in init_params and k not in ("self", "config")}
        from_file = config is None or isinstance(config, (str, os.PathLike))
        if from_file:  # config.json beside the weights, or config= a config directory, file or hub id
            if config is not None:  # resolved once: read again below with the overrides
                config_file = config_file_of(resolve(config, weights=False, **hub))
            config = cls.config_class.from_pretrained(config_file)
            unknown = sorted(k for k in kwargs if not hasattr(config, k) and k not in TRANSFORMERS_CONFIG_KEYS)
            if unknown:
                raise PaddleRembertError(f"{cls.__name__}.from_pretrained got an unexpected keyword argument "
                                         f"{unknown[0]!r}: neither a config attribute nor a loading option")
            if kwargs:
                config = cls.config_class.from_pretrained(config_file, **kwargs)
        else:
            if not isinstance(config, PretrainedConfig):
                raise PaddleRembertError(f"config must be a {cls.config_class.__name__} or a path, got "
                                         f"{type(config).__name__}")
            if kwargs:
                raise PaddleRembertError(f"{cls.__name__}.from_pretrained: config= was given, so "
                                         f"{', '.join(sorted(kwargs))} cannot override it; set them on the config")
            config = copy.deepcopy(config)  # the caller's object stays theirs (save_pretrained edits the model's)
        try:
            model = cls(config, **model_kwargs)
        except PaddleRembertError as e:  # a value no layer takes (hidden_act: "foo"): name the file it came from
            if not from_file or kwargs:  # the value may be the caller's
                raise
            raise PaddleRembertError(f"{config_file}: {e}") from None
        # the weights are read straight into a dtype known now (float64 stays exact); the model is still built in
        # float32 first, as Paddle's default dtype is process-wide and switching it would reach other threads
        known = _requested_dtype(dtype, torch_dtype, config)
        if known is not None:
            model.to(dtype=known)
        report = load_weights(model, path, ignore_mismatched_sizes=ignore_mismatched_sizes,
                              use_safetensors=hub.get("use_safetensors"))
        report.log(logger, type(model).__name__, path, config.architectures)
        if strict and not report.clean:  # one line, the first keys of each kind
            raise PaddleRembertError(f"{path} does not hold a complete {type(model).__name__}: {report.summary()}")
        dtype = known or _requested_dtype(dtype, torch_dtype, config, report.checkpoint_dtype)
        if dtype is not None:
            if known is None:  # torch_dtype="auto" without config.json's torch_dtype: the checkpoint's, now known
                model.to(dtype=dtype)
            if dtype in ("float16", "bfloat16") and not paddle.device.is_compiled_with_cuda():
                logger.warning("%s weights cannot run a forward on this CPU-only Paddle (it has no %s kernels for "
                               "them); they suit saving and conversion. Load float32 to run the model", dtype, dtype)
        model.eval()
        return (model, report.loading_info()) if output_loading_info else model
