"""Writes of a few thousand rows through ``salesforce-batch`` while the local org injects each kind of fault.

Every write either completes or fails cleanly, and the org holds exactly the rows the write reports as written:
none twice, none lost. Rows are Contacts inserted with a unique ``External_Id__c``, so a row sent twice shows up
(as a second record, or as a ``DUPLICATE_VALUE`` failure that breaks rows in = succeeded + failed + unprocessed).

Each fault runs on Bulk API 2.0 and on Bulk API 1.0. Its rules name the calls they strike by role (``on``), which
each API makes on its own paths; a value given per API (``{"2": ..., "1": ...}``) differs between them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets.spark import WriteSummary, read_summary
from sf_assets_tests.conftest import operator_call
from sf_assets_tests.spark.conftest import Write

from .conftest import SetFaults

ROWS = 3000
# Rows whose id ends in 07 get an invalid email: 30 rows Salesforce rejects, so failed results are downloaded too.
BAD_ROWS = 30
_BULK1 = r"/services/async/[\d.]+/job"
# The calls a write makes, by role, as (method, path) on each API. 2.0 hands a job's rows over for processing
# when it closes the job; 1.0 when it adds a batch (its "close" is of the partition's job, once all are added).
ENDPOINTS: dict[str, dict[str, tuple[str, str]]] = {
    "2": {
        "create": ("POST", r"/jobs/ingest/?$"),
        "upload": ("PUT", r"/jobs/ingest/\w+/batches$"),
        "close": ("PATCH", r"/jobs/ingest/\w+$"),
        "handover": ("PATCH", r"/jobs/ingest/\w+$"),
        "poll": ("GET", r"/jobs/ingest/\w+$"),
        "results": ("GET", r"/jobs/ingest/\w+/(failedResults|successfulResults|unprocessedrecords)$"),
        "any": ("*", r"/jobs/ingest"),
    },
    "1": {
        "create": ("POST", _BULK1 + r"/?$"),
        "upload": ("POST", _BULK1 + r"/\w+/batch/?$"),
        "close": ("POST", _BULK1 + r"/\w+/?$"),
        "handover": ("POST", _BULK1 + r"/\w+/batch/?$"),
        "poll": ("GET", _BULK1 + r"/\w+/batch/\w+/?$"),
        "results": ("GET", _BULK1 + r"/\w+/batch/\w+/(request|result)$"),
        "any": ("*", _BULK1),
    },
}
# Quick retries, two jobs in flight per partition, three jobs per partition.
OPTIONS = {
    "sobject": "Contact",
    "operation": "insert",
    "batchSize": 500,
    "maxJobsInFlight": 2,
    "maxPollInterval": 0.2,
    "maxRetries": 6,
    "retryDelay": 0.05,
    "successResults": "true",
}


@dataclass(frozen=True)
class Fault:
    """A fault kind: the rules that inject it, and what a write under it must do."""

    name: str
    rules: tuple[dict[str, Any], ...]
    options: dict[str, Any] = field(default_factory=dict)
    processing: dict[str, Any] = field(default_factory=dict)
    error: str | dict[str, str] = ""  # for faults no write can survive: what the failure must say
    # The org refuses every call afterwards, so results of jobs it finished cannot be read: the ledger names them.
    unreadable: bool = False

    def __str__(self) -> str:
        return self.name

    def rules_for(self, api: str) -> list[dict[str, Any]]:
        """The rules as the org takes them, on the given Bulk API's paths."""
        rules = []
        for rule in self.rules:
            method, path = ENDPOINTS[api][rule["on"]]
            rest = {key: _for_api(value, api) for key, value in rule.items() if key != "on"}
            rules.append({"method": method, "path": path, **rest})
        return rules

    def error_for(self, api: str) -> str:
        return str(_for_api(self.error, api))

    def write(self, write: Write, spark: SparkSession, api: str) -> WriteSummary:
        """The suite's write of ``ROWS`` rows with this fault's options, on the given Bulk API."""
        return write(_rows(spark), **{**OPTIONS, **self.options_for(api), "api_version": api})

    def options_for(self, api: str) -> dict[str, Any]:
        """The write options on the given Bulk API (an option given as None for an API is left out)."""
        options = {key: _for_api(value, api) for key, value in self.options.items()}
        return {key: value for key, value in options.items() if value is not None}


def _for_api(value: Any, api: str) -> Any:
    """A value given per API (``{"2": ..., "1": ...}``) as the given API's; any other value as is."""
    return value[api] if isinstance(value, dict) and set(value) == set(ENDPOINTS) else value


