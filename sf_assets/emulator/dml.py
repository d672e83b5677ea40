"""Record-level DML as Bulk API ingest applies it: insert, update, upsert, delete and hardDelete.

A batch of CSV rows is worked column by column: each column is converted in one pass, parent
relationships and upsert keys are looked up in one query per 900 keys, and the surviving rows are
written in one SQLite transaction, one statement per run of rows that give the same fields. Every
row gets an outcome; nothing is dropped.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from . import ids
from .schema import FieldDef, ObjectDef, Schema
from .store import Store, quote
from .values import CLEAR, NULL_TOKEN, ColumnConverter, RecordError, java_double, now_datetime

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
_SQL_CHUNK = 900  # stays under SQLite's host-parameter limit on every build
_NOTHING = object()


class JobError(Exception):
    """A problem with the whole batch (bad header, wrong columns): the job fails with this message."""


@dataclass(frozen=True)
class Column:
    """How one CSV column maps onto the object: a field, or a parent looked up by an indexed field."""

    index: int
    header: str
    field: FieldDef
    convert: ColumnConverter
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

    def upsert_keys(self, cells: Sequence[str]) -> list[object]:
        """The folded upsert keys of raw key cells, leaving out cells that carry none."""
        key = self.key
        assert key is not None
        if "" in cells or NULL_TOKEN in cells:
            return _fold_all(key, [text for text in cells if text not in ("", NULL_TOKEN)])
        return _fold_all(key, list(cells))

    @functools.cached_property
    def batchable(self) -> bool:
        """Whether a batch's transactions may be applied in one engine call: none of them can see what
        an earlier one wrote. Deletes (an Id twice fails the second time) and relationships to the
        job's own object (a parent created by an earlier transaction) cannot."""
        if self.operation in ("delete", "hardDelete"):
            return False
        return all(c.parent is None or c.parent.name != self.obj.name for c in self.columns)

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
        columns.append(Column(index, name, target, ColumnConverter(target, index)))
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
    return Column(index, name, reference, ColumnConverter(parent_field, index), parent, parent_field)


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


class Results:
    """The outcome of every row of one engine call, kept as columns (a batch has 10,000 rows)."""

    def __init__(self, record_ids: list[str], created: list[bool], errors: list[str | None]) -> None:
        self.record_ids = record_ids
        self.created = created
        self.errors = errors

    @property
    def failed(self) -> int:
        return len(self.errors) - self.errors.count(None)

    def __len__(self) -> int:
        return len(self.errors)

    def __getitem__(self, index: int) -> Outcome:
        error = self.errors[index]
        return Outcome(self.record_ids[index], self.created[index], error)

    def __iter__(self) -> Iterator[Outcome]:
        return map(Outcome, self.record_ids, self.created, self.errors)


