"""Checking a DataFrame's columns against the object's describe, and what each column becomes in the CSV.

Everything is checked on the driver before a single row is sent, and every problem is reported at once.

Examples:
    >>> plan = plan_columns(df.schema, options, describe_object)
    >>> [column.header for column in plan.columns]
    ['LastName', 'Email', 'Account.Oracle_Id__c']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sf_assets.bulk import ObjectDescribe

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

    from .options import WriteOptions

NULL_TOKEN = "#N/A"
# Spark type names (DataType.typeName()) that have a faithful Salesforce CSV form.
SUPPORTED_TYPES = frozenset(
    {
        "string",
        "varchar",
        "char",
        "boolean",
        "byte",
        "short",
        "integer",
        "long",
        "float",
        "double",
        "decimal",
        "date",
        "timestamp",
        "timestamp_ntz",
        "void",
    }
)


class SchemaError(ValueError):
    """The DataFrame cannot be written to the object as it is; the message lists every problem."""

    def __init__(self, sobject: str, operation: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"cannot {operation} {sobject}: {len(problems)} {noun}, nothing was sent:\n{listed}")


@dataclass(frozen=True)
class Column:
    """One DataFrame column as it goes to Salesforce.

    Attributes:
        header: The CSV header: the DataFrame's column name, which validation has proven exact.
        spark_type: The Spark type name (``DataType.typeName()``).
        null_value: What a null cell becomes: ``#N/A`` clears the field, ``""`` leaves it unchanged.
    """

    header: str
    spark_type: str
    null_value: str


@dataclass(frozen=True)
class ColumnPlan:
    """The validated columns of a write, in DataFrame order, and the object's exact name."""

    sobject: str
    columns: tuple[Column, ...]

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]


def plan_columns(schema: StructType, options: WriteOptions, describe: Callable[[str], ObjectDescribe]) -> ColumnPlan:
    """Validate the DataFrame's schema for the write and decide how each column is encoded.

    Args:
        schema: The DataFrame's schema.
        options: The parsed write options.
        describe: Fetches an object's describe (the target's, and parents' for relationship columns).

    Raises:
        SchemaError: Listing every problem found.
    """
    target = describe(options.sobject)
    problems: list[str] = []
    if target.name != options.sobject:
        problems.append(f"option sobject={options.sobject!r}: the object is called {target.name!r}")
    operation = options.operation
    names = [item.name for item in schema.fields]
    problems.extend(_duplicate_columns(names))
    if not names:
        problems.append("the DataFrame has no columns")
    columns = []
    for item in schema.fields:
        type_name = item.dataType.typeName()
        if type_name not in SUPPORTED_TYPES:
            problems.append(
                f"column {item.name!r} has type {item.dataType.simpleString()}, which has no Salesforce CSV form; "
                + _type_hint(type_name)
            )
        problem = (
            _check_relationship(item.name, target, operation, describe)
            if "." in item.name
            else _check_field(item.name, target, operation, options.upsert_field)
        )
        if problem:
            problems.append(problem)
        columns.append(Column(item.name, type_name, _null_value(item.name, options)))
    problems.extend(_operation_problems(names, target, options))
    if problems:
        raise SchemaError(target.name, operation, problems)
    return ColumnPlan(target.name, tuple(columns))


