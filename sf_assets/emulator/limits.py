"""The org's daily allocations: real counters, consumed by use, reported by /limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DAY_SECONDS = 24 * 3600

# Maxima of a production org's defaults where documented; API requests sized for heavy local use.
DEFAULT_MAXIMA: Mapping[str, int] = {
    "DailyApiRequests": 1_000_000,
    "DailyBulkApiBatches": 15_000,
    "DailyBulkApiRequests": 15_000,
    "DailyBulkV2QueryFileStorageMB": 976_562,
    "DailyBulkV2QueryJobs": 10_000,
    "DailyAsyncApexExecutions": 250_000,
    "DataStorageMB": 1_024,
    "FileStorageMB": 2_048,
    "SingleEmail": 5_000,
}
# Not shown by /limits in Salesforce either; tracked so that ingest can run out like a real org.
INGEST_RECORDS = "DailyBulkV2IngestRecords"
INGEST_RECORDS_MAX = 150_000_000


@dataclass
class _Counter:
    maximum: int
    used: int = 0


class Limits:
    """Rolling-day counters. A day starts with the first use after the previous one ended.

    Args:
        maxima: Overrides of the default maxima, by limit name.
        clock: Time source (tests pass a fake).
    """

    def __init__(self, maxima: Mapping[str, int] | None = None, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        merged = {**DEFAULT_MAXIMA, INGEST_RECORDS: INGEST_RECORDS_MAX, **(maxima or {})}
        self._counters = {name: _Counter(maximum) for name, maximum in merged.items()}
        self._day_started = clock()

    def _roll(self) -> None:
        if self._clock() - self._day_started >= DAY_SECONDS:
            self._day_started = self._clock()
            for counter in self._counters.values():
                counter.used = 0

    def consume(self, name: str, amount: int = 1) -> bool:
        """Takes ``amount`` from a limit; False (and nothing taken) if that would exceed it."""
        with self._lock:
            self._roll()
            counter = self._counters[name]
            if counter.used + amount > counter.maximum:
                return False
            counter.used += amount
            return True

    def remaining(self, name: str) -> int:
        with self._lock:
            self._roll()
            counter = self._counters[name]
            return counter.maximum - counter.used

    def set_maximum(self, name: str, maximum: int) -> None:
        with self._lock:
            self._counters.setdefault(name, _Counter(maximum)).maximum = maximum

    def exhaust(self, name: str, remaining: int = 0) -> None:
        """Uses up a limit so that only ``remaining`` is left (fault injection: a quota running out)."""
        with self._lock:
            self._roll()
            counter = self._counters.get(name)
            if counter is None:
                raise KeyError(name)
            counter.used = max(0, counter.maximum - remaining)

    def reset(self) -> None:
        with self._lock:
            self._day_started = self._clock()
            for counter in self._counters.values():
                counter.used = 0

    def snapshot(self, *, include_internal: bool = False) -> dict[str, dict[str, int]]:
        with self._lock:
            self._roll()
            return {
                name: {"Max": c.maximum, "Remaining": c.maximum - c.used}
                for name, c in sorted(self._counters.items())
                if include_internal or name != INGEST_RECORDS
            }

    def usage_header(self) -> str:
        """The ``Sforce-Limit-Info`` value: API requests used of the daily maximum."""
        with self._lock:
            counter = self._counters["DailyApiRequests"]
            return f"api-usage={counter.used}/{counter.maximum}"
