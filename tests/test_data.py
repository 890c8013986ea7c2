"""Tests of paddle_rembert.data: readers on the real-format fixtures, bad files, collate, samplers.

The fixtures under tests/fixtures/real-format are byte-for-byte excerpts of the real XNLI and
PAWS-X files (see FACTS.md / SOURCES.md there), so the expected values below are read from the
raw lines with a plain ``split("\\t")`` wherever possible rather than typed in.
"""
import csv
import itertools
import logging
from pathlib import Path

import numpy as np
import pytest

from paddle_rembert.data import (TrainBatchSampler, collate, eval_batches, get_task,
                                 merge_shards, prediction_lines, shard_range, shard_sizes,
                                 split_batch, write_predictions)
from paddle_rembert.data import pawsx, xnli
from paddle_rembert.data.tsv import SKIP_COLUMNS, SKIP_EMPTY, SKIP_LABEL
from paddle_rembert.runtime.errors import PaddleRembertError

REAL = Path(__file__).parent / "fixtures" / "real-format"
XNLI_DIR = REAL / "xnli"
PAWS_DIR = REAL / "pawsx"


def raw_rows(path):
    """The data lines of a fixture, split the way the real files must be split."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every real line ends with "\n"
    return [line.split("\t") for line in lines[1:-1]]


# ------------------------------------------------------------------------------------ XNLI

@pytest.mark.parametrize("split", ["dev", "test"])
def test_xnli_eval_split_by_language_in_file_order(split):
    path = xnli.eval_path(str(XNLI_DIR), split)
    raw = raw_rows(path)
    by_lang = get_task("xnli").load_eval(str(XNLI_DIR), split)
    assert list(by_lang) == list(xnli.XNLI_LANGUAGES)  # the file's order: ar bg ... zh
    assert get_task("xnli").eval_languages(str(XNLI_DIR), split) == list(xnli.XNLI_LANGUAGES)
    counts = {lang: len(exs) for lang, exs in by_lang.items()}
    assert counts == {**{lang: 1 for lang in xnli.XNLI_LANGUAGES}, "ar": 2, "zh": 6}
    assert sum(counts.values()) == len(raw) == 21
    for lang, examples in by_lang.items():
        rows = [ex.row for ex in examples]
        assert rows == sorted(rows)
        for ex in examples:
            fields = raw[ex.row]
            assert len(fields) == 19 and fields[0] == lang == ex.language
            assert (ex.text_a, ex.text_b) == (fields[6], fields[7])
            assert xnli.XNLI_LABELS[ex.label] == fields[1]  # contradiction/entailment/neutral
            assert ex.source == path
    assert {ex.label for exs in by_lang.values() for ex in exs} == {0, 1, 2}


def test_xnli_train_rows_aligned_across_languages():
    task = get_task("xnli")
    assert task.train_languages(str(XNLI_DIR)) == sorted(xnli.XNLI_LANGUAGES)
    examples, reports = task.load_train(str(XNLI_DIR), list(xnli.XNLI_LANGUAGES))
    assert len(examples) == 15 * 4 and len(reports) == 15
    assert all(r.rows == r.kept == 4 and r.num_skipped == 0 for r in reports)
    en = [ex for ex in examples if ex.language == "en"]
    raw = raw_rows(xnli.train_path(str(XNLI_DIR), "en"))
    assert [(ex.text_a, ex.text_b, xnli.XNLI_LABELS[ex.label]) for ex in en] == \
        [tuple(f) for f in raw]
    for lang in xnli.XNLI_LANGUAGES:  # the 15 files are row-aligned: same labels, same rows
        part = [ex for ex in examples if ex.language == lang]
        assert [(ex.row, ex.label) for ex in part] == [(ex.row, ex.label) for ex in en]
        assert part[0].source.endswith(f"multinli.train.{lang}.tsv")


def test_xnli_train_default_is_english_only():
    examples, reports = get_task("xnli").load_train(str(XNLI_DIR))
    assert {ex.language for ex in examples} == {"en"} and [r.language for r in reports] == ["en"]
    as_string, _ = get_task("xnli").load_train(str(XNLI_DIR), "de, en,de")
    assert [ex.language for ex in as_string] == ["de"] * 4 + ["en"] * 4


def test_xnli_train_contradictory_maps_to_contradiction():
    data_dir = XNLI_DIR / "unaligned-extra"
    examples, report = xnli.read_train(xnli.train_path(str(data_dir), "zh"), "zh")
    raw = raw_rows(report.path)
    assert [f[2] for f in raw].count("contradictory") == 2
    assert [xnli.XNLI_LABELS[ex.label] for ex in examples] == \
        [f[2].replace("contradictory", "contradiction") for f in raw]
    assert [ex.row for ex in examples] == list(range(8))
    assert get_task("xnli").label_name(0) == "contradiction"


# ---------------------------------------------------------------------------------- PAWS-X

def test_pawsx_every_language_found_is_evaluated():
    task = get_task("paws")
    assert get_task("pawsx") is task
    assert task.eval_languages(str(PAWS_DIR), "dev") == list(pawsx.PAWSX_LANGUAGES)
    for split, name in (("dev", "dev_2k.tsv"), ("test", "test_2k.tsv")):
        by_lang = task.load_eval(str(PAWS_DIR), split)
        assert list(by_lang) == list(pawsx.PAWSX_LANGUAGES)
        for lang, examples in by_lang.items():
            raw = raw_rows(PAWS_DIR / "x-final" / lang / name)
            assert len(examples) == len(raw)  # no evaluation row dropped
            assert [ex.row for ex in examples] == list(range(len(raw)))
            for ex, fields in zip(examples, raw):
                assert (ex.text_a, ex.text_b, pawsx.PAWSX_LABELS[ex.label]) == tuple(fields[1:])
                assert ex.language == lang and ex.source.endswith(f"{lang}/{name}")
    counts = {lang: len(exs) for lang, exs in task.load_eval(str(PAWS_DIR), "dev").items()}
    assert counts["de"] == 15 and counts["en"] == 4


def test_pawsx_ns_rows_are_kept():
    dev = pawsx.read_eval(pawsx.eval_path(str(PAWS_DIR), "de", "dev"), "de")
    ids = [f[0] for f in raw_rows(dev[0].source)]
    ns = {ids[ex.row]: (ex.text_a, ex.text_b) for ex in dev if "NS" in (ex.text_a, ex.text_b)}
    assert set(ns) == {"617", "630", "684"} and ns["630"] == ("NS", "NS")
    test = pawsx.read_eval(pawsx.eval_path(str(PAWS_DIR), "de", "test"), "de")
    ids = [f[0] for f in raw_rows(test[0].source)]
    assert {ids[ex.row] for ex in test if "NS" in (ex.text_a, ex.text_b)} == {"408", "1782", "2609"}


@pytest.mark.parametrize("split,pair_id", [("dev", "1384"), ("test", "68"), ("test", "244")])
def test_pawsx_fields_starting_with_a_quote_are_read_verbatim(split, pair_id):
    path = pawsx.eval_path(str(PAWS_DIR), "de", split)
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    line_no = next(i for i, line in enumerate(lines) if line.startswith(pair_id + "\t"))
    fields = lines[line_no].split("\t")
    assert any(f.startswith('"') for f in fields)
    # The trap this guards against: csv's default quoting rewrites such a line.
    assert next(csv.reader([lines[line_no]], delimiter="\t")) != fields
    ex = next(ex for ex in pawsx.read_eval(path, "de") if ex.row == line_no - 1)
    assert (ex.text_a, ex.text_b, pawsx.PAWSX_LABELS[ex.label]) == tuple(fields[1:])


def test_pawsx_train_english_and_translated():
    task = get_task("paws")
    assert task.train_languages(str(PAWS_DIR)) == list(pawsx.PAWSX_LANGUAGES)
    examples, reports = task.load_train(str(PAWS_DIR), ["en", "de"])
    assert [r.path.rsplit("/", 2)[1:] for r in reports] == \
        [["en", "train.tsv"], ["de", "translated_train.tsv"]]
    assert [ex.language for ex in examples] == ["en"] * 4 + ["de"] * 4
    raw = raw_rows(reports[1].path)
    assert [(ex.text_a, ex.text_b, str(ex.label)) for ex in examples[4:]] == \
        [tuple(f[1:]) for f in raw]
    everything, reports = task.load_train(str(PAWS_DIR), ["all"])
    assert len(everything) == 28 and len(reports) == 7


# ----------------------------------------------------------------------- bad files (tmp_path)

XNLI_EVAL_HEADER = "\t".join(xnli.EVAL_HEADER)


def xnli_eval_line(lang="en", label="neutral", a="A.", b="B.", n_columns=19):
    fields = [lang, label, "", "", "", "", a, b, "1", "1", "genre"] + [label] * 5 + [a, b, "True"]
    return "\t".join((fields + [""] * n_columns)[:n_columns])


def make_xnli(tmp_path, train_lines=(), dev_lines=(), train_header="premise\thypo\tlabel",
              dev_header=XNLI_EVAL_HEADER):
    train = tmp_path / "XNLI-MT-1.0" / "multinli" / "multinli.train.en.tsv"
    train.parent.mkdir(parents=True)
    train.write_text("\n".join([train_header, *train_lines]) + "\n", encoding="utf-8")
    dev = tmp_path / "XNLI-1.0" / "xnli.dev.tsv"
    dev.parent.mkdir(parents=True)
    dev.write_text("\n".join([dev_header, *dev_lines]) + "\n", encoding="utf-8")
    return str(train), str(dev)


def test_missing_files_are_errors_naming_the_file(tmp_path):
    task = get_task("xnli")
    for call, name in [(lambda: task.load_train(str(tmp_path), ["en"]), "multinli.train.en.tsv"),
                       (lambda: task.load_train(str(XNLI_DIR), ["xx"]), "multinli.train.xx.tsv"),
                       (lambda: task.load_eval(str(tmp_path), "test"), "xnli.test.tsv"),
                       (lambda: get_task("paws").load_eval(str(tmp_path), "dev"), "x-final")]:
        with pytest.raises(PaddleRembertError, match=name):
            call()
    # A PAWS-X language folder without the split's file: every language found is evaluated.
    (tmp_path / "x-final" / "de").mkdir(parents=True)
    (tmp_path / "x-final" / "de" / "dev_2k.tsv").write_text("id\tsentence1\tsentence2\tlabel\n")
    with pytest.raises(PaddleRembertError, match=r"x-final/de/test_2k\.tsv"):
        get_task("paws").load_eval(str(tmp_path), "test")
    with pytest.raises(PaddleRembertError, match="unknown task"):
        get_task("mnli")


def test_wrong_or_missing_header_is_an_error_naming_the_file(tmp_path):
    train, dev = make_xnli(tmp_path, ["a\tb\tneutral"], [xnli_eval_line()],
                           train_header="sentence1\tsentence2\tlabel",
                           dev_header="language\tgold_label\tsentence1\tsentence2")
    with pytest.raises(PaddleRembertError, match=rf"{train}:1: wrong header"):
        xnli.read_train(train, "en")
    with pytest.raises(PaddleRembertError, match=rf"{dev}:1: wrong header"):
        xnli.read_eval(dev)
    # A PAWS-X file handed to the XNLI reader, and an empty file.
    paws_dev = str(PAWS_DIR / "x-final" / "en" / "dev_2k.tsv")
    with pytest.raises(PaddleRembertError, match="wrong header"):
        xnli.read_train(paws_dev, "en")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(PaddleRembertError, match=rf"{empty}: the file is empty"):
        pawsx.read_eval(str(empty), "de")


def test_a_file_with_bare_carriage_returns_is_named_in_one_short_line(tmp_path):
    """Lines ending in \\r alone read as one header line: the message says so, without quoting the whole file."""
    rows = "\r".join(["id\tsentence1\tsentence2\tlabel"] + [f"{i}\tA long sentence {i}.\tAnother {i}.\t1"
                                                           for i in range(500)])
    path = tmp_path / "train.tsv"
    path.write_bytes(rows.encode())
    with pytest.raises(PaddleRembertError) as e:
        pawsx.read_train(str(path), "en")
    message = str(e.value)
    assert message.startswith(f"{path}:1: a carriage return") and "\\r\\n line endings" in message
    assert len(message) < 300 and "\n" not in message
    # a wrong header that is one very long line is cut, with its length given
    path.write_text("x" * 5000 + "\n1\ta\tb\t1\n")
    with pytest.raises(PaddleRembertError, match=r"wrong header .*\.\.\. \(5002 characters\)$"):
        pawsx.read_train(str(path), "en")


def test_bad_training_rows_are_skipped_counted_and_logged(tmp_path, caplog):
    lines = ["P1\tH1\tneutral",          # line 2: kept
             "\tH2\tentailment",         # line 3: empty premise
             "P3\t   \tneutral",         # line 4: blank hypothesis
             "P4\tH4\tmaybe",            # line 5: unknown label
             "P5\tH5\tcontradictory",    # line 6: kept
             "P6\tH6",                   # line 7: wrong number of columns
             "P7\tH\t7\tneutral",        # line 8: wrong number of columns
             '"P8\tH8"\tentailment']     # line 9: kept verbatim, quotes and all
    train, _ = make_xnli(tmp_path, lines)
    with caplog.at_level(logging.WARNING, logger="paddle_rembert.data"):
        examples, report = xnli.read_train(train, "en")
    assert [(ex.text_a, ex.row) for ex in examples] == [("P1", 0), ("P5", 4), ('"P8', 7)]
    assert examples[2].text_b == 'H8"' and examples[1].label == 0
    assert (report.rows, report.kept, report.num_skipped) == (8, 3, 5)
    assert report.skipped == {SKIP_EMPTY: [3, 4], SKIP_LABEL: [5], SKIP_COLUMNS: [7, 8]}
    [record] = [r for r in caplog.records if r.name == "paddle_rembert.data"]
    assert record.levelno == logging.WARNING
    assert train in record.getMessage() and "skipped 5" in record.getMessage()
    assert "2 with empty text (lines 3, 4)" in record.getMessage()


def test_skipped_line_list_is_capped_in_the_log_but_complete_in_the_report(tmp_path, caplog):
    lines = ["\t\t\t0"] * 25 + ["1\tA\tB\t1"]  # failed MT rows, like de `32035\t\t\t0`
    path = tmp_path / "x-final" / "de" / "translated_train.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("id\tsentence1\tsentence2\tlabel\n" + "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="paddle_rembert.data"):
        examples, reports = get_task("paws").load_train(str(tmp_path), ["de"])
    assert len(examples) == 1 and examples[0].row == 25
    assert reports[0].skipped == {SKIP_EMPTY: list(range(2, 27))}
    message = caplog.records[0].getMessage()
    listed = message.split("(lines", 1)[1]  # the path itself may hold any digits (pytest-223/...)
    assert listed.startswith(" 2, 3,") and "21, ... (+5 more)" in listed and "22" not in listed


def test_training_file_without_a_usable_row_is_an_error(tmp_path):
    train, _ = make_xnli(tmp_path, ["\t\tneutral", "a\tb\t-"])
    with pytest.raises(PaddleRembertError, match="none of its 2 rows"):
        xnli.read_train(train, "en")


def test_bad_evaluation_rows_are_errors_naming_file_and_line(tmp_path):
    good = xnli_eval_line()
    _, dev = make_xnli(tmp_path, dev_lines=[good, xnli_eval_line(label="maybe")])
    with pytest.raises(PaddleRembertError, match=rf"{dev}:3: label 'maybe'"):
        get_task("xnli").load_eval(str(tmp_path), "dev")
    (tmp_path / "XNLI-1.0" / "xnli.dev.tsv").write_text(
        "\n".join([XNLI_EVAL_HEADER, good, good, xnli_eval_line(n_columns=18)]) + "\n")
    with pytest.raises(PaddleRembertError, match=rf"{dev}:4: expected 19 tab-separated columns, "
                                                 r"found 18"):
        xnli.read_eval(dev)
    paws = tmp_path / "test_2k.tsv"
    paws.write_text("id\tsentence1\tsentence2\tlabel\n1\tA\tB\t1\n2\tA\tB\t1\t\n3\tA\tB\t2\n")
    with pytest.raises(PaddleRembertError, match=rf"{paws}:3: expected 4 .* found 5"):
        pawsx.read_eval(str(paws), "fr")
    paws.write_text("id\tsentence1\tsentence2\tlabel\n1\tA\tB\t1\n3\tA\tB\t\n")
    with pytest.raises(PaddleRembertError, match=rf"{paws}:3: label ''"):
        pawsx.read_eval(str(paws), "fr")


def test_evaluation_rows_with_empty_text_are_kept(tmp_path):
    _, dev = make_xnli(tmp_path, dev_lines=[xnli_eval_line(a=""), xnli_eval_line(b="NS")])
    examples = xnli.read_eval(dev)["en"]
    assert [(ex.text_a, ex.text_b, ex.row) for ex in examples] == [("", "B.", 0), ("A.", "NS", 1)]


def test_only_tab_and_newline_split_fields(tmp_path):
    # "\r", "\x85" and "\u2028" are line breaks for universal newlines / str.splitlines;
    # inside a field they must stay. A CRLF line ending is tolerated.
    odd = 'a\rb\x85c\u2028d "e'
    path = tmp_path / "dev_2k.tsv"
    path.write_bytes(("id\tsentence1\tsentence2\tlabel\r\n"
                      f"1\t{odd}\t\"x\"\"y\t0\r\n2\tA\tB\t1\n").encode("utf-8"))
    examples = pawsx.read_eval(str(path), "ja")
    assert [(ex.text_a, ex.text_b, ex.label) for ex in examples] == \
        [(odd, '"x""y', 0), ("A", "B", 1)]


def test_invalid_utf8_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"id\tsentence1\tsentence2\tlabel\n1\tA\tB\t0\n2\t\xff\tB\t0\n")
    with pytest.raises(PaddleRembertError, match=rf"{path}:3: not valid UTF-8 \(byte 3 of the line"):
        pawsx.read_train(str(path), "en")
    # the exact line, also past the text decoder's first chunk and on the first line
    rows = b"".join(b"%d\tA\tB\t0\n" % i for i in range(1, 3000))
    path.write_bytes(b"id\tsentence1\tsentence2\tlabel\n" + rows + b"3000\tA\xc3\tB\t0\n")
    with pytest.raises(PaddleRembertError, match=rf"{path}:3001: not valid UTF-8"):
        pawsx.read_train(str(path), "en")
    path.write_bytes(b"id\tsentence1\tsentence2\tla\xffbel\n1\tA\tB\t0\n")
    with pytest.raises(PaddleRembertError, match=rf"{path}:1: not valid UTF-8"):
        pawsx.read_train(str(path), "en")


def test_requested_evaluation_languages(tmp_path):
    task = get_task("xnli")
    subset = task.load_eval(str(XNLI_DIR), "dev", ["zh", "en"])
    assert list(subset) == ["zh", "en"] and len(subset["zh"]) == 6
    with pytest.raises(PaddleRembertError, match=r"\['xx'\] not found"):
        task.load_eval(str(XNLI_DIR), "dev", ["en", "xx"])
    with pytest.raises(PaddleRembertError, match=r"\['xx'\] not found"):
        get_task("paws").load_eval(str(PAWS_DIR), "test", ["xx"])
    assert list(get_task("paws").load_eval(str(PAWS_DIR), "test", ["ko"])) == ["ko"]


def test_predictions_are_written_with_file_labels(tmp_path):
    task = get_task("xnli")
    examples = task.load_eval(str(XNLI_DIR), "test")["ar"]
    out = tmp_path / "pred" / "test-ar.tsv"
    write_predictions(str(out), task, examples, np.array([2, 0]))
    assert out.read_text().split("\n") == [
        "language\trow\tgold\tprediction",
        f"ar\t0\t{raw_rows(examples[0].source)[0][1]}\tneutral",
        f"ar\t1\t{raw_rows(examples[0].source)[1][1]}\tcontradiction", ""]
    paws_task = get_task("paws")
    ex = paws_task.load_eval(str(PAWS_DIR), "dev")["en"][:1]
    assert list(prediction_lines(paws_task, ex, [1]))[1] == f"en\t0\t{ex[0].label}\t1\n"
    with pytest.raises(ValueError):
        write_predictions(str(out), task, examples, [0])


# ---------------------------------------------------------------------------------- collate

def test_collate_pads_each_pair_to_the_longest_in_batch():
    features = [
        {"input_ids": [5, 7, 8, 6, 9, 6], "token_type_ids": [0, 0, 0, 0, 1, 1],
         "attention_mask": [1] * 6, "labels": 2},
        {"input_ids": [5, 7, 6, 9, 6], "token_type_ids": [0, 0, 0, 1, 1],
         "attention_mask": [1] * 5, "labels": 0},
        {"input_ids": [5, 6, 6], "labels": 1},  # token types / mask missing: zeros / ones
    ]
    batch = collate(features, pad_id=3)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "num_tokens"}
    assert all(batch[k].dtype == np.int64 for k in batch if k != "num_tokens")
    np.testing.assert_array_equal(batch["input_ids"],
                                  [[5, 7, 8, 6, 9, 6], [5, 7, 6, 9, 6, 3], [5, 6, 6, 3, 3, 3]])
    np.testing.assert_array_equal(batch["token_type_ids"],
                                  [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(batch["attention_mask"],
                                  [[1] * 6, [1] * 5 + [0], [1, 1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(batch["labels"], [2, 0, 1])
    assert batch["num_tokens"] == 14 and isinstance(batch["num_tokens"], int)
    wide = collate(features[1:], pad_id=0, pad_to_multiple_of=8)
    assert wide["input_ids"].shape == (2, 8) and wide["num_tokens"] == 8
    assert "labels" not in collate([{"input_ids": [1, 2]}], pad_id=0)
    with pytest.raises(ValueError, match="token_type_ids has 2 entries"):
        collate([{"input_ids": [1, 2, 3], "token_type_ids": [0, 0]}], pad_id=0)


# ------------------------------------------------------------------------- training sampler

def rank_runs(n, global_batch, world_size, epoch=0, **kw):
    """Each rank's batches for one epoch: [rank][step] -> list of indices."""
    samplers = [TrainBatchSampler(n, global_batch // world_size, world_size, rank, **kw)
                for rank in range(world_size)]
    for s in samplers:
        s.set_epoch(epoch)
    return samplers, [list(s) for s in samplers]


@pytest.mark.parametrize("n", [6, 7, 13, 17, 18, 100, 101])
@pytest.mark.parametrize("lengths", [False, True])
def test_n_ranks_see_the_one_rank_global_batches(n, lengths):
    kw = {"seed": 3, "min_last_batch": 3}
    if lengths:
        kw["lengths"] = np.random.default_rng(n).integers(1, 50, size=n)
    _, [single] = rank_runs(n, 6, 1, epoch=2, **kw)
    for world_size in (1, 2, 3):
        samplers, runs = rank_runs(n, 6, world_size, epoch=2, **kw)
        assert all(len(r) == len(single) == s.num_batches_per_epoch == len(s)
                   for r, s in zip(runs, samplers))
        for step, one in enumerate(single):
            pieces = [run[step] for run in runs]
            assert sum(pieces, []) == one
            assert all(pieces) and max(map(len, pieces)) - min(map(len, pieces)) <= 1
            assert samplers[0].global_batch_size_at(step) == len(one)
    seen = sum(single, [])
    assert len(seen) == len(set(seen)) and set(seen) <= set(range(n))
    remainder = n % 6
    assert len(seen) == (n if remainder == 0 or remainder >= 3 else n - remainder)


@pytest.mark.parametrize("n,world_size,kept", [(13, 2, 12), (15, 2, 15), (14, 3, 12),
                                               (15, 3, 15), (6, 4, 6), (11, 4, 8)])
def test_default_last_batch_gives_every_rank_an_example(n, world_size, kept):
    samplers, runs = rank_runs(n, 2 * world_size, world_size)
    assert all(piece for run in runs for piece in run)  # no rank ever gets an empty batch
    assert sum(len(piece) for run in runs for piece in run) == kept
    assert samplers[0].num_dropped_per_epoch == n - kept
    _, [single] = rank_runs(n, 2 * world_size, 1)
    # Identical to one process except, at most, the tiny last batch dropped here.
    assert [sum(pieces, []) for pieces in zip(*runs)] == single[:len(runs[0])]
    with pytest.raises(PaddleRembertError, match="make no batch"):
        TrainBatchSampler(2, 1, world_size=3, rank=0)
    assert TrainBatchSampler(13, 3, 2, drop_last=True).num_batches_per_epoch == 2


def test_sampler_is_deterministic_per_seed_and_epoch():
    def epoch(seed, e, world_size=1, rank=0):
        s = TrainBatchSampler(50, 4, world_size, rank, seed=seed)
        s.set_epoch(e)
        return list(s)
    assert epoch(1, 0) == epoch(1, 0) and epoch(1, 3) == epoch(1, 3)
    assert epoch(1, 0) != epoch(1, 1) and epoch(1, 0) != epoch(2, 0)
    assert sorted(sum(epoch(1, 1), [])) == list(range(50))


@pytest.mark.parametrize("lengths", [None, list(range(40, 0, -1)) * 2])
def test_resume_yields_the_remaining_batches(lengths):
    n = 80
    full = TrainBatchSampler(n, 3, 2, 1, seed=7, lengths=lengths)
    full.set_epoch(4)
    uninterrupted = list(full)
    for step in (0, 1, 5, full.num_batches_per_epoch - 1, full.num_batches_per_epoch):
        resumed = TrainBatchSampler(n, 3, 2, 1, seed=7, lengths=lengths)
        resumed.check_resume(full.fingerprint())
        resumed.set_epoch(4, start_step=step)
        assert len(resumed) == len(uninterrupted) - step
        assert list(resumed) == uninterrupted[step:]
    # 80 % 6 = 2 < 3 ranks: 3 processes would drop the last batch 2 processes keep: not the same run
    with pytest.raises(PaddleRembertError, match=r"last_batch_size: checkpoint 2, now 0\); an epoch's last batch is "
                                                 r"kept only with a row for every process"):
        TrainBatchSampler(n, 2, 3, 0, seed=7, lengths=lengths).check_resume(full.fingerprint())
    # 81 % 6 = 3: both keep it, and resuming on 3 processes (same global batch) continues with the same batches
    lengths81 = lengths and lengths + [1]
    two = TrainBatchSampler(n + 1, 3, 2, 1, seed=7, lengths=lengths81)
    three = [TrainBatchSampler(n + 1, 2, 3, r, seed=7, lengths=lengths81) for r in range(3)]
    for s in three:
        s.check_resume(two.fingerprint())
        s.set_epoch(4, start_step=5)
    one = TrainBatchSampler(n + 1, 6, 1, 0, seed=7, lengths=lengths81)
    assert [sum(p, []) for p in zip(*map(list, three))] == \
        [b.tolist() for b in one.global_batches(4)[5:]]
    with pytest.raises(PaddleRembertError, match="num_examples"):
        TrainBatchSampler(n + 1, 3, 2, 1, seed=7, lengths=lengths and lengths + [1]
                          ).check_resume(full.fingerprint())
    with pytest.raises(PaddleRembertError, match="seed"):
        TrainBatchSampler(n, 3, 2, 1, seed=8, lengths=lengths).check_resume(full.fingerprint())
    with pytest.raises(PaddleRembertError, match="cannot resume at step"):
        full.set_epoch(0, start_step=full.num_batches_per_epoch + 1)


def padding(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)


def test_length_grouping_keeps_examples_and_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(8, 128, size=1000)
    grouped = TrainBatchSampler(1000, 16, seed=5, lengths=lengths, group_chunk_batches=8)
    plain = TrainBatchSampler(1000, 16, seed=5)
    for epoch in range(3):
        g = [b.tolist() for b in grouped.global_batches(epoch)]
        p = [b.tolist() for b in plain.global_batches(epoch)]
        assert sorted(sum(g, [])) == sorted(sum(p, [])) == list(range(1000))
        assert padding(g, lengths) * 4 < padding(p, lengths)
        assert max(lengths[g[0]]) == lengths.max()  # longest batch first: OOM shows at step 0
        assert [len(b) for b in g] == [16] * 62 + [8]
    firsts = {tuple(grouped.global_batches(e)[1]) for e in range(3)}
    assert len(firsts) == 3  # batch order is reshuffled every epoch


# ------------------------------------------------------------------------ evaluation shards

@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 10, 11])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_eval_shards_are_gathered_exactly_once(n, world_size):
    sizes = shard_sizes(n, world_size)
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
    lengths = np.random.default_rng(n).integers(1, 30, size=n)
    gathered = []
    for rank in range(world_size):
        mine = shard_range(n, world_size, rank)
        assert len(mine) == sizes[rank]
        local = np.full((max(sizes), 2), -1)  # padded to the largest shard, as all_gather needs
        for batch in eval_batches(mine, 3, lengths):
            assert set(batch) <= set(mine)
            local[np.asarray(batch) - mine.start] = [[i, 10 * i] for i in batch]
        gathered.append(local)
    merged = merge_shards(gathered, sizes)
    np.testing.assert_array_equal(merged, np.array([[i, 10 * i] for i in range(n)]).reshape(n, 2))
    assert merge_shards([list(range(s)) + [None] for s in sizes], sizes) == \
        [x for s in sizes for x in range(s)]  # lists work too; the None padding is stripped
    assert sorted(itertools.chain.from_iterable(
        shard_range(n, world_size, r) for r in range(world_size))) == list(range(n))


