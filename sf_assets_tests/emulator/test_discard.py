"""Discard mode: ingest jobs complete with every row successful, and no record is stored."""

from __future__ import annotations

import csv
import functools
import io
import string
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sf_assets.emulator import LocalOrg, discard, ids
from sf_assets.emulator.__main__ import config_from_argv
from sf_assets.emulator.limits import INGEST_RECORDS, INGEST_RECORDS_MAX
from sf_assets.emulator.processing import ProcessingModel

_BATCH = 3
# Ten Contacts in internal batches of three, with quoted cells holding delimiters, quotes and line ends.
_QUOTED_ROWS = [[f"First {i}", f'Last, "{i}"' + ("\nline two" if i % 4 == 0 else "")] for i in range(10)]
# Records of one line each, which the org counts by their line feeds instead of cutting each out.
_ONE_LINE_ROWS = [[f"First {i}", f'Last, "{i}"'] for i in range(10)]
_ROWS = pytest.mark.parametrize("rows", [_QUOTED_ROWS, _ONE_LINE_ROWS], ids=["multi-line", "one-line"])
_CSV = {"Content-Type": "text/csv"}
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


class _Api:
    """Plain HTTPS calls with one session: the operator routes and Contact ingest jobs."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.org = org
        self.session = session
        self.headers = {"Authorization": f"Bearer {org.new_session()}"}
        self.jobs = f"{org.instance_url}/services/data/v59.0/jobs/ingest"

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.session.request(method, url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def configure(self, processing: dict[str, Any]) -> Any:
        return self.call("PATCH", f"{self.org.instance_url}/__org__/config", json={"processing": processing})

    def stored_contacts(self) -> int:
        return int(self.call("GET", f"{self.org.instance_url}/__org__/counters").json()["records"]["Contact"])

    def run(self, operation: str, data: str) -> dict[str, Any]:
        """Runs a Contact job to its end; returns its final JobInfo."""
        job = self.call("POST", self.jobs, json={"object": "Contact", "operation": operation}).json()
        self.call("PUT", f"{self.jobs}/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"})
        self.call("PATCH", f"{self.jobs}/{job['id']}", json={"state": "UploadComplete"})
        deadline = time.monotonic() + 10
        while (info := self.call("GET", f"{self.jobs}/{job['id']}").json())["state"] not in ("JobComplete", "Failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.02)
        return dict(info)

    def results(self, job_id: str, kind: str = "successfulResults") -> str:
        return str(self.call("GET", f"{self.jobs}/{job_id}/{kind}/").content.decode("utf-8"))

    def ingest(self, operation: str, data: str) -> tuple[dict[str, Any], list[str]]:
        """Runs a Contact job to its end; returns its final JobInfo and successful-results lines."""
        info = self.run(operation, data)
        return info, self.results(info["id"]).split("\n")


@pytest.fixture
def api(org: LocalOrg, org_session: Any) -> Iterator[_Api]:
    """The org in discard mode; storing is switched back on after the test."""
    client = _Api(org, org_session)
    assert client.configure({"store_records": False}).status_code == 200
    yield client
    restored = {"processing": {"store_records": True, "batch_size": ProcessingModel().batch_size}}
    response = client.call(
        "PATCH", f"{org.instance_url}/__org__/config", json={**restored, "limits": {INGEST_RECORDS: INGEST_RECORDS_MAX}}
    )
    assert response.status_code == 200


@pytest.fixture
def batched(api: _Api) -> _Api:
    """Discard mode with internal batches of three records."""
    assert api.configure({"batch_size": _BATCH}).status_code == 200
    return api


def _quoted_upload(rows: list[list[str]]) -> str:
    """A plain header, as Data Loader and salesforce-batch send, then every cell quoted."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return "FirstName,LastName\n" + buffer.getvalue()


def _quoted_header_upload(rows: list[list[str]]) -> str:
    """The same with a quoted header, which the org reads as text: its batches are copied into files."""
    return '"FirstName","LastName"' + _quoted_upload(rows).removeprefix("FirstName,LastName")


# Batches that are stretches of an upload, kept as spans of it, and batches copied into files of their own.
_UPLOADS = pytest.mark.parametrize("upload", [_quoted_upload, _quoted_header_upload], ids=["spans", "files"])
_Upload = Callable[[list[list[str]]], str]


