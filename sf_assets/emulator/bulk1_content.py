"""Bulk API 1.0 batch data in and out: CSV or JSON records as CSV rows, and the result documents.

A batch of either content type becomes a header and rows of cells, so that it goes through the same
plan, validation and engine as a Bulk API 2.0 batch. Results are ``Id,Success,Created,Error`` CSV, or
for JSON jobs the list of ``{"success", "created", "id", "errors"}`` objects that clients parse.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from .values import NULL_TOKEN, cell_from_json

MAX_RECORDS = 10_000
# Salesforce's CSV reader counts the header as a row and stops at the first row past 10,001, so the
# count in its message is always 10002 (com.sforce.async.CSVReader, maxRowsInFile).
_CSV_TOO_MANY = (
    "InvalidBatch : Exceeded number of records : 10002. Number of records should be less than or equal to 10001"
)


class BatchError(Exception):
    """The batch's data cannot be processed; the batch fails with this ``stateMessage``."""


def read(data: bytes, content_type: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a batch's data, or :class:`BatchError`."""
    return read_json(data) if content_type == "JSON" else read_csv(data)


def read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    try:
        text = data.decode("utf-8-sig")
        # Blank lines are skipped, as Salesforce's reader does.
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row and row != [""]]
    except (UnicodeDecodeError, csv.Error) as error:
        raise BatchError(f"InvalidBatch : Failed to parse CSV: {error}") from error
    if not rows:
        raise BatchError("InvalidBatch : The batch has no header row and no records")
    if len(rows) - 1 > MAX_RECORDS:
        raise BatchError(_CSV_TOO_MANY)
    return rows[0], rows[1:]


def read_json(data: bytes) -> tuple[list[str], list[list[str]]]:
    """A JSON array of records as CSV cells: a missing field is an empty cell (left unchanged), null
    is ``#N/A`` (cleared), and a nested object names a parent by one of its fields (``Account.Oracle_Id__c``)."""
    try:
        records = json.loads(data.decode("utf-8-sig") or "null")
    except (UnicodeDecodeError, ValueError) as error:
        raise BatchError(f"InvalidBatch : Failed to parse JSON: {error}") from error
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BatchError("InvalidBatch : The batch must be a JSON array of records")
    if len(records) > MAX_RECORDS:
        # As reported for JSON batches, without the CSV reader's space before the colon.
        raise BatchError(
            f"InvalidBatch : Exceeded number of records: {len(records) + 1}. "
            f"Number of records should be less than or equal to {MAX_RECORDS + 1}"
        )
    flat = [_flatten(record) for record in records]
    header = list(dict.fromkeys(name for record in flat for name in record))
    return header, [[record.get(name, "") for name in header] for record in flat]


def _flatten(record: dict[str, Any]) -> dict[str, str]:
    cells: dict[str, str] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, dict):
            for parent_field, parent_value in value.items():
                if parent_field != "attributes":
                    cells[f"{name}.{parent_field}"] = _cell(parent_value)
        else:
            cells[name] = _cell(value)
    return cells


def _cell(value: object) -> str:
    if isinstance(value, list | dict):
        raise BatchError(f"InvalidBatch : Unsupported JSON value for a field: {json.dumps(value)[:100]}")
    return NULL_TOKEN if value is None else cell_from_json(value)


def csv_results(record_ids: Sequence[str], created: Sequence[bool], errors: Sequence[str | None]) -> str:
    """``"Id","Success","Created","Error"`` and a quoted line per record, in the batch's order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["Id", "Success", "Created", "Error"])
    writer.writerows(
        [
            record_id,
            "true" if error is None else "false",
            "true" if made and error is None else "false",
            error or "",
        ]
        for record_id, made, error in zip(record_ids, created, errors, strict=True)
    )
    return buffer.getvalue()


def json_results(record_ids: Sequence[str], created: Sequence[bool], errors: Sequence[str | None]) -> str:
    return json.dumps(
        [
            {
                "success": error is None,
                "created": bool(made) and error is None,
                "id": record_id or None,
                "errors": [] if error is None else [split_error(error)],
            }
            for record_id, made, error in zip(record_ids, created, errors, strict=True)
        ]
    )


def split_error(text: str) -> dict[str, Any]:
    """A ``CODE:message:fields --`` string as the JSON error object (statusCode, message, fields).

    The message may hold colons; the code has none and the fields part is last and has none either.
    """
    code, _, rest = text.partition(":")
    message, _, tail = rest.rpartition(":")
    fields = tail.removesuffix("--").strip()
    return {"statusCode": code, "message": message, "fields": fields.split(",") if fields else []}
