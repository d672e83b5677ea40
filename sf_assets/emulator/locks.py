"""Record locks held by ingest transactions, as Salesforce takes them on a child's parent.

Writing a child (a Contact with an ``AccountId``) locks its parent for the length of the child's
200-record transaction. Another transaction wanting the same parent waits a few seconds and, if the
lock is still held, its rows that need that parent fail with ``UNABLE_TO_LOCK_ROW``. Loads whose
children of one parent are spread over parallel jobs therefore fail rows; loads grouped by parent
do not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

LOCK_FAILURES_BEFORE_REQUEUE = 100  # "problems acquiring locks for more than 100 records in a batch"


def lock_error(parent_id: str) -> str:
    """The row error of a write that could not lock ``parent_id``, as Salesforce words it."""
    return f"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: {parent_id}:--"


class RowLocks:
    """Exclusive locks on record Ids, each held by one transaction (any hashable owner)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owners: dict[str, object] = {}

    def acquire(self, record_ids: Iterable[str], owner: object, timeout: float) -> set[str]:
        """Locks each record, waiting at most ``timeout`` seconds in all; returns the Ids it could
        not lock. The caller holds the others until :meth:`release`.

        Records are locked in sorted order, so two transactions never each hold what the other waits for.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        missed: set[str] = set()
        with self._changed:
            for record_id in sorted(set(record_ids)):
                while self._owners.setdefault(record_id, owner) is not owner:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        missed.add(record_id)
                        break
                    self._changed.wait(left)
        return missed

    def release(self, record_ids: Iterable[str], owner: object) -> None:
        with self._changed:
            for record_id in set(record_ids):
                if self._owners.get(record_id) is owner:
                    del self._owners[record_id]
            self._changed.notify_all()

    def held(self) -> int:
        """How many records are locked now."""
        with self._changed:
            return len(self._owners)
