"""Bulk API 1.0 behind the interface the partition writer drives for Bulk API 2.0 jobs.

One Bulk API 1.0 job per partition, created on first use with the write's concurrency mode; each of the
writer's "jobs" is a batch in it (so ``batchSize`` is records per batch, at most 10,000). Serial mode makes
Salesforce process the partition's batches one at a time, which keeps them from fighting over parent locks.
Batch results come back in input order as ``Id,Success,Created,Error``; pairing them with the batch's own
request rows gives the same failed, successful and unprocessed result files as Bulk API 2.0.

A batch is known to the writer (and its ledger) as ``<jobId>-<batchId>``, so a retried task can find it.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from typing import IO

from sf_assets.bulk import JobInfo, JobSpec, Transport
from sf_assets.bulk.bulk1 import BatchFailedError, BatchInfo, Bulk1Client
from sf_assets.bulk.errors import JobFailedError
from sf_assets.bulk.ingest import PollSchedule

_STATES = {"Queued": "UploadComplete", "InProgress": "InProgress", "Completed": "JobComplete", "Failed": "Failed"}


class Bulk1Jobs:
    """Bulk API 1.0 batches, presented as ingest jobs to :class:`~sf_assets.spark.partition_writer.PartitionWriter`."""

    def __init__(self, transport: Transport, *, serial: bool) -> None:
        self.transport = transport
        self.client = Bulk1Client(transport)
        self.serial = serial
        self._job: str | None = None
        self._lock = threading.Lock()

    def create(self, spec: JobSpec) -> JobInfo:
        with self._lock:
            if self._job is None:
                self._job = self.client.create_job(spec, serial=self.serial)
        # The batch gets its id when its data arrives: until then the writer holds the job's id alone.
        return JobInfo(id=self._job, state="Open")

    def upload(self, job_id: str, data: bytes | IO[bytes], *, retry: bool = True) -> str:
        batch = self.client.add_batch(job_id, data, retry=retry)
        return f"{job_id}-{batch.id}"

    def close(self, job_id: str) -> JobInfo:
        # Batches are processed as they arrive: nothing to send (the job itself closes in finish()).
        return JobInfo(id=job_id, state="UploadComplete")

    def abort(self, job_id: str) -> JobInfo:
        job, _batch = _split(job_id)
        self.client.abort_job(job)
        with self._lock:
            if self._job == job:  # later batches go to a new job
                self._job = None
        return self.info(job_id) if "-" in job_id else JobInfo(id=job_id, state="Aborted")

    def info(self, job_id: str) -> JobInfo:
        job, batch = _split(job_id)
        return _job_info(job_id, self.client.batch_info(job, batch))

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: object) -> JobInfo:
        job, batch = _split(job_id)
        try:
            info = self.client.wait_batch(job, batch, schedule, **kwargs)  # type: ignore[arg-type]
        except BatchFailedError as error:
            raise JobFailedError(job_id, error.state_message) from None
        return _job_info(job_id, info)

    def results(self, job_id: str, kind: str, sink: Callable[[bytes], object]) -> int:
        """The batch's results in Bulk API 2.0's result CSV forms (``failedResults`` and the others)."""
        job, batch = _split(job_id)
        request = io.BytesIO()
        self.transport.download(f"job/{job}/batch/{batch}/request", request.write, api="async")
        rows = list(csv.reader(io.StringIO(request.getvalue().decode("utf-8-sig"), newline="")))
        header, records = (rows[0], rows[1:]) if rows else ([], [])
        outcomes: list[list[str]] = []
        if kind != "unprocessedrecords":
            answer = io.BytesIO()
            self.client.batch_results(job, batch, answer.write)
            outcomes = list(csv.reader(io.StringIO(answer.getvalue().decode("utf-8-sig"), newline="")))[1:]
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *header])
            for (record_id, success, _created, error), record in zip(outcomes, records, strict=False):
                if success != "true":
                    writer.writerow([record_id, error, *record])
        elif kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *header])
            for (record_id, success, created, _error), record in zip(outcomes, records, strict=False):
                if success == "true":
                    writer.writerow([record_id, created, *record])
        else:
            processed = self.client.batch_info(job, batch).processed
            writer.writerow(header)
            writer.writerows(records[processed:])
        data = text.getvalue().encode("utf-8")
        sink(b"")
        sink(data)
        return len(data)

    def finish(self) -> None:
        """Close the partition's job: no more batches will come."""
        if self._job is not None:
            self.client.close_job(self._job)


def _split(job_id: str) -> tuple[str, str]:
    job, _, batch = job_id.partition("-")
    return job, batch


def _job_info(job_id: str, batch: BatchInfo) -> JobInfo:
    state = "Aborted" if batch.state == "NotProcessed" else _STATES.get(batch.state, batch.state)
    return JobInfo(
        id=job_id, state=state, processed=batch.processed, failed=batch.failed, error_message=batch.state_message
    )
