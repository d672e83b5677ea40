"""Asynchronous processing of Bulk API 1.0 batches, on the org's processing model.

A batch is queued the moment it is added. Batches of a Parallel job join one queue that
``parallel_batches`` workers drain, so several run at once; a Serial job hands the queue one batch at
a time, in the order they were added, and the next only when the previous has finished. Each batch
is read, planned and applied exactly as a Bulk API 2.0 internal batch is (same plan, engine,
transactions of ``transaction_size``, simulated speed and discard mode), and its states go
Queued → InProgress → Completed or Failed; a job aborted first leaves it NotProcessed.

The fault rules' ``fail_job`` and ``requeue_batch`` reach 1.0 jobs through the same :class:`JobFaults` as
2.0 ones, consulted as each batch starts: a failed batch ends ``Failed`` with the rule's message and
processes none of its rows (its job goes on: 1.0 batches are independent); a requeued one goes back to
the queue, counted in the job's ``numberRetries``, and runs again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import nullcontext

from . import bulk1_content, discard, dml
from .bulk1_jobs import Bulk1Batch, Bulk1Job, Bulk1Service
from .faults import JobFaults
from .processing import ProcessingModel, Processor

log = logging.getLogger(__name__)


class Bulk1Processor:
    """Runs added batches on background threads.

    Args:
        service: The Bulk API 1.0 service whose batches are processed.
        engine: Applies rows to the store (the one Bulk API 2.0 uses).
        model: Returns the org's current processing model, which can change at run time.
        locker: The 2.0 processor, whose parent locks 1.0 transactions share.
        job_faults: Injected job faults; by default the 2.0 processor's, so one set of rules reaches both APIs.
    """

    def __init__(
        self,
        service: Bulk1Service,
        engine: dml.Engine,
        model: Callable[[], ProcessingModel],
        locker: Processor | None = None,
        job_faults: JobFaults | None = None,
    ) -> None:
        self.service = service
        self.engine = engine
        self.model = model
        # The 2.0 processor's parent locks: 1.0 and 2.0 transactions contend for the same parents.
        self.locker = locker
        if job_faults is None:
            job_faults = locker.job_faults if locker is not None else JobFaults()
        self.job_faults = job_faults
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._serial_waiting: dict[str, deque[str]] = {}  # Serial job id -> batch ids not yet handed out
        self._serial_busy: set[str] = set()  # Serial jobs with a batch handed out and not finished
        self._workers: list[threading.Thread] = []
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        service.on_batch_added.append(self.submit)

    def start(self) -> None:
        # After a restart: batches that had not finished run (again), in their jobs' order.
        for job in list(self.service.jobs.values()):
            for batch in job.batches:
                if batch.state in ("Queued", "InProgress"):
                    batch.state = "Queued"
                    self.submit(job, batch)
        for number in range(max(1, self.model().parallel_batches)):
            worker = threading.Thread(target=self._work, name=f"org-bulk1-worker-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        self._stopping.set()
        for timer in list(self._timers):
            timer.cancel()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=5)
        self._workers.clear()

    # -- scheduling ----------------------------------------------------------------------------------

    def submit(self, job: Bulk1Job, batch: Bulk1Batch) -> None:
        if job.concurrency_mode != "Serial":
            self._enqueue(job.id, batch.id)
            return
        with self._lock:
            self._serial_waiting.setdefault(job.id, deque()).append(batch.id)
            if job.id in self._serial_busy:
                return
            self._serial_busy.add(job.id)
        self._hand_out_next(job.id)

    def _hand_out_next(self, job_id: str) -> None:
        """Gives the queue a Serial job's next batch, or marks the job idle when it has none."""
        with self._lock:
            waiting = self._serial_waiting.get(job_id)
            if not waiting:
                self._serial_waiting.pop(job_id, None)
                self._serial_busy.discard(job_id)
                return
            batch_id = waiting.popleft()
        self._enqueue(job_id, batch_id)

    def _enqueue(self, job_id: str, batch_id: str) -> None:
        latency = self.model().queue_latency
        if latency <= 0:
            self._queue.put((job_id, batch_id))
            return
        timer = threading.Timer(latency, self._queue.put, args=((job_id, batch_id),))
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def _work(self) -> None:
        while not self._stopping.is_set():
            task = self._queue.get()
            if task is None:
                return
            job_id, batch_id = task
            job = self.service.jobs.get(job_id)
            batch = next((b for b in job.batches if b.id == batch_id), None) if job else None
            try:
                if job is not None and batch is not None:
                    self._run(job, batch)
            except Exception as error:  # a bug here must fail the batch, never kill the worker
                log.exception("processing batch %s of job %s failed", batch_id, job_id)
                if batch is not None:
                    self._finish(batch, "Failed", f"InternalServerError : {type(error).__name__}")
            finally:
                if job is not None and job.concurrency_mode == "Serial":
                    self._hand_out_next(job_id)

    # -- one batch -----------------------------------------------------------------------------------

    def _run(self, job: Bulk1Job, batch: Bulk1Batch) -> None:
        with self.service.lock:
            # Checked under the lock: an abort between the check and the change must win.
            if batch.state != "Queued":
                return
            injected = self.job_faults.take(job.id, sum(b.state in ("Completed", "Failed") for b in job.batches))
            if injected is not None and injected[0] == "requeue":
                self._requeue(job, batch)
                return
            batch.state = "InProgress"
            self.service.touch(batch)
        if injected is not None:
            self._finish(batch, "Failed", injected[1])
            return
        started = time.perf_counter()
        try:
            data = self.service.request_path(batch).read_bytes()
            header, rows = bulk1_content.read(data, job.content_type)
            obj = self.service.schema.get(job.object)
            assert obj is not None
            batch_plan = dml.plan(self.service.schema, obj, header, job.operation, job.external_id_field_name)
        except (bulk1_content.BatchError, dml.JobError) as error:
            self._finish(batch, "Failed", str(error))
            return
        except FileNotFoundError:  # the org was reset while the batch waited
            return
        record_ids, created, errors = self._apply(batch_plan, rows)
        text = (bulk1_content.json_results if job.content_type == "JSON" else bulk1_content.csv_results)(
            record_ids, created, errors
        )
        path = self.service.result_path(batch)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        with self.service.lock:
            batch.number_records_processed = len(rows)
            batch.number_records_failed = len(errors) - errors.count(None)
            batch.api_active_processing_time = int((time.perf_counter() - started) * 1000)
        self._finish(batch, "Completed")

    def _requeue(self, job: Bulk1Job, batch: Bulk1Batch) -> None:
        """Puts a batch that was about to start back in the queue; it stays Queued. Called under the service lock."""
        job.retries += 1
        self.service.touch(job)
        if job.concurrency_mode != "Serial":
            self._enqueue(job.id, batch.id)
            return
        with self._lock:
            # First in line again: the job's next batch must not start before it (see _work's finally).
            self._serial_waiting.setdefault(job.id, deque()).appendleft(batch.id)

    def _apply(self, batch_plan: dml.Plan, rows: list[list[str]]) -> tuple[list[str], list[bool], list[str | None]]:
        """Every row's outcome, applied in transactions of ``transaction_size`` as a 2.0 batch is."""
        model = self.model()
        if model.batch_overhead:
            time.sleep(model.batch_overhead)
        duplicates = _duplicate_keys(batch_plan, rows)
        size = max(1, model.transaction_size)
        locking = model.lock_model and model.store_records and self.locker is not None
        # Locks are taken per transaction, so a locking batch cannot be applied in one engine call.
        step = max(1, len(rows) if batch_plan.batchable and not locking else size)
        record_ids: list[str] = []
        created: list[bool] = []
        errors: list[str | None] = []
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            began = time.perf_counter()
            locks = self.locker.parent_locks(batch_plan, chunk, locking) if self.locker else nullcontext({})
            with locks as blocked:
                if blocked and self.locker is not None:
                    results = self.locker.apply_unblocked(batch_plan, chunk, duplicates, size, blocked)
                elif model.store_records:
                    results = self.engine.apply(batch_plan, chunk, duplicates, size)
                else:
                    results = discard.accept(batch_plan, chunk, self.engine.ids)
                if model.records_per_second > 0:
                    # Inside the locks: a transaction holds its parents for as long as it runs.
                    remaining = len(chunk) / model.records_per_second - (time.perf_counter() - began)
                    if remaining > 0:
                        time.sleep(remaining)
            record_ids += results.record_ids
            created += results.created
            errors += results.errors
        return record_ids, created, errors

    def _finish(self, batch: Bulk1Batch, state: str, message: str | None = None) -> None:
        with self.service.lock:
            batch.state = state
            batch.state_message = message
            batch.total_processing_time = int((time.time() - batch.added_at) * 1000)
            self.service.touch(batch)


def _duplicate_keys(batch_plan: dml.Plan, rows: list[list[str]]) -> frozenset[object]:
    """Upsert keys given more than once in the batch: every row giving one fails, as in 2.0. Batches
    are independent in 1.0, so a key repeated in another batch is simply matched again there."""
    index = batch_plan.key_index
    if batch_plan.key is None or index is None:
        return frozenset()
    keys = batch_plan.upsert_keys([row[index] for row in rows if index < len(row)])
    return frozenset(key for key, times in Counter(keys).items() if times > 1)
