"""``paddle-rembert convert``: transformers PyTorch directory <-> Paddle directory.

The model class is the one whose keys the checkpoint fits (:func:`choose_model`), built under
``paddle.LazyGuard`` -- no memory for weights -- only to learn its keys, shapes and which keys
are Linear weights. Tensors
then stream from the source to the destination one at a time, transposed and cast on the way.
The destination is written into a temporary directory that is renamed into place at the end.
"""
import functools
import logging
import os
import shutil

import numpy as np
import paddle
from tqdm.auto import tqdm

from .models import auto
from .models import registry
from .runtime.errors import PaddleRembertError
from .runtime.files import atomic_dir, atomic_open, check_destination
from .checkpoint.hub import resolve
from .checkpoint.loading import FLOAT_ST, check_plan, st_dtype_of
from .checkpoint.paddlenlp import is_paddlenlp, transformers_names
from .checkpoint.readers import SAFETENSORS, open_checkpoint, st_dtype_name
from .checkpoint.rules import initialisable, plan_load, torch_key_shapes
from .checkpoint.safetensors import ST_FLOAT_NAMES, write_safetensors
from .checkpoint.writers import write_paddle_weights

logger = logging.getLogger("paddle_rembert.convert")



def lazy_model(model_class, config):
    """The model's structure without allocating its weights."""
    with paddle.LazyGuard():
        return model_class(config)