def _serial(record_id: str) -> int:
    """The number of the org's Id counter an Id was minted from: its base-62 digits after prefix and pod."""
    return functools.reduce(lambda number, char: number * 62 + _BASE62.index(char), record_id[5:15], 0)


def _result_rows(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["sf__Id", "sf__Created", "FirstName", "LastName"]
    return rows[1:]


def test_insert_completes_with_every_row_processed(api: _Api) -> None:
    info, _ = api.ingest("insert", "FirstName,LastName\nAda,Lovelace\nAlan,Turing\n")
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 2, 0)


def test_insert_stores_no_record(api: _Api) -> None:
    api.ingest("insert", "FirstName,LastName\nAda,Lovelace\nAlan,Turing\n")
    assert api.stored_contacts() == 0


def test_successful_results_carry_new_contact_ids_and_the_rows(api: _Api) -> None:
    _, lines = api.ingest("insert", "FirstName,LastName\nAda,Lovelace\nAlan,Turing\n")
    assert lines[0] == '"sf__Id","sf__Created",FirstName,LastName'
    rows = [line.split(",") for line in lines[1:]]
    assert [row[2:] for row in rows] == [['"Ada"', '"Lovelace"'], ['"Alan"', '"Turing"']]
    record_ids = [row[0].strip('"') for row in rows]
    assert all(len(i) == 18 and i.startswith("003") for i in record_ids)
    assert len(set(record_ids)) == 2
    assert [row[1] for row in rows] == ['"true"', '"true"']


def test_rows_that_would_fail_validation_succeed(api: _Api) -> None:
    info, _ = api.ingest("insert", "FirstName,Email\nAda,not-an-email\n")  # no LastName, a bad email
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (1, 0)


def test_update_reports_the_given_ids_and_changes_nothing(api: _Api) -> None:
    assert api.configure({"store_records": True}).status_code == 200
    loaded = api.call("POST", f"{api.org.instance_url}/__org__/records/Contact", json=[{"LastName": "Lovelace"}])
    record_id = loaded.json()[0]["id"]
    assert api.configure({"store_records": False}).status_code == 200
    _, lines = api.ingest("update", f"Id,LastName\n{record_id},Byron\n")
    assert lines[1] == f'"{record_id}","false","{record_id}","Byron"'
    query = api.call(
        "GET",
        f"{api.org.instance_url}/services/data/v59.0/query",
        params={"q": f"SELECT LastName FROM Contact WHERE Id = '{record_id}'"},
    )
    assert query.json()["records"][0]["LastName"] == "Lovelace"


def test_config_rejects_a_store_records_that_is_not_a_boolean(api: _Api) -> None:
    response = api.configure({"store_records": "false"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_cli_flag_turns_storing_off(tmp_path: Path) -> None:
    assert config_from_argv(["--data-dir", str(tmp_path), "--discard-records"]).processing.store_records is False


def test_cli_stores_records_by_default(tmp_path: Path) -> None:
    assert config_from_argv(["--data-dir", str(tmp_path)]).processing.store_records is True


def test_quoted_records_are_echoed_as_sent(api: _Api) -> None:
    info, lines = api.ingest("insert", 'FirstName,LastName\n"Ada","Love, ""lace""\nline two"\nAlan,Turing\n')
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 0)
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    assert [row[1:] for row in rows[1:]] == [["true", "Ada", 'Love, "lace"\nline two'], ["true", "Alan", "Turing"]]


@pytest.mark.parametrize(
    "upload",
    [
        'FirstName,LastName\n"Äda","Lövé, ✓"\nAlan,Turing\n',  # not ASCII: checked as UTF-8, never decoded
        '\ufeffFirstName,LastName\r\n"Äda","Lövé, ✓"\r\nAlan,Turing\r\n',  # a BOM and CRLF: the csv module reads it
        '"FirstName","LastName"\n"Äda","Lövé, ✓"\nAlan,Turing\n',  # a quoted header: read as text
    ],
    ids=["utf8", "bom-crlf", "quoted-header"],
)
def test_uploads_are_read_as_the_csv_module_reads_them(batched: _Api, upload: str) -> None:
    info, lines = batched.ingest("insert", upload.encode("utf-8"))  # type: ignore[arg-type]
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 2)
    assert [row[1:] for row in _result_rows("\n".join(lines))] == [
        ["true", "Äda", "Lövé, ✓"],
        ["true", "Alan", "Turing"],
    ]


