from __future__ import annotations

import pytest

from sf_assets.bulk import ApiError, Credentials, ObjectDescribe, Transport
from sf_assets.emulator import LocalOrg


@pytest.fixture
def transport(org: LocalOrg, soap_credentials: Credentials) -> Transport:
    return Transport(soap_credentials, ca_file=str(org.tls.ca_file))


def test_fields_are_found_in_any_case(transport: Transport) -> None:
    contact = ObjectDescribe.fetch(transport, "Contact")
    info = contact.field("lastname")
    assert info is not None
    assert (info.name, info.required_on_insert) == ("LastName", True)


def test_relationships_lead_to_their_reference_field(transport: Transport) -> None:
    reference = ObjectDescribe.fetch(transport, "Contact").relationship("account")
    assert reference is not None
    assert (reference.name, reference.reference_to) == ("AccountId", ("Account",))


def test_external_ids_include_id_and_custom_external_ids(transport: Transport) -> None:
    assert ObjectDescribe.fetch(transport, "Account").external_ids() == ["Id", "Oracle_Id__c"]


def test_fields_with_defaults_are_not_required(transport: Transport) -> None:
    account = ObjectDescribe.fetch(transport, "Account")
    required = [info.name for info in account.fields if info.required_on_insert]
    assert required == ["Name"]


def test_an_unknown_object_is_an_api_error(transport: Transport) -> None:
    with pytest.raises(ApiError) as raised:
        ObjectDescribe.fetch(transport, "NoSuchObject__c")
    assert raised.value.status == 404
