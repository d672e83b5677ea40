from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession

from sf_assets.defs.source_tables import SourceTables
from sf_assets.emulator import LocalOrg
from sf_assets.resources import SalesforceBulkResource

SECRET_ENV = {"SF_TEST_CLIENT_ID": "client_id", "SF_TEST_CLIENT_SECRET": "client_secret"}


@pytest.fixture
def resources(org: LocalOrg, spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Resources pointing at the test org, secrets through EnvVar, source tables in a temporary directory."""
    return make_resources(org, tmp_path, monkeypatch)


def make_resources(org: LocalOrg, directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The resources of :func:`resources`, for fixtures of other scopes (``monkeypatch`` sets the secrets)."""
    connection = json.loads((Path(org.data_dir) / "connection.json").read_text())
    for variable, key in SECRET_ENV.items():
        monkeypatch.setenv(variable, connection[key])
    salesforce = SalesforceBulkResource(
        pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        instance_url=connection["instance_url"],
        ca_file=connection["ca_file"],
        client_id=dg.EnvVar("SF_TEST_CLIENT_ID"),
        client_secret=dg.EnvVar("SF_TEST_CLIENT_SECRET"),
        results_path=str(directory / "results"),
    )
    source = SourceTables(accounts=str(directory / "accounts.parquet"), contacts=str(directory / "contacts.parquet"))
    return {"salesforce": salesforce, "source": source}


def run_config(
    accounts: int = 60, contacts: int = 200, *, sync: dict[str, Any] | None = None, **checks: float
) -> dict[str, Any]:
    """Small sample sizes, two partitions, optional sync config, and optional check thresholds by check op name."""
    sync = {"config": {"partitions": 2, **(sync or {})}}
    ops: dict[str, Any] = {
        "sample_source_tables": {"config": {"accounts": accounts, "contacts": contacts}},
        "salesforce__account": sync,
        "salesforce__contact": sync,
    }
    ops.update({name: {"config": {"max_failure_ratio": limit}} for name, limit in checks.items()})
    return {"ops": ops}
