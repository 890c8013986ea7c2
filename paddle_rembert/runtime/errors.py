"""The one exception type for errors a user can cause.

Bad input (a malformed TSV row, a missing file, a checkpoint whose tensors do not fit the
model, ...) raises :class:`PaddleRembertError` with a message that names the file, line, key
or shape. The CLI prints the message and exits non-zero without a traceback; library callers
can catch it like any ``ValueError``.
"""
import argparse


class PaddleRembertError(ValueError):
    """An error caused by the user's input, files or arguments (not a bug in this library)."""


class TruncationError(PaddleRembertError):
    """A text cannot be cut to ``max_length`` as asked: the only side allowed to shrink is too short, or the
    overlap (``stride``) is not below the room left. Callers with knobs of their own (the QA predictor's window
    and ``doc_stride``) catch it by type and say it in their terms."""


class MissingVocabularyError(PaddleRembertError):
    """A tokenizer directory holds no vocabulary file; a caller that can take one from elsewhere (export's
    ``--tokenizer DIR``) catches it by type and says so."""


class ExampleError(PaddleRembertError):
    """What is wrong with one example of a call: ``index`` is its position (from 0), and ``detail`` the message
    without the position, for a caller that names the example its own way (the command line: the input file's
    line)."""

    def __init__(self, message, index, detail):
        super().__init__(message)
        self.index, self.detail = index, detail


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (the message and where to find the usage) instead of the usage
    block followed by the message; the exit code stays 2. Sub-command parsers inherit it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
