"""The per-partition job pipeline, driven directly (no Spark) against the local org."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from sf_assets.bulk import Credentials, IngestClient, JobFailedError, JobInfo, JobSpec, Transport
from sf_assets.bulk.ingest import PollSchedule
from sf_assets.emulator import LocalOrg
from sf_assets.spark.columns import Column, ColumnPlan
from sf_assets.spark.csv_encoding import CsvEncoder
from sf_assets.spark.ledger import Ledger
from sf_assets.spark.partition_writer import JobLimits, PartitionWriter, _transient_mask
from sf_assets.spark.result_files import ResultFiles
from sf_assets_tests.conftest import operator_call

_PLAN = ColumnPlan(
    "Account",
    (Column("Oracle_Id__c", "string", ""), Column("Name", "string", "#N/A"), Column("AnnualRevenue", "double", "#N/A")),
)
_SPEC = JobSpec("Account", "upsert", "Oracle_Id__c")
_POLL = PollSchedule(initial=0.01, factor=1.5, maximum=0.05, timeout=60)


def _batches(count: int, per_batch: int = 10, *, names: Any = None) -> Iterator[pa.RecordBatch]:
    for start in range(0, count, per_batch):
        ids = range(start, min(count, start + per_batch))
        yield pa.record_batch(
            [
                pa.array([f"ORA-{i}" for i in ids]),
                pa.array([names(i) if names else f"Account {i}" for i in ids]),
                pa.array([float(i) for i in ids]),
            ],
            names=_PLAN.headers,
        )


@pytest.fixture
def jobs(org: LocalOrg) -> IngestClient:
    credentials = Credentials(session_id=org.new_session(), instance_url=org.instance_url)
    return IngestClient(Transport(credentials, ca_file=str(org.tls.ca_file)))


def _writer(jobs: IngestClient, tmp_path: Path, **limits: Any) -> PartitionWriter:
    settings = {
        "batch_size": 10_000,
        "max_job_bytes": 100 << 20,
        "max_jobs_in_flight": 4,
        "retry_delay": 0.01,
        **limits,
    }
    return PartitionWriter(
        jobs=jobs,
        spec=_SPEC,
        encoder=CsvEncoder(_PLAN),
        results=ResultFiles(str(tmp_path), _PLAN.headers, partition_id=7, attempt=0),
        limits=JobLimits(**settings),
        poll=_POLL,
    )


def test_jobs_hold_exactly_batch_size_rows(jobs: IngestClient, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path, batch_size=12).write(_batches(40, per_batch=7))
    assert [job.records for job in result.jobs] == [12, 12, 12, 4]
    assert (result.records_in, result.succeeded) == (40, 40)


def test_jobs_rotate_before_max_job_bytes(jobs: IngestClient, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path, max_job_bytes=2048).write(_batches(200, per_batch=50))
    assert len(result.jobs) > 1
    assert sum(job.records for job in result.jobs) == 200


def test_failed_rows_are_kept_with_their_error(jobs: IngestClient, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path).write(_batches(5, names=lambda i: None if i == 3 else f"Account {i}"))
    job_id = result.jobs[0].job_id
    assert (result.succeeded, result.failed, result.files) == (4, 1, (f"failed/part-00007-{job_id}.parquet",))
    [row] = pq.read_table(tmp_path / "failed" / f"part-00007-{job_id}.parquet").to_pylist()
    assert (row["Oracle_Id__c"], row["sf__Error"]) == (
        "ORA-3",
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
    )
    assert row["sf__JobId"] == result.jobs[0].job_id


def test_non_finite_numbers_are_rejected_and_accounted(jobs: IngestClient, tmp_path: Path) -> None:
    batch = pa.record_batch(
        [pa.array(["ORA-1", "ORA-2"]), pa.array(["A", "B"]), pa.array([1.0, float("nan")])], names=_PLAN.headers
    )
    result = _writer(jobs, tmp_path).write(iter([batch]))
    assert (result.records_in, result.succeeded, result.failed, result.rejected) == (2, 1, 1, 1)
    assert result.errors_by_code == {"NON_FINITE_NUMBER": 1}


def test_an_empty_partition_sends_nothing(jobs: IngestClient, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path).write(iter([]))
    assert (result.records_in, result.jobs, result.files) == (0, (), ())


class _Concurrency(IngestClient):
    """Counts how many jobs wait for Salesforce at the same time."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.current = self.peak = 0
        self.lock = threading.Lock()

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: Any) -> JobInfo:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        try:
            return super().wait(job_id, schedule, **kwargs)
        finally:
            with self.lock:
                self.current -= 1


@pytest.fixture
def slow_org(org: LocalOrg, org_session: requests.Session) -> Iterator[LocalOrg]:
    operator_call(org, org_session, "PATCH", "config", {"processing": {"queue_latency": 0.15}})
    yield org
    operator_call(org, org_session, "PATCH", "config", {"processing": {"queue_latency": 0.0}})


