"""The org's data model: sObjects and fields, loaded from compact JSON and rendered as describe payloads.

Each field is stored as the keys that differ from ``FIELD_DEFAULTS``, so the describe output has the
full shape of a recorded Salesforce describe while the files stay small. The built-in Account and
Contact come from ``schema/*.json`` (derived from recorded describes); users add objects and fields
with a schema file of the same form::

    {
      "objects": [{"name": "Invoice__c", "keyPrefix": "a01", "label": "Invoice",
                   "fields": [{"name": "Number__c", "type": "string", "length": 20,
                               "externalId": true, "unique": true}]}],
      "fields": {"Account": [{"name": "Tier__c", "type": "picklist",
                              "picklistValues": [{"value": "Gold"}]}]}
    }
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELD_DEFAULTS: dict[str, Any] = {
    "aggregatable": True, "aiPredictionField": False, "autoNumber": False, "byteLength": 0,
    "calculated": False, "calculatedFormula": None, "cascadeDelete": False, "caseSensitive": False,
    "compoundFieldName": None, "controllerName": None, "createable": True, "custom": False,
    "defaultValue": None, "defaultValueFormula": None, "defaultedOnCreate": False,
    "dependentPicklist": False, "deprecatedAndHidden": False, "digits": 0,
    "displayLocationInDecimal": False, "encrypted": False, "externalId": False, "extraTypeInfo": None,
    "filterable": True, "filteredLookupInfo": None, "formulaTreatNullNumberAsZero": False,
    "groupable": True, "highScaleNumber": False, "htmlFormatted": False, "idLookup": False,
    "inlineHelpText": None, "label": "", "length": 0, "mask": None, "maskType": None, "name": "",
    "nameField": False, "namePointing": False, "nillable": True, "permissionable": True,
    "picklistValues": [], "polymorphicForeignKey": False, "precision": 0, "queryByDistance": False,
    "referenceTargetField": None, "referenceTo": [], "relationshipName": None,
    "relationshipOrder": None, "restrictedDelete": False, "restrictedPicklist": False, "scale": 0,
    "searchPrefilterable": False, "soapType": "xsd:string", "sortable": True, "type": "string",
    "unique": False, "updateable": True, "writeRequiresMasterRead": False,
}  # fmt: skip

OBJECT_DEFAULTS: dict[str, Any] = {
    "actionOverrides": [], "activateable": False, "associateEntityType": None,
    "associateParentEntity": None, "compactLayoutable": True, "createable": True, "custom": False,
    "customSetting": False, "deepCloneable": False, "defaultImplementation": None, "deletable": True,
    "deprecatedAndHidden": False, "extendedBy": None, "extendsInterfaces": None, "feedEnabled": True,
    "hasSubtypes": False, "implementedBy": None, "implementsInterfaces": None, "isInterface": False,
    "isSubtype": False, "layoutable": True, "listviewable": None, "lookupLayoutable": None,
    "mergeable": False, "mruEnabled": True, "namedLayoutInfos": [], "networkScopeFieldName": None,
    "queryable": True, "replicateable": True, "retrieveable": True, "searchLayoutable": True,
    "searchable": True, "sobjectDescribeOption": "FULL", "supportedScopes": [], "triggerable": True,
    "undeletable": True, "updateable": True,
}  # fmt: skip

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "time": "xsd:time", "address": "urn:address",
    "location": "urn:location",
}  # fmt: skip
_TEXT_TYPES = {
    "id", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "reference",
    "combobox", "encryptedstring", "date", "datetime", "time",
}  # fmt: skip
_NUMBER_TYPES = {"double", "currency", "percent"}
_BUILTIN_DIR = Path(__file__).with_name("schema")


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with the describe properties the org enforces."""

    name: str
    type: str
    label: str
    props: Mapping[str, Any]

    @property
    def length(self) -> int:
        return int(self.props["length"])

    @property
    def createable(self) -> bool:
        return bool(self.props["createable"])

    @property
    def updateable(self) -> bool:
        return bool(self.props["updateable"])

    @property
    def nillable(self) -> bool:
        return bool(self.props["nillable"])

    @property
    def external_id(self) -> bool:
        return bool(self.props["externalId"])

    @property
    def id_lookup(self) -> bool:
        return bool(self.props["idLookup"])

    @property
    def unique(self) -> bool:
        return bool(self.props["unique"])

    @property
    def case_sensitive(self) -> bool:
        return bool(self.props["caseSensitive"])

    @property
    def reference_to(self) -> tuple[str, ...]:
        return tuple(self.props["referenceTo"])

    @property
    def relationship_name(self) -> str | None:
        return self.props["relationshipName"]

    @property
    def precision(self) -> int:
        return int(self.props["precision"])

    @property
    def scale(self) -> int:
        return int(self.props["scale"])

    @property
    def restricted_picklist(self) -> bool:
        return bool(self.props["restrictedPicklist"])

    @property
    def picklist_values(self) -> tuple[str, ...]:
        return tuple(p["value"] for p in self.props["picklistValues"] if p.get("active", True))

    @property
    def required_on_create(self) -> bool:
        """Salesforce's rule: createable, not nillable and not defaulted on create."""
        return self.createable and not self.nillable and not self.props["defaultedOnCreate"]

    @property
    def indexed_lookup(self) -> bool:
        """Whether the field can identify a parent in a relationship column or an upsert."""
        return self.external_id or self.id_lookup

    @property
    def sql_type(self) -> str | None:
        """SQLite column type, or None for compound fields (address, location) that are not stored."""
        if self.type in _TEXT_TYPES:
            return "TEXT"
        if self.type in _NUMBER_TYPES:
            return "REAL"
        if self.type in ("int", "boolean"):
            return "INTEGER"
        return None

    def describe(self) -> dict[str, Any]:
        return {key: copy.deepcopy(self.props[key]) for key in FIELD_DEFAULTS}


