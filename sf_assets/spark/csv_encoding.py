"""Arrow record batches to Salesforce CSV, column by column in Arrow compute (no Python loop per row).

Dates become ``YYYY-MM-DD``; timestamps ISO-8601 UTC with milliseconds and ``Z`` (timestamps without a time
zone are taken as UTC); booleans ``true``/``false``; numbers never use scientific notation. NaN and
infinities cannot be stored by Salesforce, so their rows are not sent and come back as rejected rows with a
``NON_FINITE_NUMBER`` error. NUL bytes are removed. A null (or empty string) becomes the column's null value:
``#N/A`` to clear the field, or an empty cell to leave it unchanged. Every other value is quoted, embedded quotes
doubled, except the text ``#N/A`` itself, which stays a request to clear the field. That is the form Salesforce's
Data Loader sends to the Bulk API, and ``pyarrow.csv`` writes it in C++, several times faster than deciding value
by value which values need quotes.

A row's bytes depend on the row alone, never on the batch it came in: the ledger recognises rows a retried task
already sent by the digests of their lines.

Examples:
    >>> encoder = CsvEncoder(plan)
    >>> encoder.header
    b'LastName,Email\\n'
    >>> encoded = encoder.encode(batch)
    >>> encoded.csv
    b'"Doe","jo@example.com"\n"Roe",#N/A\n'
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .arrow_literals import FALSE, flags, strings
from .arrow_literals import text as literal
from .columns import NULL_TOKEN

if TYPE_CHECKING:
    from .columns import ColumnPlan

ERROR_COLUMN = "sf__Error"
_NO_LINES = strings([])
_EMPTY = literal("")
# Data Loader sends a value of #N/A unquoted: a request to clear the field, whichever the column's null value.
_CLEAR = literal(NULL_TOKEN)
_CLEAR_BYTES = NULL_TOKEN.encode()


@dataclass(frozen=True)
class EncodedRows:
    """One record batch as CSV lines.

    Attributes:
        csv: The data lines (no header), each ending in LF.
        rows: How many rows ``csv`` holds.
        rejected: Rows that were not encoded, as text columns plus ``sf__Error``; ``None`` when all were.
        lines: The same lines as a string array, one element per row; ``None`` when no value holds a line feed,
            so that ``csv`` splits into its rows at every LF (see :meth:`line_array`).
    """

    csv: bytes
    rows: int
    rejected: pa.Table | None = None
    lines: pa.Array | None = None

    def line_array(self) -> pa.Array:
        """The lines as a string array, each ending in LF."""
        if self.lines is not None:
            return self.lines
        if not self.rows:
            return _NO_LINES
        return strings([f"{line}\n" for line in self.csv.decode("utf-8").split("\n")[:-1]])


class CsvEncoder:
    """Encodes the record batches of one write, whose columns ``plan`` has validated."""

    def __init__(self, plan: ColumnPlan) -> None:
        self.plan = plan
        self.header = (",".join(_quote_text(name) for name in plan.headers) + "\n").encode("utf-8")
        self.text_schema = pa.schema([pa.field(name, pa.string()) for name in plan.headers])

    def encode(self, batch: pa.RecordBatch) -> EncodedRows:
        """Encode ``batch``; its columns are the plan's, in the same order."""
        if batch.num_columns != len(self.plan.columns):
            raise ValueError(f"expected {len(self.plan.columns)} columns, got {batch.num_columns}")
        texts: list[pa.Array] = []
        bad: pa.Array | None = None
        problems: list[tuple[str, pa.Array]] = []
        # What pyarrow.csv cannot write: a line feed in a value (the lines' offsets are then needed) or the text #N/A.
        special = False
        for column, array in zip(self.plan.columns, batch.columns, strict=True):
            text, unsendable, data = _text(array)
            texts.append(text)
            special = special or b"\n" in data or _has_clear(data)
            if unsendable is not None and pc.any(unsendable).as_py():
                problems.append((column.header, unsendable))
                bad = unsendable if bad is None else pc.or_(bad, unsendable)
        rejected = None
        if bad is not None:
            rejected = self._rejected(texts, bad, problems)
            keep = pc.invert(bad)
            texts = [pc.filter(text, keep) for text in texts]
        rows = len(texts[0]) if texts else 0
        if rows == 0:
            return EncodedRows(b"", 0, rejected, _NO_LINES)
        null_value = self._shared_null_value(texts)
        if null_value is not None and not special:
            return EncodedRows(self._write_csv(texts, null_value), rows, rejected)
        # Or columns with nulls differ in their null value, which pyarrow.csv writes one way for all: the same
        # bytes, joined column by column.
        cells = [
            pc.fill_null(quote(text), literal(column.null_value))
            for text, column in zip(texts, self.plan.columns, strict=True)
        ]
        lines = _join_lines(cells)
        return EncodedRows(lines_bytes(lines), rows, rejected, lines)

    def _shared_null_value(self, texts: list[pa.Array]) -> str | None:
        """The null value of every column that has nulls here (``""`` if none has), or ``None`` if they differ."""
        values = {column.null_value for column, text in zip(self.plan.columns, texts, strict=True) if text.null_count}
        if len(values) > 1:
            return None
        return values.pop() if values else ""

    def _write_csv(self, texts: list[pa.Array], null_value: str) -> bytes:
        # Pieces hold up to a Spark batch (10,000 rows by default): the writer's default of 1,024 rows would cut
        # each into several.
        options = pa_csv.WriteOptions(
            include_header=False, quoting_style="all_valid", null_string=null_value, batch_size=1 << 16
        )
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(pa.Table.from_arrays(texts, schema=self.text_schema), sink, options)
        return sink.getvalue().to_pybytes()

    def _rejected(self, texts: list[pa.Array], bad: pa.Array, problems: list[tuple[str, pa.Array]]) -> pa.Table:
        columns = [pc.filter(text, bad) for text in texts]
        flags = {header: pc.filter(mask, bad).to_pylist() for header, mask in problems}
        values = {header: pc.filter(texts[self.plan.headers.index(header)], bad).to_pylist() for header, _ in problems}
        numeric = {column.header for column in self.plan.columns if column.spark_type in ("float", "double")}
        errors = []
        for row in range(len(columns[0])):
            fields = [header for header in flags if flags[header][row]]
            if fields[0] in numeric:
                shown = ", ".join(f"{header}={values[header][row]}" for header in fields)
                reason = f"NON_FINITE_NUMBER:not sent: Salesforce cannot store {shown}"
            else:
                reason = "INVALID_UTF8:not sent: the text is not valid UTF-8 (kept here with U+FFFD replacements)"
            errors.append(f"{reason}:{','.join(fields)} --")
        return pa.Table.from_arrays([*columns, strings(errors)], names=[*self.plan.headers, ERROR_COLUMN])

    def as_text(self, batch: pa.RecordBatch) -> pa.Table:
        """The batch as text columns (nulls kept), the form results are stored in."""
        return pa.Table.from_arrays([to_text(array)[0] for array in batch.columns], schema=self.text_schema)


