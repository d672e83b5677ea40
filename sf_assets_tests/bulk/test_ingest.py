from __future__ import annotations

import csv
import io
import itertools

import pytest

from sf_assets.bulk import Credentials, IngestClient, JobFailedError, JobSpec, Transport
from sf_assets.bulk.errors import ApiError
from sf_assets.bulk.ingest import PollSchedule
from sf_assets.emulator import LocalOrg

_QUICK = PollSchedule(initial=0.02, factor=1.5, maximum=0.2, timeout=30)


@pytest.fixture
def jobs(org: LocalOrg, soap_credentials: Credentials) -> IngestClient:
    return IngestClient(Transport(soap_credentials, ca_file=str(org.tls.ca_file)))


def _run(jobs: IngestClient, spec: JobSpec, csv_text: str) -> str:
    job = jobs.create(spec)
    jobs.upload(job.id, io.BytesIO(csv_text.encode()))
    jobs.close(job.id)
    return job.id


def _rows(jobs: IngestClient, job_id: str, kind: str) -> list[dict[str, str]]:
    body = io.BytesIO()
    jobs.results(job_id, kind, body.write)
    return list(csv.DictReader(io.StringIO(body.getvalue().decode())))


def test_create_opens_a_job(jobs: IngestClient) -> None:
    job = jobs.create(JobSpec("Account", "insert"))
    assert (job.id[:3], job.state) == ("750", "Open")


def test_a_job_runs_to_completion(jobs: IngestClient) -> None:
    job_id = _run(jobs, JobSpec("Account", "insert"), "Name\nAcme\nTech\n")
    info = jobs.wait(job_id, _QUICK)
    assert (info.state, info.processed, info.failed) == ("JobComplete", 2, 0)


def test_failed_results_carry_the_error_and_the_row(jobs: IngestClient) -> None:
    job_id = _run(jobs, JobSpec("Account", "upsert", "Oracle_Id__c"), "Oracle_Id__c,Name\nORA-1,Acme\nORA-2,\n")
    assert jobs.wait(job_id, _QUICK).failed == 1
    [failed] = _rows(jobs, job_id, "failedResults")
    assert failed["Oracle_Id__c"] == "ORA-2"
    assert failed["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"


def test_successful_results_carry_the_new_ids(jobs: IngestClient) -> None:
    job_id = _run(jobs, JobSpec("Account", "insert"), "Name\nAcme\n")
    jobs.wait(job_id, _QUICK)
    [success] = _rows(jobs, job_id, "successfulResults")
    assert (success["sf__Id"][:3], success["sf__Created"], success["Name"]) == ("001", "true", "Acme")


def test_a_failed_job_raises_with_salesforce_error_message(jobs: IngestClient) -> None:
    job_id = _run(jobs, JobSpec("Account", "insert"), "Name,NoSuchField__c\nAcme,x\n")
    with pytest.raises(JobFailedError, match="InvalidBatch : Field name not found : NoSuchField__c"):
        jobs.wait(job_id, _QUICK)


def test_an_aborted_job_leaves_its_rows_unprocessed(jobs: IngestClient) -> None:
    job = jobs.create(JobSpec("Account", "insert"))
    jobs.upload(job.id, b"Name\nAcme\n")
    assert jobs.abort(job.id).state == "Aborted"
    assert [row["Name"] for row in _rows(jobs, job.id, "unprocessedrecords")] == ["Acme"]


def test_an_unknown_result_kind_is_refused(jobs: IngestClient) -> None:
    with pytest.raises(ValueError, match="unknown result kind 'allResults'"):
        jobs.results("750x", "allResults", print)


def test_waiting_times_out(jobs: IngestClient) -> None:
    job = jobs.create(JobSpec("Account", "insert"))  # never closed: stays Open
    with pytest.raises(TimeoutError, match=f"{job.id} still Open"):
        jobs.wait(job.id, PollSchedule(initial=0.01, maximum=0.01, timeout=0.05))


def test_poll_intervals_start_small_and_back_off_to_the_maximum() -> None:
    intervals = list(itertools.islice(PollSchedule(initial=0.1, factor=2, maximum=1.0).intervals(), 6))
    assert intervals == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_an_upsert_job_names_its_external_id() -> None:
    body = JobSpec("Contact", "upsert", "External_Id__c").body()
    assert (body["externalIdFieldName"], body["lineEnding"], body["columnDelimiter"]) == (
        "External_Id__c",
        "LF",
        "COMMA",
    )


def test_closing_a_job_again_reports_it_instead_of_failing(jobs: IngestClient) -> None:
    job_id = _run(jobs, JobSpec("Account", "insert"), "Name\nAcme\n")
    assert jobs.close(job_id).state in ("UploadComplete", "InProgress", "JobComplete")


def test_closing_an_aborted_job_still_fails(jobs: IngestClient) -> None:
    job = jobs.create(JobSpec("Account", "insert"))
    jobs.abort(job.id)
    with pytest.raises(ApiError, match="INVALIDJOBSTATE"):
        jobs.close(job.id)


def test_abandoning_a_job_aborts_it(jobs: IngestClient) -> None:
    job = jobs.create(JobSpec("Account", "insert"))
    jobs.abandon(job.id)
    assert jobs.info(job.id).state == "Aborted"


def test_finishing_makes_no_call() -> None:
    class _NoCalls:
        def call(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("finish() called the org")

    IngestClient(_NoCalls()).finish()  # type: ignore[arg-type]