def _duplicate_columns(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    problems = []
    for name in names:
        if name.lower() in seen:
            problems.append(f"columns {seen[name.lower()]!r} and {name!r} name the same field")
        seen.setdefault(name.lower(), name)
    return problems


def _type_hint(type_name: str) -> str:
    if type_name == "array":
        return "join a multi-select picklist's values with ';' (concat_ws) or drop the column"
    if type_name == "binary":
        return "Bulk API CSV cannot carry binary data; drop the column"
    return "cast it to a string, number, boolean, date or timestamp"


def _check_field(name: str, target: ObjectDescribe, operation: str, upsert_field: str | None) -> str | None:
    info = target.field(name)
    if info is None:
        return f"column {name!r}: {target.name} has no such field{_suggestion(name, target)}"
    if info.name != name:
        return f"column {name!r}: the field is spelled {info.name!r} (rename the column)"
    if operation in ("delete", "hardDelete"):
        return None  # _operation_problems reports anything but Id
    if name == "Id":
        if operation == "insert":
            return "column 'Id': an insert creates new records and cannot take an Id; drop the column"
        return None
    if upsert_field and name.lower() == upsert_field.lower():
        return None
    if operation == "insert" and not info.createable:
        return f"column {name!r}: field {target.name}.{name} is not createable, so an insert cannot set it"
    if operation == "update" and not info.updateable:
        return f"column {name!r}: field {target.name}.{name} is not updateable, so an update cannot set it"
    if operation == "upsert" and not (info.createable or info.updateable):
        return f"column {name!r}: field {target.name}.{name} is neither createable nor updateable"
    return None


def _check_relationship(
    name: str, target: ObjectDescribe, operation: str, describe: Callable[[str], ObjectDescribe]
) -> str | None:
    relationship, _, parent_field = name.partition(".")
    reference = target.relationship(relationship)
    if reference is None:
        options = [info.relationship_name for info in target.fields if info.relationship_name]
        close = difflib.get_close_matches(relationship, [str(o) for o in options], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"column {name!r}: {target.name} has no relationship {relationship!r}{hint}"
    if reference.relationship_name != relationship:
        return f"column {name!r}: the relationship is spelled {reference.relationship_name!r} (rename the column)"
    if operation not in ("delete", "hardDelete"):
        # The relationship column sets the reference field, so that field's permissions apply.
        problem = _check_field(reference.name, target, operation, None)
        if problem:
            return problem.replace(f"column {reference.name!r}", f"column {name!r} (sets {reference.name})", 1)
    if "." in parent_field or not parent_field:
        return f"column {name!r}: a relationship column is Relationship.ExternalIdField, e.g. Account.Oracle_Id__c"
    if len(reference.reference_to) != 1:
        return f"column {name!r}: {reference.name} is polymorphic ({', '.join(reference.reference_to)}); not supported"
    parent = describe(reference.reference_to[0])
    info = parent.field(parent_field)
    if info is None:
        return f"column {name!r}: {parent.name} has no field {parent_field!r}{_suggestion(parent_field, parent)}"
    if info.name != parent_field:
        return f"column {name!r}: the field is spelled {info.name!r} (rename the column to {relationship}.{info.name})"
    if not info.external_id:
        ids = ", ".join(f for f in parent.external_ids() if f != "Id") or "none"
        return f"column {name!r}: {parent.name}.{info.name} is not an external ID field (external IDs: {ids})"
    return None


def _operation_problems(names: list[str], target: ObjectDescribe, options: WriteOptions) -> list[str]:
    operation = options.operation
    lowered = {name.lower() for name in names}
    for name in names:
        # A relationship column (Account.Oracle_Id__c) fills its reference field (AccountId).
        reference = target.relationship(name.partition(".")[0]) if "." in name else None
        if reference is not None:
            lowered.add(reference.name.lower())
    if operation in ("delete", "hardDelete"):
        if names != ["Id"]:
            extra = [name for name in names if name != "Id"]
            listed = ", ".join(repr(name) for name in extra)
            return [
                f"{operation} takes only the column 'Id'; drop {listed}" + ("" if "id" in lowered else " and add Id")
            ]
        return []
    if operation == "update" and "Id" not in names:
        return ["update needs the column 'Id' (the records to change); to match on an external ID use upsert"]
    if operation == "upsert":
        return _upsert_problems(names, target, str(options.upsert_field))
    if operation == "insert":
        missing = [info.name for info in target.fields if info.required_on_insert and info.name.lower() not in lowered]
        if missing:
            return [
                f"insert into {target.name} needs the required field{'s' if len(missing) > 1 else ''} "
                + ", ".join(missing)
            ]
    return []


def _upsert_problems(names: list[str], target: ObjectDescribe, upsert_field: str) -> list[str]:
    problems = []
    info = target.field(upsert_field)
    external_ids = ", ".join(target.external_ids())
    if info is None:
        problems.append(
            f"option upsertField={upsert_field!r}: {target.name} has no such field; its external IDs are {external_ids}"
        )
    elif not (info.external_id or info.name == "Id"):
        problems.append(
            f"option upsertField={upsert_field!r}: {target.name}.{info.name} is not an external ID field; "
            f"use one of {external_ids}"
        )
    elif info.name != upsert_field:
        problems.append(f"option upsertField={upsert_field!r}: the field is spelled {info.name!r}")
    if upsert_field not in names:
        problems.append(
            f"option upsertField={upsert_field!r}: the DataFrame has no column {upsert_field!r} to match on"
        )
    return problems


def _suggestion(name: str, describe: ObjectDescribe) -> str:
    candidates = [info.name for info in describe.fields]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6) or difflib.get_close_matches(
        name.lower(), [c.lower() for c in candidates], n=1, cutoff=0.6
    )
    if not close:
        return ""
    match = describe.field(close[0])
    return f"; did you mean {match.name if match else close[0]!r}?"


def _null_value(name: str, options: WriteOptions) -> str:
    # Nothing to clear on insert; keys must never be nulled; an empty parent reference leaves the link alone.
    if options.ignore_null_values or options.operation not in ("update", "upsert"):
        return ""
    if "." in name or name == "Id" or (options.upsert_field and name.lower() == options.upsert_field.lower()):
        return ""
    return NULL_TOKEN
