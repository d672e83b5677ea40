"""Lock contention: a child's write locks its parent for its transaction; contenders wait, then fail.

Interleaving one parent's children across parallel jobs fails rows with ``UNABLE_TO_LOCK_ROW``;
grouping each parent's children into one job does not.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.locks import RowLocks, lock_error
from sf_assets.emulator.processing import ProcessingModel

_JOBS = "/services/data/v59.0/jobs/ingest"
_LOCK_ERROR = re.compile(
    r"^UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: (001\w{15}):--$"
)
_PARENTS = 4


class _Api:
    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.org = org
        self.session = session
        self.headers = {"Authorization": f"Bearer {org.new_session()}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.session.request(method, self.org.instance_url + path, headers=headers, timeout=10, **kwargs)
        assert response.ok, response.text
        return response

    def configure(self, **processing: Any) -> None:
        self.call("PATCH", "/__org__/config", json={"processing": processing})

    def parents(self) -> list[str]:
        accounts = [{"Name": f"Parent {i}", "Oracle_Id__c": f"P-{i}"} for i in range(_PARENTS)]
        return [row["id"] for row in self.call("POST", "/__org__/records/Account", json=accounts).json()]

    def start(self, csv_text: str) -> str:
        """A Contact insert job with these rows, closed so that it starts processing."""
        job_id = str(self.call("POST", _JOBS, json={"object": "Contact", "operation": "insert"}).json()["id"])
        self.call("PUT", f"{_JOBS}/{job_id}/batches", data=csv_text, headers={"Content-Type": "text/csv"})
        self.call("PATCH", f"{_JOBS}/{job_id}", json={"state": "UploadComplete"})
        return job_id

    def wait(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while (info := self.call("GET", f"{_JOBS}/{job_id}").json())["state"] not in ("JobComplete", "Failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.02)
        return dict(info)

    def errors(self, job_id: str) -> list[str]:
        lines = self.call("GET", f"{_JOBS}/{job_id}/failedResults").text.splitlines()[1:]
        return [line.split('","')[1] for line in lines]

    def contacts(self) -> int:
        return int(self.call("GET", "/__org__/counters").json()["records"]["Contact"])


@pytest.fixture
def api(org: LocalOrg, org_session: Any) -> Iterator[_Api]:
    client = _Api(org, org_session)
    yield client
    defaults = ProcessingModel()
    client.configure(
        lock_model=defaults.lock_model,
        lock_wait=defaults.lock_wait,
        lock_retries=defaults.lock_retries,
        records_per_second=defaults.records_per_second,
    )


def _contacts(rows: list[tuple[int, int]]) -> str:
    """Contact rows (number, parent) linked to their account by its external ID."""
    return "LastName,Account.Oracle_Id__c\n" + "".join(f"Contact {n},P-{parent}\n" for n, parent in rows)


def _run_two_jobs(api: _Api, first: list[tuple[int, int]], second: list[tuple[int, int]]) -> list[dict[str, Any]]:
    # 200-record transactions take 0.2 s, far longer than a contender waits for a lock.
    api.configure(lock_model=True, lock_wait=0.05, records_per_second=1000)
    jobs = [api.start(_contacts(first)), api.start(_contacts(second))]
    return [api.wait(job_id) for job_id in jobs]


def test_interleaved_children_across_parallel_jobs_fail_with_unable_to_lock_row(api: _Api) -> None:
    parents = api.parents()
    rows = [(n, n % _PARENTS) for n in range(800)]  # every transaction of each job touches every parent
    infos = _run_two_jobs(api, rows[:400], rows[400:])
    errors = [error for info in infos for error in api.errors(info["id"])]
    assert sum(info["numberRecordsFailed"] for info in infos) == len(errors) > 0
    matches = [_LOCK_ERROR.match(error) for error in errors]
    assert all(matches)
    assert {match.group(1) for match in matches if match} <= set(parents)
    assert api.contacts() == 800 - len(errors)


def test_grouped_children_across_parallel_jobs_never_contend(api: _Api) -> None:
    api.parents()
    rows = sorted(((n, n % _PARENTS) for n in range(800)), key=lambda row: row[1])
    infos = _run_two_jobs(api, rows[:400], rows[400:])  # parents 0-1 in one job, 2-3 in the other
    assert [(info["numberRecordsProcessed"], info["numberRecordsFailed"]) for info in infos] == [(400, 0)] * 2
    assert [info["retries"] for info in infos] == [0, 0]
    assert api.contacts() == 800


def _hold(org: LocalOrg, record_id: str) -> object:
    """Locks a record as another transaction would, until released."""
    owner = object()
    assert not org.processor.row_locks.acquire([record_id], owner, 0)
    return owner


def test_more_than_100_lock_failures_requeue_the_rest_until_the_retry_limit(api: _Api) -> None:
    [parent, *_] = api.parents()
    owner = _hold(api.org, parent)
    try:
        api.configure(lock_model=True, lock_wait=0.01, lock_retries=2)
        info = api.wait(api.start(_contacts([(n, 0) for n in range(600)])))
    finally:
        api.org.processor.row_locks.release([parent], owner)
    # Each attempt fails a 200-row transaction and re-queues the rest; the third may not, so its
    # last transaction fails too.
    assert (info["state"], info["retries"]) == ("JobComplete", 2)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (600, 600)
    assert set(api.errors(info["id"])) == {lock_error(parent)}


def test_requeued_rest_succeeds_once_the_lock_is_released(api: _Api) -> None:
    [parent, *_] = api.parents()
    owner = _hold(api.org, parent)
    # Each attempt waits 0.05 s for the lock: time enough to release it before every row has failed.
    api.configure(lock_model=True, lock_wait=0.05, lock_retries=10, records_per_second=20_000)
    job_id = api.start(_contacts([(n, 0) for n in range(1000)]))
    deadline = time.monotonic() + 10
    while api.call("GET", f"{_JOBS}/{job_id}").json()["retries"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    api.org.processor.row_locks.release([parent], owner)
    info = api.wait(job_id)
    # Failed rows are not retried; the rest of the batch is.
    assert info["state"] == "JobComplete"
    assert 1 <= info["retries"] < 10
    assert 200 <= info["numberRecordsFailed"] < 1000
    assert info["numberRecordsFailed"] % 200 == 0
    assert api.contacts() == 1000 - info["numberRecordsFailed"]


def test_at_most_100_lock_failures_do_not_requeue(api: _Api) -> None:
    [parent, *_] = api.parents()
    owner = _hold(api.org, parent)
    try:
        api.configure(lock_model=True, lock_wait=0.01)
        rows = [(n, 0) for n in range(100)] + [(n, 1) for n in range(100, 400)]
        info = api.wait(api.start(_contacts(rows)))
    finally:
        api.org.processor.row_locks.release([parent], owner)
    assert (info["retries"], info["numberRecordsFailed"]) == (0, 100)
    assert api.contacts() == 300


def test_a_direct_parent_id_column_locks_too(api: _Api) -> None:
    [parent, *_] = api.parents()
    owner = _hold(api.org, parent)
    try:
        api.configure(lock_model=True, lock_wait=0.01)
        info = api.wait(api.start(f"LastName,AccountId\nLovelace,{parent}\nOrphan,\n"))
    finally:
        api.org.processor.row_locks.release([parent], owner)
    assert api.errors(info["id"]) == [lock_error(parent)]
    assert api.contacts() == 1


def test_a_lock_released_within_the_wait_is_taken(api: _Api) -> None:
    [parent, *_] = api.parents()
    owner = _hold(api.org, parent)
    threading.Timer(0.1, api.org.processor.row_locks.release, args=([parent], owner)).start()
    api.configure(lock_model=True, lock_wait=5)
    info = api.wait(api.start(_contacts([(1, 0)])))
    assert (info["numberRecordsFailed"], api.contacts()) == (0, 1)


def test_without_the_lock_model_held_locks_change_nothing(api: _Api) -> None:
    [parent, *_] = api.parents()
    owner = _hold(api.org, parent)
    try:
        info = api.wait(api.start(_contacts([(n, 0) for n in range(300)])))
    finally:
        api.org.processor.row_locks.release([parent], owner)
    assert (info["numberRecordsFailed"], info["retries"]) == (0, 0)


def test_lock_model_must_be_a_boolean(api: _Api) -> None:
    response = api.session.patch(
        f"{api.org.instance_url}/__org__/config", json={"processing": {"lock_model": "yes"}}, headers=api.headers
    )
    assert response.status_code == 400


def test_lock_error_names_the_parent() -> None:
    assert lock_error("001xx0000000001AAA") == (
        "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 200 records: 001xx0000000001AAA:--"
    )


def test_row_locks_report_what_stayed_locked_after_the_timeout() -> None:
    locks = RowLocks()
    holder, contender = object(), object()
    assert locks.acquire(["a"], holder, 0) == set()
    began = time.monotonic()
    assert locks.acquire(["a", "b"], contender, 0.05) == {"a"}
    assert time.monotonic() - began >= 0.05
    locks.release(["b"], contender)
    assert locks.held() == 1


def test_row_locks_are_reentrant_for_their_owner() -> None:
    locks = RowLocks()
    owner = object()
    assert locks.acquire(["a"], owner, 0) == set()
    assert locks.acquire(["a"], owner, 0) == set()