@pytest.mark.parametrize("in_flight", [1, 3])
def test_jobs_in_flight_are_bounded(slow_org: LocalOrg, jobs: IngestClient, tmp_path: Path, in_flight: int) -> None:
    counting = _Concurrency(jobs.transport)
    result = _writer(counting, tmp_path, batch_size=5, max_jobs_in_flight=in_flight).write(_batches(30))
    assert len(result.jobs) == 6
    assert counting.peak == in_flight


class _FailingSecondUpload(IngestClient):
    """The first job stays open a while; the second job's upload fails."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.created: list[str] = []

    def create(self, spec: JobSpec) -> JobInfo:
        job = super().create(spec)
        self.created.append(job.id)
        return job

    def upload(self, job_id: str, data: Any, *, retry: bool = True) -> None:
        if job_id == self.created[-1] and len(self.created) == 2:
            raise RuntimeError("upload failed")
        super().upload(job_id, data, retry=retry)

    def close(self, job_id: str) -> JobInfo:
        time.sleep(0.5)
        return super().close(job_id)


def test_a_failure_aborts_the_jobs_still_open(jobs: IngestClient, tmp_path: Path) -> None:
    failing = _FailingSecondUpload(jobs.transport)
    with pytest.raises(RuntimeError, match="upload failed"):
        _writer(failing, tmp_path, batch_size=5, max_jobs_in_flight=2).write(_batches(10))
    assert jobs.info(failing.created[0]).state == "Aborted"


class _AbortedBySomeoneElse(IngestClient):
    def close(self, job_id: str) -> JobInfo:
        return self.abort(job_id)


def test_rows_of_an_aborted_job_are_kept_as_unprocessed(jobs: IngestClient, tmp_path: Path) -> None:
    aborting = _AbortedBySomeoneElse(jobs.transport)
    result = _writer(aborting, tmp_path, row_retries=0).write(_batches(3))
    assert (result.records_in, result.succeeded, result.unprocessed) == (3, 0, 3)
    rows = pq.read_table(tmp_path / "unprocessed").to_pylist()
    assert sorted(row["Oracle_Id__c"] for row in rows) == ["ORA-0", "ORA-1", "ORA-2"]


class _FirstJobAborted(IngestClient):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.closed = 0

    def close(self, job_id: str) -> JobInfo:
        self.closed += 1
        return self.abort(job_id) if self.closed == 1 else super().close(job_id)


def test_unprocessed_rows_are_resent_in_a_new_job(jobs: IngestClient, tmp_path: Path) -> None:
    result = _writer(_FirstJobAborted(jobs.transport), tmp_path).write(_batches(3))
    first, second = result.jobs
    assert (first.state, first.resent, second.retry_of, second.records) == ("Aborted", 3, first.job_id, 3)
    assert (result.records_in, result.succeeded, result.failed, result.unprocessed, result.files) == (3, 3, 0, 0, ())


class _AlwaysAborted(IngestClient):
    def close(self, job_id: str) -> JobInfo:
        return self.abort(job_id)


def test_resending_stops_after_the_row_retries(jobs: IngestClient, tmp_path: Path) -> None:
    result = _writer(_AlwaysAborted(jobs.transport), tmp_path, row_retries=2).write(_batches(4))
    assert [job.records for job in result.jobs] == [4, 4, 4]
    assert (result.succeeded, result.unprocessed) == (0, 4)


def test_only_transient_errors_are_resent() -> None:
    table = pa.table(
        {
            "sf__Error": [
                "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: 001x:--",
                "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
                None,
            ]
        }
    )
    assert _transient_mask(table).to_pylist() == [True, False, False]


class _DiesAtSecondJob(IngestClient):
    """A task attempt that dies (like a lost executor) when it starts its second job."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.created = 0

    def create(self, spec: JobSpec) -> JobInfo:
        self.created += 1
        if self.created == 2:
            raise RuntimeError("executor lost")
        return super().create(spec)


class _Counting(IngestClient):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.uploaded: list[int] = []

    def upload(self, job_id: str, data: Any, *, retry: bool = True) -> None:
        data.seek(0)
        self.uploaded.append(data.read().count(b"\n") - 1)
        data.seek(0)
        super().upload(job_id, data, retry=retry)


def _attempt(jobs: IngestClient, tmp_path: Path, attempt: int, batches: Iterator[pa.RecordBatch]) -> Any:
    writer = PartitionWriter(
        jobs=jobs,
        spec=_SPEC,
        encoder=CsvEncoder(_PLAN),
        results=ResultFiles(str(tmp_path), _PLAN.headers, partition_id=7, attempt=attempt),
        limits=JobLimits(batch_size=5, max_job_bytes=100 << 20, max_jobs_in_flight=1, retry_delay=0.01),
        poll=_POLL,
        ledger=Ledger(str(tmp_path), partition_id=7),
    )
    return writer.write(batches)


