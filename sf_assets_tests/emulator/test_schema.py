"""The org's schema: built-in objects, describe rendering, and user schema files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sf_assets.emulator.schema import Schema


@pytest.fixture
def user_schema(tmp_path: Path) -> Path:
    path = tmp_path / "schema.json"
    path.write_text(
        json.dumps(
            {
                "objects": [
                    {
                        "name": "Invoice__c",
                        "keyPrefix": "a01",
                        "label": "Invoice",
                        "fields": [
                            {"name": "Number__c", "type": "string", "length": 20, "externalId": True, "unique": True},
                            {
                                "name": "Account__c",
                                "type": "reference",
                                "referenceTo": ["Account"],
                                "relationshipName": "Account__r",
                                "length": 18,
                            },
                        ],
                    }
                ],
                "fields": {
                    "Account": [
                        {
                            "name": "Tier__c",
                            "type": "picklist",
                            "restrictedPicklist": True,
                            "picklistValues": [{"value": "Gold"}, {"value": "Silver"}],
                        }
                    ]
                },
            }
        )
    )
    return path


def test_required_fields_follow_salesforce_rule() -> None:
    contact = Schema.load().get("contact")
    assert contact is not None
    assert [f.name for f in contact.fields if f.required_on_create] == ["LastName"]


def test_builtin_external_ids_are_unique_and_case_insensitive() -> None:
    schema = Schema.load()
    for obj, name in (("Account", "Oracle_Id__c"), ("Contact", "External_Id__c")):
        found = schema.get(obj).field(name.lower())  # type: ignore[union-attr]
        assert found is not None
        assert (found.external_id, found.unique, found.case_sensitive) == (True, True, False)


def test_relationship_names_resolve_to_reference_fields() -> None:
    contact = Schema.load().get("Contact")
    assert contact.relationship("account").name == "AccountId"  # type: ignore[union-attr]


def test_describe_renders_every_field_key() -> None:
    account = Schema.load().get("Account")
    assert account is not None
    described = account.describe("59.0", [])
    assert described["keyPrefix"] == "001"
    assert len({frozenset(f) for f in described["fields"]}) == 1
    assert described["urls"]["sobject"] == "/services/data/v59.0/sobjects/Account"


def test_user_schema_adds_an_object_with_system_fields(user_schema: Path) -> None:
    invoice = Schema.load(user_schema).get("invoice__c")
    assert invoice is not None
    assert {"Id", "OwnerId", "IsDeleted", "Name", "CreatedDate", "Number__c", "Account__c"} <= {
        f.name for f in invoice.fields
    }
    assert invoice.relationship("Account__r").reference_to == ("Account",)  # type: ignore[union-attr]


def test_user_schema_adds_fields_to_a_builtin_object(user_schema: Path) -> None:
    tier = Schema.load(user_schema).get("Account").field("Tier__c")  # type: ignore[union-attr]
    assert tier is not None
    assert (tier.props["custom"], tier.picklist_values) == (True, ("Gold", "Silver"))


def test_user_schema_with_fields_for_an_unknown_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"fields": {"Nope__c": [{"name": "X__c", "type": "string"}]}}))
    with pytest.raises(ValueError, match="unknown object 'Nope__c'"):
        Schema.load(path)


def test_child_relationships_list_children_in_the_schema(user_schema: Path) -> None:
    schema = Schema.load(user_schema)
    children = schema.child_relationships(schema.get("Account"))  # type: ignore[arg-type]
    assert {(c["childSObject"], c["field"]) for c in children} >= {
        ("Contact", "AccountId"),
        ("Invoice__c", "Account__c"),
    }
