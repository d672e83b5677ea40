"""``python -m sf_assets.emulator`` as a process: its printed connection, readiness, signals and persistence."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REQUIRED_KEYS = {
    "instance_url", "ca_file", "username", "password", "security_token", "client_id", "client_secret", "api_version",
}  # fmt: skip


class Running:
    """One emulator process and the connection JSON it printed."""

    def __init__(self, data_dir: Path, *flags: str) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sf_assets.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                *flags,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.connection: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self.connection["ca_file"]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{self.connection['instance_url']}{path}", timeout=5, **kwargs)

    def token(self) -> str:
        c = self.connection
        response = self.session.post(
            f"{c['instance_url']}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": c["client_id"], "client_secret": c["client_secret"]},
            timeout=5,
        )
        return str(response.json()["access_token"])

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=10)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[Running] = []

    def run(*flags: str) -> Running:
        process = Running(tmp_path / "org", *flags)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(timeout=10)


def test_prints_connection_json_with_required_keys(start: Any) -> None:
    org = start()
    assert set(org.connection) >= REQUIRED_KEYS
    assert org.connection["instance_url"].startswith("https://127.0.0.1:")


def test_writes_connection_json(start: Any, tmp_path: Path) -> None:
    org = start()
    assert json.loads((tmp_path / "org" / "connection.json").read_text()) == org.connection


def test_is_ready_within_three_seconds(start: Any) -> None:
    org = start()
    assert org.get("/services/data/").status_code == 200
    assert time.monotonic() - org.started < 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_signal(start: Any, signum: int) -> None:
    org = start()
    assert org.get("/services/data/").status_code == 200
    assert org.stop(signum) == 0


def test_records_persist_across_restart(start: Any) -> None:
    first = start()
    loaded = first.session.post(
        f"{first.connection['instance_url']}/__org__/records/Account",
        json=[{"Name": "Persistent", "Oracle_Id__c": "ORA-P"}],
        headers={"Authorization": f"Bearer {first.token()}"},
        timeout=5,
    )
    assert loaded.status_code == 200
    assert first.stop() == 0
    second = start()
    response = second.get(
        "/services/data/v59.0/query",
        params={"q": "SELECT Name FROM Account WHERE Oracle_Id__c = 'ORA-P'"},
        headers={"Authorization": f"Bearer {second.token()}"},
    )
    assert [r["Name"] for r in response.json()["records"]] == ["Persistent"]


_ASYNC_JOB = (
    '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
    "<operation>insert</operation><object>Account</object><contentType>CSV</contentType></jobInfo>"
)


def _xml_field(document: str, name: str) -> str:
    """A child of a jobInfo or batchInfo document, by local name."""
    found = ET.fromstring(document).find(f"{{http://www.force.com/2009/06/asyncapi/dataload}}{name}")
    assert found is not None, document
    return found.text or ""


def _bulk1_batch_state(org: Running, headers: dict[str, str], path: str) -> str:
    return _xml_field(org.get(path, headers=headers).text, "state")


def test_bulk1_jobs_and_results_persist_across_restart(start: Any) -> None:
    first = start()
    headers = {"X-SFDC-Session": first.token(), "Content-Type": "application/xml; charset=UTF-8"}
    base = f"{first.connection['instance_url']}/services/async/59.0/job"
    created = first.session.post(base, data=_ASYNC_JOB, headers=headers, timeout=5).text
    job_id = _xml_field(created, "id")
    csv_headers = {**headers, "Content-Type": "text/csv; charset=UTF-8"}
    added = first.session.post(f"{base}/{job_id}/batch", data="Name\nKept\n", headers=csv_headers, timeout=5).text
    batch = f"/services/async/59.0/job/{job_id}/batch/{_xml_field(added, 'id')}"
    deadline = time.monotonic() + 10
    while _bulk1_batch_state(first, headers, batch) != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert first.stop() == 0
    second = start()
    headers["X-SFDC-Session"] = second.token()
    assert _bulk1_batch_state(second, headers, batch) == "Completed"
    assert second.get(f"{batch}/result", headers=headers).text.splitlines()[1].endswith('"true","true",""')


def _ingest_job(org: Running, headers: dict[str, str], data: str) -> str:
    """Runs a Contact insert job to JobComplete; returns its Id."""
    base = f"{org.connection['instance_url']}/services/data/v59.0/jobs/ingest"
    job_id = org.session.post(base, json={"object": "Contact", "operation": "insert"}, headers=headers).json()["id"]
    org.session.put(f"{base}/{job_id}/batches", data=data, headers={**headers, "Content-Type": "text/csv"})
    org.session.patch(f"{base}/{job_id}", json={"state": "UploadComplete"}, headers=headers)
    deadline = time.monotonic() + 10
    while org.get(f"/services/data/v59.0/jobs/ingest/{job_id}", headers=headers).json()["state"] != "JobComplete":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return str(job_id)


def test_discarded_results_not_yet_read_are_written_once_after_restart(start: Any) -> None:
    first = start("--discard-records")
    headers = {"Authorization": f"Bearer {first.token()}"}
    batches_of_two = {"processing": {"batch_size": 2}}
    configured = first.session.patch(
        f"{first.connection['instance_url']}/__org__/config", json=batches_of_two, headers=headers, timeout=5
    )
    assert configured.status_code == 200
    names = [f"Last {i}" for i in range(5)]
    job_id = _ingest_job(first, headers, '"LastName"\n' + "".join(f'"{name}"\n' for name in names))
    assert first.stop() == 0
    second = start("--discard-records")
    response = second.get(
        f"/services/data/v59.0/jobs/ingest/{job_id}/successfulResults",
        headers={"Authorization": f"Bearer {second.token()}"},
    )
    assert [line.split(",")[-1] for line in response.text.split("\n")[1:]] == [f'"{name}"' for name in names]
