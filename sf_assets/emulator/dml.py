"""Record-level DML as Bulk API ingest applies it: insert, update, upsert, delete and hardDelete.

A batch of CSV rows is validated row by row, parent relationships and upsert keys are looked up in
one query per batch, and the surviving rows are written in one SQLite transaction. Every row gets
an :class:`Outcome`; nothing is dropped.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import ids
from .schema import FieldDef, ObjectDef, Schema
from .store import Store, quote
from .values import NULL_TOKEN, Converter, RecordError, converter, java_double, now_datetime

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
_CLEAR = object()  # a cell of #N/A: set the field to null
_SQL_CHUNK = 900  # stays under SQLite's host-parameter limit on every build


class JobError(Exception):
    """A problem with the whole batch (bad header, wrong columns): the job fails with this message."""


@dataclass(frozen=True)
class Column:
    """How one CSV column maps onto the object: a field, or a parent looked up by an indexed field."""

    index: int
    header: str
    field: FieldDef
    convert: Converter
    parent: ObjectDef | None = None
    parent_field: FieldDef | None = None


@dataclass(frozen=True)
class Plan:
    """The parsed header of a job: its columns, and where the Id and upsert key columns are."""

    obj: ObjectDef
    operation: str
    header: tuple[str, ...]
    columns: tuple[Column, ...]
    id_index: int | None
    key: FieldDef | None
    key_index: int | None

    def upsert_key(self, cells: Sequence[str]) -> object | None:
        """The folded upsert key of a raw CSV row, or None when the row carries none."""
        if self.key is None or self.key_index is None or self.key_index >= len(cells):
            return None
        text = cells[self.key_index]
        return None if text in ("", NULL_TOKEN) else _fold(self.key, text)

    @functools.cached_property
    def number_columns(self) -> tuple[int, ...]:
        return tuple(
            c.index for c in self.columns if c.parent is None and c.field.type in ("double", "currency", "percent")
        )


@dataclass(frozen=True)
class Outcome:
    """One row's result: the record Id (when known), whether it was created, or its error."""

    record_id: str
    created: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def plan(schema: Schema, obj: ObjectDef, header: Sequence[str], operation: str, external_id: str | None) -> Plan:
    """Maps a CSV header onto ``obj``; raises :class:`JobError` with Salesforce's message if it cannot."""
    if operation in ("delete", "hardDelete") and [h.strip().lower() for h in header] != ["id"]:
        raise JobError(f"InvalidBatch : The '{operation}' batch must contain only ids")
    seen: set[str] = set()
    columns: list[Column] = []
    id_index = None
    for index, name in enumerate(header):
        if not name:
            raise JobError(f"InvalidBatch : Field name not found : {name}")
        if name.lower() in seen:
            raise JobError(f"InvalidBatch : Duplicate field name : {name}")
        seen.add(name.lower())
        if "." in name:
            columns.append(_relationship_column(schema, obj, index, name))
            continue
        target = obj.field(name)
        if target is None or target.sql_type is None:
            raise JobError(f"InvalidBatch : Field name not found : {name}")
        if target.name == "Id":
            id_index = index
        columns.append(Column(index, name, target, converter(target, index)))
    key = key_index = None
    if operation == "upsert":
        key = obj.field(external_id or "")
        if key is None:
            raise JobError(f"InvalidBatch : Field name not found : {external_id}")
        if not (key.external_id or key.name == "Id"):
            raise JobError(
                f"InvalidBatch : Field name provided, {key.name} is not an External ID or indexed field for {obj.name}"
            )
        key_index = next((c.index for c in columns if c.field is key and c.parent is None), None)
    return Plan(obj, operation, tuple(header), tuple(columns), id_index, key, key_index)


