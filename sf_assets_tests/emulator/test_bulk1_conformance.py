"""The org's Bulk API 1.0 XML documents have the shape of the recorded Salesforce responses.

Each ``../shared/reference/recorded/bulk1_*_xml.tpl`` is compared with the org's answer to the same
call: line by line with element text left out (declaration, namespace line, element order and
indentation), then every value the recording shows literally.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from sf_assets.emulator import LocalOrg

from .reference import RECORDED_DIR, SKIP_REASON

_TEXT = re.compile(r">[^<]*</")
_LITERAL = re.compile(r"^\s*<(\w+)>([^<{]*)</\1>$")
_JOB = (
    '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
    "<operation>{operation}</operation><object>Account</object>{extra}<contentType>CSV</contentType></jobInfo>"
)


class _Calls:
    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.session = session
        self.headers = {"X-SFDC-Session": org.new_session(), "Content-Type": "application/xml"}
        self.base = f"{org.instance_url}/services/async/59.0/job"

    def create(self, operation: str = "insert", extra: str = "") -> Any:
        body = _JOB.format(operation=operation, extra=extra).encode()
        return self.session.post(self.base, data=body, headers=self.headers)

    def add(self, job_id: str) -> Any:
        headers = {**self.headers, "Content-Type": "text/csv"}
        return self.session.post(f"{self.base}/{job_id}/batch", data=b"Name\nAcme\n", headers=headers)

    def get(self, path: str) -> Any:
        return self.session.get(self.base + path, headers=self.headers)


def _id(response: Any) -> str:
    return re.search(r"<id>(\w+)</id>", response.text).group(1)  # type: ignore[union-attr]


def _insert_job(calls: _Calls) -> Any:
    return calls.create()


def _upsert_job(calls: _Calls) -> Any:
    job_id = _id(calls.create("upsert", "<externalIdFieldName>Oracle_Id__c</externalIdFieldName>"))
    calls.add(job_id)
    return calls.get(f"/{job_id}")


def _batch_info(calls: _Calls) -> Any:
    job_id = _id(calls.create())
    batch_id = _id(calls.add(job_id))
    deadline = time.monotonic() + 10
    while "<state>Completed</state>" not in (response := calls.get(f"/{job_id}/batch/{batch_id}")).text:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return response


def _batch_list(calls: _Calls) -> Any:
    job_id = _id(calls.create())
    calls.add(job_id)
    return calls.get(f"/{job_id}/batch")


_CASES: dict[str, Callable[[_Calls], Any]] = {
    "bulk1_jobInfo_insert_xml.tpl": _insert_job,
    "bulk1_jobInfo_upsert_xml.tpl": _upsert_job,
    "bulk1_batchInfo_xml.tpl": _batch_info,
    "bulk1_batchInfoList_xml.tpl": _batch_list,
}


@pytest.mark.skipif(RECORDED_DIR is None, reason=SKIP_REASON)
@pytest.mark.parametrize("name", sorted(_CASES))
def test_document_has_the_recorded_layout(org: LocalOrg, org_session: Any, name: str) -> None:
    assert RECORDED_DIR is not None
    recorded = (RECORDED_DIR / name).read_text().strip().splitlines()
    answer = _CASES[name](_Calls(org, org_session))
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert [_TEXT.sub("></", line) for line in answer.text.splitlines()] == [
        _TEXT.sub("></", line) for line in recorded
    ]


@pytest.mark.skipif(RECORDED_DIR is None, reason=SKIP_REASON)
@pytest.mark.parametrize("name", sorted(_CASES))
def test_document_has_the_recorded_literal_values(org: LocalOrg, org_session: Any, name: str) -> None:
    assert RECORDED_DIR is not None
    literals = [m.groups() for line in (RECORDED_DIR / name).read_text().splitlines() if (m := _LITERAL.match(line))]
    answer = dict(
        m.groups() for line in _CASES[name](_Calls(org, org_session)).text.splitlines() if (m := _LITERAL.match(line))
    )
    for element, value in literals:
        if element == "apiVersion":  # recorded redacted as vxx.0
            assert re.fullmatch(r"\d+\.0", answer[element])
        else:
            assert answer[element] == value, element
