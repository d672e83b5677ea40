"""Bulk API 1.0 ingest: simple-salesforce's ``sf.bulk`` client unmodified, and raw XML job/batch flows."""

from __future__ import annotations

import csv
import io
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets_tests.conftest import operator_call

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"
_CLOSE = b'<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>'
_ABORT = b'<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Aborted</state></jobInfo>'


def _fields(text: str) -> dict[str, str]:
    """A jobInfo, batchInfo or error document's children by local name."""
    return {child.tag.removeprefix(NS): child.text or "" for child in ET.fromstring(text)}


def _job_xml(operation: str = "insert", mode: str = "Parallel", extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
        f"<operation>{operation}</operation><object>Account</object>{extra}"
        f"<concurrencyMode>{mode}</concurrencyMode><contentType>CSV</contentType></jobInfo>"
    ).encode()


class Classic:
    """A Bulk API 1.0 client over plain HTTPS, speaking XML and CSV like Data Loader."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.session = session
        self.headers = {"X-SFDC-Session": org.new_session(), "Content-Type": "application/xml; charset=UTF-8"}
        self.base = f"{org.instance_url}/services/async/59.0/job"

    def post(self, path: str, body: bytes, content_type: str | None = None) -> Any:
        headers = {**self.headers, "Content-Type": content_type or self.headers["Content-Type"]}
        return self.session.post(self.base + path, data=body, headers=headers)

    def get(self, path: str) -> Any:
        return self.session.get(self.base + path, headers=self.headers)

    def create(self, operation: str = "insert", mode: str = "Parallel", extra: str = "") -> str:
        response = self.post("", _job_xml(operation, mode, extra))
        assert response.status_code == 201, response.text
        return _fields(response.text)["id"]

    def add(self, job_id: str, data: str) -> str:
        response = self.post(f"/{job_id}/batch", data.encode(), "text/csv")
        assert response.status_code == 201, response.text
        return _fields(response.text)["id"]

    def batch(self, job_id: str, batch_id: str) -> dict[str, str]:
        return _fields(self.get(f"/{job_id}/batch/{batch_id}").text)

    def states(self, job_id: str) -> list[str]:
        listing = ET.fromstring(self.get(f"/{job_id}/batch").text)
        return [info.findtext(f"{NS}state") or "" for info in listing]

    def wait(self, job_id: str, batch_id: str, timeout: float = 10) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while (info := self.batch(job_id, batch_id))["state"] in ("Queued", "InProgress"):
            assert time.monotonic() < deadline, info
            time.sleep(0.02)
        return info

    def results(self, job_id: str, batch_id: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.get(f"/{job_id}/batch/{batch_id}/result").text)))


@pytest.fixture
def classic(org: LocalOrg, org_session: Any) -> Classic:
    return Classic(org, org_session)


@pytest.fixture
def slow_batches(org: LocalOrg, org_session: Any) -> Iterator[None]:
    """Every batch takes 0.25 s, so that which batches overlap is observable; the org is shared, so restore it."""
    auth = {"Authorization": f"Bearer {org.new_session()}"}
    url = f"{org.instance_url}/__org__/config"
    org_session.patch(url, json={"processing": {"batch_overhead": 0.25}}, headers=auth).raise_for_status()
    try:
        yield
    finally:
        org_session.patch(url, json={"processing": {"batch_overhead": 0.0}}, headers=auth).raise_for_status()


def _accounts(n: int, prefix: str = "ORA") -> list[dict[str, Any]]:
    return [{"Name": f"Account {i}", "Oracle_Id__c": f"{prefix}-{i}"} for i in range(n)]


# -- simple-salesforce's sf.bulk, unmodified ---------------------------------------------------------


def test_sf_bulk_insert_reports_each_record(sf: Salesforce) -> None:
    results = sf.bulk.Account.insert([{"Name": "Acme"}, {"Name": ""}])
    assert results[0]["success"] is True
    assert results[0]["created"] is True
    assert results[0]["id"].startswith("001")
    assert len(results[0]["id"]) == 18
    assert results[1] == {
        "success": False,
        "created": False,
        "id": None,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }


def test_sf_bulk_upsert_creates_then_updates_by_external_id(sf: Salesforce) -> None:
    first = sf.bulk.Account.upsert(_accounts(3), "Oracle_Id__c")
    second = sf.bulk.Account.upsert([{"Name": "Renamed", "Oracle_Id__c": "ora-1"}], "Oracle_Id__c")
    assert [r["created"] for r in first] == [True, True, True]
    assert second[0]["created"] is False
    assert second[0]["id"] == first[1]["id"]
    assert sf.query("SELECT Name FROM Account WHERE Oracle_Id__c = 'ORA-1'")["records"][0]["Name"] == "Renamed"


def test_sf_bulk_update_changes_records_by_id(sf: Salesforce) -> None:
    [created] = sf.bulk.Account.insert([{"Name": "Before"}])
    [updated] = sf.bulk.Account.update([{"Id": created["id"], "Name": "After"}])
    assert (updated["success"], updated["created"], updated["id"]) == (True, False, created["id"])
    assert sf.Account.get(created["id"])["Name"] == "After"


def test_sf_bulk_delete_then_hard_delete(sf: Salesforce) -> None:
    soft, hard = sf.bulk.Account.insert([{"Name": "Soft"}, {"Name": "Hard"}])
    [deleted] = sf.bulk.Account.delete([{"Id": soft["id"]}])
    [removed] = sf.bulk.Account.hard_delete([{"Id": hard["id"]}])
    assert deleted["success"]
    assert removed["success"]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf.query("SELECT Name FROM Account", include_deleted=True)["records"][0]["Name"] == "Soft"


def test_sf_bulk_serial_batches_return_results_in_record_order(sf: Salesforce) -> None:
    results = sf.bulk.Account.insert(_accounts(5), batch_size=2, use_serial=True)
    names = {r["Name"]: r["Id"] for r in sf.query("SELECT Id, Name FROM Account")["records"]}
    assert [r["id"] for r in results] == [names[f"Account {i}"] for i in range(5)]


def test_sf_bulk_detailed_results_echo_the_batch_request(sf: Salesforce) -> None:
    [result] = sf.bulk.Account.insert([{"Name": "Acme", "Phone": "1"}], include_detailed_results=True)
    assert (result["success"], result["Name"], result["Phone"]) == (True, "Acme", "1")


def test_sf_bulk_json_relationship_and_null(sf: Salesforce) -> None:
    sf.bulk.Account.insert([{"Name": "Parent", "Oracle_Id__c": "P-1", "Phone": "5"}])
    [child] = sf.bulk.Contact.insert([{"LastName": "Kid", "Account": {"Oracle_Id__c": "P-1"}}])
    [cleared] = sf.bulk.Account.upsert([{"Oracle_Id__c": "P-1", "Phone": None}], "Oracle_Id__c")
    parent = sf.query("SELECT Id, Phone FROM Account")["records"][0]
    assert sf.Contact.get(child["id"])["AccountId"] == parent["Id"]
    assert cleared["success"]
    assert parent["Phone"] is None


# -- raw XML and CSV ---------------------------------------------------------------------------------


def test_create_job_answers_201_with_job_info(classic: Classic) -> None:
    response = classic.post("", _job_xml("upsert", "Serial", "<externalIdFieldName>Oracle_Id__c</externalIdFieldName>"))
    info = _fields(response.text)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/xml")
    assert (info["state"], info["concurrencyMode"], info["contentType"]) == ("Open", "Serial", "CSV")
    assert (info["externalIdFieldName"], info["apiVersion"], info["numberBatchesTotal"]) == (
        "Oracle_Id__c",
        "59.0",
        "0",
    )


def test_csv_batch_completes_with_id_success_created_error_results(classic: Classic) -> None:
    job_id = classic.create()
    batch_id = classic.add(job_id, "Name,Phone\nAcme,1\n,2\n")
    info = classic.wait(job_id, batch_id)
    rows = classic.results(job_id, batch_id)
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("Completed", "2", "1")
    assert list(rows[0]) == ["Id", "Success", "Created", "Error"]
    assert (rows[0]["Success"], rows[0]["Created"], rows[0]["Error"]) == ("true", "true", "")
    assert rows[1] == {
        "Id": "",
        "Success": "false",
        "Created": "false",
        "Error": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
    }


def test_result_csv_quotes_every_value(classic: Classic) -> None:
    job_id = classic.create()
    batch_id = classic.add(job_id, "Name\nAcme\n")
    classic.wait(job_id, batch_id)
    lines = classic.get(f"/{job_id}/batch/{batch_id}/result").text.splitlines()
    assert lines[0] == '"Id","Success","Created","Error"'
    assert lines[1].endswith('","true","true",""')


def test_unknown_column_fails_the_batch_with_invalid_batch(classic: Classic) -> None:
    job_id = classic.create()
    info = classic.wait(job_id, classic.add(job_id, "Name,Nope__c\nAcme,1\n"))
    assert (info["state"], info["stateMessage"]) == ("Failed", "InvalidBatch : Field name not found : Nope__c")


def test_closed_job_counts_its_batches(classic: Classic) -> None:
    job_id = classic.create()
    batches = [classic.add(job_id, "Name\nA\nB\n"), classic.add(job_id, "Name\n\n")]
    for batch_id in batches:
        classic.wait(job_id, batch_id)
    info = _fields(classic.post(f"/{job_id}", _CLOSE).text)
    assert info["state"] == "Closed"
    assert (info["numberBatchesCompleted"], info["numberBatchesTotal"], info["numberRecordsProcessed"]) == (
        "2",
        "2",
        "2",
    )


def test_closed_job_refuses_more_batches(classic: Classic) -> None:
    job_id = classic.create()
    classic.post(f"/{job_id}", _CLOSE)
    response = classic.post(f"/{job_id}/batch", b"Name\nLate\n", "text/csv")
    assert response.status_code == 400
    assert _fields(response.text)["exceptionCode"] == "InvalidJobState"


def test_batch_over_10000_records_fails(classic: Classic) -> None:
    job_id = classic.create()
    info = classic.wait(job_id, classic.add(job_id, "Name\n" + "x\n" * 10_001))
    assert info["state"] == "Failed"
    assert info["stateMessage"] == (
        "InvalidBatch : Exceeded number of records : 10002. Number of records should be less than or equal to 10001"
    )


def test_batch_over_10_mb_is_refused(classic: Classic) -> None:
    job_id = classic.create()
    response = classic.post(f"/{job_id}/batch", b"Name\n" + b"x" * 10_000_000, "text/csv")
    error = _fields(response.text)
    assert response.status_code == 400
    assert (error["exceptionCode"], error["exceptionMessage"]) == (
        "ClientInputError",
        "Failed to read request. Exceeded max size limit of 10000000",
    )


def test_bad_xml_is_an_invalid_xml_error(classic: Classic) -> None:
    response = classic.post("", b"<jobInfo><operation>insert</jobInfo>")
    assert response.status_code == 400
    assert _fields(response.text)["exceptionCode"] == "InvalidXML"


def test_unknown_job_is_invalid_job(classic: Classic) -> None:
    response = classic.get("/750000000000000AAA")
    assert response.status_code == 400
    assert _fields(response.text)["exceptionCode"] == "InvalidJob"


def test_unknown_batch_is_invalid_batch(classic: Classic) -> None:
    job_id = classic.create()
    response = classic.get(f"/{job_id}/batch/751000000000000AAA")
    assert response.status_code == 400
    assert _fields(response.text)["exceptionCode"] == "InvalidBatch"


def test_unknown_object_is_invalid_job(classic: Classic) -> None:
    response = classic.post("", _job_xml().replace(b"Account", b"Nope__c"))
    assert _fields(response.text) == {
        "exceptionCode": "InvalidJob",
        "exceptionMessage": "Unable to find object: Nope__c",
    }


def test_invalid_session_is_an_xml_error_with_status_400(org: LocalOrg, org_session: Any) -> None:
    response = org_session.get(f"{org.instance_url}/services/async/59.0/job/x", headers={"X-SFDC-Session": "bad"})
    assert response.status_code == 400
    assert _fields(response.text) == {"exceptionCode": "InvalidSessionId", "exceptionMessage": "Invalid session id"}


def test_bearer_token_is_accepted(org: LocalOrg, org_session: Any) -> None:
    headers = {"Authorization": f"Bearer {org.new_session()}", "Content-Type": "application/xml"}
    response = org_session.post(f"{org.instance_url}/services/async/59.0/job", data=_job_xml(), headers=headers)
    assert response.status_code == 201


def test_json_request_gets_json_answers(classic: Classic) -> None:
    body = b'{"operation": "insert", "object": "Account", "contentType": "JSON"}'
    info = classic.post("", body, "application/json").json()
    missing = classic.session.get(classic.base + "/nope", headers={**classic.headers, "Accept": "application/json"})
    assert missing.json() == {"exceptionCode": "InvalidJob", "exceptionMessage": "Invalid job id: nope"}
    assert (info["state"], info["contentType"], info["apiVersion"]) == ("Open", "JSON", 59.0)
    assert list(info) == sorted(info)


def test_each_batch_takes_one_daily_batch(sf: Salesforce, classic: Classic) -> None:
    before = sf.limits()["DailyBulkApiBatches"]["Remaining"]
    job_id = classic.create()
    classic.add(job_id, "Name\nA\n")
    classic.add(job_id, "Name\nB\n")
    assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == before - 2


@pytest.mark.usefixtures("slow_batches")
def test_serial_job_runs_one_batch_at_a_time_in_order(classic: Classic) -> None:
    job_id = classic.create(mode="Serial")
    for i in range(3):
        classic.add(job_id, f"Name\nA{i}\n")
    seen = []
    while (states := classic.states(job_id)).count("Completed") < 3:
        seen.append(states)
        time.sleep(0.02)
    assert max(s.count("InProgress") for s in seen) == 1
    # Never is a later batch further along than an earlier one.
    rank = {"Completed": 2, "InProgress": 1, "Queued": 0}
    assert all([rank[s] for s in states] == sorted([rank[s] for s in states], reverse=True) for states in seen)


@pytest.mark.usefixtures("slow_batches")
def test_parallel_job_runs_batches_concurrently(classic: Classic) -> None:
    job_id = classic.create(mode="Parallel")
    for i in range(2):
        classic.add(job_id, f"Name\nA{i}\n")
    most = 0
    while (states := classic.states(job_id)).count("Completed") < 2:
        most = max(most, states.count("InProgress"))
        time.sleep(0.02)
    assert most == 2


@pytest.mark.usefixtures("slow_batches")
def test_abort_leaves_queued_batches_not_processed(classic: Classic) -> None:
    job_id = classic.create(mode="Serial")
    first, _, last = (classic.add(job_id, f"Name\nA{i}\n") for i in range(3))
    aborted = _fields(classic.post(f"/{job_id}", _ABORT).text)
    assert aborted["state"] == "Aborted"
    assert classic.wait(job_id, first)["state"] in ("Completed", "NotProcessed")
    assert classic.batch(job_id, last)["state"] == "NotProcessed"


def test_operator_counters_count_bulk1_jobs_and_batches_by_state(
    classic: Classic, org: LocalOrg, org_session: Any
) -> None:
    job_id = classic.create()
    batch_id = classic.add(job_id, "Name\nA\n")
    classic.wait(job_id, batch_id)
    counters = operator_call(org, org_session, "GET", "counters").json()
    assert (counters["bulk1_jobs"], counters["bulk1_batches"]) == ({"Open": 1}, {"Completed": 1})
