"""Quote-free batch text is read as the csv module reads it."""

from __future__ import annotations

import csv
import io

import pytest

from sf_assets.emulator import batch_text

TEXT = "a,b,c\n,x,\n1, 2 ,3\n"


def test_plain_lines_match_the_csv_module() -> None:
    lines = batch_text.plain_lines(TEXT)
    assert lines is not None
    assert [line.split(",") for line in lines] == list(csv.reader(io.StringIO(TEXT)))


def test_text_with_quotes_needs_the_csv_module() -> None:
    assert batch_text.plain_lines('a,"b,c"\n') is None


def test_text_with_carriage_returns_needs_the_csv_module() -> None:
    assert batch_text.plain_lines("a,b\r\n") is None


def test_columns_of_uniform_lines() -> None:
    assert batch_text.columns(["a,b", "c,"], ",", 2) == [["a", "c"], ["b", ""]]


def test_no_columns_when_a_line_is_wider_than_the_header() -> None:
    assert batch_text.columns(["a,b", "c,d,e"], ",", 2) is None


def test_split_lines_slices_and_reads_rows() -> None:
    rows = batch_text.SplitLines(["a|b", "c|d", "e|f"], "|")
    assert (len(rows), rows[1], list(rows[1:])) == (3, ["c", "d"], [["c", "d"], ["e", "f"]])


QUOTED = 'a,"b,c"\n"multi\nline ""cell""",d\n\n"x",y\n'


def test_records_keep_the_text_of_each_record_the_csv_module_reads() -> None:
    records = batch_text.records(QUOTED)
    assert records == ['a,"b,c"', '"multi\nline ""cell""",d', '"x",y']
    assert [next(csv.reader([record])) for record in records] == [r for r in csv.reader(io.StringIO(QUOTED)) if r]


def test_records_need_the_csv_module_for_a_quote_never_closed() -> None:
    assert batch_text.records('a,"b\nc,d\n') is None


def test_records_need_the_csv_module_for_carriage_returns() -> None:
    assert batch_text.records('a,"b"\r\n') is None


def test_raw_records_read_cells_only_when_asked() -> None:
    rows = batch_text.RawRecords(['a,"b,c"', '"x",y'], ",")
    assert (len(rows), rows[0], list(rows[1:])) == (2, ["a", "b,c"], [["x", "y"]])


def test_requoted_lines_read_back_as_the_cells_of_the_lines() -> None:
    lines = ["a|b", "|c d|"]
    requoted = batch_text.requoted(lines, "|")
    assert list(csv.reader(f'"{line}"' for line in requoted)) == [line.split("|") for line in lines]


def test_records_of_bytes_are_cut_as_those_of_text() -> None:
    text = 'a,"b\nc"\n\n"d ""e""",f\n'
    assert batch_text.records(text.encode()) == [record.encode() for record in batch_text.records(text) or []]
    assert batch_text.records(text.encode()) == [b'a,"b\nc"', b'"d ""e""",f']


def test_line_records_count_lines_that_close_their_quotes() -> None:
    assert batch_text.line_records(b'"a","b,c"\n"d ""e""",f\n') == 2


def test_line_records_count_a_last_line_without_its_line_feed() -> None:
    assert batch_text.line_records(b'"a"\n"b"') == 2


@pytest.mark.parametrize(
    "data",
    [b'"a\nb"\n', b'"a"\n\n"b"\n', b'\n"a"\n', b'"a"\nb\n"c"\n', b'"a"\r\n', b'"a\0"\n', b'"a""\n'],
    ids=["quoted-line-feed", "blank-line", "blank-first-line", "line-without-quotes", "carriage-return", "nul",
         "quote-left-open"],
)  # fmt: skip
def test_line_records_leave_other_text_to_records(data: bytes) -> None:
    assert batch_text.line_records(data) is None