def _relationship_column(schema: Schema, obj: ObjectDef, index: int, name: str) -> Column:
    relationship, _, parent_name = name.partition(".")
    type_hint = None
    if ":" in relationship:
        type_hint, _, relationship = relationship.partition(":")
    reference = obj.relationship(relationship)
    if reference is None or "." in parent_name:
        raise JobError(f"InvalidBatch : Field name not found : {name}")
    targets = reference.reference_to
    if type_hint is None and len(targets) > 1:
        raise JobError(f"InvalidBatch : Field name not found : {name}")
    parent = schema.get(type_hint or targets[0])
    if parent is None or (type_hint is not None and parent.name not in targets):
        raise JobError(f"InvalidBatch : Field name not found : {name}")
    parent_field = parent.field(parent_name)
    if parent_field is None:
        raise JobError(f"InvalidBatch : Field name not found : {name}")
    if not parent_field.indexed_lookup:
        raise JobError(
            f"InvalidBatch : Field name provided, {parent_field.name} is not an External ID or indexed field "
            f"for {parent.name}"
        )
    return Column(index, name, reference, converter(parent_field, index), parent, parent_field)


@dataclass(frozen=True)
class _Rules:
    """Per-object facts the engine consults on every row, computed once."""

    required: tuple[str, ...]
    not_createable: frozenset[str]
    not_updateable: frozenset[str]
    not_nillable: frozenset[str]
    derived_name: bool
    boolean_defaults: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, obj: ObjectDef) -> _Rules:
        name = obj.field("Name")
        return cls(
            required=tuple(f.name for f in obj.fields if f.required_on_create),
            not_createable=frozenset(f.name for f in obj.fields if not f.createable and f.name != "Id"),
            not_updateable=frozenset(f.name for f in obj.fields if not f.updateable and f.name != "Id"),
            not_nillable=frozenset(f.name for f in obj.fields if not f.nillable),
            # Person objects compute their read-only Name from FirstName and LastName.
            derived_name=bool(name and not name.createable and obj.field("FirstName") and obj.field("LastName")),
            # Checkboxes are never null in Salesforce.
            boolean_defaults=tuple(
                (f.name, 1 if f.props.get("defaultValue") is True else 0)
                for f in obj.stored_fields
                if f.type == "boolean" and f.name != "IsDeleted"
            ),
        )


@dataclass
class _Row:
    index: int
    cells: list[str]
    values: dict[str, object] = field(default_factory=dict)  # field name -> value or _CLEAR
    record_id: str = ""
    existing: tuple[object, ...] | None = None
    error: str | None = None


