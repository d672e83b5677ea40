from __future__ import annotations

import json

import pytest
from pyspark.sql import SparkSession

from sf_assets.sync import state as state_module
from sf_assets.sync.state import FAILURES_SCHEMA, SYNCED_SCHEMA, SyncState

RUN = {"write_id": "w"}


def _save(spark: SparkSession, state: SyncState, synced: list[tuple], failures: list[tuple] = ()) -> None:
    state.save(
        spark.createDataFrame(synced, SYNCED_SCHEMA),
        spark.createDataFrame(list(failures), FAILURES_SCHEMA),
        columns=["Oracle_Id__c", "Name"],
        external_id_field="Oracle_Id__c",
        run=RUN,
    )


def test_a_new_state_is_empty(spark: SparkSession, state: SyncState) -> None:
    assert state.manifest().version is None
    assert state.synced(spark).count() == 0
    assert state.failures(spark).count() == 0


def test_saved_rows_read_back(spark: SparkSession, state: SyncState) -> None:
    _save(spark, state, [("ora-1", "ORA-1", "h1", "001A", "w")])
    assert [tuple(row) for row in state.synced(spark).collect()] == [("ora-1", "ORA-1", "h1", "001A", "w")]


def test_the_manifest_records_the_sorted_columns(spark: SparkSession, state: SyncState) -> None:
    _save(spark, state, [])
    manifest = json.loads((state.directory / "manifest.json").read_text())
    assert (manifest["columns"], manifest["external_id_field"]) == (["Name", "Oracle_Id__c"], "Oracle_Id__c")


def test_the_history_is_kept_short(spark: SparkSession, state: SyncState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "HISTORY_RUNS", 2)
    for _ in range(3):
        _save(spark, state, [])
    assert len(state.manifest().history) == 2


def test_only_the_current_and_previous_versions_stay(spark: SparkSession, state: SyncState) -> None:
    for _ in range(3):
        _save(spark, state, [])
    assert len(list(state.directory.glob("v-*"))) == 2


def test_a_crash_before_the_switch_keeps_the_old_state(
    spark: SparkSession, state: SyncState, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save(spark, state, [("ora-1", "ORA-1", "h1", "001A", "w")])

    def crash(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(state_module, "_replace_file", crash)
    with pytest.raises(KeyboardInterrupt):
        _save(spark, state, [("ora-1", "ORA-1", "h2", "001A", "w")])
    assert state.synced(spark).first()["hash"] == "h1"


def test_repeated_failures_are_those_with_long_streaks(spark: SparkSession, state: SyncState) -> None:
    _save(spark, state, [], [("a", "A", 1, "E:x", "w"), ("b", "B", 3, "E:y", "w"), ("c", "C", 5, "E:z", "w")])
    assert state.repeated_failures(3).column("key").to_pylist() == ["c", "b"]
    assert state.failure_streaks() == {1: 1, 3: 1, 5: 1}


def test_no_state_has_no_repeated_failures(state: SyncState) -> None:
    assert state.repeated_failures(1).num_rows == 0
