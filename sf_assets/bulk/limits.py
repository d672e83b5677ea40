"""The org's daily allocations (``GET /limits``) and the usage Salesforce reports on every response.

Examples:
    >>> limits = fetch_limits(transport)
    >>> limits["DailyBulkApiBatches"].remaining
    14998
    >>> api_usage("api-usage=25/15000")
    (25, 15000)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .transport import Transport

_API_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class Limit:
    """One allocation: its maximum and what is left of it today."""

    maximum: int
    remaining: int

    @property
    def used(self) -> int:
        return self.maximum - self.remaining


def fetch_limits(transport: Transport) -> dict[str, Limit]:
    """Every allocation ``/limits`` reports, by name (``DailyApiRequests``, ``DailyBulkApiBatches``, ...)."""
    payload = transport.call("GET", "limits").json()
    return {
        name: Limit(int(value["Max"]), int(value["Remaining"]))
        for name, value in payload.items()
        if isinstance(value, dict) and "Max" in value and "Remaining" in value
    }


def api_usage(header: str | None) -> tuple[int, int] | None:
    """``(used, maximum)`` of the daily API requests from a ``Sforce-Limit-Info`` header."""
    match = _API_USAGE.search(header or "")
    return (int(match.group(1)), int(match.group(2))) if match else None
