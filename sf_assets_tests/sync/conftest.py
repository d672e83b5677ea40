from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession

from sf_assets.emulator import LocalOrg
from sf_assets.resources import SalesforceBulkResource
from sf_assets.sync import SyncState


@pytest.fixture
def state(tmp_path: Path) -> SyncState:
    return SyncState(tmp_path / "state" / "account")


@pytest.fixture
def salesforce(org: LocalOrg, spark: SparkSession, tmp_path: Path) -> Iterator[SalesforceBulkResource]:
    """The resource on the test org, set up as in a run (getOrCreate() hands it the test SparkSession)."""
    connection = json.loads((Path(org.data_dir) / "connection.json").read_text())
    resource = SalesforceBulkResource(
        pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        instance_url=connection["instance_url"],
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        ca_file=connection["ca_file"],
        results_path=str(tmp_path / "results"),
    )
    with dg.build_resources({"salesforce": resource}) as resources:
        yield resources.salesforce
