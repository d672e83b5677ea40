"""CsvEncoder, to_text and quote on plain pyarrow data (no Spark, no org)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from sf_assets.spark.columns import NULL_TOKEN, Column, ColumnPlan
from sf_assets.spark.csv_encoding import ERROR_COLUMN, CsvEncoder, EncodedRows, quote, to_text


def plan_of(*columns: tuple[str, str, str]) -> ColumnPlan:
    """A plan of (header, spark type, null value) columns."""
    return ColumnPlan("Account", tuple(Column(header, kind, null) for header, kind, null in columns))


def texts(array: pa.Array) -> list[str | None]:
    return to_text(array)[0].to_pylist()


def encode_one(array: pa.Array, null_value: str = "") -> EncodedRows:
    encoder = CsvEncoder(plan_of(("F", "string", null_value)))
    return encoder.encode(pa.record_batch([array], names=["F"]))


def lines(encoded: EncodedRows) -> list[str]:
    return encoded.csv.decode("utf-8").splitlines()


# --- header ----------------------------------------------------------------------------------------------


def test_header_lists_the_columns_in_order() -> None:
    encoder = CsvEncoder(
        plan_of(("LastName", "string", ""), ("Email", "string", ""), ("Account.Oracle_Id__c", "string", ""))
    )
    assert encoder.header == b"LastName,Email,Account.Oracle_Id__c\n"


def test_header_quotes_a_name_with_a_comma() -> None:
    assert CsvEncoder(plan_of(("a,b", "string", ""), ('q"', "string", ""))).header == b'"a,b","q"""\n'


def test_text_schema_is_all_strings() -> None:
    encoder = CsvEncoder(plan_of(("Name", "string", ""), ("N", "integer", "")))
    assert encoder.text_schema == pa.schema([pa.field("Name", pa.string()), pa.field("N", pa.string())])


def test_encode_refuses_a_batch_with_other_column_count() -> None:
    encoder = CsvEncoder(plan_of(("A", "string", ""), ("B", "string", "")))
    with pytest.raises(ValueError, match="expected 2 columns, got 1"):
        encoder.encode(pa.record_batch([pa.array(["x"])], names=["A"]))


# --- types -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_strings_are_kept(kind: pa.DataType) -> None:
    assert texts(pa.array(["Doe", "Ünïcødé ✓", None], kind)) == ["Doe", "Ünïcødé ✓", None]


def test_strings_have_no_non_finite_mask() -> None:
    assert to_text(pa.array(["x"]))[1] is None


def test_booleans_are_true_false() -> None:
    assert texts(pa.array([True, False, None])) == ["true", "false", None]


@pytest.mark.parametrize("kind", [pa.int8(), pa.int16(), pa.int32(), pa.int64()])
def test_integers(kind: pa.DataType) -> None:
    assert texts(pa.array([0, -7, 127, None], kind)) == ["0", "-7", "127", None]


def test_long_extremes() -> None:
    assert texts(pa.array([2**63 - 1, -(2**63)], pa.int64())) == ["9223372036854775807", "-9223372036854775808"]


def test_doubles_in_plain_form() -> None:
    assert texts(pa.array([0.1, 3.0, -2.5, 123456789.123, None], pa.float64())) == [
        "0.1",
        "3",
        "-2.5",
        "123456789.123",
        None,
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e20, "100000000000000000000"),
        (1e16, "10000000000000000"),
        (-1.5e22, "-15000000000000000000000"),
        (1.5e-7, "0.00000015"),
        (1e-30, "0.000000000000000000000000000001"),
        (1.2345678901234567e25, "12345678901234566000000000"),
    ],
)
def test_doubles_of_scientific_magnitude_become_plain_digits(value: float, expected: str) -> None:
    assert texts(pa.array([value], pa.float64())) == [expected]


def test_scientific_and_plain_doubles_in_one_column() -> None:
    assert texts(pa.array([1e21, 2.5, None], pa.float64())) == ["1000000000000000000000", "2.5", None]