@dataclass(frozen=True)
class ObjectDef:
    """One sObject: its describe properties and its fields, looked up case-insensitively."""

    name: str
    key_prefix: str
    props: Mapping[str, Any]
    fields: tuple[FieldDef, ...]
    _by_lower: dict[str, FieldDef] = field(init=False, repr=False, compare=False)
    _by_relationship: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.name.lower(): f for f in self.fields})
        object.__setattr__(
            self,
            "_by_relationship",
            {f.relationship_name.lower(): f for f in self.fields if f.relationship_name},
        )

    @property
    def label(self) -> str:
        return str(self.props["label"])

    def field(self, name: str) -> FieldDef | None:
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationshipName is ``name`` (``Account`` → ``AccountId``)."""
        return self._by_relationship.get(name.lower())

    @property
    def stored_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.sql_type is not None)

    def describe(self, version: str, child_relationships: list[dict[str, Any]]) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        out = {key: copy.deepcopy(self.props.get(key, default)) for key, default in OBJECT_DEFAULTS.items()}
        out.update(
            {
                "childRelationships": child_relationships,
                "fields": [f.describe() for f in self.fields],
                "keyPrefix": self.key_prefix,
                "label": self.label,
                "labelPlural": self.props.get("labelPlural", self.label + "s"),
                "name": self.name,
                "recordTypeInfos": [
                    {
                        "active": True, "available": True, "defaultRecordTypeMapping": True,
                        "developerName": "Master", "master": True, "name": "Master",
                        "recordTypeId": "012000000000000AAA",
                        "urls": {"layout": f"{base}/describe/layouts/012000000000000AAA"},
                    }
                ],
                "urls": {
                    "compactLayouts": f"{base}/describe/compactLayouts",
                    "rowTemplate": f"{base}/{{ID}}",
                    "approvalLayouts": f"{base}/describe/approvalLayouts",
                    "listviews": f"{base}/listviews",
                    "describe": f"{base}/describe",
                    "quickActions": f"{base}/quickActions",
                    "layouts": f"{base}/describe/layouts",
                    "sobject": base,
                },
            }
        )  # fmt: skip
        return dict(sorted(out.items()))


def _field(spec: Mapping[str, Any]) -> FieldDef:
    props = dict(FIELD_DEFAULTS)
    props["soapType"] = _SOAP_TYPES.get(spec.get("type", "string"), "xsd:string")
    if spec.get("custom") or str(spec.get("name", "")).endswith("__c"):
        props["custom"] = True
    props.update(spec)
    if not props["name"] or not props["type"]:
        raise ValueError(f"schema field needs a name and a type: {dict(spec)!r}")
    if props["type"] in ("string", "textarea", "email", "phone", "url", "picklist") and not props["length"]:
        props["length"] = 255
    if not props["byteLength"] and props["type"] in _TEXT_TYPES:
        props["byteLength"] = props["length"] * 3
    props["label"] = props["label"] or props["name"]
    props["picklistValues"] = [
        {"active": True, "defaultValue": False, "label": p["value"], "validFor": None, **p}
        for p in props["picklistValues"]
    ]
    return FieldDef(name=props["name"], type=props["type"], label=props["label"], props=props)


def _system_fields(label: str) -> list[dict[str, Any]]:
    """Fields every custom object has, shaped like their standard-object counterparts."""
    audit = {"createable": False, "updateable": False, "nillable": False, "defaultedOnCreate": True}
    return [
        {"name": "Id", "type": "id", "label": f"{label} ID", "length": 18, "idLookup": True, **audit},
        {"name": "OwnerId", "type": "reference", "label": "Owner ID", "length": 18,
         "referenceTo": ["User"], "relationshipName": "Owner", "nillable": False, "defaultedOnCreate": True},
        {"name": "IsDeleted", "type": "boolean", "label": "Deleted", **audit},
        {"name": "Name", "type": "string", "label": f"{label} Name", "length": 80, "nameField": True,
         "nillable": True, "defaultedOnCreate": False},
        {"name": "CreatedDate", "type": "datetime", "label": "Created Date", **audit},
        {"name": "CreatedById", "type": "reference", "label": "Created By ID", "length": 18,
         "referenceTo": ["User"], "relationshipName": "CreatedBy", **audit},
        {"name": "LastModifiedDate", "type": "datetime", "label": "Last Modified Date", **audit},
        {"name": "LastModifiedById", "type": "reference", "label": "Last Modified By ID", "length": 18,
         "referenceTo": ["User"], "relationshipName": "LastModifiedBy", **audit},
        {"name": "SystemModstamp", "type": "datetime", "label": "System Modstamp", **audit},
    ]  # fmt: skip


class Schema:
    """The org's sObjects, looked up case-insensitively by name or by key prefix."""

    def __init__(self, objects: Iterable[ObjectDef]) -> None:
        self._objects = {o.name.lower(): o for o in objects}
        self._by_prefix = {o.key_prefix: o for o in self._objects.values()}

    @classmethod
    def load(cls, extra: Path | None = None) -> Schema:
        """Loads the built-in objects, then applies a user schema file if one is given."""
        specs: dict[str, dict[str, Any]] = {}
        for path in sorted(_BUILTIN_DIR.glob("*.json")):
            spec = json.loads(path.read_text())
            specs[spec["name"].lower()] = spec
        if extra is not None:
            _apply_user_schema(specs, json.loads(Path(extra).read_text()), extra)
        objects = []
        for spec in specs.values():
            props = {k: v for k, v in spec.items() if k != "fields"}
            objects.append(
                ObjectDef(
                    name=spec["name"],
                    key_prefix=spec["keyPrefix"],
                    props=props,
                    fields=tuple(_field(f) for f in spec["fields"]),
                )
            )
        return cls(objects)

    @property
    def objects(self) -> list[ObjectDef]:
        return list(self._objects.values())

    def get(self, name: str) -> ObjectDef | None:
        return self._objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        return self._by_prefix.get(prefix)

    def child_relationships(self, parent: ObjectDef) -> list[dict[str, Any]]:
        return [
            {
                "cascadeDelete": False, "childSObject": child.name, "deprecatedAndHidden": False,
                "field": f.name, "junctionIdListNames": [], "junctionReferenceTo": [],
                "relationshipName": _plural(child.name) if child is not parent else f"Child{_plural(child.name)}",
                "restrictedDelete": False,
            }
            for child in self._objects.values()
            for f in child.fields
            if parent.name in f.reference_to and f.relationship_name and f.createable
        ]  # fmt: skip


