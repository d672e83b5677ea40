"""Batch-file text without quotes, read without the csv module.

Most uploads have no quoted cells; their internal batch files are then one record per line, and
splitting on the delimiter reads exactly what the csv module would, many times faster.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import overload


def plain_lines(text: str) -> list[str] | None:
    """A batch file's records as lines, when it has no quotes, carriage returns or NULs: then each
    line is one record and splitting it on the delimiter gives what the csv module reads. Batch files
    hold no blank lines (splitting drops them). None for text that needs the csv module."""
    if '"' in text or "\r" in text or "\0" in text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def columns(lines: list[str], delimiter: str, width: int) -> list[list[str]] | None:
    """The cells of quote-free lines column by column, when every line has ``width`` cells."""
    if not lines or width == 0 or set(map(str.count, lines, itertools.repeat(delimiter))) != {width - 1}:
        return None
    cells = "\n".join(lines).replace("\n", delimiter).split(delimiter)
    return [cells[index::width] for index in range(width)]


class SplitLines(Sequence[list[str]]):
    """Quote-free lines as rows of cells, split only when a row is read (on the rare error paths
    when columns are at hand)."""

    def __init__(self, lines: list[str], delimiter: str) -> None:
        self._lines = lines
        self._delimiter = delimiter

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> list[str]: ...
    @overload
    def __getitem__(self, index: slice) -> SplitLines: ...
    def __getitem__(self, index: int | slice) -> list[str] | SplitLines:
        if isinstance(index, slice):
            return SplitLines(self._lines[index], self._delimiter)
        return self._lines[index].split(self._delimiter)

    def __iter__(self) -> Iterator[list[str]]:
        delimiter = self._delimiter
        return (line.split(delimiter) for line in self._lines)
