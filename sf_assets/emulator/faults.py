"""Fault injection: rules that make the org fail the way Salesforce does, deterministically.

A rule matches requests by method and path regex, optionally only the Nth..Mth of them or each
with a probability drawn from a seeded generator, and then acts: an HTTP error with Salesforce's
JSON body, a slow response, a connection dropped before or during the response, a revoked session,
a job that ends ``Failed``, a batch that is re-queued, or a daily limit that runs out. Operator
routes (``/__org__/``) are never faulted, so a test can always see and clear what it set up.

The draw for a rule's Nth matching request depends only on the seed, the rule's position and N,
so a run is reproducible whatever other requests interleave with it.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ids
from .errors import ApiError, bad_request
from .http import Request, Response

if TYPE_CHECKING:
    from .org import LocalOrg

OPERATOR_PREFIX = "/__org__/"
ACTIONS = (
    "error",
    "delay",
    "drop",
    "drop_mid_response",
    "revoke_session",
    "fail_job",
    "requeue_batch",
    "exhaust_limit",
)
# Where a rule acts relative to the org handling the request, when the rule does not say.
_DEFAULT_WHEN = {"error": "before", "delay": "before", "drop": "before", "revoke_session": "after"}
_UNEXPECTED = "An unexpected error occurred. Please include this ErrorId if you contact support: {} ({})"
# Salesforce's bodies for the statuses a rule may answer with; a rule's error_code and message win.
_ERRORS: Mapping[int, tuple[str, str]] = {
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    429: ("REQUEST_LIMIT_EXCEEDED", "Too many requests. Retry later."),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable."),
}
# An ingest job (Bulk API 2.0's /jobs/ingest, 1.0's /services/async/{version}/job) named in a path, or in the
# body (JSON, or 1.0's XML) of the response that created it.
_JOBS = r"(?:/jobs/ingest|/services/async/v?\d+\.\d/job)"
_JOB_IN_PATH = re.compile(_JOBS + r"/([0-9A-Za-z]{15,18})(?:/|$)", re.IGNORECASE)
_JOB_CREATE = re.compile(_JOBS + r"/?$", re.IGNORECASE)
_JOB_IN_BODY = re.compile(rb'(?:"id"\s*:\s*"|<id>)(750[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)[<"]')


class DroppedConnectionError(ConnectionAbortedError):
    """Raised to close the client's connection without an answer; the HTTP layer hangs up."""


class InjectedError(ApiError):
    """An injected HTTP error. Raised rather than returned, so that each API renders it in its own
    shape (Bulk API 1.0 as XML); the JSON form puts the message first, as Salesforce writes
    ``REQUEST_LIMIT_EXCEEDED``."""

    def body(self) -> bytes:
        error = {"message": self.message, "errorCode": self.error_code}
        return json.dumps([error], separators=(",", ":")).encode()


@dataclass(frozen=True)
class FaultRule:
    """One rule, as sent in ``PUT /__org__/faults``; see README.md for each field."""

    action: str
    method: str = "*"
    path: str = ".*"
    first: int = 1
    last: int | None = None
    probability: float = 1.0
    when: str | None = None
    status: int = 500
    error_code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    bytes: int | None = None
    after_batches: int = 0
    times: int = 1
    limit: str = "DailyApiRequests"
    remaining: int = 0

    @classmethod
    def parse(cls, spec: Any) -> FaultRule:
        """A rule from its JSON form; raises 400 ``INVALID_FIELD`` naming what is wrong."""
        if not isinstance(spec, Mapping):
            raise bad_request("INVALID_FIELD", "Each fault rule must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise bad_request("INVALID_FIELD", f"Unknown fault rule fields: {', '.join(unknown)}")
        try:
            rule = cls(**spec)
        except TypeError as error:
            raise bad_request("INVALID_FIELD", f"Invalid fault rule: {error}") from error
        rule._check()
        return rule

    def _check(self) -> None:
        problems = []
        if self.action not in ACTIONS:
            problems.append(f"action must be one of {', '.join(ACTIONS)}")
        if not isinstance(self.method, str):
            problems.append("method must be a string")
        try:
            re.compile(self.path)
        except (re.error, TypeError) as error:
            problems.append(f"path is not a regular expression: {error}")
        if not isinstance(self.first, int) or self.first < 1:
            problems.append("first must be an integer from 1")
        if self.last is not None and (not isinstance(self.last, int) or self.last < self.first):
            problems.append("last must be an integer no smaller than first")
        if not isinstance(self.probability, int | float) or not 0 <= self.probability <= 1:
            problems.append("probability must be between 0 and 1")
        if self.when not in (None, "before", "after"):
            problems.append("when must be before or after")
        if self.action == "error" and (not isinstance(self.status, int) or not 400 <= self.status <= 599):
            problems.append("status must be an HTTP error status (400-599)")
        if not isinstance(self.seconds, int | float) or self.seconds < 0:
            problems.append("seconds must be a number from 0")
        if self.bytes is not None and (not isinstance(self.bytes, int) or self.bytes < 0):
            problems.append("bytes must be an integer from 0")
        if self.retry_after is not None and (not isinstance(self.retry_after, int) or self.retry_after < 0):
            problems.append("retry_after must be an integer from 0")
        if not isinstance(self.times, int) or self.times < 1:
            problems.append("times must be an integer from 1")
        if not isinstance(self.remaining, int) or self.remaining < 0:
            problems.append("remaining must be an integer from 0")
        if problems:
            raise bad_request("INVALID_FIELD", "Invalid fault rule: " + "; ".join(problems))

    @property
    def timing(self) -> str:
        return self.when or _DEFAULT_WHEN.get(self.action, "before")

    def matches(self, request: Request) -> bool:
        if self.method.upper() not in ("*", request.method.upper()):
            return False
        return re.search(self.path, request.path) is not None

    def in_window(self, number: int) -> bool:
        return number >= self.first and (self.last is None or number <= self.last)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v != _RULE_DEFAULTS.get(k) or k == "action"}


