"""Fault injection through ``/__org__/faults``: each action, the matching rules, and determinism."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.processing import ProcessingModel

_LIMITS = "/services/data/v59.0/limits"
_JOBS = "/services/data/v59.0/jobs/ingest"
_UNEXPECTED = "An unexpected error occurred. Please include this ErrorId if you contact support: "


class _Api:
    """Plain HTTPS calls with one session token, so statuses, headers and bodies can be read."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.org = org
        self.session = session
        self.token = org.new_session()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}", **kwargs.pop("headers", {})}
        return self.session.request(method, self.org.instance_url + path, headers=headers, timeout=10, **kwargs)

    def faults(self, *rules: dict[str, Any], seed: int = 0) -> dict[str, Any]:
        response = self.call("PUT", "/__org__/faults", json={"seed": seed, "rules": list(rules)})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def statuses(self, count: int, path: str = _LIMITS) -> list[int]:
        return [self.call("GET", path).status_code for _ in range(count)]

    def job(self, rows: int, close: bool = True) -> str:
        """An Account insert job with ``rows`` rows, closed unless told not to."""
        job_id = str(self.call("POST", _JOBS, json={"object": "Account", "operation": "insert"}).json()["id"])
        data = "Name\n" + "".join(f"Account {i}\n" for i in range(rows))
        assert self.call("PUT", f"{_JOBS}/{job_id}/batches", data=data, headers={"Content-Type": "text/csv"}).ok
        if close:
            assert self.call("PATCH", f"{_JOBS}/{job_id}", json={"state": "UploadComplete"}).ok
        return job_id

    def wait(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while (info := self.call("GET", f"{_JOBS}/{job_id}").json())["state"] not in ("JobComplete", "Failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.02)
        return dict(info)

    def accounts(self) -> int:
        return int(self.call("GET", "/__org__/counters").json()["records"]["Account"])


@pytest.fixture
def api(org: LocalOrg, org_session: Any) -> Iterator[_Api]:
    client = _Api(org, org_session)
    yield client
    # Reset clears the rules and refills the limits; the processing model is restored by hand. A
    # fresh token: the test may have revoked its own.
    token = org.new_session()
    assert client.call("POST", "/__org__/reset", token=token).status_code == 204
    restore = {"processing": {"batch_size": ProcessingModel().batch_size}}
    assert client.call("PATCH", "/__org__/config", token=token, json=restore).status_code == 200


def test_500_has_salesforce_unknown_exception_body(api: _Api) -> None:
    api.faults({"method": "GET", "path": "/limits$", "action": "error", "status": 500})
    response = api.call("GET", _LIMITS)
    assert response.status_code == 500
    [error] = response.json()
    assert error["errorCode"] == "UNKNOWN_EXCEPTION"
    assert error["message"].startswith(_UNEXPECTED)


def test_503_has_server_unavailable_body(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 503})
    response = api.call("GET", _LIMITS)
    assert response.status_code == 503
    assert response.json() == [{"message": "Server temporarily unavailable.", "errorCode": "SERVER_UNAVAILABLE"}]


def test_403_is_request_limit_exceeded_byte_for_byte(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 403})
    response = api.call("GET", _LIMITS)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.text == '[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]'


def test_429_carries_retry_after(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 429, "retry_after": 2})
    response = api.call("GET", _LIMITS)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_error_code_and_message_can_be_given(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 500, "error_code": "X", "message": "boom"})
    assert api.call("GET", _LIMITS).json() == [{"message": "boom", "errorCode": "X"}]


def test_only_the_nth_to_mth_matching_requests_fail(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 503, "first": 2, "last": 3})
    assert api.statuses(5) == [200, 503, 503, 200, 200]


def test_method_must_match(api: _Api) -> None:
    api.faults({"method": "POST", "path": "/limits$", "action": "error", "status": 503})
    assert api.statuses(2) == [200, 200]


def test_method_is_matched_in_any_case(api: _Api) -> None:
    api.faults({"method": "get", "path": "/limits$", "action": "error", "status": 503})
    assert api.statuses(1) == [503]


def test_bulk1_paths_get_the_error_as_a_bulk1_exception(api: _Api) -> None:
    api.faults({"path": "^/services/async/", "action": "error", "status": 503})
    response = api.call("GET", "/services/async/59.0/job/750000000000000AAA")
    assert response.status_code == 503
    assert "<exceptionCode>SERVER_UNAVAILABLE</exceptionCode>" in response.text


