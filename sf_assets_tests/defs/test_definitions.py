from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from sf_assets.definitions import defs
from sf_assets.defs.jobs import daily_salesforce_sync
from sf_assets.defs.resources import connection_from_env

ACCOUNT = dg.AssetKey(["salesforce", "account"])
CONTACT = dg.AssetKey(["salesforce", "contact"])


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_contacts_depend_on_accounts() -> None:
    graph = defs.resolve_asset_graph()
    assert ACCOUNT in graph.get(CONTACT).parent_keys


def test_salesforce_assets_are_grouped_and_kinded() -> None:
    graph = defs.resolve_asset_graph()
    for key in (ACCOUNT, CONTACT):
        node = graph.get(key)
        assert node.group_name == "salesforce"
        assert node.kinds == {"spark", "salesforce"}
        assert node.owners == ["team:data-platform"]


def _check_specs() -> dict[tuple[dg.AssetKey, str], dg.AssetCheckSpec]:
    return {(spec.asset_key, spec.name): spec for checks in defs.asset_checks or [] for spec in checks.check_specs}


def test_every_salesforce_asset_has_its_checks() -> None:
    names = {name for key, name in _check_specs() if key in (ACCOUNT, CONTACT)}
    assert names == {"failure_ratio_error", "failure_ratio_warn", "reconciliation", "repeated_failures"}


def test_only_the_error_ratio_check_blocks() -> None:
    blocking = {name for (key, name), spec in _check_specs().items() if key == ACCOUNT and spec.blocking}
    assert blocking == {"failure_ratio_error"}


def test_the_sync_job_selects_the_salesforce_assets() -> None:
    job = defs.resolve_job_def("salesforce_sync")
    assert set(job.asset_layer.selected_asset_keys) == {ACCOUNT, CONTACT}


def test_the_schedule_requests_a_sync_run() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
    run_requests = daily_salesforce_sync.evaluate_tick(context).run_requests or []
    assert len(run_requests) == 1
    assert (daily_salesforce_sync.job_name, daily_salesforce_sync.cron_schedule) == ("salesforce_sync", "0 2 * * *")


def test_runs_share_one_process_and_spark_session() -> None:
    assert defs.resolve_job_def("full_sync").executor_def.name == "in_process"


def test_connection_comes_from_set_environment_variables_only() -> None:
    fields = connection_from_env({"SF_INSTANCE_URL": "https://acme.my.salesforce.com", "SF_PASSWORD": "", "X": "1"})
    assert list(fields) == ["instance_url"]
    assert fields["instance_url"].env_var_name == "SF_INSTANCE_URL"
