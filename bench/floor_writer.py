"""The floor: the least a Bulk API 2.0 writer can do in Spark (not part of sf_assets).

Format ``floor-salesforce``. Each task takes Spark's Arrow batches, encodes them with ``pyarrow.csv`` and streams
them into one job in a single chunked upload, closes the job and returns, without waiting for Salesforce to
process it, fetching results, retrying or checking anything. A new job (a new stream) starts only when one would
pass ``maxJobBytes`` (100 MB), as Salesforce caps a job's upload. It uses a ready ``session_id``, so no task logs in.
"""

from __future__ import annotations

import gc
import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

_MAX_JOB_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class FloorResult(WriterCommitMessage):
    partition_id: int
    records_in: int
    succeeded: int
    failed: int
    job_ids: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


class FloorDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "floor-salesforce"

    def writer(self, schema: StructType, overwrite: bool) -> FloorWriter:
        return FloorWriter(dict(self.options), schema.fieldNames())


class FloorWriter(DataSourceArrowWriter):
    def __init__(self, options: dict[str, str], columns: list[str]) -> None:
        self.options = options
        self.columns = columns

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FloorResult:
        from task_memory import peak_rss_mb, reset_peak_rss

        # First, as in salesforce-batch: the peak is then this task's, also in a reused worker.
        reset_peak_rss()
        # Undo the heap freeze ours' earlier tasks left in this shared worker: alone, this writer would pay
        # for the full gc.collect() Spark runs after each task (see writer_bench.py).
        gc.unfreeze()

        import requests
        from pyarrow import csv
        from pyspark import TaskContext

        options = self.options
        context = TaskContext.get()
        started = time.perf_counter()
        session = requests.Session()
        session.trust_env = False
        session.verify = options["ca_file"]
        session.headers["Authorization"] = f"Bearer {options['session_id']}"
        base = f"{options['instance_url']}/services/data/v59.0/jobs/ingest"
        header = (",".join(self.columns) + "\n").encode()
        no_header = csv.WriteOptions(include_header=False)
        rows = 0
        exhausted = False
        carry: bytes | None = None
        job_ids: list[str] = []

        def body() -> Iterator[bytes]:
            # One job's stream: batches are encoded as requests pulls them, so no more than one is held at once.
            nonlocal rows, exhausted, carry
            sent = len(header)
            yield header
            if carry is not None:
                sent += len(carry)
                yield carry
                carry = None
            for batch in iterator:
                buffer = io.BytesIO()
                csv.write_csv(batch, buffer, no_header)
                chunk = buffer.getvalue()
                rows += batch.num_rows
                if sent + len(chunk) > _MAX_JOB_BYTES:
                    carry = chunk
                    return
                sent += len(chunk)
                yield chunk
            exhausted = True

        while not exhausted:
            job = session.post(
                base,
                json={"object": options["sobject"], "operation": "upsert",
                      "externalIdFieldName": options["upsertfield"], "lineEnding": "LF"},
            )  # fmt: skip
            job.raise_for_status()
            job_id = job.json()["id"]
            upload = session.put(f"{base}/{job_id}/batches", data=body(), headers={"Content-Type": "text/csv"})
            upload.raise_for_status()
            session.patch(f"{base}/{job_id}", json={"state": "UploadComplete"}).raise_for_status()
            job_ids.append(job_id)
        finished = time.perf_counter()
        return FloorResult(
            partition_id=context.partitionId() if context else 0,
            records_in=rows,
            succeeded=0,
            failed=0,
            job_ids=tuple(job_ids),
            # Encoding and uploading interleave in one stream, so they are one phase here.
            seconds={"encode_and_upload": round(finished - started, 3), "wall": round(finished - started, 3)},
            peak_rss_mb=round(peak_rss_mb(), 1),
        )

    def commit(self, messages: Sequence[WriterCommitMessage | None]) -> None:
        from baseline_writer import write_summary

        write_summary(self.options, messages)
