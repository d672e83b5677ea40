"""The Bulk API 2.0 ingest service: create, upload, close, abort, inspect, delete and read results."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from . import dml, ids
from .errors import bad_request, not_found
from .jobs import DELIMITERS, LINE_ENDINGS, TERMINAL, IngestJob, JobFiles, UploadError, not_terminal
from .schema import Schema
from .store import Store
from .values import now_datetime

MAX_UPLOAD_BASE64_BYTES = 150 * 1024 * 1024
# Get All Jobs lists JobInfo without counters or timings, as recorded (jobs_get_all_200.json).
_LIST_KEYS = {
    "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state", "externalIdFieldName",
    "concurrencyMode", "contentType", "apiVersion", "jobType", "assignmentRuleId", "contentUrl", "lineEnding",
    "columnDelimiter",
}  # fmt: skip
_RESULT_KINDS = {"successfulresults": "successful", "failedresults": "failed", "unprocessedrecords": "unprocessed"}


def base64_size(raw: int) -> int:
    return (raw + 2) // 3 * 4


class IngestService:
    """Owns every ingest job of the org and hands closed jobs to the processor.

    Args:
        data_dir: The org's directory; jobs keep their files in ``jobs/{id}/``.
        store: Persists job metadata.
        schema: Objects jobs may target.
        id_generator: Mints ``750`` job Ids.
        user_id: The API user, shown as each job's creator.
    """

    def __init__(
        self, data_dir: Path, store: Store, schema: Schema, id_generator: ids.IdGenerator, user_id: str
    ) -> None:
        self.root = data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.schema = schema
        self.ids = id_generator
        self.user_id = user_id
        self.max_upload_bytes = MAX_UPLOAD_BASE64_BYTES
        self.lock = threading.RLock()
        self.jobs: dict[str, IngestJob] = {}
        self._files: dict[str, JobFiles] = {}
        self.on_upload_complete: list[Any] = []  # callables taking an IngestJob
        for record in store.load_jobs():
            job = IngestJob.from_record(record)
            self.jobs[job.id] = job

    def files(self, job: IngestJob) -> JobFiles:
        with self.lock:
            files = self._files.get(job.id)
            if files is None:
                files = self._files[job.id] = JobFiles(self.root / job.id)
            return files

    def save(self, job: IngestJob) -> None:
        with self.lock:
            job.system_modstamp = now_datetime()
            self.store.save_job(job.id, job.to_record())

    def get(self, job_id: str) -> IngestJob:
        canonical = ids.normalize(job_id)
        job = self.jobs.get(canonical) if canonical else None
        if job is None:
            raise not_found()
        return job

    def create(self, spec: Mapping[str, Any], api_version: str) -> IngestJob:
        """Validates a job spec as Salesforce does and opens the job."""
        if not isinstance(spec, Mapping):
            raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
        object_name = spec.get("object")
        operation = spec.get("operation")
        if not object_name:
            raise bad_request("INVALIDJOB", "The object field is required")
        if operation not in dml.OPERATIONS:
            raise bad_request("INVALIDJOB", f"InvalidJob : Invalid job operation: {operation}")
        obj = self.schema.get(str(object_name))
        if obj is None:
            raise bad_request("INVALIDENTITY", f"Entity '{object_name}' is not supported by the Bulk API.")
        external_id = spec.get("externalIdFieldName")
        if operation == "upsert" and not external_id:
            raise bad_request("INVALIDJOB", "InvalidJob : External ID field is required for upsert")
        content_type = spec.get("contentType", "CSV")
        delimiter = spec.get("columnDelimiter", "COMMA")
        line_ending = spec.get("lineEnding", "LF")
        if content_type != "CSV":
            raise bad_request("INVALIDJOB", f"InvalidJob : Unsupported content type: {content_type}")
        if delimiter not in DELIMITERS:
            raise bad_request("INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise bad_request("INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
        stamp = now_datetime()
        job = IngestJob(
            id=self.ids.new("750"),
            operation=str(operation),
            object=obj.name,
            created_by_id=self.user_id,
            created_date=stamp,
            system_modstamp=stamp,
            api_version=float(api_version),
            external_id_field_name=str(external_id) if operation == "upsert" else None,
            column_delimiter=str(delimiter),
            line_ending=str(line_ending),
            assignment_rule_id=spec.get("assignmentRuleId"),
        )
        with self.lock:
            self.jobs[job.id] = job
            self.save(job)
        return job

    def upload(self, job_id: str, body: BinaryIO, chunk_size: int = 1 << 20) -> None:
        """Appends one upload's CSV bytes to an Open job, streaming them to disk."""
        job = self.get(job_id)
        with self.lock:
            if job.state != "Open":
                raise bad_request(
                    "INVALIDJOBSTATE", f"Job {job.id} is {job.state}: data can be uploaded only while Open"
                )
            number = job.uploads
            job.uploads += 1
        files = self.files(job)
        files.root.mkdir(parents=True, exist_ok=True)
        path = files.upload_path(number)
        written = 0
        try:
            with path.open("wb") as handle:
                while chunk := body.read(chunk_size):
                    written += len(chunk)
                    if base64_size(job.upload_bytes + written) > self.max_upload_bytes:
                        raise bad_request(
                            "InvalidBatch",
                            "InvalidBatch : The upload exceeds the 150 MB (base64 encoded) limit of a job",
                        )
                    handle.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        with self.lock:
            job.upload_bytes += written
            self.save(job)

    def create_multipart(self, spec: Mapping[str, Any], content: bytes, api_version: str) -> IngestJob:
        """A job created with its data in one multipart request: upload completes at once."""
        if len(content) > 100_000:
            raise bad_request("ClientInputError", "Multipart job data is limited to 100,000 characters")
        job = self.create(spec, api_version)
        self.upload(job.id, io.BytesIO(content))
        return self.change_state(job.id, "UploadComplete")

    def change_state(self, job_id: str, target: str) -> IngestJob:
        job = self.get(job_id)
        with self.lock:
            job.check_transition(target)
            unsplit = job.header is None and job.state in ("Open", "UploadComplete")
            job.state = target
            self.save(job)
        if target == "Aborted" and unsplit:
            self._record_unprocessed(job)
        if target == "UploadComplete":
            for callback in self.on_upload_complete:
                callback(job)
        return job

    def _record_unprocessed(self, job: IngestJob) -> None:
        """A job aborted before processing: every uploaded row is an unprocessed record."""
        files = self.files(job)
        files.root.mkdir(parents=True, exist_ok=True)
        rows = files.rows(job.delimiter)
        try:
            header = next(rows, None) or []
            files.start_results(header)
            files.append("unprocessed", rows)
        except (UploadError, csv.Error, UnicodeDecodeError):
            files.start_results([])

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with self.lock:
            if job.state not in (*TERMINAL, "UploadComplete"):
                raise bad_request("INVALIDJOBSTATE", f"Deleting a job in state {job.state} is not allowed")
            self.jobs.pop(job.id, None)
            self.store.delete_job(job.id)
            self.files(job).remove()
            self._files.pop(job.id, None)

    def results(self, job_id: str, resource: str) -> Iterator[bytes]:
        kind = _RESULT_KINDS.get(resource.lower())
        if kind is None:
            raise not_found()
        job = self.get(job_id)
        if job.state not in TERMINAL:
            raise not_terminal(job)
        return self.files(job).stream(kind)

    def list(self, query: Mapping[str, list[str]], api_version: str, page_size: int = 1000) -> dict[str, Any]:
        job_type = (query.get("jobType") or [None])[0]
        if job_type not in (None, "V2Ingest", "Classic", "BigObjectIngest"):
            raise bad_request("INVALIDJOB", f"Invalid jobType: {job_type}")
        start = int((query.get("queryLocator") or ["0"])[0] or 0)
        with self.lock:
            jobs = sorted(self.jobs.values(), key=lambda j: j.created_date)
        if job_type not in (None, "V2Ingest"):
            jobs = []
        page = jobs[start : start + page_size]
        done = start + page_size >= len(jobs)
        next_url = None if done else f"/services/data/v{api_version}/jobs/ingest?queryLocator={start + page_size}"
        records = [{k: v for k, v in j.info().items() if k in _LIST_KEYS} for j in page]
        return {"done": done, "records": records, "nextRecordsUrl": next_url}