class _Work:
    """The rows of one engine call and what is known about each, column by column.

    ``values`` maps a field name to one value per row: None where the cell was empty (the field is
    left unchanged), CLEAR for ``#N/A``. Rows keep their first error; later steps skip them.
    """

    def __init__(
        self, batch_plan: Plan, rows: Sequence[Sequence[str]], columns: Sequence[Sequence[str]] | None = None
    ) -> None:
        self.plan = batch_plan
        self.rows = rows
        self.size = len(rows)
        self.errors: list[str | None] = [None] * self.size
        self.record_ids: list[str] = [""] * self.size
        self.existing: list[bool] = [False] * self.size
        self.values: dict[str, list[object]] = {}
        # The matched record's key value as stored, per row; _NOTHING where no record matched.
        self.stored_keys: list[object] = [_NOTHING] * self.size
        # The matched record's rowid, so that its update finds it without a search of the Id index.
        self.rowids: list[object] = [None] * self.size
        width = len(batch_plan.header)
        self.cells: Sequence[Sequence[str]] = rows
        self._columns: Sequence[Sequence[str]] | None = columns
        if columns is None and rows and set(map(len, rows)) != {width}:
            blank = [""] * width
            for index, cells in enumerate(rows):
                if len(cells) != width:
                    self.errors[index] = str(
                        RecordError("INVALID_FIELD", f"Record has {len(cells)} fields but the header has {width}")
                    )
            # Failed rows are padded so that columns line up; their cells are never used.
            self.cells = [cells if len(cells) == width else blank for cells in rows]

    def column(self, index: int) -> Sequence[str]:
        if not self.size:
            return ()
        if self._columns is None:
            # One transposition serves every column; rows are padded to the header's width above.
            self._columns = list(zip(*self.cells, strict=True))
        return self._columns[index]

    def live(self, indexes: Iterable[int] | None = None) -> list[int]:
        errors = self.errors
        if indexes is None:
            if errors.count(None) == self.size:
                return list(range(self.size))
            return [i for i, error in enumerate(errors) if error is None]
        return [i for i in indexes if errors[i] is None]

    def fail(self, index: int, error: RecordError | str) -> None:
        if self.errors[index] is None:
            self.errors[index] = str(error)

    def field_order(self, index: int) -> list[str]:
        """The row's given fields in the order Salesforce lists them in errors: its columns in CSV
        order, then the parents its relationship columns set."""
        cells = self.rows[index]
        names = [c.field.name for c in self.plan.columns if c.parent is None and cells[c.index] != ""]
        for c in self.plan.columns:
            if c.parent is not None and cells[c.index] != "" and c.field.name not in names:
                names.append(c.field.name)
        return names

    def results(self) -> Results:
        errors = self.errors
        if errors.count(None) == self.size:
            created = list(map(operator.not_, self.existing))
        else:
            created = [error is None and not existing for error, existing in zip(errors, self.existing, strict=True)]
        return Results(self.record_ids, created, errors)


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
        self,
        batch_plan: Plan,
        rows: Sequence[Sequence[str]],
        duplicate_keys: frozenset[object] = frozenset(),
        transaction_size: int = 0,
        columns: Sequence[Sequence[str]] | None = None,
    ) -> Results:
        """Applies rows as consecutive transactions of ``transaction_size`` (0: one); returns an
        outcome per row, in order. ``columns``, when the caller has them, are the same cells column
        by column, every row as wide as the header.

        Rows are looked up and written together, which gives each row the outcome it gets when its
        transactions run one after another as long as ``batch_plan.batchable`` holds; a unique-value
        collision replays the writes transaction by transaction and row by row.
        """
        work = _Work(batch_plan, rows, columns)
        if batch_plan.operation in ("delete", "hardDelete"):
            self._delete(work)
        else:
            self._parse(work)
            self._resolve_parents(work)
            self._match(work, duplicate_keys)
            self._write(work, transaction_size or max(1, work.size))
        return work.results()

    # -- parsing -----------------------------------------------------------------------------------

    def _parse(self, work: _Work) -> None:
        for column in work.plan.columns:
            values, errors = column.convert(work.column(column.index))
            for index, error in errors.items():
                work.fail(index, error)
            if column.parent is None:
                work.values[column.field.name] = values
            else:
                work.values[column.header] = values

    def _resolve_parents(self, work: _Work) -> None:
        errors = work.errors
        for column in work.plan.columns:
            if column.parent is None or column.parent_field is None:
                continue
            given = work.values.pop(column.header)
            wanted = {v for v, error in zip(given, errors, strict=True) if error is None and v is not None}
            wanted.discard(CLEAR)
            found = self._lookup(column.parent, column.parent_field, wanted)
            target = work.values.setdefault(column.field.name, [None] * work.size)
            for index, value in enumerate(given):
                if value is None or errors[index] is not None:
                    continue
                if value is CLEAR:
                    target[index] = CLEAR
                    continue
                matches = found.get(_fold(column.parent_field, value), [])
                if len(matches) == 1:
                    target[index] = matches[0][0]
                elif not matches:
                    errors[index] = str(
                        RecordError(
                            "INVALID_FIELD",
                            f"Foreign key external ID: {value} not found for field {column.parent_field.name} "
                            f"in entity {column.parent.name}",
                        )
                    )
                else:
                    errors[index] = str(_duplicate_external_id(column.parent_field, [m[0] for m in matches]))

    def _lookup(
        self, obj: ObjectDef, key: FieldDef, values: Iterable[object]
    ) -> dict[object, list[tuple[object, ...]]]:
        """Finds live records by a key field; returns folded key -> [(Id, IsDeleted, stored key), ...]."""
        found: dict[object, list[tuple[object, ...]]] = {}
        for folded, row in zip(*self._find(obj, key, values), strict=True):
            found.setdefault(folded, []).append(row)
        return found

    def _find(
        self, obj: ObjectDef, key: FieldDef, values: Iterable[object]
    ) -> tuple[list[object], list[tuple[object, ...]]]:
        """The folded key values and rows (Id, IsDeleted, stored key, rowid) of the live records a key matches."""
        keys = list(values)
        collate = "" if key.case_sensitive or key.name == "Id" else " COLLATE NOCASE"
        rows: list[tuple[object, ...]] = []
        for start in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT Id, IsDeleted, {quote(key.name)}, rowid FROM {quote(obj.name)} "
                f"WHERE {quote(key.name)}{collate} IN ({marks})"
            )
            if key.name != "Id":
                sql += " AND IsDeleted = 0"
            rows += self.store.query(sql, chunk)
        return _fold_all(key, [row[2] for row in rows]), rows

    def parent_ids(self, batch_plan: Plan, rows: Sequence[Sequence[str]], schema: Schema) -> list[list[str]]:
        """The parents each row names through a lookup to one of the schema's objects, by Id or by
        the parent's external ID: the records that writing the row locks. A cell that names no
        record (empty, malformed, not found) gives none; the row's write reports that itself."""
        parents: list[list[str]] = [[] for _ in rows]
        for column in batch_plan.columns:
            if column.field.type != "reference" or not any(schema.get(t) for t in column.field.reference_to):
                continue
            cells = [row[column.index] if column.index < len(row) else "" for row in rows]
            if column.parent is None or column.parent_field is None:
                for index, cell in enumerate(cells):
                    record_id = ids.normalize(cell) if cell and cell != NULL_TOKEN else None
                    if record_id is not None:
                        parents[index].append(record_id)
                continue
            values, _ = column.convert(cells)
            wanted = {v for v in values if v is not None and v is not CLEAR}
            found = self._lookup(column.parent, column.parent_field, wanted)
            for index, value in enumerate(values):
                matches = found.get(_fold(column.parent_field, value), []) if value in wanted else []
                if len(matches) == 1:
                    parents[index].append(str(matches[0][0]))
        return parents

    # -- matching ----------------------------------------------------------------------------------

    def _match(self, work: _Work, duplicate_keys: frozenset[object]) -> None:
        batch_plan = work.plan
        errors = work.errors
        if batch_plan.operation == "insert":
            given = work.values.get("Id")
            if given is not None:
                message = str(
                    RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ("Id",))
                )
                for index, value in enumerate(given):
                    if value is not None and errors[index] is None:
                        errors[index] = message
            return
        if batch_plan.operation == "update":
            key = batch_plan.obj.field("Id")
            missing = str(RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
        else:
            key = batch_plan.key
            assert key is not None
            missing = str(RecordError("MISSING_ARGUMENT", f"{key.name} not specified"))
        assert key is not None
        given = work.values.get(key.name) or [None] * work.size
        keyed: list[int] = work.live()
        raw: list[object] = _pick(given, keyed)
        if None in raw or CLEAR in raw:
            for index in keyed:
                if given[index] is None or given[index] is CLEAR:
                    errors[index] = missing
            keyed = work.live(keyed)
            raw = _pick(given, keyed)
        folded = _fold_all(key, raw)
        if batch_plan.operation == "upsert" and duplicate_keys:
            for index, value, folded_value in zip(keyed, raw, folded, strict=True):
                if folded_value in duplicate_keys:
                    errors[index] = str(RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {value}"))
        found_keys, rows = self._find(batch_plan.obj, key, raw)
        # Keys mostly match one record each; only keys that match several need their rows grouped.
        first = dict(zip(found_keys, rows, strict=True))
        several: dict[object, list[tuple[object, ...]]] = {}
        if len(first) < len(rows):
            for found_key, row in zip(found_keys, rows, strict=True):
                several.setdefault(found_key, []).append(row)
        by_id = key.name == "Id"
        must_exist = batch_plan.operation == "update" or by_id
        hits = list(map(first.get, folded))
        if hits and len(keyed) == work.size and not several and None not in hits and errors.count(None) == work.size:
            # The common update: every row matched one live record. Deleted ones show only by Id.
            record_ids, deleted, stored_keys, rowids = (list(column) for column in zip(*hits, strict=True))
            if not (by_id and any(deleted)):
                work.record_ids = record_ids  # type: ignore[assignment]  # Id is a TEXT column
                work.stored_keys, work.rowids = stored_keys, rowids
                work.existing = [True] * work.size
                return
        record_ids = work.record_ids
        existing = work.existing
        stored_keys = work.stored_keys
        rowids = work.rowids
        for index, folded_value, match in zip(keyed, folded, hits, strict=True):
            if errors[index] is not None:
                continue
            if match is None:
                if must_exist:
                    errors[index] = str(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
            elif several and len(several.get(folded_value, ())) > 1:
                errors[index] = str(_duplicate_external_id(key, [m[0] for m in several[folded_value]]))
            elif by_id and match[1]:
                errors[index] = str(RecordError("ENTITY_IS_DELETED", "entity is deleted"))
            else:
                record_id, _, stored_keys[index], rowids[index] = match
                record_ids[index] = str(record_id)
                existing[index] = True

    # -- checking ----------------------------------------------------------------------------------

    def _check(self, work: _Work, rules: _Rules, indexes: list[int], *, creating: bool) -> None:
        """Fails rows that set read-only fields or leave required ones empty."""
        values = work.values
        closed = rules.not_createable if creating else rules.not_updateable
        blocked = set()
        for name in values:
            if name in closed:
                given = values[name]
                blocked.update(i for i in indexes if given[i] is not None)
        for index in sorted(blocked):
            names = tuple(n for n in work.field_order(index) if n in closed)
            work.fail(
                index,
                RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(names)}. Please check the security settings of "
                    "this field and verify that it is read/write for your profile or permission set.",
                    names,
                ),
            )
        missing: dict[int, list[str]] = {}
        if creating:
            for name in rules.required:
                given = values.get(name)
                if given is not None and None not in given and CLEAR not in given:
                    continue
                for index in indexes:
                    if given is None or given[index] is None or given[index] is CLEAR:
                        missing.setdefault(index, []).append(name)
        else:
            for name in values:
                if name in rules.not_nillable and CLEAR in values[name]:
                    given = values[name]
                    missing.update((i, []) for i in indexes if given[i] is CLEAR)
            for index in missing:
                missing[index] = [
                    n for n in work.field_order(index) if n in rules.not_nillable and values[n][index] is CLEAR
                ]
        for index in sorted(missing):
            names = tuple(missing[index])
            work.fail(
                index,
                RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(names)}]", names),
            )

    # -- writing -----------------------------------------------------------------------------------

    def _write(self, work: _Work, transaction_size: int) -> None:
        obj = work.plan.obj
        rules = self.rules(obj)
        live = work.live()
        existing = work.existing
        self._check(work, rules, [i for i in live if not existing[i]], creating=True)
        self._check(work, rules, [i for i in live if existing[i]], creating=False)
        live = work.live(live)
        inserts = [i for i in live if not existing[i]]
        updates = [i for i in live if existing[i]]
        new_ids = self.ids.many(obj.key_prefix, len(inserts))
        for index, record_id in zip(inserts, new_ids, strict=True):
            work.record_ids[index] = record_id
        stamp = now_datetime()
        changed = list(dict.fromkeys(c.field.name for c in work.plan.columns if c.field.name != "Id"))
        columns = {name: _nulls_for_clear(work.values[name]) for name in changed}
        insert_sql, insert_params = self._inserts(obj, rules, changed, columns, inserts, new_ids, stamp)
        update_runs = self._updates(work, rules, changed, columns, updates, stamp)
        try:
            with self.store.transaction() as conn:
                if insert_params:
                    conn.executemany(insert_sql, insert_params)
                for sql, _, params in update_runs:
                    conn.executemany(sql, params)
        except sqlite3.IntegrityError:
            # Rare: a unique field collides. Redo row by row to fail only the colliding rows.
            statements = {i: (insert_sql, p) for i, p in zip(inserts, insert_params, strict=True)}
            for sql, indexes, params in update_runs:
                statements.update((i, (sql, p)) for i, p in zip(indexes, params, strict=True))
            self._write_one_by_one(work, statements, set(inserts), transaction_size)

    def _inserts(
        self,
        obj: ObjectDef,
        rules: _Rules,
        changed: list[str],
        columns: dict[str, list[object]],
        rows: list[int],
        record_ids: list[str],
        stamp: str,
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
        bound = [name for name in changed if not (rules.derived_name and name == "Name")]
        slot = {name: f"?{number}" for number, name in enumerate(bound, start=2)}
        expressions = {"Id": "?1", **slot, **{k: _literal(v) for k, v in defaults.items()}}
        if rules.derived_name:
            # Person objects show FirstName and LastName joined by a space, skipping whichever is null.
            parts = [slot[n] for n in ("FirstName", "LastName") if n in slot]
            if len(parts) == 2:
                expressions["Name"] = f"COALESCE({parts[0]} || ' ' || {parts[1]}, {parts[0]}, {parts[1]}, '')"
            else:
                expressions["Name"] = f"COALESCE({parts[0]}, '')" if parts else "''"
        sql = (
            f"INSERT INTO {quote(obj.name)} ({', '.join(quote(c) for c in expressions)}) "
            f"VALUES ({', '.join(expressions.values())})"
        )
        params = list(zip(record_ids, *(_pick(columns[name], rows) for name in bound), strict=True))
        return sql, params

    def _updates(
        self,
        work: _Work,
        rules: _Rules,
        changed: list[str],
        columns: dict[str, list[object]],
        rows: list[int],
        stamp: str,
    ) -> list[tuple[str, list[int], list[tuple[object, ...]]]]:
        """Statements for runs of consecutive rows that give the same fields, in row order.

        An empty cell leaves its field unchanged, so each shape of row has its own SET list.
        """
        if not rows:
            return []
        obj = work.plan.obj
        given = work.values
        settable = [name for name in changed if not (rules.derived_name and name == "Name")]
        picked = [_pick(columns[name], rows) for name in settable]
        ids_of = [work.record_ids[i] for i in rows]
        rowids = _pick(work.rowids, rows)
        # A #N/A cell is given (it clears the field); only an empty cell leaves the field out.
        raw = [_pick(given[name], rows) for name in settable]
        key = work.plan.key
        if key is not None and key.name in settable:
            # Writing a key its record already holds, byte for byte, changes nothing but costs an
            # index update; leaving it out of the SET list is the common upsert shape.
            at = settable.index(key.name)
            same = list(map(operator.eq, _pick(work.stored_keys, rows), raw[at]))
            if all(same):
                raw[at] = [None] * len(rows)
            elif any(same):
                raw[at] = [None if unchanged else v for unchanged, v in zip(same, raw[at], strict=True)]
        # Most loads give every row the same fields: then each column is wholly given or wholly empty.
        uniform = [None not in column or column.count(None) == len(column) for column in raw]
        if all(uniform):
            shape = tuple(None not in column for column in raw)
            shapes: list[tuple[bool, ...]] = [shape] * len(rows)
        else:
            shapes = list(zip(*([v is not None for v in column] for column in raw), strict=True))
        runs: list[tuple[str, list[int], list[tuple[object, ...]]]] = []
        start = 0
        ends = [len(rows)] if all(uniform) else range(1, len(rows) + 1)
        for end in ends:
            if end < len(rows) and shapes[end] == shapes[start]:
                continue
            shape = shapes[start]
            names = [name for name, flag in zip(settable, shape, strict=True) if flag]
            chosen = [column[start:end] for column, flag in zip(picked, shape, strict=True) if flag]
            params = list(zip(ids_of[start:end], rowids[start:end], *chosen, strict=True))
            runs.append((self._update_sql(obj, rules, names, stamp), rows[start:end], params))
            start = end
        return runs

    def _update_sql(self, obj: ObjectDef, rules: _Rules, names: list[str], stamp: str) -> str:
        slot = {name: f"?{number}" for number, name in enumerate(names, start=3)}
        sets = [f"{quote(name)} = {placeholder}" for name, placeholder in slot.items()]
        if rules.derived_name:
            first = slot.get("FirstName", "FirstName")
            last = slot.get("LastName", "LastName")
            sets.append(f"Name = TRIM(COALESCE({first}, '') || ' ' || COALESCE({last}, ''))")
        sets += [
            f"LastModifiedDate = {_literal(stamp)}",
            f"LastModifiedById = {_literal(self.user_id)}",
            f"SystemModstamp = {_literal(stamp)}",
        ]
        # By rowid, which the lookup found; the Id test guards against a rowid that a hard delete
        # freed and an insert took in between.
        return f"UPDATE {quote(obj.name)} SET {', '.join(sets)} WHERE rowid = ?2 AND Id = ?1"

    def _write_one_by_one(
        self,
        work: _Work,
        statements: dict[int, tuple[str, tuple[object, ...]]],
        inserts: set[int],
        transaction_size: int,
    ) -> None:
        """Each transaction's inserts, then its updates, row by row: the first row to take a unique
        value keeps it."""
        obj = work.plan.obj
        with self.store.transaction() as conn:
            for start in range(0, work.size, transaction_size):
                group = [i for i in range(start, min(work.size, start + transaction_size)) if i in statements]
                for index in [i for i in group if i in inserts] + [i for i in group if i not in inserts]:
                    sql, values = statements[index]
                    conn.execute("SAVEPOINT one_row")
                    try:
                        conn.execute(sql, values)
                    except sqlite3.IntegrityError:
                        conn.execute("ROLLBACK TO one_row")
                        work.fail(index, self._duplicate_value(conn, obj, work, index))
                    conn.execute("RELEASE one_row")

    def _duplicate_value(self, conn: sqlite3.Connection, obj: ObjectDef, work: _Work, index: int) -> RecordError:
        for f in obj.stored_fields:
            given = work.values.get(f.name)
            value = given[index] if given is not None else None
            if not f.unique or value is None or value is CLEAR:
                continue
            collate = "" if f.case_sensitive else " COLLATE NOCASE"
            hit = conn.execute(
                f"SELECT Id FROM {quote(obj.name)} WHERE {quote(f.name)}{collate} = ? AND IsDeleted = 0 AND Id != ?",
                (value, work.record_ids[index]),
            ).fetchone()
            if hit:
                return RecordError(
                    "DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value on record with id: {hit[0]}"
                )
        return RecordError("DUPLICATE_VALUE", "duplicate value found")

    # -- deleting ----------------------------------------------------------------------------------

    def _delete(self, work: _Work) -> None:
        obj = work.plan.obj
        wanted = {}
        for index in work.live():
            cell = work.rows[index][0]
            canonical = ids.normalize(cell)
            if not cell:
                work.fail(index, RecordError("MISSING_ARGUMENT", "Id not specified in a delete call"))
            elif canonical is None or ids.key_prefix(canonical) != obj.key_prefix:
                work.fail(index, RecordError("MALFORMED_ID", f"bad id {cell}"))
            else:
                wanted[index] = canonical
        id_field = obj.field("Id")
        assert id_field is not None
        found = self._lookup(obj, id_field, wanted.values())
        hard = work.plan.operation == "hardDelete"
        targets = []
        for index, record_id in wanted.items():
            work.record_ids[index] = record_id
            matches = found.get(_fold(id_field, record_id))
            if not matches:
                work.fail(index, RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
            elif matches[0][1] and not hard:
                work.fail(index, RecordError("ENTITY_IS_DELETED", "entity is deleted"))
            else:
                work.existing[index] = True
                targets.append(record_id)
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


def _fold_all(key: FieldDef, values: list[object]) -> list[object]:
    if key.case_sensitive:
        return values
    try:
        return list(map(str.lower, values))  # type: ignore[arg-type]
    except TypeError:  # a number or null among them: only text has case
        return [v.lower() if isinstance(v, str) else v for v in values]


def _nulls_for_clear(values: list[object]) -> list[object]:
    return [None if v is CLEAR else v for v in values] if CLEAR in values else values


def _pick(values: list[object], indexes: list[int]) -> list[object]:
    if len(indexes) == len(values):
        return values  # every row: indexes is range(len(values))
    return [values[i] for i in indexes]


def _literal(value: object) -> str:
    """An SQL literal for values the org generates itself (stamps, user Id, flags), so that per-row
    parameters carry only the CSV's values."""
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _duplicate_external_id(key: FieldDef, record_ids: list[object]) -> RecordError:
    return RecordError(
        "DUPLICATE_EXTERNAL_ID",
        f"{key.label}: more than one record found for external id field: [{', '.join(map(str, record_ids))}]",
    )


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
