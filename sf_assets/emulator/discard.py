"""Discard mode: ingest jobs are read and counted, and every row succeeds, but nothing is stored.

Benchmarks use it to measure a client alone: the org answers as fast as it can parse the CSV, and
the record tables never grow. Ids of new records are minted as usual, so results look real.

Inserts and upserts go further: an internal batch is counted as processed with a block of Ids
reserved for its rows, and its file is kept as it is (a :class:`Segment`). Its successful-results
lines, the costliest part of discarding, are written by :func:`result_lines` only if a client reads
them, which benchmarks of a client rarely do.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from . import batch_text, dml, ids


def accept(
    batch_plan: dml.Plan,
    rows: Sequence[Sequence[str]],
    id_generator: ids.IdGenerator,
    columns: Sequence[Sequence[str]] | None = None,
) -> dml.Results:
    """Every row as a success: inserts and upserts as created records with new Ids; updates and
    deletes as changes to the record their Id cell names."""
    size = len(rows)
    index = batch_plan.id_index
    if batch_plan.operation in ("insert", "upsert"):
        record_ids = id_generator.many(batch_plan.obj.key_prefix, size)
    elif index is None:
        record_ids = [""] * size
    else:
        cells = columns[index] if columns is not None else [row[index] if index < len(row) else "" for row in rows]
        record_ids = [ids.normalize(cell) or cell for cell in cells]
    created = batch_plan.operation in ("insert", "upsert")
    return dml.Results(record_ids, [created] * size, [None] * size)


@dataclass(frozen=True)
class Segment:
    """An accepted insert or upsert batch whose successful-results lines are not written yet.

    Attributes:
        batch: The internal batch's number.
        prefix: The key prefix of its object's Ids.
        first: The first number of the Id block reserved for its records (see ``ids.mint``).
        count: How many records it holds, each getting the next Id in order.
        delimiter: Its job's column delimiter.
        span: Where the batch lies in an upload (``jobs.Span.to_text``), for a batch that has no file.
    """

    batch: int
    prefix: str
    first: int
    count: int
    delimiter: str
    span: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Segment:
        return cls(**json.loads(text))


def result_lines(segment: Segment, text: str) -> str:
    """The successful-results lines of a segment's batch-file text, each starting with a newline:
    what processing the batch at once would have written, with the Ids reserved for it.

    Quote-free lines echo each cell quoted, as every result file does; records with quotes are kept
    as sent (see ``batch_text.records``) and echoed as they came. Both are joined in C.
    """
    record_ids = ids.mint(segment.prefix, segment.first, segment.count)
    lines = batch_text.plain_lines(text)
    if lines is not None:
        pairs = zip(record_ids, batch_text.requoted(lines, segment.delimiter), strict=True)
        return "".join(itertools.starmap('\n"{}","true","{}"'.format, pairs))
    records = batch_text.records(text)
    if records is None:
        raise ValueError(f"batch {segment.batch} is not text that discard mode keeps")
    if not records:
        return ""
    return '\n"' + '\n"'.join(map('","true",'.join, zip(record_ids, records, strict=True)))
