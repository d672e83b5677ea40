from __future__ import annotations

import csv
import io

import pytest
import requests

from sf_assets.bulk import ApiError, Credentials, JobSpec, Transport
from sf_assets.bulk.bulk1 import BatchFailedError, Bulk1Client
from sf_assets.bulk.ingest import PollSchedule
from sf_assets.emulator import LocalOrg
from sf_assets_tests.conftest import operator_call

_QUICK = PollSchedule(initial=0.02, factor=1.5, maximum=0.2, timeout=30)


@pytest.fixture
def bulk1(org: LocalOrg, soap_credentials: Credentials) -> Bulk1Client:
    return Bulk1Client(Transport(soap_credentials, ca_file=str(org.tls.ca_file)))


def _results(bulk1: Bulk1Client, job_id: str, batch_id: str) -> list[dict[str, str]]:
    body = io.BytesIO()
    bulk1.batch_results(job_id, batch_id, body.write)
    return list(csv.DictReader(io.StringIO(body.getvalue().decode())))


def test_a_batch_runs_and_reports_in_input_order(bulk1: Bulk1Client) -> None:
    job = bulk1.create_job(JobSpec("Account", "insert"))
    batch = bulk1.add_batch(job, io.BytesIO(b"Name,Phone\nAcme,1\n,2\nTech,3\n"))
    bulk1.close_job(job)
    info = bulk1.wait_batch(job, batch.id, _QUICK)
    assert (info.state, info.processed, info.failed) == ("Completed", 3, 1)
    rows = _results(bulk1, job, batch.id)
    assert [row["Success"] for row in rows] == ["true", "false", "true"]
    assert rows[1]["Error"].startswith("REQUIRED_FIELD_MISSING:")


def test_an_upsert_job_matches_on_its_external_id(bulk1: Bulk1Client, org: LocalOrg) -> None:
    for name in ("First", "Second"):
        job = bulk1.create_job(JobSpec("Account", "upsert", "Oracle_Id__c"), serial=True)
        batch = bulk1.add_batch(job, f"Oracle_Id__c,Name\nORA-1,{name}\n".encode())
        bulk1.close_job(job)
        bulk1.wait_batch(job, batch.id, _QUICK)
    [row] = _results(bulk1, job, batch.id)
    assert row["Created"] == "false"


def test_a_failed_batch_raises_with_its_state_message(bulk1: Bulk1Client) -> None:
    job = bulk1.create_job(JobSpec("Account", "insert"))
    batch = bulk1.add_batch(job, b"Name,NoSuchField__c\nAcme,x\n")
    bulk1.close_job(job)
    with pytest.raises(BatchFailedError, match="NoSuchField__c"):
        bulk1.wait_batch(job, batch.id, _QUICK)


def test_an_unknown_job_is_an_api_error_with_the_exception_code(bulk1: Bulk1Client) -> None:
    with pytest.raises(ApiError) as raised:
        bulk1.batch_info("750000000000000AAA", "751000000000000AAA")
    assert raised.value.code == "InvalidJob"


def test_an_expired_session_logs_in_again(bulk1: Bulk1Client, org: LocalOrg, org_session: requests.Session) -> None:
    bulk1.create_job(JobSpec("Account", "insert"))
    operator_call(org, org_session, "POST", "sessions/revoke")
    assert bulk1.create_job(JobSpec("Account", "insert"))
    assert bulk1.transport.logins == 2


def test_closing_a_closed_job_again_is_not_an_error(bulk1: Bulk1Client) -> None:
    # A close whose answer was lost is sent again, and finds the job closed by the first.
    job = bulk1.create_job(JobSpec("Account", "insert"))
    bulk1.close_job(job)
    bulk1.close_job(job)
    assert bulk1.job_state(job) == "Closed"


def test_closing_an_aborted_job_is_an_error(bulk1: Bulk1Client) -> None:
    job = bulk1.create_job(JobSpec("Account", "insert"))
    bulk1.abort_job(job)
    with pytest.raises(ApiError, match="InvalidJobState"):
        bulk1.close_job(job)


def test_a_jobs_batches_are_listed_in_the_order_added(bulk1: Bulk1Client) -> None:
    job = bulk1.create_job(JobSpec("Account", "insert"))
    added = [bulk1.add_batch(job, f"Name\nAccount {i}\n".encode()).id for i in range(3)]
    assert [batch.id for batch in bulk1.list_batches(job)] == added
