"""Writing one Spark partition: stream Arrow batches into CSV files, one Salesforce job per file, several
jobs in flight, every job's per-record results kept.

The task thread encodes rows into a spool file on local disk (never a partition in memory). When the file
reaches ``batchSize`` rows or ``maxJobBytes`` bytes it is handed to a job thread, which creates the job,
uploads, closes, polls and fetches the results, while the task thread goes on encoding the next one. With a
tail allowance (``JobLimits.tail_rows``) a full file waits until that many more rows follow it, and the
partition's last rows, if fewer, join it instead of making a small job of their own. At most
``maxJobsInFlight`` jobs run at once; the task thread waits for a free slot, so memory and disk stay bounded.
On any failure the jobs still open in Salesforce are aborted before the error propagates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import shutil
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from sf_assets.bulk import JobFailedError, JobInfo, JobSpec, Transport
from sf_assets.bulk.ingest import PollSchedule
from sf_assets.bulk.limits import api_usage
from sf_assets.bulk.transport import is_transient

from .arrow_literals import FALSE, flags
from .arrow_literals import text as literal
from .commit_message import JobResult, PartitionResult
from .csv_encoding import CsvEncoder, EncodedRows, lines_bytes, text_rows
from .ledger import ChainRecord, Ledger, PendingChain, line_digests
from .result_files import ResultFiles
from .worker_memory import ENCODE_PIECE_BYTES, peak_rss_mb

log = logging.getLogger(__name__)

# Wide rows still go a few dozen at a time: the encoder's fixed cost per piece must not dominate.
_MIN_PIECE_ROWS = 64


@dataclass(frozen=True)
class JobLimits:
    """How a partition is cut into jobs and how many run at once."""

    batch_size: int
    max_job_bytes: int
    max_jobs_in_flight: int
    success_results: bool = False
    row_retries: int = 3
    retry_delay: float = 1.0
    # Rows a partition's last job may take beyond batch_size rather than leaving them to a small job of their own.
    tail_rows: int = 0


class JobClient(Protocol):
    """The ingest calls a partition writer makes: :class:`~sf_assets.bulk.IngestClient` (Bulk API 2.0) or
    :class:`~sf_assets.spark.bulk1_jobs.Bulk1Jobs` (Bulk API 1.0 batches presented as jobs)."""

    transport: Transport

    def create(self, spec: JobSpec) -> JobInfo: ...
    def upload(self, job_id: str, data: bytes | IO[bytes], *, retry: bool = True) -> str | None: ...
    def close(self, job_id: str) -> JobInfo: ...
    def abort(self, job_id: str) -> JobInfo: ...
    def abandon(self, job_id: str) -> None: ...
    def info(self, job_id: str) -> JobInfo: ...
    def wait(self, job_id: str, schedule: PollSchedule | None = None) -> JobInfo: ...
    def results(self, job_id: str, kind: str, sink: Callable[[bytes], object]) -> int: ...
    def finish(self) -> None: ...


class _JobFile:
    """A spool file holding one job's CSV."""

    def __init__(self, header: bytes) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="sf-assets-job-")  # noqa: SIM115 - closed by its job
        self.file.write(header)
        self.size = len(header)
        self.rows = 0
        self.digests: array[int] = array("Q")

    def append(self, csv: bytes, rows: int, digests: array[int] | None = None) -> None:
        self.file.write(csv)
        self.size += len(csv)
        self.rows += rows
        if digests is not None:
            self.digests.extend(digests)

    def absorb(self, other: _JobFile, header_size: int) -> None:
        """Append the rows of ``other`` (which has the same header) and close it."""
        other.file.seek(header_size)
        shutil.copyfileobj(other.file, self.file)
        self.size += other.size - header_size
        self.rows += other.rows
        self.digests.extend(other.digests)
        other.file.close()


