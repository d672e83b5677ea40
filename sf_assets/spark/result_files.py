"""Per-record results as Parquet: failed rows (with ``sf__Error``), unprocessed rows and, on request, successes.

A task attempt writes under ``_temporary/`` and publishes its files under their final names only once it has
finished, so files of a failed attempt never mix with those of the attempt that succeeded. All values are
text exactly as sent to (and echoed by) Salesforce, so they can be corrected and written again as they are.

Layout under a write's results directory::

    failed/part-00003.parquet        sf__Id, sf__Error, sf__JobId, <the write's columns>
    unprocessed/part-00003.parquet   sf__JobId, <the write's columns>
    successful/part-00003.parquet    sf__Id, sf__Created, sf__JobId, <the write's columns>
"""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from collections.abc import Iterator
from typing import IO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "failed": ("sf__Id", "sf__Error", "sf__JobId"),
    "unprocessed": ("sf__JobId",),
    "successful": ("sf__Id", "sf__Created", "sf__JobId"),
}
_CSV_BLOCK = 4 << 20


def open_filesystem(uri: str) -> tuple[pa_fs.FileSystem, str]:
    """The pyarrow filesystem and path of a local path or URI (``s3://``, ``gs://``, ``hdfs://``, ...)."""
    if "://" in uri:
        return pa_fs.FileSystem.from_uri(uri)
    return pa_fs.LocalFileSystem(), uri


def error_code(error: str | None) -> str:
    """The status code of an ``sf__Error`` value such as ``REQUIRED_FIELD_MISSING:...:LastName --``."""
    if not error:
        return "UNKNOWN"
    return error.split(":", 1)[0].strip() or "UNKNOWN"


class ResultFiles:
    """The result files of one task attempt; safe to feed from several job threads at once.

    Args:
        results_dir: The write's results directory.
        headers: The write's columns, in order.
        partition_id: The Spark partition.
        attempt: The task attempt number.
    """

    def __init__(self, results_dir: str, headers: list[str], partition_id: int, attempt: int) -> None:
        self.fs, self.root = open_filesystem(results_dir)
        self.headers = headers
        self.partition_id = partition_id
        self.attempt = attempt
        self.rows: Counter[str] = Counter()
        self.errors_by_code: Counter[str] = Counter()
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._lock = threading.Lock()
        self.schemas = {
            kind: pa.schema([pa.field(name, pa.string()) for name in (*extra, *headers)])
            for kind, extra in KIND_COLUMNS.items()
        }

    @property
    def _staging(self) -> str:
        return f"{self.root}/_temporary/part-{self.partition_id:05d}-attempt-{self.attempt}"

    def add(self, kind: str, table: pa.Table, *, job_id: str | None = None) -> None:
        """Append rows; columns missing from ``table`` (e.g. ``sf__JobId``) are filled in or left null."""
        if table.num_rows == 0:
            return
        if table.schema != self.schemas[kind]:
            table = self._conform(kind, table, job_id)
        with self._lock:
            writer = self._writers.get(kind)
            if writer is None:
                self.fs.create_dir(self._staging, recursive=True)
                sink = self.fs.open_output_stream(f"{self._staging}/{kind}.parquet")
                writer = pq.ParquetWriter(sink, self.schemas[kind], compression="zstd")
                self._writers[kind] = writer
            writer.write_table(table)
            self.rows[kind] += table.num_rows
            if kind == "failed":
                self.errors_by_code.update(error_code(value) for value in table.column("sf__Error").to_pylist())

    def add_csv(self, kind: str, csv_file: IO[bytes], *, job_id: str) -> int:
        """Append the rows of a Salesforce result CSV, streaming it block by block; returns the row count."""
        count = 0
        for table in self.read_csv(kind, csv_file, job_id=job_id):
            self.add(kind, table)
            count += table.num_rows
        return count

    def read_csv(self, kind: str, csv_file: IO[bytes], *, job_id: str) -> Iterator[pa.Table]:
        """The rows of a Salesforce result CSV in this kind's schema, block by block, without storing them."""
        csv_file.seek(0, 2)
        if csv_file.tell() == 0:
            return
        csv_file.seek(0)
        # Every column is text, whatever spelling Salesforce echoes the header in: never let Arrow infer types.
        text = io.TextIOWrapper(csv_file, encoding="utf-8-sig", newline="")
        names = next(csv.reader(text), [])
        text.detach()  # leave csv_file open
        csv_file.seek(0)
        reader = pa_csv.open_csv(
            csv_file,
            read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            yield self._conform(kind, pa.Table.from_batches([batch]), job_id)

    def publish(self) -> tuple[str, ...]:
        """Close the files and move them to their final names; returns their paths relative to the directory."""
        with self._lock:
            published = []
            for kind, writer in sorted(self._writers.items()):
                writer.close()
                final_dir = f"{self.root}/{kind}"
                self.fs.create_dir(final_dir, recursive=True)
                name = f"{kind}/part-{self.partition_id:05d}.parquet"
                self.fs.move(f"{self._staging}/{kind}.parquet", f"{self.root}/{name}")
                published.append(name)
            self._writers.clear()
            if published:
                self.fs.delete_dir(self._staging)
            return tuple(published)

    def close(self) -> None:
        """Close any open files without publishing them (after a failure, for inspection)."""
        with self._lock:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()

    def _conform(self, kind: str, table: pa.Table, job_id: str | None) -> pa.Table:
        # Salesforce echoes the client's header spelling and only the columns it matched: align by name.
        by_lower = {name.lower(): index for index, name in enumerate(table.column_names)}
        columns = []
        for target in self.schemas[kind]:
            index = by_lower.get(target.name.lower())
            if index is not None:
                columns.append(table.column(index).cast(pa.string()))
            elif target.name == "sf__JobId" and job_id is not None:
                columns.append(pa.array([job_id] * table.num_rows, pa.string()))
            else:
                columns.append(pa.nulls(table.num_rows, pa.string()))
        return pa.Table.from_arrays(columns, schema=self.schemas[kind])
