"""Bulk API 1.0 ingest routes under ``/services/async/{version}/job``.

Requests authenticate with ``X-SFDC-Session`` (or ``Authorization: Bearer``), which the org's request
pipeline already accepts. Responses are XML unless the request or the job is JSON: a JSON body or
``Accept: application/json`` asks for JSON, and so does a job whose contentType is JSON (that is how
simple-salesforce's ``sf.bulk`` reads every answer). Every error, authentication included, is a
Bulk API 1.0 exception document (``exceptionCode``, ``exceptionMessage``), never the REST error list.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import bulk1_xml
from .bulk1_jobs import Bulk1Job, error
from .errors import ApiError
from .http import JSON, Request, Response, Router

if TYPE_CHECKING:
    from .org import LocalOrg

_PREFIX = "/services/async/"
_BASE = r"/services/async/v?(?P<version>\d+\.\d)/job"
_JOB = _BASE + r"/(?P<job>[^/]+)"
_BATCH = _JOB + r"/batch/(?P<batch>[^/]+)"
_XML = "application/xml"
# REST-side errors raised before a route runs, as Bulk API 1.0 names them (a status of None keeps the REST one:
# the spent daily allocation's 403 and a too-many-requests 429 are both ExceededQuota, and a client must tell
# the 429, which passes, from the 403).
_TRANSLATED: dict[str, tuple[int | None, str, str | None]] = {
    "INVALID_SESSION_ID": (400, "InvalidSessionId", "Invalid session id"),
    "NOT_FOUND": (400, "InvalidUrl", "The requested URL is not a Bulk API resource"),
    "METHOD_NOT_ALLOWED": (405, "MethodNotAllowed", None),
    "REQUEST_LIMIT_EXCEEDED": (None, "ExceededQuota", None),
}


def owns(request: Request) -> bool:
    """Whether a request is for Bulk API 1.0, whose errors take its own shape."""
    return request.path.lower().startswith(_PREFIX)


def _wants_json(request: Request, job: Bulk1Job | None = None) -> bool:
    accept = (request.header("Accept") or "").lower()
    if "application/json" in accept:
        return True
    if request.content_type == "application/json":
        return True
    if request.content_type in (_XML, "text/xml"):
        return False
    return job is not None and job.content_type == "JSON"


def error_response(request: Request, failure: ApiError, job: Bulk1Job | None = None) -> Response:
    """An error as Bulk API 1.0 answers it, in XML or JSON as the request asks."""
    status, code, message = _TRANSLATED.get(failure.error_code, (failure.status, failure.error_code, None))
    status = status or failure.status
    message = message or failure.message
    # An injected 429's Retry-After tells the client when to come back, whichever API it called.
    headers = {name: value for name, value in failure.headers.items() if name == "Retry-After"}
    if _wants_json(request, job):
        body = json.dumps({"exceptionCode": code, "exceptionMessage": message}).encode()
        return Response(status, body, JSON, headers)
    return Response(status, bulk1_xml.error_document(code, message), _XML, headers)


def _render(request: Request, job: Bulk1Job, info: Mapping[str, Any], root: str, status: int = 200) -> Response:
    if _wants_json(request, job):
        # The JSON documents list their fields alphabetically, with the org's dateTime form.
        return Response(status, json.dumps(dict(sorted(info.items()))).encode(), JSON)
    return Response(status, bulk1_xml.document(root, info), _XML)


def _job_spec(request: Request) -> dict[str, Any]:
    """A jobInfo request body, XML or JSON, as a dict of its fields."""
    data = request.read(64 * 1024)
    if request.content_type == "application/json":
        try:
            spec = json.loads(data or b"null")
        except (ValueError, UnicodeDecodeError) as failure:
            raise error("InvalidJob", f"Unable to parse the request body as JSON: {failure}") from failure
        if not isinstance(spec, dict):
            raise error("InvalidJob", "The request body must be a JSON jobInfo object")
        return spec
    return dict(bulk1_xml.parse_job_request(data))


def register(router: Router, org: LocalOrg) -> None:
    service = org.bulk1

    def guarded(handler: Any) -> Any:
        """Renders the handler's errors as Bulk API 1.0 exceptions, in the job's format when it has one."""

        def run(request: Request) -> Response:
            try:
                return handler(request)
            except ApiError as failure:
                job = None
                with contextlib.suppress(ApiError):
                    job = service.get(request.params.get("job") or "")
                return error_response(request, failure, job)

        return run

    def create(request: Request) -> Response:
        # The version is in the path without the REST API's "v" (/services/async/59.0/job).
        job = service.create(_job_spec(request), request.params["version"])
        return _render(request, job, job.info(), "jobInfo", 201)

    def get_job(request: Request) -> Response:
        job = service.get(request.params["job"])
        return _render(request, job, job.info(), "jobInfo")

    def change_job(request: Request) -> Response:
        job = service.get(request.params["job"])
        spec = _job_spec(request)
        job = service.change_state(job.id, spec.get("state"))
        return _render(request, job, job.info(), "jobInfo")

    def add_batch(request: Request) -> Response:
        job = service.get(request.params["job"])
        wanted = ("application/json",) if job.content_type == "JSON" else ("text/csv", "application/octet-stream")
        if request.content_type and request.content_type not in wanted:
            raise error(
                "InvalidBatch",
                f"Content type {request.content_type} does not match the job's content type {job.content_type}",
            )
        batch = service.add_batch(job.id, request.body)
        return _render(request, job, batch.info(), "batchInfo", 201)

    def list_batches(request: Request) -> Response:
        job = service.get(request.params["job"])
        infos = [batch.info() for batch in list(job.batches)]
        if _wants_json(request, job):
            body = {"batchInfo": [dict(sorted(info.items())) for info in infos]}
            return Response(200, json.dumps(body).encode(), JSON)
        return Response(200, bulk1_xml.batch_list(infos), _XML)

    def get_batch(request: Request) -> Response:
        job, batch = service.batch(request.params["job"], request.params["batch"])
        return _render(request, job, batch.info(), "batchInfo")

    def batch_request(request: Request) -> Response:
        job = service.get(request.params["job"])
        data = service.request(job.id, request.params["batch"])
        return Response(200, data, JSON if job.content_type == "JSON" else "text/csv")

    def batch_result(request: Request) -> Response:
        job = service.get(request.params["job"])
        chunks = service.results(job.id, request.params["batch"])
        return Response(200, chunks, JSON if job.content_type == "JSON" else "text/csv")

    router.add("POST", _BASE + "/?", guarded(create))
    router.add("GET", _JOB + "/?", guarded(get_job))
    router.add("POST", _JOB + "/?", guarded(change_job))
    router.add("POST", _JOB + "/batch/?", guarded(add_batch))
    router.add("GET", _JOB + "/batch/?", guarded(list_batches))
    router.add("GET", _BATCH + "/?", guarded(get_batch))
    router.add("GET", _BATCH + "/request/?", guarded(batch_request))
    router.add("GET", _BATCH + "/result/?", guarded(batch_result))


def guard(request: Request, serve: Callable[[Request], Response]) -> Response:
    """Runs the org's request pipeline, answering what it refuses (an invalid session, an unknown URL,
    a spent quota) as Bulk API 1.0 exceptions rather than the REST API's error list."""
    try:
        return serve(request)
    except ApiError as failure:
        return error_response(request, failure)
