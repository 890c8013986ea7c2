"""The conversion rule, and the plan that matches a checkpoint's keys to a model's.

Our modules carry transformers' names, so a state-dict key is the same on both sides. The whole
rule between layouts is:

1. **Transpose 2-D Linear weights** (Paddle stores ``[in, out]``, PyTorch ``[out, in]``). Which
   keys are Linear weights is read off the model (``PretrainedModel.linear_weight_keys``), not
   off a table.
2. **Tied duplicates** (``model.tied_weights``, e.g. ALBERT's ``predictions.decoder.weight``,
   which *is* the word embedding) are not stored by us; reading drops them, writing to PyTorch
   adds them back.
3. **The base-model prefix** (``albert.`` / ``rembert.``) is added or stripped when a backbone
   checkpoint meets a head model or the reverse, as transformers does.
4. Keys of non-persistent buffers that old transformers versions saved
   (``embeddings.position_ids``, ``embeddings.token_type_ids``) are dropped.
5. Old TF-converted checkpoints name LayerNorm parameters ``gamma``/``beta``: read as
   ``weight``/``bias`` (transformers' ``_fix_key``).
6. A checkpoint that stores only the tied copy of a parameter (a decoder bias without the head's
   bias) fills the parameter from it; when both are stored, the copy is dropped (rule 2), except
   where transformers re-ties the parameter to the copy after loading (``kept_copies``: ALBERT's
   and RoBERTa's decoder bias), so that the copy's value is the one it uses.

Everything else -- a key the model lacks, a key the checkpoint lacks, a shape that differs -- is
reported by name; :func:`paddle_rembert.checkpoint.loading.check_plan` then refuses shape
mismatches (unless ``ignore_mismatched_sizes``) and integer data for float parameters.
"""
import re
from dataclasses import dataclass, field

IGNORED_CHECKPOINT_KEYS = (re.compile(r"(^|\.)embeddings\.(position_ids|token_type_ids)$"),)
_TF_NAMES = {"gamma": "weight", "beta": "bias"}


def fix_key(key):
    """``...LayerNorm.gamma`` -> ``...LayerNorm.weight``, ``beta`` -> ``bias`` (TF-converted checkpoints)."""
    head, dot, last = key.rpartition(".")
    return head + dot + _TF_NAMES[last] if last in _TF_NAMES else key