def test_floats_use_their_own_shortest_form() -> None:
    assert texts(pa.array([0.1, 3.4028235e38, 1e-10], pa.float32())) == [
        "0.1",
        "340282350000000000000000000000000000000",
        "0.0000000001",
    ]


def test_finite_floats_have_an_all_false_mask() -> None:
    mask = to_text(pa.array([1.0, 1e300], pa.float64()))[1]
    assert mask is not None
    assert mask.to_pylist() == [False, False]


def test_non_finite_mask_is_false_for_nulls() -> None:
    mask = to_text(pa.array([None, float("nan")], pa.float64()))[1]
    assert mask is not None
    assert mask.to_pylist() == [False, True]


def test_non_finite_mask_marks_nan_and_infinities() -> None:
    mask = to_text(pa.array([1.0, float("nan"), float("inf"), float("-inf")], pa.float64()))[1]
    assert mask is not None
    assert mask.to_pylist() == [False, True, True, True]


def test_decimals_keep_their_scale() -> None:
    array = pa.array([Decimal("1.50"), Decimal("-12.00"), None], pa.decimal128(10, 2))
    assert texts(array) == ["1.50", "-12.00", None]


def test_tiny_decimals_become_plain_digits() -> None:
    array = pa.array([Decimal("0.000000000000000001"), Decimal("1E-7")], pa.decimal128(38, 18))
    assert texts(array) == ["0.000000000000000001", "0.0000001"]


def test_decimal_at_full_precision() -> None:
    value = Decimal("-12345678901234567890.123456789012345678")
    assert texts(pa.array([value], pa.decimal128(38, 18))) == [str(value)]


def test_decimal_with_negative_scale_becomes_plain_digits() -> None:
    assert texts(pa.array([Decimal("1E+5")], pa.decimal128(5, -3))) == ["100000"]


def test_dates_are_iso() -> None:
    assert texts(pa.array([dt.date(2024, 1, 31), dt.date(1969, 12, 31), dt.date(1900, 2, 28), None])) == [
        "2024-01-31",
        "1969-12-31",
        "1900-02-28",
        None,
    ]


def test_naive_timestamps_are_taken_as_utc_with_milliseconds() -> None:
    array = pa.array([dt.datetime(2024, 1, 31, 12, 30, 5, 123000), None], pa.timestamp("us"))
    assert texts(array) == ["2024-01-31T12:30:05.123Z", None]


def test_utc_timestamps() -> None:
    array = pa.array([dt.datetime(2024, 1, 31, 12, 30, 5, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC"))
    assert texts(array) == ["2024-01-31T12:30:05.000Z"]


def test_non_utc_timestamps_are_converted_to_utc() -> None:
    new_york = ZoneInfo("America/New_York")
    array = pa.array(
        [dt.datetime(2024, 1, 31, 7, 30, 5, tzinfo=new_york), dt.datetime(2024, 7, 1, 20, 0, tzinfo=new_york)],
        pa.timestamp("us", tz="America/New_York"),
    )
    assert texts(array) == ["2024-01-31T12:30:05.000Z", "2024-07-02T00:00:00.000Z"]


def test_second_unit_timestamps_in_a_half_hour_zone() -> None:
    array = pa.array([0, 1_700_000_000], pa.timestamp("s", tz="Asia/Kolkata"))
    assert texts(array) == ["1970-01-01T00:00:00.000Z", "2023-11-14T22:13:20.000Z"]


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_sub_millisecond_digits_are_truncated_not_rounded(unit: str) -> None:
    array = pa.array([dt.datetime(2024, 1, 31, 12, 30, 5, 999999)], pa.timestamp(unit))
    assert texts(array) == ["2024-01-31T12:30:05.999Z"]


def test_pre_1970_timestamp_truncates_towards_the_earlier_millisecond() -> None:
    array = pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 999999), dt.datetime(1900, 1, 1)], pa.timestamp("us"))
    assert texts(array) == ["1969-12-31T23:59:59.999Z", "1900-01-01T00:00:00.000Z"]