SURVIVABLE = [
    Fault("http_500_on_create", ({"on": "create", "action": "error", "probability": 0.3},)),
    Fault(
        "http_500_after_create",  # the job exists, the client never learns its id: an empty job, no rows
        ({"on": "create", "action": "error", "when": "after", "first": 2, "last": 3},),
    ),
    Fault("http_503_on_upload", ({"on": "upload", "action": "error", "status": 503, "last": 2},)),
    Fault("http_503_on_close", ({"on": "close", "action": "error", "status": 503, "last": 3},)),
    Fault(
        "http_403_request_limit_on_polls",
        ({"on": "poll", "action": "error", "status": 403, "probability": 0.2},),
    ),
    Fault(
        "http_429_everywhere",
        ({"on": "any", "action": "error", "status": 429, "retry_after": 1, "probability": 0.1},),
    ),
    Fault(
        "slow_responses",
        (
            {"on": "upload", "action": "delay", "seconds": 0.3},
            {"on": "poll", "action": "delay", "seconds": 0.2, "probability": 0.3},
        ),
    ),
    Fault("drop_before_close", ({"on": "close", "action": "drop", "last": 2},)),
    Fault("drop_before_upload", ({"on": "upload", "action": "drop", "last": 2},)),
    Fault("drop_on_polls", ({"on": "poll", "action": "drop", "probability": 0.2},)),
    Fault(
        "drop_mid_response_on_polls",
        ({"on": "poll", "action": "drop_mid_response", "probability": 0.2},),
    ),
    Fault(
        "drop_mid_response_on_results",
        ({"on": "results", "action": "drop_mid_response", "bytes": 100, "last": 4},),
    ),
    Fault(
        "session_revoked_mid_job",
        ({"on": "poll", "action": "revoke_session", "first": 3, "last": 3},),
    ),
    Fault("batches_requeued", ({"on": "handover", "action": "requeue_batch", "times": 2},)),
]

# The effect happened, the client cannot know: survivable only if nothing is sent twice.
AFTER_THE_FACT = [
    pytest.param(
        Fault(
            "http_500_after_upload",
            ({"on": "upload", "action": "error", "when": "after", "last": 1},),
        ),
    ),
    pytest.param(
        Fault("drop_after_upload", ({"on": "upload", "action": "drop", "when": "after", "last": 1},)),
    ),
    Fault("drop_after_close", ({"on": "close", "action": "drop", "when": "after", "last": 1},)),
    Fault(
        "http_500_after_poll",
        ({"on": "poll", "action": "error", "when": "after", "probability": 0.3},),
    ),
]


def _rows(spark: SparkSession) -> DataFrame:
    return spark.range(ROWS, numPartitions=2).select(
        F.concat(F.lit("R-"), F.col("id").cast("string")).alias("External_Id__c"),
        F.concat(F.lit("Reliable "), F.col("id").cast("string")).alias("LastName"),
        F.when(F.col("id") % 100 == 7, F.lit("not-an-email")).alias("Email"),
    )


def _org_keys(sf: Salesforce) -> Counter[str]:
    """Every Contact's external ID in the org, with how many records carry it."""
    records = sf.query_all("SELECT External_Id__c FROM Contact")["records"]
    return Counter(record["External_Id__c"] for record in records)


def _keys(paths: Iterable[Path]) -> set[str]:
    """The external IDs in these result files."""
    keys: set[str] = set()
    for path in paths:
        keys.update(pq.read_table(path, columns=["External_Id__c"]).column(0).to_pylist())
    return keys


def _not_written(summary: WriteSummary) -> set[str]:
    """External IDs of the rows the write reports as failed or unprocessed, from its result files."""
    root = Path(summary.results_dir)
    return _keys([*root.glob("failed/*.parquet"), *root.glob("unprocessed/*.parquet")])


def _fired(org: LocalOrg, session: requests.Session) -> list[int]:
    return [rule["fired"] for rule in operator_call(org, session, "GET", "faults").json()["rules"]]


def _unfinished(org: LocalOrg, session: requests.Session) -> dict[str, int]:
    """2.0 jobs and 1.0 batches the org is still to process, by state: none once a write has ended."""
    counters = operator_call(org, session, "GET", "counters").json()
    states = {state: count for state, count in counters["jobs"].items() if state in ("UploadComplete", "InProgress")}
    batches = counters["bulk1_batches"]
    states |= {f"batch {state}": count for state, count in batches.items() if state in ("Queued", "InProgress")}
    return states


def _jobs_created(org: LocalOrg, session: requests.Session) -> int:
    """How many jobs, of either API, the org holds."""
    counters = operator_call(org, session, "GET", "counters").json()
    return sum(counters["jobs"].values()) + sum(counters["bulk1_jobs"].values())