@dataclass
class LoadReport:
    """What matched and what did not, by key (model-side names)."""

    loaded: list = field(default_factory=list)
    missing_keys: list = field(default_factory=list)  # in the model, not in the checkpoint: initialised
    unexpected_keys: list = field(default_factory=list)  # in the checkpoint, not in the model: ignored
    mismatched_keys: list = field(default_factory=list)  # (key, checkpoint shape, shape the model needs there)
    dropped_keys: list = field(default_factory=list)  # tied duplicates and old buffers: expected to drop
    unused_keys: list = field(default_factory=list)  # a pooler that this head does not have (dropped too)
    missing_copies: list = field(default_factory=list)  # tied copies (transformers' keys) of missing parameters
    checkpoint_dtype: str = None  # the first floating-point tensor's ("float16"), as torch_dtype="auto" reads it

    @property
    def clean(self):
        return not (self.missing_keys or self.unexpected_keys or self.mismatched_keys)

    def loading_info(self):
        """transformers' ``output_loading_info`` dict, whose attributes are this report's (:class:`LoadingInfo`)."""
        return LoadingInfo(self)

    def describe(self, model_name, source):
        lines = [f"loading {model_name} from {source}:"]
        if self.missing_keys:
            lines.append(f"  missing in the checkpoint (newly initialised): {', '.join(self.missing_keys)}")
        if self.unexpected_keys:
            lines.append(f"  unexpected (not used by the model): {', '.join(self.unexpected_keys)}")
        if self.unused_keys:
            lines.append(f"  not used (this class has no pooler): {', '.join(self.unused_keys)}")
        for key, ckpt_shape, model_shape in self.mismatched_keys:
            lines.append(f"  shape mismatch for {key}: checkpoint {list(ckpt_shape)}, expected {list(model_shape)}")
        return "\n".join(lines)

    def summary(self, limit=3):
        """One line: the first ``limit`` keys of each kind and how many more (a checkpoint of another size
        mismatches every tensor, and the full list would run to thousands of characters)."""
        def first(items):
            return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")

        parts = []
        if self.missing_keys:
            parts.append(f"missing in the checkpoint: {first(self.missing_keys)}")
        if self.unexpected_keys:
            parts.append(f"unexpected: {first(self.unexpected_keys)}")
        for key, ckpt_shape, model_shape in self.mismatched_keys[:limit]:
            parts.append(f"shape mismatch for {key}: checkpoint {list(ckpt_shape)}, expected {list(model_shape)}")
        if len(self.mismatched_keys) > limit:
            parts.append(f"{len(self.mismatched_keys) - limit} more shape mismatches: config.json's sizes do not "
                         f"match these weights")
        return "; ".join(parts)

    def log(self, logger, model_name, source, architectures=None):
        """As transformers: keys left unused are a warning only when ``config.json`` names this class (loading a
        pre-training checkpoint into a backbone or another head drops its heads by design); initialised or
        mismatched keys always are."""
        unused = self.unexpected_keys or self.unused_keys  # a pooler this head lacks is unused too, to transformers
        if self.missing_keys or self.mismatched_keys or (unused and model_name in (architectures or ())):
            logger.warning(self.describe(model_name, source))
        elif self.unexpected_keys:
            logger.info(self.describe(model_name, source))
        dropped = [k for k in self.dropped_keys if k not in self.unused_keys]  # the pooler is told above
        if dropped:
            logger.info("dropped tied or buffer keys: %s", ", ".join(dropped))


class LoadingInfo(dict):
    """transformers' ``output_loading_info``: a dict of ``missing_keys`` (with the tied copies of missing
    parameters, which transformers' state dict holds and ours does not) and ``unexpected_keys`` (a dropped pooler
    included, as transformers lists it), sorted as transformers sorts them, ``mismatched_keys`` in the
    checkpoint's order and ``error_msgs``. Attributes reach the :class:`LoadReport` (``clean``, ``summary()``,
    the lists in model order). One difference is kept: a head checkpoint loaded into a backbone reports the
    backbone's missing pooler by the backbone's own key (``pooler.dense.weight``), which transformers prefixes
    (``bert.pooler.dense.weight``), a key no model has."""

    def __init__(self, report):
        super().__init__(missing_keys=sorted(report.missing_keys + report.missing_copies),
                         unexpected_keys=sorted(report.unexpected_keys + report.unused_keys),
                         mismatched_keys=list(report.mismatched_keys), error_msgs=[])
        self.report = report

    def __getattr__(self, name):
        if name == "report":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.report, name)


@dataclass
class Plan:
    """``pairs``: (model key, checkpoint key, transpose?) for every tensor to move."""

    pairs: list
    report: LoadReport
    mismatched_sources: dict = field(default_factory=dict)  # model key -> checkpoint key, for shape mismatches
    tied_copies: list = field(default_factory=list)  # (checkpoint key read, its tied twin dropped): both stored
    backbone: bool = False  # the model is the family's base model: its keys have no prefix


def initialisable(key, prefix, backbone):
    """Whether a key a checkpoint lacks may be left to initialisation: a task head's or the pooler's (a
    checkpoint without an encoder tensor is broken, not a backbone for another task). ``backbone``: the model is
    the family's base model, whose keys have no ``prefix``."""
    if not backbone and not key.startswith(prefix + "."):
        return True
    return key.removeprefix(prefix + ".").startswith("pooler")