def test_null_type_column_is_all_null() -> None:
    assert texts(pa.nulls(2)) == [None, None]


def test_unsupported_arrow_type_raises() -> None:
    with pytest.raises(TypeError, match="no Salesforce CSV form for Arrow type binary"):
        to_text(pa.array([b"x"], pa.binary()))


# --- strings: NUL, empty, quoting ------------------------------------------------------------------------


def test_nul_bytes_are_removed() -> None:
    assert texts(pa.array(["a\x00b\x00"])) == ["ab"]


def test_nul_bytes_are_removed_from_a_sliced_array() -> None:
    assert texts(pa.array(["x", "a\x00b", "c"])[1:]) == ["ab", "c"]


def test_value_of_only_nul_is_null() -> None:
    assert texts(pa.array(["\x00"])) == [None]


def test_empty_string_is_null() -> None:
    assert texts(pa.array(["", "x"])) == [None, "x"]


def test_empty_strings_and_nulls_are_both_null() -> None:
    assert texts(pa.array(["", None, "x"])) == [None, None, "x"]


def test_a_column_of_nulls_stays_null() -> None:
    assert texts(pa.array([None, None], pa.string())) == [None, None]


def test_text_beyond_ascii_is_sent_as_utf8() -> None:
    encoded = encode_one(pa.array(["Äda", "✓ #1"]))
    assert (encoded.csv.decode("utf-8"), encoded.rejected) == ('"Äda"\n"✓ #1"\n', None)


def test_text_that_is_not_utf8_is_rejected_and_the_rest_sent() -> None:
    # Spark casts binary to string without checking, so such a string array can reach the encoder.
    raw = pa.array(["Äda".encode(), b"Lov\xe9", b"ok"], pa.binary()).view(pa.string())
    encoded = encode_one(raw)
    assert (encoded.csv.decode("utf-8"), encoded.rows) == ('"Äda"\n"ok"\n', 2)
    assert encoded.rejected is not None
    [rejected] = encoded.rejected.to_pylist()
    assert rejected["F"] == "Lov\ufffd"
    assert rejected[ERROR_COLUMN].startswith("INVALID_UTF8:not sent: the text is not valid UTF-8")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('say "hi"', '"say ""hi"""'),
        ("a,b", '"a,b"'),
        ("a\nb", '"a\nb"'),
        ("a\rb", '"a\rb"'),
        (" lead", '" lead"'),
        ("plain text", '"plain text"'),
        ("#N/A", "#N/A"),
        ("x #N/A", '"x #N/A"'),
    ],
)
def test_quote(value: str, expected: str) -> None:
    assert quote(pa.array([value])).to_pylist() == [expected]


def test_quote_keeps_nulls() -> None:
    assert quote(pa.array(["a", None, 'c"d'])).to_pylist() == ['"a"', None, '"c""d"']


def test_quote_looks_only_at_the_slice_of_a_sliced_array() -> None:
    array = pa.array(['a"b', "x", "#N/A", "c,d"])[1:3]
    assert quote(array).to_pylist() == ['"x"', "#N/A"]


# --- encode: lines, nulls --------------------------------------------------------------------------------


def test_encode_lines_end_in_lf_without_header() -> None:
    encoded = encode_one(pa.array(["a", "b"]))
    assert (encoded.csv, encoded.rows, encoded.rejected) == (b'"a"\n"b"\n', 2, None)


def test_encode_several_types_in_one_row() -> None:
    plan = plan_of(("S", "string", ""), ("B", "boolean", ""), ("I", "integer", ""), ("D", "date", ""))
    batch = pa.record_batch(
        [pa.array(['x "y"']), pa.array([True]), pa.array([42], pa.int32()), pa.array([dt.date(2024, 2, 29)])],
        names=["S", "B", "I", "D"],
    )
    assert CsvEncoder(plan).encode(batch).csv == b'"x ""y""","true","42","2024-02-29"\n'


