"""The straightforward writer the blog describes, rebuilt for comparison (not part of sf_assets).

Format ``baseline-salesforce``. Each task logs in with SOAP (username, password, security token), collects its
whole partition into a list of dicts and hands it to simple-salesforce's ``sf.bulk2.<sobject>.upsert(records=...,
external_id_field=...)``, which converts it to CSV, splits it into jobs and runs them one after another, polling
every ``wait`` seconds. ``batchSize`` and ``wait`` are passed on only when given, so by default simple-salesforce's
own defaults apply (one job per partition up to ~99 MB; ``wait=5``). The blog's writer forwards ``batchSize=10000``.

What it adds to the blog's code is measurement only: seconds per phase and the task's own peak RSS
(``task_memory``), reported in a ``summary.json`` shaped like ``salesforce-batch``'s (``partitions[].seconds``,
``partitions[].peak_rss_mb``).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceWriter, WriterCommitMessage
from pyspark.sql.types import Row, StructType


@dataclass(frozen=True)
class BaselineResult(WriterCommitMessage):
    partition_id: int
    records_in: int
    succeeded: int
    failed: int
    job_ids: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


class BaselineDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "baseline-salesforce"

    def writer(self, schema: StructType, overwrite: bool) -> BaselineWriter:
        return BaselineWriter(dict(self.options))


class BaselineWriter(DataSourceWriter):
    def __init__(self, options: dict[str, str]) -> None:
        self.options = options

    def write(self, iterator: Iterator[Row]) -> BaselineResult:
        from task_memory import peak_rss_mb, reset_peak_rss

        # First, as in salesforce-batch: the peak is then this task's, also in a reused worker.
        reset_peak_rss()
        # Undo the heap freeze ours' earlier tasks left in this shared worker: alone, this writer would pay
        # for the full gc.collect() Spark runs after each task (see writer_bench.py).
        gc.unfreeze()

        # Imported here, as the blog does, so that only the executors need simple-salesforce.
        import requests
        from pyspark import TaskContext
        from simple_salesforce import Salesforce, SalesforceLogin

        options = self.options
        context = TaskContext.get()
        started = time.perf_counter()
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify (G14)
        session.verify = options["ca_file"]
        # The blog's Salesforce(username=..., password=..., security_token=...) makes this SOAP call; scratch_url
        # is simple-salesforce's only way to send it to a host other than login.salesforce.com.
        session_id, _ = SalesforceLogin(
            username=options["username"],
            password=options["password"],
            security_token=options["security_token"],
            session=session,
            scratch_url=options["instance_url"],
            sf_version="59.0",
        )
        sf = Salesforce(instance_url=options["instance_url"], session_id=session_id, session=session, version="59.0")
        logged_in = time.perf_counter()
        records = [row.asDict() for row in iterator]
        collected = time.perf_counter()
        extra: dict[str, Any] = {}
        if "batchsize" in options:
            extra["batch_size"] = int(options["batchsize"])
        if "wait" in options:
            extra["wait"] = float(options["wait"])
        jobs = getattr(sf.bulk2, options["sobject"]).upsert(
            records=records, external_id_field=options["upsertfield"], **extra
        )
        finished = time.perf_counter()
        failed = sum(int(job["numberRecordsFailed"]) for job in jobs)
        processed = sum(int(job["numberRecordsProcessed"]) for job in jobs)
        return BaselineResult(
            partition_id=context.partitionId() if context else 0,
            records_in=len(records),
            succeeded=processed - failed,
            failed=failed,
            job_ids=tuple(str(job["job_id"]) for job in jobs),
            seconds={
                "login": round(logged_in - started, 3),
                "collect": round(collected - logged_in, 3),
                "bulk2": round(finished - collected, 3),
                "wall": round(finished - started, 3),
            },
            peak_rss_mb=round(peak_rss_mb(), 1),
        )

    def commit(self, messages: Sequence[WriterCommitMessage | None]) -> None:
        write_summary(self.options, messages)


def write_summary(options: dict[str, str], messages: Sequence[WriterCommitMessage | None]) -> None:
    """Saves ``resultsPath/writeId/summary.json`` from dataclass commit messages (commit runs in its own worker)."""
    partitions = [asdict(message) for message in messages if message is not None]  # type: ignore[call-overload]
    directory = Path(options["resultspath"]) / options["writeid"]
    directory.mkdir(parents=True, exist_ok=True)
    summary = {
        "records_in": sum(p["records_in"] for p in partitions),
        "succeeded": sum(p["succeeded"] for p in partitions),
        "failed": sum(p["failed"] for p in partitions),
        "job_ids": [job for p in partitions for job in p["job_ids"]],
        "partitions": partitions,
    }
    (directory / "summary.json").write_text(json.dumps(summary, indent=1))
