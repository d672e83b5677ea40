"""Authenticated HTTP calls to one org, with explicit retry and re-login loops.

Transient failures (dropped connections, timeouts, HTTP 5xx, 429 and ``REQUEST_LIMIT_EXCEEDED``) are retried
with exponential backoff and full jitter. A 401 ``INVALID_SESSION_ID`` logs in again once and repeats the call.
TLS trust is passed per request, so ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` cannot override ``ca_file``.

Examples:
    >>> transport = Transport(credentials, ca_file="/etc/ssl/private-ca.pem")
    >>> transport.call("GET", "limits").json()["DailyApiRequests"]
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import requests

from .auth import Credentials, OrgSession, login
from .errors import ApiError

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_DOWNLOAD_CHUNK = 1 << 20


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        max_attempts: Attempts per call, the first included.
        base_delay: Seconds before the first retry; each later one doubles it.
        max_delay: Upper bound of any one delay.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): full jitter under an exponential cap."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))


class Transport:
    """Calls the REST API of one org as one user.

    Args:
        credentials: How to log in (and log in again when the session expires).
        ca_file: A PEM bundle to trust instead of the system's, for private CAs and the local org.
        retry: How to retry transient failures.
        timeout: ``(connect, read)`` seconds per request.
        session: A ``requests.Session`` to use; one is created when omitted.
        org: An already established session, to skip the first login.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        ca_file: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 300.0),
        session: requests.Session | None = None,
        org: OrgSession | None = None,
    ) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.verify: bool | str = ca_file or True
        self.http = session or requests.Session()
        self.limit_info: str | None = None
        self._org = org
        self._login_lock = threading.Lock()
        self.logins = 0

    @property
    def org(self) -> OrgSession:
        """The current session, logging in on first use."""
        if self._org is None:
            self._relogin(stale=None)
        assert self._org is not None
        return self._org

    @property
    def api_version(self) -> str:
        return self.credentials.api_version

    def url(self, path: str, api: str = "data") -> str:
        """The URL of ``path`` under ``/services/data/vXX.X/`` (Bulk API 1.0: ``/services/async/XX.X/``)."""
        if api == "async":
            return f"{self.org.instance_url}/services/async/{self.api_version}/{path.lstrip('/')}"
        return f"{self.org.instance_url}/services/data/v{self.api_version}/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        expected: tuple[int, ...] = (200,),
        stream: bool = False,
        api: str = "data",
        retry: bool = True,
    ) -> requests.Response:
        """Send one API call, retrying transient failures and re-logging in on an expired session.

        Args:
            method: The HTTP method.
            path: The path under ``/services/data/vXX.X/``.
            json: A JSON body.
            body: A raw body; a file object is rewound before each retry and streamed, never read whole.
            headers: Extra headers.
            expected: The status codes that mean success.
            stream: Leave the response body unread (for large downloads).
            api: ``data`` for the REST API, ``async`` for Bulk API 1.0 (its own path and session header).
            retry: Retry transient failures. Off for calls that must not be repeated blindly, such as an
                upload the server may have stored although the answer was lost.

        Raises:
            ApiError: On a non-transient error status, or a transient one that outlived the retries.
            requests.RequestException: When the network failed on every attempt.
        """
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        relogged = False
        attempts = self.retry.max_attempts if retry else 1
        attempt = 0
        while True:
            attempt += 1
            if body is not None and not isinstance(body, bytes):
                body.seek(start)
            org = self.org
            request_headers = {"Authorization": f"Bearer {org.access_token}", "Accept": "application/json"}
            if api == "async":
                request_headers = {"X-SFDC-Session": org.access_token, "Accept": "application/xml"}
            request_headers.update(headers or {})
            try:
                response = self.http.request(
                    method,
                    self.url(path, api),
                    json=json,
                    data=body,
                    headers=request_headers,
                    verify=self.verify,
                    timeout=self.timeout,
                    stream=stream,
                )
            except _TRANSIENT_ERRORS as error:
                if attempt >= attempts:
                    raise
                self._pause(attempt, method, path, type(error).__name__)
                continue
            self.limit_info = response.headers.get("Sforce-Limit-Info", self.limit_info)
            if response.status_code in expected:
                return response
            error = self._error(response, method, path)
            if error.code in ("INVALID_SESSION_ID", "InvalidSessionId") and not relogged:
                relogged = True
                self._relogin(stale=org)
                continue
            if _transient(error) and attempt < attempts:
                self._pause(attempt, method, path, f"HTTP {error.status} {error.code}".strip())
                continue
            raise error

    def download(self, path: str, sink: Callable[[bytes], object], api: str = "data") -> int:
        """Stream a response body into ``sink`` chunk by chunk; returns the byte count.

        A connection dropped mid-body restarts the download; ``sink`` must then accept the body again from
        its start, so it is called with ``b""`` first on each attempt as a reset signal.
        """
        attempt = 0
        while True:
            attempt += 1
            response = self.call("GET", path, headers={"Accept": "text/csv"}, stream=True, api=api)
            sink(b"")
            size = 0
            try:
                for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                    size += len(chunk)
                    sink(chunk)
                return size
            except _TRANSIENT_ERRORS as error:
                if attempt >= self.retry.max_attempts:
                    raise
                self._pause(attempt, "GET", path, f"{type(error).__name__} mid-body")
            finally:
                response.close()

    def _relogin(self, stale: OrgSession | None) -> None:
        with self._login_lock:
            # Another thread may already have replaced the stale session.
            if self._org is not None and self._org is not stale:
                return
            attempt = 0
            while True:
                attempt += 1
                try:
                    self._org = login(self.http, self.credentials, verify=self.verify)
                    self.logins += 1
                    log.info("logged in to %s (%s)", self._org.instance_url, self.credentials.method)
                    return
                except _TRANSIENT_ERRORS as error:
                    if attempt >= self.retry.max_attempts:
                        raise
                    self._pause(attempt, "POST", "login", type(error).__name__)

    def _pause(self, attempt: int, method: str, path: str, reason: str) -> None:
        delay = self.retry.delay(attempt)
        log.warning("%s %s: %s; retry %d in %.2fs", method, path, reason, attempt, delay)
        time.sleep(delay)

    @staticmethod
    def _error(response: requests.Response, method: str, path: str) -> ApiError:
        code, message = "", response.text[:500]
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, list) and payload and isinstance(payload[0], dict):
            payload = payload[0]
        if isinstance(payload, dict):
            code = str(payload.get("errorCode") or payload.get("error") or payload.get("exceptionCode") or "")
            message = str(
                payload.get("message") or payload.get("error_description") or payload.get("exceptionMessage") or message
            )
        elif payload is None and "<exceptionCode>" in response.text:
            # Bulk API 1.0 answers errors in XML.
            code = _xml_text(response.text, "exceptionCode")
            message = _xml_text(response.text, "exceptionMessage") or message
        return ApiError(response.status_code, code, message, method=method, path=path.split("?", 1)[0])


def _xml_text(document: str, tag: str) -> str:
    start = document.find(f"<{tag}>")
    end = document.find(f"</{tag}>", start)
    return document[start + len(tag) + 2 : end].strip() if start >= 0 and end > start else ""


def is_transient(error: BaseException) -> bool:
    """Whether a failed call may succeed if made again: network failures, 5xx, 429 and REQUEST_LIMIT_EXCEEDED."""
    if isinstance(error, ApiError):
        return _transient(error)
    return isinstance(error, _TRANSIENT_ERRORS)


def _transient(error: ApiError) -> bool:
    if error.status in _TRANSIENT_STATUS or error.code == "REQUEST_LIMIT_EXCEEDED":
        return True
    # Bulk API 1.0 reports the request limit as ExceededQuota; its daily batch allocation shares that code.
    return error.code == "ExceededQuota" and error.message.startswith("TotalRequests")
