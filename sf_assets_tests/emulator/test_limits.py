"""Daily allocations under Bulk API 2.0 load: the ingest record quota and the Sforce-Limit-Info header."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.limits import DEFAULT_MAXIMA, INGEST_RECORDS, INGEST_RECORDS_MAX
from sf_assets.emulator.processing import ProcessingModel

_BATCH = 100


class _Api:
    """Plain HTTPS calls with one session, so that every call's response headers can be read."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.org = org
        self.session = session
        self.headers = {"Authorization": f"Bearer {org.new_session()}"}
        self.jobs = f"{org.instance_url}/services/data/v59.0/jobs/ingest"

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.session.request(method, url, headers=headers, **kwargs)

    def configure(self, body: dict[str, Any]) -> None:
        response = self.call("PATCH", f"{self.org.instance_url}/__org__/config", json=body)
        assert response.status_code == 200, response.text

    def ingest(self, data: str) -> dict[str, Any]:
        """Runs an Account insert job to its end; returns the final JobInfo."""
        job = self.call("POST", self.jobs, json={"object": "Account", "operation": "insert"}).json()
        self.call("PUT", f"{self.jobs}/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"})
        self.call("PATCH", f"{self.jobs}/{job['id']}", json={"state": "UploadComplete"})
        deadline = time.monotonic() + 10
        while (info := self.call("GET", f"{self.jobs}/{job['id']}").json())["state"] not in ("JobComplete", "Failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.02)
        return dict(info)


@pytest.fixture
def api(org: LocalOrg, org_session: Any) -> Iterator[_Api]:
    """Internal batches of 100 records; the org's processing model and maxima are restored after."""
    client = _Api(org, org_session)
    client.configure({"processing": {"batch_size": _BATCH}})
    yield client
    client.configure(
        {
            "processing": {"batch_size": ProcessingModel().batch_size},
            "limits": {
                INGEST_RECORDS: INGEST_RECORDS_MAX,
                "DailyBulkApiBatches": DEFAULT_MAXIMA["DailyBulkApiBatches"],
            },
        }
    )


def _accounts(n: int) -> str:
    return "Name\n" + "".join(f"Account {i}\n" for i in range(n))


def _usage(response: Any) -> tuple[int, int]:
    name, _, value = response.headers["Sforce-Limit-Info"].partition("=")
    assert name == "api-usage"
    used, _, maximum = value.partition("/")
    return int(used), int(maximum)


def test_job_fails_with_exceeded_quota_when_daily_records_run_out(api: _Api) -> None:
    # Room for one internal batch of 100 but not two, whichever batch the org takes first.
    api.configure({"limits": {INGEST_RECORDS: 150}})
    info = api.ingest(_accounts(3 * _BATCH))
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "ExceededQuota : The daily limit of Bulk API batches or records has been exceeded"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (_BATCH, 0)


def test_records_of_batches_over_quota_are_unprocessed_and_not_written(api: _Api, org: LocalOrg) -> None:
    api.configure({"limits": {INGEST_RECORDS: 150}})
    info = api.ingest(_accounts(3 * _BATCH))
    response = api.call("GET", f"{api.jobs}/{info['id']}/unprocessedrecords")
    unprocessed = [row["Name"] for row in csv.DictReader(io.StringIO(response.text))]
    successful = api.call("GET", f"{api.jobs}/{info['id']}/successfulResults").text
    written = [row["Name"] for row in csv.DictReader(io.StringIO(successful))]
    assert len(unprocessed) == 2 * _BATCH
    assert sorted(unprocessed + written) == sorted(f"Account {i}" for i in range(3 * _BATCH))
    assert org.store.count(org.schema.get("Account")) == _BATCH  # type: ignore[arg-type]


def test_ingest_record_quota_is_drawn_down_by_processed_records(api: _Api) -> None:
    api.ingest(_accounts(2 * _BATCH + 5))
    counters = api.call("GET", f"{api.org.instance_url}/__org__/counters").json()
    assert counters["limits"][INGEST_RECORDS]["Remaining"] == INGEST_RECORDS_MAX - (2 * _BATCH + 5)


def test_job_fails_with_exceeded_quota_when_daily_batches_run_out(api: _Api) -> None:
    api.configure({"limits": {"DailyBulkApiBatches": 1}})
    info = api.ingest(_accounts(2 * _BATCH))
    assert info["state"] == "Failed"
    assert info["errorMessage"].startswith("ExceededQuota : ")
    assert info["numberRecordsProcessed"] == _BATCH


def test_limit_info_header_counts_every_bulk_call(api: _Api) -> None:
    job = api.call("POST", api.jobs, json={"object": "Account", "operation": "insert"})
    url = f"{api.jobs}/{job.json()['id']}"
    upload = api.call("PUT", f"{url}/batches", data=_accounts(3), headers={"Content-Type": "text/csv"})
    close = api.call("PATCH", url, json={"state": "UploadComplete"})
    info = api.call("GET", url)
    used = [_usage(r)[0] for r in (job, upload, close, info)]
    assert used == [used[0], used[0] + 1, used[0] + 2, used[0] + 3]


def test_limit_info_header_shows_the_daily_api_request_maximum(api: _Api) -> None:
    response = api.call("GET", api.jobs)
    assert _usage(response)[1] == DEFAULT_MAXIMA["DailyApiRequests"]


def test_limit_info_header_matches_limits_resource_after_bulk_load(api: _Api) -> None:
    api.ingest(_accounts(3 * _BATCH))
    response = api.call("GET", f"{api.org.instance_url}/services/data/v59.0/limits")
    used, maximum = _usage(response)
    assert maximum - used == response.json()["DailyApiRequests"]["Remaining"]


def test_limit_info_header_is_on_error_responses_too(api: _Api) -> None:
    response = api.call("GET", f"{api.jobs}/750000000000000AAA")
    assert response.status_code == 404
    assert _usage(response)[0] >= 1
