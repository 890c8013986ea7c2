"""XNLI readers: MultiNLI train (XNLI-MT-1.0) and the 15-language dev/test files (XNLI-1.0).

Layout under ``--data_dir`` (the two official zips extracted side by side)::

    XNLI-MT-1.0/multinli/multinli.train.<lang>.tsv   premise  hypo  label        (contradictory)
    XNLI-1.0/xnli.dev.tsv, XNLI-1.0/xnli.test.tsv    19 columns, all languages (contradiction)

The two spell the third class differently; both map to ``contradiction``, and labels are numbered
in XTREME's order (``contradiction, entailment, neutral``) so predictions and accuracies line up
with XTREME's evaluate.py. Dev/test hold all 15 languages in one file, grouped by language; they
are split by the ``language`` column keeping file order (2,490 dev / 5,010 test rows each).
"""
import glob
import os
import re
from typing import Dict, List, Tuple

from ..runtime.errors import PaddleRembertError
from .tsv import (SKIP_COLUMNS, SKIP_EMPTY, SKIP_LABEL, Example, FileReport, bad_columns,
                  iter_rows, log_report)

#: The 15 XNLI languages, in the order of the dev/test files (and of XTREME's tables).
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur",
                  "vi", "zh")
#: Label ids: the index in this tuple (XTREME order). Predictions are written with these names.
XNLI_LABELS = ("contradiction", "entailment", "neutral")
#: The train files write ``contradictory``; the dev/test files write ``contradiction``.
LABEL_IDS = {"contradiction": 0, "contradictory": 0, "entailment": 1, "neutral": 2}

TRAIN_HEADER = ("premise", "hypo", "label")
EVAL_HEADER = ("language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID",
               "pairID", "genre", "label1", "label2", "label3", "label4", "label5",
               "sentence1_tokenized", "sentence2_tokenized", "match")
_LANG, _GOLD, _S1, _S2 = 0, 1, 6, 7
SPLITS = ("dev", "test")


def train_path(data_dir: str, language: str) -> str:
    """``<data_dir>/XNLI-MT-1.0/multinli/multinli.train.<language>.tsv``."""
    return os.path.join(data_dir, "XNLI-MT-1.0", "multinli", f"multinli.train.{language}.tsv")


def eval_path(data_dir: str, split: str) -> str:
    """``<data_dir>/XNLI-1.0/xnli.<split>.tsv`` for split ``dev`` or ``test``."""
    if split not in SPLITS:
        raise PaddleRembertError(f"unknown XNLI evaluation split {split!r}; "
                                 f"expected one of {SPLITS}")
    return os.path.join(data_dir, "XNLI-1.0", f"xnli.{split}.tsv")


def train_languages(data_dir: str) -> List[str]:
    """Languages that have a ``multinli.train.<lang>.tsv`` under ``data_dir`` (sorted)."""
    found = glob.glob(train_path(glob.escape(data_dir), "*"))
    langs = (re.fullmatch(r"multinli\.train\.(.+)\.tsv", os.path.basename(p)) for p in found)
    return sorted(m.group(1) for m in langs if m)


def read_train(path: str, language: str) -> Tuple[List[Example], FileReport]:
    """Read one ``multinli.train.<lang>.tsv``; skip (and count) rows that cannot be trained on.

    A row is skipped when it does not have 3 columns, when the premise or hypothesis is empty
    (blank after stripping) or when its label is not entailment/neutral/contradictory; the
    report keeps every skipped line number and a warning is logged. Training on 392,702 rows
    should not stop for one failed machine translation, but a file that yields no row at all
    is an error.
    """
    report = FileReport(path=path, language=language)
    examples = []
    append, skip, ids = examples.append, report.skip, LABEL_IDS
    row = -1
    for row, fields in iter_rows(path, TRAIN_HEADER, "XNLI-MT training file"):
        if len(fields) != 3:
            skip(SKIP_COLUMNS, row + 2)
            continue
        a, b, label = fields
        if not a.strip() or not b.strip():
            skip(SKIP_EMPTY, row + 2)
            continue
        label_id = ids.get(label.strip())
        if label_id is None:
            skip(SKIP_LABEL, row + 2)
            continue
        append(Example(a, b, label_id, language, row, path))
    report.rows = row + 1
    report.kept = len(examples)
    if not report.rows:
        raise PaddleRembertError(f"{path} has no rows, only its header: nothing to train on")
    if not examples:  # the report in the error, not also in a warning before it
        raise PaddleRembertError(f"{path}: none of its {report.rows} rows can be trained on "
                                 f"({report.summary()})")
    log_report(report)
    return examples, report


def read_eval(path: str) -> Dict[str, List[Example]]:
    """Read ``xnli.dev.tsv`` / ``xnli.test.tsv`` into ``{language: examples}`` in file order.

    Evaluation rows are never dropped: a row without 19 columns, with an empty language or with
    a label that is not entailment/neutral/contradiction is an error naming ``path:line``.
    Empty texts are kept as they are (the official evaluation scores every row).
    """
    by_language: Dict[str, List[Example]] = {}
    for row, fields in iter_rows(path, EVAL_HEADER, "XNLI evaluation file"):
        if len(fields) != 19:
            raise bad_columns(path, row, len(fields), 19)
        language = fields[_LANG].strip()
        label_id = LABEL_IDS.get(fields[_GOLD].strip())
        if label_id is None or not language:
            what = f"label {fields[_GOLD]!r}" if label_id is None else "empty language"
            raise PaddleRembertError(f"{path}:{row + 2}: {what}; evaluation rows need a language "
                                     f"and one of {list(XNLI_LABELS)}")
        examples = by_language.get(language)
        if examples is None:
            examples = by_language[language] = []
        examples.append(Example(fields[_S1], fields[_S2], label_id, language, row, path))
    if not by_language:
        raise PaddleRembertError(f"{path} has no rows, only its header: nothing to evaluate")
    return by_language


def eval_languages(path: str) -> List[str]:
    """The languages of an XNLI dev/test file, in the order they first appear.

    Checks the header but not the rows (:func:`read_eval` does), so it is cheap to call first.
    """
    seen: Dict[str, None] = {}
    for _, fields in iter_rows(path, EVAL_HEADER, "XNLI evaluation file"):
        seen.setdefault(fields[_LANG].strip(), None)
    seen.pop("", None)
    return list(seen)