def test_null_becomes_the_clearing_token() -> None:
    assert lines(encode_one(pa.array(["a", None]), NULL_TOKEN)) == ['"a"', "#N/A"]


def test_null_becomes_an_empty_cell_when_nulls_are_ignored() -> None:
    plan = plan_of(("A", "string", ""), ("B", "string", ""))
    batch = pa.record_batch([pa.array([None, "x"]), pa.array(["y", None])], names=["A", "B"])
    assert CsvEncoder(plan).encode(batch).csv == b',"y"\n"x",\n'


def test_empty_string_becomes_the_null_value() -> None:
    assert lines(encode_one(pa.array(["", "x"]), NULL_TOKEN)) == ["#N/A", '"x"']


def test_null_per_column_null_value() -> None:
    plan = plan_of(("Id", "string", ""), ("Phone", "string", NULL_TOKEN), ("N", "integer", NULL_TOKEN))
    batch = pa.record_batch(
        [pa.array(["001"]), pa.nulls(1, pa.string()), pa.nulls(1, pa.int32())], names=["Id", "Phone", "N"]
    )
    assert CsvEncoder(plan).encode(batch).csv == b'"001",#N/A,#N/A\n'


def test_null_values_differ_between_columns_with_nulls() -> None:
    plan = plan_of(("Account.Oracle_Id__c", "string", ""), ("Phone", "string", NULL_TOKEN))
    batch = pa.record_batch([pa.array([None, "A-1"]), pa.array(["555", None])], names=plan.headers)
    assert CsvEncoder(plan).encode(batch).csv == b',"555"\n"A-1",#N/A\n'


@pytest.mark.parametrize("null_value", ["", NULL_TOKEN])
def test_the_text_na_stays_a_request_to_clear(null_value: str) -> None:
    assert lines(encode_one(pa.array(["#N/A", "x#N/A"]), null_value)) == ["#N/A", '"x#N/A"']


def test_a_line_feed_in_a_value_stays_in_its_line() -> None:
    encoded = encode_one(pa.array(["a\nb", "c"]))
    assert (encoded.csv, encoded.rows) == (b'"a\nb"\n"c"\n', 2)
    assert encoded.line_array().to_pylist() == ['"a\nb"\n', '"c"\n']


def test_lines_without_line_feeds_are_cut_from_the_csv() -> None:
    encoded = encode_one(pa.array(["a", None, 'b"c']), NULL_TOKEN)
    assert encoded.lines is None
    assert encoded.line_array().to_pylist() == ['"a"\n', "#N/A\n", '"b""c"\n']


def test_a_row_encodes_the_same_in_any_batch() -> None:
    # The ledger knows a row by its line: the line must not depend on what else its batch holds.
    rng = random.Random(7)
    plan = plan_of(("Key", "string", ""), ("Text", "string", NULL_TOKEN), ("N", "long", NULL_TOKEN))
    values = [
        [f"k{i}" if rng.random() < 0.9 else None for i in range(400)],
        [_random_text(rng) if rng.random() < 0.8 else "#N/A" for _ in range(400)],
        [None if rng.random() < 0.2 else rng.randint(-99, 99) for _ in range(400)],
    ]
    batch = pa.record_batch(
        [pa.array(values[0]), pa.array(values[1]), pa.array(values[2], pa.int64())], names=plan.headers
    )
    encoder = CsvEncoder(plan)
    together = encoder.encode(batch).line_array().to_pylist()
    alone = [encoder.encode(batch.slice(row, 1)).csv.decode("utf-8") for row in range(batch.num_rows)]
    assert together == alone


def test_empty_batch_encodes_to_nothing() -> None:
    encoded = encode_one(pa.array([], pa.string()))
    assert (encoded.csv, encoded.rows, encoded.rejected) == (b"", 0, None)


