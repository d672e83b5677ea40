"""Incremental syncs against the local org: what is sent, what is recorded, what survives a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from simple_salesforce import Salesforce

from sf_assets.resources import SalesforceBulkResource
from sf_assets.sync import SyncReport, SyncState, incremental, sync_object

SCHEMA = "Oracle_Id__c string, Name string"


def _accounts(spark: SparkSession, rows: list[tuple[str, str | None]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def _rows(count: int) -> list[tuple[str, str | None]]:
    return [(f"ORA-{n}", f"Account {n}") for n in range(count)]


def _sync(salesforce: SalesforceBulkResource, source: DataFrame, state: SyncState, **options: bool) -> SyncReport:
    return sync_object(salesforce, source, sobject="Account", external_id_field="Oracle_Id__c", state=state, **options)


def test_a_second_run_without_changes_writes_nothing(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState
) -> None:
    source = _accounts(spark, _rows(20))
    _sync(salesforce, source, state)
    second = _sync(salesforce, source, state)
    assert (second.written.records_in, second.plan.rows_unchanged) == (0, 20)


def test_only_changed_rows_are_written(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState, sf: Salesforce
) -> None:
    rows = _rows(200)
    _sync(salesforce, _accounts(spark, rows), state)
    changed = [(key, f"{name} (renamed)") if n in (17, 151) else (key, name) for n, (key, name) in enumerate(rows)]
    report = _sync(salesforce, _accounts(spark, changed), state)
    assert (report.written.records_in, report.plan.rows_changed, report.plan.rows_unchanged) == (2, 2, 198)
    [record] = sf.query("SELECT Name FROM Account WHERE Oracle_Id__c = 'ORA-17'")["records"]
    assert record["Name"] == "Account 17 (renamed)"


def test_failed_rows_are_retried_until_they_land(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState
) -> None:
    broken = [("ORA-1", "Acme"), ("ORA-2", None)]  # Name is required: ORA-2 fails
    first = _sync(salesforce, _accounts(spark, broken), state)
    retry = _sync(salesforce, _accounts(spark, broken), state)
    fixed = _sync(salesforce, _accounts(spark, [("ORA-1", "Acme"), ("ORA-2", "Fixed")]), state)
    after = _sync(salesforce, _accounts(spark, [("ORA-1", "Acme"), ("ORA-2", "Fixed")]), state)
    assert (first.written.records_failed, retry.plan.rows_retried, retry.written.records_in) == (1, 1, 1)
    assert (fixed.plan.rows_retried, fixed.written.records_written) == (1, 1)
    assert after.written.records_in == 0


def test_failure_streaks_grow_run_after_run(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState
) -> None:
    broken = _accounts(spark, [("ORA-1", "Acme"), ("ORA-2", None)])
    reports = [_sync(salesforce, broken, state) for _ in range(3)]
    assert [report.outcome.longest_failure_streak for report in reports] == [1, 2, 3]
    assert state.repeated_failures(3).column("external_id").to_pylist() == ["ORA-2"]


def test_removed_keys_are_kept_without_mirroring_deletes(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState, sf: Salesforce
) -> None:
    _sync(salesforce, _accounts(spark, _rows(3)), state)
    report = _sync(salesforce, _accounts(spark, _rows(2)), state)
    assert (report.plan.keys_removed, report.outcome.rows_deleted) == (1, 0)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3


def test_removed_keys_are_deleted_when_mirroring_deletes(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState, sf: Salesforce
) -> None:
    _sync(salesforce, _accounts(spark, _rows(3)), state)
    report = _sync(salesforce, _accounts(spark, _rows(2)), state, mirror_deletes=True)
    assert report.outcome.rows_deleted == 1
    assert sf.query("SELECT COUNT() FROM Account WHERE Oracle_Id__c = 'ORA-2'")["totalSize"] == 0
    assert state.synced(spark).count() == 2


def test_a_deleted_key_that_comes_back_is_new(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState
) -> None:
    _sync(salesforce, _accounts(spark, _rows(3)), state)
    _sync(salesforce, _accounts(spark, _rows(2)), state, mirror_deletes=True)
    report = _sync(salesforce, _accounts(spark, _rows(3)), state, mirror_deletes=True)
    assert (report.plan.rows_new, report.written.records_written) == (1, 1)


def test_a_full_resync_writes_every_row(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState
) -> None:
    source = _accounts(spark, _rows(5))
    _sync(salesforce, source, state)
    assert _sync(salesforce, source, state, full_resync=True).written.records_written == 5


def test_a_crash_between_write_and_state_update_loses_nothing(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sync(salesforce, _accounts(spark, _rows(10)), state)
    changed = [(key, "changed") if n < 3 else (key, name) for n, (key, name) in enumerate(_rows(10))]

    def crash(*_: object, **__: object) -> None:
        raise SystemExit("killed after the write reported")

    with monkeypatch.context() as patch:
        patch.setattr(incremental, "commit_sync", crash)
        with pytest.raises(SystemExit):
            _sync(salesforce, _accounts(spark, changed), state)
    resent = _sync(salesforce, _accounts(spark, changed), state)
    assert (resent.plan.rows_changed, resent.written.records_written) == (3, 3)
    assert _sync(salesforce, _accounts(spark, changed), state).written.records_in == 0


def test_rows_sharing_a_key_keep_failing_together(
    spark: SparkSession, salesforce: SalesforceBulkResource, state: SyncState
) -> None:
    # One key twice in one job: Salesforce rejects both rows (DUPLICATE_VALUE), run after run.
    source = _accounts(spark, [("ORA-1", "Acme"), ("ora-1", "Acme Inc")]).coalesce(1)
    _sync(salesforce, source, state)
    second = _sync(salesforce, source, state)
    assert (second.plan.rows_retried, second.written.records_failed) == (2, 2)
    assert state.failure_streaks() == {2: 1}


def test_orphan_contacts_land_once_their_account_exists(
    spark: SparkSession, salesforce: SalesforceBulkResource, tmp_path: Path
) -> None:
    state = SyncState(tmp_path / "state" / "contact")
    contacts = spark.createDataFrame(
        [("C-1", "Ada", "ORA-1"), ("C-2", "Bob", "ORA-404")],
        "External_Id__c string, LastName string, `Account.Oracle_Id__c` string",
    )

    def sync() -> SyncReport:
        return sync_object(salesforce, contacts, sobject="Contact", external_id_field="External_Id__c", state=state)

    salesforce.write(_accounts(spark, [("ORA-1", "Acme")]), sobject="Account", external_id_field="Oracle_Id__c")
    orphaned = sync()
    salesforce.write(_accounts(spark, [("ORA-404", "Found")]), sobject="Account", external_id_field="Oracle_Id__c")
    adopted = sync()
    assert (orphaned.written.records_failed, adopted.plan.rows_retried, adopted.written.records_written) == (1, 1, 1)
    assert sync().written.records_in == 0