def _plural(name: str) -> str:
    if name.endswith("__c"):
        return name[:-3] + "s__r"
    return name + "s"


def _apply_user_schema(specs: dict[str, dict[str, Any]], user: Mapping[str, Any], path: Path) -> None:
    for obj in user.get("objects", []):
        name = obj.get("name")
        if not name or not obj.get("keyPrefix"):
            raise ValueError(f"{path}: every object needs 'name' and 'keyPrefix': {obj!r}")
        label = obj.get("label", name)
        declared = {f["name"].lower() for f in obj.get("fields", [])}
        system = [f for f in _system_fields(label) if f["name"].lower() not in declared]
        specs[name.lower()] = {
            "custom": name.endswith("__c"),
            "label": label,
            "labelPlural": obj.get("labelPlural", label + "s"),
            **{k: v for k, v in obj.items() if k != "fields"},
            "fields": system + list(obj.get("fields", [])),
        }
    for object_name, fields in user.get("fields", {}).items():
        target = specs.get(object_name.lower())
        if target is None:
            raise ValueError(f"{path}: fields given for unknown object {object_name!r}")
        existing = {f["name"].lower(): i for i, f in enumerate(target["fields"])}
        for spec in fields:
            index = existing.get(spec["name"].lower())
            if index is None:
                target["fields"].append(spec)
            else:
                target["fields"][index] = {**target["fields"][index], **spec}
