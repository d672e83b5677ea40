"""Bulk API 1.0 serial mode against the org's lock model: a parent-heavy load without lock failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sf_assets.emulator import LocalOrg
from sf_assets_tests.conftest import operator_call

from .conftest import Write


@pytest.fixture
def contended_org(org: LocalOrg, org_session: requests.Session) -> Iterator[LocalOrg]:
    """Locks on, and 200-row transactions slow enough (0.2 s) that parallel batches overlap."""
    settings = {"lock_model": True, "lock_wait": 0.05, "records_per_second": 1000, "parallel_batches": 2}
    operator_call(org, org_session, "PATCH", "config", {"processing": settings})
    yield org
    defaults = {"lock_model": False, "lock_wait": 0.1, "records_per_second": 0.0, "parallel_batches": 2}
    operator_call(org, org_session, "PATCH", "config", {"processing": defaults})


def _load(spark: SparkSession, write: Write, mode: str) -> int:
    accounts = spark.createDataFrame(
        [(f"ORA-{i}", f"Account {i}") for i in range(2)], "Oracle_Id__c string, Name string"
    )
    write(accounts, sobject="Account", operation="upsert", upsertField="Oracle_Id__c")
    # Every batch holds children of both parents: in parallel, batches wait on each other's parent locks.
    contacts = spark.range(1200).select(
        F.concat(F.lit("C-"), F.col("id").cast("string")).alias("External_Id__c"),
        F.concat(F.lit("Last "), F.col("id").cast("string")).alias("LastName"),
        F.concat(F.lit("ORA-"), (F.col("id") % 2).cast("string")).alias("Account.Oracle_Id__c"),
    )
    summary = write(
        contacts.coalesce(1),
        sobject="Contact",
        operation="upsert",
        upsertField="External_Id__c",
        api_version="1",
        concurrencyMode=mode,
        batchSize="400",
        maxJobsInFlight="3",
        maxRowRetries="0",
    )
    return int(summary.errors_by_code.get("UNABLE_TO_LOCK_ROW", 0))


@pytest.mark.slow
def test_parallel_batches_fight_over_parents(spark: SparkSession, write: Write, contended_org: LocalOrg) -> None:
    assert _load(spark, write, "Parallel") > 0


@pytest.mark.slow
def test_serial_batches_never_fight_over_parents(spark: SparkSession, write: Write, contended_org: LocalOrg) -> None:
    assert _load(spark, write, "Serial") == 0
