"""One incremental sync of an object: diff, write what changed, mirror deletes if asked, then record the outcome.

The order is what makes it safe. The state changes only in the last step, after Salesforce has reported on
every row, and it changes atomically; a run that fails or dies earlier leaves the state as it was, so the next
run sends the same rows again, and upserting a row twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
from pyspark.sql import functions as F

from .commit import SyncOutcome, commit_sync
from .diff import SyncPlan, plan_sync, removed_keys, staged_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from sf_assets.resources import SalesforceBulkResource, WriteResult

    from .state import SyncState


@dataclass(frozen=True)
class SyncReport:
    """Everything one sync did.

    Attributes:
        plan: What was sent, and why.
        written: The upsert's result.
        deleted: The delete write's result, when deletes were mirrored and there was something to delete.
        outcome: What the state recorded.
        state: The object's sync state.
        mirror_deletes: Whether removed keys were to be deleted.
    """

    plan: SyncPlan
    written: WriteResult
    deleted: WriteResult | None
    outcome: SyncOutcome
    state: SyncState
    mirror_deletes: bool

    def to_metadata(self) -> dict[str, dg.MetadataValue]:
        """The write's metadata with the sync's; ``failure_ratio`` becomes the share of source rows not landed."""
        plan = self.plan
        not_landed = self.written.records_failed + self.written.records_unprocessed
        metadata = {
            # Over the source rows, not the rows sent: a run that only re-sends 50 failing rows of 10,000 has
            # 0.5 % of the table out of sync, not 100 %. The failure-ratio checks read this.
            "failure_ratio": dg.MetadataValue.float(round(not_landed / plan.rows_in, 6) if plan.rows_in else 0.0),
            "write_failure_ratio": dg.MetadataValue.float(round(self.written.failure_ratio, 6)),
            "rows_in_source": dg.MetadataValue.int(plan.rows_in),
            "rows_new": dg.MetadataValue.int(plan.rows_new),
            "rows_changed": dg.MetadataValue.int(plan.rows_changed),
            "rows_retried": dg.MetadataValue.int(plan.rows_retried),
            "rows_unchanged": dg.MetadataValue.int(plan.rows_unchanged),
            "rows_skipped": dg.MetadataValue.int(plan.rows_skipped),
            "rows_deleted": dg.MetadataValue.int(self.outcome.rows_deleted),
            "keys_removed_from_source": dg.MetadataValue.int(plan.keys_removed),
            "full_resync": dg.MetadataValue.bool(plan.full_resync),
            "schema_changed": dg.MetadataValue.bool(plan.schema_changed),
            "mirror_deletes": dg.MetadataValue.bool(self.mirror_deletes),
            "failure_streaks": dg.MetadataValue.json({str(k): v for k, v in self.outcome.failure_streaks.items()}),
            "longest_failure_streak": dg.MetadataValue.int(self.outcome.longest_failure_streak),
            "sync_state_dir": dg.MetadataValue.path(str(self.state.directory)),
        }
        if self.deleted is not None:
            metadata["delete_failed"] = dg.MetadataValue.int(self.deleted.records_failed)
            metadata["delete_results_dir"] = dg.MetadataValue.path(self.deleted.results_dir)
        return {**self.written.to_metadata(), **metadata}


def sync_object(
    salesforce: SalesforceBulkResource,
    source: DataFrame,
    *,
    sobject: str,
    external_id_field: str,
    state: SyncState,
    full_resync: bool = False,
    mirror_deletes: bool = False,
    prepare: Callable[[DataFrame], DataFrame] | None = None,
) -> SyncReport:
    """Upsert the new, changed and previously failed rows of ``source`` into ``sobject``, then record them.

    Args:
        salesforce: The resource to write with.
        source: The rows, every column a mapped Salesforce field (``Account.Oracle_Id__c`` for parents).
        sobject: The object, e.g. ``Contact``.
        external_id_field: The external ID the upsert matches on.
        state: The object's sync state.
        full_resync: Send every row, changed or not.
        mirror_deletes: Delete in Salesforce the records whose keys the source no longer has.
        prepare: Applied to the rows to send before writing (partitioning, ordering).

    Returns:
        The report; its metadata goes with the write's.

    Raises:
        dagster.Failure: When a write fails (the state is then left as it was).
    """
    spark = source.sparkSession
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    plan = plan_sync(source, state, external_id_field=external_id_field, run_id=run_id, full_resync=full_resync)
    rows = staged_rows(spark, plan)
    written = salesforce.write(
        prepare(rows) if prepare else rows, sobject=sobject, operation="upsert", external_id_field=external_id_field
    )
    deleted = None
    if mirror_deletes and plan.keys_removed:
        ids = removed_keys(spark, plan).where(F.col("sf_id").isNotNull()).select(F.col("sf_id").alias("Id"))
        if not ids.isEmpty():
            deleted = salesforce.write(ids, sobject=sobject, operation="delete")
    outcome = commit_sync(state, plan, written, deleted, spark=spark)
    return SyncReport(
        plan=plan, written=written, deleted=deleted, outcome=outcome, state=state, mirror_deletes=mirror_deletes
    )