class Engine:
    """Applies batches of CSV rows to the store.

    Args:
        store: Where records live.
        id_generator: Mints Ids for inserted records.
        user_id: The API user, recorded as owner and creator.
    """

    def __init__(self, store: Store, id_generator: ids.IdGenerator, user_id: str) -> None:
        self.store = store
        self.ids = id_generator
        self.user_id = user_id
        self._rules: dict[str, _Rules] = {}

    def rules(self, obj: ObjectDef) -> _Rules:
        rules = self._rules.get(obj.name)
        if rules is None:
            rules = self._rules[obj.name] = _Rules.of(obj)
        return rules

    def apply(
        self, batch_plan: Plan, rows: Sequence[list[str]], duplicate_keys: frozenset[object] = frozenset()
    ) -> list[Outcome]:
        """Applies one batch; returns an outcome per row, in order."""
        work = [_Row(i, cells) for i, cells in enumerate(rows)]
        width = len(batch_plan.header)
        for row in work:
            if len(row.cells) != width:
                row.error = str(
                    RecordError("INVALID_FIELD", f"Record has {len(row.cells)} fields but the header has {width}")
                )
        if batch_plan.operation in ("delete", "hardDelete"):
            self._delete(batch_plan, [r for r in work if r.error is None])
        else:
            self._parse(batch_plan, work)
            self._resolve_parents(batch_plan, work)
            self._match(batch_plan, work, duplicate_keys)
            self._write(batch_plan, [r for r in work if r.error is None])
        return [
            Outcome(r.record_id, False, r.error) if r.error else Outcome(r.record_id, r.existing is None) for r in work
        ]

    # -- parsing -----------------------------------------------------------------------------------

    def _parse(self, batch_plan: Plan, work: list[_Row]) -> None:
        for row in work:
            if row.error:
                continue
            try:
                for column in batch_plan.columns:
                    text = row.cells[column.index]
                    if text == "":
                        continue
                    if text == NULL_TOKEN:
                        row.values[column.header if column.parent else column.field.name] = _CLEAR
                    elif column.parent is None:
                        row.values[column.field.name] = column.convert(text)
                    else:
                        row.values[column.header] = column.convert(text)
            except RecordError as error:
                row.error = str(error)

    def _resolve_parents(self, batch_plan: Plan, work: list[_Row]) -> None:
        for column in batch_plan.columns:
            if column.parent is None or column.parent_field is None:
                continue
            wanted = {r.values[column.header] for r in work if not r.error and column.header in r.values}
            wanted.discard(_CLEAR)
            found = self._lookup(column.parent, column.parent_field, wanted)
            for row in work:
                value = row.values.pop(column.header, None)
                if row.error or value is None:
                    continue
                if value is _CLEAR:
                    row.values[column.field.name] = _CLEAR
                    continue
                matches = found.get(_fold(column.parent_field, value), [])
                if len(matches) == 1:
                    row.values[column.field.name] = matches[0][0]
                elif not matches:
                    row.error = str(
                        RecordError(
                            "INVALID_FIELD",
                            f"Foreign key external ID: {value} not found for field {column.parent_field.name} "
                            f"in entity {column.parent.name}",
                        )
                    )
                else:
                    row.error = str(_duplicate_external_id(column.parent_field, [m[0] for m in matches]))

    def _lookup(
        self, obj: ObjectDef, key: FieldDef, values: Iterable[object]
    ) -> dict[object, list[tuple[object, ...]]]:
        """Finds live records by a key field; returns folded key -> [(Id, IsDeleted), ...]."""
        found: dict[object, list[tuple[object, ...]]] = {}
        keys = list(values)
        collate = "" if key.case_sensitive or key.name == "Id" else " COLLATE NOCASE"
        for start in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT Id, IsDeleted, {quote(key.name)} FROM {quote(obj.name)} "
                f"WHERE {quote(key.name)}{collate} IN ({marks})"
            )
            if key.name != "Id":
                sql += " AND IsDeleted = 0"
            for record_id, deleted, value in self.store.query(sql, chunk):
                found.setdefault(_fold(key, value), []).append((record_id, deleted))
        return found

    # -- matching ----------------------------------------------------------------------------------

    def _match(self, batch_plan: Plan, work: list[_Row], duplicate_keys: frozenset[str]) -> None:
        obj = batch_plan.obj
        live = [r for r in work if not r.error]
        if batch_plan.operation == "insert":
            for row in live:
                if "Id" in row.values:
                    row.error = str(
                        RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ("Id",))
                    )
            return
        if batch_plan.operation == "update":
            key = obj.field("Id")
            assert key is not None
            keyed = {}
            for row in live:
                value = row.values.get("Id")
                if value is None or value is _CLEAR:
                    row.error = str(RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
                else:
                    keyed[row.index] = value
        else:
            key = batch_plan.key
            assert key is not None
            keyed = {}
            for row in live:
                value = row.values.get(key.name)
                if value is None or value is _CLEAR:
                    row.error = str(RecordError("MISSING_ARGUMENT", f"{key.name} not specified"))
                elif _fold(key, value) in duplicate_keys:
                    row.error = str(RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {value}"))
                else:
                    keyed[row.index] = value
        found = self._lookup(obj, key, keyed.values())
        for row in live:
            if row.error or row.index not in keyed:
                continue
            matches = found.get(_fold(key, keyed[row.index]), [])
            if key.name == "Id" and matches and matches[0][1]:
                row.error = str(RecordError("ENTITY_IS_DELETED", "entity is deleted"))
            elif len(matches) > 1:
                row.error = str(_duplicate_external_id(key, [m[0] for m in matches]))
            elif matches:
                row.record_id = str(matches[0][0])
                row.existing = matches[0]
            elif batch_plan.operation == "update" or key.name == "Id":
                row.error = str(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))

    # -- writing -----------------------------------------------------------------------------------

    def _write(self, batch_plan: Plan, rows: list[_Row]) -> None:
        obj = batch_plan.obj
        rules = self.rules(obj)
        inserts = [r for r in rows if r.existing is None]
        updates = [r for r in rows if r.existing is not None]
        for row in inserts:
            row.error = _check_fields(rules, row, creating=True)
        for row in updates:
            row.error = _check_fields(rules, row, creating=False)
        inserts = [r for r in inserts if r.error is None]
        updates = [r for r in updates if r.error is None]
        for row, record_id in zip(inserts, self.ids.many(obj.key_prefix, len(inserts)), strict=True):
            row.record_id = record_id
        stamp = now_datetime()
        changed = list(dict.fromkeys(c.field.name for c in batch_plan.columns if c.field.name != "Id"))
        insert_sql, insert_params = self._inserts(obj, rules, changed, inserts, stamp)
        update_sql, update_params = self._updates(obj, rules, changed, updates, stamp)
        try:
            with self.store.transaction() as conn:
                if insert_params:
                    conn.executemany(insert_sql, insert_params)
                if update_params:
                    conn.executemany(update_sql, update_params)
        except sqlite3.IntegrityError:
            # Rare: a unique field collides. Redo row by row to fail only the colliding rows.
            self._write_one_by_one(obj, insert_sql, update_sql, inserts, insert_params, updates, update_params)

    def _inserts(
        self, obj: ObjectDef, rules: _Rules, changed: list[str], rows: list[_Row], stamp: str
    ) -> tuple[str, list[tuple[object, ...]]]:
        """Only the columns with values are written; SQLite leaves the rest null."""
        user = self.user_id
        defaults: dict[str, object] = {
            "IsDeleted": 0, "OwnerId": user, "CreatedById": user, "LastModifiedById": user,
            "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
            **dict(rules.boolean_defaults),
        }  # fmt: skip
        if rules.derived_name:
            defaults["Name"] = ""
        defaults = {k: v for k, v in defaults.items() if obj.field(k) is not None and k not in changed}
        columns = ["Id", *changed, *defaults]
        sql = (
            f"INSERT INTO {quote(obj.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        tail = tuple(defaults.values())
        name_at = columns.index("Name") if rules.derived_name else -1
        name_parts = [columns.index(n) for n in ("FirstName", "LastName") if n in changed]
        params = []
        for row in rows:
            values = row.values
            out = [row.record_id]
            for name in changed:
                value = values.get(name)
                out.append(None if value is _CLEAR else value)
            out.extend(tail)
            if name_at >= 0:
                out[name_at] = " ".join(str(out[i]) for i in name_parts if out[i] is not None)
            params.append(tuple(out))
        return sql, params

    def _updates(
        self, obj: ObjectDef, rules: _Rules, changed: list[str], rows: list[_Row], stamp: str
    ) -> tuple[str, list[tuple[object, ...]]]:
        """Each column is set only where the row has a value; an empty cell leaves the field unchanged."""
        sets = [f"{quote(name)} = CASE WHEN ? THEN ? ELSE {quote(name)} END" for name in changed]
        if rules.derived_name:
            sets.append(
                "Name = TRIM(COALESCE(CASE WHEN ? THEN ? ELSE FirstName END, '') || ' ' || "
                "COALESCE(CASE WHEN ? THEN ? ELSE LastName END, ''))"
            )
        sets += ["LastModifiedDate = ?", "LastModifiedById = ?", "SystemModstamp = ?"]
        sql = f"UPDATE {quote(obj.name)} SET {', '.join(sets)} WHERE Id = ?"
        name_parts = ("FirstName", "LastName") if rules.derived_name else ()
        params = []
        for row in rows:
            values = row.values
            out: list[object] = []
            for name in (*changed, *name_parts):
                value = values.get(name)
                if value is None:
                    out += (0, None)
                else:
                    out += (1, None if value is _CLEAR else value)
            out += (stamp, self.user_id, stamp, row.record_id)
            params.append(tuple(out))
        return sql, params

    def _write_one_by_one(
        self,
        obj: ObjectDef,
        insert_sql: str,
        update_sql: str,
        inserts: list[_Row],
        insert_params: list[tuple[object, ...]],
        updates: list[_Row],
        update_params: list[tuple[object, ...]],
    ) -> None:
        with self.store.transaction() as conn:
            for sql, rows, params in ((insert_sql, inserts, insert_params), (update_sql, updates, update_params)):
                for row, values in zip(rows, params, strict=True):
                    conn.execute("SAVEPOINT one_row")
                    try:
                        conn.execute(sql, values)
                    except sqlite3.IntegrityError:
                        conn.execute("ROLLBACK TO one_row")
                        row.error = str(self._duplicate_value(conn, obj, row))
                    conn.execute("RELEASE one_row")

    def _duplicate_value(self, conn: sqlite3.Connection, obj: ObjectDef, row: _Row) -> RecordError:
        for f in obj.stored_fields:
            value = row.values.get(f.name)
            if not f.unique or value is None or value is _CLEAR:
                continue
            collate = "" if f.case_sensitive else " COLLATE NOCASE"
            hit = conn.execute(
                f"SELECT Id FROM {quote(obj.name)} WHERE {quote(f.name)}{collate} = ? AND IsDeleted = 0 AND Id != ?",
                (value, row.record_id),
            ).fetchone()
            if hit:
                return RecordError(
                    "DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value on record with id: {hit[0]}"
                )
        return RecordError("DUPLICATE_VALUE", "duplicate value found")

    # -- deleting ----------------------------------------------------------------------------------

    def _delete(self, batch_plan: Plan, work: list[_Row]) -> None:
        obj = batch_plan.obj
        wanted = {}
        for row in work:
            canonical = ids.normalize(row.cells[0])
            if not row.cells[0]:
                row.error = str(RecordError("MISSING_ARGUMENT", "Id not specified in a delete call"))
            elif canonical is None or ids.key_prefix(canonical) != obj.key_prefix:
                row.error = str(RecordError("MALFORMED_ID", f"bad id {row.cells[0]}"))
            else:
                wanted[row.index] = canonical
        id_field = obj.field("Id")
        assert id_field is not None
        found = self._lookup(obj, id_field, wanted.values())
        hard = batch_plan.operation == "hardDelete"
        targets = []
        for row in work:
            if row.index not in wanted:
                continue
            row.record_id = wanted[row.index]
            matches = found.get(_fold(id_field, row.record_id))
            if not matches:
                row.error = str(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
            elif matches[0][1] and not hard:
                row.error = str(RecordError("ENTITY_IS_DELETED", "entity is deleted"))
            else:
                row.existing = matches[0]
                targets.append(row.record_id)
        stamp = now_datetime()
        with self.store.transaction() as conn:
            if hard:
                conn.executemany(f"DELETE FROM {quote(obj.name)} WHERE Id = ?", [(t,) for t in targets])
            else:
                conn.executemany(
                    f"UPDATE {quote(obj.name)} SET IsDeleted = 1, SystemModstamp = ? WHERE Id = ?",
                    [(stamp, t) for t in targets],
                )


def _fold(key: FieldDef, value: object) -> object:
    """The form under which the org compares key values: case-insensitive unless the field says not."""
    if isinstance(value, str) and not key.case_sensitive:
        return value.lower()
    return value


def _duplicate_external_id(key: FieldDef, record_ids: list[object]) -> RecordError:
    return RecordError(
        "DUPLICATE_EXTERNAL_ID",
        f"{key.label}: more than one record found for external id field: [{', '.join(map(str, record_ids))}]",
    )


def _check_fields(rules: _Rules, row: _Row, *, creating: bool) -> str | None:
    values = row.values
    closed = rules.not_createable if creating else rules.not_updateable
    blocked = [name for name in values if name in closed]
    if blocked:
        return str(
            RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(blocked)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                tuple(blocked),
            )
        )
    if creating:
        missing = [name for name in rules.required if values.get(name) is None or values.get(name) is _CLEAR]
    else:
        missing = [name for name, value in values.items() if value is _CLEAR and name in rules.not_nillable]
    if missing:
        return str(
            RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", tuple(missing)
            )
        )
    return None


def echo(batch_plan: Plan, cells: Sequence[str]) -> Sequence[str]:
    """The row's values as results echo them: number fields re-serialised the way Java prints them."""
    if not batch_plan.number_columns:
        return cells
    out = list(cells)
    for index in batch_plan.number_columns:
        if index < len(out):
            text = out[index]
            if text and text != NULL_TOKEN:
                with contextlib.suppress(ValueError):
                    out[index] = java_double(float(text))
    return out