def test_a_429_on_a_bulk1_path_stays_a_429_with_its_retry_after(api: _Api) -> None:
    api.faults({"path": "^/services/async/", "action": "error", "status": 429, "retry_after": 2})
    response = api.call("GET", "/services/async/59.0/job/750000000000000AAA")
    assert (response.status_code, response.headers.get("Retry-After")) == (429, "2")
    assert "<exceptionCode>ExceededQuota</exceptionCode>" in response.text


def test_path_must_match(api: _Api) -> None:
    api.faults({"path": "/sobjects$", "action": "error", "status": 503})
    assert api.statuses(2) == [200, 200]


def test_probability_draws_repeat_under_the_same_seed(api: _Api) -> None:
    rule = {"path": "/limits$", "action": "error", "status": 503, "probability": 0.5}
    api.faults(rule, seed=7)
    first = api.statuses(16)
    api.faults(rule, seed=7)
    assert api.statuses(16) == first
    assert set(first) == {200, 503}


def test_probability_draws_change_with_the_seed(api: _Api) -> None:
    rule = {"path": "/limits$", "action": "error", "status": 503, "probability": 0.5}
    api.faults(rule, seed=1)
    first = api.statuses(16)
    api.faults(rule, seed=2)
    assert api.statuses(16) != first


def test_first_rule_that_fires_acts(api: _Api) -> None:
    api.faults(
        {"path": "/limits$", "action": "error", "status": 503, "last": 1},
        {"path": "/limits$", "action": "error", "status": 500},
    )
    assert api.statuses(2) == [503, 500]


def test_operator_routes_are_never_faulted(api: _Api) -> None:
    api.faults({"path": ".*", "action": "error", "status": 500})
    assert api.call("GET", "/__org__/counters").status_code == 200
    assert api.call("GET", _LIMITS).status_code == 500


def test_login_routes_can_be_faulted(api: _Api) -> None:
    api.faults({"method": "POST", "path": "/services/oauth2/token$", "action": "error", "status": 503})
    form = {"grant_type": "client_credentials"}
    assert api.session.post(f"{api.org.instance_url}/services/oauth2/token", data=form).status_code == 503


def test_get_reports_rules_with_matched_and_fired_counts(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 503, "first": 2}, seed=3)
    api.statuses(3)
    state = api.call("GET", "/__org__/faults").json()
    assert state == {
        "seed": 3,
        "rules": [{"action": "error", "path": "/limits$", "first": 2, "status": 503, "matched": 3, "fired": 2}],
    }


def test_delete_clears_every_rule(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 503})
    assert api.call("DELETE", "/__org__/faults").status_code == 204
    assert api.statuses(1) == [200]


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ({"action": "explode"}, "action must be one of"),
        ({"action": "error", "colour": "red"}, "Unknown fault rule fields: colour"),
        ({"action": "error", "path": "("}, "path is not a regular expression"),
        ({"action": "error", "first": 3, "last": 2}, "last must be an integer no smaller than first"),
        ({"action": "error", "probability": 2}, "probability must be between 0 and 1"),
        ({"action": "exhaust_limit", "limit": "Nope"}, "Unknown limit Nope"),
        ({"path": ".*"}, "Invalid fault rule"),
    ],
)
def test_invalid_rules_are_refused_and_change_nothing(api: _Api, rule: dict[str, Any], complaint: str) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 503})
    response = api.call("PUT", "/__org__/faults", json={"rules": [rule]})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"
    assert complaint in response.json()[0]["message"]
    assert len(api.call("GET", "/__org__/faults").json()["rules"]) == 1


def test_delay_slows_the_response(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "delay", "seconds": 0.3})
    began = time.monotonic()
    assert api.call("GET", _LIMITS).status_code == 200
    assert time.monotonic() - began >= 0.3


def test_drop_closes_the_connection_without_an_answer(api: _Api) -> None:
    api.faults({"method": "POST", "path": "/jobs/ingest$", "action": "drop"})
    with pytest.raises(requests.ConnectionError):
        api.call("POST", _JOBS, json={"object": "Account", "operation": "insert"})
    assert api.call("GET", _JOBS).json()["records"] == []


def test_drop_after_handling_keeps_the_effect_the_client_never_saw(api: _Api) -> None:
    api.faults({"method": "POST", "path": "/jobs/ingest$", "action": "drop", "when": "after"})
    with pytest.raises(requests.ConnectionError):
        api.call("POST", _JOBS, json={"object": "Account", "operation": "insert"})
    assert len(api.call("GET", _JOBS).json()["records"]) == 1


def _raw_get(org: LocalOrg, token: str, path: str) -> http.client.HTTPResponse:
    url = urlsplit(org.instance_url)
    context = ssl.create_default_context(cafile=org.connection()["ca_file"])
    connection = http.client.HTTPSConnection(str(url.hostname), url.port, context=context, timeout=5)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    return connection.getresponse()