# --- non-finite numbers ----------------------------------------------------------------------------------


def nan_batch() -> tuple[CsvEncoder, pa.RecordBatch]:
    plan = plan_of(("Name", "string", ""), ("Lat", "double", ""), ("Lon", "double", ""))
    batch = pa.record_batch(
        [
            pa.array(["ok", "bad-lat", "both", "ok2"]),
            pa.array([1.5, float("nan"), float("inf"), 2.0]),
            pa.array([3.0, 4.0, float("-inf"), 1e21]),
        ],
        names=["Name", "Lat", "Lon"],
    )
    return CsvEncoder(plan), batch


def test_non_finite_rows_are_not_sent() -> None:
    encoder, batch = nan_batch()
    encoded = encoder.encode(batch)
    assert (encoded.csv, encoded.rows) == (b'"ok","1.5","3"\n"ok2","2","1000000000000000000000"\n', 2)


def test_non_finite_rows_come_back_as_rejected_rows_with_their_values() -> None:
    encoder, batch = nan_batch()
    rejected = encoder.encode(batch).rejected
    assert rejected is not None
    assert rejected.column_names == ["Name", "Lat", "Lon", ERROR_COLUMN]
    assert rejected.select(["Name", "Lat", "Lon"]).to_pylist() == [
        {"Name": "bad-lat", "Lat": "nan", "Lon": "4"},
        {"Name": "both", "Lat": "inf", "Lon": "-inf"},
    ]


def test_rejected_rows_carry_a_non_finite_number_error() -> None:
    encoder, batch = nan_batch()
    rejected = encoder.encode(batch).rejected
    assert rejected is not None
    assert rejected.column(ERROR_COLUMN).to_pylist() == [
        "NON_FINITE_NUMBER:not sent: Salesforce cannot store Lat=nan:Lat --",
        "NON_FINITE_NUMBER:not sent: Salesforce cannot store Lat=inf, Lon=-inf:Lat,Lon --",
    ]


def test_all_rows_non_finite_sends_nothing() -> None:
    encoded = encode_one(pa.array([float("nan"), float("inf")]))
    assert (encoded.csv, encoded.rows) == (b"", 0)
    assert encoded.rejected is not None
    assert encoded.rejected.num_rows == 2


def test_null_double_is_not_rejected() -> None:
    encoded = encode_one(pa.array([None, 1.0], pa.float64()), NULL_TOKEN)
    assert (encoded.csv, encoded.rows, encoded.rejected) == (b'#N/A\n"1"\n', 2, None)


def test_null_double_row_is_kept_when_another_row_is_nan() -> None:
    plan = plan_of(("Name", "string", ""), ("Amount", "double", NULL_TOKEN))
    batch = pa.record_batch([pa.array(["a", "b", "c"]), pa.array([1.0, None, float("nan")])], names=["Name", "Amount"])
    encoded = CsvEncoder(plan).encode(batch)
    assert encoded.rejected is not None
    assert encoded.rows + encoded.rejected.num_rows == 3
    assert encoded.csv == b'"a","1"\n"b",#N/A\n'


def test_as_text_keeps_nulls_and_non_finite_text() -> None:
    plan = plan_of(("S", "string", NULL_TOKEN), ("X", "double", NULL_TOKEN))
    batch = pa.record_batch([pa.array(["a", None]), pa.array([float("nan"), 2.5])], names=["S", "X"])
    table = CsvEncoder(plan).as_text(batch)
    assert table.schema == pa.schema([pa.field("S", pa.string()), pa.field("X", pa.string())])
    assert table.to_pylist() == [{"S": "a", "X": "nan"}, {"S": None, "X": "2.5"}]


# --- round trips -----------------------------------------------------------------------------------------

_ALPHABET = ['a', 'Z', '0', ' ', ',', '"', '\n', '\r', '\t', 'é', '✓', '\x00', ';', "'", '#']  # fmt: skip


