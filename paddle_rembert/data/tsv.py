"""Reading the official XNLI / PAWS-X TSV files: the shared, format-level part.

The real files are tab-separated UTF-8 with **no quoting**: fields start with ``"`` (PAWS-X de
dev id 1384, test ids 68 and 244), and a csv reader with default quoting silently rewrites them
or merges lines. So a line is split on ``"\\t"`` and nothing else, which is also what XTREME does.
Lines end at ``"\\n"`` only (``open(newline="\\n")``): universal-newline mode would also break a
line at a stray ``"\\r"``, and ``str.splitlines`` at ``"\\x85"`` or ``"\\u2028"``, which can occur
inside real text.

Line numbers in messages are 1-based lines of the file (the header is line 1), so they can be
pasted into an editor; ``Example.row`` is the 0-based data row (header excluded), so
``line = row + 2``.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, NamedTuple, Sequence, Tuple

from ..runtime.errors import PaddleRembertError

logger = logging.getLogger("paddle_rembert.data")

#: How many line numbers a log message lists before it says "...". Reports keep them all.
MAX_LOGGED_LINES = 20

# Reasons a training row is skipped (keys of FileReport.skipped).
SKIP_EMPTY = "empty text"
SKIP_LABEL = "unknown label"
SKIP_COLUMNS = "wrong number of columns"


class Example(NamedTuple):
    """One sentence pair. A NamedTuple: millions of them are held in memory for translate-train.

    ``label`` is the id in the task's label list; ``row`` is the 0-based data row of ``source``
    (header excluded), so a prediction can always be traced back to its line (``row + 2``).
    """

    text_a: str
    text_b: str
    label: int
    language: str
    row: int
    source: str


@dataclass
class FileReport:
    """What reading one training file did: rows seen, rows kept, and every skipped line by reason.

    The trainer logs :meth:`summary`; tests and tools can inspect ``skipped`` directly.
    """

    path: str
    language: str
    rows: int = 0
    kept: int = 0
    skipped: Dict[str, List[int]] = field(default_factory=dict)

    @property
    def num_skipped(self) -> int:
        return sum(len(lines) for lines in self.skipped.values())

    def skip(self, reason: str, line: int) -> None:
        self.skipped.setdefault(reason, []).append(line)

    def summary(self) -> str:
        """One line: ``<path> [<lang>]: kept K of N rows; skipped S (reason: n, lines ...)``."""
        text = f"{self.path} [{self.language}]: kept {self.kept} of {self.rows} rows"
        if not self.num_skipped:
            return text
        parts = [f"{len(lines)} with {reason} (lines {format_lines(lines)})"
                 for reason, lines in self.skipped.items()]
        return f"{text}; skipped {self.num_skipped}: " + "; ".join(parts)


def format_lines(lines: Sequence[int], limit: int = MAX_LOGGED_LINES) -> str:
    """``"3, 7, 9, ... (+12 more)"``: a capped list, so one bad file cannot flood the log."""
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown if len(lines) <= limit else f"{shown}, ... (+{len(lines) - limit} more)"


def require_file(path: str, what: str) -> None:
    """Raise a PaddleRembertError naming ``path`` (and what it should be) if it is not a file."""
    if not os.path.isfile(path):
        raise PaddleRembertError(f"{what} not found: {path}")


def iter_rows(path: str, header: Tuple[str, ...], what: str) -> Iterator[Tuple[int, List[str]]]:
    """Yield ``(row, fields)`` for each data line of ``path`` after checking its header.

    ``fields`` is the raw ``line.split("\\t")`` (a trailing ``"\\n"`` or ``"\\r\\n"`` removed);
    blank lines at the end of the file (an editor's extra newline) are not rows. Its length is
    not checked here, because a bad row is an error in an evaluation file but a
    counted skip in a training file. A missing or empty file, a wrong header or bytes that are not
    UTF-8 raise :class:`PaddleRembertError` naming the file.
    """
    require_file(path, what)
    row = -1
    with open(path, encoding="utf-8-sig", newline="\n") as f:
        try:
            first = f.readline()
            if not first:
                raise PaddleRembertError(f"{path}: the file is empty; expected the {what} "
                                         f"with the header {_show(header)}")
            first = first.rstrip("\r\n")
            if "\r" in first:  # the whole file, when its lines end in \r alone
                raise PaddleRembertError(f"{path}:1: a carriage return (\\r) inside the header line: lines that "
                                         f"end in \\r alone (classic Mac) are not read; save the file with \\n "
                                         f"or \\r\\n line endings")
            found = tuple(first.split("\t"))
            if found != header:
                raise PaddleRembertError(f"{path}:1: wrong header for the {what}: expected "
                                         f"{_show(header)}, found {_show(found, limit=300)}")
            blank = []  # blank lines are held back: at the end of the file they are not rows
            for row, line in enumerate(f):
                line = line.rstrip("\r\n")
                if not line.strip(" "):
                    blank.append(row)
                    continue
                for r in blank:
                    yield r, [""]
                blank = []
                yield row, line.split("\t")
        except UnicodeDecodeError:
            raise _utf8_error(path) from None


def _utf8_error(path):
    """The exact line of the first bytes that are not UTF-8 (the text decoder reads ahead in chunks, so its own
    position does not give the line)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return PaddleRembertError(f"{path}:{number}: not valid UTF-8 (byte {e.start + 1} of the line: "
                                          f"{e.reason}); save the file as UTF-8")
    return PaddleRembertError(f"{path}: not valid UTF-8")


def bad_columns(path: str, row: int, found: int, expected: int) -> PaddleRembertError:
    """The error for a row that does not have the header's number of columns."""
    return PaddleRembertError(f"{path}:{row + 2}: expected {expected} tab-separated columns, "
                              f"found {found} (the files use no quoting: a tab inside a text "
                              f"or a missing tab breaks the row)")


def log_report(report: FileReport) -> None:
    """Log skipped training rows (warning) or a clean read (info) on ``paddle_rembert.data``."""
    if report.num_skipped:
        logger.warning("skipped training rows: %s", report.summary())
    else:
        logger.info("read %s", report.summary())


def _show(fields: Sequence[str], limit: int = 0) -> str:
    """The fields as one quoted line, or counted and listed; cut at ``limit`` characters when given."""
    text = repr("\t".join(fields)) if len(fields) <= 4 else f"{len(fields)} columns {list(fields)}"
    return text if not limit or len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