def test_a_retried_task_does_not_resend_finished_jobs(jobs: IngestClient, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(
            _DiesAtSecondJob(jobs.transport), tmp_path, 0, _batches(12, names=lambda i: None if i == 1 else f"A{i}")
        )
    counting = _Counting(jobs.transport)
    result = _attempt(counting, tmp_path, 1, _batches(12, names=lambda i: None if i == 1 else f"A{i}"))
    assert counting.uploaded == [5, 2]  # the first attempt's finished job held rows 0-4
    assert (result.records_in, result.succeeded, result.failed, result.unprocessed) == (12, 11, 1, 0)
    assert len(result.jobs) == 3
    assert result.errors_by_code == {"REQUIRED_FIELD_MISSING": 1}
    assert len(pq.read_table(tmp_path / "failed").to_pylist()) == 1


def test_identical_rows_are_skipped_only_as_often_as_they_were_sent(jobs: IngestClient, tmp_path: Path) -> None:
    rows = pa.record_batch([pa.array(["ORA-1"] * 7), pa.array(["Same"] * 7), pa.array([1.0] * 7)], names=_PLAN.headers)
    with pytest.raises(RuntimeError):
        _attempt(_DiesAtSecondJob(jobs.transport), tmp_path, 0, iter([rows]))
    counting = _Counting(jobs.transport)
    _attempt(counting, tmp_path, 1, iter([rows]))
    assert counting.uploaded == [2]


class _DiesWhileWaiting(IngestClient):
    """A task attempt that dies after handing its first job to Salesforce, before seeing it finish."""

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: Any) -> JobInfo:
        raise RuntimeError("executor lost")


def test_a_retried_task_collects_a_job_it_handed_over_but_never_saw_finish(jobs: IngestClient, tmp_path: Path) -> None:
    names = lambda i: None if i == 2 else f"A{i}"  # noqa: E731
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(_DiesWhileWaiting(jobs.transport), tmp_path, 0, _batches(8, names=names))
    counting = _Counting(jobs.transport)
    result = _attempt(counting, tmp_path, 1, _batches(8, names=names))
    assert counting.uploaded == [3]  # rows 0-4 went in the job the first attempt closed
    assert (result.records_in, result.succeeded, result.failed) == (8, 7, 1)
    assert result.errors_by_code == {"REQUIRED_FIELD_MISSING": 1}


class _DiesBeforeClosing(IngestClient):
    def close(self, job_id: str) -> JobInfo:
        raise RuntimeError("executor lost")


def test_rows_of_a_job_never_closed_are_sent_again(jobs: IngestClient, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(_DiesBeforeClosing(jobs.transport), tmp_path, 0, _batches(3))
    counting = _Counting(jobs.transport)
    result = _attempt(counting, tmp_path, 1, _batches(3))
    assert counting.uploaded == [3]
    assert (result.records_in, result.succeeded, len(result.jobs)) == (3, 3, 1)


class _UploadAnswerLost(IngestClient):
    """The org stores the first upload, but its answer never arrives (a 500 after the fact)."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.jobs_created: list[str] = []

    def create(self, spec: JobSpec) -> JobInfo:
        job = super().create(spec)
        self.jobs_created.append(job.id)
        return job

    def upload(self, job_id: str, data: Any, *, retry: bool = True) -> None:
        super().upload(job_id, data, retry=retry)
        if len(self.jobs_created) == 1:
            raise requests.ConnectionError("connection dropped after the upload was stored")


def test_a_lost_upload_answer_moves_the_rows_to_a_new_job(jobs: IngestClient, tmp_path: Path) -> None:
    lost = _UploadAnswerLost(jobs.transport)
    result = _writer(lost, tmp_path).write(_batches(5))
    assert (result.records_in, result.succeeded, result.failed) == (5, 5, 0)
    assert jobs.info(lost.jobs_created[0]).state == "Aborted"
    assert [job.job_id for job in result.jobs] == [lost.jobs_created[1]]


class _FailsAfterWriting(IngestClient):
    """Salesforce writes the job's rows, then reports the job Failed."""

    _MESSAGE = "InternalServerError : An unexpected error occurred"

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: Any) -> JobInfo:
        super().wait(job_id, schedule, **kwargs)
        raise JobFailedError(job_id, self._MESSAGE)

    def info(self, job_id: str) -> JobInfo:
        return dataclasses.replace(super().info(job_id), state="Failed", error_message=self._MESSAGE)


def test_a_failed_job_fails_the_partition_after_keeping_its_results(jobs: IngestClient, tmp_path: Path) -> None:
    with pytest.raises(JobFailedError, match="InternalServerError"):
        _writer(_FailsAfterWriting(jobs.transport), tmp_path, success_results=True).write(_batches(4))
    assert len(pq.read_table(tmp_path / "successful").to_pylist()) == 4
