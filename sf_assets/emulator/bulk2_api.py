"""Bulk API 2.0 ingest routes under ``/services/data/vXX.X/jobs/ingest``."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from .errors import ApiError, bad_request
from .http import Request, Response, Router

if TYPE_CHECKING:
    from .org import LocalOrg

_BASE = r"/services/data/v\d+\.\d/jobs/ingest"
_JOB = _BASE + r"/(?P<job>[0-9A-Za-z]{15,18})"


def _multipart(request: Request) -> tuple[dict[str, Any], bytes]:
    """Splits a multipart create into its ``job`` JSON part and its ``content`` CSV part."""
    head = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.read(2 * 1024 * 1024))
    spec: dict[str, Any] | None = None
    content = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "job":
            try:
                spec = json.loads(payload)
            except ValueError as error:
                raise bad_request("JSON_PARSER_ERROR", f"The job part is not valid JSON: {error}") from error
        elif name == "content":
            content = payload
    if spec is None:
        raise bad_request("INVALIDJOB", "InvalidJob : A multipart job needs a 'job' part")
    return spec, content


def register(router: Router, org: LocalOrg) -> None:
    service = org.ingest

    def create(request: Request) -> Response:
        version = request.context["version"]
        if request.content_type == "multipart/form-data":
            spec, content = _multipart(request)
            return Response.json(service.create_multipart(spec, content, version).created_info())
        if request.content_type not in ("application/json", ""):
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"Content type {request.content_type} is not supported")
        return Response.json(service.create(request.json(), version).created_info())

    def list_jobs(request: Request) -> Response:
        return Response.json(service.list(request.query, request.context["version"]))

    def upload(request: Request) -> Response:
        if request.content_type not in ("text/csv", "application/octet-stream", ""):
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"Content type {request.content_type} is not supported")
        service.upload(request.params["job"], request.body)
        return Response(201)

    def get(request: Request) -> Response:
        return Response.json(service.get(request.params["job"]).info())

    def patch(request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or "state" not in body:
            raise bad_request("INVALIDJOBSTATE", "The request body must set the job's state")
        return Response.json(service.change_state(request.params["job"], str(body["state"])).short_info())

    def delete(request: Request) -> Response:
        service.delete(request.params["job"])
        return Response(204)

    def results(request: Request) -> Response:
        chunks = service.results(request.params["job"], request.params["kind"])
        return Response(200, chunks, "text/csv")

    router.add("POST", _BASE + "/?", create)
    router.add("GET", _BASE + "/?", list_jobs)
    router.add("PUT", _JOB + "/batches/?", upload)
    router.add("GET", _JOB + "/?", get)
    router.add("PATCH", _JOB + "/?", patch)
    router.add("DELETE", _JOB + "/?", delete)
    router.add("GET", _JOB + r"/(?P<kind>successfulResults|failedResults|unprocessedRecords)/?", results)
