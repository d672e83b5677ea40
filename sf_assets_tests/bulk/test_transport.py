from __future__ import annotations

import io
import json
import logging

import pytest
import requests

from sf_assets.bulk import ApiError, Credentials, OrgSession, RetryPolicy, Transport
from sf_assets.bulk.transport import is_transient
from sf_assets.emulator import LocalOrg
from sf_assets_tests.conftest import operator_call

from .stub_server import Answer, stub_server

_FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)


def _transport(base_url: str, retry: RetryPolicy = _FAST) -> Transport:
    credentials = Credentials(session_id="token", instance_url=base_url)
    return Transport(credentials, retry=retry, org=OrgSession(base_url, "token"))


def _error(status: int, code: str) -> Answer:
    return Answer(status, json.dumps([{"errorCode": code, "message": f"{code} happened"}]).encode())


def test_a_503_is_retried() -> None:
    with stub_server([_error(503, "SERVER_UNAVAILABLE"), Answer(200, b'{"ok": true}')]) as (url, script):
        assert _transport(url).call("GET", "limits").json() == {"ok": True}
    assert len(script.requests) == 2


def test_request_limit_exceeded_is_retried() -> None:
    with stub_server([_error(403, "REQUEST_LIMIT_EXCEEDED"), Answer(200)]) as (url, script):
        _transport(url).call("GET", "limits")
    assert len(script.requests) == 2


def test_a_429_is_retried() -> None:
    with stub_server([Answer(429, b"slow down", "text/plain"), Answer(200)]) as (url, script):
        _transport(url).call("GET", "limits")
    assert len(script.requests) == 2


def test_a_dropped_connection_is_retried() -> None:
    with stub_server([Answer(drop=True), Answer(200)]) as (url, script):
        _transport(url).call("GET", "limits")
    assert len(script.requests) == 2


def test_retries_stop_at_max_attempts() -> None:
    with stub_server([_error(500, "UNKNOWN_EXCEPTION")] * 5) as (url, script), pytest.raises(ApiError) as raised:
        _transport(url).call("GET", "limits")
    assert (raised.value.status, raised.value.code, len(script.requests)) == (500, "UNKNOWN_EXCEPTION", 3)


def test_a_client_error_is_not_retried() -> None:
    with (
        stub_server([_error(400, "INVALIDJOBSTATE")]) as (url, script),
        pytest.raises(ApiError, match="INVALIDJOBSTATE"),
    ):
        _transport(url).call("PATCH", "jobs/ingest/750x", json={"state": "Aborted"})
    assert len(script.requests) == 1


def test_a_file_body_is_sent_whole_on_every_attempt() -> None:
    body = io.BytesIO(b"header\nrow-1\nrow-2\n")
    body.seek(7)  # the upload starts at the file's position, here after the header
    with stub_server([_error(503, "SERVER_UNAVAILABLE"), Answer(201, b"")]) as (url, script):
        _transport(url).call("PUT", "jobs/ingest/750x/batches", body=body, expected=(201,))
    assert [request[2] for request in script.requests] == [b"row-1\nrow-2\n", b"row-1\nrow-2\n"]


def test_a_download_cut_short_starts_over() -> None:
    received: list[bytes] = []
    answers = [Answer(200, b"a,b\n1,2\n", "text/csv", truncate=True), Answer(200, b"a,b\n1,2\n", "text/csv")]
    with stub_server(answers) as (url, _script):
        size = _transport(url).download("jobs/ingest/750x/failedResults", received.append)
    assert size == 8
    assert b"".join(received[received.index(b"", 1) :]) == b"a,b\n1,2\n"


def test_limit_info_header_is_kept(org: LocalOrg, soap_credentials: Credentials) -> None:
    transport = Transport(soap_credentials, ca_file=str(org.tls.ca_file))
    transport.call("GET", "limits")
    assert transport.limit_info is not None
    assert transport.limit_info.startswith("api-usage=")


def test_an_expired_session_logs_in_again(
    org: LocalOrg, org_session: requests.Session, soap_credentials: Credentials
) -> None:
    transport = Transport(soap_credentials, ca_file=str(org.tls.ca_file))
    transport.call("GET", "limits")
    operator_call(org, org_session, "POST", "sessions/revoke")
    assert transport.call("GET", "limits").status_code == 200
    assert transport.logins == 2


def test_a_ready_session_that_expired_fails_with_invalid_session(org: LocalOrg, org_session: requests.Session) -> None:
    token = org.new_session()
    transport = Transport(Credentials(session_id=token, instance_url=org.instance_url), ca_file=str(org.tls.ca_file))
    operator_call(org, org_session, "POST", "sessions/revoke", {"token": token})
    with pytest.raises(ApiError, match="INVALID_SESSION_ID"):
        transport.call("GET", "limits")


def test_logs_never_show_a_secret(
    org: LocalOrg, org_session: requests.Session, soap_credentials: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = Transport(soap_credentials, ca_file=str(org.tls.ca_file))
    transport.call("GET", "limits")
    operator_call(org, org_session, "POST", "sessions/revoke")
    transport.call("GET", "limits")
    with pytest.raises(ApiError):
        transport.call("GET", "jobs/ingest/750000000000000AAA")
    secrets = [soap_credentials.password, soap_credentials.security_token, transport.org.access_token]
    assert caplog.records
    assert not [secret for secret in secrets if secret and secret in caplog.text]


def test_bulk1_request_limit_is_transient() -> None:
    error = ApiError(403, "ExceededQuota", "TotalRequests Limit exceeded.", method="GET", path="job/750/batch/751")
    assert is_transient(error)


def test_bulk1_spent_batch_allocation_is_not_transient() -> None:
    message = "The daily limit of Bulk API batches or records has been exceeded"
    assert not is_transient(ApiError(400, "ExceededQuota", message, method="POST", path="job/750/batch"))
