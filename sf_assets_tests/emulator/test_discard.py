"""Discard mode: ingest jobs complete with every row successful, and no record is stored."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.__main__ import config_from_argv


class _Api:
    """Plain HTTPS calls with one session: the operator routes and Contact ingest jobs."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.org = org
        self.session = session
        self.headers = {"Authorization": f"Bearer {org.new_session()}"}
        self.jobs = f"{org.instance_url}/services/data/v59.0/jobs/ingest"

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.session.request(method, url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def configure(self, processing: dict[str, Any]) -> Any:
        return self.call("PATCH", f"{self.org.instance_url}/__org__/config", json={"processing": processing})

    def stored_contacts(self) -> int:
        return int(self.call("GET", f"{self.org.instance_url}/__org__/counters").json()["records"]["Contact"])

    def ingest(self, operation: str, data: str) -> tuple[dict[str, Any], list[str]]:
        """Runs a Contact job to its end; returns its final JobInfo and successful-results lines."""
        job = self.call("POST", self.jobs, json={"object": "Contact", "operation": operation}).json()
        self.call("PUT", f"{self.jobs}/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"})
        self.call("PATCH", f"{self.jobs}/{job['id']}", json={"state": "UploadComplete"})
        deadline = time.monotonic() + 10
        while (info := self.call("GET", f"{self.jobs}/{job['id']}").json())["state"] not in ("JobComplete", "Failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.02)
        results = self.call("GET", f"{self.jobs}/{job['id']}/successfulResults/").text.split("\n")
        return dict(info), results


@pytest.fixture
def api(org: LocalOrg, org_session: Any) -> Iterator[_Api]:
    """The org in discard mode; storing is switched back on after the test."""
    client = _Api(org, org_session)
    assert client.configure({"store_records": False}).status_code == 200
    yield client
    assert client.configure({"store_records": True}).status_code == 200


def test_insert_completes_with_every_row_processed(api: _Api) -> None:
    info, _ = api.ingest("insert", "FirstName,LastName\nAda,Lovelace\nAlan,Turing\n")
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 2, 0)


def test_insert_stores_no_record(api: _Api) -> None:
    api.ingest("insert", "FirstName,LastName\nAda,Lovelace\nAlan,Turing\n")
    assert api.stored_contacts() == 0


def test_successful_results_carry_new_contact_ids_and_the_rows(api: _Api) -> None:
    _, lines = api.ingest("insert", "FirstName,LastName\nAda,Lovelace\nAlan,Turing\n")
    assert lines[0] == '"sf__Id","sf__Created",FirstName,LastName'
    rows = [line.split(",") for line in lines[1:]]
    assert [row[2:] for row in rows] == [['"Ada"', '"Lovelace"'], ['"Alan"', '"Turing"']]
    record_ids = [row[0].strip('"') for row in rows]
    assert all(len(i) == 18 and i.startswith("003") for i in record_ids)
    assert len(set(record_ids)) == 2
    assert [row[1] for row in rows] == ['"true"', '"true"']


def test_rows_that_would_fail_validation_succeed(api: _Api) -> None:
    info, _ = api.ingest("insert", "FirstName,Email\nAda,not-an-email\n")  # no LastName, a bad email
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (1, 0)


def test_update_reports_the_given_ids_and_changes_nothing(api: _Api) -> None:
    assert api.configure({"store_records": True}).status_code == 200
    loaded = api.call("POST", f"{api.org.instance_url}/__org__/records/Contact", json=[{"LastName": "Lovelace"}])
    record_id = loaded.json()[0]["id"]
    assert api.configure({"store_records": False}).status_code == 200
    _, lines = api.ingest("update", f"Id,LastName\n{record_id},Byron\n")
    assert lines[1] == f'"{record_id}","false","{record_id}","Byron"'
    query = api.call(
        "GET",
        f"{api.org.instance_url}/services/data/v59.0/query",
        params={"q": f"SELECT LastName FROM Contact WHERE Id = '{record_id}'"},
    )
    assert query.json()["records"][0]["LastName"] == "Lovelace"


def test_config_rejects_a_store_records_that_is_not_a_boolean(api: _Api) -> None:
    response = api.configure({"store_records": "false"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_cli_flag_turns_storing_off(tmp_path: Path) -> None:
    assert config_from_argv(["--data-dir", str(tmp_path), "--discard-records"]).processing.store_records is False


def test_cli_stores_records_by_default(tmp_path: Path) -> None:
    assert config_from_argv(["--data-dir", str(tmp_path)]).processing.store_records is True


def test_quoted_records_are_echoed_as_sent(api: _Api) -> None:
    info, lines = api.ingest("insert", 'FirstName,LastName\n"Ada","Love, ""lace""\nline two"\nAlan,Turing\n')
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 0)
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    assert [row[1:] for row in rows[1:]] == [["true", "Ada", 'Love, "lace"\nline two'], ["true", "Alan", "Turing"]]
