"""Arrow arrays and scalars made from Python values without importing pandas.

``pa.scalar`` and ``pa.array`` import pandas, when it is installed, to check for its types; so does every compute
call given a plain Python value as an argument. In a Python worker that costs about 35 MB of memory and a third of
a second, more than the writer itself needs. The writer builds its constants here instead, from Arrow buffers.

Examples:
    >>> pc.binary_join_element_wise(first, last, text(" "))
    >>> strings(["a", None]).null_count
    1
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Sequence

import pyarrow as pa


def strings(values: Sequence[str | None]) -> pa.StringArray:
    """A string array of ``values`` (None for null)."""
    data = bytearray()
    offsets = array("i", [0])
    for value in values:
        if value is not None:
            data += value.encode("utf-8")
        offsets.append(len(data))
    nulls = sum(value is None for value in values)
    validity = _bitmap([value is not None for value in values]) if nulls else None
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets.tobytes()), pa.py_buffer(bytes(data)), validity, nulls
    )


def flags(values: Sequence[bool]) -> pa.BooleanArray:
    """A boolean array of ``values`` (no nulls)."""
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, _bitmap(values)])


@functools.cache
def text(value: str | None) -> pa.StringScalar:
    """A string scalar (None for a null string)."""
    return strings([value])[0]


def _bitmap(values: Sequence[bool]) -> pa.Buffer:
    # Arrow bitmaps are least-significant bit first: value i is bit i of the little-endian integer.
    bits = sum(1 << index for index, value in enumerate(values) if value)
    return pa.py_buffer(bits.to_bytes((len(values) + 7) // 8 or 1, "little"))


FALSE: pa.BooleanScalar = flags([False])[0]
