"""Bulk API 2.0 ingest jobs: state machine, JobInfo shapes, and the job's files on disk.

A job's uploads, internal batches and result CSVs live under ``DIR/jobs/{id}/``, so no job is ever
held in memory; its metadata is persisted in the store after every state change.
"""

from __future__ import annotations

import csv
import io
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ApiError, bad_request

DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = ("LF", "CRLF")
TERMINAL = ("JobComplete", "Failed", "Aborted")
# Cells can legitimately be large (131,072 characters per field); the csv default is 128 KiB.
csv.field_size_limit(32 * 1024 * 1024)


class UploadError(Exception):
    """The uploaded data cannot be read as the job's CSV; the job fails with this message."""


# Transitions a client may request with PATCH; processing moves jobs on from UploadComplete itself.
_CLIENT_TRANSITIONS = {
    "UploadComplete": ("Open",),
    "Aborted": ("Open", "UploadComplete", "InProgress"),
}


@dataclass
class IngestJob:
    """One ingest job's metadata, as persisted and as rendered into JobInfo."""

    id: str
    operation: str
    object: str
    created_by_id: str
    created_date: str
    system_modstamp: str
    api_version: float
    state: str = "Open"
    external_id_field_name: str | None = None
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    assignment_rule_id: str | None = None
    number_records_processed: int = 0
    number_records_failed: int = 0
    retries: int = 0
    total_processing_time: int = 0
    api_active_processing_time: int = 0
    apex_processing_time: int = 0
    error_message: str | None = None
    upload_bytes: int = 0
    uploads: int = 0
    header: list[str] | None = None
    batches_total: int = 0
    batches_done: list[int] = field(default_factory=list)
    upload_complete_at: float = 0.0

    def _head(self) -> dict[str, Any]:
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
        info.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": self.api_version})
        return info

    def created_info(self) -> dict[str, Any]:
        """The create response: no jobType, counters or timings yet."""
        info = self._head()
        if self.state == "Open":
            info["contentUrl"] = self.content_url
        info.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        return info

    def short_info(self) -> dict[str, Any]:
        """The PATCH response, which Salesforce keeps short."""
        return self._head()

    def info(self) -> dict[str, Any]:
        """Full JobInfo: counters appear once processing starts, contentUrl only while Open."""
        info = self._head()
        info["jobType"] = "V2Ingest"
        if self.assignment_rule_id:
            info["assignmentRuleId"] = self.assignment_rule_id
        if self.state == "Open":
            info["contentUrl"] = self.content_url
        info.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if self.state not in ("Open", "UploadComplete"):
            info["numberRecordsProcessed"] = self.number_records_processed
            info["numberRecordsFailed"] = self.number_records_failed
        info.update(
            {
                "retries": self.retries,
                "totalProcessingTime": self.total_processing_time,
                "apiActiveProcessingTime": self.api_active_processing_time,
                "apexProcessingTime": self.apex_processing_time,
            }
        )
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info

    @property
    def content_url(self) -> str:
        return f"services/data/v{self.api_version:.1f}/jobs/ingest/{self.id}/batches"

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def line_terminator(self) -> str:
        return "\r\n" if self.line_ending == "CRLF" else "\n"

    def check_transition(self, target: str) -> None:
        allowed = _CLIENT_TRANSITIONS.get(target)
        if allowed is None:
            raise bad_request("INVALIDJOBSTATE", f"Invalid state {target!r}: use UploadComplete or Aborted")
        if self.state not in allowed:
            verb = "Aborting" if target == "Aborted" else "Closing"
            shown = "Completed" if self.state == "JobComplete" else self.state
            raise bad_request("INVALIDJOBSTATE", f"{verb} already {shown} Job not allowed")

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> IngestJob:
        return cls(**record)


def quote_all(rows: Iterable[Sequence[str]]) -> str:
    """Result lines, each starting with a newline: every value double-quoted, embedded quotes doubled.

    That is how Salesforce writes result CSVs; the C csv writer does it far faster than Python code.
    """
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    return "\n" + text[:-1] if text else ""


class JobFiles:
    """A job's directory: uploads, internal batches and the three result CSVs.

    Result files start with their header line and gain one ``\\n``-prefixed line per row, so a file
    never ends with a newline, like the recorded responses. Appends are serialized per job because
    several internal batches of one job finish concurrently.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def upload_path(self, number: int) -> Path:
        return self.root / f"upload-{number:05d}.csv"

    def uploads(self) -> list[Path]:
        return sorted(self.root.glob("upload-*.csv"))

    def rows(self, delimiter: str) -> Iterator[list[str]]:
        """All rows of the uploads, header first; every upload must repeat the same header."""
        header: list[str] | None = None
        for path in self.uploads():
            with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
                reader = csv.reader(handle, delimiter=delimiter, strict=True)
                first = next(reader, None)
                if first is None:
                    continue
                if header is None:
                    header = first
                    yield first
                elif first != header:
                    raise UploadError("InvalidBatch : Every upload of a job must repeat the same header row")
                for row in reader:
                    if row:
                        yield row

    def batch_path(self, number: int) -> Path:
        return self.root / f"batch-{number:05d}.csv"

    def result_path(self, kind: str) -> Path:
        return self.root / f"{kind}.csv"

    def start_results(self, header: Sequence[str]) -> None:
        names = ",".join(header)
        self.result_path("successful").write_text('"sf__Id","sf__Created"' + ("," + names if names else ""))
        self.result_path("failed").write_text('"sf__Id","sf__Error"' + ("," + names if names else ""))
        self.result_path("unprocessed").write_text(names)

    def append(self, kind: str, rows: Iterable[Sequence[str]]) -> None:
        text = quote_all(rows)
        if not text:
            return
        with self._lock, self.result_path(kind).open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)

    def stream(self, kind: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        path = self.result_path(kind)
        if not path.exists():
            return
        with path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def not_terminal(job: IngestJob) -> ApiError:
    return bad_request("INVALIDJOBSTATE", f"Job {job.id} is {job.state}: results are available once it has finished")
