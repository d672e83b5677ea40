from __future__ import annotations

import dagster as dg

from sf_assets.resources import PartitionTiming, WriteResult
from sf_assets.spark import WriteSummary

_PARTITION = {
    "partition_id": 1,
    "attempt": 0,
    "records_in": 10,
    "succeeded": 7,
    "failed": 2,
    "unprocessed": 1,
    "jobs": [{"job_id": "750A"}, {"job_id": "750B"}],
    "seconds": {"encode": 0.1, "upload": 0.2, "processing": 0.3, "results": 0.4, "wall": 1.0},
    "peak_rss_mb": 120.5,
}


def _result(**overrides: object) -> WriteResult:
    summary = WriteSummary(
        write_id="w1",
        sobject="Account",
        operation="upsert",
        status="succeeded",
        results_dir="/data/results/w1",
        records_in=10,
        succeeded=7,
        failed=2,
        unprocessed=1,
        errors_by_code={"STRING_TOO_LONG": 1, "REQUIRED_FIELD_MISSING": 1},
        job_ids=("750A", "750B"),
        partitions=(_PARTITION,),
    )
    sample = [{"sf__Error": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --", "Name": "a|b\nc"}]
    result = WriteResult.from_summary(summary, duration_seconds=2.5, failed_sample=sample)
    return WriteResult(**{**result.__dict__, **overrides})  # type: ignore[arg-type]


def test_partition_timing_reads_the_commit_message_json() -> None:
    timing = PartitionTiming.from_json(_PARTITION)
    assert (timing.partition, timing.records, timing.job_ids, timing.processing_seconds) == (
        1,
        10,
        ("750A", "750B"),
        0.3,
    )


def test_failure_ratio_counts_failed_and_unprocessed() -> None:
    assert _result().failure_ratio == 0.3


def test_an_empty_write_has_no_failure_ratio() -> None:
    assert _result(records_in=0, records_failed=0, records_unprocessed=0).failure_ratio == 0.0


def test_metadata_numbers_are_plain_int_and_float_values() -> None:
    metadata = _result().to_metadata()
    assert isinstance(metadata["records_written"], dg.IntMetadataValue)
    assert isinstance(metadata["failure_ratio"], dg.FloatMetadataValue)
    assert (metadata["dagster/row_count"].value, metadata["records_failed"].value) == (7, 2)


def test_metadata_has_every_documented_key() -> None:
    assert set(_result().to_metadata()) >= {
        "dagster/row_count",
        "records_written",
        "records_failed",
        "records_unprocessed",
        "errors_by_code",
        "partition_timings",
        "duration_seconds",
        "failed_rows_path",
        "failed_rows_sample",
        "job_ids",
    }


def test_partition_timings_render_as_a_table() -> None:
    table = _result().to_metadata()["partition_timings"]
    assert isinstance(table, dg.TableMetadataValue)
    [record] = table.records
    assert (record.data["partition"], record.data["job_ids"], record.data["peak_rss_mb"]) == (1, "750A 750B", 120.5)


def test_errors_are_listed_most_frequent_first_then_by_name() -> None:
    result = _result(errors_by_code={"B": 1, "A": 1, "C": 5})
    assert list(result.to_metadata()["errors_by_code"].value) == ["C", "A", "B"]


def test_the_failed_sample_is_a_markdown_table_with_cells_escaped() -> None:
    text = _result().to_metadata()["failed_rows_sample"].value
    assert text.splitlines()[0] == "| sf__Error | Name |"
    assert "| a\\|b c |" in text


def test_no_failed_rows_says_so() -> None:
    assert _result(failed_sample=()).to_metadata()["failed_rows_sample"].value == "No failed rows."
