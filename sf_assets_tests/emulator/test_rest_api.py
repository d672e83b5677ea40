"""The REST API through simple-salesforce and plain HTTPS: versions, limits, describe, rows and SOQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sf_assets.emulator import LocalOrg

from .reference import RECORDED_DIR, SKIP_REASON


@pytest.fixture(params=["Account", "Contact"])
def recorded_describe(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """An object name and its describe payload as recorded from a real org."""
    if RECORDED_DIR is None:
        pytest.skip(SKIP_REASON)
    return request.param, json.loads((RECORDED_DIR / f"describe_{request.param}.json").read_text())


def _auth(org: LocalOrg) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.new_session()}"}


def _remaining_api_requests(org: LocalOrg, session: Any, headers: dict[str, str]) -> int:
    response = session.get(f"{org.instance_url}/services/data/v59.0/limits", headers=headers)
    assert response.status_code == 200
    return int(response.json()["DailyApiRequests"]["Remaining"])


def test_versions_need_no_session_and_list_59(org: LocalOrg, org_session: Any) -> None:
    response = org_session.get(f"{org.instance_url}/services/data/")
    assert response.status_code == 200
    [v59] = [v for v in response.json() if v["version"] == "59.0"]
    assert v59["url"] == "/services/data/v59.0"


def test_api_responses_carry_limit_info_header(org: LocalOrg, org_session: Any) -> None:
    response = org_session.get(f"{org.instance_url}/services/data/v59.0/limits", headers=_auth(org))
    used, _, maximum = response.headers["Sforce-Limit-Info"].removeprefix("api-usage=").partition("/")
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert 0 < int(used) <= int(maximum)


def test_daily_api_requests_remaining_decreases(org: LocalOrg, org_session: Any) -> None:
    headers = _auth(org)
    first = _remaining_api_requests(org, org_session, headers)
    second = _remaining_api_requests(org, org_session, headers)
    assert second < first


def test_describe_has_recorded_keys(sf: Salesforce, recorded_describe: tuple[str, dict[str, Any]]) -> None:
    sobject, recorded = recorded_describe
    # describe_Account.json was recorded at v48.0, before three keys that newer recordings (and v59.0) carry.
    newer_keys = set().union(*(json.loads(p.read_text()).keys() for p in RECORDED_DIR.glob("describe_*")))
    described = getattr(sf, sobject).describe()
    assert set(recorded) <= set(described)
    assert set(described) - set(recorded) <= newer_keys


def test_describe_fields_have_recorded_keys(sf: Salesforce, recorded_describe: tuple[str, dict[str, Any]]) -> None:
    sobject, recorded = recorded_describe
    described = getattr(sf, sobject).describe()
    recorded_field_keys = set().union(*(f.keys() for f in recorded["fields"]))
    described_field_keys = set().union(*(f.keys() for f in described["fields"]))
    assert described_field_keys == recorded_field_keys


def test_create_get_update_delete_account(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme"})
    assert created["success"] is True
    assert sf.Account.update(created["id"], {"Name": "Acme 2"}) == 204
    assert sf.Account.get(created["id"])["Name"] == "Acme 2"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])


def test_upsert_by_external_id_creates_then_updates(sf: Salesforce) -> None:
    assert sf.Account.upsert("Oracle_Id__c/ORA-9", {"Name": "Oracle"}) == 201
    assert sf.Account.upsert("Oracle_Id__c/ORA-9", {"Name": "Oracle 2"}) == 204
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_get_by_custom_id(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme", "Oracle_Id__c": "ORA-1"})
    record = sf.Account.get_by_custom_id("Oracle_Id__c", "ORA-1")
    assert (record["Id"], record["Name"]) == (created["id"], "Acme")


def test_unknown_object_is_resource_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Bogus__c.describe()


def test_query_follows_parent_relationship(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Acme"})
    sf.Contact.create({"LastName": "Nomical", "AccountId": account["id"]})
    [record] = sf.query("SELECT LastName, Account.Name FROM Contact")["records"]
    assert (record["LastName"], record["Account"]["Name"]) == ("Nomical", "Acme")


def test_query_all_pages_through_next_records_url(org: LocalOrg, org_session: Any, sf: Salesforce) -> None:
    records = [{"Name": f"Account {i}"} for i in range(2500)]
    loaded = org_session.post(f"{org.instance_url}/__org__/records/Account", json=records, headers=_auth(org))
    assert loaded.status_code == 200
    first = sf.query("SELECT Id FROM Account")
    assert first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert len(sf.query_all("SELECT Id FROM Account")["records"]) == 2500


@pytest.mark.parametrize(
    ("soql", "error_code"),
    [("SELECT Bogus__x FROM Account", "INVALID_FIELD"), ("SELECT Id FROM Bogus__x", "INVALID_TYPE")],
)
def test_bad_soql_is_malformed_request(sf: Salesforce, soql: str, error_code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query(soql)
    assert failure.value.content[0]["errorCode"] == error_code


def test_unsupported_version_is_not_found(org: LocalOrg, org_session: Any) -> None:
    response = org_session.get(f"{org.instance_url}/services/data/v10.0/limits", headers=_auth(org))
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"
