"""Arrow values built without pandas, and a writer's encoding that never imports it."""

from __future__ import annotations

import subprocess
import sys

from sf_assets.spark.arrow_literals import FALSE, flags, strings, text


def test_strings_keep_values_and_nulls() -> None:
    array = strings(["a", None, "é", ""])
    array.validate(full=True)
    assert (array.to_pylist(), array.null_count) == (["a", None, "é", ""], 1)


def test_an_empty_string_array() -> None:
    assert strings([]).to_pylist() == []


def test_flags_cross_byte_boundaries() -> None:
    values = [True, False, True] * 5
    array = flags(values)
    array.validate(full=True)
    assert array.to_pylist() == values


def test_scalars() -> None:
    assert (text(",").as_py(), text(None).as_py(), text(None).type, FALSE.as_py()) == (
        ",",
        None,
        strings([]).type,
        False,
    )


_ENCODE_WITHOUT_PANDAS = r"""
import struct
import sys
import pyarrow as pa
from sf_assets.spark.arrow_literals import strings
from sf_assets.spark.columns import Column, ColumnPlan
from sf_assets.spark.csv_encoding import CsvEncoder
plan = ColumnPlan("Contact", (Column("LastName", "string", "#N/A"), Column("Amount", "double", "")))
amounts = pa.Array.from_buffers(pa.float64(), 2, [None, pa.py_buffer(struct.pack("<dd", 1.5, float("inf")))])
batch = pa.record_batch([strings(["Love, 'lace'", None]), amounts], names=["LastName", "Amount"])
encoded = CsvEncoder(plan).encode(batch)
assert (encoded.csv, encoded.rejected.num_rows) == (b"\"Love, 'lace'\",\"1.5\"\n", 1), encoded
print("pandas" in sys.modules)
"""


def test_encoding_with_quotes_nulls_and_rejects_imports_no_pandas() -> None:
    # A fresh interpreter: pandas costs a Python worker ~35 MB, and this test process has it loaded already.
    out = subprocess.run([sys.executable, "-c", _ENCODE_WITHOUT_PANDAS], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
