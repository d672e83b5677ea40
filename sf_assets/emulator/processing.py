"""Asynchronous processing of closed ingest jobs, modelled on how Salesforce runs them.

After UploadComplete a job waits ``queue_latency`` seconds, is split into internal batches of
10,000 records, and its batches join one org-wide queue that ``parallel_batches`` workers drain,
200-record transaction by transaction. Counters and processing times fill in as batches finish.
With the lock model on, each transaction locks the parents its rows name (see ``locks``), and a
batch with too many lock failures goes back in the queue; injected faults (see ``faults``) can
re-queue a batch or fail its job as the batch starts.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import batch_text, discard, dml, ids, locks
from .faults import JobFaults
from .ingest import IngestService
from .jobs import IngestJob, Span, UploadError, quote_all
from .limits import INGEST_RECORDS, Limits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessingModel:
    """How fast the org works through ingest jobs. The defaults are as fast as the machine allows.

    Attributes:
        records_per_second: Per batch worker; 0 means no simulated cost.
        parallel_batches: How many internal batches the org processes at once.
        queue_latency: Seconds from UploadComplete to InProgress.
        batch_overhead: Simulated fixed seconds per internal batch.
        batch_size: Records per internal batch (10,000 in Salesforce).
        transaction_size: Records per transaction (200 in Salesforce).
        store_records: False for discard mode: ingest jobs read and count their rows and report each
            as a success with an Id, but never validate or store them (to measure a client alone). The
            successful-results lines of inserts and upserts are written only when read (see ``discard``).
        lock_model: Each transaction locks the parents its rows name (see ``locks``); off by default
            so that timings stay deterministic.
        lock_wait: Seconds a transaction waits for a parent's lock before failing the rows needing it
            (Salesforce waits a few seconds; small here, like the simulated transactions).
        lock_retries: How often an internal batch with more than 100 lock failures is re-queued
            before its remaining lock failures are final (Salesforce: 10).
    """

    records_per_second: float = 0.0
    parallel_batches: int = 2
    queue_latency: float = 0.0
    batch_overhead: float = 0.0
    batch_size: int = 10_000
    transaction_size: int = 200
    store_records: bool = True
    lock_model: bool = False
    lock_wait: float = 0.1
    lock_retries: int = 10


_UNREADABLE = (dml.JobError, UploadError, csv.Error, UnicodeDecodeError)
_FLAGS = {True: "true", False: "false"}


def _result_lines(
    batch_plan: dml.Plan, rows: Sequence[Sequence[str]], results: dml.Results, lines: list[str] | None, delimiter: str
) -> str:
    """The successful-results lines of a chunk, each starting with a newline.

    ``lines`` are the chunk's rows as plain batch-file lines (no quotes, so no cell needs escaping),
    or None when the batch has quotes.
    """
    if lines is not None and not batch_plan.number_columns and results.failed == 0:
        # Every row succeeded and each line is its cells joined by the delimiter: the quoted echo is
        # the line with each delimiter turned into '","', done on the whole chunk at once.
        echoed = batch_text.requoted(lines, delimiter)
        flags = list(map(_FLAGS.__getitem__, results.created))
        return "".join(map('\n"{}","{}","{}"'.format, results.record_ids, flags, echoed))
    ok = [
        (record_id, "true" if created else "false", cells)
        for cells, record_id, created, error in zip(
            rows, results.record_ids, results.created, results.errors, strict=True
        )
        if error is None
    ]
    if lines is None or batch_plan.number_columns:
        return quote_all([record_id, created, *dml.echo(batch_plan, cells)] for record_id, created, cells in ok)
    glue = '","'
    return "".join([f'\n"{record_id}","{created}","{glue.join(cells)}"' for record_id, created, cells in ok])


def _kept_rows(text: str, delimiter: str) -> Sequence[list[str]]:
    """The rows of a batch discard mode can keep (see ``Processor._keepable``), read only on the rare
    paths that list them."""
    lines = batch_text.plain_lines(text)
    if lines is not None:
        return batch_text.SplitLines(lines, delimiter)
    records = batch_text.records(text)
    assert records is not None  # a kept batch's quotes pair up
    return batch_text.RawRecords(records, delimiter)


class Processor:
    """Moves closed jobs through InProgress to a terminal state on background threads.

    Args:
        service: The ingest service whose jobs are processed.
        engine: Applies rows to the store.
        limits: Daily allocations consumed per batch and per record.
        model: Processing speed knobs; replaceable at run time through ``model``.
    """

    def __init__(self, service: IngestService, engine: dml.Engine, limits: Limits, model: ProcessingModel) -> None:
        self.service = service
        self.engine = engine
        self.limits = limits
        self.model = model
        self._queue: queue.Queue[tuple[str, str, int] | None] = queue.Queue()
        self._plans: dict[str, dml.Plan] = {}
        self._duplicates: dict[str, frozenset[object]] = {}
        self.job_faults = JobFaults()
        self.row_locks = locks.RowLocks()
        self._lock_requeues: Counter[tuple[str, int]] = Counter()
        self._failing: dict[str, str] = {}  # job id -> errorMessage, once its batches have ended
        self._workers: list[threading.Thread] = []
        self._retiring = 0  # workers told to end that have not yet taken their sentinel
        self._resize_lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        service.on_upload_complete.append(self.submit)

    def start(self) -> None:
        self._resize(max(1, self.model.parallel_batches))
        for job in list(self.service.jobs.values()):
            if job.state == "UploadComplete":
                self.submit(job)
            elif job.state == "InProgress":
                self._resume(job)

    def apply_model(self, model: ProcessingModel) -> None:
        """Switch to ``model`` at run time, with as many batch workers as it asks for."""
        self.model = model
        if self._workers:
            self._resize(max(1, model.parallel_batches))

    def _resize(self, wanted: int) -> None:
        with self._resize_lock:
            self._workers = [worker for worker in self._workers if worker.is_alive()]
            working = len(self._workers) - self._retiring
            for number in range(working, wanted):
                worker = threading.Thread(target=self._work, name=f"org-batch-worker-{number}", daemon=True)
                worker.start()
                self._workers.append(worker)
            # A sentinel ends one worker once the batches queued before it are taken.
            for _ in range(wanted, working):
                self._queue.put(None)
                self._retiring += 1

    def stop(self) -> None:
        self._stopping.set()
        for timer in list(self._timers):
            timer.cancel()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=5)
        self._workers.clear()

    def submit(self, job: IngestJob) -> None:
        job.upload_complete_at = time.time()
        if self.model.queue_latency > 0:
            timer = threading.Timer(self.model.queue_latency, self._queue.put, args=(("split", job.id, 0),))
            timer.daemon = True
            self._timers.add(timer)
            timer.start()
        else:
            self._queue.put(("split", job.id, 0))

    def _work(self) -> None:
        while not self._stopping.is_set():
            task = self._queue.get()
            if task is None:
                if not self._stopping.is_set():
                    with self._resize_lock:
                        self._retiring -= 1
                return
            kind, job_id, number = task
            job = self.service.jobs.get(job_id)
            if job is None:
                continue
            try:
                if kind == "split":
                    self._split(job)
                else:
                    self._batch(job, number)
            except Exception as error:  # a bug here must fail the job, never kill the worker
                log.exception("processing job %s failed", job_id)
                self._fail(job, f"InternalServerError : {type(error).__name__}")

    # -- splitting ---------------------------------------------------------------------------------

    def _split(self, job: IngestJob) -> None:
        with self.service.lock:
            # Checked under the lock: an abort between the check and the change must win.
            if job.state != "UploadComplete":
                return
            job.state = "InProgress"
            self.service.save(job)
        files = self.service.files(job)
        files.root.mkdir(parents=True, exist_ok=True)
        obj = self.service.schema.get(job.object)
        assert obj is not None
        try:
            header = files.header(job.delimiter)
            if header is None:
                files.start_results([])
                self._finish(job)
                return
            job.header = header
            files.start_results(header)
            batch_plan = dml.plan(self.service.schema, obj, header, job.operation, job.external_id_field_name)
        except _UNREADABLE as error:
            self._fail_unsplit(job, error)
            return
        self._plans[job.id] = batch_plan
        seen: set[object] = set()
        duplicates: set[object] = set()
        counts: list[int] = []
        spans: list[str | None] = []
        try:
            # Batches that no cell is read from keep each record's raw text and skip the keys.
            raw = self._discarding(batch_plan)
            key_index = None if raw else batch_plan.key_index
            for number, piece in enumerate(files.split(job.delimiter, self.model.batch_size, key_index, raw=raw)):
                if isinstance(piece.content, Span):
                    spans.append(piece.content.to_text())
                else:
                    files.batch_path(number).write_bytes(piece.content)
                    spans.append(None)
                counts.append(piece.count)
                if batch_plan.key is not None and key_index is not None:
                    keys = batch_plan.upsert_keys(piece.keys)
                    distinct = set(keys)
                    if len(distinct) < len(keys):
                        duplicates.update(key for key, times in Counter(keys).items() if times > 1)
                    duplicates.update(distinct.intersection(seen))
                    seen.update(distinct)
        except _UNREADABLE as error:
            self._fail_unsplit(job, error)
            return
        self._duplicates[job.id] = frozenset(duplicates)
        with self.service.lock:
            job.batches_total = len(counts)
            job.batch_counts = counts
            job.batch_spans = spans
            self.service.save(job)
        if not counts:
            self._finish(job)
        for number in range(len(counts)):
            self._queue.put(("batch", job.id, number))

    def _discarding(self, batch_plan: dml.Plan) -> bool:
        """Discard mode reads no cell of an insert or upsert: every row succeeds with a new Id."""
        return not self.model.store_records and batch_plan.operation in ("insert", "upsert")

    def _fail_unsplit(self, job: IngestJob, error: Exception) -> None:
        known = isinstance(error, dml.JobError | UploadError)
        message = str(error) if known else f"InvalidBatch : Failed to parse CSV: {error}"
        files = self.service.files(job)
        try:
            lines = list(files.rows(job.delimiter))
        except _UNREADABLE:
            lines = []
        if job.header is None:
            files.start_results([])
        files.append("unprocessed", lines[1:])
        self._fail(job, message)

    # -- batches -----------------------------------------------------------------------------------

    def _resume(self, job: IngestJob) -> None:
        """After a restart: batches that finished stay finished; the rest run again."""
        obj = self.service.schema.get(job.object)
        if obj is None or job.header is None:
            self._fail(job, "InternalServerError : The org restarted while this job was being split")
            return
        try:
            self._plans[job.id] = dml.plan(
                self.service.schema, obj, job.header, job.operation, job.external_id_field_name
            )
        except dml.JobError as error:
            self._fail(job, str(error))
            return
        for number in range(job.batches_total):
            if number not in job.batches_done:
                self._queue.put(("batch", job.id, number))

    def _batch(self, job: IngestJob, number: int) -> None:
        files = self.service.files(job)
        span = job.batch_span(number)
        if span is None and not files.batch_path(number).exists() and files.accepted_path(number).exists():
            # Kept just before the org stopped, and not yet counted.
            self._mark_done(job, number, job.batch_counts[number], 0, 0.0)
            return
        # Bytes, decoded whole: a CR or CRLF inside a quoted cell is data, not a line end to translate, and a
        # batch discard mode keeps is never decoded.
        data = files.batch_data(number, span)
        planned = self._plans.get(job.id)
        if planned is not None and self._keepable(job, number, data, planned):
            self._keep(job, number, data, planned)
            return
        text = data.decode("utf-8")
        lines = batch_text.plain_lines(text)
        rows: Sequence[list[str]]
        if lines is None:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter, strict=True))
        else:
            rows = batch_text.SplitLines(lines, job.delimiter)
        if not self._admit(job, number, len(rows), lambda: rows):
            return
        batch_plan = self._plans[job.id]
        columns = None if lines is None else batch_text.columns(lines, job.delimiter, len(batch_plan.header))
        duplicates = self._duplicates.get(job.id, frozenset())
        model = self.model
        started = time.perf_counter()
        if model.batch_overhead:
            time.sleep(model.batch_overhead)
        size = max(1, model.transaction_size)
        locking = model.lock_model and model.store_records
        # Locks are taken per transaction, so a locking batch cannot be applied in one engine call.
        step = len(rows) if batch_plan.batchable and not locking else size
        successful: list[str] = []
        failed: list[list[str]] = []
        lock_failures = 0
        for start in range(0, len(rows), max(1, step)):
            chunk = rows[start : start + step]
            began = time.perf_counter()
            chunk_columns = None if columns is None else [column[start : start + step] for column in columns]
            with self.parent_locks(batch_plan, chunk, locking) as blocked:
                if blocked:
                    results = self.apply_unblocked(batch_plan, chunk, duplicates, size, blocked)
                elif model.store_records:
                    results = self.engine.apply(batch_plan, chunk, duplicates, size, chunk_columns)
                else:
                    results = discard.accept(batch_plan, chunk, self.engine.ids, chunk_columns)
                chunk_lines = None if lines is None else lines[start : start + step]
                successful.append(_result_lines(batch_plan, chunk, results, chunk_lines, job.delimiter))
                if results.failed:
                    for index, (record_id, error) in enumerate(zip(results.record_ids, results.errors, strict=True)):
                        if error is not None:
                            failed.append([record_id, error, *dml.echo(batch_plan, chunk[index])])
                if model.records_per_second > 0:
                    # Inside the locks: a transaction holds its parents for as long as it runs.
                    remaining = len(chunk) / model.records_per_second - (time.perf_counter() - began)
                    if remaining > 0:
                        time.sleep(remaining)
            lock_failures += len(blocked)
            rest = start + step
            if (
                lock_failures > locks.LOCK_FAILURES_BEFORE_REQUEUE
                and rest < len(rows)
                and self._lock_requeues[job.id, number] < model.lock_retries
            ):
                # Salesforce puts the rest of the batch back in the queue; failed rows stay failed.
                self._lock_requeues[job.id, number] += 1
                files.append_text("successful", "".join(successful))
                files.append("failed", failed)
                self._write_rest(job, number, rows, lines, rest)
                self._mark_done(job, number, rest, len(failed), time.perf_counter() - started, done=False)
                self._retry(job, number)
                return
        elapsed = time.perf_counter() - started
        files.append_text("successful", "".join(successful))
        files.append("failed", failed)
        files.batch_path(number).unlink(missing_ok=True)
        self._mark_done(job, number, len(rows), len(failed), elapsed)

    def _admit(self, job: IngestJob, number: int, count: int, rows: Callable[[], Sequence[Sequence[str]]]) -> bool:
        """Whether a batch of ``count`` records may run now. If not, it goes back in the queue (an
        injected requeue), or ends with its rows unprocessed: its job is aborted or failing, an injected
        fault fails it, or the daily limits are spent."""
        files = self.service.files(job)
        if job.state != "InProgress" or job.id in self._failing:
            files.append("unprocessed", rows())
            self._mark_done(job, number, 0, 0, 0.0)
            return False
        injected = self.job_faults.take(job.id, len(job.batches_done))
        if injected is not None and injected[0] == "requeue":
            self._retry(job, number)
            return False
        if injected is not None:
            message = injected[1]
        elif not self.limits.consume("DailyBulkApiBatches") or not self.limits.consume(INGEST_RECORDS, count):
            message = "ExceededQuota : The daily limit of Bulk API batches or records has been exceeded"
        else:
            return True
        files.append("unprocessed", rows())
        self._fail_later(job, message)
        self._mark_done(job, number, 0, 0, 0.0)
        return False

    def _keepable(self, job: IngestJob, number: int, data: bytes, batch_plan: dml.Plan) -> bool:
        """Whether discard mode can accept a batch unread (see :meth:`_keep`): an insert or upsert whose
        record count is known and whose lines ``discard.result_lines`` can echo later as processing
        would now."""
        if not self._discarding(batch_plan) or number >= len(job.batch_counts):
            return False
        if b"\r" in data or b"\0" in data:
            return False  # written by the csv module, which must read it back
        # Without them, the splitter cut the file into whole records (see JobFiles.split), whose quotes
        # pair up: records with quotes are echoed as sent; quote-free lines too, each cell quoted, unless
        # number fields need re-serialising (dml.echo).
        return b'"' in data or not batch_plan.number_columns

    def _keep(self, job: IngestJob, number: int, data: bytes, batch_plan: dml.Plan) -> None:
        """Counts a discard-mode batch as processed without reading its records: every row succeeds with
        an Id of a block reserved now, and the batch file is kept until a client reads the successful
        results, which then gain its lines (see ``JobFiles.keep``). Benchmarks rarely read them."""
        count = job.batch_counts[number]
        if not self._admit(job, number, count, lambda: _kept_rows(data.decode("utf-8"), job.delimiter)):
            return
        started = time.perf_counter()
        model = self.model
        if model.batch_overhead:
            time.sleep(model.batch_overhead)
        if model.records_per_second > 0:
            # As long as the batch's transactions would have taken; nothing else runs meanwhile.
            time.sleep(count / model.records_per_second)
        first = self.engine.ids.reserve(count)
        span = job.batch_span(number)
        segment = discard.Segment(
            number, batch_plan.obj.key_prefix, first, count, job.delimiter, None if span is None else span.to_text()
        )
        self.service.files(job).keep(segment)
        self._mark_done(job, number, count, 0, time.perf_counter() - started)

    @contextlib.contextmanager
    def parent_locks(
        self, batch_plan: dml.Plan, chunk: Sequence[Sequence[str]], locking: bool
    ) -> Iterator[dict[int, str]]:
        """Holds the locks of the transaction's parents while it runs; yields the rows whose parent
        stayed locked by another transaction past ``lock_wait``, with their errors."""
        if not locking:
            yield {}
            return
        parents = self.engine.parent_ids(batch_plan, chunk, self.service.schema)
        wanted = {parent for row in parents for parent in row}
        owner = object()
        missed = self.row_locks.acquire(wanted, owner, self.model.lock_wait)
        try:
            blocked = {}
            for index, row in enumerate(parents):
                stuck = next((parent for parent in row if parent in missed), None)
                if stuck is not None:
                    blocked[index] = locks.lock_error(stuck)
            yield blocked
        finally:
            self.row_locks.release(wanted - missed, owner)

    def apply_unblocked(
        self,
        batch_plan: dml.Plan,
        chunk: Sequence[Sequence[str]],
        duplicates: frozenset[object],
        size: int,
        blocked: dict[int, str],
    ) -> dml.Results:
        """Applies the rows that got their locks; the others keep their lock errors."""
        keep = [index for index in range(len(chunk)) if index not in blocked]
        applied = self.engine.apply(batch_plan, [chunk[index] for index in keep], duplicates, size)
        record_ids = [""] * len(chunk)
        created = [False] * len(chunk)
        errors: list[str | None] = [blocked.get(index) for index in range(len(chunk))]
        if batch_plan.id_index is not None:
            for index in blocked:
                cells = chunk[index]
                if batch_plan.id_index < len(cells):
                    record_ids[index] = ids.normalize(cells[batch_plan.id_index]) or ""
        for position, index in enumerate(keep):
            record_ids[index] = applied.record_ids[position]
            created[index] = applied.created[position]
            errors[index] = applied.errors[position]
        return dml.Results(record_ids, created, errors)

    def _write_rest(
        self, job: IngestJob, number: int, rows: Sequence[Sequence[str]], lines: list[str] | None, start: int
    ) -> None:
        """Rewrites a batch's file with its rows from ``start``, for the batch's next attempt."""
        if lines is not None:
            text = "".join(line + "\n" for line in lines[start:])
        else:
            buffer = io.StringIO()
            # As the splitter writes batch files: "\r\n" so that cells holding line ends are quoted.
            csv.writer(buffer, delimiter=job.delimiter, lineterminator="\r\n").writerows(rows[start:])
            text = buffer.getvalue()
        self.service.files(job).batch_path(number).write_text(text, encoding="utf-8")
        with self.service.lock:
            if number < len(job.batch_counts):
                job.batch_counts[number] = len(rows) - start
            if number < len(job.batch_spans):
                job.batch_spans[number] = None

    def _retry(self, job: IngestJob, number: int) -> None:
        """Puts an internal batch back in the queue, counted in the job's ``retries``."""
        with self.service.lock:
            job.retries += 1
            self.service.save(job)
        self._queue.put(("batch", job.id, number))

    def _mark_done(
        self, job: IngestJob, number: int, processed: int, failed: int, seconds: float, *, done: bool = True
    ) -> None:
        """Adds a batch's counts to its job; ``done`` False when part of the batch is still to run."""
        with self.service.lock:
            if done:
                job.batches_done.append(number)
            job.number_records_processed += processed
            job.number_records_failed += failed
            job.api_active_processing_time += int(seconds * 1000)
            job.total_processing_time = int((time.time() - job.upload_complete_at) * 1000)
            finished = len(job.batches_done) >= job.batches_total
            self.service.save(job)
        if finished and job.id in self._failing:
            self._fail(job, self._failing.pop(job.id))
        elif finished and job.state == "InProgress":
            self._finish(job)

    def _fail_later(self, job: IngestJob, message: str) -> None:
        """Fails the job once every batch has ended: those running finish, those queued add their
        rows to unprocessedrecords. A Failed job's results are then final when a client reads them."""
        with self.service.lock:
            self._failing.setdefault(job.id, message)

    def _finish(self, job: IngestJob) -> None:
        with self.service.lock:
            if job.state == "InProgress":
                job.state = "JobComplete"
            job.total_processing_time = int((time.time() - job.upload_complete_at) * 1000)
            self.service.save(job)
        self._release(job)

    def _fail(self, job: IngestJob, message: str) -> None:
        with self.service.lock:
            if job.state in ("JobComplete", "Failed", "Aborted"):
                return
            job.state = "Failed"
            job.error_message = message
            job.total_processing_time = (
                int((time.time() - job.upload_complete_at) * 1000) if job.upload_complete_at else 0
            )
            self.service.save(job)

    def _release(self, job: IngestJob) -> None:
        self._plans.pop(job.id, None)
        self._duplicates.pop(job.id, None)
        # list() copies the keys at once: other workers may be adding theirs.
        for key in [key for key in list(self._lock_requeues) if key[0] == job.id]:
            del self._lock_requeues[key]
