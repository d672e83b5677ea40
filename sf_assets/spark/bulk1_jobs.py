"""Bulk API 1.0 behind the interface the partition writer drives for Bulk API 2.0 jobs.

One Bulk API 1.0 job per partition, created on first use with the write's concurrency mode; each of the
writer's "jobs" is a batch in it (so ``batchSize`` is records per batch, at most 10,000). Serial mode makes
Salesforce process the partition's batches one at a time, which keeps them from fighting over parent locks.
Batch results come back in input order as ``Id,Success,Created,Error``; pairing them with the batch's own
request rows gives the same failed, successful and unprocessed result files as Bulk API 2.0.

A batch is known to the writer (and its ledger) as ``<jobId>-<batchId>``, so a retried task can find it.

Salesforce queues a batch the moment it stores it, and aborting the job does not stop a batch already running.
So when the answer to adding a batch is lost, the batch is looked for among the job's batches (by its data) and
kept if it is there: sending its rows again in a new batch could write them twice.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable
from typing import IO

from sf_assets.bulk import JobInfo, JobSpec, Transport
from sf_assets.bulk.bulk1 import BatchFailedError, BatchInfo, Bulk1Client
from sf_assets.bulk.errors import JobFailedError
from sf_assets.bulk.ingest import PollSchedule
from sf_assets.bulk.transport import is_transient

log = logging.getLogger(__name__)

_STATES = {"Queued": "UploadComplete", "InProgress": "InProgress", "Completed": "JobComplete", "Failed": "Failed"}


class Bulk1Jobs:
    """Bulk API 1.0 batches, presented as ingest jobs to :class:`~sf_assets.spark.partition_writer.PartitionWriter`."""

    def __init__(self, transport: Transport, *, serial: bool) -> None:
        self.transport = transport
        self.client = Bulk1Client(transport)
        self.serial = serial
        self._job: str | None = None
        self._lock = threading.Lock()
        self._added: set[str] = set()  # batches whose add was answered: never another upload's lost batch

    def create(self, spec: JobSpec) -> JobInfo:
        with self._lock:
            if self._job is None:
                self._job = self.client.create_job(spec, serial=self.serial)
        # The batch gets its id when its data arrives: until then the writer holds the job's id alone.
        return JobInfo(id=self._job, state="Open")

    def upload(self, job_id: str, data: bytes | IO[bytes], *, retry: bool = True) -> str:
        """Add the data as a batch of the job; returns the batch as the writer knows it, ``<jobId>-<batchId>``.

        With ``retry=False``, a transient failure is checked against the job's batches: a batch stored
        with this data is returned as if its add had been answered.
        """
        try:
            batch = self.client.add_batch(job_id, data, retry=retry)
        except Exception as error:
            if retry or not is_transient(error):
                raise
            stored = self._stored_batch(job_id, data)
            if stored is None:
                raise
            log.warning("adding a batch to job %s failed (%s), but Salesforce stored it as %s", job_id, error, stored)
            return f"{job_id}-{stored}"
        with self._lock:
            self._added.add(batch.id)
        return f"{job_id}-{batch.id}"

    def _stored_batch(self, job_id: str, data: bytes | IO[bytes]) -> str | None:
        """The id of a batch of the job holding exactly ``data`` whose add this client never saw answered."""
        if isinstance(data, bytes):
            content = data
        else:
            data.seek(0)
            content = data.read()
        try:
            batches = self.client.list_batches(job_id)
        except Exception as error:  # the add's own failure is the one to report
            log.warning("could not list the batches of job %s: %s", job_id, error)
            return None
        for batch in batches:
            with self._lock:
                if batch.id in self._added:
                    continue
            # Only a batch another thread is adding right now could be unknown too; its data differs.
            if _downloaded(lambda sink, batch=batch: self.client.batch_request(job_id, batch.id, sink)) == content:
                with self._lock:
                    self._added.add(batch.id)
                return batch.id
        return None

    def close(self, job_id: str) -> JobInfo:
        # Batches are processed as they arrive: nothing to send (the job itself closes in finish()).
        return JobInfo(id=job_id, state="UploadComplete")

    def abandon(self, job_id: str) -> None:
        """Nothing to do when adding a batch failed: :meth:`upload` made sure no batch holds its data, and the
        partition's job must stay open for the batches other threads are adding."""

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
        request = _downloaded(lambda sink: self.client.batch_request(job, batch, sink))
        rows = list(csv.reader(io.StringIO(request.decode("utf-8-sig"), newline="")))
        header, records = (rows[0], rows[1:]) if rows else ([], [])
        outcomes: list[list[str]] = []
        if kind != "unprocessedrecords":
            answer = _downloaded(lambda sink: self.client.batch_results(job, batch, sink))
            outcomes = list(csv.reader(io.StringIO(answer.decode("utf-8-sig"), newline="")))[1:]
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


def _downloaded(download: Callable[[Callable[[bytes], object]], object]) -> bytes:
    """The whole body a download delivers; a restarted download (signalled by ``b""``) replaces what came before."""
    body = io.BytesIO()

    def sink(chunk: bytes) -> None:
        if not chunk:
            body.seek(0)
            body.truncate()
        body.write(chunk)

    download(sink)
    return body.getvalue()


def _split(job_id: str) -> tuple[str, str]:
    job, _, batch = job_id.partition("-")
    return job, batch


def _job_info(job_id: str, batch: BatchInfo) -> JobInfo:
    state = "Aborted" if batch.state == "NotProcessed" else _STATES.get(batch.state, batch.state)
    return JobInfo(
        id=job_id, state=state, processed=batch.processed, failed=batch.failed, error_message=batch.state_message
    )
