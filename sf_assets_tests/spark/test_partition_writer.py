"""The per-partition job pipeline, driven directly (no Spark) against the local org, through Bulk API 2.0 jobs and
through Bulk API 1.0 batches (which the writer sees as jobs)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from sf_assets.bulk import Credentials, IngestClient, JobFailedError, JobInfo, JobSpec, Transport
from sf_assets.bulk.ingest import PollSchedule
from sf_assets.emulator import LocalOrg
from sf_assets.spark.bulk1_jobs import Bulk1Jobs
from sf_assets.spark.columns import Column, ColumnPlan
from sf_assets.spark.csv_encoding import CsvEncoder
from sf_assets.spark.ledger import Ledger
from sf_assets.spark.partition_writer import JobLimits, PartitionWriter, _transient_mask
from sf_assets.spark.result_files import ResultFiles
from sf_assets.spark.worker_memory import ENCODE_PIECE_BYTES
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


Jobs = IngestClient | Bulk1Jobs


@pytest.fixture
def new_jobs(org: LocalOrg, bulk_api: str) -> Callable[[], Jobs]:
    """A fresh client per task attempt, as each Spark task makes its own: a 2.0 ``IngestClient`` or a 1.0
    ``Bulk1Jobs`` (whose partition job belongs to the attempt that created it)."""

    def new() -> Jobs:
        credentials = Credentials(session_id=org.new_session(), instance_url=org.instance_url)
        transport = Transport(credentials, ca_file=str(org.tls.ca_file))
        return IngestClient(transport) if bulk_api == "2" else Bulk1Jobs(transport, serial=False)

    return new


@pytest.fixture
def jobs(new_jobs: Callable[[], Jobs]) -> Jobs:
    return new_jobs()


class _Double:
    """A client that fails on cue: it hands every call it does not override to the real 2.0 or 1.0 client."""

    def __init__(self, inner: Jobs) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def _queue_latency(org: LocalOrg, session: requests.Session, seconds: float) -> Iterator[None]:
    operator_call(org, session, "PATCH", "config", {"processing": {"queue_latency": seconds}})
    try:
        yield
    finally:
        operator_call(org, session, "PATCH", "config", {"processing": {"queue_latency": 0.0}})


@pytest.fixture
def queued_org(org: LocalOrg, org_session: requests.Session) -> Iterator[LocalOrg]:
    """Work waits half a second in the org's queue. A 1.0 batch runs as soon as it is added, not when the
    writer closes it: a fault that aborts a job before it runs must strike while its batch still waits."""
    with _queue_latency(org, org_session, 0.5):
        yield org


def _writer(jobs: Jobs | _Double, tmp_path: Path, **limits: Any) -> PartitionWriter:
    settings = {
        "batch_size": 10_000,
        "max_job_bytes": 100 << 20,
        "max_jobs_in_flight": 4,
        "retry_delay": 0.01,
        **limits,
    }
    return PartitionWriter(
        jobs=jobs,  # type: ignore[arg-type]
        spec=_SPEC,
        encoder=CsvEncoder(_PLAN),
        results=ResultFiles(str(tmp_path), _PLAN.headers, partition_id=7, attempt=0),
        limits=JobLimits(**settings),
        poll=_POLL,
    )


def test_jobs_hold_exactly_batch_size_rows(jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path, batch_size=12).write(_batches(40, per_batch=7))
    assert [job.records for job in result.jobs] == [12, 12, 12, 4]
    assert (result.records_in, result.succeeded) == (40, 40)


def test_a_partitions_last_rows_join_the_job_before_them(jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path, batch_size=12, tail_rows=6).write(_batches(40, per_batch=7))
    assert [job.records for job in result.jobs] == [12, 12, 16]
    assert (result.records_in, result.succeeded) == (40, 40)


def test_more_last_rows_than_the_tail_take_a_job_of_their_own(jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path, batch_size=12, tail_rows=6).write(_batches(43, per_batch=7))
    assert [job.records for job in result.jobs] == [12, 12, 12, 7]


def test_a_tail_joins_a_job_only_within_max_job_bytes(jobs: Jobs, tmp_path: Path) -> None:
    encoder = CsvEncoder(_PLAN)
    full = len(encoder.header) + len(encoder.encode(next(_batches(12, per_batch=12))).csv)
    writer = _writer(jobs, tmp_path, batch_size=12, tail_rows=6, max_job_bytes=full + 10)
    result = writer.write(_batches(16, per_batch=4))
    assert [job.records for job in result.jobs] == [12, 4]


def test_jobs_rotate_before_max_job_bytes(jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path, max_job_bytes=2048).write(_batches(200, per_batch=50))
    assert len(result.jobs) > 1
    assert sum(job.records for job in result.jobs) == 200


def test_large_batches_are_encoded_a_small_piece_at_a_time(
    jobs: Jobs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _writer(jobs, tmp_path)
    batch = next(_batches(30_000, per_batch=30_000))
    encode = writer.encoder.encode
    pieces: list[int] = []

    def counting(piece: pa.RecordBatch) -> Any:
        pieces.append(piece.num_rows)
        return encode(piece)

    monkeypatch.setattr(writer.encoder, "encode", counting)
    result = writer.write(iter([batch]))
    assert len(pieces) >= batch.nbytes // ENCODE_PIECE_BYTES > 1
    assert sum(pieces) == result.succeeded == 30_000


def test_failed_rows_are_kept_with_their_error(jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path).write(_batches(5, names=lambda i: None if i == 3 else f"Account {i}"))
    job_id = result.jobs[0].job_id
    assert (result.succeeded, result.failed, result.files) == (4, 1, (f"failed/part-00007-{job_id}.parquet",))
    [row] = pq.read_table(tmp_path / "failed" / f"part-00007-{job_id}.parquet").to_pylist()
    assert (row["Oracle_Id__c"], row["sf__Error"]) == (
        "ORA-3",
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
    )
    assert row["sf__JobId"] == result.jobs[0].job_id


def test_non_finite_numbers_are_rejected_and_accounted(jobs: Jobs, tmp_path: Path) -> None:
    batch = pa.record_batch(
        [pa.array(["ORA-1", "ORA-2"]), pa.array(["A", "B"]), pa.array([1.0, float("nan")])], names=_PLAN.headers
    )
    result = _writer(jobs, tmp_path).write(iter([batch]))
    assert (result.records_in, result.succeeded, result.failed, result.rejected) == (2, 1, 1, 1)
    assert result.errors_by_code == {"NON_FINITE_NUMBER": 1}


def test_an_empty_partition_sends_nothing(jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(jobs, tmp_path).write(iter([]))
    assert (result.records_in, result.jobs, result.files) == (0, (), ())


class _Concurrency(_Double):
    """Counts how many jobs wait for Salesforce at the same time."""

    def __init__(self, inner: Jobs) -> None:
        super().__init__(inner)
        self.current = self.peak = 0
        self.lock = threading.Lock()

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: Any) -> JobInfo:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        try:
            return self.inner.wait(job_id, schedule, **kwargs)
        finally:
            with self.lock:
                self.current -= 1


@pytest.fixture
def slow_org(org: LocalOrg, org_session: requests.Session) -> Iterator[LocalOrg]:
    with _queue_latency(org, org_session, 0.15):
        yield org


@pytest.mark.parametrize("in_flight", [1, 3])
def test_jobs_in_flight_are_bounded(slow_org: LocalOrg, jobs: Jobs, tmp_path: Path, in_flight: int) -> None:
    counting = _Concurrency(jobs)
    result = _writer(counting, tmp_path, batch_size=5, max_jobs_in_flight=in_flight).write(_batches(30))
    assert len(result.jobs) == 6
    assert counting.peak == in_flight


class _FailingSecondUpload(_Double):
    """The second upload fails once the first has landed; the job of the first stays open a while (with 1.0, its
    batch waits queued)."""

    def __init__(self, inner: Jobs) -> None:
        super().__init__(inner)
        self.uploads = 0
        self.sent: list[str] = []
        self.lock = threading.Lock()
        # Jobs upload from pool threads: without this, the failure could abort the first job mid-upload.
        self.first_sent = threading.Event()

    def upload(self, job_id: str, data: Any, *, retry: bool = True) -> str:
        with self.lock:
            self.uploads += 1
            number = self.uploads
        if number == 2:
            self.first_sent.wait(timeout=10)
            raise RuntimeError("upload failed")
        sent = self.inner.upload(job_id, data, retry=retry) or job_id
        self.sent.append(sent)
        self.first_sent.set()
        return sent

    def close(self, job_id: str) -> JobInfo:
        time.sleep(0.5)
        return self.inner.close(job_id)


def test_a_failure_aborts_the_jobs_still_open(queued_org: LocalOrg, jobs: Jobs, tmp_path: Path) -> None:
    failing = _FailingSecondUpload(jobs)
    with pytest.raises(RuntimeError, match="upload failed"):
        _writer(failing, tmp_path, batch_size=5, max_jobs_in_flight=2).write(_batches(10))
    assert jobs.info(failing.sent[0]).state == "Aborted"


class _AlwaysAborted(_Double):
    def close(self, job_id: str) -> JobInfo:
        return self.inner.abort(job_id)


def test_rows_of_an_aborted_job_are_kept_as_unprocessed(queued_org: LocalOrg, jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(_AlwaysAborted(jobs), tmp_path, row_retries=0).write(_batches(3))
    assert (result.records_in, result.succeeded, result.unprocessed) == (3, 0, 3)
    rows = pq.read_table(tmp_path / "unprocessed").to_pylist()
    assert sorted(row["Oracle_Id__c"] for row in rows) == ["ORA-0", "ORA-1", "ORA-2"]


class _FirstJobAborted(_Double):
    def __init__(self, inner: Jobs) -> None:
        super().__init__(inner)
        self.closed = 0

    def close(self, job_id: str) -> JobInfo:
        self.closed += 1
        return self.inner.abort(job_id) if self.closed == 1 else self.inner.close(job_id)


def test_unprocessed_rows_are_resent_in_a_new_job(queued_org: LocalOrg, jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(_FirstJobAborted(jobs), tmp_path).write(_batches(3))
    first, second = result.jobs
    assert (first.state, first.resent, second.retry_of, second.records) == ("Aborted", 3, first.job_id, 3)
    assert (result.records_in, result.succeeded, result.failed, result.unprocessed, result.files) == (3, 3, 0, 0, ())


def test_resending_stops_after_the_row_retries(queued_org: LocalOrg, jobs: Jobs, tmp_path: Path) -> None:
    result = _writer(_AlwaysAborted(jobs), tmp_path, row_retries=2).write(_batches(4))
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


class _DiesAtSecondJob(_Double):
    """A task attempt that dies (like a lost executor) when it starts its second job."""

    def __init__(self, inner: Jobs) -> None:
        super().__init__(inner)
        self.created = 0

    def create(self, spec: JobSpec) -> JobInfo:
        self.created += 1
        if self.created == 2:
            raise RuntimeError("executor lost")
        return self.inner.create(spec)


class _Counting(_Double):
    def __init__(self, inner: Jobs) -> None:
        super().__init__(inner)
        self.uploaded: list[int] = []

    def upload(self, job_id: str, data: Any, *, retry: bool = True) -> str | None:
        data.seek(0)
        self.uploaded.append(data.read().count(b"\n") - 1)
        data.seek(0)
        return self.inner.upload(job_id, data, retry=retry)


def _attempt(
    jobs: Jobs | _Double, tmp_path: Path, attempt: int, batches: Iterator[pa.RecordBatch], tail_rows: int = 0
) -> Any:
    writer = PartitionWriter(
        jobs=jobs,  # type: ignore[arg-type]
        spec=_SPEC,
        encoder=CsvEncoder(_PLAN),
        results=ResultFiles(str(tmp_path), _PLAN.headers, partition_id=7, attempt=attempt),
        limits=JobLimits(
            batch_size=5, max_job_bytes=100 << 20, max_jobs_in_flight=1, retry_delay=0.01, tail_rows=tail_rows
        ),
        poll=_POLL,
        ledger=Ledger(str(tmp_path), partition_id=7),
    )
    return writer.write(batches)


def test_a_retried_task_does_not_resend_finished_jobs(new_jobs: Callable[[], Jobs], tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(_DiesAtSecondJob(new_jobs()), tmp_path, 0, _batches(12, names=lambda i: None if i == 1 else f"A{i}"))
    counting = _Counting(new_jobs())
    result = _attempt(counting, tmp_path, 1, _batches(12, names=lambda i: None if i == 1 else f"A{i}"))
    assert counting.uploaded == [5, 2]  # the first attempt's finished job held rows 0-4
    assert (result.records_in, result.succeeded, result.failed, result.unprocessed) == (12, 11, 1, 0)
    assert len(result.jobs) == 3
    assert result.errors_by_code == {"REQUIRED_FIELD_MISSING": 1}
    assert len(pq.read_table(tmp_path / "failed").to_pylist()) == 1


class _DiesAtFinish(_Double):
    """A task attempt that dies once all its jobs are over, before it reports."""

    def finish(self) -> None:
        raise RuntimeError("executor lost")


def test_a_retried_task_does_not_resend_a_tail_that_joined_a_job(new_jobs: Callable[[], Jobs], tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(_DiesAtFinish(new_jobs()), tmp_path, 0, _batches(8), tail_rows=3)
    counting = _Counting(new_jobs())
    result = _attempt(counting, tmp_path, 1, _batches(8), tail_rows=3)
    assert counting.uploaded == []
    assert [job.records for job in result.jobs] == [8]
    assert (result.records_in, result.succeeded) == (8, 8)


def test_identical_rows_are_skipped_only_as_often_as_they_were_sent(
    new_jobs: Callable[[], Jobs], tmp_path: Path
) -> None:
    rows = pa.record_batch([pa.array(["ORA-1"] * 7), pa.array(["Same"] * 7), pa.array([1.0] * 7)], names=_PLAN.headers)
    with pytest.raises(RuntimeError):
        _attempt(_DiesAtSecondJob(new_jobs()), tmp_path, 0, iter([rows]))
    counting = _Counting(new_jobs())
    _attempt(counting, tmp_path, 1, iter([rows]))
    assert counting.uploaded == [2]


class _DiesWhileWaiting(_Double):
    """A task attempt that dies after handing its first job to Salesforce, before seeing it finish."""

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: Any) -> JobInfo:
        raise RuntimeError("executor lost")


def test_a_retried_task_collects_a_job_it_handed_over_but_never_saw_finish(
    new_jobs: Callable[[], Jobs], tmp_path: Path
) -> None:
    names = lambda i: None if i == 2 else f"A{i}"  # noqa: E731
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(_DiesWhileWaiting(new_jobs()), tmp_path, 0, _batches(8, names=names))
    counting = _Counting(new_jobs())
    result = _attempt(counting, tmp_path, 1, _batches(8, names=names))
    assert counting.uploaded == [3]  # rows 0-4 went in the job the first attempt closed
    assert (result.records_in, result.succeeded, result.failed) == (8, 7, 1)
    assert result.errors_by_code == {"REQUIRED_FIELD_MISSING": 1}


class _DiesBeforeClosing(_Double):
    def close(self, job_id: str) -> JobInfo:
        raise RuntimeError("executor lost")


def test_rows_of_a_job_never_closed_are_sent_again(
    queued_org: LocalOrg, new_jobs: Callable[[], Jobs], tmp_path: Path
) -> None:
    # With 1.0 nothing is closed per batch: the abort that follows the failure must catch the batch queued.
    with pytest.raises(RuntimeError, match="executor lost"):
        _attempt(_DiesBeforeClosing(new_jobs()), tmp_path, 0, _batches(3))
    counting = _Counting(new_jobs())
    result = _attempt(counting, tmp_path, 1, _batches(3))
    assert counting.uploaded == [3]
    assert (result.records_in, result.succeeded, len(result.jobs)) == (3, 3, 1)


# How each API takes a job's data: 2.0 uploads it to the job, 1.0 adds it to the job as a batch.
_UPLOAD = {"2": ("PUT", r"/jobs/ingest/\w+/batches$"), "1": ("POST", r"/services/async/[\d.]+/job/\w+/batch$")}


@pytest.fixture
def upload_answer_lost(org: LocalOrg, org_session: requests.Session, bulk_api: str) -> Iterator[None]:
    """The org stores the first upload, then answers 500: the client cannot know its data arrived."""
    method, path = _UPLOAD[bulk_api]
    rule = {"method": method, "path": path, "action": "error", "when": "after", "last": 1}
    operator_call(org, org_session, "PUT", "faults", {"rules": [rule]})
    yield
    [fired] = [rule["fired"] for rule in operator_call(org, org_session, "GET", "faults").json()["rules"]]
    operator_call(org, org_session, "DELETE", "faults")
    assert fired == 1, "the upload's answer was never lost"


def _processed_by_org(org: LocalOrg) -> dict[str, int]:
    """Rows processed by each 2.0 job and each 1.0 batch (named ``<jobId>-<batchId>``) of the org that processed any."""
    processed = {job.id: job.number_records_processed for job in list(org.ingest.jobs.values())}
    for job in list(org.bulk1.jobs.values()):
        processed.update({f"{job.id}-{batch.id}": batch.number_records_processed for batch in job.batches})
    return {name: count for name, count in processed.items() if count}


def test_a_lost_upload_answer_sends_no_row_twice(
    upload_answer_lost: None, org: LocalOrg, jobs: Jobs, tmp_path: Path
) -> None:
    result = _writer(jobs, tmp_path).write(_batches(5))
    assert (result.records_in, result.succeeded, result.failed) == (5, 5, 0)
    assert sum(_processed_by_org(org).values()) == 5


def test_a_lost_upload_answer_reports_the_job_that_wrote_the_rows(
    upload_answer_lost: None, org: LocalOrg, jobs: Jobs, tmp_path: Path
) -> None:
    # 2.0 aborts the job it never heard back from and sends the rows in a new one; 1.0 finds the stored batch.
    result = _writer(jobs, tmp_path).write(_batches(5))
    assert [job.job_id for job in result.jobs] == list(_processed_by_org(org))


class _FailsAfterWriting(_Double):
    """Salesforce writes the job's rows, then reports the job Failed."""

    _MESSAGE = "InternalServerError : An unexpected error occurred"

    def wait(self, job_id: str, schedule: PollSchedule | None = None, **kwargs: Any) -> JobInfo:
        self.inner.wait(job_id, schedule, **kwargs)
        raise JobFailedError(job_id, self._MESSAGE)

    def info(self, job_id: str) -> JobInfo:
        return dataclasses.replace(self.inner.info(job_id), state="Failed", error_message=self._MESSAGE)


def test_a_failed_job_fails_the_partition_after_keeping_its_results(jobs: Jobs, tmp_path: Path) -> None:
    with pytest.raises(JobFailedError, match="InternalServerError"):
        _writer(_FailsAfterWriting(jobs), tmp_path, success_results=True).write(_batches(4))
    assert len(pq.read_table(tmp_path / "successful").to_pylist()) == 4
