"""Lock contention through ``salesforce-batch`` with the org's lock model on.

Contacts whose parent accounts are interleaved across partitions (and so across parallel jobs) make Salesforce
fail rows with ``UNABLE_TO_LOCK_ROW``; the same contacts grouped by parent (repartition by the account key, sorted
within partitions, as ``salesforce/contact`` does) contend for nothing. With resends on, the writer still lands
every interleaved row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sf_assets.emulator import LocalOrg
from sf_assets.spark import WriteSummary
from sf_assets_tests.conftest import operator_call
from sf_assets_tests.spark.conftest import Write

PARENTS = 4
CONTACTS = 1600
PARENT = "Account.Oracle_Id__c"
# Four jobs of 400 rows, two partitions each with two jobs in flight; resends quick.
OPTIONS = {
    "sobject": "Contact",
    "operation": "upsert",
    "upsertField": "External_Id__c",
    "batchSize": 400,
    "maxJobsInFlight": 2,
    "maxPollInterval": 0.2,
    "retryDelay": 0.1,
}


@pytest.fixture
def locking_org(org: LocalOrg, org_session: requests.Session, lock_model: None) -> LocalOrg:
    """The org with parent accounts P-0..P-3 and contention on: 200-row transactions take 0.2 s, far longer
    than the 0.05 s a contender waits for a lock."""
    accounts = [{"Name": f"Parent {i}", "Oracle_Id__c": f"P-{i}"} for i in range(PARENTS)]
    operator_call(org, org_session, "POST", "records/Account", accounts)
    return org


@pytest.fixture
def lock_model(org: LocalOrg, org_session: requests.Session) -> Iterator[None]:
    processing = {"lock_model": True, "lock_wait": 0.05, "records_per_second": 1000}
    operator_call(org, org_session, "PATCH", "config", {"processing": processing})
    yield
    restore = {"lock_model": False, "lock_wait": 0.1, "records_per_second": 0.0}
    operator_call(org, org_session, "PATCH", "config", {"processing": restore})


def _contacts(spark: SparkSession) -> DataFrame:
    """Contacts whose parents take turns row by row: every 200-row transaction names every parent."""
    return spark.range(CONTACTS, numPartitions=2).select(
        F.concat(F.lit("L-"), F.col("id").cast("string")).alias("External_Id__c"),
        F.concat(F.lit("Locked "), F.col("id").cast("string")).alias("LastName"),
        F.concat(F.lit("P-"), (F.col("id") % PARENTS).cast("string")).alias(PARENT),
    )


def _grouped(df: DataFrame) -> DataFrame:
    parent = F.col(f"`{PARENT}`")
    return df.repartition(2, parent).sortWithinPartitions(parent)


def _jobs(summary: WriteSummary) -> list[dict[str, Any]]:
    return [job for partition in summary.partitions for job in partition["jobs"]]


def _contacts_in_org(org: LocalOrg, session: requests.Session) -> int:
    return int(operator_call(org, session, "GET", "counters").json()["records"]["Contact"])


def test_interleaved_parents_fail_rows_with_unable_to_lock_row(
    spark: SparkSession, locking_org: LocalOrg, org_session: requests.Session, write: Write, bulk_api: str
) -> None:
    summary = write(_contacts(spark), **OPTIONS, maxRowRetries=0, api_version=bulk_api)
    print(
        f"\nLOCKS interleaved, no resends: {summary.to_json()['errors_by_code']}, retries "
        f"{[job['retries'] for job in _jobs(summary)]}, succeeded {summary.succeeded}"
    )
    assert set(summary.errors_by_code) == {"UNABLE_TO_LOCK_ROW"}
    assert summary.failed == summary.errors_by_code["UNABLE_TO_LOCK_ROW"] > 0
    assert _contacts_in_org(locking_org, org_session) == summary.succeeded == CONTACTS - summary.failed


def test_parents_grouped_by_partition_never_contend(
    spark: SparkSession, locking_org: LocalOrg, org_session: requests.Session, write: Write, bulk_api: str
) -> None:
    summary = write(_grouped(_contacts(spark)), **OPTIONS, maxRowRetries=0, api_version=bulk_api)
    print(
        f"\nLOCKS grouped: {summary.to_json()['errors_by_code']}, retries "
        f"{[job['retries'] for job in _jobs(summary)]}, succeeded {summary.succeeded}"
    )
    assert (summary.succeeded, summary.failed, summary.unprocessed) == (CONTACTS, 0, 0)
    assert [job["retries"] for job in _jobs(summary)] == [0] * len(_jobs(summary))
    assert _contacts_in_org(locking_org, org_session) == CONTACTS


def test_resends_land_every_interleaved_row(
    spark: SparkSession, locking_org: LocalOrg, org_session: requests.Session, write: Write, bulk_api: str
) -> None:
    summary = write(_contacts(spark), **OPTIONS, api_version=bulk_api)
    jobs = _jobs(summary)
    print(
        f"\nLOCKS interleaved, resends: jobs {len(jobs)}, resent {[job['resent'] for job in jobs]}, "
        f"retries {[job['retries'] for job in jobs]}, succeeded {summary.succeeded}"
    )
    assert sum(job["resent"] for job in jobs) > 0
    assert [job["retry_of"] is not None for job in jobs].count(True) > 0
    assert (summary.succeeded, summary.failed, summary.unprocessed) == (CONTACTS, 0, 0)
    assert _contacts_in_org(locking_org, org_session) == CONTACTS