class PartitionWriter:
    """Writes the record batches of one partition through Bulk API 2.0 jobs.

    Args:
        jobs: The ingest client (one per task: its transport is not shared across processes).
        spec: What each job does.
        encoder: Turns record batches into CSV.
        results: Where per-record results go.
        limits: Job sizing and concurrency.
        poll: How job status is polled.
    """

    def __init__(
        self,
        jobs: JobClient,
        spec: JobSpec,
        encoder: CsvEncoder,
        results: ResultFiles,
        limits: JobLimits,
        poll: PollSchedule,
        ledger: Ledger | None = None,
    ) -> None:
        self.jobs = jobs
        self.spec = spec
        self.encoder = encoder
        self.results = results
        self.limits = limits
        self.poll = poll
        self._open_jobs: set[str] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.max_jobs_in_flight)
        self._failed = threading.Event()
        self._usage_warned = False
        self.ledger = ledger
        self._chains: list[ChainRecord] = []

    def write(self, batches: Iterator[pa.RecordBatch]) -> PartitionResult:
        """Send every row of ``batches`` and return the partition's accounting."""
        started = time.perf_counter()
        encode_seconds = 0.0
        records_in = rejected = 0
        futures: list[Future[list[JobResult]]] = []
        current: _JobFile | None = None
        # A full job kept back while the rows after it might still be few enough to join it (limits.tail_rows).
        held: _JobFile | None = None
        earlier, already_sent, pending = self.ledger.load() if self.ledger else ([], Counter(), [])
        for chain in earlier:
            # An earlier attempt may have died between recording a chain and moving its files.
            self.results.move(dict(chain.files))
        if earlier or pending:
            log.info("taking over %d finished and %d unfinished job chains", len(earlier), len(pending))
        recovered = [job for chain in pending for job in self._recover(chain, already_sent)]
        # A job that ended Failed fails every attempt of the write, once what it and its siblings did is kept.
        _raise_for_failed([*(job for chain in earlier for job in chain.jobs), *recovered])
        pool = ThreadPoolExecutor(self.limits.max_jobs_in_flight, thread_name_prefix="sf-job")
        try:
            for batch in batches:
                records_in += batch.num_rows
                tick = time.perf_counter()
                for piece, encoded in self._encoded(batch, current):
                    if encoded.rejected is not None:
                        rejected += encoded.rejected.num_rows
                        self.results.add("failed", encoded.rejected)
                    digests = line_digests(encoded.csv, encoded.rows, encoded.line_array)
                    if already_sent and digests:
                        encoded, digests = _without_sent(encoded, digests, already_sent)
                    if encoded.rows == 0:
                        continue
                    if current is not None and not self._fits(current, encoded.rows, len(encoded.csv)):
                        if held is not None:
                            tick += self._hand_over(pool, held, futures)
                            held = None
                        if self.limits.tail_rows:
                            held = current
                        else:
                            tick += self._hand_over(pool, current, futures)
                        current = None
                    if current is None:
                        current = _JobFile(self.encoder.header)
                    if not self._fits(current, encoded.rows, len(encoded.csv)):
                        # One row bigger than a whole job: Salesforce could never take it; report it, go on.
                        rejected += encoded.rows
                        self.results.add("failed", self._too_large(piece, len(encoded.csv)))
                        continue
                    current.append(encoded.csv, encoded.rows, digests)
                    if held is not None and current.rows > self.limits.tail_rows:
                        tick += self._hand_over(pool, held, futures)
                        held = None
                encode_seconds += time.perf_counter() - tick
                self._raise_if_failed(futures)
            if held is not None:
                if current is not None and self._joins(held, current):
                    held.absorb(current, len(self.encoder.header))
                    current = None
                futures.append(self._submit(pool, held))
                held = None
            if current is not None and current.rows:
                futures.append(self._submit(pool, current))
            current = None
            wait(futures, return_when=FIRST_EXCEPTION)
            self._raise_if_failed(futures)
            job_results = recovered + [job for future in futures for job in future.result()]
            self.jobs.finish()
        except BaseException:
            self._failed.set()
            # Abort first: job threads may be blocked in a slow call, and Salesforce must stop now.
            self._abort_open_jobs()
            pool.shutdown(wait=True, cancel_futures=True)
            self._abort_open_jobs()
            self._collect_unfinished()
            self.results.close()
            raise
        finally:
            pool.shutdown(wait=True)
            for job_file in (held, current):
                if job_file is not None:
                    job_file.file.close()
        files = self.results.publish()
        errors = Counter(self.results.errors_by_code)
        for chain in earlier:
            errors.update(chain.errors_by_code)
        chain_files = tuple(name for chain in (*earlier, *self._chains) for name in chain.files.values())
        return PartitionResult(
            partition_id=self.results.partition_id,
            attempt=self.results.attempt,
            records_in=records_in,
            succeeded=sum(job.succeeded for job in job_results) + sum(chain.succeeded for chain in earlier),
            # Final outcomes: a row resent after a transient failure counts once, where it ended.
            failed=self.results.rows["failed"] + sum(chain.failed for chain in earlier),
            unprocessed=self.results.rows["unprocessed"] + sum(chain.unprocessed for chain in earlier),
            rejected=rejected,
            errors_by_code=dict(errors),
            jobs=tuple(job for chain in earlier for job in chain.jobs) + tuple(job_results),
            files=chain_files + files,
            encode_seconds=encode_seconds,
            wall_seconds=time.perf_counter() - started,
            peak_rss_mb=peak_rss_mb(),
            api_usage=self.jobs.transport.limit_info or "",
        )

    def _pieces(self, batch: pa.RecordBatch, current: _JobFile | None) -> Iterator[pa.RecordBatch]:
        """Slices of ``batch`` that end exactly where a job reaches ``batchSize`` rows, small enough to respect
        ``maxJobBytes`` at the batch's average row size, and of about ``ENCODE_PIECE_BYTES`` of Arrow data."""
        rows_left = self.limits.batch_size - (current.rows if current else 0)
        average = max(1, batch.nbytes // max(1, batch.num_rows))
        # Encoded CSV is rarely larger than Arrow's in-memory size; halve to keep a margin.
        by_bytes = max(1, self.limits.max_job_bytes // (2 * average))
        by_memory = max(_MIN_PIECE_ROWS, ENCODE_PIECE_BYTES // average)
        offset = 0
        while offset < batch.num_rows:
            if rows_left <= 0:
                rows_left = self.limits.batch_size
            length = min(rows_left, by_bytes, by_memory, batch.num_rows - offset)
            yield batch.slice(offset, length)
            offset += length
            rows_left -= length

    def _encoded(self, batch: pa.RecordBatch, current: _JobFile | None) -> Iterator[tuple[pa.RecordBatch, EncodedRows]]:
        for piece in self._pieces(batch, current):
            yield from self._fitting(piece)

    def _fitting(self, piece: pa.RecordBatch) -> Iterator[tuple[pa.RecordBatch, EncodedRows]]:
        """The piece encoded, halved until each part fits in a job (a single row that cannot is left to the
        caller to reject)."""
        encoded = self.encoder.encode(piece)
        room = self.limits.max_job_bytes - len(self.encoder.header)
        if len(encoded.csv) <= room or piece.num_rows <= 1:
            yield piece, encoded
            return
        half = piece.num_rows // 2
        yield from self._fitting(piece.slice(0, half))
        yield from self._fitting(piece.slice(half))

    def _too_large(self, row: pa.RecordBatch, size: int) -> pa.Table:
        table = self.encoder.as_text(row)
        limit = self.limits.max_job_bytes
        error = f"ROW_TOO_LARGE:not sent: the row takes {size} bytes of CSV, more than maxJobBytes={limit}:--"
        return table.append_column("sf__Error", pa.repeat(literal(error), table.num_rows))

    def _fits(self, job: _JobFile, rows: int, size: int) -> bool:
        return job.rows + rows <= self.limits.batch_size and job.size + size <= self.limits.max_job_bytes

    def _joins(self, held: _JobFile, tail: _JobFile) -> bool:
        """Whether the partition's last rows may join the full job before them."""
        rows = held.rows + tail.rows
        size = held.size + tail.size - len(self.encoder.header)
        return rows <= self.limits.batch_size + self.limits.tail_rows and size <= self.limits.max_job_bytes

    def _hand_over(self, pool: ThreadPoolExecutor, job_file: _JobFile, futures: list[Future[list[JobResult]]]) -> float:
        """Submit the job; returns the seconds spent waiting for a free slot, which are not encoding."""
        started = time.perf_counter()
        futures.append(self._submit(pool, job_file))
        return time.perf_counter() - started

    def _submit(self, pool: ThreadPoolExecutor, job_file: _JobFile) -> Future[list[JobResult]]:
        # Blocks the encoding thread while the maximum number of jobs is in flight.
        while not self._slots.acquire(timeout=0.5):
            if self._failed.is_set():
                job_file.file.close()
                raise RuntimeError("another job of this partition failed")
        try:
            return pool.submit(self._run_job, job_file)
        except BaseException:
            self._slots.release()
            job_file.file.close()
            raise

    def _run_job(self, job_file: _JobFile) -> list[JobResult]:
        """Run one job, then resend its transient failures in new jobs until they land or retries run out."""
        try:
            chain: list[JobResult] = []
            retry_of: str | None = None
            digests = job_file.digests
            rows = job_file.rows
            while True:
                final = len(chain) >= self.limits.row_retries
                group = chain[0].job_id if chain else None

                def before_close(job_id: str, chain: list[JobResult] = chain) -> None:
                    if self.ledger is not None:
                        self.ledger.pending([*(job.job_id for job in chain), job_id], digests, rows)

                result, transient = self._one_job(
                    job_file, retry_of, final=final, group=group, before_close=before_close
                )
                chain.append(result)
                if transient is None:
                    self._finish_chain(chain, digests)
                    _raise_for_failed(chain)
                    return chain
                delay = self._retry_delay(len(chain))
                log.info("job %s: resending %d rows in %.1fs", result.job_id, transient.rows, delay)
                time.sleep(delay)
                job_file, retry_of = transient, result.job_id
        except BaseException:
            self._failed.set()
            raise
        finally:
            job_file.file.close()
            self._slots.release()

    def _finish_chain(self, chain: list[JobResult], digests: array[int]) -> None:
        group = chain[0].job_id
        rows = self.results.group_rows.get(group, Counter())
        record = ChainRecord(
            jobs=tuple(chain),
            succeeded=sum(job.succeeded for job in chain),
            failed=rows["failed"],
            unprocessed=rows["unprocessed"],
            errors_by_code=dict(self.results.group_errors.get(group, Counter())),
            files=self.results.close_group(group),
        )
        # Record first, then move: a crash in between leaves files a later attempt finds in the ledger.
        if self.ledger is not None:
            self.ledger.record(record, digests)
        self.results.move(dict(record.files))
        with self._lock:
            self._chains.append(record)

    def _collect_unfinished(self) -> None:
        """After a failure, keep what Salesforce did with the jobs this attempt handed over but never saw
        through, so their rows are in the results even if Spark does not retry the task."""
        if self.ledger is None:
            return
        with contextlib.suppress(Exception):  # the original failure is what must propagate
            _chains, _sent, pending = self.ledger.load()
            for chain in pending:
                with contextlib.suppress(Exception):
                    self._recover(chain, Counter())

    def _recover(self, pending: PendingChain, already_sent: Counter[int]) -> list[JobResult]:
        """Finish a chain an earlier attempt handed to Salesforce but never saw through: Salesforce may have
        processed its rows, so collect what it did instead of sending them again."""
        group = pending.job_ids[0]
        chain: list[JobResult] = []
        for index, job_id in enumerate(pending.job_ids):
            info = self.jobs.info(job_id)
            if info.state == "Open":  # never closed, so never processed
                info = self.jobs.abort(job_id)
            if index == 0 and info.state == "Aborted" and info.processed == 0:
                # Nothing of the chain reached the org's records: send its rows afresh.
                if self.ledger is not None:
                    self.ledger.discard(group)
                return []
            if not info.done:
                try:
                    info = self.jobs.wait(job_id, self.poll)
                except JobFailedError:
                    info = self.jobs.info(job_id)
            last = index == len(pending.job_ids) - 1
            if info.failed:
                self._settle("failed", "failedResults", job_id, None, group, drop_transient=not last)
            unprocessed = (
                self._settle("unprocessed", "unprocessedrecords", job_id, None, group)
                if info.state in ("Aborted", "Failed")
                else 0
            )
            if self.limits.success_results and info.processed > info.failed:
                self._fetch("successful", "successfulResults", job_id, group)
            records = pending.rows if index == 0 else info.processed + unprocessed
            job = JobResult(
                job_id, info.state, records, info.processed, info.failed, unprocessed, info.retries,
                error_message=info.error_message if info.state == "Failed" else "",
            )  # fmt: skip
            chain.append(dataclasses.replace(job, retry_of=chain[-1].job_id) if chain else job)
        # Each later job of the chain carried the transient failures of the one before.
        chain = [
            dataclasses.replace(job, resent=chain[index + 1].records) if index + 1 < len(chain) else job
            for index, job in enumerate(chain)
        ]
        self._finish_chain(chain, pending.digests)
        already_sent.update(pending.digests)
        return chain

    def _create_and_upload(self, job_file: _JobFile) -> tuple[JobInfo, str]:
        """A new job holding the file's rows. A failed upload is never repeated into the same job (the org may
        have stored it although the answer was lost): that job is aborted and a new one takes the rows."""
        attempt = 0
        while True:
            attempt += 1
            created = self.jobs.create(self.spec)
            with self._lock:
                self._open_jobs.add(created.id)
            job_file.file.seek(0)
            try:
                # Bulk API 1.0 names the batch only once its data arrives; 2.0 keeps the job's id.
                return created, self.jobs.upload(created.id, job_file.file, retry=False) or created.id
            except Exception as error:
                if not is_transient(error) or attempt > self.jobs.transport.retry.max_attempts:
                    raise
                log.warning("upload to job %s failed (%s); moving its rows to a new job", created.id, error)
                with contextlib.suppress(Exception):
                    self.jobs.abandon(created.id)
                with self._lock:
                    self._open_jobs.discard(created.id)
                time.sleep(self.jobs.transport.retry.delay(attempt))

    def _one_job(
        self,
        job_file: _JobFile,
        retry_of: str | None,
        *,
        final: bool,
        group: str | None,
        before_close: Callable[[str], None] | None = None,
    ) -> tuple[JobResult, _JobFile | None]:
        if self._failed.is_set():
            raise RuntimeError("another job of this partition failed")
        tick = time.perf_counter()
        created, job_id = self._create_and_upload(job_file)
        if before_close is not None:
            before_close(job_id)
        self.jobs.close(job_id)
        job_file.file.close()
        uploaded = time.perf_counter()
        try:
            info = self.jobs.wait(job_id, self.poll)
        except JobFailedError:
            # Salesforce may have written some of its rows: collect what it did, then fail (see _run_job).
            info = self.jobs.info(job_id)
            final = True
        finally:
            with self._lock:  # finished, or Failed and so over: nothing to abort
                self._open_jobs.discard(created.id)
        processed = time.perf_counter()
        self._watch_api_usage()
        unprocessed = max(0, job_file.rows - info.processed)
        group = group or job_id
        resend = None if final else _JobFile(self.encoder.header)
        failed_rows = self._settle("failed", "failedResults", job_id, resend, group) if info.failed else 0
        if failed_rows != info.failed:
            log.warning("job %s reports %d failed rows, its results hold %d", job_id, info.failed, failed_rows)
        if unprocessed:
            self._settle("unprocessed", "unprocessedrecords", job_id, resend, group)
        if self.limits.success_results and info.processed > info.failed:
            self._fetch("successful", "successfulResults", job_id, group)
        resent = resend.rows if resend else 0
        log.info(
            "job %s %s: %d rows, %d failed, %d unprocessed, %d to resend",
            job_id,
            info.state,
            job_file.rows,
            info.failed,
            unprocessed,
            resent,
        )
        result = JobResult(
            job_id=job_id,
            state=info.state,
            records=job_file.rows,
            processed=info.processed,
            failed=info.failed,
            unprocessed=unprocessed,
            retries=info.retries,
            resent=resent,
            retry_of=retry_of,
            error_message=info.error_message if info.state == "Failed" else "",
            upload_seconds=uploaded - tick,
            processing_seconds=processed - uploaded,
            results_seconds=time.perf_counter() - processed,
        )
        if resend is not None and not resend.rows:
            resend.file.close()
            resend = None
        return result, resend

    def _settle(
        self,
        kind: str,
        resource: str,
        job_id: str,
        resend: _JobFile | None,
        group: str,
        *,
        drop_transient: bool = False,
    ) -> int:
        """Store a job's failed or unprocessed rows, except transient failures, which go into ``resend`` (or are
        dropped: a later job of the chain resent them)."""
        count = 0
        with self._download(resource, job_id) as spool:
            for table in self.results.read_csv(kind, spool, job_id=job_id):
                count += table.num_rows
                if resend is None:
                    if drop_transient and kind == "failed":
                        table = table.filter(pc.invert(_transient_mask(table)))
                    self.results.add(kind, table, group=group)
                    continue
                transient = _transient_mask(table) if kind == "failed" else None
                keep = table if transient is None else table.filter(transient)
                if keep.num_rows:
                    resend.append(text_rows(keep.select(self.encoder.plan.headers)), keep.num_rows)
                if transient is not None:
                    self.results.add(kind, table.filter(pc.invert(transient)), group=group)
        return count

    def _watch_api_usage(self) -> None:
        usage = api_usage(self.jobs.transport.limit_info)
        if usage and usage[1] and usage[0] / usage[1] >= API_USAGE_WARNING and not self._usage_warned:
            self._usage_warned = True
            log.warning("the org has used %d of its %d daily API requests", *usage)

    def _retry_delay(self, attempt: int) -> float:
        # Lock contention clears as other transactions finish: back off, with jitter so retries spread out.
        ceiling = min(30.0, self.limits.retry_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    @contextmanager
    def _download(self, resource: str, job_id: str) -> Iterator[IO[bytes]]:
        with tempfile.TemporaryFile(prefix="sf-assets-results-") as spool:

            def sink(chunk: bytes) -> None:
                if not chunk:  # a restarted download: start over
                    spool.seek(0)
                    spool.truncate()
                spool.write(chunk)

            self.jobs.results(job_id, resource, sink)
            yield spool

    def _fetch(self, kind: str, resource: str, job_id: str, group: str) -> int:
        with self._download(resource, job_id) as spool:
            return self.results.add_csv(kind, spool, job_id=job_id, group=group)

    def _raise_if_failed(self, futures: list[Future[list[JobResult]]]) -> None:
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def _abort_open_jobs(self) -> None:
        with self._lock:
            open_jobs = sorted(self._open_jobs)
            self._open_jobs.clear()
        for job_id in open_jobs:
            try:
                self.jobs.abort(job_id)
                log.warning("aborted Salesforce job %s after a failure", job_id)
            except Exception as error:  # the original failure matters more
                log.warning("could not abort Salesforce job %s: %s", job_id, error)


API_USAGE_WARNING = 0.9
# Record errors that say nothing about the row itself: sending it again later may well succeed.
TRANSIENT_ERRORS = ("UNABLE_TO_LOCK_ROW", "API_TEMPORARILY_UNAVAILABLE", "SERVER_UNAVAILABLE")


def _transient_mask(table: pa.Table) -> pa.Array:
    errors = table.column("sf__Error").combine_chunks()
    mask = pc.starts_with(errors, TRANSIENT_ERRORS[0])
    for code in TRANSIENT_ERRORS[1:]:
        mask = pc.or_(mask, pc.starts_with(errors, code))
    return pc.fill_null(mask, FALSE)


def _without_sent(
    encoded: EncodedRows, digests: array[int], already_sent: Counter[int]
) -> tuple[EncodedRows, array[int]]:
    """Drop the rows an earlier attempt of this task already sent (as many times as it sent each line)."""
    keep = []
    for digest in digests:
        sent = already_sent[digest] > 0
        if sent:
            already_sent[digest] -= 1
        keep.append(not sent)
    if all(keep):
        return encoded, digests
    lines = pc.filter(encoded.line_array(), flags(keep))
    kept = array("Q", (digest for digest, flag in zip(digests, keep, strict=True) if flag))
    return EncodedRows(lines_bytes(lines), len(kept), encoded.rejected, lines), kept


def _raise_for_failed(jobs: Iterable[JobResult]) -> None:
    for job in jobs:
        if job.state == "Failed":
            raise JobFailedError(job.job_id, job.error_message or "no errorMessage given")
