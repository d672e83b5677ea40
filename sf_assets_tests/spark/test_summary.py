"""WriteSummary (summary.py) and the commit messages it sums (commit_message.py); local files only."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sf_assets.spark.commit_message import JobResult, PartitionResult
from sf_assets.spark.summary import SUMMARY_FILE, FailureThresholdExceededError, WriteSummary, read_summary


def job(job_id: str, **seconds: float) -> JobResult:
    return JobResult(job_id=job_id, state="JobComplete", records=10, processed=9, failed=2, unprocessed=1, **seconds)


FIRST = PartitionResult(
    partition_id=0,
    attempt=0,
    records_in=10,
    succeeded=7,
    failed=2,
    unprocessed=1,
    errors_by_code={"REQUIRED_FIELD_MISSING": 2},
    jobs=(job("750A"),),
    files=("failed/part-00000.parquet",),
)
SECOND = PartitionResult(
    partition_id=1,
    attempt=2,
    records_in=25,
    succeeded=17,
    failed=5,
    unprocessed=3,
    rejected=1,
    errors_by_code={"INVALID_EMAIL_ADDRESS": 3, "REQUIRED_FIELD_MISSING": 1, "NON_FINITE_NUMBER": 1},
    jobs=(job("750B"), job("750C")),
)


def summarize(messages: list[PartitionResult | None], results_dir: str = "/r/w", **extra: Any) -> WriteSummary:
    return WriteSummary.from_messages(
        messages,
        write_id="w",
        sobject="Contact",
        operation="insert",
        results_dir=results_dir,
        status=extra.pop("status", "succeeded"),
        **extra,
    )


def json_shaped(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload))


# --- from_messages ----------------------------------------------------------------------------------------


def test_from_messages_sums_the_row_counts() -> None:
    summary = summarize([FIRST, SECOND])
    assert (summary.records_in, summary.succeeded, summary.failed, summary.unprocessed) == (35, 24, 7, 4)


def test_from_messages_ignores_none() -> None:
    with_gaps = summarize([None, FIRST, None, SECOND, None])
    assert with_gaps.to_json() | {"finished_at": ""} == summarize([FIRST, SECOND]).to_json() | {"finished_at": ""}


def test_from_messages_of_only_none_is_all_zero() -> None:
    summary = summarize([None, None])
    assert (summary.records_in, summary.succeeded, summary.failed, summary.unprocessed) == (0, 0, 0, 0)
    assert (summary.errors_by_code, summary.job_ids, summary.partitions) == ({}, (), ())


def test_from_messages_merges_errors_most_common_first() -> None:
    errors = summarize([FIRST, SECOND]).errors_by_code
    assert list(errors.items()) == [
        ("REQUIRED_FIELD_MISSING", 3),
        ("INVALID_EMAIL_ADDRESS", 3),
        ("NON_FINITE_NUMBER", 1),
    ]


def test_from_messages_lists_every_job_in_partition_order() -> None:
    assert summarize([SECOND, FIRST]).job_ids == ("750B", "750C", "750A")


def test_from_messages_keeps_each_partition_message() -> None:
    assert summarize([FIRST, None, SECOND]).partitions == (FIRST.to_json(), SECOND.to_json())


def test_from_messages_keeps_the_given_fields() -> None:
    summary = summarize([FIRST], status="threshold_exceeded", failure_threshold="2.5000%")
    assert (summary.write_id, summary.sobject, summary.operation, summary.status, summary.results_dir) == (
        "w",
        "Contact",
        "insert",
        "threshold_exceeded",
        "/r/w",
    )
    assert summary.failure_threshold == "2.5000%"


def test_from_messages_stamps_finished_at_in_utc_with_milliseconds() -> None:
    stamp = summarize([FIRST]).finished_at
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert len(stamp.split(".")[1].split("+")[0]) == 3


def test_not_written_is_failed_plus_unprocessed() -> None:
    assert summarize([FIRST, SECOND]).not_written == 11


# --- JSON round trip ----------------------------------------------------------------------------------------


def test_to_json_fields() -> None:
    payload = summarize([FIRST], failure_threshold="5 rows").to_json()
    assert list(payload) == [
        "write_id",
        "sobject",
        "operation",
        "status",
        "results_dir",
        "records_in",
        "succeeded",
        "failed",
        "unprocessed",
        "errors_by_code",
        "job_ids",
        "failure_threshold",
        "finished_at",
        "partitions",
    ]
    assert payload["job_ids"] == ["750A"]
    assert payload["failure_threshold"] == "5 rows"


def test_to_json_from_json_round_trip() -> None:
    summary = summarize([FIRST, SECOND], failure_threshold="10 rows")
    assert WriteSummary.from_json(summary.to_json()) == summary


def test_round_trip_through_json_text() -> None:
    payload = json_shaped(summarize([FIRST, SECOND]).to_json())
    assert WriteSummary.from_json(payload).to_json() == payload


def test_from_json_with_only_the_required_keys() -> None:
    payload = {
        "write_id": "w",
        "sobject": "Account",
        "operation": "upsert",
        "status": "aborted",
        "results_dir": "/r/w",
        "records_in": 3,
        "succeeded": 1,
        "failed": 1,
        "unprocessed": 1,
    }
    summary = WriteSummary.from_json(payload)
    assert (summary.errors_by_code, summary.job_ids, summary.partitions) == ({}, (), ())
    assert (summary.failure_threshold, summary.finished_at) == (None, "")


# --- save and read_summary --------------------------------------------------------------------------------


def test_save_then_read_summary(tmp_path: Path) -> None:
    results_dir = str(tmp_path / "results" / "w")
    summary = summarize([FIRST, SECOND], results_dir)
    path = summary.save()
    assert path == f"{results_dir}/{SUMMARY_FILE}"
    assert read_summary(results_dir).to_json() == json_shaped(summary.to_json())


def test_save_writes_the_summary_as_json(tmp_path: Path) -> None:
    summary = summarize([FIRST, SECOND], str(tmp_path))
    text = Path(summary.save()).read_text()
    assert json.loads(text) == json_shaped(summary.to_json())


def test_save_writes_a_member_a_line_and_a_partition_a_line(tmp_path: Path) -> None:
    summary = summarize([FIRST, SECOND], str(tmp_path))
    lines = Path(summary.save()).read_text().splitlines()
    assert lines[1] == '  "write_id": "w",'
    assert [json.loads(line.strip().rstrip(",")) for line in lines[-4:-2]] == [FIRST.to_json(), SECOND.to_json()]
    assert lines[-2:] == ["  ]", "}"]


def test_save_leaves_no_staging_file(tmp_path: Path) -> None:
    summarize([FIRST], str(tmp_path)).save()
    assert sorted(path.name for path in tmp_path.iterdir()) == [SUMMARY_FILE]


def test_save_replaces_an_earlier_summary(tmp_path: Path) -> None:
    summarize([FIRST], str(tmp_path), status="threshold_exceeded").save()
    summarize([FIRST, SECOND], str(tmp_path), status="aborted").save()
    assert (read_summary(str(tmp_path)).status, read_summary(str(tmp_path)).records_in) == ("aborted", 35)


def test_save_and_read_with_a_file_uri(tmp_path: Path) -> None:
    summarize([FIRST], f"file://{tmp_path}/w").save()
    assert read_summary(f"file://{tmp_path}/w").job_ids == ("750A",)
    assert (tmp_path / "w" / SUMMARY_FILE).is_file()


def test_read_summary_of_a_write_without_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_summary(str(tmp_path))


def _with_temporary(tmp_path: Path) -> Path:
    attempt = tmp_path / "_temporary" / "part-00001-attempt-0"
    attempt.mkdir(parents=True)
    (attempt / "failed.parquet").write_bytes(b"PAR1")
    return tmp_path / "_temporary"


@pytest.mark.parametrize("status", ["succeeded", "threshold_exceeded"])
def test_save_removes_temporary_of_a_finished_write(tmp_path: Path, status: str) -> None:
    temporary = _with_temporary(tmp_path)
    summarize([FIRST], str(tmp_path), status=status).save()
    assert not temporary.exists()


def test_save_keeps_temporary_of_an_aborted_write(tmp_path: Path) -> None:
    temporary = _with_temporary(tmp_path)
    summarize([FIRST], str(tmp_path), status="aborted").save()
    assert (temporary / "part-00001-attempt-0" / "failed.parquet").read_bytes() == b"PAR1"


def test_save_keeps_published_result_files(tmp_path: Path) -> None:
    _with_temporary(tmp_path)
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "part-00000.parquet").write_bytes(b"PAR1")
    summarize([FIRST], str(tmp_path)).save()
    assert (tmp_path / "failed" / "part-00000.parquet").is_file()


def test_failure_threshold_exceeded_error_is_a_runtime_error() -> None:
    assert issubclass(FailureThresholdExceededError, RuntimeError)


# --- commit messages ----------------------------------------------------------------------------------------


def test_job_result_succeeded_is_processed_minus_failed() -> None:
    assert JobResult("750A", "JobComplete", records=10, processed=8, failed=3, unprocessed=2).succeeded == 5


def test_partition_result_sums_job_seconds() -> None:
    result = PartitionResult(
        0,
        0,
        0,
        0,
        0,
        0,
        jobs=(
            job("a", upload_seconds=1.0, processing_seconds=2.0, results_seconds=0.25),
            job("b", upload_seconds=0.5, processing_seconds=3.0, results_seconds=0.5),
        ),
    )
    assert (result.upload_seconds, result.processing_seconds, result.results_seconds) == (1.5, 5.0, 0.75)


def test_partition_result_to_json_seconds_block() -> None:
    result = PartitionResult(
        partition_id=4,
        attempt=1,
        records_in=5,
        succeeded=5,
        failed=0,
        unprocessed=0,
        jobs=(
            job("a", upload_seconds=0.1234, processing_seconds=1.00049, results_seconds=0.0),
            job("b", upload_seconds=0.2, processing_seconds=2.0, results_seconds=0.0156),
        ),
        encode_seconds=0.98765,
        wall_seconds=12.3456,
    )
    assert result.to_json()["seconds"] == {
        "encode": 0.988,
        "upload": 0.323,
        "processing": 3.0,
        "results": 0.016,
        "wall": 12.346,
    }


def test_partition_result_to_json_moves_own_seconds_into_the_block() -> None:
    payload = FIRST.to_json()
    assert "encode_seconds" not in payload
    assert "wall_seconds" not in payload


def test_partition_result_to_json_fields() -> None:
    payload = json_shaped(SECOND.to_json())
    expected = {
        "partition_id": 1,
        "attempt": 2,
        "records_in": 25,
        "succeeded": 17,
        "failed": 5,
        "unprocessed": 3,
        "rejected": 1,
        "errors_by_code": {"INVALID_EMAIL_ADDRESS": 3, "REQUIRED_FIELD_MISSING": 1, "NON_FINITE_NUMBER": 1},
        "files": [],
    }
    assert {key: payload[key] for key in expected} == expected
    assert [item["job_id"] for item in payload["jobs"]] == ["750B", "750C"]
    assert payload["jobs"][0]["upload_seconds"] == 0.0


def test_partition_result_pickles() -> None:
    assert pickle.loads(pickle.dumps(SECOND)) == SECOND