def text_rows(table: pa.Table) -> bytes:
    """CSV lines of a table of text columns as Salesforce echoed them (a null is an empty cell)."""
    cells = [pc.fill_null(quote(column.combine_chunks()), literal("")) for column in table.columns]
    return lines_bytes(_join_lines(cells))


def _join_lines(cells: list[pa.Array]) -> pa.Array:
    if not cells or len(cells[0]) == 0:
        return _NO_LINES
    return pc.binary_join_element_wise(pc.binary_join_element_wise(*cells, literal(",")), literal(""), literal("\n"))


def to_text(array: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """A column as Salesforce text (nulls kept), plus a mask of non-finite numbers for float columns."""
    text, unsendable, _data = _text(array)
    return text, unsendable


def _text(array: pa.Array) -> tuple[pa.Array, pa.Array | None, bytes]:
    """:func:`to_text`, plus the bytes of a string column's values (``b""`` for other types, whose text holds no
    quote, line feed or ``#N/A``)."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        text = array.cast(pa.string())
        data = _string_bytes(text)
        invalid = None
        # ASCII is valid UTF-8, and checking for it is several times faster than validating.
        if not data.isascii():
            text, invalid = _valid_utf8(text)
            if invalid is not None:
                data = _string_bytes(text)
        if b"\x00" in data:
            text = pc.replace_substring(text, "\x00", "")
            data = _string_bytes(text)
        # The shortest value's length (nulls skipped) says whether any is empty, without comparing each.
        if pc.min(pc.binary_length(text)).as_py() == 0:
            text = pc.if_else(pc.equal(text, _EMPTY), literal(None), text)
        return text, invalid, data
    text, unsendable = _other_text(array)
    return text, unsendable, b""


def _other_text(array: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string()), None
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_date(kind):
        return array.cast(pa.string()), None
    if pa.types.is_floating(kind):
        # A null is no bad number: the mask must be false there, since filters drop null-masked rows.
        non_finite = pc.fill_null(pc.invert(pc.is_finite(array)), FALSE)
        return _plain_numbers(array.cast(pa.string()), "e"), non_finite
    if pa.types.is_decimal(kind):
        return _plain_numbers(array.cast(pa.string()), "E"), None
    if pa.types.is_timestamp(kind):
        return _iso_utc(array), None
    raise TypeError(f"no Salesforce CSV form for Arrow type {kind}")


def _valid_utf8(text: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Text as given when it is valid UTF-8; otherwise with U+FFFD for bad bytes and a mask of the rows that had
    them (Spark casts binary to string without checking, so such text can reach the writer)."""
    try:
        text.validate(full=True)
        return text, None
    except pa.ArrowInvalid:
        raw = text.cast(pa.binary()).to_pylist()
        decoded = [None if value is None else value.decode("utf-8", errors="replace") for value in raw]
        invalid = [value is not None and _bad_utf8(value) for value in raw]
        return strings(decoded), flags(invalid)


def _bad_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def quote(text: pa.Array) -> pa.Array:
    """Every value in quotes, embedded quotes doubled, but ``#N/A`` (nulls stay null): what ``pyarrow.csv`` writes
    for the other values."""
    data = _string_bytes(text)
    escaped = pc.replace_substring(text, '"', '""') if b'"' in data else text
    quoted = pc.binary_join_element_wise(literal('"'), escaped, literal('"'), literal(""))
    if _has_clear(data):
        quoted = pc.if_else(pc.equal(text, _CLEAR), text, quoted)
    return quoted


def _has_clear(data: bytes) -> bool:
    # Looking for one byte is about ten times faster than for four, and "#" is rare in most text.
    return b"#" in data and _CLEAR_BYTES in data


def _quote_text(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in '",\r\n') else value


def _plain_numbers(text: pa.Array, exponent: str) -> pa.Array:
    # Arrow's shortest round-trip form uses exponents for large and small magnitudes; rewrite only those.
    scientific = pc.match_substring(text, exponent)
    if not pc.any(scientific).as_py():
        return text
    values = text.to_pylist()
    flags = scientific.to_pylist()
    fixed = [
        _plain(value) if flag and value not in ("nan", "inf", "-inf") else value
        for value, flag in zip(values, flags, strict=True)
    ]
    return strings(fixed)


def _plain(value: str) -> str:
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _iso_utc(array: pa.Array) -> pa.Array:
    kind = array.type
    floored = pc.floor_temporal(array, unit="millisecond") if kind.unit in ("us", "ns") else array
    millis = floored.cast(pa.timestamp("ms", tz="UTC" if kind.tz else None))
    return pc.strftime(millis, format="%Y-%m-%dT%H:%M:%SZ")


def lines_bytes(lines: pa.Array) -> bytes:
    """The lines of a string array as one byte string."""
    if len(lines) == 0:
        return b""
    return _string_bytes(lines)


def _string_bytes(strings: pa.Array) -> bytes:
    # A string array's values are contiguous in its data buffer: take them without a Python loop.
    _validity, offsets, data = strings.buffers()
    if data is None or len(strings) == 0:
        return b""
    view = memoryview(offsets).cast("i")
    start, end = view[strings.offset], view[strings.offset + len(strings)]
    return memoryview(data)[start:end].tobytes()
