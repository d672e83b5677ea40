"""REST routes: versions, resources, limits, describe, sObject rows and SOQL queries."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import dml, ids
from .errors import ApiError, bad_request, not_found
from .http import Request, Response, Router, public
from .schema import ObjectDef
from .soql import compile_soql
from .store import quote
from .values import cell_from_json

if TYPE_CHECKING:
    from .org import LocalOrg

_V = r"/services/data/v(?P<version>\d+\.\d)"
_RELEASES = ("Winter", "Spring", "Summer")
QUERY_PAGE_SIZE = 2000
SUPPORTED_VERSIONS = tuple(f"{v}.0" for v in range(31, 67))


def _release_label(version: str) -> str:
    # v20.0 was Winter '11; three releases a year since.
    number = int(float(version)) - 20
    return f"{_RELEASES[number % 3]} '{11 + number // 3:02d}"


def _record_error(text: str) -> dict[str, Any]:
    code, _, rest = text.partition(":")
    message, _, tail = rest.rpartition(":")
    fields = [f for f in tail.removesuffix("--").strip().split(",") if f]
    return {"message": message, "errorCode": code, "fields": fields}


class _Cursors:
    """Open query cursors for ``nextRecordsUrl`` paging, dropped once read to the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, list[dict[str, Any]]] = {}

    def put(self, locator: str, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._open[locator] = records

    def get(self, locator: str) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._open.get(locator)

    def drop(self, locator: str) -> None:
        with self._lock:
            self._open.pop(locator, None)


def register(router: Router, org: LocalOrg) -> None:
    schema = org.schema
    cursors = _Cursors()

    def obj_or_404(name: str) -> ObjectDef:
        obj = schema.get(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    @public
    def versions(request: Request) -> Response:
        return Response.json(
            [{"label": _release_label(v), "url": f"/services/data/v{v}", "version": v} for v in SUPPORTED_VERSIONS]
        )

    def resources(request: Request) -> Response:
        base = f"/services/data/v{request.params['version']}"
        names = ("sobjects", "query", "queryAll", "limits", "jobs/ingest")
        return Response.json({name.split("/")[0]: f"{base}/{name}" for name in names})

    def limits(request: Request) -> Response:
        return Response.json(org.limits.snapshot())

    def global_describe(request: Request) -> Response:
        base = f"/services/data/v{request.params['version']}/sobjects"
        return Response.json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {
                        "name": o.name, "label": o.label, "labelPlural": o.props.get("labelPlural", o.label),
                        "keyPrefix": o.key_prefix, "custom": bool(o.props.get("custom")), "createable": True,
                        "updateable": True, "deletable": True, "queryable": True, "retrieveable": True,
                        "urls": {"sobject": f"{base}/{o.name}", "describe": f"{base}/{o.name}/describe",
                                 "rowTemplate": f"{base}/{o.name}/{{ID}}"},
                    }
                    for o in schema.objects
                ],
            }
        )  # fmt: skip

    def describe(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        return Response.json(obj.describe(request.params["version"], schema.child_relationships(obj)))

    def basic_info(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        full = obj.describe(request.params["version"], [])
        keep = ("name", "label", "labelPlural", "keyPrefix", "custom", "createable", "updateable", "queryable", "urls")
        return Response.json({"objectDescribe": {k: full[k] for k in keep}, "recentItems": []})

    def write_one(obj: ObjectDef, operation: str, body: Any, key: str | None = None) -> dml.Outcome:
        if not isinstance(body, Mapping):
            raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
        fields = {k: v for k, v in body.items() if k != "attributes"}
        try:
            plan = dml.plan(schema, obj, list(fields), operation, key)
        except dml.JobError as error:
            bad = str(error).rsplit(" : ", 1)[-1]
            raise ApiError(
                400, "INVALID_FIELD", f"No such column '{bad}' on sobject of type {obj.name}", fields=[]
            ) from error
        outcome = org.engine.apply(plan, [[cell_from_json(v) for v in fields.values()]])[0]
        if outcome.error:
            detail = _record_error(outcome.error)
            status = 404 if detail["errorCode"] == "INVALID_CROSS_REFERENCE_KEY" else 400
            if detail["errorCode"] == "DUPLICATE_EXTERNAL_ID":
                status = 300
            raise ApiError(status, detail["errorCode"], detail["message"], fields=detail["fields"])
        return outcome

    def create(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        outcome = write_one(obj, "insert", request.json())
        return Response.json({"id": outcome.record_id, "success": True, "errors": []}, 201)

    def row(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        record_id = ids.normalize(request.params["id"])
        if record_id is None or ids.key_prefix(record_id) != obj.key_prefix:
            raise not_found()
        wanted = request.query.get("fields", [""])[0]
        names = [f.strip() for f in wanted.split(",") if f.strip()] or [f.name for f in obj.stored_fields]
        fields = []
        for name in names:
            f = obj.field(name)
            if f is None or f.sql_type is None:
                raise bad_request("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
            fields.append(f)
        rows = org.store.query(
            f"SELECT {', '.join(quote(f.name) for f in fields)} FROM {quote(obj.name)} WHERE Id = ? AND IsDeleted = 0",
            (record_id,),
        )
        if not rows:
            raise not_found()
        version = request.params["version"]
        record: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{record_id}"}
        }
        for f, value in zip(fields, rows[0], strict=True):
            record[f.name] = bool(value) if f.type == "boolean" and value is not None else value
        return Response.json(record)

    def update(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        body = request.json()
        if not isinstance(body, Mapping):
            raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
        write_one(obj, "update", {**body, "Id": request.params["id"]})
        return Response(204)

    def delete(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        plan = dml.plan(schema, obj, ["Id"], "delete", None)
        outcome = org.engine.apply(plan, [[request.params["id"]]])[0]
        if outcome.error:
            detail = _record_error(outcome.error)
            status = 400 if detail["errorCode"] == "ENTITY_IS_DELETED" else 404
            raise ApiError(status, detail["errorCode"], detail["message"], fields=detail["fields"])
        return Response(204)

    def upsert(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        key = obj.field(request.params["field"])
        if key is None or not (key.external_id or key.name == "Id"):
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {request.params['field']}",
            )
        body = request.json()
        if not isinstance(body, Mapping):
            raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object")
        outcome = write_one(obj, "upsert", {**body, key.name: unquote(request.params["value"])}, key.name)
        if outcome.created:
            return Response.json({"id": outcome.record_id, "success": True, "errors": [], "created": True}, 201)
        return Response(204)

    def by_external_id(request: Request) -> Response:
        obj = obj_or_404(request.params["object"])
        key = obj.field(request.params["field"])
        if key is None or not key.indexed_lookup:
            raise not_found()
        collate = "" if key.case_sensitive else " COLLATE NOCASE"
        hits = org.store.query(
            f"SELECT Id FROM {quote(obj.name)} WHERE {quote(key.name)}{collate} = ? AND IsDeleted = 0",
            (unquote(request.params["value"]),),
        )
        if not hits:
            raise not_found()
        if len(hits) > 1:
            raise ApiError(300, "MULTIPLE_CHOICES", f"More than one record found for {key.name}")
        request.params["id"] = hits[0][0]
        return row(request)

    def run_query(request: Request, include_deleted: bool) -> Response:
        soql = request.query.get("q", [""])[0]
        if not soql:
            raise bad_request("MALFORMED_QUERY", "A query string (q) is required")
        compiled = compile_soql(soql, schema, include_deleted=include_deleted)
        rows = org.store.query(compiled.sql, compiled.params)
        version = request.params["version"]
        if compiled.count_only:
            return Response.json({"totalSize": int(rows[0][0]), "done": True, "records": []})
        records = [compiled.shape(r, version) for r in rows]
        return page(records, version, None, 0)

    def page(records: list[dict[str, Any]], version: str, locator: str | None, start: int) -> Response:
        end = start + QUERY_PAGE_SIZE
        body: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records)}
        if end < len(records):
            locator = locator or org.ids.new("01g")
            cursors.put(locator, records)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        elif locator:
            cursors.drop(locator)
        body["records"] = records[start:end]
        return Response.json(body)

    def query_more(request: Request) -> Response:
        locator, _, offset = request.params["locator"].partition("-")
        records = cursors.get(locator)
        if records is None or not offset.isdigit():
            raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
        return page(records, request.params["version"], locator, int(offset))

    router.add("GET", r"/services/data/?", versions)
    router.add("GET", _V + "/?", resources)
    router.add("GET", _V + "/limits/?", limits)
    router.add("GET", _V + "/sobjects/?", global_describe)
    router.add("GET", _V + r"/sobjects/(?P<object>\w+)/describe/?", describe)
    router.add("GET", _V + r"/sobjects/(?P<object>\w+)/?", basic_info)
    router.add("POST", _V + r"/sobjects/(?P<object>\w+)/?", create)
    router.add("GET", _V + r"/sobjects/(?P<object>\w+)/(?P<id>[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?)/?", row)
    router.add("PATCH", _V + r"/sobjects/(?P<object>\w+)/(?P<id>[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?)/?", update)
    router.add("DELETE", _V + r"/sobjects/(?P<object>\w+)/(?P<id>[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?)/?", delete)
    router.add("GET", _V + r"/sobjects/(?P<object>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?", by_external_id)
    router.add("PATCH", _V + r"/sobjects/(?P<object>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?", upsert)
    router.add("GET", _V + r"/query/?", lambda r: run_query(r, False))
    router.add("GET", _V + r"/queryAll/?", lambda r: run_query(r, True))
    router.add("GET", _V + r"/query/(?P<locator>[0-9A-Za-z]+-\d+)/?", query_more)
