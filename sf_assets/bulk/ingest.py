"""Bulk API 2.0 ingest jobs: create, upload, close, abort, poll and fetch results.

Examples:
    >>> jobs = IngestClient(transport)
    >>> job = jobs.create(JobSpec("Account", "upsert", external_id_field="Oracle_Id__c"))
    >>> with open("accounts.csv", "rb") as csv_file:
    ...     jobs.upload(job.id, csv_file)
    >>> jobs.close(job.id)
    >>> jobs.wait(job.id).processed
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from .errors import ApiError, JobFailedError
from .transport import Transport

T = TypeVar("T")
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
RESULT_KINDS = ("successfulResults", "failedResults", "unprocessedrecords")


@dataclass(frozen=True)
class JobSpec:
    """What an ingest job does.

    Attributes:
        sobject: The object, e.g. ``Contact``.
        operation: One of ``insert``, ``update``, ``upsert``, ``delete``, ``hardDelete``.
        external_id_field: The external ID matched by an upsert.
    """

    sobject: str
    operation: str
    external_id_field: str | None = None

    def body(self) -> dict[str, str]:
        body = {
            "object": self.sobject,
            "operation": self.operation,
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if self.external_id_field:
            body["externalIdFieldName"] = self.external_id_field
        return body


@dataclass(frozen=True)
class JobInfo:
    """A job's state and counters, as ``GET /jobs/ingest/{id}`` reports them."""

    id: str
    state: str
    processed: int = 0
    failed: int = 0
    retries: int = 0
    total_processing_ms: int = 0
    error_message: str = ""

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> JobInfo:
        return cls(
            id=str(payload["id"]),
            state=str(payload["state"]),
            processed=int(payload.get("numberRecordsProcessed") or 0),
            failed=int(payload.get("numberRecordsFailed") or 0),
            retries=int(payload.get("retries") or 0),
            total_processing_ms=int(payload.get("totalProcessingTime") or 0),
            error_message=str(payload.get("errorMessage") or ""),
        )

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class PollSchedule:
    """Adaptive polling: sub-second at first, backing off to ``maximum``.

    Attributes:
        initial: Seconds before the first poll.
        factor: Growth of the interval after each poll that finds the job unfinished.
        maximum: The longest interval.
        timeout: Give up waiting after this many seconds (``None``: wait as long as the org takes).
    """

    initial: float = 0.1
    factor: float = 1.5
    maximum: float = 5.0
    timeout: float | None = None

    def intervals(self) -> Iterator[float]:
        interval = self.initial
        while True:
            yield interval
            interval = min(self.maximum, interval * self.factor)

    def until(
        self,
        fetch: Callable[[], T],
        state: Callable[[T], str],
        done: Callable[[T], bool],
        what: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Call ``fetch`` at these intervals until ``done`` holds for what it returns.

        Raises:
            TimeoutError: When ``timeout`` passes first, naming ``what`` and its last ``state``.
        """
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        for interval in self.intervals():
            sleep(interval)
            current = fetch()
            if done(current):
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{what} still {state(current)} after {self.timeout:.0f}s")
        raise AssertionError("unreachable: intervals() is endless")


class IngestClient:
    """The ``/jobs/ingest`` resources of one org."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def create(self, spec: JobSpec) -> JobInfo:
        response = self.transport.call("POST", "jobs/ingest", json=spec.body())
        return JobInfo.from_json(response.json())

    def upload(self, job_id: str, data: bytes | IO[bytes], *, retry: bool = True) -> None:
        """Upload the job's CSV; a file object is streamed from its current position.

        With ``retry=False`` a failed upload is not repeated: the org may have stored it although the answer was
        lost, and a second upload to the same job would add the rows twice. Abort the job and use a new one.
        """
        self.transport.call(
            "PUT",
            f"jobs/ingest/{job_id}/batches",
            body=data,
            headers={"Content-Type": "text/csv"},
            expected=(201,),
            retry=retry,
        )

    def close(self, job_id: str) -> JobInfo:
        """Mark the upload complete, which queues the job for processing.

        A close whose answer was lost is sent again, and Salesforce then refuses it (``INVALIDJOBSTATE``)
        because the job is already closed: a job found past ``Open`` counts as closed.
        """
        try:
            return self._set_state(job_id, "UploadComplete")
        except ApiError as error:
            if error.code != "INVALIDJOBSTATE":
                raise
            job = self.info(job_id)
            if job.state not in ("UploadComplete", "InProgress", "JobComplete", "Failed"):
                raise
            return job

    def abort(self, job_id: str) -> JobInfo:
        return self._set_state(job_id, "Aborted")

    def abandon(self, job_id: str) -> None:
        """Give up a job whose upload failed: abort it, so that none of what it may hold is processed."""
        self.abort(job_id)

    def info(self, job_id: str) -> JobInfo:
        return JobInfo.from_json(self.transport.call("GET", f"jobs/ingest/{job_id}").json())

    def wait(
        self,
        job_id: str,
        schedule: PollSchedule | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JobInfo:
        """Poll until the job is ``JobComplete``, ``Failed`` or ``Aborted``.

        Raises:
            JobFailedError: When the job ends ``Failed``, quoting Salesforce's ``errorMessage``.
            TimeoutError: When ``schedule.timeout`` passes first.
        """
        job = (schedule or PollSchedule()).until(
            lambda: self.info(job_id),
            lambda job: job.state,
            lambda job: job.done,
            f"Salesforce job {job_id}",
            sleep=sleep,
        )
        if job.state == "Failed":
            raise JobFailedError(job_id, job.error_message or "no errorMessage given")
        return job

    def results(self, job_id: str, kind: str, sink: Callable[[bytes], object]) -> int:
        """Stream one of the job's result CSVs into ``sink`` (see :meth:`Transport.download`)."""
        if kind not in RESULT_KINDS:
            raise ValueError(f"unknown result kind {kind!r}; expected one of {', '.join(RESULT_KINDS)}")
        return self.transport.download(f"jobs/ingest/{job_id}/{kind}", sink)

    def finish(self) -> None:
        """Nothing to do once a writer has sent its last job: each Bulk API 2.0 job was closed on its own (Bulk API
        1.0 closes the one job its batches were added to)."""

    def _set_state(self, job_id: str, state: str) -> JobInfo:
        response = self.transport.call("PATCH", f"jobs/ingest/{job_id}", json={"state": state})
        return JobInfo.from_json(response.json())
