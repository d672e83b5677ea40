"""Bulk API 1.0 jobs and batches: their states, their JobInfo and BatchInfo fields, and the service
that creates, closes and aborts jobs and accepts their batches.

Unlike Bulk API 2.0, a 1.0 client cuts its own batches and each is queued for processing the moment it
is added, whether or not the job is closed yet; closing only stops more batches from being added.
Each job is saved as ``DIR/bulk1/{job}/job.json`` beside its batches' data whenever it or a batch changes, so
jobs outlive a restart as 2.0's do; batches that had not finished then run again.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from . import dml, ids
from .errors import ApiError
from .limits import Limits
from .schema import Schema
from .values import now_datetime

CONTENT_TYPES = ("CSV", "JSON")
CONCURRENCY_MODES = ("Parallel", "Serial")
BATCH_DONE = ("Completed", "Failed", "NotProcessed")
# "Batches for data loads can consist of a single CSV, XML, or JSON file that is no larger than 10 MB";
# the server's message gives the exact figure (ClientInputError, "Exceeded max size limit of 10000000").
MAX_BATCH_BYTES = 10_000_000
# simple-salesforce sends concurrencyMode as 0 or 1 in JSON, which Salesforce reads as the enum's ordinal.
_MODE_ORDINALS = {0: "Parallel", 1: "Serial"}


def error(code: str, message: str, status: int = 400) -> ApiError:
    """A Bulk API 1.0 exception: ``exceptionCode`` and ``exceptionMessage``, HTTP 400 unless said."""
    return ApiError(status, code, message)


@dataclass
class Bulk1Batch:
    """One batch: the records of one POST, processed as a unit."""

    id: str
    job_id: str
    number: int
    created_date: str
    system_modstamp: str
    state: str = "Queued"
    state_message: str | None = None
    number_records_processed: int = 0
    number_records_failed: int = 0
    total_processing_time: int = 0
    api_active_processing_time: int = 0
    apex_processing_time: int = 0
    added_at: float = field(default_factory=time.time)

    def info(self) -> dict[str, Any]:
        """BatchInfo in the schema's element order (bulk1_batchInfo_xml.tpl); stateMessage only when set."""
        info: dict[str, Any] = {"id": self.id, "jobId": self.job_id, "state": self.state}
        if self.state_message:
            info["stateMessage"] = self.state_message
        info.update(
            {
                "createdDate": self.created_date,
                "systemModstamp": self.system_modstamp,
                "numberRecordsProcessed": self.number_records_processed,
                "numberRecordsFailed": self.number_records_failed,
                "totalProcessingTime": self.total_processing_time,
                "apiActiveProcessingTime": self.api_active_processing_time,
                "apexProcessingTime": self.apex_processing_time,
            }
        )
        return info


@dataclass
class Bulk1Job:
    """One job: what its batches do, and how they are run (Parallel or Serial)."""

    id: str
    operation: str
    object: str
    created_by_id: str
    created_date: str
    system_modstamp: str
    api_version: float
    content_type: str = "CSV"
    concurrency_mode: str = "Parallel"
    external_id_field_name: str | None = None
    state: str = "Open"
    batches: list[Bulk1Batch] = field(default_factory=list)
    retries: int = 0  # batches put back in the queue by a requeue_batch fault

    def info(self) -> dict[str, Any]:
        """JobInfo in the schema's element order (bulk1_jobInfo_*_xml.tpl); counters sum the batches."""
        states = [b.state for b in self.batches]
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by_id,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.state,
        }
        if self.external_id_field_name is not None:
            info["externalIdFieldName"] = self.external_id_field_name
        info.update(
            {
                "concurrencyMode": self.concurrency_mode,
                "contentType": self.content_type,
                "numberBatchesQueued": states.count("Queued"),
                "numberBatchesInProgress": states.count("InProgress"),
                "numberBatchesCompleted": states.count("Completed"),
                "numberBatchesFailed": states.count("Failed"),
                "numberBatchesTotal": len(states),
                "numberRecordsProcessed": sum(b.number_records_processed for b in self.batches),
                "numberRetries": self.retries,
                "apiVersion": self.api_version,
                "numberRecordsFailed": sum(b.number_records_failed for b in self.batches),
                "totalProcessingTime": sum(b.total_processing_time for b in self.batches),
                "apiActiveProcessingTime": sum(b.api_active_processing_time for b in self.batches),
                "apexProcessingTime": sum(b.apex_processing_time for b in self.batches),
            }
        )
        return info