def _random_text(rng: random.Random) -> str | None:
    if rng.random() < 0.1:
        return None
    if rng.random() < 0.05:
        return ""
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))


def _expected_cell(value: str | None, null_value: str) -> str:
    cleaned = None if value is None else value.replace("\x00", "")
    return cleaned if cleaned else null_value


def test_large_batch_round_trips_through_the_csv_module() -> None:
    rng = random.Random(20240131)
    rows = 20_000
    names = rng.sample(range(10**9), rows)
    columns = {
        "Name": [f"n{value}" for value in names],
        "Text": [_random_text(rng) for _ in range(rows)],
        "Note": [_random_text(rng) for _ in range(rows)],
        "Count": [None if rng.random() < 0.1 else rng.randint(-(2**40), 2**40) for _ in range(rows)],
    }
    plan = plan_of(
        ("Name", "string", ""), ("Text", "string", NULL_TOKEN), ("Note", "string", ""), ("Count", "long", NULL_TOKEN)
    )
    batch = pa.record_batch(
        [
            pa.array(columns["Name"]),
            pa.array(columns["Text"]),
            pa.array(columns["Note"]),
            pa.array(columns["Count"], pa.int64()),
        ],
        names=list(columns),
    )
    encoder = CsvEncoder(plan)
    encoded = encoder.encode(batch)
    parsed = list(csv.reader(io.StringIO((encoder.header + encoded.csv).decode("utf-8"), newline="")))
    expected = [
        [name, _expected_cell(text, NULL_TOKEN), _expected_cell(note, ""), NULL_TOKEN if count is None else str(count)]
        for name, text, note, count in zip(
            columns["Name"], columns["Text"], columns["Note"], columns["Count"], strict=True
        )
    ]
    assert encoded.rows == rows
    assert parsed[0] == ["Name", "Text", "Note", "Count"]
    assert parsed[1:] == expected


def test_sliced_batch_encodes_only_its_rows() -> None:
    plan = plan_of(("S", "string", NULL_TOKEN), ("I", "integer", ""), ("B", "boolean", ""), ("F", "double", ""))
    batch = pa.record_batch(
        [
            pa.array(["r0", "r,1", None, "r3", "r4", "r5"]),
            pa.array([0, 1, 2, None, 4, 5], pa.int32()),
            pa.array([True, False, True, False, None, True]),
            pa.array([0.5, 1e21, 2.5, 3.5, 4.5, 5.5]),
        ],
        names=["S", "I", "B", "F"],
    )
    sliced = batch.slice(1, 4)
    assert sliced.column(0).offset == 1
    encoded = CsvEncoder(plan).encode(sliced)
    assert encoded.csv == (
        b'"r,1","1","false","1000000000000000000000"\n#N/A,"2","true","2.5"\n"r3",,"false","3.5"\n"r4","4",,"4.5"\n'
    )
    assert encoded.rows == 4


def test_sliced_batch_with_a_non_finite_row() -> None:
    plan = plan_of(("S", "string", ""), ("F", "double", ""))
    batch = pa.record_batch(
        [pa.array(["a", "b", "c", "d"]), pa.array([float("nan"), 1.0, float("inf"), 2.0])], names=["S", "F"]
    )
    encoded = CsvEncoder(plan).encode(batch.slice(1, 3))
    assert encoded.csv == b'"b","1"\n"d","2"\n'
    assert encoded.rejected is not None
    assert encoded.rejected.to_pylist() == [
        {"S": "c", "F": "inf", ERROR_COLUMN: "NON_FINITE_NUMBER:not sent: Salesforce cannot store F=inf:F --"}
    ]


def test_sliced_single_string_column_round_trips() -> None:
    array = pa.array(["skip", "x", 'y"', "skip"]).slice(1, 2)
    assert encode_one(array).csv == b'"x"\n"y"""\n'
