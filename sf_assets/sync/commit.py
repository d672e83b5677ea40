"""After the write: fold what Salesforce accepted, rejected and deleted into a new version of the state.

Only rows Salesforce accepted become synced (the write's ``successful/`` rows, with their ``sf__Id``; when
successful rows are not kept, the rows sent minus the failed and unprocessed ones). A failed row leaves the
synced table as it was and lengthens its failure streak; an unprocessed row changes nothing, so it is sent
again. Call this only once the write has reported: until the new manifest is in place the old state holds, and
a run that dies before it simply sends the same rows again (an upsert makes that harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from sf_assets.spark.filesystems import FileType, open_filesystem

from .diff import previous_state, removed_keys
from .keys import COPIES, HASH, KEY, field, folded_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from sf_assets.resources import WriteResult

    from .diff import SyncPlan
    from .state import Manifest, SyncState

# Delete errors that mean the record is already gone: the key is done with, as if the delete had worked.
GONE_ERRORS = ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY")


@dataclass(frozen=True)
class SyncOutcome:
    """What the commit recorded.

    Attributes:
        rows_deleted: Removed keys whose records are gone from Salesforce now.
        failure_streaks: Rows by how many runs in a row they have failed, ``{streak: rows}``.
        manifest: The state's new manifest.
    """

    rows_deleted: int
    failure_streaks: dict[int, int]
    manifest: Manifest

    @property
    def longest_failure_streak(self) -> int:
        return max(self.failure_streaks, default=0)


def commit_sync(
    state: SyncState,
    plan: SyncPlan,
    written: WriteResult,
    deleted: WriteResult | None = None,
    *,
    spark: SparkSession,
) -> SyncOutcome:
    """Record a finished write (and the deletes, if any) in the state, atomically.

    Args:
        state: The object's sync state, as the plan read it.
        plan: The plan whose rows were written.
        written: The upsert's result.
        deleted: The delete write's result, when deletes were mirrored.
        spark: The session to read the results with.

    Returns:
        What was recorded.
    """
    key_field = plan.external_id_field
    sent = (
        spark.read.parquet(plan.rows_path)
        .select(
            F.col(KEY).alias("key"),
            field(key_field).alias("external_id"),
            F.col(HASH).alias("hash"),
            F.col(COPIES).alias("copies"),
        )
        .where(F.col("key").isNotNull())
    )
    failed = _result_rows(spark, written, "failed")
    failed = (
        spark.createDataFrame([], "key string, external_id string, error string")
        if failed is None
        else failed.select(
            folded_key(key_field).alias("key"), field(key_field).alias("external_id"), F.col("sf__Error").alias("error")
        )
        .where(F.col("key").isNotNull())
        .dropDuplicates(["key"])
    )
    accepted = _accepted(spark, written, sent, failed, key_field)
    gone = _deleted_keys(spark, plan, deleted)

    old_synced, old_failures = previous_state(spark, state, discarded=plan.state_discarded)
    # A key is synced once every row sent for it landed and none failed: rows sharing a key (the source
    # holds it twice) count as one, recorded under the hash of them all.
    newly_synced = (
        sent.dropDuplicates(["key"])
        .join(accepted, "key")
        .where(F.col("landed") >= F.col("copies"))
        .join(failed.select("key"), "key", "left_anti")
        .select("key", "external_id", "hash", "sf_id", F.lit(written.write_id).alias("write_id"))
    )
    replaced = accepted.select("key").unionByName(gone)
    synced = old_synced.join(replaced, "key", "left_anti").unionByName(newly_synced)

    # Removed keys leave the failures whether or not deletes are mirrored: no source row is failing any more.
    settled = (
        accepted.select("key").unionByName(failed.select("key")).unionByName(removed_keys(spark, plan).select("key"))
    )
    streaks = old_failures.select("key", F.col("streak").alias("last_streak"))
    failing_now = failed.join(streaks, "key", "left").select(
        "key",
        "external_id",
        (F.coalesce(F.col("last_streak"), F.lit(0)) + 1).cast("int").alias("streak"),
        "error",
        F.lit(written.write_id).alias("write_id"),
    )
    failures = old_failures.join(settled, "key", "left_anti").unionByName(failing_now)

    rows_deleted = 0 if deleted is None else gone.count()
    manifest = state.save(
        synced,
        failures,
        columns=plan.columns,
        external_id_field=key_field,
        run={
            "run_id": plan.run_id,
            "write_id": written.write_id,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "full_resync": plan.full_resync,
            "rows_in": plan.rows_in,
            "rows_sent": plan.rows_to_send,
            "rows_accepted": written.records_written,
            "rows_failed": written.records_failed,
            "rows_unprocessed": written.records_unprocessed,
            "rows_deleted": rows_deleted,
        },
    )
    state.discard_staging(plan.run_id)
    return SyncOutcome(rows_deleted=rows_deleted, failure_streaks=state.failure_streaks(), manifest=manifest)


def _accepted(
    spark: SparkSession, written: WriteResult, sent: DataFrame, failed: DataFrame, key_field: str
) -> DataFrame:
    """``key``, ``sf_id`` and rows ``landed`` of every key Salesforce accepted."""
    successful = _result_rows(spark, written, "successful")
    if successful is not None:
        return (
            successful.select(folded_key(key_field).alias("key"), F.col("sf__Id").alias("sf_id"))
            .where(F.col("key").isNotNull())
            .groupBy("key")
            .agg(F.first("sf_id").alias("sf_id"), F.count(F.lit(1)).alias("landed"))
        )
    if written.records_written == 0:
        return spark.createDataFrame([], "key string, sf_id string, landed long")
    # Successful rows were not kept: whatever was sent and neither failed nor stayed unprocessed landed.
    unprocessed = _result_rows(spark, written, "unprocessed")
    rejected = failed.select("key")
    if unprocessed is not None:
        rejected = rejected.unionByName(unprocessed.select(folded_key(key_field).alias("key")))
    return (
        sent.join(rejected, "key", "left_anti")
        .groupBy("key")
        .agg(F.lit(None).cast("string").alias("sf_id"), F.count(F.lit(1)).alias("landed"))
    )


def _deleted_keys(spark: SparkSession, plan: SyncPlan, deleted: WriteResult | None) -> DataFrame:
    """``key`` of every removed key whose record the delete write removed, or found already gone."""
    if deleted is None:
        return spark.createDataFrame([], "key string")
    ids = spark.createDataFrame([], "Id string")
    successful = _result_rows(spark, deleted, "successful")
    if successful is not None:
        ids = ids.unionByName(successful.select("Id"))
    failed = _result_rows(spark, deleted, "failed")
    if failed is not None:
        gone = F.lit(False)
        for code in GONE_ERRORS:
            gone = gone | F.col("sf__Error").startswith(f"{code}:")
        ids = ids.unionByName(failed.where(gone).select("Id"))
    removed = removed_keys(spark, plan).where(F.col("sf_id").isNotNull())
    return removed.join(ids.withColumnRenamed("Id", "sf_id").distinct(), "sf_id").select("key").distinct()


def _result_rows(spark: SparkSession, result: WriteResult, kind: str) -> DataFrame | None:
    """A write's ``failed``/``unprocessed``/``successful`` rows, or ``None`` when it has none of that kind."""
    path = f"{result.results_dir}/{kind}"
    filesystem, local = open_filesystem(path)
    if filesystem.get_file_info(local).type != FileType.Directory:
        return None
    return spark.read.parquet(path)
