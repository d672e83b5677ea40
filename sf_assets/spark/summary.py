"""A write's outcome, summed over partitions and kept as ``summary.json`` in its results directory.

``commit()`` and ``abort()`` run in a Python worker of their own on the driver host, so the summary file is
how the outcome reaches the code that started the write (see :func:`read_summary`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .commit_message import PartitionResult
from .filesystems import FileType, open_filesystem

SUMMARY_FILE = "summary.json"


class FailureThresholdExceededError(RuntimeError):
    """More rows failed than the write's ``failureThreshold`` allows; the summary and failed rows are saved."""


@dataclass(frozen=True)
class WriteSummary:
    """The outcome of one ``df.write.format("salesforce-batch")``.

    Attributes:
        write_id: The write's id (its directory under ``resultsPath``).
        sobject: The object written.
        operation: The Bulk API operation.
        status: ``succeeded``, ``threshold_exceeded`` or ``aborted`` (Spark gave up on the write).
        results_dir: Where ``summary.json`` and the result Parquet files are.
        records_in: Rows in the DataFrame (of the partitions that reported).
        succeeded: Rows Salesforce accepted.
        failed: Rows that failed (rejected by Salesforce or never sendable).
        unprocessed: Rows Salesforce left unprocessed.
        errors_by_code: Failed rows per error code.
        job_ids: Every Salesforce job of the write.
        partitions: Each partition's commit message as JSON.
        failure_threshold: The threshold in force, described, or ``None``.
        finished_at: When the summary was made (UTC, ISO 8601).
    """

    write_id: str
    sobject: str
    operation: str
    status: str
    results_dir: str
    records_in: int
    succeeded: int
    failed: int
    unprocessed: int
    errors_by_code: Mapping[str, int] = field(default_factory=dict)
    job_ids: tuple[str, ...] = ()
    partitions: tuple[Mapping[str, Any], ...] = ()
    failure_threshold: str | None = None
    finished_at: str = ""

    @classmethod
    def from_messages(
        cls,
        messages: Sequence[PartitionResult | None],
        *,
        write_id: str,
        sobject: str,
        operation: str,
        results_dir: str,
        status: str,
        failure_threshold: str | None = None,
    ) -> WriteSummary:
        reported = [message for message in messages if message is not None]
        errors: Counter[str] = Counter()
        for message in reported:
            errors.update(message.errors_by_code)
        return cls(
            write_id=write_id,
            sobject=sobject,
            operation=operation,
            status=status,
            results_dir=results_dir,
            records_in=sum(message.records_in for message in reported),
            succeeded=sum(message.succeeded for message in reported),
            failed=sum(message.failed for message in reported),
            unprocessed=sum(message.unprocessed for message in reported),
            errors_by_code=dict(errors.most_common()),
            job_ids=tuple(job.job_id for message in reported for job in message.jobs),
            partitions=tuple(message.to_json() for message in reported),
            failure_threshold=failure_threshold,
            finished_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )

    @property
    def not_written(self) -> int:
        """Rows that did not land: failed plus unprocessed."""
        return self.failed + self.unprocessed

    def to_json(self) -> dict[str, Any]:
        return {
            "write_id": self.write_id,
            "sobject": self.sobject,
            "operation": self.operation,
            "status": self.status,
            "results_dir": self.results_dir,
            "records_in": self.records_in,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unprocessed": self.unprocessed,
            "errors_by_code": dict(self.errors_by_code),
            "job_ids": list(self.job_ids),
            "failure_threshold": self.failure_threshold,
            "finished_at": self.finished_at,
            "partitions": [dict(partition) for partition in self.partitions],
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> WriteSummary:
        return cls(
            write_id=str(payload["write_id"]),
            sobject=str(payload["sobject"]),
            operation=str(payload["operation"]),
            status=str(payload["status"]),
            results_dir=str(payload["results_dir"]),
            records_in=int(payload["records_in"]),
            succeeded=int(payload["succeeded"]),
            failed=int(payload["failed"]),
            unprocessed=int(payload["unprocessed"]),
            errors_by_code=dict(payload.get("errors_by_code") or {}),
            job_ids=tuple(payload.get("job_ids") or ()),
            partitions=tuple(payload.get("partitions") or ()),
            failure_threshold=payload.get("failure_threshold"),
            finished_at=str(payload.get("finished_at") or ""),
        )

    def save(self) -> str:
        """Write ``summary.json`` (atomically where the filesystem allows); returns its path."""
        fs, root = open_filesystem(self.results_dir)
        fs.create_dir(root, recursive=True)
        staging, final = f"{root}/.{SUMMARY_FILE}.tmp", f"{root}/{SUMMARY_FILE}"
        with fs.open_output_stream(staging) as out:
            out.write(_summary_text(self.to_json()).encode("utf-8"))
        fs.move(staging, final)
        # Files of task attempts that failed, and the ledger of jobs a retried task must not resend, are of no
        # further use once the write has an outcome; after an abort they stay for inspection.
        for scratch in ("_temporary", "_ledger"):
            if fs.get_file_info(f"{root}/{scratch}").type == FileType.Directory and self.status != "aborted":
                fs.delete_dir(f"{root}/{scratch}")
        return final


def _summary_text(payload: Mapping[str, Any]) -> str:
    """The summary as JSON, a member a line and a partition a line.

    ``json.dumps(indent=...)`` would take the pure-Python encoder, about ten times slower than the C one, and
    ``commit()`` runs after the last task, where its CPU adds to the write's wall time.
    """
    lines = []
    for key, value in payload.items():
        if key == "partitions" and value:
            value_text = "[\n" + ",\n".join(f"    {json.dumps(item)}" for item in value) + "\n  ]"
        else:
            value_text = json.dumps(value)
        lines.append(f"  {json.dumps(key)}: {value_text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def read_summary(results_dir: str) -> WriteSummary:
    """Load the summary a write left in ``results_dir``."""
    fs, root = open_filesystem(results_dir)
    with fs.open_input_stream(f"{root}/{SUMMARY_FILE}") as source:
        return WriteSummary.from_json(json.loads(source.read()))