def test_an_upload_cut_as_bytes_then_read_as_text_keeps_every_record(api: _Api) -> None:
    # The first megabyte is cut as bytes; the csv module reads the rest, whose line ends are CRLF.
    plain = "".join(f"F{i},L{i}\n" for i in range(100_000))
    info, lines = api.ingest("insert", f"FirstName,LastName\n{plain}Ada,Lovelace\r\n")
    cells = {tuple(row[2:]) for row in _result_rows("\n".join(lines))}
    assert info["numberRecordsProcessed"] == len(cells) == 100_001
    assert {("F0", "L0"), ("F99999", "L99999"), ("Ada", "Lovelace")} <= cells


@pytest.mark.parametrize("upload", ["FirstName,LastName\n\n\n", 'FirstName,LastName\n\n"Ada",""\n\n'])
def test_blank_lines_are_no_records(api: _Api, upload: str) -> None:
    info = api.run("insert", upload)
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", upload.count("Ada"))


def test_an_upload_that_is_not_utf8_fails_its_job(api: _Api) -> None:
    info = api.run("insert", b"FirstName,LastName\nAda,Lov\xe9\n")  # type: ignore[arg-type]
    assert info["state"] == "Failed"
    assert api.stored_contacts() == 0


def test_kept_batches_count_every_record_as_processed(batched: _Api) -> None:
    info = batched.run("insert", _quoted_upload(_QUOTED_ROWS))
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 10, 0)


@_UPLOADS
def test_successful_results_list_every_record_once_in_upload_order(batched: _Api, upload: _Upload) -> None:
    job_id = batched.run("insert", upload(_QUOTED_ROWS))["id"]
    rows = _result_rows(batched.results(job_id))
    assert [row[1:] for row in rows] == [["true", *cells] for cells in _QUOTED_ROWS]


def test_each_batch_gets_a_block_of_ids_minted_as_many_would(batched: _Api) -> None:
    job_id = batched.run("insert", _quoted_upload(_QUOTED_ROWS))["id"]
    record_ids = [row[0] for row in _result_rows(batched.results(job_id))]
    batches = [record_ids[start : start + _BATCH] for start in range(0, len(record_ids), _BATCH)]
    assert [ids.mint("003", _serial(batch[0]), len(batch)) for batch in batches] == batches
    assert len(set(record_ids)) == len(record_ids)


def test_successful_results_read_twice_are_the_same(batched: _Api) -> None:
    job_id = batched.run("insert", _quoted_upload(_QUOTED_ROWS))["id"]
    assert batched.results(job_id) == batched.results(job_id)


def test_kept_batch_files_are_gone_once_results_are_read(batched: _Api, org: LocalOrg) -> None:
    job_id = batched.run("insert", _quoted_header_upload(_QUOTED_ROWS))["id"]
    root = org.ingest.files(org.ingest.get(job_id)).root
    assert any(path.name.startswith("accepted-") for path in root.iterdir())
    batched.results(job_id)
    assert sorted(path.name for path in root.iterdir()) == [
        "failed.csv", "successful.csv", "unprocessed.csv", "upload-00000.csv"
    ]  # fmt: skip


@_ROWS
def test_batches_cut_from_one_stretch_of_an_upload_are_never_copied(
    batched: _Api, org: LocalOrg, rows: list[list[str]]
) -> None:
    job_id = batched.run("insert", _quoted_upload(rows))["id"]
    job = org.ingest.get(job_id)
    assert (job.batch_counts, None in job.batch_spans) == ([3, 3, 3, 1], False)
    assert sorted(path.name for path in org.ingest.files(job).root.iterdir()) == [
        "accepted.jsonl", "failed.csv", "successful.csv", "unprocessed.csv", "upload-00000.csv"
    ]  # fmt: skip
    assert [row[2:] for row in _result_rows(batched.results(job_id))] == rows


