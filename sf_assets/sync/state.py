"""The sync state of one object: what Salesforce last accepted, and which rows keep failing.

Layout of a state directory (one per object)::

    manifest.json           the current version, the mapped columns, the external ID field, recent runs
    v-<id>/synced/          Parquet: key, external_id, hash, sf_id, write_id: rows Salesforce accepted
    v-<id>/failures/        Parquet: key, external_id, streak, error, write_id: rows whose last attempts failed
    staged/<run id>/        the rows one run is sending (see :mod:`sf_assets.sync.diff`), removed when it commits

A new state is written as a new version directory first; only then does ``manifest.json`` switch to it, by
renaming a finished file over the old one. A reader (or a crash at any moment) sees the old state or the new
one, never half of each. The directory is a local (or mounted) path: the rename is what makes the switch atomic.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SYNCED_SCHEMA = "key string, external_id string, hash string, sf_id string, write_id string"
FAILURES_SCHEMA = "key string, external_id string, streak int, error string, write_id string"
MANIFEST = "manifest.json"
FORMAT = 1
# Runs remembered in the manifest, for people reading it; the failure streaks live in the failures table.
HISTORY_RUNS = 20
# Staged rows of a run that never committed (it crashed) are kept this long, for inspection, then removed.
STALE_STAGING_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says.

    Attributes:
        version: The current version directory (``None`` before the first commit).
        columns: The mapped columns the hashes were computed over, sorted.
        external_id_field: The field the keys come from.
        updated_at: When the state was last committed (ISO-8601 UTC).
        history: The last runs: write id, rows sent, accepted, failed, deleted.
    """

    version: str | None = None
    columns: tuple[str, ...] = ()
    external_id_field: str | None = None
    updated_at: str | None = None
    history: tuple[Mapping[str, Any], ...] = field(default=())

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Manifest:
        return cls(
            version=payload.get("version"),
            columns=tuple(payload.get("columns") or ()),
            external_id_field=payload.get("external_id_field"),
            updated_at=payload.get("updated_at"),
            history=tuple(payload.get("history") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "columns": list(self.columns),
            "external_id_field": self.external_id_field,
            "updated_at": self.updated_at,
            "history": list(self.history),
        }


class SyncState:
    """The state directory of one object.

    Args:
        directory: The object's state directory (created on the first commit).

    Examples:
        >>> state = SyncState("data/source/_sync_state/account")
        >>> state.synced(spark).count()
        9820
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).resolve()

    def __repr__(self) -> str:
        return f"SyncState({str(self.directory)!r})"

    def manifest(self) -> Manifest:
        """The current manifest; an empty one when nothing was ever committed."""
        try:
            return Manifest.from_json(json.loads((self.directory / MANIFEST).read_text()))
        except FileNotFoundError:
            return Manifest()

    def synced(self, spark: SparkSession) -> DataFrame:
        """Rows Salesforce accepted: ``key`` (folded external ID), ``external_id``, ``hash``, ``sf_id``."""
        return self._read(spark, "synced", SYNCED_SCHEMA)

    def failures(self, spark: SparkSession) -> DataFrame:
        """Rows whose last attempts failed: ``key``, ``external_id``, ``streak`` (runs in a row), ``error``."""
        return self._read(spark, "failures", FAILURES_SCHEMA)

    def staging_dir(self, run_id: str) -> str:
        """Where a run stages the rows it sends."""
        return str(self.directory / "staged" / run_id)

    def save(
        self,
        synced: DataFrame,
        failures: DataFrame,
        *,
        columns: Sequence[str],
        external_id_field: str,
        run: Mapping[str, Any],
    ) -> Manifest:
        """Write a new version and switch the manifest to it; the old state stays readable until the switch.

        Args:
            synced: The new synced table (``SYNCED_SCHEMA``).
            failures: The new failures table (``FAILURES_SCHEMA``).
            columns: The mapped columns the hashes cover.
            external_id_field: The field the keys come from.
            run: What this run did, appended to the manifest's history.

        Returns:
            The new manifest.
        """
        previous = self.manifest()
        version = f"v-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
        target = self.directory / version
        # A few files per table: the state is read whole on every run, and tiny files slow that down.
        synced.coalesce(4).write.mode("errorifexists").parquet(str(target / "synced"))
        failures.coalesce(1).write.mode("errorifexists").parquet(str(target / "failures"))
        manifest = Manifest(
            version=version,
            columns=tuple(sorted(columns)),
            external_id_field=external_id_field,
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            history=(*previous.history, dict(run))[-HISTORY_RUNS:],
        )
        _replace_file(self.directory / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")
        self._remove_old_versions(keep={version, previous.version})
        return manifest

    def discard_staging(self, run_id: str) -> None:
        """Remove a run's staged rows, and those of runs that crashed long ago."""
        shutil.rmtree(self.staging_dir(run_id), ignore_errors=True)
        staged = self.directory / "staged"
        if not staged.is_dir():
            return
        for child in staged.iterdir():
            if time.time() - child.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(child, ignore_errors=True)

    def repeated_failures(self, min_streak: int, *, limit: int | None = None) -> pa.Table:
        """Rows that failed in each of their last ``min_streak`` runs or more, longest streak first.

        Read with pyarrow, so checks can call it without a Spark session.
        """
        path = self._table_path("failures")
        if path is None:
            return pa.Table.from_pylist(
                [], pa.schema([(name, pa.int32() if name == "streak" else pa.string()) for name in _FAILURE_COLUMNS])
            )
        table = ds.dataset(str(path), format="parquet").to_table(
            columns=list(_FAILURE_COLUMNS), filter=pc.field("streak") >= min_streak
        )
        table = table.sort_by([("streak", "descending"), ("key", "ascending")])
        return table if limit is None else table.slice(0, limit)

    def failure_streaks(self) -> dict[int, int]:
        """How many rows have failed how many runs in a row: ``{streak: rows}``."""
        table = self.repeated_failures(1)
        counts = table.group_by("streak").aggregate([("key", "count")])
        streaks, rows = counts.column("streak").to_pylist(), counts.column("key_count").to_pylist()
        return dict(sorted(zip(streaks, rows, strict=True)))

    def _table_path(self, name: str) -> Path | None:
        version = self.manifest().version
        return None if version is None else self.directory / version / name

    def _read(self, spark: SparkSession, name: str, schema: str) -> DataFrame:
        path = self._table_path(name)
        if path is None:
            return spark.createDataFrame([], schema)
        return spark.read.schema(schema).parquet(str(path))

    def _remove_old_versions(self, keep: set[str | None]) -> None:
        # The previous version is kept too: a run that read the manifest just before the switch may still be
        # reading it.
        for child in self.directory.glob("v-*"):
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)


_FAILURE_COLUMNS = ("key", "external_id", "streak", "error", "write_id")


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old content or the new, never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(staging, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)
    # The rename itself is durable only once the directory entry is.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
