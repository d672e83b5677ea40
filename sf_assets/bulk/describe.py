"""What an object's describe says about its fields: the facts a writer validates against.

Examples:
    >>> contact = ObjectDescribe.fetch(transport, "Contact")
    >>> contact.field("lastname").name
    'LastName'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .transport import Transport


@dataclass(frozen=True)
class FieldInfo:
    """One field of an object's describe."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    createable: bool = False
    updateable: bool = False
    nillable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    id_lookup: bool = False
    relationship_name: str | None = None
    reference_to: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> FieldInfo:
        return cls(
            name=str(payload["name"]),
            type=str(payload.get("type") or "string"),
            label=str(payload.get("label") or payload["name"]),
            length=int(payload.get("length") or 0),
            createable=bool(payload.get("createable")),
            updateable=bool(payload.get("updateable")),
            nillable=bool(payload.get("nillable", True)),
            defaulted_on_create=bool(payload.get("defaultedOnCreate")),
            external_id=bool(payload.get("externalId")),
            id_lookup=bool(payload.get("idLookup")),
            relationship_name=payload.get("relationshipName") or None,
            reference_to=tuple(payload.get("referenceTo") or ()),
        )

    @property
    def required_on_insert(self) -> bool:
        """Whether an insert without a value fails: createable, not nillable, no default."""
        return self.createable and not self.nillable and not self.defaulted_on_create and self.type != "boolean"


@dataclass(frozen=True)
class ObjectDescribe:
    """The fields of one object, looked up case-insensitively as Salesforce does."""

    name: str
    fields: tuple[FieldInfo, ...]

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ObjectDescribe:
        return cls(str(payload["name"]), tuple(FieldInfo.from_json(item) for item in payload.get("fields", ())))

    @classmethod
    def fetch(cls, transport: Transport, sobject: str) -> ObjectDescribe:
        """``GET sobjects/{sobject}/describe``.

        Raises:
            ApiError: ``NOT_FOUND`` / ``INVALID_TYPE`` when the object does not exist.
        """
        return cls.from_json(transport.call("GET", f"sobjects/{sobject}/describe").json())

    def field(self, name: str) -> FieldInfo | None:
        """The field called ``name`` in any letter case, or ``None``."""
        return self._by_lower().get(name.lower())

    def relationship(self, name: str) -> FieldInfo | None:
        """The reference field whose relationship name is ``name`` (any case), e.g. ``Account`` → ``AccountId``."""
        lowered = name.lower()
        for info in self.fields:
            if info.relationship_name and info.relationship_name.lower() == lowered:
                return info
        return None

    def external_ids(self) -> list[str]:
        """Fields an upsert may match on: external IDs and ``Id``."""
        return [info.name for info in self.fields if info.external_id or info.name == "Id"]

    def _by_lower(self) -> dict[str, FieldInfo]:
        cached = self.__dict__.get("_lower")
        if cached is None:
            cached = {info.name.lower(): info for info in self.fields}
            object.__setattr__(self, "_lower", cached)
        return cached