def test_drop_mid_response_sends_headers_and_part_of_the_body(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "drop_mid_response", "bytes": 10})
    response = _raw_get(api.org, api.token, _LIMITS)
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert len(caught.value.partial) == 10


def test_drop_mid_response_cuts_a_streamed_result_file(api: _Api) -> None:
    job_id = api.job(500)
    api.wait(job_id)
    api.faults({"path": "/successfulResults$", "action": "drop_mid_response", "bytes": 100})
    response = _raw_get(api.org, api.token, f"{_JOBS}/{job_id}/successfulResults")
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        response.read()


def test_drop_mid_response_fails_a_requests_client(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "drop_mid_response"})
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        api.call("GET", _LIMITS)


def test_revoke_session_answers_then_refuses_that_token(api: _Api) -> None:
    other = api.org.new_session()
    api.faults({"method": "GET", "path": "/jobs/ingest/", "action": "revoke_session", "first": 2})
    job_id = api.job(3, close=False)
    assert api.call("GET", f"{_JOBS}/{job_id}").status_code == 200
    assert api.call("GET", f"{_JOBS}/{job_id}").status_code == 200  # the revoking request is answered
    refused = api.call("GET", f"{_JOBS}/{job_id}")
    assert refused.status_code == 401
    assert refused.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert api.call("GET", f"{_JOBS}/{job_id}", token=other).status_code == 200


def test_revoke_session_before_refuses_the_matching_request(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "revoke_session", "when": "before"})
    assert api.statuses(1) == [401]


