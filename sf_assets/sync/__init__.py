"""Incremental sync: send only new, changed and previously failed rows, and mirror deletes on request.

``state`` keeps per object what Salesforce last accepted; ``diff`` compares the source with it in Spark;
``commit`` records a write's outcome; ``incremental`` runs the three around a write.
"""

from __future__ import annotations

from .commit import SyncOutcome, commit_sync
from .diff import SyncPlan, plan_sync, removed_keys, staged_rows
from .incremental import SyncReport, sync_object
from .state import Manifest, SyncState

__all__ = [
    "Manifest",
    "SyncOutcome",
    "SyncPlan",
    "SyncReport",
    "SyncState",
    "commit_sync",
    "plan_sync",
    "removed_keys",
    "staged_rows",
    "sync_object",
]
