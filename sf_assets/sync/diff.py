"""The diff: join the source with the sync state in Spark and stage the rows to send.

Every source row gets a kind:

=============  ===============================================================================================
``new``        its key is not in the state (or it has no key, so it can never be matched)
``retried``    its key failed on its last attempt
``changed``    its content hash differs from the one last accepted, or the mapped columns changed (rows
               sharing a key count as one: any change among them sends them all)
``unchanged``  everything else: skipped, unless a full resync is asked for
=============  ===============================================================================================

Rows to send are written once, to the run's staging directory, and the write reads them from there: the hashes
the state records after the write are those of exactly the rows sent, even if the source changes meanwhile.
Keys in the state that the source no longer has are staged beside them, for mirroring deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from .keys import COPIES, HASH, KEY, KIND, content_hash, field, folded_key
from .state import FAILURES_SCHEMA, SYNCED_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .state import SyncState

KINDS = ("new", "changed", "retried", "unchanged")


@dataclass(frozen=True)
class SyncPlan:
    """What one run will send, and why.

    Attributes:
        run_id: The run's id (its staging directory's name).
        external_id_field: The field rows are matched on.
        columns: The mapped columns, in the order they are sent.
        staging_dir: Where the rows to send (``rows``) and the removed keys (``removed``) are.
        full_resync: Whether every row is sent, changed or not.
        schema_changed: Whether the mapped columns differ from those of the last commit (every row is sent).
        state_discarded: Whether the state was kept for another external ID field, so it says nothing about
            these keys: every row is new, and no key counts as removed (nothing is deleted).
        rows_in: Rows in the source.
        rows_new: Rows whose key was never accepted (or that have no key).
        rows_changed: Rows whose content changed since it was last accepted.
        rows_retried: Rows whose key failed on its last attempt.
        rows_unchanged: Rows as last accepted.
        rows_to_send: Rows staged for the write.
        keys_removed: Keys in the state that the source no longer has.
    """

    run_id: str
    external_id_field: str
    columns: tuple[str, ...]
    staging_dir: str
    full_resync: bool
    schema_changed: bool
    state_discarded: bool
    rows_in: int
    rows_new: int
    rows_changed: int
    rows_retried: int
    rows_unchanged: int
    rows_to_send: int
    keys_removed: int

    @property
    def rows_path(self) -> str:
        return f"{self.staging_dir}/rows"

    @property
    def removed_path(self) -> str:
        return f"{self.staging_dir}/removed"

    @property
    def rows_skipped(self) -> int:
        """Source rows not sent because Salesforce already has them as they are."""
        return self.rows_in - self.rows_to_send


def plan_sync(
    source: DataFrame,
    state: SyncState,
    *,
    external_id_field: str,
    run_id: str,
    full_resync: bool = False,
) -> SyncPlan:
    """Classify the source rows against the state and stage the ones to send.

    Args:
        source: The rows as they will be sent: every column is a mapped Salesforce field.
        state: The object's sync state.
        external_id_field: The external ID the upsert matches on (one of the columns).
        run_id: A new, unique id for this run.
        full_resync: Send every row, whatever the state says (the state is still updated afterwards).

    Returns:
        The plan; its rows are in ``plan.rows_path`` and its removed keys in ``plan.removed_path``.

    Raises:
        ValueError: When ``external_id_field`` is not one of the source's columns.
    """
    spark = source.sparkSession
    columns = tuple(source.columns)
    if external_id_field not in columns:
        raise ValueError(f"the external ID {external_id_field!r} is not a column of the source ({', '.join(columns)})")
    manifest = state.manifest()
    schema_changed = manifest.version is not None and (
        manifest.columns != tuple(sorted(columns)) or manifest.external_id_field != external_id_field
    )
    state_discarded = manifest.external_id_field not in (None, external_id_field)
    previous_synced, previous_failures = previous_state(spark, state, discarded=state_discarded)
    keyed = source.select(
        *[field(name) for name in columns],
        folded_key(external_id_field).alias(KEY),
        content_hash(columns).alias(HASH),
    )
    same_key = Window.partitionBy(KEY)
    # Rows sharing a key are compared as a group: Salesforce holds one record for them, so the state records
    # one hash, of all their contents. While the group stays as it is, it is as unchanged as a single row.
    group_hash = F.sha2(F.concat_ws(",", F.array_sort(F.collect_list(HASH).over(same_key))), 256)
    keyed = keyed.withColumn(COPIES, F.count(F.lit(1)).over(same_key)).withColumn(
        HASH, F.when(F.col(COPIES) > 1, group_hash).otherwise(F.col(HASH))
    )
    synced = previous_synced.select(F.col("key").alias(KEY), F.col("hash").alias("_sync_last_hash"))
    failing = previous_failures.select(F.col("key").alias(KEY), F.lit(True).alias("_sync_failing"))
    joined = keyed.join(synced, KEY, "left").join(failing, KEY, "left")
    kind = (
        F.when(F.col(KEY).isNull(), "new")
        .when(F.col("_sync_failing"), "retried")
        .when(F.col("_sync_last_hash").isNull(), "new")
        .when(F.lit(schema_changed) | (F.col("_sync_last_hash") != F.col(HASH)), "changed")
        .otherwise("unchanged")
    )
    classified = joined.withColumn(KIND, kind).drop("_sync_last_hash", "_sync_failing")
    to_send = classified if full_resync else classified.where(F.col(KIND) != "unchanged")
    staging_dir = state.staging_dir(run_id)
    to_send.select(*[field(name) for name in columns], KEY, HASH, COPIES, KIND).write.mode("errorifexists").parquet(
        f"{staging_dir}/rows"
    )
    _removed_keys(previous_synced, previous_failures, keyed).write.mode("errorifexists").parquet(
        f"{staging_dir}/removed"
    )

    sent = _kind_counts(spark.read.parquet(f"{staging_dir}/rows"))
    rows_in = source.count()
    rows_to_send = sum(sent.values())
    return SyncPlan(
        run_id=run_id,
        external_id_field=external_id_field,
        columns=columns,
        staging_dir=staging_dir,
        full_resync=full_resync,
        schema_changed=schema_changed,
        state_discarded=state_discarded,
        rows_in=rows_in,
        rows_new=sent["new"],
        rows_changed=sent["changed"],
        rows_retried=sent["retried"],
        # A full resync sends unchanged rows too, and so counts them; otherwise they are whatever was not sent.
        rows_unchanged=sent["unchanged"] if full_resync else rows_in - rows_to_send,
        rows_to_send=rows_to_send,
        keys_removed=spark.read.parquet(f"{staging_dir}/removed").count(),
    )


def staged_rows(spark: SparkSession, plan: SyncPlan) -> DataFrame:
    """The rows a plan sends, with only the mapped columns, in their order."""
    return spark.read.parquet(plan.rows_path).select(*[field(name) for name in plan.columns])


def removed_keys(spark: SparkSession, plan: SyncPlan) -> DataFrame:
    """Keys in the state the source no longer has: ``key``, ``external_id``, ``sf_id`` (null if never accepted)."""
    return spark.read.parquet(plan.removed_path)


def previous_state(spark: SparkSession, state: SyncState, *, discarded: bool) -> tuple[DataFrame, DataFrame]:
    """The state's synced and failures tables, or empty ones when the plan discarded the state."""
    if discarded:
        return spark.createDataFrame([], SYNCED_SCHEMA), spark.createDataFrame([], FAILURES_SCHEMA)
    return state.synced(spark), state.failures(spark)


def _removed_keys(previous_synced: DataFrame, previous_failures: DataFrame, keyed: DataFrame) -> DataFrame:
    present = keyed.select(KEY).where(F.col(KEY).isNotNull()).distinct().withColumnRenamed(KEY, "key")
    synced = previous_synced.select("key", "external_id", "sf_id")
    # Keys that only ever failed have no record in Salesforce: nothing to delete, but their failures go.
    failing = previous_failures.select("key", "external_id", F.lit(None).cast("string").alias("sf_id"))
    known = synced.unionByName(failing.join(synced.select("key"), "key", "left_anti"))
    return known.join(present, "key", "left_anti")


def _kind_counts(staged: DataFrame) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for row in staged.groupBy(KIND).count().collect():
        counts[row[KIND]] = row["count"]
    return counts
