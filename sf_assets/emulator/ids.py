"""Salesforce record IDs: 15-character case-sensitive bodies with a 3-character checksum suffix."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
# Characters 4-5 of a real ID name the pod that minted it; any fixed pair keeps IDs realistic.
_POD = "8c"


def _chunk_bits(chunk: str) -> int:
    bits = 0
    for offset, char in enumerate(chunk):
        if "A" <= char <= "Z":
            bits |= 1 << offset
    return bits


@functools.cache
def _chunk_suffix(chunk: str) -> str:
    return _SUFFIX_ALPHABET[_chunk_bits(chunk)]


_PAIRS = 62 * 62
_PAIR_TEXT = [a + b for a in _BASE62 for b in _BASE62]
# The pair is the 4th and 5th character of the last checksum chunk.
_PAIR_BITS = [_chunk_bits(pair) << 3 for pair in _PAIR_TEXT]


def checksum(body: str) -> str:
    """Returns the 3-character suffix that makes a 15-character ID case-insensitively unique.

    Each 5-character chunk maps to one suffix character; chunks repeat across minted IDs, so the
    mapping is memoized (ingest mints tens of thousands of IDs a second).
    """
    return _chunk_suffix(body[:5]) + _chunk_suffix(body[5:10]) + _chunk_suffix(body[10:15])


def normalize(value: str) -> str | None:
    """Returns the canonical 18-character form of a 15- or 18-character ID, or None if malformed.

    An 18-character ID must carry the checksum of its body (compared case-insensitively, as
    Salesforce does).
    """
    if not _ID_SHAPE.match(value):
        return None
    body = value[:15]
    expected = checksum(body)
    if len(value) == 18 and value[15:].upper() != expected:
        return None
    return body + expected


def key_prefix(record_id: str) -> str:
    return record_id[:3]


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(_BASE62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def mint(prefix: str, first: int, count: int) -> list[str]:
    """The IDs of ``prefix`` numbered ``first`` to ``first + count - 1`` (a block reserved by
    :meth:`IdGenerator.reserve`): the same numbers always give the same IDs."""
    pre = prefix + _POD
    lead = _chunk_suffix(pre)
    out: list[str] = []
    number = first
    end = first + count
    # The last two base-62 digits cycle through a fixed table; everything before them (and
    # the checksum of the first two chunks) changes once per 3,844 IDs.
    while number < end:
        high, low = divmod(number, _PAIRS)
        stop = min(end, (high + 1) * _PAIRS) - high * _PAIRS
        upper = _base62(high, 8)
        head = pre + upper
        middle = lead + _chunk_suffix(upper[:5])
        tail_bits = _chunk_bits(upper[5:])
        out += [head + _PAIR_TEXT[i] + middle + _SUFFIX_ALPHABET[tail_bits | _PAIR_BITS[i]] for i in range(low, stop)]
        number = high * _PAIRS + stop
    return out


class IdGenerator:
    """Mints unique 18-character IDs for any key prefix from one org-wide counter.

    The counter is reserved in blocks through ``reserve`` (which persists the high-water mark),
    so IDs stay unique across restarts without a write per ID.

    Args:
        reserve: Called with a block size; returns the first number of a newly reserved block.
        block: How many numbers to reserve at once.
    """

    def __init__(self, reserve: Callable[[int], int], block: int = 100_000) -> None:
        self._reserve_block = reserve
        self._block = block
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0

    def reserve(self, count: int) -> int:
        """Sets aside ``count`` consecutive numbers and returns the first; :func:`mint` turns them
        into IDs whenever they are needed."""
        with self._lock:
            if self._next + count > self._end:
                size = max(self._block, count)
                self._next = self._reserve_block(size)
                self._end = self._next + size
            first = self._next
            self._next += count
            return first

    def new(self, prefix: str) -> str:
        return self.many(prefix, 1)[0]

    def many(self, prefix: str, count: int) -> list[str]:
        return mint(prefix, self.reserve(count), count)
