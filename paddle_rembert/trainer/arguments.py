"""Training arguments, and the two ways to give them.

* ``examples/xnli_pawsx/main.py`` takes the flags of PaddleNLP's RemBERT example verbatim
  (``--model_type --data_dir --output_dir --device --learning_rate ...``) plus ours.
* ``tools/train.py --config configs/<name>.yaml key=value ...`` reads a YAML recipe whose keys
  are the same names, overridden from the command line.

Both build one :class:`TrainingArguments`; nothing else in the trainer parses anything.
"""
import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import List, Optional

import yaml

from ..models import registry
from ..runtime.errors import ArgumentParser, PaddleRembertError


@dataclass
class TrainingArguments:
    # what to train and where
    task: str = "xnli"
    data_dir: str = "data"
    model_name_or_path: Optional[str] = None
    model_type: Optional[str] = None  # checked against the checkpoint's config.json when given
    output_dir: str = "outputs"
    do_train: bool = False
    do_eval: bool = False
    device: Optional[str] = None  # cpu | gpu; default: gpu when Paddle has CUDA, else cpu
    # protocol
    train_languages: List[str] = field(default_factory=lambda: ["en"])
    select_on: str = "en"  # a dev language, or "all" (mean over every dev language)
    max_seq_length: int = 512
    # optimisation
    learning_rate: float = 8e-6
    num_train_epochs: float = 3
    max_steps: int = -1  # > 0 overrides num_train_epochs
    train_batch_size: int = 16  # per device
    eval_batch_size: int = 16  # per device
    gradient_accumulation_steps: int = 2
    warmup_proportion: float = 0.02
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0
    amp: str = "none"  # none | bf16 | fp16
    recompute: bool = False
    group_by_length: bool = True
    seed: int = 42
    # schedule of side work, in optimizer steps
    eval_step: int = 2000
    save_steps: int = 2000
    save_total_limit: int = 3
    logging_steps: int = 50
    resume: bool = False
    overwrite_output_dir: bool = False  # train into a non-empty output_dir, removing its previous run's outputs
    threads: Optional[int] = None

    def __post_init__(self):
        if isinstance(self.train_languages, str):
            self.train_languages = [x.strip() for x in self.train_languages.split(",") if x.strip()]
        problems = []
        if self.amp not in ("none", "bf16", "fp16"):
            problems.append(f"amp must be none, bf16 or fp16, got {self.amp!r}")
        for name in ("train_batch_size", "eval_batch_size", "gradient_accumulation_steps", "max_seq_length",
                     "eval_step", "save_steps", "logging_steps", "save_total_limit"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_proportion < 1:
            problems.append(f"warmup_proportion must be in [0, 1), got {self.warmup_proportion}")
        # a NaN learning rate would train to loss=nan and still write checkpoints
        for name, low, strict in (("learning_rate", 0, True), ("adam_epsilon", 0, True), ("weight_decay", 0, False),
                                  ("max_grad_norm", 0, False)):
            value = getattr(self, name)
            if not (math.isfinite(value) and (value > low if strict else value >= low)):
                problems.append(f"{name} must be a {'positive' if strict else 'non-negative'} number, got {value}")
        if self.do_train and self.max_steps <= 0 and not (math.isfinite(self.num_train_epochs)
                                                          and self.num_train_epochs > 0):
            problems.append(f"num_train_epochs must be positive (or max_steps given), got {self.num_train_epochs}")
        from ..runtime.settings import check_threads  # (imports Paddle: not at module import)

        try:
            check_threads(self.threads, "threads")
        except PaddleRembertError as e:
            problems.append(str(e))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 32:
            problems.append(f"seed must be an integer from 0 to 2**32 - 1 (numpy's range), got {self.seed!r}")
        if self.device not in (None, "cpu", "gpu"):
            problems.append(f"device must be cpu or gpu, got {self.device!r}")
        if not (self.do_train or self.do_eval):
            problems.append("nothing to do: give do_train and/or do_eval")
        if self.model_name_or_path is None:
            problems.append("model_name_or_path is required: a Paddle model directory, a transformers "
                            "PyTorch directory, or a Hugging Face Hub id (org/name)")
        if self.model_type is not None and self.model_type not in registry.model_types():
            problems.append(f"model_type must be one of {', '.join(registry.model_types())}, got {self.model_type!r}")
        if problems:
            raise PaddleRembertError("; ".join(problems))

    def to_dict(self):
        return dataclasses.asdict(self)


# -- PaddleNLP example flags ---------------------------------------------------------------------
def example_parser():
    """PaddleNLP's ``examples/language_model/rembert/main.py`` flags, same names and defaults."""
    p = ArgumentParser(description="Fine-tune on XNLI or PAWS-X (the flags of PaddleNLP's RemBERT example, and ours)")
    p.add_argument("--data_dir", type=str, default=None, help="data path (the unpacked official archives)")
    p.add_argument("--do_train", action="store_true", help="train the model")
    p.add_argument("--do_eval", action="store_true", help="evaluate the selected checkpoint on dev and test")
    p.add_argument("--num_train_epochs", type=float, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train_batch_size", type=int, default=16, help="per-device batch size for training")
    p.add_argument("--eval_batch_size", type=int, default=16, help="per-device batch size for evaluation")
    p.add_argument("--output_dir", type=str, default="outputs")
    p.add_argument("--max_seq_length", type=int, default=512)
    p.add_argument("--device", choices=["cpu", "gpu"], default=None, help="default: gpu if available, else cpu")
    p.add_argument("--gradient_accumulation_steps", type=int, default=2)
    p.add_argument("--warmup_proportion", type=float, default=0.02)
    p.add_argument("--learning_rate", type=float, default=8e-6)
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--task", type=str, required=True, choices=["xnli", "paws"])
    p.add_argument("--model_type", type=str, default=None, choices=registry.model_types(),
                   help="the family; checked against the checkpoint's config.json (default: whatever it holds)")
    p.add_argument("--eval_step", type=int, default=2000, help="evaluate every N optimizer steps")
    # ours
    p.add_argument("--model_name_or_path", type=str, required=True,
                   help="a Paddle model dir, a transformers PyTorch dir (converted in memory) or a hub id (org/name)")
    p.add_argument("--save_steps", type=int, default=2000)
    p.add_argument("--max_steps", type=int, default=-1)
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    p.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    p.add_argument("--overwrite_output_dir", action="store_true",
                   help="train into a non-empty --output_dir: its checkpoints, best/ and results are removed first")
    p.add_argument("--select_on", type=str, default="en", help="dev language for selection, or 'all'")
    p.add_argument("--train_languages", type=str, default="en", help="comma-separated (translate-train)")
    p.add_argument("--logging_steps", type=int, default=50)
    p.add_argument("--recompute", action="store_true")
    p.add_argument("--save_total_limit", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--adam_epsilon", type=float, default=None, help="default 1e-6")
    p.add_argument("--max_grad_norm", type=float, default=None, help="default 1.0 (0: no clipping)")
    p.add_argument("--group_by_length", choices=["true", "false"], default=None,
                   help="batch examples of similar length together (default true)")
    return p


def from_example_flags(argv=None):
    ns = example_parser().parse_args(argv)
    values = {k: v for k, v in vars(ns).items() if v is not None or k == "device"}
    if "group_by_length" in values:
        values["group_by_length"] = values["group_by_length"] == "true"
    if values.get("data_dir") is None:
        values.pop("data_dir", None)
    return TrainingArguments(**values)


# -- YAML recipes --------------------------------------------------------------------------------
class _RecipeLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s YAML 1.1, except that a date stays text (no argument takes a date: an
    ``output_dir`` of 2024-01-01 is a name), a number keeps the text it was written as, so that a
    string argument given ``010`` or ``1_000`` gets that text, not ``8`` or ``1000``, and a key given
    twice is an error (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:  # the mapping's own keys; a merge (<<: *base) may be overridden by them
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"{key_node.value!r} is given twice",
                                                            key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class _Int(int):
    source = None


class _Float(float):
    source = None


def _keeping_source(kind, construct):
    def build(loader, node):
        value = kind(construct(loader, node))
        value.source = node.value
        return value
    return build


_RecipeLoader.add_constructor("tag:yaml.org,2002:int", _keeping_source(_Int, yaml.SafeLoader.construct_yaml_int))
_RecipeLoader.add_constructor("tag:yaml.org,2002:float",
                              _keeping_source(_Float, yaml.SafeLoader.construct_yaml_float))


def _load_yaml(stream):
    return yaml.load(stream, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass


def from_yaml(path, overrides=()):
    """A YAML recipe plus ``key=value`` overrides (values parsed as YAML: ``3``, ``true``, ``[en, de]``)."""
    try:
        with open(path, encoding="utf-8") as f:
            values = _load_yaml(f) or {}
    except FileNotFoundError:
        raise PaddleRembertError(f"config file not found: {path}") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise PaddleRembertError(f"{path} is not valid YAML: {_one_line(e)}") from None
    except UnicodeDecodeError as e:
        raise PaddleRembertError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason}); "
                                 f"save the recipe as UTF-8") from None
    if not isinstance(values, dict):
        raise PaddleRembertError(f"{path} must hold a mapping of argument names to values")
    for item in overrides:
        if "=" not in item:
            raise PaddleRembertError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        try:
            values[key.strip()] = _load_yaml(raw)
        except (yaml.YAMLError, RecursionError) as e:
            raise PaddleRembertError(f"override {item!r}: the value is not valid YAML: {_one_line(e)}") from None
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(map(str, set(values) - known))
    if unknown:
        raise PaddleRembertError(f"unknown argument(s) {unknown} in {path} or overrides; known: {sorted(known)}")
    return TrainingArguments(**check_types(values, f"{path} or overrides"))


def _one_line(error):
    """PyYAML's messages span lines (the problem, then where): one line, with the position kept."""
    return " ".join(part.strip() for part in str(error).splitlines() if part.strip()) or type(error).__name__


def _sexagesimal(number):
    """YAML 1.1 reads ``1:30`` as 90; no argument is written so, so it is refused rather than guessed."""
    return ":" in (getattr(number, "source", None) or "")


def _as_written(number):
    """A plain ``int`` / ``float``; a zero-padded integer is decimal, as YAML 1.2 and a reader take it:
    ``seed: 010`` is 10, not YAML 1.1's octal 8 (``0x10`` stays 16)."""
    if not isinstance(number, int):
        return float(number)
    source = (getattr(number, "source", None) or "").replace("_", "")
    return int(source, 10) if re.fullmatch(r"[-+]?0[0-9]+", source) else int(number)


def _describe(kind):
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list: "a list of strings (or one comma-separated string)"}[kind]


def check_types(values, source):
    """``values`` checked against :class:`TrainingArguments`' field types (YAML gives ints, lists, ...).

    A number where a string is expected (``output_dir=2024``) becomes its text as written; an integer
    is a number, and so is a string like ``1e-5`` (YAML 1.1 reads it as one); anything else of the
    wrong type is a PaddleRembertError naming the key.
    """
    hints = typing.get_type_hints(TrainingArguments)
    out = dict(values)
    problems = []
    for key, value in values.items():
        hint = hints[key]
        args = typing.get_args(hint)
        optional = type(None) in args
        if optional:
            hint = next(a for a in args if a is not type(None))
        kind = typing.get_origin(hint) or hint
        if value is None:
            ok = optional
        elif kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and not _sexagesimal(value)
            if ok:
                out[key] = _as_written(value)
        elif kind is float:
            if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
                try:
                    out[key] = value = float(value)
                except ValueError:
                    pass
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not _sexagesimal(value)
            if ok:
                try:
                    out[key] = float(_as_written(value))
                except OverflowError:  # an integer beyond float's range
                    ok = False
        elif kind is str:
            ok = isinstance(value, str) or isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                out[key] = str(getattr(value, "source", None) or value)
        elif kind is list:
            ok = isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:  # pragma: no cover - a field type this check does not know
            ok = True
        if not ok:
            written = getattr(value, "source", None) or repr(value)
            problems.append(f"{key} must be {_describe(kind)}{' or null' if optional else ''}, got {written}")
    if problems:
        raise PaddleRembertError(f"{source}: " + "; ".join(problems))
    return out