def _concurrency_mode(value: object) -> str:
    if value is None or value == "":
        return "Parallel"
    if isinstance(value, int):
        mode = _MODE_ORDINALS.get(int(value))
    else:
        mode = str(value) if str(value) in CONCURRENCY_MODES else None
    if mode is None:
        raise error("InvalidJob", f"Invalid concurrency mode: {value}")
    return mode


class Bulk1Service:
    """Owns the org's Bulk API 1.0 jobs and hands each added batch to the processor.

    Args:
        data_dir: The org's directory; batch data and results go under ``bulk1/``.
        schema: Objects jobs may target.
        id_generator: Mints ``750`` job and ``751`` batch Ids.
        user_id: The API user, shown as each job's creator.
        limits: Daily allocations; every batch submitted takes one ``DailyBulkApiBatches``.
    """

    def __init__(
        self, data_dir: Path, schema: Schema, id_generator: ids.IdGenerator, user_id: str, limits: Limits
    ) -> None:
        self.root = data_dir / "bulk1"
        self.schema = schema
        self.ids = id_generator
        self.user_id = user_id
        self.limits = limits
        self.lock = threading.RLock()
        self.jobs: dict[str, Bulk1Job] = {job.id: job for job in self._saved_jobs()}
        self.on_batch_added: list[Callable[[Bulk1Job, Bulk1Batch], None]] = []

    # -- paths ---------------------------------------------------------------------------------------

    def request_path(self, batch: Bulk1Batch) -> Path:
        return self.root / batch.job_id / f"{batch.id}.request"

    def result_path(self, batch: Bulk1Batch) -> Path:
        return self.root / batch.job_id / f"{batch.id}.result"

    # -- lookups -------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Bulk1Job:
        canonical = ids.normalize(job_id)
        job = self.jobs.get(canonical) if canonical else None
        if job is None:
            raise error("InvalidJob", f"Invalid job id: {job_id}")
        return job

    def batch(self, job_id: str, batch_id: str) -> tuple[Bulk1Job, Bulk1Batch]:
        job = self.get(job_id)
        canonical = ids.normalize(batch_id)
        for batch in job.batches:
            if batch.id == canonical:
                return job, batch
        raise error("InvalidBatch", f"Invalid batch id: {batch_id}")

    def touch(self, target: Bulk1Job | Bulk1Batch) -> None:
        """Stamp a change and save the job it belongs to (callers hold the lock)."""
        target.system_modstamp = now_datetime()
        job = target if isinstance(target, Bulk1Job) else self.jobs.get(target.job_id)
        if job is not None:
            self._save(job)

    # -- persistence: one JSON file per job beside its batches, so jobs outlive a restart as 2.0's do --

    def _save(self, job: Bulk1Job) -> None:
        path = self.root / job.id / "job.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps(asdict(job)), encoding="utf-8")
        staging.replace(path)

    def _saved_jobs(self) -> Iterator[Bulk1Job]:
        for path in sorted(self.root.glob("*/job.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            batches = [Bulk1Batch(**batch) for batch in record.pop("batches")]
            yield Bulk1Job(**record, batches=batches)

    # -- jobs ----------------------------------------------------------------------------------------

    def create(self, spec: Mapping[str, Any], api_version: str) -> Bulk1Job:
        """Validates a JobInfo request (parsed from XML or JSON) and opens the job."""
        operation = spec.get("operation")
        object_name = spec.get("object")
        if not operation:
            raise error("InvalidJob", "The operation field is required")
        if operation in ("query", "queryAll"):
            raise error("InvalidJob", f"The local org does not run Bulk API 1.0 {operation} jobs")
        if operation not in dml.OPERATIONS:
            raise error("InvalidJob", f"Invalid job operation: {operation}")
        if not object_name:
            raise error("InvalidJob", "The object field is required")
        obj = self.schema.get(str(object_name))
        if obj is None:
            raise error("InvalidJob", f"Unable to find object: {object_name}")
        external_id = spec.get("externalIdFieldName")
        if operation == "upsert" and not external_id:
            raise error("InvalidJob", "External ID field name is required for upsert")
        content_type = str(spec.get("contentType") or "CSV")
        if content_type not in CONTENT_TYPES:
            raise error("InvalidJob", f"Unsupported content type for a batch: {content_type} (use CSV or JSON)")
        stamp = now_datetime()
        job = Bulk1Job(
            id=self.ids.new("750"),
            operation=str(operation),
            object=obj.name,
            created_by_id=self.user_id,
            created_date=stamp,
            system_modstamp=stamp,
            api_version=float(api_version),
            content_type=content_type,
            concurrency_mode=_concurrency_mode(spec.get("concurrencyMode")),
            external_id_field_name=str(external_id) if operation == "upsert" else None,
        )
        with self.lock:
            self.jobs[job.id] = job
            self._save(job)
        return job

    def change_state(self, job_id: str, target: object) -> Bulk1Job:
        """Closes or aborts a job. Aborting leaves batches in progress to finish and marks the queued
        ones NotProcessed; closing leaves every batch to run."""
        job = self.get(job_id)
        if target not in ("Closed", "Aborted"):
            raise error("InvalidJobState", f"Invalid state {target!r}: a job can be set to Closed or Aborted")
        with self.lock:
            if job.state != "Open" and not (target == "Aborted" and job.state == "Closed"):
                verb = "Closing" if target == "Closed" else "Aborting"
                raise error("InvalidJobState", f"{verb} already {job.state} Job not allowed")
            job.state = str(target)
            self.touch(job)
            if target == "Aborted":
                for batch in job.batches:
                    if batch.state == "Queued":
                        batch.state = "NotProcessed"
                        self.touch(batch)
        return job

    # -- batches -------------------------------------------------------------------------------------

    def add_batch(self, job_id: str, body: BinaryIO) -> Bulk1Batch:
        """Stores one batch's data and queues it. The data is read (and its limits checked) when the
        batch runs, as Salesforce does: a bad batch fails, it is not refused."""
        job = self.get(job_id)
        # A batch submitted to a closed job is not created but still counts against the allocation.
        if not self.limits.consume("DailyBulkApiBatches"):
            raise error("ExceededQuota", "The daily limit of Bulk API batches has been exceeded")
        if job.state != "Open":
            raise error("InvalidJobState", f"Job {job.id} is {job.state}: batches can be added only while it is Open")
        data = body.read(MAX_BATCH_BYTES + 1)
        if len(data) > MAX_BATCH_BYTES:
            raise error("ClientInputError", f"Failed to read request. Exceeded max size limit of {MAX_BATCH_BYTES}")
        stamp = now_datetime()
        with self.lock:
            batch = Bulk1Batch(self.ids.new("751"), job.id, len(job.batches), stamp, stamp)
            path = self.request_path(batch)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            job.batches.append(batch)
            self.touch(job)
        for callback in self.on_batch_added:
            callback(job, batch)
        return batch

    def request(self, job_id: str, batch_id: str) -> bytes:
        _, batch = self.batch(job_id, batch_id)
        path = self.request_path(batch)
        return path.read_bytes() if path.exists() else b""

    def results(self, job_id: str, batch_id: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        _, batch = self.batch(job_id, batch_id)
        path = self.result_path(batch)
        if batch.state != "Completed" or not path.exists():
            raise error("InvalidBatch", f"Batch {batch.id} is {batch.state}: results are available once it completes")
        return _stream(path, chunk_size)

    def reset(self) -> None:
        """Forgets every job (the operator's reset); batches still running finish into nothing."""
        with self.lock:
            self.jobs.clear()
            shutil.rmtree(self.root, ignore_errors=True)


def _stream(path: Path, chunk_size: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