def test_eval_batches_and_split_helpers():
    assert eval_batches(range(3, 8), 2) == [[3, 4], [5, 6], [7]]
    assert eval_batches(range(4), 3, lengths=[1, 9, 5, 9]) == [[1, 3, 2], [0]]
    assert split_batch(np.arange(7), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert shard_sizes(2, 4) == [1, 1, 0, 0] and shard_range(2, 4, 3) == range(2, 2)
    with pytest.raises(ValueError, match="rank 1 sent 0 results"):
        merge_shards([[1], []], [1, 1])


# ------------------------------------------------------------------------------------ hardening

def test_trailing_blank_lines_are_not_rows_but_a_blank_line_inside_is(tmp_path):
    import shutil

    from paddle_rembert import testing as T

    data = T.write_synthetic_xnli(str(tmp_path / "x"), num_train=8, num_eval=3, eval_languages=("en",))
    dev = Path(data) / "XNLI-1.0" / "xnli.dev.tsv"
    clean = xnli.read_eval(str(dev))
    with open(dev, "a", encoding="utf-8") as f:
        f.write("\n\r\n  \n")
    assert xnli.read_eval(str(dev)) == clean
    lines = dev.read_text(encoding="utf-8").split("\n")
    dev.write_text("\n".join(lines[:2] + [""] + lines[2:]), encoding="utf-8")
    with pytest.raises(PaddleRembertError, match=r"xnli.dev.tsv:3: expected 19 tab-separated columns, found 1"):
        xnli.read_eval(str(dev))
    train = Path(data) / "XNLI-MT-1.0" / "multinli" / "multinli.train.en.tsv"
    with open(train, "a", encoding="utf-8") as f:
        f.write("\n\n")
    examples, report = xnli.read_train(str(train), "en")
    assert len(examples) == 8 and report.rows == 8 and report.num_skipped == 0
    paws = tmp_path / "p" / "x-final" / "en"
    paws.mkdir(parents=True)
    shutil.copy(PAWS_DIR / "x-final" / "en" / "dev_2k.tsv", paws / "dev_2k.tsv")
    clean = pawsx.read_eval(str(paws / "dev_2k.tsv"), "en")
    with open(paws / "dev_2k.tsv", "a", encoding="utf-8") as f:
        f.write("\n")
    assert pawsx.read_eval(str(paws / "dev_2k.tsv"), "en") == clean


def test_check_files_names_the_first_missing_file_without_reading_any(tmp_path):
    from paddle_rembert import testing as T

    data = T.write_synthetic_xnli(str(tmp_path / "x"), num_train=8, num_eval=3)
    task = get_task("xnli")
    task.check_files(data, ["en"], ["dev", "test"])
    (Path(data) / "XNLI-1.0" / "xnli.test.tsv").unlink()
    task.check_files(data, ["en"], ["dev"])
    with pytest.raises(PaddleRembertError, match="XNLI evaluation file not found: .*xnli.test.tsv"):
        task.check_files(data, ["en"], ["dev", "test"])
    with pytest.raises(PaddleRembertError, match="multinli.train.de.tsv"):
        task.check_files(data, ["en", "de"])
    paws = tmp_path / "p" / "x-final"
    for lang in ("de", "en"):
        (paws / lang).mkdir(parents=True)
        (paws / lang / "dev_2k.tsv").write_text("id\tsentence1\tsentence2\tlabel\n")
    (paws / "en" / "test_2k.tsv").write_text("id\tsentence1\tsentence2\tlabel\n")
    get_task("paws").check_files(str(tmp_path / "p"), None, ["dev"])
    with pytest.raises(PaddleRembertError, match="de/test_2k.tsv"):
        get_task("paws").check_files(str(tmp_path / "p"), None, ["dev", "test"])
