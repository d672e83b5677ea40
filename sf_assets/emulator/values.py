"""Parsing of CSV cell text into stored field values, failing with Salesforce's record error strings.

Record errors have the form ``CODE:message:field1,field2 --`` (or ``CODE:message:--`` with no field).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from . import ids
from .schema import FieldDef

NULL_TOKEN = "#N/A"
CLEAR: Any = type("Clear", (), {"__repr__": lambda self: "CLEAR"})()  # a #N/A cell: set the field to null

_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})Z?$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$")
# Salesforce's own check is looser than RFC 5322 but rejects these shapes.
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


class RecordError(Exception):
    """A record-level failure, rendered exactly as Salesforce's ``sf__Error`` column."""

    def __init__(self, code: str, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        tail = ",".join(self.fields) + " --" if self.fields else "--"
        return f"{self.code}:{self.message}:{tail}"


def cell_from_json(value: Any) -> str:
    """A JSON field value as a CSV cell, so REST writes share the Bulk API's validation."""
    if value is None:
        return NULL_TOKEN
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def deserialize_error(value: str, column: int, xsd_type: str, field: FieldDef) -> RecordError:
    return RecordError(
        "INVALID_FIELD",
        f"Failed to deserialize field at col {column}. Due to, '{value}' is not a valid value for the type {xsd_type}",
        (field.name,),
    )


def format_datetime(value: dt.datetime) -> str:
    """The stored and REST form of a dateTime: UTC with milliseconds and a +0000 offset."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def now_datetime() -> str:
    return format_datetime(dt.datetime.now(dt.UTC))


def _parse_datetime(text: str) -> dt.datetime | None:
    match = _DATETIME.match(text)
    if match is None:
        date_only = _DATE.match(text)
        if date_only is None:
            return None
        # Salesforce accepts a bare date for a dateTime field and reads it as midnight UTC.
        text = f"{date_only.group(1)}-{date_only.group(2)}-{date_only.group(3)}T00:00:00Z"
        match = _DATETIME.match(text)
        assert match is not None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz = dt.UTC
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micros, tzinfo=tz)
    except ValueError:
        return None


Converter = Callable[[str], object]


def converter(field: FieldDef, column: int) -> Converter:
    """Builds the function that turns one non-empty, non-``#N/A`` cell into the stored value.

    Built once per CSV column so that the per-row work is a single call.
    """
    kind = field.type
    name = field.name
    if kind in ("int",):
        digits = int(field.props.get("digits") or 9)

        def to_int(text: str) -> object:
            if not _INTEGER.match(text):
                raise deserialize_error(text, column, "xsd:int", field)
            number = int(text)
            if len(str(abs(number))) > digits:
                raise _out_of_range(field, text)
            return number

        return to_int
    if kind in ("double", "currency", "percent"):
        whole_digits = field.precision - field.scale if field.precision else 18

        def to_number(text: str) -> object:
            if not _NUMBER.match(text):
                raise deserialize_error(text, column, "xsd:double", field)
            try:
                number = Decimal(text)
            except InvalidOperation as error:
                raise deserialize_error(text, column, "xsd:double", field) from error
            try:
                rounded = round(number, field.scale) if field.precision else number
            except InvalidOperation as error:  # more digits than the decimal context holds
                raise _out_of_range(field, text) from error
            if rounded != 0 and rounded.adjusted() + 1 > whole_digits:
                raise _out_of_range(field, text)
            return float(rounded)

        return to_number
    if kind == "boolean":

        def to_bool(text: str) -> object:
            lowered = text.lower()
            if lowered in _TRUE:
                return 1
            if lowered in _FALSE:
                return 0
            raise deserialize_error(text, column, "xsd:boolean", field)

        return to_bool
    if kind == "date":

        def to_date(text: str) -> object:
            match = _DATE.match(text)
            if match is not None:
                try:
                    return dt.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
                except ValueError:
                    pass
            raise deserialize_error(text, column, "xsd:date", field)

        return to_date
    if kind == "datetime":

        def to_datetime(text: str) -> object:
            parsed = _parse_datetime(text)
            if parsed is None:
                raise deserialize_error(text, column, "xsd:dateTime", field)
            return format_datetime(parsed)

        return to_datetime
    if kind in ("reference", "id"):
        targets = field.reference_to

        def to_id(text: str) -> object:
            canonical = ids.normalize(text)
            if canonical is None:
                raise RecordError("MALFORMED_ID", f"{field.label}: id value of incorrect type: {text}", (name,))
            return canonical

        del targets
        return to_id
    length = field.length
    label = field.label
    if kind == "email":

        def to_email(text: str) -> object:
            if len(text) > length:
                raise _too_long(field, text)
            if not _EMAIL.match(text):
                raise RecordError("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {text}", (name,))
            return text

        return to_email
    if kind == "picklist" and field.restricted_picklist:
        allowed = set(field.picklist_values)

        def to_restricted(text: str) -> object:
            if text not in allowed:
                raise RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {text}",
                    (name,),
                )
            return text

        return to_restricted

    def to_text(text: str) -> object:
        if len(text) > length:
            raise _too_long(field, text)
        return text

    return to_text


_CACHE_LIMIT = 65_536


class ColumnConverter:
    """Converts a whole CSV column at once: ``""`` becomes None (unchanged), ``#N/A`` becomes CLEAR.

    Ingest spends most of its time here, so the common cases run at C speed: text columns pass one
    length check for the whole column, and every other kind converts each distinct cell once
    (dates, picklists and flags repeat across rows) through a bounded cache.

    Args:
        field: The field the cells are parsed for.
        column: The 1-based column number quoted in deserialization errors.
    """

    def __init__(self, field: FieldDef, column: int) -> None:
        self.convert = converter(field, column)
        kind = field.type
        if kind == "picklist" and field.restricted_picklist:
            allowed = frozenset(field.picklist_values)
            self._check: Callable[[Sequence[str]], bool] | None = allowed.issuperset
        elif kind in ("int", "double", "currency", "percent", "boolean", "date", "datetime", "reference", "id"):
            self._check = None
        else:
            self._check = _text_check(field.length, kind == "email")
        self._seeds: dict[str, object] = {"": None, NULL_TOKEN: CLEAR}
        self._cache = dict(self._seeds)

    def __call__(self, cells: Sequence[str]) -> tuple[list[object], dict[int, RecordError]]:
        """Returns the column's values and the errors of the rows whose cell does not convert."""
        if self._check is not None:
            special = "" in cells or NULL_TOKEN in cells
            present = [t for t in cells if t and t != NULL_TOKEN] if special else cells
            if self._check(present):
                if not special:
                    return list(cells), {}
                return [None if t == "" else CLEAR if t == NULL_TOKEN else t for t in cells], {}
            return self._one_by_one(cells)
        cache = self._cache
        distinct = set(cells)
        fresh = distinct.difference(cache)
        if fresh:
            if len(cache) + len(fresh) > _CACHE_LIMIT:
                # A new dict, not clear(): another worker may be reading the old one.
                cache = self._cache = dict(self._seeds)
            convert = self.convert
            for text in fresh:
                try:
                    cache[text] = convert(text)
                except RecordError as error:
                    cache[text] = error
        values = list(map(cache.__getitem__, cells))
        if not any(type(cache[t]) is RecordError for t in distinct):
            return values, {}
        errors: dict[int, RecordError] = {}
        for index, value in enumerate(values):
            if type(value) is RecordError:
                errors[index] = value
                values[index] = None
        return values, errors

    def _one_by_one(self, cells: Sequence[str]) -> tuple[list[object], dict[int, RecordError]]:
        values: list[object] = []
        errors: dict[int, RecordError] = {}
        convert = self.convert
        for index, text in enumerate(cells):
            if text == "":
                values.append(None)
            elif text == NULL_TOKEN:
                values.append(CLEAR)
            else:
                try:
                    values.append(convert(text))
                except RecordError as error:
                    values.append(None)
                    errors[index] = error
        return values, errors


def _text_check(length: int, email: bool) -> Callable[[Sequence[str]], bool]:
    def fits(cells: Sequence[str]) -> bool:
        if max(map(len, cells), default=0) > length:
            return False
        return not email or all(map(_EMAIL.match, cells))

    return fits


def _too_long(field: FieldDef, text: str) -> RecordError:
    return RecordError(
        "STRING_TOO_LONG",
        f"{field.label}: data value too large: {text} (max length={field.length})",
        (field.name,),
    )


def _out_of_range(field: FieldDef, text: str) -> RecordError:
    return RecordError(
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{field.label}: value outside of valid range on numeric field: {text}",
        (field.name,),
    )


def java_double(value: float) -> str:
    """Formats a number as Java's ``Double.toString``, which is how results echo number fields.

    Examples: ``2676.0``, ``9.12260031E8``, ``1.0E-4``.
    """
    if value == 0:
        return "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    # repr gives the shortest digits that round-trip, which is what Java prints too.
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(text) - 1 + int(exponent)}"
