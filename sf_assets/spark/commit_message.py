"""What each Spark task reports back to the driver: a frozen, picklable commit message per partition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pyspark.sql.datasource import WriterCommitMessage


@dataclass(frozen=True)
class JobResult:
    """One Salesforce ingest job of a partition.

    Attributes:
        job_id: Salesforce's job id.
        state: The job's final state (``JobComplete`` or ``Aborted``).
        records: Rows uploaded in the job.
        processed: Rows Salesforce processed (succeeded plus failed).
        failed: Rows Salesforce rejected.
        unprocessed: Rows Salesforce never processed (``records - processed``).
        retries: Salesforce's internal retries of the job's batches.
        resent: Rows of this job that failed for a transient reason (lock contention, unprocessed) and were
            sent again in a later job.
        retry_of: The job whose transient failures this job resends.
        error_message: Salesforce's ``errorMessage`` when the job ended ``Failed``.
        upload_seconds: Creating the job, uploading its CSV and closing it.
        processing_seconds: From closing the job to seeing it finished.
        results_seconds: Fetching and storing its result rows.
    """

    job_id: str
    state: str
    records: int
    processed: int
    failed: int
    unprocessed: int
    retries: int = 0
    resent: int = 0
    retry_of: str | None = None
    error_message: str = ""
    upload_seconds: float = 0.0
    processing_seconds: float = 0.0
    results_seconds: float = 0.0

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed

    def to_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict, which deep-copies every value: commit() runs after the last task, where each
        # millisecond of its CPU adds to the write's wall time.
        return {name: getattr(self, name) for name in _JOB_FIELDS}


@dataclass(frozen=True)
class PartitionResult(WriterCommitMessage):
    """The outcome of one partition's successful task attempt.

    ``records_in == succeeded + failed + unprocessed`` always holds; ``failed`` includes ``rejected``, the rows
    never sent because no Salesforce value could represent them.

    Attributes:
        partition_id: The Spark partition.
        attempt: The task attempt number (0 unless Spark retried the task).
        records_in: Rows the partition held.
        succeeded: Rows Salesforce accepted.
        failed: Rows that failed, whether Salesforce or the writer rejected them.
        unprocessed: Rows Salesforce left unprocessed.
        rejected: Rows the writer did not send (part of ``failed``).
        errors_by_code: Failed rows per error code, e.g. ``{"REQUIRED_FIELD_MISSING": 3}``.
        jobs: The partition's Salesforce jobs, in the order they were created.
        files: Result files of this partition, relative to the write's results directory.
        encode_seconds: Turning Arrow batches into CSV (the task's own thread).
        wall_seconds: The whole task, from its first row to its last result.
        peak_rss_mb: Peak resident memory (MiB) of the Python worker during this task, also in a reused worker
            (where the kernel can reset the peak: Linux; elsewhere the worker's lifetime peak).
        api_usage: The last ``Sforce-Limit-Info`` the org sent this task (``api-usage=used/max``).
    """

    partition_id: int
    attempt: int
    records_in: int
    succeeded: int
    failed: int
    unprocessed: int
    rejected: int = 0
    errors_by_code: Mapping[str, int] = field(default_factory=dict)
    jobs: tuple[JobResult, ...] = ()
    files: tuple[str, ...] = ()
    encode_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    api_usage: str = ""

    @property
    def upload_seconds(self) -> float:
        return sum(job.upload_seconds for job in self.jobs)

    @property
    def processing_seconds(self) -> float:
        return sum(job.processing_seconds for job in self.jobs)

    @property
    def results_seconds(self) -> float:
        return sum(job.results_seconds for job in self.jobs)

    def to_json(self) -> dict[str, Any]:
        payload = {name: getattr(self, name) for name in _PARTITION_FIELDS}
        payload["errors_by_code"] = dict(self.errors_by_code)
        payload["jobs"] = [job.to_json() for job in self.jobs]
        payload["files"] = list(self.files)
        payload["seconds"] = {
            "encode": round(self.encode_seconds, 3),
            "upload": round(self.upload_seconds, 3),
            "processing": round(self.processing_seconds, 3),
            "results": round(self.results_seconds, 3),
            "wall": round(self.wall_seconds, 3),
        }
        del payload["encode_seconds"], payload["wall_seconds"]
        return payload


_JOB_FIELDS = tuple(item.name for item in fields(JobResult))
_PARTITION_FIELDS = tuple(item.name for item in fields(PartitionResult))
