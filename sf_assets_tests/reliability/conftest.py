"""Reliability fixtures: the Spark ``write`` helper and its credentials, plus fault rules that always get cleared."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from pyspark.sql import SparkSession

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.processing import ProcessingModel
from sf_assets_tests.conftest import operator_call, wait_for_idle_tasks
from sf_assets_tests.spark.conftest import connection, sf_creds, write  # noqa: F401 - fixtures reused here

SetFaults = Callable[..., dict[str, Any]]


@pytest.fixture
def faults(org: LocalOrg, org_session: requests.Session, spark: SparkSession) -> Iterator[SetFaults]:
    """Install fault rules (``faults(rule, ...)``); teardown waits for the tasks of a failed write to end, then
    clears the rules, refills the limits and restores the processing model and the limits' maxima, whatever the
    test did."""

    def install(*rules: dict[str, Any], seed: int = 42) -> dict[str, Any]:
        return dict(operator_call(org, org_session, "PUT", "faults", {"seed": seed, "rules": list(rules)}).json())

    maxima = {
        name: limit["Max"]
        for name, limit in operator_call(org, org_session, "GET", "counters").json()["limits"].items()
    }
    yield install
    wait_for_idle_tasks(spark)
    operator_call(org, org_session, "DELETE", "faults")
    operator_call(org, org_session, "POST", "reset")  # a spent daily allocation stays spent otherwise
    defaults = ProcessingModel()
    operator_call(
        org,
        org_session,
        "PATCH",
        "config",
        {
            "processing": {
                "batch_size": defaults.batch_size,
                "records_per_second": defaults.records_per_second,
                "lock_model": defaults.lock_model,
                "lock_wait": defaults.lock_wait,
                "lock_retries": defaults.lock_retries,
                "queue_latency": defaults.queue_latency,
            }
        },
    )
    operator_call(org, org_session, "PATCH", "config", {"limits": maxima})
