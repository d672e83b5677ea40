"""Bulk API 2.0 ingest driven by simple-salesforce's own bulk2 client, unmodified."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from sf_assets.emulator import LocalOrg


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _ingest(sf: Salesforce, sobject: str, operation: str, data: str, **job: Any) -> str:
    """Runs one job from literal CSV (simple-salesforce orders a dict's columns arbitrarily)."""
    client = getattr(sf.bulk2, sobject)._client
    job_id = client.create_job(operation, **job)["id"]
    client.upload_job_data(job_id, data)
    client.close_job(job_id)
    client.wait_for_job(job_id, is_query=False, wait=0.05)
    return str(job_id)


def _accounts(n: int, prefix: str = "ORA") -> list[dict[str, Any]]:
    return [{"Name": f"Account {i}", "Oracle_Id__c": f"{prefix}-{i}"} for i in range(n)]


def test_insert_reports_processed_and_failed(sf: Salesforce) -> None:
    results = sf.bulk2.Account.insert(records=[{"Name": "Acme"}, {"Name": ""}], wait=0.05)
    assert results[0]["numberRecordsProcessed"] == 2
    assert results[0]["numberRecordsFailed"] == 1


def test_successful_results_carry_new_ids_and_echo_columns(sf: Salesforce) -> None:
    [result] = sf.bulk2.Account.insert(records=[{"Name": "Acme", "AnnualRevenue": 912260031}], wait=0.05)
    text = sf.bulk2.Account.get_successful_records(result["job_id"])
    header = text.splitlines()[0]
    assert header.startswith('"sf__Id","sf__Created",')
    assert sorted(header.split(",")[2:]) == ["AnnualRevenue", "Name"]
    [row] = _rows(text)
    assert row["sf__Id"].startswith("001")
    assert len(row["sf__Id"]) == 18
    assert (row["sf__Created"], row["Name"], row["AnnualRevenue"]) == ("true", "Acme", "9.12260031E8")


def test_failed_results_carry_salesforce_error_string(sf: Salesforce) -> None:
    [result] = sf.bulk2.Account.insert(records=[{"Name": "", "Phone": "1"}], wait=0.05)
    [row] = _rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert row["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    assert row["sf__Id"] == ""


def test_upsert_creates_then_updates_by_external_id(sf: Salesforce) -> None:
    first = sf.bulk2.Account.upsert(records=_accounts(3), external_id_field="Oracle_Id__c", wait=0.05)
    second = sf.bulk2.Account.upsert(
        records=[{"Name": "Renamed", "Oracle_Id__c": "ora-1"}], external_id_field="Oracle_Id__c", wait=0.05
    )
    [row] = _rows(sf.bulk2.Account.get_successful_records(second[0]["job_id"]))
    assert first[0]["numberRecordsFailed"] == 0
    assert row["sf__Created"] == "false"
    assert sf.query("SELECT Name FROM Account WHERE Oracle_Id__c = 'ORA-1'")["records"][0]["Name"] == "Renamed"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3


def test_upsert_rejects_every_row_sharing_an_external_id(sf: Salesforce) -> None:
    records = [
        {"Name": "A", "Oracle_Id__c": "X-1"},
        {"Name": "B", "Oracle_Id__c": "x-1"},
        {"Name": "C", "Oracle_Id__c": "X-2"},
    ]
    [result] = sf.bulk2.Account.upsert(records=records, external_id_field="Oracle_Id__c", wait=0.05)
    errors = {r["Name"]: r["sf__Error"] for r in _rows(sf.bulk2.Account.get_failed_records(result["job_id"]))}
    assert errors == {
        "A": "DUPLICATE_VALUE:Duplicate external id specified: X-1:--",
        "B": "DUPLICATE_VALUE:Duplicate external id specified: x-1:--",
    }


@pytest.fixture
def small_batches(org: LocalOrg, org_session: Any) -> Any:
    """Internal batches of 2 records, restored to the default after the test."""

    def configure(size: int) -> None:
        response = org_session.patch(
            f"{org.instance_url}/__org__/config",
            json={"processing": {"batch_size": size}},
            headers={"Authorization": f"Bearer {org.new_session()}"},
        )
        assert response.status_code == 200

    configure(2)
    yield
    configure(10_000)


@pytest.mark.usefixtures("small_batches")
def test_upsert_rejects_an_external_id_repeated_in_another_internal_batch(sf: Salesforce) -> None:
    data = "Name,Oracle_Id__c\nA,X-1\nB,X-2\nC,X-3\nD,x-1\n"
    job_id = _ingest(sf, "Account", "upsert", data, external_id_field="Oracle_Id__c")
    failed = {r["Name"] for r in _rows(sf.bulk2.Account.get_failed_records(job_id))}
    assert failed == {"A", "D"}


def test_relationship_column_links_child_to_parent(sf: Salesforce) -> None:
    sf.bulk2.Account.upsert(records=_accounts(2), external_id_field="Oracle_Id__c", wait=0.05)
    contacts = [
        {"LastName": "Doe", "External_Id__c": "C-1", "Account.Oracle_Id__c": "ORA-1"},
        {"LastName": "Roe", "External_Id__c": "C-2", "Account.Oracle_Id__c": "ORA-404"},
    ]
    [result] = sf.bulk2.Contact.upsert(records=contacts, external_id_field="External_Id__c", wait=0.05)
    [failed] = _rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    linked = sf.query("SELECT LastName, Account.Oracle_Id__c FROM Contact WHERE External_Id__c = 'C-1'")
    assert linked["records"][0]["Account"]["Oracle_Id__c"] == "ORA-1"
    assert failed["sf__Error"] == (
        "INVALID_FIELD:Foreign key external ID: ORA-404 not found for field Oracle_Id__c in entity Account:--"
    )


def test_na_clears_a_field_and_empty_leaves_it(sf: Salesforce) -> None:
    sf.bulk2.Account.upsert(
        records=[{"Name": "A", "Oracle_Id__c": "N-1", "Phone": "555", "Website": "a.example"}],
        external_id_field="Oracle_Id__c",
        wait=0.05,
    )
    sf.bulk2.Account.upsert(
        records=[{"Name": "A", "Oracle_Id__c": "N-1", "Phone": "#N/A", "Website": ""}],
        external_id_field="Oracle_Id__c",
        wait=0.05,
    )
    record = sf.query("SELECT Phone, Website FROM Account WHERE Oracle_Id__c = 'N-1'")["records"][0]
    assert (record["Phone"], record["Website"]) == (None, "a.example")


def test_update_and_delete_by_id(sf: Salesforce) -> None:
    [created] = sf.bulk2.Account.insert(records=[{"Name": "A"}, {"Name": "B"}], wait=0.05)
    ids = [r["sf__Id"] for r in _rows(sf.bulk2.Account.get_successful_records(created["job_id"]))]
    sf.bulk2.Account.update(records=[{"Id": ids[0], "Name": "A2"}], wait=0.05)
    [deleted] = sf.bulk2.Account.delete(records=[{"Id": ids[1]}], wait=0.05)
    assert deleted["numberRecordsFailed"] == 0
    assert [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]] == ["A2"]
    assert sf.query("SELECT COUNT() FROM Account", include_deleted=True)["totalSize"] == 2


def test_deleting_a_deleted_record_fails_with_entity_is_deleted(sf: Salesforce) -> None:
    [created] = sf.bulk2.Account.insert(records=[{"Name": "A"}], wait=0.05)
    [record_id] = [r["sf__Id"] for r in _rows(sf.bulk2.Account.get_successful_records(created["job_id"]))]
    sf.bulk2.Account.delete(records=[{"Id": record_id}], wait=0.05)
    [again] = sf.bulk2.Account.delete(records=[{"Id": record_id}], wait=0.05)
    [row] = _rows(sf.bulk2.Account.get_failed_records(again["job_id"]))
    assert row["sf__Error"] == "ENTITY_IS_DELETED:entity is deleted:--"


def test_hard_delete_removes_the_row(sf: Salesforce) -> None:
    [created] = sf.bulk2.Account.insert(records=[{"Name": "A"}], wait=0.05)
    [record_id] = [r["sf__Id"] for r in _rows(sf.bulk2.Account.get_successful_records(created["job_id"]))]
    sf.bulk2.Account.hard_delete(records=[{"Id": record_id}], wait=0.05)
    assert sf.query("SELECT COUNT() FROM Account", include_deleted=True)["totalSize"] == 0


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("Name", "x" * 256,
         f"STRING_TOO_LONG:Account Name: data value too large: {'x' * 256} (max length=255):Name --"),
        ("NumberOfEmployees", "many", "INVALID_FIELD:Failed to deserialize field at col 1. Due to, 'many' is not a "
         "valid value for the type xsd:int:NumberOfEmployees --"),
        ("CleanStatus", "Shiny", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Clean Status: bad value for restricted "
         "picklist field: Shiny:CleanStatus --"),
        ("ParentId", "not-an-id", "MALFORMED_ID:Parent Account ID: id value of incorrect type: not-an-id:ParentId --"),
    ],
)  # fmt: skip
def test_field_validation_errors(sf: Salesforce, field: str, value: str, error: str) -> None:
    data = f"Name\n{value}\n" if field == "Name" else f"Name,{field}\nA,{value}\n"
    job_id = _ingest(sf, "Account", "insert", data)
    [row] = _rows(sf.bulk2.Account.get_failed_records(job_id))
    assert row["sf__Error"] == error


