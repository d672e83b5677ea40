"""Discard mode: ingest jobs are read and counted, and every row succeeds, but nothing is stored.

Benchmarks use it to measure a client alone: the org answers as fast as it can parse the CSV, and
the record tables never grow. Ids of new records are minted as usual, so results look real.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import dml, ids


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
