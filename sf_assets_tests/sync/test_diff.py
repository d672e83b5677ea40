from __future__ import annotations

import uuid

from pyspark.sql import DataFrame, SparkSession

from sf_assets.sync import SyncPlan, SyncState, plan_sync, removed_keys, staged_rows
from sf_assets.sync.keys import content_hash
from sf_assets.sync.state import FAILURES_SCHEMA, SYNCED_SCHEMA

SCHEMA = "Oracle_Id__c string, Name string"


def _source(spark: SparkSession, *rows: tuple[str | None, str | None]) -> DataFrame:
    return spark.createDataFrame(list(rows), SCHEMA)


def _hash(spark: SparkSession, key: str, name: str) -> str:
    return _source(spark, (key, name)).select(content_hash(["Oracle_Id__c", "Name"])).first()[0]


def _synced(spark: SparkSession, state: SyncState, rows: list[tuple[str, str]], failing: list[str] = ()) -> None:
    """A state in which ``rows`` (key, name) were accepted and ``failing`` keys failed once."""
    synced = [(key.lower(), key, _hash(spark, key, name), f"001{key}", "w0") for key, name in rows]
    failures = [(key.lower(), key, 1, "E:x", "w0") for key in failing]
    state.save(
        spark.createDataFrame(synced, SYNCED_SCHEMA),
        spark.createDataFrame(failures, FAILURES_SCHEMA),
        columns=["Oracle_Id__c", "Name"],
        external_id_field="Oracle_Id__c",
        run={},
    )


def _plan(source: DataFrame, state: SyncState, **options: bool) -> SyncPlan:
    return plan_sync(source, state, external_id_field="Oracle_Id__c", run_id=uuid.uuid4().hex, **options)


def _sent(spark: SparkSession, plan: SyncPlan) -> set[str]:
    return {row[0] for row in staged_rows(spark, plan).collect()}


def test_without_a_state_every_row_is_new(spark: SparkSession, state: SyncState) -> None:
    plan = _plan(_source(spark, ("A", "a"), ("B", "b")), state)
    assert (plan.rows_new, plan.rows_to_send, plan.rows_unchanged) == (2, 2, 0)


def test_unchanged_rows_are_skipped(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a"), ("B", "b")])
    plan = _plan(_source(spark, ("A", "a"), ("B", "b2"), ("C", "c")), state)
    assert _sent(spark, plan) == {"B", "C"}
    assert (plan.rows_unchanged, plan.rows_changed, plan.rows_new, plan.rows_skipped) == (1, 1, 1, 1)


def test_keys_match_whatever_their_case(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("ORA-1", "a")])
    plan = _plan(_source(spark, ("ora-1", "a")), state)
    assert (plan.rows_new, plan.rows_changed) == (0, 1)  # the key's spelling is content: it is sent again


def test_failed_keys_are_retried_even_when_unchanged(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a")], failing=["A", "B"])
    plan = _plan(_source(spark, ("A", "a"), ("B", "b")), state)
    assert (plan.rows_retried, plan.rows_to_send) == (2, 2)


def _accept_all(spark: SparkSession, state: SyncState, plan: SyncPlan) -> None:
    """Record every staged key as accepted, with the hash the plan staged for it."""
    staged = spark.read.parquet(plan.rows_path).select("_sync_key", "Oracle_Id__c", "_sync_hash")
    staged = staged.dropDuplicates(["_sync_key"])  # the state holds one row per key
    rows = [(key, external_id, digest, "001X", "w1") for key, external_id, digest in staged.collect()]
    state.save(
        spark.createDataFrame(rows, SYNCED_SCHEMA),
        spark.createDataFrame([], FAILURES_SCHEMA),
        columns=["Oracle_Id__c", "Name"],
        external_id_field="Oracle_Id__c",
        run={},
    )


def test_rows_sharing_a_key_are_skipped_while_unchanged(spark: SparkSession, state: SyncState) -> None:
    source = _source(spark, ("A", "a"), ("a", "a2"))
    _accept_all(spark, state, _plan(source, state))
    assert _plan(source, state).rows_to_send == 0


def test_a_change_among_rows_sharing_a_key_sends_them_all(spark: SparkSession, state: SyncState) -> None:
    _accept_all(spark, state, _plan(_source(spark, ("A", "a"), ("a", "a2")), state))
    plan = _plan(_source(spark, ("A", "a"), ("a", "a3")), state)
    assert (plan.rows_changed, plan.rows_to_send) == (2, 2)


def test_rows_without_a_key_are_always_new(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a")])
    plan = _plan(_source(spark, ("A", "a"), (None, "x")), state)
    assert (plan.rows_new, plan.rows_to_send) == (1, 1)


def test_a_new_mapped_column_sends_every_row(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a")])
    wider = spark.createDataFrame([("A", "a", None)], "Oracle_Id__c string, Name string, Phone string")
    plan = _plan(wider, state)
    assert plan.schema_changed
    assert plan.rows_changed == 1


def test_a_full_resync_sends_unchanged_rows_too(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a")])
    plan = _plan(_source(spark, ("A", "a")), state, full_resync=True)
    assert (plan.rows_to_send, plan.rows_unchanged, plan.rows_skipped) == (1, 1, 0)


def test_keys_gone_from_the_source_are_staged_as_removed(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a"), ("B", "b")], failing=["C"])
    plan = _plan(_source(spark, ("A", "a")), state)
    removed = {row["key"]: row["sf_id"] for row in removed_keys(spark, plan).collect()}
    assert removed == {"b": "001B", "c": None}
    assert plan.keys_removed == 2


def test_the_staged_rows_keep_only_the_mapped_columns(spark: SparkSession, state: SyncState) -> None:
    plan = _plan(_source(spark, ("A", "a")), state)
    assert staged_rows(spark, plan).columns == ["Oracle_Id__c", "Name"]


def test_a_state_kept_for_another_external_id_removes_nothing(spark: SparkSession, state: SyncState) -> None:
    _synced(spark, state, [("A", "a")])
    other = spark.createDataFrame([("X-1", "A", "a")], "Legacy_Id__c string, Oracle_Id__c string, Name string")
    plan = plan_sync(other, state, external_id_field="Legacy_Id__c", run_id=uuid.uuid4().hex)
    assert (plan.state_discarded, plan.rows_new, plan.keys_removed) == (True, 1, 0)
