"""SOQL through the REST ``query`` resource: counts and records, paged by ``nextRecordsUrl``.

Examples:
    >>> count(transport, "SELECT COUNT() FROM Account WHERE Oracle_Id__c != null")
    10000
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from .transport import Transport

# Salesforce rejects SOQL statements longer than 100,000 characters; stay well below.
_MAX_IN_LIST_CHARS = 20_000


def count(transport: Transport, soql: str) -> int:
    """The ``totalSize`` of a ``SELECT COUNT() ...`` query."""
    return int(transport.call("GET", f"query?q={quote(soql)}").json()["totalSize"])


def records(transport: Transport, soql: str) -> Iterator[dict[str, Any]]:
    """Every record a query returns, following ``nextRecordsUrl`` page by page."""
    payload = transport.call("GET", f"query?q={quote(soql)}").json()
    while True:
        for record in payload.get("records", ()):
            yield {key: value for key, value in record.items() if key != "attributes"}
        next_url = payload.get("nextRecordsUrl")
        if payload.get("done", True) or not next_url:
            return
        # nextRecordsUrl is absolute from /services/data/vXX.X/; the transport adds that prefix itself.
        payload = transport.call("GET", next_url.split("/", 4)[-1]).json()


def count_matching(transport: Transport, sobject: str, field: str, values: Iterable[str]) -> int:
    """How many ``sobject`` records hold one of ``values`` in ``field``, in as many queries as SOQL's length needs."""
    total = 0
    chunk: list[str] = []
    size = 0
    for value in values:
        literal = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if chunk and size + len(literal) > _MAX_IN_LIST_CHARS:
            total += count(transport, f"SELECT COUNT() FROM {sobject} WHERE {field} IN ({','.join(chunk)})")
            chunk, size = [], 0
        chunk.append(literal)
        size += len(literal) + 1
    if chunk:
        total += count(transport, f"SELECT COUNT() FROM {sobject} WHERE {field} IN ({','.join(chunk)})")
    return total