def test_fail_job_ends_failed_with_internal_server_error(api: _Api) -> None:
    api.faults({"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "fail_job"})
    info = api.wait(api.job(5))
    assert info["state"] == "Failed"
    assert info["errorMessage"].startswith("InternalServerError : " + _UNEXPECTED)
    assert info["numberRecordsProcessed"] == 0
    unprocessed = api.call("GET", f"{_JOBS}/{info['id']}/unprocessedrecords").text.splitlines()
    assert len(unprocessed) == 1 + 5
    assert api.accounts() == 0


def test_fail_job_message_repeats_under_the_same_seed(api: _Api) -> None:
    rule = {"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "fail_job"}
    api.faults(rule, seed=11)
    first = api.wait(api.job(1))["errorMessage"]
    api.faults(rule, seed=11)
    assert api.wait(api.job(1))["errorMessage"] == first


def test_fail_job_attaches_to_the_job_a_create_returns(api: _Api) -> None:
    api.faults({"method": "POST", "path": "/jobs/ingest$", "action": "fail_job", "message": "Unknown : gone"})
    info = api.wait(api.job(2))
    assert (info["state"], info["errorMessage"]) == ("Failed", "Unknown : gone")


def test_fail_job_after_batches_keeps_the_batches_already_done(api: _Api) -> None:
    # One worker at a time would be needed to know which batch; two batches of one job finish first.
    api.call("PATCH", "/__org__/config", json={"processing": {"batch_size": 10}})
    api.faults({"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "fail_job", "after_batches": 2})
    info = api.wait(api.job(100))
    assert info["state"] == "Failed"
    assert 20 <= info["numberRecordsProcessed"] < 100
    assert api.accounts() == info["numberRecordsProcessed"]


def test_requeue_batch_bumps_retries_and_processes_every_row(api: _Api) -> None:
    api.faults({"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "requeue_batch", "times": 2})
    info = api.wait(api.job(50))
    assert (info["state"], info["retries"]) == ("JobComplete", 2)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (50, 0)
    assert api.accounts() == 50


_BULK1 = "/services/async/59.0/job"
_BULK1_JOB = _BULK1 + "/\\w+$"
_BULK1_BATCH = _BULK1 + "/\\w+/batch$"


def _bulk1_job(api: _Api, *batches: int, serial: bool = False) -> str:
    """A 1.0 Account insert job (created in XML, as the writer does) with batches of these many rows, closed."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
        "<operation>insert</operation><object>Account</object>"
        f"<concurrencyMode>{'Serial' if serial else 'Parallel'}</concurrencyMode>"
        "<contentType>CSV</contentType></jobInfo>"
    )
    created = api.call("POST", _BULK1, data=body, headers={"Content-Type": "application/xml"})
    job_id = created.text.split("<id>")[1].split("</id>")[0]
    for number, rows in enumerate(batches):
        data = "Name\n" + "".join(f"Account {number}-{i}\n" for i in range(rows))
        assert api.call("POST", f"{_BULK1}/{job_id}/batch", data=data, headers={"Content-Type": "text/csv"}).ok
    closing = {"state": "Closed"}
    assert api.call("POST", f"{_BULK1}/{job_id}", json=closing).ok
    return job_id


def _bulk1_batches(api: _Api, job_id: str) -> list[dict[str, Any]]:
    """The job's batches once every one has ended."""
    deadline = time.monotonic() + 10
    while True:
        batches = api.call("GET", f"{_BULK1}/{job_id}/batch", headers={"Accept": "application/json"}).json()
        if all(batch["state"] in ("Completed", "Failed") for batch in batches["batchInfo"]):
            return list(batches["batchInfo"])
        assert time.monotonic() < deadline, batches
        time.sleep(0.02)


def test_fail_job_fails_a_bulk1_batch_and_writes_none_of_its_rows(api: _Api) -> None:
    api.faults({"method": "POST", "path": _BULK1_BATCH, "action": "fail_job"})
    [batch] = _bulk1_batches(api, _bulk1_job(api, 5))
    assert (batch["state"], batch["numberRecordsProcessed"]) == ("Failed", 0)
    assert batch["stateMessage"].startswith("InternalServerError : " + _UNEXPECTED)
    assert api.accounts() == 0


def test_fail_job_fails_one_bulk1_batch_after_batches_attached_at_create(api: _Api) -> None:
    # Serial, so the batches run in order; a 1.0 batch fails alone, the job's later batches still run.
    api.faults({"method": "POST", "path": _BULK1 + "$", "action": "fail_job", "after_batches": 1, "message": "X : y"})
    batches = _bulk1_batches(api, _bulk1_job(api, 2, 3, 4, serial=True))
    assert [(batch["state"], batch.get("stateMessage")) for batch in batches] == [
        ("Completed", None),
        ("Failed", "X : y"),
        ("Completed", None),
    ]
    assert api.accounts() == 6


def test_requeue_batch_runs_a_bulk1_batch_again_counted_in_retries(api: _Api) -> None:
    api.faults({"method": "POST", "path": _BULK1_BATCH, "action": "requeue_batch", "times": 2})
    job_id = _bulk1_job(api, 50)
    [batch] = _bulk1_batches(api, job_id)
    assert (batch["state"], batch["numberRecordsProcessed"]) == ("Completed", 50)
    info = api.call("GET", f"{_BULK1}/{job_id}", headers={"Accept": "application/json"}).json()
    assert info["numberRetries"] == 2
    assert api.accounts() == 50


def test_exhausted_api_requests_refuse_every_call_but_the_operator(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "exhaust_limit", "limit": "DailyApiRequests", "last": 1})
    refused = api.call("GET", _LIMITS)
    assert refused.status_code == 403
    assert refused.json() == [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
    assert api.call("GET", "/services/data/v59.0/sobjects").status_code == 403
    assert api.call("GET", "/__org__/counters").json()["limits"]["DailyApiRequests"]["Remaining"] == 0


def test_exhausted_ingest_records_fail_the_job_with_exceeded_quota(api: _Api) -> None:
    api.faults({"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "exhaust_limit"} | _records_left(0))
    info = api.wait(api.job(5))
    assert info["state"] == "Failed"
    assert info["errorMessage"].startswith("ExceededQuota : ")
    assert api.accounts() == 0


def test_exhausted_bulk_batches_fail_the_job_with_exceeded_quota(api: _Api) -> None:
    rule = {"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "exhaust_limit", "limit": "DailyBulkApiBatches"}
    api.faults(rule)
    info = api.wait(api.job(5))
    assert (info["state"], info["errorMessage"][:15]) == ("Failed", "ExceededQuota :")


def test_limit_left_partly_runs_out_mid_job(api: _Api) -> None:
    api.call("PATCH", "/__org__/config", json={"processing": {"batch_size": 10}})
    api.faults({"method": "PATCH", "path": "/jobs/ingest/\\w+$", "action": "exhaust_limit"} | _records_left(30))
    info = api.wait(api.job(100))
    # Failed only once every batch has ended, so the counts and result files are final.
    assert (info["state"], info["numberRecordsProcessed"]) == ("Failed", 30)
    unprocessed = api.call("GET", f"{_JOBS}/{info['id']}/unprocessedrecords").text.splitlines()
    assert len(unprocessed) - 1 == 70


def _records_left(remaining: int) -> dict[str, Any]:
    return {"limit": "DailyBulkV2IngestRecords", "remaining": remaining}


def test_reset_clears_the_rules(api: _Api) -> None:
    api.faults({"path": "/limits$", "action": "error", "status": 503})
    assert api.call("POST", "/__org__/reset").status_code == 204
    assert json.loads(api.call("GET", "/__org__/faults").text)["rules"] == []
