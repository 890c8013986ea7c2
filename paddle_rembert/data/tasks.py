"""Task registry: ``--task`` name -> readers, label list, and how predictions are written back.

The trainer only talks to a :class:`Task`; it never needs to know where a data set keeps its
files or how it spells its labels::

    task = get_task("xnli")
    train, reports = task.load_train(data_dir, ["en"])       # XTREME zero-shot: English only
    for lang, examples in task.load_eval(data_dir, "dev").items(): ...
    write_predictions(path, task, examples, predicted_ids)   # language row gold prediction

Protocol (XTREME): train on ``train_languages`` (default English; a list = translate-train),
evaluate on every language found in the dev/test files. Label ids follow ``task.labels``.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open
from . import pawsx, xnli
from .tsv import Example, FileReport, logger, require_file

PREDICTION_HEADER = ("language", "row", "gold", "prediction")


class Task:
    """A classification data set: its labels, languages and readers. Subclasses fill the I/O."""

    name: str = ""
    labels: Tuple[str, ...] = ()
    #: The official language set (for documentation and checks; evaluation uses what is found).
    languages: Tuple[str, ...] = ()

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def label_name(self, label_id: int) -> str:
        """The label as the evaluation files write it (``entailment``, ``0``, ...)."""
        return self.labels[int(label_id)]

    def train_languages(self, data_dir: str) -> List[str]:
        """Languages that have a training file under ``data_dir``."""
        raise NotImplementedError

    def eval_languages(self, data_dir: str, split: str) -> List[str]:
        """Languages found in the ``split`` (``dev``/``test``) files, in evaluation order."""
        raise NotImplementedError

    def check_files(self, data_dir: str, train_languages: Optional[Sequence[str]] = None,
                    splits: Sequence[str] = ()) -> None:
        """Raise a PaddleRembertError naming the first missing file the run will need.

        Cheap (no file is read): the trainer calls it at start-up, so a missing test file is
        found before training, not after it. ``train_languages=None`` checks no training file.
        """
        if train_languages is not None:
            langs = _language_list(train_languages)
            if langs == ["all"]:
                if not self.train_languages(data_dir):
                    raise PaddleRembertError(f"{self.name}: no training file under {data_dir}")
            else:
                for lang in langs:
                    self._require_train(data_dir, lang)
        for split in splits:
            self._require_eval(data_dir, split)

    def _require_train(self, data_dir, language):
        raise NotImplementedError

    def _require_eval(self, data_dir, split):
        raise NotImplementedError

    def load_train(self, data_dir: str, languages: Sequence[str] = ("en",)
                   ) -> Tuple[List[Example], List[FileReport]]:
        """Read the training files of ``languages`` (concatenated in that order).

        ``["all"]`` means every language with a training file; ``"en,de"`` is read as a list.
        Returns the examples and one :class:`FileReport` per file (skipped rows with their line
        numbers), so the trainer can log and store what was left out. A missing file is an
        error naming it.
        """
        langs = _language_list(languages)
        if langs == ["all"]:
            langs = self.train_languages(data_dir)
        if not langs:
            raise PaddleRembertError(f"{self.name}: no training language given")
        examples: List[Example] = []
        reports = []
        for lang in langs:
            part, report = self._read_train(data_dir, lang)
            examples.extend(part)
            reports.append(report)
        skipped = sum(r.num_skipped for r in reports)
        logger.info("%s train %s: %d examples, %d rows skipped", self.name, ",".join(langs),
                    len(examples), skipped)
        return examples, reports

    def load_eval(self, data_dir: str, split: str, languages: Optional[Sequence[str]] = None
                  ) -> Dict[str, List[Example]]:
        """``{language: examples}`` for ``split``, every row in file order, no row dropped.

        ``languages=None`` means every language found; a requested language that is not found
        is an error.
        """
        languages = None if languages is None else _language_list(languages)
        found = self._read_eval(data_dir, split, languages)
        if languages is not None:
            missing = [lang for lang in languages if lang not in found]
            if missing:
                raise PaddleRembertError(
                    f"{self.name} {split}: language(s) {missing} not found under {data_dir} "
                    f"(found: {self.eval_languages(data_dir, split)})")
            found = {lang: found[lang] for lang in languages}
        return found

    def _read_train(self, data_dir, language):
        raise NotImplementedError

    def _read_eval(self, data_dir, split, languages):
        raise NotImplementedError


class XnliTask(Task):
    name = "xnli"
    labels = xnli.XNLI_LABELS
    languages = xnli.XNLI_LANGUAGES

    def train_languages(self, data_dir):
        return xnli.train_languages(data_dir)

    def eval_languages(self, data_dir, split):
        return xnli.eval_languages(xnli.eval_path(data_dir, split))

    def _read_train(self, data_dir, language):
        return xnli.read_train(xnli.train_path(data_dir, language), language)

    def _require_train(self, data_dir, language):
        require_file(xnli.train_path(data_dir, language), "XNLI-MT training file")

    def _require_eval(self, data_dir, split):
        require_file(xnli.eval_path(data_dir, split), "XNLI evaluation file")

    def _read_eval(self, data_dir, split, languages):
        # One file holds every language; reading it whole is fast (75,150 rows for test).
        return xnli.read_eval(xnli.eval_path(data_dir, split))


class PawsxTask(Task):
    name = "paws"
    labels = pawsx.PAWSX_LABELS
    languages = pawsx.PAWSX_LANGUAGES

    def train_languages(self, data_dir):
        return pawsx.train_languages(data_dir)

    def eval_languages(self, data_dir, split):
        langs = pawsx.languages(data_dir)
        for lang in langs:  # every language found is evaluated: its file must be there
            require_file(pawsx.eval_path(data_dir, lang, split), "PAWS-X evaluation file")
        return langs

    def _read_train(self, data_dir, language):
        return pawsx.read_train(pawsx.train_path(data_dir, language), language)

    def _require_train(self, data_dir, language):
        require_file(pawsx.train_path(data_dir, language), "PAWS-X training file")

    def _require_eval(self, data_dir, split):
        self.eval_languages(data_dir, split)  # every language folder found needs its split file

    def _read_eval(self, data_dir, split, languages):
        found = pawsx.languages(data_dir)
        wanted = found if languages is None else [lang for lang in languages if lang in found]
        return {lang: pawsx.read_eval(pawsx.eval_path(data_dir, lang, split), lang)
                for lang in wanted}


def _language_list(languages) -> List[str]:
    """``"en,de"`` or ``["en", "de", "en"]`` -> ``["en", "de"]`` (never a string's letters)."""
    if isinstance(languages, str):
        languages = languages.split(",")
    return list(dict.fromkeys(lang.strip() for lang in languages if lang.strip()))


TASKS = {"xnli": XnliTask(), "paws": PawsxTask()}
_ALIASES = {"pawsx": "paws", "paws-x": "paws", "paws_x": "paws"}


def get_task(name: str) -> Task:
    """The task registered as ``name`` (``xnli``, ``paws``; ``pawsx`` is an alias)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in TASKS:
        raise PaddleRembertError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[key]


def prediction_lines(task: Task, examples: Sequence[Example], predictions: Sequence[int]):
    """Yield ``language<TAB>row<TAB>gold<TAB>prediction`` lines (with ``"\\n"``), header first.

    Labels are written as the evaluation files write them; ``row`` is the example's 0-based data
    row in its source file, so every line can be traced back to the original text.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    yield "\t".join(PREDICTION_HEADER) + "\n"
    names = task.labels
    for ex, pred in zip(examples, predictions):
        yield f"{ex.language}\t{ex.row}\t{names[ex.label]}\t{names[int(pred)]}\n"


def write_predictions(path: str, task: Task, examples: Sequence[Example],
                      predictions: Sequence[int]) -> None:
    """Write :func:`prediction_lines` to ``path`` atomically (never left half-written)."""
    with atomic_open(path, "w") as f:
        f.writelines(prediction_lines(task, examples, predictions))
