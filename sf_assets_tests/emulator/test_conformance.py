"""The org's Bulk API 2.0 responses have the shape of the recorded Salesforce responses.

Each recorded response in ``../shared/reference/recorded/bulk2/jobs_*.json`` is replayed as the same call
against the org: status code, JSON keys (in recorded order where the org follows it) and result-CSV quoting.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from sf_assets.emulator import LocalOrg

from .reference import RECORDED_DIR, SKIP_REASON

RECORDED = RECORDED_DIR / "bulk2" if RECORDED_DIR else None
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


class Job:
    """One ingest job driven over plain HTTPS, step by step."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.session = session
        self.auth = {"Authorization": f"Bearer {org.new_session()}"}
        self.base = f"{org.instance_url}/services/data/v59.0/jobs/ingest"
        self.id = ""

    def create(self) -> Any:
        response = self.session.post(self.base, json={"object": "Account", "operation": "insert"}, headers=self.auth)
        self.id = response.json()["id"]
        return response

    def upload(self, csv: str) -> Any:
        headers = {**self.auth, "Content-Type": "text/csv"}
        return self.session.put(f"{self.base}/{self.id}/batches", data=csv.encode(), headers=headers)

    def patch(self, state: str) -> Any:
        return self.session.patch(f"{self.base}/{self.id}", json={"state": state}, headers=self.auth)

    def get(self, suffix: str = "") -> Any:
        return self.session.get(f"{self.base}/{self.id}{suffix}", headers=self.auth)

    def finish(self, csv: str) -> None:
        self.create()
        self.upload(csv)
        self.patch("UploadComplete")
        deadline = time.monotonic() + 10
        while self.get().json()["state"] not in ("JobComplete", "Failed") and time.monotonic() < deadline:
            time.sleep(0.05)


_TWO = "Name\nSalesforce.com\nUniversal Containers\n"
_TOO_LONG = "Name\n" + "x" * 256 + "\n" + "y" * 256 + "\n"


def _create(job: Job) -> Any:
    return job.create()


def _batches(job: Job) -> Any:
    job.create()
    return job.upload(_TWO)


def _close(job: Job) -> Any:
    job.create()
    job.upload(_TWO)
    return job.patch("UploadComplete")


def _info(job: Job) -> Any:
    job.create()
    return job.get()


def _all(job: Job) -> Any:
    job.create()
    return job.session.get(job.base, headers=job.auth)


def _successes(job: Job) -> Any:
    job.finish(_TWO)
    return job.get("/successfulResults")


def _failures(job: Job) -> Any:
    job.finish(_TOO_LONG)
    return job.get("/failedResults")


def _unprocessed(job: Job) -> Any:
    job.create()
    job.upload(_TWO)
    job.patch("Aborted")
    return job.get("/unprocessedrecords")


def _delete(job: Job) -> Any:
    job.finish(_TWO)
    return job.session.delete(f"{job.base}/{job.id}", headers=job.auth)


SCENARIOS: dict[str, Callable[[Job], Any]] = {
    "jobs_create_200.json": _create,
    "jobs_batches_201.json": _batches,
    "jobs_update_close_200.json": _close,
    "jobs_get_job_info_200.json": _info,
    "jobs_get_all_200.json": _all,
    "jobs_get_successes_200.json": _successes,
    "jobs_get_failures_200.json": _failures,
    "jobs_get_unprocessed_200.json": _unprocessed,
    "jobs_delete_204.json": _delete,
}
ORDERED = {"jobs_create_200.json", "jobs_update_close_200.json", "jobs_get_job_info_200.json"}


def _recorded_files() -> list[Any]:
    if RECORDED is None:
        return [pytest.param("", marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [p.name for p in sorted(RECORDED.glob("jobs_*.json"))]


def _assert_csv_shape(actual: str, recorded: str) -> None:
    assert not actual.endswith("\n")
    actual_lines, recorded_lines = actual.split("\n"), recorded.split("\n")
    assert actual_lines[0] == recorded_lines[0]
    assert len(actual_lines) == len(recorded_lines)
    columns = len(recorded_lines[0].split(","))
    for line in actual_lines[1:]:
        values = _QUOTED.findall(line)
        assert ",".join(values) == line
        assert len(values) == columns


@pytest.mark.parametrize("name", _recorded_files())
def test_response_has_recorded_shape(org: LocalOrg, org_session: Any, name: str) -> None:
    assert RECORDED is not None
    recorded = json.loads((RECORDED / name).read_text())
    response = SCENARIOS[name](Job(org, org_session))
    assert response.status_code == recorded["status_code"]
    body = recorded["body"]
    if body is None:
        assert response.content == b""
    elif isinstance(body, str):
        assert response.headers["Content-Type"].startswith("text/csv")
        _assert_csv_shape(response.text, body)
    elif name in ORDERED:
        assert list(response.json()) == list(body)
    else:
        actual = response.json()
        assert set(actual) == set(body)
        assert [set(r) for r in actual["records"]] == [set(r) for r in body["records"]]


def test_every_recorded_call_has_a_scenario() -> None:
    if RECORDED is None:
        pytest.skip(SKIP_REASON)
    assert {p.name for p in RECORDED.glob("jobs_*.json")} <= set(SCENARIOS)
