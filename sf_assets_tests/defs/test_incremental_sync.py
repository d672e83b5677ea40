"""The Salesforce assets sync incrementally: materialized twice in process against the local org."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from sf_assets.definitions import defs
from sf_assets.defs.salesforce_assets import SyncConfig, sync_state
from sf_assets.defs.source_tables import SourceTables
from sf_assets.emulator import LocalOrg
from sf_assets.main import _sync_line
from sf_assets_tests.conftest import operator_call

from .conftest import make_resources, run_config

SYNC_KEYS = {"rows_new", "rows_changed", "rows_retried", "rows_unchanged", "rows_deleted", "rows_skipped"}


def _everything() -> list[Any]:
    return [*(defs.assets or []), *(defs.asset_checks or [])]


def _run(resources: dict[str, Any], instance: dg.DagsterInstance, **config: Any) -> dg.ExecuteInProcessResult:
    settings = run_config(**config)
    # Flag rows after two failed runs instead of three, so two runs show the warning.
    for node in ("salesforce__account", "salesforce__contact"):
        settings["ops"][f"{node}_repeated_failures"] = {"config": {"runs": 2}}
    return dg.materialize(_everything(), resources=resources, run_config=settings, instance=instance)


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    [materialization] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in materialization.metadata.items()}


@pytest.fixture(scope="module")
def twice(
    local_org: LocalOrg, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]]:
    """Two runs of everything on the same source data (the sample tables regenerate identically).

    Shared by the module's tests, which only read the results: two runs take a while.
    """
    with local_org.requests_session() as session, pytest.MonkeyPatch.context() as monkeypatch:
        operator_call(local_org, session, "POST", "reset")
        resources = make_resources(local_org, tmp_path_factory.mktemp("twice"), monkeypatch)
        instance = dg.DagsterInstance.ephemeral()
        yield _run(resources, instance), _run(resources, instance)


@pytest.mark.parametrize("node", ["salesforce__account", "salesforce__contact"])
def test_the_second_run_sends_only_the_rows_that_failed(
    twice: tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult], node: str
) -> None:
    first, second = (_metadata(result, node) for result in twice)
    assert second["records_in"] == second["rows_retried"] == first["records_failed"]
    assert second["rows_skipped"] == first["records_written"]
    assert (second["rows_new"], second["rows_changed"]) == (0, 0)


def test_the_metadata_counts_rows_by_kind(twice: tuple[dg.ExecuteInProcessResult, Any]) -> None:
    metadata = _metadata(twice[1], "salesforce__account")
    assert set(metadata) >= SYNC_KEYS
    assert metadata["rows_unchanged"] + metadata["rows_retried"] == metadata["rows_in_source"] == 60


def test_re_sending_failures_does_not_trip_the_failure_ratio_checks(
    twice: tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult],
) -> None:
    second = twice[1]
    assert second.success
    outcomes = {(e.asset_key.path[-1], e.check_name): e.passed for e in second.get_asset_check_evaluations()}
    assert outcomes[("account", "failure_ratio_error")]
    assert outcomes[("contact", "failure_ratio_error")]


def _repeated_failures(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if (e.asset_key.path[-1], e.check_name) == ("contact", "repeated_failures")
    ]
    return evaluation


def test_rows_failing_once_raise_no_warning(twice: tuple[dg.ExecuteInProcessResult, Any]) -> None:
    assert _repeated_failures(twice[0]).passed


def test_rows_failing_run_after_run_raise_a_warning(twice: tuple[Any, dg.ExecuteInProcessResult]) -> None:
    # The sample data's planted failures fail in every run.
    evaluation = _repeated_failures(twice[1])
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.WARN)
    # Counted by key: both rows of a duplicated key are one failing key.
    streaks = _metadata(twice[1], "salesforce__contact")["failure_streaks"]
    assert evaluation.metadata["rows_failing_repeatedly"].value == streaks["2"] > 0


def test_a_full_resync_sends_every_row(resources: dict[str, Any]) -> None:
    instance = dg.DagsterInstance.ephemeral()
    _run(resources, instance)
    metadata = _metadata(_run(resources, instance, sync={"full_resync": True}), "salesforce__account")
    assert (metadata["records_in"], metadata["rows_skipped"]) == (60, 0)


def test_the_state_sits_beside_the_source_tables_by_default() -> None:
    source = SourceTables(accounts="/data/erp/accounts.parquet", contacts="/data/crm/contacts.parquet")
    assert str(sync_state(SyncConfig(), source, "contacts").directory) == "/data/crm/_sync_state/contact"


def test_the_state_directory_is_configurable() -> None:
    state = sync_state(SyncConfig(state_dir="/var/sync"), SourceTables(), "accounts")
    assert str(state.directory) == "/var/sync/account"


def test_the_main_job_summary_says_what_was_skipped(twice: tuple[Any, dg.ExecuteInProcessResult]) -> None:
    metadata = _metadata(twice[1], "salesforce__contact")
    line = _sync_line(metadata)
    assert line.startswith(f"skipped {metadata['rows_skipped']} of 200 rows; sent 0 new, 0 changed")