def plan_load(model_shapes, linear_keys, tied, prefix, ckpt_shapes, ckpt_layout, kept_copies=()):
    """Match checkpoint keys to model keys.

    ``model_shapes``/``ckpt_shapes`` map key -> shape; ``ckpt_layout`` is "torch" or "paddle"; ``tied`` maps a
    tied copy's key to its parameter's, and ``kept_copies`` are the copies whose stored value wins (rule 6).
    """
    report = LoadReport()
    dotted = prefix + "."
    model_prefixed = any(k.startswith(dotted) for k in model_shapes)
    ckpt_prefixed = any(k.startswith(dotted) for k in ckpt_shapes)

    def model_key(ckpt_key):
        if model_prefixed and not ckpt_prefixed and dotted + ckpt_key in model_shapes:
            return dotted + ckpt_key  # backbone checkpoint into a head model
        if ckpt_prefixed and not model_prefixed and ckpt_key.startswith(dotted):
            return ckpt_key[len(dotted):]  # head checkpoint into a backbone
        return ckpt_key

    def resolve(ckpt_key):
        key = model_key(ckpt_key)
        if key not in model_shapes and fix_key(key) != key:
            key = model_key(fix_key(ckpt_key))
        return key

    # heads built without the pooler ignore a checkpoint's, as transformers' do (`_keys_to_ignore_on_load_unexpected`):
    # roberta-large's masked LM weights carry one, and so does every head saved by transformers before 3.1
    has_pooler = any(k.removeprefix(dotted).startswith("pooler.") for k in model_shapes)
    mapped = {ckpt_key: resolve(ckpt_key) for ckpt_key in ckpt_shapes}
    present = set(mapped.values())
    ckpt_key_of = {key: ckpt_key for ckpt_key, key in mapped.items()}
    both = {copy: tied[copy] for copy in tied if copy in present and tied[copy] in present}
    winners = {copy: target for copy, target in both.items() if copy in kept_copies}
    tied_copies = [(ckpt_key_of[copy], ckpt_key_of[target]) if copy in winners else
                   (ckpt_key_of[target], ckpt_key_of[copy]) for copy, target in both.items()]
    pairs, seen, mismatched_sources = [], set(), {}
    for ckpt_key, ckpt_shape in ckpt_shapes.items():
        key = mapped[ckpt_key]
        if key in winners.values():  # its copy is stored too, and wins
            report.dropped_keys.append(ckpt_key)
            continue
        if key in winners:
            key = tied[key]
        elif key in tied:
            if tied[key] in present or tied[key] not in model_shapes:
                report.dropped_keys.append(ckpt_key)
                continue
            key = tied[key]  # only the tied copy is stored: it fills the parameter it equals
            present.add(key)
        if key not in model_shapes and any(p.search(key) for p in IGNORED_CHECKPOINT_KEYS):
            report.dropped_keys.append(ckpt_key)
            continue
        if key not in model_shapes and not has_pooler and key.removeprefix(dotted).startswith("pooler."):
            report.dropped_keys.append(ckpt_key)
            report.unused_keys.append(ckpt_key)
            continue
        if key not in model_shapes or key in seen:
            report.unexpected_keys.append(ckpt_key)
            continue
        transpose = ckpt_layout == "torch" and key in linear_keys
        expected = tuple(model_shapes[key])[::-1] if transpose else tuple(model_shapes[key])
        if tuple(ckpt_shape) != expected:
            report.mismatched_keys.append((key, tuple(ckpt_shape), expected))
            mismatched_sources[key] = ckpt_key
            seen.add(key)
            continue
        pairs.append((key, ckpt_key, transpose))
        report.loaded.append(key)
        seen.add(key)
    report.missing_keys = [k for k in model_shapes if k not in seen]
    report.missing_copies = [copy for copy, target in tied.items() if target in report.missing_keys]
    return Plan(pairs, report, mismatched_sources, tied_copies, backbone=not model_prefixed)


def torch_key_shapes(model_shapes, linear_keys, tied):
    """Keys and shapes of the same model in transformers' layout (tied duplicates included)."""
    out = {}
    for key, shape in model_shapes.items():
        out[key] = tuple(shape)[::-1] if key in linear_keys else tuple(shape)
    for dup, source in tied.items():
        if source in out:
            out[dup] = out[source]
    return out
