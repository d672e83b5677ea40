"""Quote-free batch text is read as the csv module reads it."""

from __future__ import annotations

import csv
import io

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
