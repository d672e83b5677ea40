"""Per-record results as Parquet: failed rows (with ``sf__Error``), unprocessed rows and, on request, successes.

A task attempt writes under ``_temporary/`` and moves files to their final names only when what they record is
final: a chain of Salesforce jobs (a job and the jobs resending its transient failures) as soon as it is over,
since Salesforce has done that work whatever becomes of the task; the rows the task itself rejected once the
attempt succeeds. Files of a failed attempt's unfinished jobs never mix with the results. All values are text
exactly as sent to (and echoed by) Salesforce, so they can be corrected and written again as they are.

Layout under a write's results directory::

    failed/part-00003.parquet            sf__Id, sf__Error, sf__JobId, <columns>: rows the task rejected
    failed/part-00003-<jobId>.parquet    the same, for rows Salesforce rejected in one chain of jobs
    unprocessed/part-00003-<jobId>.parquet   sf__JobId, <columns>
    successful/part-00003-<jobId>.parquet    sf__Id, sf__Created, sf__JobId, <columns>
"""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pa_csv

from .arrow_literals import text as literal
from .filesystems import FileSelector, FileType, open_filesystem

if TYPE_CHECKING:
    import pyarrow.parquet as pq

KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "failed": ("sf__Id", "sf__Error", "sf__JobId"),
    "unprocessed": ("sf__JobId",),
    "successful": ("sf__Id", "sf__Created", "sf__JobId"),
}
_CSV_BLOCK = 4 << 20
TASK_GROUP = "task"


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
        self.group_rows: dict[str, Counter[str]] = {}
        self.group_errors: dict[str, Counter[str]] = {}
        self._writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self._lock = threading.Lock()
        self.schemas = {
            kind: pa.schema([pa.field(name, pa.string()) for name in (*extra, *headers)])
            for kind, extra in KIND_COLUMNS.items()
        }

    @property
    def _staging(self) -> str:
        return f"{self.root}/_temporary/part-{self.partition_id:05d}-attempt-{self.attempt}"

    def add(self, kind: str, table: pa.Table, *, job_id: str | None = None, group: str = TASK_GROUP) -> None:
        """Append rows to ``group``'s file of ``kind``; columns missing from ``table`` (e.g. ``sf__JobId``) are
        filled in or left null.

        A group is the task itself (rows it rejected before sending) or one chain of Salesforce jobs, whose
        files are published as soon as the chain is over, so a later task attempt can keep them.
        """
        if table.num_rows == 0:
            return
        if table.schema != self.schemas[kind]:
            table = self._conform(kind, table, job_id)
        with self._lock:
            writer = self._writers.get((group, kind))
            if writer is None:
                # Here, not at the top: most tasks write no result file, and pyarrow.parquet loads libparquet.
                import pyarrow.parquet as pq

                self.fs.create_dir(self._staging, recursive=True)
                sink = self.fs.open_output_stream(self._staged(group, kind))
                writer = pq.ParquetWriter(sink, self.schemas[kind], compression="zstd")
                self._writers[(group, kind)] = writer
            writer.write_table(table)
            self.rows[kind] += table.num_rows
            self.group_rows.setdefault(group, Counter())[kind] += table.num_rows
            if kind == "failed":
                codes = Counter(error_code(value) for value in table.column("sf__Error").to_pylist())
                self.errors_by_code.update(codes)
                self.group_errors.setdefault(group, Counter()).update(codes)

    def add_csv(self, kind: str, csv_file: IO[bytes], *, job_id: str, group: str = TASK_GROUP) -> int:
        """Append the rows of a Salesforce result CSV, streaming it block by block; returns the row count."""
        count = 0
        for table in self.read_csv(kind, csv_file, job_id=job_id):
            self.add(kind, table, group=group)
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
        reader_rows = csv.reader(text)
        names = next(reader_rows, [])
        has_rows = next(reader_rows, None) is not None
        text.detach()  # leave csv_file open
        if not has_rows:  # a header alone: Salesforce's answer when there is nothing to report
            return
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

    def close_group(self, group: str) -> dict[str, str]:
        """Close ``group``'s files; returns their staged paths mapped to their final names (not moved yet)."""
        with self._lock:
            staged = {}
            for key in sorted(k for k in self._writers if k[0] == group):
                self._writers.pop(key).close()
                staged[self._staged(*key)] = self._final_name(*key)
            return staged

    def move(self, staged: dict[str, str]) -> tuple[str, ...]:
        """Move closed files to their final names (relative to the directory); files already moved are skipped."""
        for source, name in staged.items():
            if self.fs.get_file_info(source).type == FileType.NotFound:
                continue
            self.fs.create_dir(f"{self.root}/{name.split('/', 1)[0]}", recursive=True)
            self.fs.move(source, f"{self.root}/{name}")
        return tuple(staged.values())

    def publish(self) -> tuple[str, ...]:
        """Close and move every file still open (the task's own rejects, at the end of a successful attempt)."""
        groups = sorted({group for group, _kind in self._writers})
        published: list[str] = []
        for group in groups:
            published.extend(self.move(self.close_group(group)))
        if self.fs.get_file_info(self._staging).type == FileType.Directory:
            leftovers = self.fs.get_file_info(FileSelector(self._staging))
            if not leftovers:
                self.fs.delete_dir(self._staging)
        return tuple(published)

    def close(self) -> None:
        """Close any open files without publishing them (after a failure, for inspection)."""
        with self._lock:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()

    def _staged(self, group: str, kind: str) -> str:
        return f"{self._staging}/{group}-{kind}.parquet"

    def _final_name(self, group: str, kind: str) -> str:
        suffix = "" if group == TASK_GROUP else f"-{group}"
        return f"{kind}/part-{self.partition_id:05d}{suffix}.parquet"

    def _conform(self, kind: str, table: pa.Table, job_id: str | None) -> pa.Table:
        # Salesforce echoes the client's header spelling and only the columns it matched: align by name.
        by_lower = {name.lower(): index for index, name in enumerate(table.column_names)}
        columns = []
        for target in self.schemas[kind]:
            index = by_lower.get(target.name.lower())
            if index is not None:
                columns.append(table.column(index).cast(pa.string()))
            elif target.name == "sf__JobId" and job_id is not None:
                columns.append(pa.repeat(literal(job_id), table.num_rows))
            else:
                columns.append(pa.nulls(table.num_rows, pa.string()))
        return pa.Table.from_arrays(columns, schema=self.schemas[kind])
