"""SQLite persistence of the org: one table per sObject, plus jobs and org metadata."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .schema import ObjectDef, Schema


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Store:
    """The org's records and bookkeeping in one SQLite file.

    One connection is shared by all threads and serialized by ``lock``: SQLite allows one writer at
    a time anyway, and a single connection avoids ``database is locked`` retries under load.

    Args:
        path: The SQLite file (``":memory:"`` for a throwaway org).
        schema: Objects to create tables for; new fields of a changed schema are added as columns.
    """

    def __init__(self, path: Path | str, schema: Schema) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        # WAL without fsync: every commit is in the OS's page cache once write() returns, so data
        # survives the process exiting or being killed; only an OS crash or power loss may lose or
        # damage the newest commits, the right trade for a local org that is measured on ingest speed.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-262144")
        # IN-lists of keys become temporary b-trees; on disk they would cost a file per lookup.
        self.conn.execute("PRAGMA temp_store=MEMORY")
        # Key lookups and updates read pages straight from the mapped file instead of copying them.
        self.conn.execute("PRAGMA mmap_size=1073741824")
        self.conn.execute("CREATE TABLE IF NOT EXISTS org_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS bulk_jobs (id TEXT PRIMARY KEY, info TEXT NOT NULL)")
        for obj in schema.objects:
            self._ensure_table(obj)

    def _ensure_table(self, obj: ObjectDef) -> None:
        table = quote(obj.name)
        existing = {row[1].lower() for row in self.conn.execute(f"PRAGMA table_info({table})")}
        if not existing:
            columns = ", ".join(
                f"{quote(f.name)} {f.sql_type}" + (" PRIMARY KEY" if f.name == "Id" else "") for f in obj.stored_fields
            )
            self.conn.execute(f"CREATE TABLE {table} ({columns})")
        else:
            for f in obj.stored_fields:
                if f.name.lower() not in existing:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(f.name)} {f.sql_type}")
        for f in obj.stored_fields:
            # Audit references (owner, creator) all point at the one API user: an index would only slow inserts.
            parent_index = f.type == "reference" and any(self.schema.get(t) for t in f.reference_to)
            index = quote(f"ix_{obj.name}_{f.name}")
            if f.name == "Id" or not (f.external_id or f.unique or parent_index):
                # Fields that are merely idLookup (Contact.Email) still identify records, by a scan:
                # keeping an index for them costs every insert and update more than it saves the rare
                # lookup. An org created before this rule loses the index it has.
                self.conn.execute(f"DROP INDEX IF EXISTS {index}")
                continue
            collate = "" if f.case_sensitive else " COLLATE NOCASE"
            if f.unique:
                # Deleted rows sit in the recycle bin and no longer hold their unique values.
                self.conn.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} ({quote(f.name)}{collate}) "
                    "WHERE IsDeleted = 0"
                )
            elif parent_index:
                # Lookups by parent always test IS NOT NULL, so rows without a parent (most of a bulk
                # load) stay out of the index and cost nothing to insert.
                self.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({quote(f.name)}{collate}) "
                    f"WHERE {quote(f.name)} IS NOT NULL"
                )
            else:
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({quote(f.name)}{collate})")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def get_meta(self, key: str) -> Any:
        rows = self.query("SELECT value FROM org_meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO org_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def reserve_ids(self, count: int) -> int:
        """Reserves ``count`` numbers of the org-wide ID counter; returns the first."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM org_meta WHERE key = 'id_counter'").fetchone()
            first = json.loads(row[0]) if row else 1
            conn.execute(
                "INSERT INTO org_meta (key, value) VALUES ('id_counter', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (json.dumps(first + count),),
            )
            return int(first)

    def save_job(self, job_id: str, info: dict[str, Any]) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO bulk_jobs (id, info) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET info = excluded.info",
                (job_id, json.dumps(info)),
            )

    def delete_job(self, job_id: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM bulk_jobs WHERE id = ?", (job_id,))

    def load_jobs(self) -> list[dict[str, Any]]:
        return [json.loads(row[0]) for row in self.query("SELECT info FROM bulk_jobs")]

    def count(self, obj: ObjectDef, *, include_deleted: bool = False) -> int:
        where = "" if include_deleted else " WHERE IsDeleted = 0"
        return int(self.query(f"SELECT COUNT(*) FROM {quote(obj.name)}{where}")[0][0])

    def clear_records(self) -> None:
        with self.transaction() as conn:
            for obj in self.schema.objects:
                conn.execute(f"DELETE FROM {quote(obj.name)}")
            conn.execute("DELETE FROM bulk_jobs")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
