from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.sql import SparkSession
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets.spark import SalesforceBatchDataSource

pytest_plugins = ["sf_assets.emulator.testing"]


def operator_call(org: LocalOrg, session: Any, method: str, path: str, body: Any = None) -> Any:
    """Call one of the org's ``/__org__/`` operator routes and return the response."""
    response = session.request(
        method,
        f"{org.instance_url}/__org__/{path}",
        json=body,
        headers={"Authorization": f"Bearer {org.new_session()}"},
    )
    assert response.status_code < 300, response.text
    return response


def wait_for_idle_tasks(spark: SparkSession, timeout: float = 60.0) -> None:
    """Wait until no Spark task runs. A write that fails cancels its stage, but a task already talking to the org
    ends only when it next hears from Spark: meanwhile its calls would count against the next test's fault rules."""
    tracker = spark.sparkContext._jsc.sc().statusTracker()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while sum(executor.numRunningTasks() for executor in tracker.getExecutorInfos()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Spark tasks still running {timeout:.0f}s after the test")
        time.sleep(0.05)


@pytest.fixture
def org(local_org: LocalOrg, org_session: Any) -> LocalOrg:
    """The session's org, emptied: each test starts from no records and no jobs."""
    operator_call(local_org, org_session, "POST", "reset")
    return local_org


@pytest.fixture
def sf(org: LocalOrg, org_session: Any) -> Salesforce:
    """simple-salesforce, unmodified, on a session id and instance URL (no login call)."""
    return Salesforce(instance_url=org.instance_url, session_id=org.new_session(), session=org_session, version="59.0")


@pytest.fixture(params=["2", "1"], ids=["bulk2", "bulk1"])
def bulk_api(request: pytest.FixtureRequest) -> str:
    """The writer's ``api_version``: the same behaviour through Bulk API 2.0 and Bulk API 1.0."""
    return str(request.param)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark for the whole run: two cores, no UI, Python workers on this interpreter."""
    # The data source's driver-side worker honours only the environment, not spark.pyspark.python.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2, 2]")  # a failed task gets a second attempt, as on a cluster
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
