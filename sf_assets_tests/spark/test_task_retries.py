"""Spark task retries against the local org: a Python worker killed mid-write, then the task's second attempt."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets_tests.conftest import operator_call

from .conftest import Write


@pytest.fixture
def slow_jobs(org: LocalOrg, org_session: requests.Session) -> Iterator[None]:
    operator_call(org, org_session, "PATCH", "config", {"processing": {"queue_latency": 0.3}})
    yield
    operator_call(org, org_session, "PATCH", "config", {"processing": {"queue_latency": 0.0}})


def _writing_workers(port: int) -> list[psutil.Process]:
    """Spark's Python workers talking to the org: the ones running the write. Idle pooled workers must live, or
    Spark would hand the retried task a dead one."""
    workers = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "pyspark.daemon" not in " ".join(process.cmdline()):
                continue
            for worker in process.children():
                if any(c.raddr and c.raddr.port == port for c in worker.net_connections(kind="tcp")):
                    workers.append(worker)
        except psutil.NoSuchProcess:
            continue
    return workers


def _completed_jobs(org: LocalOrg, session: requests.Session) -> int:
    """2.0 jobs and 1.0 batches (the writer's jobs on Bulk API 1.0) the org has completed."""
    completed = int(operator_call(org, session, "GET", "counters").json()["jobs"].get("JobComplete", 0))
    return completed + sum(batch.state == "Completed" for job in list(org.bulk1.jobs.values()) for batch in job.batches)


@pytest.mark.slow
def test_a_killed_worker_does_not_duplicate_inserts(
    spark: SparkSession,
    org: LocalOrg,
    org_session: requests.Session,
    sf: Salesforce,
    write: Write,
    slow_jobs: None,
    bulk_api: str,
) -> None:
    df = spark.range(100).select(F.concat(F.lit("Account "), F.col("id").cast("string")).alias("Name")).coalesce(1)
    killed: list[psutil.Process] = []

    def kill_after_two_jobs() -> None:
        # The write must run in the test's own thread: Spark looks registered data sources up per thread.
        deadline = time.monotonic() + 60
        while _completed_jobs(org, org_session) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.extend(_writing_workers(org.port))
        for worker in killed:
            worker.kill()

    killer = threading.Thread(target=kill_after_two_jobs)
    killer.start()
    summary = write(
        df, sobject="Account", operation="insert", batchSize="20", maxJobsInFlight="1", api_version=bulk_api
    )
    killer.join()
    assert killed, "no Python worker was running the task"
    assert (summary.records_in, summary.succeeded) == (100, 100)
    assert [partition["attempt"] for partition in summary.partitions] == [1]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 100
    assert not Path(summary.results_dir, "_ledger").exists()