_RULE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FaultRule) if f.default is not dataclasses.MISSING}


@dataclass
class _Injected:
    """What a job still has coming: re-queues of its next batches, then perhaps a failure."""

    requeues: int = 0
    fail_message: str | None = None
    fail_after_batches: int = 0


class JobFaults:
    """Faults waiting for a job's batches, consulted by the processor as each batch starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, _Injected] = {}

    def fail(self, job_id: str, message: str, after_batches: int = 0) -> None:
        with self._lock:
            injected = self._jobs.setdefault(job_id, _Injected())
            injected.fail_message = message
            injected.fail_after_batches = after_batches

    def requeue(self, job_id: str, times: int = 1) -> None:
        with self._lock:
            self._jobs.setdefault(job_id, _Injected()).requeues += times

    def take(self, job_id: str, batches_done: int) -> tuple[str, str] | None:
        """``("requeue", "")`` or ``("fail", errorMessage)`` for a batch of the job about to start."""
        with self._lock:
            injected = self._jobs.get(job_id)
            if injected is None:
                return None
            if injected.requeues:
                injected.requeues -= 1
                return "requeue", ""
            if injected.fail_message is not None and batches_done >= injected.fail_after_batches:
                message = injected.fail_message
                del self._jobs[job_id]
                return "fail", message
            return None

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()


class FaultInjector:
    """Applies the org's fault rules to every request but the operator's.

    Args:
        org: The org whose sessions, limits and processor the actions reach.
        token_of: The access token a request carries (as the org reads it), for ``revoke_session``.
    """

    def __init__(self, org: LocalOrg, token_of: Callable[[Request], str | None]) -> None:
        self._org = org
        self._token_of = token_of
        self._lock = threading.Lock()
        self._seed = 0
        self._rules: tuple[FaultRule, ...] = ()
        self._matched: list[int] = []
        self._fired: list[int] = []

    # -- configuration -----------------------------------------------------------------------------

    def configure(self, spec: Any) -> None:
        """Replaces every rule (and restarts their counts) from ``{"seed": N, "rules": [...]}``."""
        if not isinstance(spec, Mapping):
            raise bad_request("JSON_PARSER_ERROR", "Send a JSON object with seed and rules")
        unknown = sorted(set(spec) - {"seed", "rules"})
        if unknown:
            raise bad_request("INVALID_FIELD", f"Unknown fault settings: {', '.join(unknown)}")
        seed = spec.get("seed", 0)
        rules = spec.get("rules", [])
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise bad_request("INVALID_FIELD", "seed must be an integer")
        if not isinstance(rules, list):
            raise bad_request("INVALID_FIELD", "rules must be a JSON array")
        parsed = tuple(FaultRule.parse(rule) for rule in rules)
        limits = self._org.limits.snapshot(include_internal=True)
        for rule in parsed:
            if rule.action == "exhaust_limit" and rule.limit not in limits:
                raise bad_request("INVALID_FIELD", f"Unknown limit {rule.limit}: use one of {', '.join(limits)}")
        with self._lock:
            self._seed = seed
            self._rules = parsed
            self._matched = [0] * len(parsed)
            self._fired = [0] * len(parsed)
        self._org.processor.job_faults.clear()

    def clear(self) -> None:
        self.configure({})

    def describe(self) -> dict[str, Any]:
        """The rules as set, each with how many requests it matched and how many it acted on."""
        with self._lock:
            return {
                "seed": self._seed,
                "rules": [
                    {**rule.to_json(), "matched": matched, "fired": fired}
                    for rule, matched, fired in zip(self._rules, self._matched, self._fired, strict=True)
                ],
            }

    # -- the request pipeline ----------------------------------------------------------------------

    def __call__(self, request: Request, handle: Callable[[Request], Response]) -> Response:
        if request.path.lower().startswith(OPERATOR_PREFIX):
            return handle(request)
        fired = self._fire(request)
        if fired is None:
            return handle(request)
        rule, rng = fired
        return self._act(rule, rng, request, handle)

    def _fire(self, request: Request) -> tuple[FaultRule, random.Random] | None:
        """The first rule that acts on this request; every matching rule counts the request."""
        chosen = None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(request):
                    continue
                self._matched[index] += 1
                number = self._matched[index]
                if chosen is not None or not rule.in_window(number):
                    continue
                rng = random.Random(f"{self._seed}:{index}:{number}")
                if rule.probability < 1 and rng.random() >= rule.probability:
                    continue
                self._fired[index] += 1
                chosen = rule, rng
        return chosen

    def _act(
        self, rule: FaultRule, rng: random.Random, request: Request, handle: Callable[[Request], Response]
    ) -> Response:
        action = rule.action
        after = rule.timing == "after"
        if action == "delay":
            if not after:
                time.sleep(rule.seconds)
                return handle(request)
            response = _handled(request, handle)
            time.sleep(rule.seconds)
            return response
        if action in ("error", "drop"):
            if after:
                _handled(request, handle)
            if action == "drop":
                raise DroppedConnectionError("fault injected: connection dropped before the response")
            raise _injected_error(rule, rng)
        if action == "drop_mid_response":
            response = _handled(request, handle)
            body = response.body
            if rule.bytes is not None:
                response.cut_after = rule.bytes
            else:
                # Half of a whole body; a little of a streamed one, whose length is unknown.
                response.cut_after = len(body) // 2 if isinstance(body, bytes | bytearray) else 64
            return response
        if action == "revoke_session":
            if not after:
                self._revoke(request)
                return handle(request)
            response = _handled(request, handle)
            self._revoke(request)
            return response
        if action == "exhaust_limit":
            if not after:
                self._org.limits.exhaust(rule.limit, rule.remaining)
                return handle(request)
            response = _handled(request, handle)
            self._org.limits.exhaust(rule.limit, rule.remaining)
            return response
        return self._job_fault(rule, rng, request, handle)

    def _revoke(self, request: Request) -> None:
        token = self._token_of(request)
        if token:
            self._org.sessions.revoke(token)

    def _job_fault(
        self, rule: FaultRule, rng: random.Random, request: Request, handle: Callable[[Request], Response]
    ) -> Response:
        """``fail_job`` and ``requeue_batch`` attach to the job the request names, before the org
        handles it (closing a job may start its processing at once), or else to the job it creates."""
        named = _JOB_IN_PATH.search(request.path)
        job_id = ids.normalize(named.group(1)) if named else None
        if job_id is not None:
            self._attach(rule, rng, job_id)
            return handle(request)
        response = handle(request)
        body = response.body if isinstance(response.body, bytes | bytearray) else b""
        created = _JOB_IN_BODY.search(body) if _JOB_CREATE.search(request.path) else None
        job_id = ids.normalize(created.group(1).decode()) if created else None
        if job_id is not None:
            self._attach(rule, rng, job_id)
        return response

    def _attach(self, rule: FaultRule, rng: random.Random, job_id: str) -> None:
        faults = self._org.processor.job_faults
        if rule.action == "requeue_batch":
            faults.requeue(job_id, rule.times)
        else:
            faults.fail(job_id, rule.message or f"InternalServerError : {_unexpected(rng)}", rule.after_batches)


def _handled(request: Request, handle: Callable[[Request], Response]) -> Response:
    """The org's response to a request, errors included, for rules that act after it."""
    try:
        return handle(request)
    except ApiError as error:
        return Response.error(error)


def _unexpected(rng: random.Random) -> str:
    """Salesforce's message for an internal error, with an ErrorId drawn from the rule's generator."""
    error_id = f"{rng.randrange(10**9, 2 * 10**9)}-{rng.randrange(10**4, 10**5)}"
    return _UNEXPECTED.format(error_id, -rng.randrange(10**9, 2 * 10**9))


def _injected_error(rule: FaultRule, rng: random.Random) -> InjectedError:
    code, message = _ERRORS.get(rule.status, ("UNKNOWN_EXCEPTION", ""))
    message = message or _unexpected(rng)
    headers = {} if rule.retry_after is None else {"Retry-After": str(rule.retry_after)}
    return InjectedError(rule.status, rule.error_code or code, rule.message or message, headers=headers)
