"""Operator routes under ``/__org__/``: not Salesforce's, for tests and benchmarks.

They need a valid session like every API call, so a running org never opens an unauthenticated door.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import dml
from .errors import bad_request, not_found
from .http import Request, Response, Router
from .processing import ProcessingModel
from .values import cell_from_json

if TYPE_CHECKING:
    from .org import LocalOrg

_PROCESSING_KNOBS = {f.name for f in dataclasses.fields(ProcessingModel)}


def register(router: Router, org: LocalOrg) -> None:
    def reset(request: Request) -> Response:
        with org.ingest.lock:
            org.store.clear_records()
            for job in list(org.ingest.jobs.values()):
                org.ingest.files(job).remove()
            org.ingest.jobs.clear()
        org.bulk1.reset()
        org.limits.reset()
        # Left-over fault rules would break whatever runs next on a reset org.
        org.faults.clear()
        return Response(204)

    def load(request: Request) -> Response:
        obj = org.schema.get(request.params["object"])
        if obj is None:
            raise not_found()
        records = request.json()
        if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
            raise bad_request("JSON_PARSER_ERROR", "Send a JSON array of records")
        header = list(dict.fromkeys(k for r in records for k in r))
        try:
            plan = dml.plan(org.schema, obj, header, "insert", None)
        except dml.JobError as error:
            raise bad_request("INVALID_FIELD", str(error)) from error
        rows = [[cell_from_json(r[k]) if k in r else "" for k in header] for r in records]
        outcomes = org.engine.apply(plan, rows)
        return Response.json(
            [{"id": o.record_id or None, "success": o.ok, "errors": [o.error] if o.error else []} for o in outcomes]
        )

    def counters(request: Request) -> Response:
        states = Counter(job.state for job in list(org.ingest.jobs.values()))
        bulk1_jobs = list(org.bulk1.jobs.values())
        return Response.json(
            {
                **org.counters,
                "jobs": dict(states),
                "bulk1_jobs": dict(Counter(job.state for job in bulk1_jobs)),
                "bulk1_batches": dict(Counter(batch.state for job in bulk1_jobs for batch in list(job.batches))),
                "records": {o.name: org.store.count(o) for o in org.schema.objects},
                "limits": org.limits.snapshot(include_internal=True),
            }
        )

    def configure(request: Request) -> Response:
        body: Any = request.json()
        if not isinstance(body, Mapping):
            raise bad_request("JSON_PARSER_ERROR", "Send a JSON object")
        knobs = dict(body.get("processing", {}).items())
        unknown = set(knobs) - _PROCESSING_KNOBS
        if unknown:
            raise bad_request("INVALID_FIELD", f"Unknown processing settings: {', '.join(sorted(unknown))}")
        for flag in ("store_records", "lock_model"):
            if not isinstance(knobs.get(flag, True), bool):
                # A truthy string such as "false" must not silently flip the org's behaviour.
                raise bad_request("INVALID_FIELD", f"{flag} must be true or false")
        org.processor.apply_model(dataclasses.replace(org.processor.model, **knobs))
        if "session_ttl" in body:
            org.sessions.ttl_seconds = float(body["session_ttl"])
        for name, maximum in body.get("limits", {}).items():
            org.limits.set_maximum(name, int(maximum))
        return Response.json(
            {"processing": dataclasses.asdict(org.processor.model), "session_ttl": org.sessions.ttl_seconds}
        )

    def revoke(request: Request) -> Response:
        body: Any = request.json() or {}
        token = body.get("token") if isinstance(body, Mapping) else None
        revoked = org.sessions.revoke(token) if token else org.sessions.revoke_all()
        return Response.json({"revoked": int(revoked)})

    def put_faults(request: Request) -> Response:
        org.faults.configure(request.json())
        return Response.json(org.faults.describe())

    def delete_faults(request: Request) -> Response:
        org.faults.clear()
        return Response(204)

    router.add("POST", r"/__org__/reset", reset)
    router.add("POST", r"/__org__/records/(?P<object>\w+)", load)
    router.add("GET", r"/__org__/counters", counters)
    router.add("PATCH", r"/__org__/config", configure)
    router.add("POST", r"/__org__/sessions/revoke", revoke)
    router.add("GET", r"/__org__/faults", lambda request: Response.json(org.faults.describe()))
    router.add("PUT", r"/__org__/faults", put_faults)
    router.add("DELETE", r"/__org__/faults", delete_faults)