def model_signature(model):
    """(key -> shape, Linear weight keys) of a (lazy) model."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, model.linear_weight_keys()


def choose_model(config, ckpt, source, ignore_mismatched_sizes=False):
    """The model class to convert the checkpoint as, with its plan, as transformers would load it.

    A class fits when it uses every tensor (but a pooler it does not have, which transformers ignores too)
    and lacks at most its head's or pooler's, which are initialised
    when the result is loaded, as in transformers (a backbone saved without its pooler, as SpanBERT's is). The
    class ``config.json``'s ``architectures`` names wins if it fits. Otherwise (bert-base-cased's config
    names ``BertForMaskedLM`` over ``BertForPreTraining``'s weights, which is said) the fit with the
    fewest missing keys, then a decoder's causal LM or an encoder's masked LM by ``is_decoder`` (their
    keys are the same), then the family's order (the backbone first). With ``ignore_mismatched_sizes``
    tensors whose shapes differ are left out (and initialised when the result is loaded).
    """
    family = registry.get(config.model_type, source)
    classes = {c.__name__: c for c in auto.model_classes(config.model_type, source)}
    family_order = list(classes)
    named = [a for a in (config.architectures or []) if a in classes]
    try:
        causal = family.model_class("ForCausalLM").__name__
    except PaddleRembertError:
        causal = None
    ckpt_shapes = {k: ckpt.shape(k) for k in ckpt.keys()}
    fits, best = [], None
    # the named classes first: one that fits wins, and the others need not be built
    for name in named + [n for n in family_order if n not in named]:
        if fits and fits[0][1] in named and name not in named:
            break
        model = lazy_model(classes[name], config)
        shapes, linear = model_signature(model)
        plan = plan_load(shapes, linear, model.tied_weights, model.base_model_prefix, ckpt_shapes, ckpt.layout,
                         model.tied_copies_kept)
        report = plan.report
        if not report.unexpected_keys and (ignore_mismatched_sizes or not report.mismatched_keys) \
                and all(initialisable(k, model.base_model_prefix, plan.backbone) for k in report.missing_keys):
            # same keys, another kind of LM: a causal LM for a decoder, a masked LM otherwise
            wrong_lm = (name == causal or name.endswith("ForMaskedLM")) \
                and (name == causal) != bool(getattr(config, "is_decoder", False))
            rank = (name not in named, len(report.missing_keys), len(report.unused_keys), wrong_lm,
                    family_order.index(name))
            fits.append((rank, name, model, plan))
        problems = len(report.missing_keys) + len(report.unexpected_keys) + len(report.mismatched_keys)
        if best is None or (name in named, -problems) > (best[0] in named, -best[1]):
            best = (name, problems, plan)
    if not fits:
        name, _, plan = best
        report = plan.report
        hint = "; --ignore-mismatched-sizes leaves the mismatched tensors out" \
            if report.mismatched_keys and not (report.missing_keys or report.unexpected_keys) else ""
        what = " (a PaddleNLP checkpoint, read under transformers' names)" if is_paddlenlp(ckpt) else ""
        raise PaddleRembertError(f"the weights in {ckpt.path}{what} do not fit {name} (nor any other class of "
                                 f"{config.model_type}): {report.summary()}{hint}")
    _, name, model, plan = min(fits, key=lambda fit: fit[0])
    if named and name not in named:
        logger.warning("%s names %s, but the weights are %s's: converted as %s", source, named[0], name, name)
    if plan.report.missing_keys:
        logger.warning("not in the checkpoint (initialised when the result is loaded, as in transformers): %s",
                       ", ".join(plan.report.missing_keys))
    if plan.report.unused_keys:
        logger.info("left out: %s has no pooler (transformers ignores it too): %s", name,
                    ", ".join(plan.report.unused_keys))
    return classes[name], model, plan


def convert_checkpoint(src, dst, to="paddle", dtype=None, safe_serialization=False, overwrite=False,
                       progress=True, ignore_mismatched_sizes=False, revision=None, tokenizer_dir=None):
    """Convert ``src`` to ``dst``; see the module docstring. Returns the chosen class name.

    It builds the candidate models under ``paddle.LazyGuard``, which is Paddle's process-wide switch: a
    model that another thread builds meanwhile gets no memory for its weights. Convert in its own process
    (as the command does) or while no other thread builds models.

    The tokenizer files come from ``src``, or from ``tokenizer_dir`` for checkpoints that ship
    none (SQuAD fine-tunes of SpanBERT, for one).
    ``src`` is a directory or a hub id (at ``revision``). Floating-point weights are written as
    ``dtype``: float32 by default, so fp16 and bf16 checkpoints are upcast as transformers loads
    them (training and Paddle's CPU kernels want float32); ``"keep"`` keeps the source's dtype.
    """
    if to not in ("paddle", "torch"):
        raise PaddleRembertError(f"--to must be 'paddle' or 'torch', got {to!r}")
    for name, path in (("source", src), ("destination", dst)):
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise PaddleRembertError(f"the {name} must be a directory path, got {path!r}")
    src = resolve(src, revision=revision)  # a hub id becomes its snapshot in the Hugging Face cache
    if not os.path.isdir(src):
        raise PaddleRembertError(f"source directory not found: {src}")
    check_destination(dst, [src, tokenizer_dir], overwrite, what="destination",
                      rule="a model directory written by paddle-rembert convert (config.json, weights and "
                           "tokenizer files only)")
    st_dtype = None if dtype == "keep" else st_dtype_name(dtype or "float32")
    model_type, config_path = auto.read_model_type(src)
    config = auto.config_class(model_type, config_path).from_pretrained(config_path)
    base = auto.model_classes(model_type, config_path)[0]
    ckpt = transformers_names(open_checkpoint(src), base.paddlenlp_names, base.paddlenlp_qa_names,  # PaddleNLP's
                              config.architectures, model_type)
    wanted_layout = "torch" if to == "paddle" else "paddle"
    if ckpt.layout != wanted_layout:
        raise PaddleRembertError(
            f"{ckpt.path} is already a {ckpt.layout}-layout checkpoint; "
            f"use --to {'torch' if to == 'paddle' else 'paddle'}"
        )
    model_class, model, plan = choose_model(config, ckpt, config_path, ignore_mismatched_sizes)
    float_keys = {k: str(v.dtype).replace("paddle.", "") for k, v in model.state_dict().items() if st_dtype_of(v)}
    check_plan(plan, ckpt, float_keys, ignore_mismatched_sizes)
    if plan.report.mismatched_keys:
        logger.warning("left out (shape differs from the model's; initialised when loaded): %s",
                       ", ".join(k for k, _, _ in plan.report.mismatched_keys))
    _check_tied_copies(model, ckpt, plan)
    config.architectures = [model_class.__name__]
    written = {_out_dtype(ckpt, ckpt_key, st_dtype) for _, ckpt_key, _ in plan.pairs} & set(FLOAT_ST)
    if len(written) == 1:  # the weights' dtype, as transformers' save_pretrained records it
        config.torch_dtype = ST_FLOAT_NAMES[written.pop()]
    with atomic_dir(dst) as tmp:
        config.save_pretrained(tmp)
        _copy_tokenizer_files(resolve(tokenizer_dir) if tokenizer_dir else src, tmp,
                              registry.get(model_type, config_path).tokenizer_files, tokenizer_dir is not None,
                              config.vocab_size)
        progress_bar = functools.partial(tqdm, desc=f"convert to {to}", unit="tensor", disable=not progress)
        if to == "paddle":
            _write_paddle(tmp, ckpt, plan, st_dtype, safe_serialization, progress_bar)
        else:
            _write_torch(tmp, ckpt, model, plan, st_dtype, progress_bar)
    logger.debug("converted %s (%s) to %s", src, model_class.__name__, dst)  # the command prints its own line
    return model_class.__name__


def _write_paddle(directory, ckpt, plan, st_dtype, safe_serialization, progress_bar):
    bar = progress_bar(total=len(plan.pairs))
    sources = {key: (ckpt_key, transpose) for key, ckpt_key, transpose in plan.pairs}
    specs = [(key, _out_dtype(ckpt, ckpt_key, st_dtype),
              ckpt.shape(ckpt_key)[::-1] if transpose else ckpt.shape(ckpt_key))
             for key, ckpt_key, transpose in plan.pairs]

    def produce(key):
        ckpt_key, transpose = sources[key]
        arr = ckpt.read(ckpt_key, transpose=transpose, dtype=st_dtype)
        bar.update(1)
        return arr

    write_paddle_weights(directory, specs, produce, safe_serialization)
    bar.close()


def _write_torch(directory, ckpt, model, plan, st_dtype, progress_bar):
    """transformers' layout: Linear weights transposed back, tied duplicates written out again."""
    shapes, linear = model_signature(model)
    torch_shapes = torch_key_shapes({k: shapes[k] for k, _, _ in plan.pairs}, linear, model.tied_weights)
    source_of = {key: ckpt_key for key, ckpt_key, _ in plan.pairs}
    for dup, target in model.tied_weights.items():
        if target in source_of:
            source_of[dup] = source_of[target]
    specs = [(key, _out_dtype(ckpt, source_of[key], st_dtype), shape) for key, shape in torch_shapes.items()]

    def produce(key):
        arr = ckpt.read(source_of[key], transpose=key in linear, dtype=st_dtype)
        bar.update(1)
        return arr

    bar = progress_bar(total=len(specs))
    with atomic_open(os.path.join(directory, SAFETENSORS), "wb") as f:
        write_safetensors(f, specs, produce, {"format": "pt"})
    bar.close()


def _out_dtype(ckpt, ckpt_key, st_dtype):
    """``st_dtype`` for floating-point tensors (None keeps the source's); other dtypes are copied as they are."""
    src = ckpt.dtype(ckpt_key)
    return st_dtype if st_dtype and src in FLOAT_ST else src


def _check_tied_copies(model, ckpt, plan):
    """A checkpoint's tied copies should be equal; warn, naming the one kept, if not (the other is dropped)."""
    for kept, dropped in plan.tied_copies:
        a, b = ckpt.read(kept), ckpt.read(dropped)
        if a.shape != b.shape or not np.array_equal(a, b):
            logger.warning("%s and %s in %s are tied but differ; %s is kept, as transformers keeps it",
                           kept, dropped, ckpt.path, kept)


_TOKENIZER_SETTINGS = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def _copy_tokenizer_files(src, dst, names, requested, vocab_size):
    """Copy the family's tokenizer files from ``src``, then check that they load and fit the model's
    vocabulary. A source without them converts with a warning, unless they were ``requested``
    (``--tokenizer``). A tokenizer PaddleNLP saved under its own class name (``RobertaChineseTokenizer``, an
    ``AlbertTokenizer`` over a vocab.txt) is written under ours instead, which transformers can load; so is one of
    another family that the model's own directory ships (transformers' Chinese ALBERT checkpoints ship
    ``BertTokenizer``'s vocab.txt): it is the model's tokenizer. A ``requested`` directory must hold the
    family's vocabulary files whatever class name its tokenizer_config.json gives (PaddleNLP's or ours)."""
    from .models.auto import AutoTokenizer, tokenizer_class_of
    from .tokenization.files import has_vocabulary as has_files_of
    from .tokenization.utils import check_ids_fit

    if not os.path.isdir(src):
        raise PaddleRembertError(f"tokenizer directory not found: {src}")
    try:
        cls, saved_name = tokenizer_class_of(src)
    except PaddleRembertError:  # no tokenizer to tell, or a fault that loading the copies below names
        cls = saved_name = None
    present = [name for name in names if os.path.isfile(os.path.join(src, name))]
    # tokenizer.json is copied (transformers reads it) but is no vocabulary of ours: a fast tokenizer's file
    vocabulary_files = [name for name in names if name not in _TOKENIZER_SETTINGS and name != "tokenizer.json"]
    has_vocabulary = bool(set(present) & set(vocabulary_files))
    if requested and not has_vocabulary:
        held = f"; its tokenizer_config.json names {saved_name}" if saved_name else ""
        raise PaddleRembertError(f"{src} holds no tokenizer of this model's family (no "
                                 f"{' or '.join(vocabulary_files)}{held})")
    if saved_name and has_files_of(cls, src) and (saved_name.replace("Fast", "") != cls.__name__
                                                  or not has_vocabulary):  # not requested: the checkpoint's own
        tokenizer = cls.from_pretrained(src)
        check_ids_fit(tokenizer, vocab_size, src)
        tokenizer.save_pretrained(dst)
        return
    for name in present:
        shutil.copy2(os.path.join(src, name), os.path.join(dst, name))
    if has_vocabulary:
        try:  # the copies load as the result will; a fault is the source file's, which the user fixes
            tokenizer = AutoTokenizer.from_pretrained(dst)
        except PaddleRembertError as e:
            raise PaddleRembertError(str(e).replace(str(dst), str(src))) from None
        check_ids_fit(tokenizer, vocab_size, src)
    else:
        only_fast = " (its tokenizer.json is a fast tokenizer's, which paddle-rembert does not read)" \
            if "tokenizer.json" in present else ""
        logger.warning("%s has no tokenizer vocabulary%s; the converted model has none (pass --tokenizer DIR)",
                       src, only_fast)

