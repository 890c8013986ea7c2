"""PAWS-X readers: ``x-final/<lang>/{train.tsv | translated_train.tsv, dev_2k.tsv, test_2k.tsv}``.

``--data_dir`` is the folder that holds ``x-final`` (x-final.tar.gz extracted as is). Every
language folder found there is evaluated, so there is nothing to merge by hand. All files share
the header ``id sentence1 sentence2 label`` with labels ``0``/``1``.

The human-translated dev/test files contain placeholder rows whose sentence is ``NS``; the
official evaluation (XTREME) keeps them, and so do we: evaluation rows are never dropped.
English text is tokenized (``" ."``), the translations are not; both are read verbatim.
"""
import os
from typing import List, Tuple

from ..runtime.errors import PaddleRembertError
from .tsv import (SKIP_COLUMNS, SKIP_EMPTY, SKIP_LABEL, Example, FileReport, bad_columns,
                  iter_rows, log_report)

#: The 7 PAWS-X languages (XTREME).
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
#: Label ids: the index in this tuple; predictions are written as the files write labels.
PAWSX_LABELS = ("0", "1")
LABEL_IDS = {"0": 0, "1": 1}
HEADER = ("id", "sentence1", "sentence2", "label")
EVAL_FILES = {"dev": "dev_2k.tsv", "test": "test_2k.tsv"}
TRAIN_FILES = ("train.tsv", "translated_train.tsv")


def root(data_dir: str) -> str:
    """``<data_dir>/x-final``."""
    return os.path.join(data_dir, "x-final")


def train_path(data_dir: str, language: str) -> str:
    """``x-final/en/train.tsv`` for English, ``x-final/<lang>/translated_train.tsv`` otherwise."""
    name = "train.tsv" if language == "en" else "translated_train.tsv"
    return os.path.join(root(data_dir), language, name)


def eval_path(data_dir: str, language: str, split: str) -> str:
    """``x-final/<lang>/dev_2k.tsv`` or ``test_2k.tsv``."""
    if split not in EVAL_FILES:
        raise PaddleRembertError(f"unknown PAWS-X evaluation split {split!r}; "
                                 f"expected one of {tuple(EVAL_FILES)}")
    return os.path.join(root(data_dir), language, EVAL_FILES[split])


def languages(data_dir: str) -> List[str]:
    """Language folders under ``x-final`` that hold at least one PAWS-X file (sorted).

    A missing ``x-final`` or one without any language folder is an error naming the folder.
    """
    top = root(data_dir)
    if not os.path.isdir(top):
        raise PaddleRembertError(f"PAWS-X folder not found: {top} (--data_dir must hold "
                                 f"x-final/<lang>/dev_2k.tsv, ...)")
    known = TRAIN_FILES + tuple(EVAL_FILES.values())
    found = sorted(name for name in os.listdir(top)
                   if not name.startswith(".")
                   and any(os.path.isfile(os.path.join(top, name, f)) for f in known))
    if not found:
        raise PaddleRembertError(f"{top}: no language folder with {', '.join(known)}")
    return found


def train_languages(data_dir: str) -> List[str]:
    """Languages whose training file (train.tsv / translated_train.tsv) exists."""
    return [lang for lang in languages(data_dir) if os.path.isfile(train_path(data_dir, lang))]


def read_train(path: str, language: str) -> Tuple[List[Example], FileReport]:
    """Read a train.tsv / translated_train.tsv; skip (and count) rows that cannot be trained on.

    Skipped: rows without 4 columns, rows with an empty sentence (failed machine translation,
    e.g. ``32035\\t\\t\\t0`` in de), rows whose label is not ``0``/``1``. A file that yields no
    row at all is an error.
    """
    report = FileReport(path=path, language=language)
    examples = []
    append, skip = examples.append, report.skip
    row = -1
    for row, fields in iter_rows(path, HEADER, "PAWS-X training file"):
        if len(fields) != 4:
            skip(SKIP_COLUMNS, row + 2)
            continue
        _, a, b, label = fields
        if not a.strip() or not b.strip():
            skip(SKIP_EMPTY, row + 2)
            continue
        label_id = LABEL_IDS.get(label.strip())
        if label_id is None:
            skip(SKIP_LABEL, row + 2)
            continue
        append(Example(a, b, label_id, language, row, path))
    report.rows, report.kept = row + 1, len(examples)
    if not report.rows:
        raise PaddleRembertError(f"{path} has no rows, only its header: nothing to train on")
    if not examples:  # the report in the error, not also in a warning before it
        raise PaddleRembertError(f"{path}: none of its {report.rows} rows can be trained on "
                                 f"({report.summary()})")
    log_report(report)
    return examples, report


def read_eval(path: str, language: str) -> List[Example]:
    """Read a dev_2k.tsv / test_2k.tsv, keeping every row (``NS`` and empty texts included).

    A row without 4 columns or with a label other than ``0``/``1`` is an error naming
    ``path:line``.
    """
    examples = []
    for row, fields in iter_rows(path, HEADER, "PAWS-X evaluation file"):
        if len(fields) != 4:
            raise bad_columns(path, row, len(fields), 4)
        label_id = LABEL_IDS.get(fields[3].strip())
        if label_id is None:
            raise PaddleRembertError(f"{path}:{row + 2}: label {fields[3]!r}; evaluation rows "
                                     f"need one of {list(PAWSX_LABELS)}")
        examples.append(Example(fields[1], fields[2], label_id, language, row, path))
    if not examples:
        raise PaddleRembertError(f"{path} has no rows, only its header: nothing to evaluate")
    return examples