@pytest.mark.parametrize("fault", SURVIVABLE + AFTER_THE_FACT, ids=str)
def test_write_survives_fault_and_lands_exactly_what_it_reports(
    fault: Fault,
    spark: SparkSession,
    org: LocalOrg,
    org_session: requests.Session,
    sf: Salesforce,
    write: Write,
    faults: SetFaults,
    bulk_api: str,
) -> None:
    faults(*fault.rules_for(bulk_api))
    summary = fault.write(write, spark, bulk_api)
    assert all(_fired(org, org_session)), f"a rule of {fault} never fired"
    assert summary.status == "succeeded"
    # Survived by the writer itself: no partition leaned on Spark retrying its task.
    assert [partition["attempt"] for partition in summary.partitions] == [0] * len(summary.partitions)
    assert summary.records_in == ROWS == summary.succeeded + summary.failed + summary.unprocessed
    assert summary.errors_by_code == {"INVALID_EMAIL_ADDRESS": BAD_ROWS}
    landed = _org_keys(sf)
    assert max(landed.values()) == 1
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == summary.succeeded == ROWS - BAD_ROWS
    assert set(landed) == {f"R-{i}" for i in range(ROWS)} - _not_written(summary)
    assert _unfinished(org, org_session) == {}


# A 1.0 job's batches run in parallel, so which of them a job fault meets (and whether one has finished before it)
# depends on timing; in Serial mode the fault meets the next batch in line, after the ones before it finished.
_IN_ORDER_ON_BULK1: dict[str, Any] = {"concurrencyMode": {"2": None, "1": "Serial"}}

# Faults no write survives: the write must fail, name the cause, and have sent nothing twice.
FATAL = [
    Fault(
        "job_failed_internal_server_error",
        ({"on": "handover", "action": "fail_job", "first": 2, "last": 2},),
        options=_IN_ORDER_ON_BULK1,
        error="InternalServerError",
    ),
    pytest.param(
        Fault(
            "daily_api_requests_run_out",
            ({"on": "poll", "action": "exhaust_limit", "first": 4, "last": 4},),
            options={"maxRetries": 2},
            error={"2": "REQUEST_LIMIT_EXCEEDED", "1": "ExceededQuota: TotalRequests Limit exceeded"},
            unreadable=True,
        ),
        marks=pytest.mark.slow,
    ),
    pytest.param(
        Fault(
            "daily_bulk_allocation_runs_out",
            (
                {
                    "on": "handover",
                    "action": "exhaust_limit",
                    # Bulk API 1.0 counts batches against the daily allocation; 2.0 counts records too.
                    "limit": {"2": "DailyBulkV2IngestRecords", "1": "DailyBulkApiBatches"},
                    "first": 3,
                    "last": 3,
                },
            ),
            error="ExceededQuota",
        ),
        marks=pytest.mark.slow,
    ),
    pytest.param(
        Fault(
            "job_failed_after_a_batch",
            ({"on": "handover", "action": "fail_job", "after_batches": 1, "first": 2, "last": 2},),
            options=_IN_ORDER_ON_BULK1,
            processing={"batch_size": 200},
            error="InternalServerError",
        ),
    ),
]


@pytest.mark.parametrize("fault", FATAL, ids=str)
def test_write_fails_cleanly_under_fatal_fault_and_reports_every_row_that_landed(
    fault: Fault,
    spark: SparkSession,
    org: LocalOrg,
    org_session: requests.Session,
    sf: Salesforce,
    write: Write,
    faults: SetFaults,
    tmp_path: Path,
    bulk_api: str,
) -> None:
    if fault.processing:
        operator_call(org, org_session, "PATCH", "config", {"processing": fault.processing})
    faults(*fault.rules_for(bulk_api))
    with pytest.raises(Exception, match=fault.error_for(bulk_api)):
        fault.write(write, spark, bulk_api)
    assert all(_fired(org, org_session)), f"a rule of {fault} never fired"
    [results] = (tmp_path / "results").iterdir()
    assert read_summary(str(results)).status == "aborted"
    operator_call(org, org_session, "PATCH", "config", {"limits": {"DailyApiRequests": 10**7}})  # to read the org
    landed = _org_keys(sf)
    assert max(landed.values(), default=1) == 1
    reported = _keys(results.glob("successful/*.parquet"))
    if fault.unreadable:
        # Jobs handed to Salesforce whose outcome could not be read stay in the ledger, with their row counts.
        pending = [json.loads(path.read_text()) for path in results.glob("_ledger/*/*.pending.json")]
        assert reported <= set(landed)
        assert len(set(landed) - reported) <= sum(entry["rows"] for entry in pending)
    else:
        assert set(landed) == reported


def test_write_is_refused_before_sending_when_the_daily_allocation_cannot_carry_it(
    spark: SparkSession,
    org: LocalOrg,
    org_session: requests.Session,
    write: Write,
    faults: SetFaults,
    bulk_api: str,
) -> None:
    faults({"method": "GET", "path": r"/limits$", "action": "exhaust_limit", "remaining": 100, "when": "before"})
    with pytest.raises(Exception, match=r"refusing to write: the org has \d+ of 1,000,000 DailyApiRequests left"):
        write(_rows(spark), **OPTIONS, api_version=bulk_api)
    contacts = operator_call(org, org_session, "GET", "counters").json()["records"]["Contact"]
    assert (_jobs_created(org, org_session), contacts) == (0, 0)
