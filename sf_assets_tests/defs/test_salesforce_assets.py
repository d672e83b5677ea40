"""The whole sync, materialized in process against the local org."""

from __future__ import annotations

import re
from typing import Any

import dagster as dg
import pytest
from simple_salesforce import Salesforce

from sf_assets.definitions import defs

from .conftest import run_config

METADATA_KEYS = {
    "dagster/row_count",
    "records_written",
    "records_failed",
    "records_unprocessed",
    "errors_by_code",
    "partition_timings",
    "duration_seconds",
    "failed_rows_path",
    "failed_rows_sample",
    "job_ids",
}
# The local org's access tokens: 00D + 15 characters, "!", then the secret part.
_ACCESS_TOKEN = re.compile(r"00D\w{15}!\S{20,}")


def _everything() -> list[Any]:
    return [*(defs.assets or []), *(defs.asset_checks or [])]


@pytest.fixture
def synced(resources: dict[str, Any]) -> tuple[dg.ExecuteInProcessResult, dg.DagsterInstance]:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(_everything(), resources=resources, run_config=run_config(), instance=instance)
    return result, instance


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    [materialization] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in materialization.metadata.items()}


def test_the_sync_writes_what_it_reports(synced: tuple[dg.ExecuteInProcessResult, Any], sf: Salesforce) -> None:
    result, _ = synced
    assert result.success
    accounts, contacts = _metadata(result, "salesforce__account"), _metadata(result, "salesforce__contact")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] <= accounts["records_written"]
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == contacts["records_written"]
    assert accounts["records_written"] + accounts["records_failed"] == 60
    assert contacts["records_written"] + contacts["records_failed"] == 200


def test_contacts_land_linked_to_their_accounts(synced: tuple[dg.ExecuteInProcessResult, Any], sf: Salesforce) -> None:
    orphans = sf.query("SELECT COUNT() FROM Contact WHERE AccountId = null")["totalSize"]
    assert orphans == 0


@pytest.mark.parametrize("node", ["salesforce__account", "salesforce__contact"])
def test_every_materialization_records_the_metadata(synced: tuple[dg.ExecuteInProcessResult, Any], node: str) -> None:
    metadata = _metadata(synced[0], node)
    assert set(metadata) >= METADATA_KEYS
    assert isinstance(metadata["records_written"], int)
    assert metadata["records_failed"] > 0  # the sample data plants failures
    assert sum(metadata["errors_by_code"].values()) == metadata["records_failed"]


def test_the_checks_pass_on_planted_failures_below_the_error_threshold(
    synced: tuple[dg.ExecuteInProcessResult, Any],
) -> None:
    outcomes = {(e.asset_key.path[-1], e.check_name): e.passed for e in synced[0].get_asset_check_evaluations()}
    assert outcomes[("account", "failure_ratio_error")]
    assert outcomes[("account", "reconciliation")]
    assert outcomes[("contact", "reconciliation")]


def test_secrets_appear_nowhere_in_the_event_log(
    synced: tuple[dg.ExecuteInProcessResult, dg.DagsterInstance], resources: dict[str, Any]
) -> None:
    result, instance = synced
    log_text = "\n".join(repr(record) for record in instance.all_logs(result.run_id))
    secret = resources["salesforce"].client_secret.get_value()
    assert secret not in log_text
    assert not _ACCESS_TOKEN.search(log_text)


def test_a_blocking_check_keeps_contacts_from_loading(resources: dict[str, Any], sf: Salesforce) -> None:
    config = run_config(salesforce__account_failure_ratio_error=0.001)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        _everything(), resources=resources, run_config=config, instance=instance, raise_on_error=False
    )
    assert not result.success
    evaluations = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations[("account", "failure_ratio_error")] is False
    assert result.asset_materializations_for_node("salesforce__account")
    assert not result.asset_materializations_for_node("salesforce__contact")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