def test_invalid_email_is_a_record_error(sf: Salesforce) -> None:
    [result] = sf.bulk2.Contact.insert(records=[{"LastName": "Doe", "Email": "not-an-email"}], wait=0.05)
    [row] = _rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    assert row["sf__Error"] == "INVALID_EMAIL_ADDRESS:Email: invalid email address: not-an-email:Email --"


def test_unknown_column_fails_the_job(sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError, match="InvalidBatch : Field name not found : Nmae"):
        sf.bulk2.Account.insert(records=[{"Nmae": "Acme"}], wait=0.05)


def test_upsert_on_a_field_that_is_not_an_external_id_fails_the_job(sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError, match="Email is not an External ID"):
        sf.bulk2.Contact.upsert(records=[{"LastName": "Doe", "Email": "a@b.co"}], external_id_field="Email", wait=0.05)


def test_unknown_object_is_refused_at_job_creation(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.bulk2.Nope__c.insert(records=[{"Name": "x"}], wait=0.05)
    assert raised.value.content[0]["errorCode"] == "INVALIDENTITY"


def test_large_job_is_processed_in_internal_batches(sf: Salesforce, org: LocalOrg) -> None:
    [result] = sf.bulk2.Account.insert(records=[{"Name": f"A{i}"} for i in range(25_000)], wait=0.05)
    job = org.ingest.get(result["job_id"])
    assert (job.batches_total, job.number_records_processed, job.number_records_failed) == (3, 25_000, 0)


def test_aborting_an_open_job_leaves_it_aborted(sf: Salesforce) -> None:
    client = sf.bulk2.Account._client
    job = client.create_job("insert")
    client.upload_job_data(job["id"], "Name\nA\nB\n")
    client.abort_job(job["id"], is_query=False)
    assert client.get_job(job["id"], is_query=False)["state"] == "Aborted"


def test_aborting_a_completed_job_is_refused(sf: Salesforce) -> None:
    [result] = sf.bulk2.Account.insert(records=[{"Name": "A"}], wait=0.05)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.bulk2.Account._client.abort_job(result["job_id"], is_query=False)
    assert raised.value.content == [
        {"errorCode": "INVALIDJOBSTATE", "message": "Aborting already Completed Job not allowed"}
    ]


def test_contact_name_is_derived_from_first_and_last_name(sf: Salesforce) -> None:
    _ingest(sf, "Contact", "insert", "FirstName,LastName\nAda,Lovelace\n,Hopper\n")
    names = [r["Name"] for r in sf.query("SELECT Name FROM Contact ORDER BY LastName")["records"]]
    assert names == ["Hopper", "Ada Lovelace"]


def test_quoted_cells_with_delimiters_and_newlines_survive_internal_batches(sf: Salesforce) -> None:
    job_id = _ingest(sf, "Account", "insert", 'Name,Description\n"Acme, Inc.","two\nlines ""quoted"""\nPlain,x\n')
    rows = _rows(sf.bulk2.Account.get_successful_records(job_id))
    assert [(r["Name"], r["Description"]) for r in rows] == [("Acme, Inc.", 'two\nlines "quoted"'), ("Plain", "x")]


def test_a_crlf_inside_a_quoted_cell_is_stored_as_sent(sf: Salesforce) -> None:
    _ingest(sf, "Account", "insert", 'Name,Description\nAcme,"one\r\ntwo\rthree"\n')
    [record] = sf.query("SELECT Description FROM Account")["records"]
    assert record["Description"] == "one\r\ntwo\rthree"


def test_upsert_key_differing_only_in_case_updates_the_stored_key(sf: Salesforce) -> None:
    _ingest(sf, "Account", "upsert", "Oracle_Id__c,Name\nora-1,A\n", external_id_field="Oracle_Id__c")
    job_id = _ingest(sf, "Account", "upsert", "Oracle_Id__c,Name\nORA-1,B\n", external_id_field="Oracle_Id__c")
    [row] = _rows(sf.bulk2.Account.get_successful_records(job_id))
    assert row["sf__Created"] == "false"
    assert [(r["Oracle_Id__c"], r["Name"]) for r in sf.query("SELECT Oracle_Id__c, Name FROM Account")["records"]] == [
        ("ORA-1", "B")
    ]
