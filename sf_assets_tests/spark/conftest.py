from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from sf_assets.emulator import LocalOrg
from sf_assets.spark import SalesforceBatchDataSource, WriteSummary, read_summary

Write = Callable[..., WriteSummary]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark for the whole run: two cores, no UI, Python workers on this interpreter."""
    # The data source's driver-side worker honours only the environment, not spark.pyspark.python.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sf-assets-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.dataSource.register(SalesforceBatchDataSource)
    yield session
    session.stop()


@pytest.fixture
def connection(org: LocalOrg) -> dict[str, str]:
    return json.loads((Path(org.data_dir) / "connection.json").read_text())


@pytest.fixture
def sf_creds(connection: dict[str, str]) -> dict[str, str]:
    """The blog's credential options, pointed at the local org (and trusting its CA)."""
    return {
        "username": connection["username"],
        "password": connection["password"],
        "security_token": connection["security_token"],
        "instance_url": connection["instance_url"],
        "ca_file": connection["ca_file"],
    }


@pytest.fixture
def write(sf_creds: dict[str, str], tmp_path: Path) -> Write:
    """Write a DataFrame with the given options (plus the org's credentials) and return its summary."""
    counter = iter(range(1_000_000))

    def run(df: DataFrame, **options: Any) -> WriteSummary:
        write_id = f"write-{next(counter)}"
        (
            df.write.format("salesforce-batch")
            .mode("append")
            .options(**sf_creds)
            .option("resultsPath", str(tmp_path / "results"))
            .option("writeId", write_id)
            .option("pollInterval", "0.02")
            .options(**{key: str(value) for key, value in options.items()})
            .save()
        )
        return read_summary(str(tmp_path / "results" / write_id))

    return run