@_ROWS
def test_an_upload_whose_last_record_has_no_line_end_keeps_it(batched: _Api, rows: list[list[str]]) -> None:
    info = batched.run("insert", _quoted_upload(rows).removesuffix("\n"))
    assert info["numberRecordsProcessed"] == len(rows)
    assert [row[2:] for row in _result_rows(batched.results(info["id"]))] == rows


def test_a_batch_spanning_two_uploads_keeps_every_record_in_order(batched: _Api) -> None:
    first, second = _quoted_upload(_QUOTED_ROWS[:4]), _quoted_upload(_QUOTED_ROWS[4:])
    job = batched.call("POST", batched.jobs, json={"object": "Contact", "operation": "insert"}).json()
    for upload in (first.removesuffix("\n"), second):  # the first upload's last record has no line end
        response = batched.call("PUT", f"{batched.jobs}/{job['id']}/batches", data=upload, headers=_CSV)
        assert response.status_code == 201
    batched.call("PATCH", f"{batched.jobs}/{job['id']}", json={"state": "UploadComplete"})
    deadline = time.monotonic() + 10
    while (info := batched.call("GET", f"{batched.jobs}/{job['id']}").json())["state"] != "JobComplete":
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    assert info["numberRecordsProcessed"] == len(_QUOTED_ROWS)
    assert [row[2:] for row in _result_rows(batched.results(job["id"]))] == _QUOTED_ROWS


def test_deleting_a_job_removes_its_kept_batches(batched: _Api, org: LocalOrg) -> None:
    job_id = batched.run("insert", _quoted_upload(_QUOTED_ROWS))["id"]
    root = org.ingest.files(org.ingest.get(job_id)).root
    assert batched.call("DELETE", f"{batched.jobs}/{job_id}").status_code == 204
    assert not root.exists()


@_UPLOADS
def test_results_interrupted_while_written_are_written_once(
    batched: _Api, org: LocalOrg, monkeypatch: pytest.MonkeyPatch, upload: _Upload
) -> None:
    job_id = batched.run("insert", upload(_QUOTED_ROWS))["id"]
    written = discard.result_lines
    calls: list[int] = []

    def stopping(segment: discard.Segment, text: str) -> str:
        # Stops after the first batch's lines, as a process killed there would.
        calls.append(segment.batch)
        if len(calls) > 1:
            raise RuntimeError("the org stopped")
        return written(segment, text)

    monkeypatch.setattr(discard, "result_lines", stopping)
    with pytest.raises(RuntimeError):
        org.ingest.results(job_id, "successfulResults")
    monkeypatch.undo()
    rows = _result_rows(batched.results(job_id))
    assert [row[2:] for row in rows] == _QUOTED_ROWS


@_UPLOADS
def test_a_batch_kept_but_not_counted_before_a_stop_is_counted_once_on_resume(
    batched: _Api, org: LocalOrg, upload: _Upload
) -> None:
    job_id = batched.run("insert", upload(_QUOTED_ROWS))["id"]
    job = org.ingest.get(job_id)
    # As the org left it when it stopped between keeping batch 1 and counting it.
    with org.ingest.lock:
        job.state = "InProgress"
        job.batches_done.remove(1)
        job.number_records_processed -= job.batch_counts[1]
    org.processor._resume(job)  # what a restarted org does with a job that was InProgress
    deadline = time.monotonic() + 10
    while (info := batched.call("GET", f"{batched.jobs}/{job_id}").json())["state"] == "InProgress":
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", len(_QUOTED_ROWS))
    assert [row[2:] for row in _result_rows(batched.results(job_id))] == _QUOTED_ROWS


def test_records_of_kept_batches_over_quota_are_unprocessed(batched: _Api) -> None:
    # Room for one internal batch of three but not two.
    batched.call("PATCH", f"{batched.org.instance_url}/__org__/config", json={"limits": {INGEST_RECORDS: 4}})
    info = batched.run("insert", _quoted_upload(_QUOTED_ROWS))
    unprocessed = list(csv.reader(io.StringIO(batched.results(info["id"], "unprocessedrecords"))))[1:]
    processed = [row[2:] for row in _result_rows(batched.results(info["id"]))]
    assert (info["state"], len(processed)) == ("Failed", _BATCH)
    assert sorted(unprocessed + processed) == sorted(_QUOTED_ROWS)
