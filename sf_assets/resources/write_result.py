"""The outcome of one Salesforce write, typed, and rendered as Dagster metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from sf_assets.spark import WriteSummary

_SAMPLE_VALUE_CHARS = 60


@dataclass(frozen=True)
class PartitionTiming:
    """One Spark partition's share of a write."""

    partition: int
    attempt: int
    records: int
    succeeded: int
    failed: int
    unprocessed: int
    job_ids: tuple[str, ...]
    encode_seconds: float
    upload_seconds: float
    processing_seconds: float
    results_seconds: float
    wall_seconds: float
    peak_rss_mb: float

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> PartitionTiming:
        seconds = payload.get("seconds") or {}
        return cls(
            partition=int(payload["partition_id"]),
            attempt=int(payload.get("attempt", 0)),
            records=int(payload["records_in"]),
            succeeded=int(payload["succeeded"]),
            failed=int(payload["failed"]),
            unprocessed=int(payload["unprocessed"]),
            job_ids=tuple(str(job["job_id"]) for job in payload.get("jobs") or ()),
            encode_seconds=float(seconds.get("encode", 0.0)),
            upload_seconds=float(seconds.get("upload", 0.0)),
            processing_seconds=float(seconds.get("processing", 0.0)),
            results_seconds=float(seconds.get("results", 0.0)),
            wall_seconds=float(seconds.get("wall", 0.0)),
            peak_rss_mb=float(payload.get("peak_rss_mb", 0.0)),
        )


@dataclass(frozen=True)
class WriteResult:
    """What a :class:`~sf_assets.resources.SalesforceBulkResource` write did.

    Attributes:
        sobject: The object written.
        operation: The Bulk API operation.
        write_id: The write's id, also its directory under the results path.
        records_in: Rows in the DataFrame.
        records_written: Rows Salesforce accepted.
        records_failed: Rows rejected by Salesforce or never sendable.
        records_unprocessed: Rows Salesforce left unprocessed.
        errors_by_code: Failed rows per Salesforce error code.
        job_ids: Every Salesforce job of the write.
        partitions: Per-partition counts and timings.
        results_dir: Where the summary and the per-record result files are.
        duration_seconds: Wall time of the write, validation included.
        failed_sample: A few failed rows (text values, ``sf__Error`` first).
    """

    sobject: str
    operation: str
    write_id: str
    records_in: int
    records_written: int
    records_failed: int
    records_unprocessed: int
    errors_by_code: Mapping[str, int]
    job_ids: tuple[str, ...]
    partitions: tuple[PartitionTiming, ...]
    results_dir: str
    duration_seconds: float
    failed_sample: tuple[Mapping[str, str | None], ...] = field(default=())

    @classmethod
    def from_summary(
        cls, summary: WriteSummary, *, duration_seconds: float, failed_sample: Sequence[Mapping[str, str | None]] = ()
    ) -> WriteResult:
        return cls(
            sobject=summary.sobject,
            operation=summary.operation,
            write_id=summary.write_id,
            records_in=summary.records_in,
            records_written=summary.succeeded,
            records_failed=summary.failed,
            records_unprocessed=summary.unprocessed,
            errors_by_code=dict(summary.errors_by_code),
            job_ids=tuple(summary.job_ids),
            partitions=tuple(PartitionTiming.from_json(p) for p in summary.partitions),
            results_dir=summary.results_dir,
            duration_seconds=duration_seconds,
            failed_sample=tuple(failed_sample),
        )

    @property
    def failed_rows_path(self) -> str:
        return f"{self.results_dir}/failed"

    @property
    def failure_ratio(self) -> float:
        """Rows that did not land (failed or unprocessed) over rows in; 0 for an empty write."""
        if not self.records_in:
            return 0.0
        return (self.records_failed + self.records_unprocessed) / self.records_in

    def top_errors(self, limit: int = 3) -> list[tuple[str, int]]:
        return sorted(self.errors_by_code.items(), key=lambda item: (-item[1], item[0]))[:limit]

    def to_metadata(self) -> dict[str, dg.MetadataValue]:
        """Metadata for a materialization; plain numbers so the UI plots them across runs."""
        return {
            "dagster/row_count": dg.MetadataValue.int(self.records_written),
            "records_in": dg.MetadataValue.int(self.records_in),
            "records_written": dg.MetadataValue.int(self.records_written),
            "records_failed": dg.MetadataValue.int(self.records_failed),
            "records_unprocessed": dg.MetadataValue.int(self.records_unprocessed),
            "failure_ratio": dg.MetadataValue.float(round(self.failure_ratio, 6)),
            "errors_by_code": dg.MetadataValue.json(dict(self.top_errors(limit=len(self.errors_by_code)))),
            "duration_seconds": dg.MetadataValue.float(round(self.duration_seconds, 3)),
            "salesforce_jobs": dg.MetadataValue.int(len(self.job_ids)),
            "job_ids": dg.MetadataValue.json(list(self.job_ids)),
            "partition_timings": self._timings_table(),
            "failed_rows_path": dg.MetadataValue.path(self.failed_rows_path),
            "failed_rows_sample": dg.MetadataValue.md(self._sample_markdown()),
            "results_dir": dg.MetadataValue.path(self.results_dir),
            "write_id": dg.MetadataValue.text(self.write_id),
        }

    def _timings_table(self) -> dg.MetadataValue:
        columns = [
            dg.TableColumn("partition", "int"),
            dg.TableColumn("records", "int"),
            dg.TableColumn("succeeded", "int"),
            dg.TableColumn("failed", "int"),
            dg.TableColumn("unprocessed", "int"),
            dg.TableColumn("encode_s", "float"),
            dg.TableColumn("upload_s", "float"),
            dg.TableColumn("processing_s", "float"),
            dg.TableColumn("results_s", "float"),
            dg.TableColumn("wall_s", "float"),
            dg.TableColumn("peak_rss_mb", "float"),
            dg.TableColumn("job_ids", "string"),
        ]
        records = [
            dg.TableRecord(
                {
                    "partition": p.partition,
                    "records": p.records,
                    "succeeded": p.succeeded,
                    "failed": p.failed,
                    "unprocessed": p.unprocessed,
                    "encode_s": p.encode_seconds,
                    "upload_s": p.upload_seconds,
                    "processing_s": p.processing_seconds,
                    "results_s": p.results_seconds,
                    "wall_s": p.wall_seconds,
                    "peak_rss_mb": p.peak_rss_mb,
                    "job_ids": " ".join(p.job_ids),
                }
            )
            for p in self.partitions
        ]
        return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))

    def _sample_markdown(self) -> str:
        if not self.failed_sample:
            return "No failed rows."
        names = list(self.failed_sample[0])
        lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        for row in self.failed_sample:
            lines.append("| " + " | ".join(_cell(row.get(name)) for name in names) + " |")
        return "\n".join(lines)


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    text = " ".join(value.split())
    if len(text) > _SAMPLE_VALUE_CHARS:
        text = text[: _SAMPLE_VALUE_CHARS - 1] + "…"
    return text.replace("|", "\\|")


def read_failed_sample(results_dir: str, limit: int = 5) -> list[dict[str, str | None]]:
    """The first ``limit`` failed rows of a write, ``sf__Error`` first, without the bookkeeping columns."""
    import pyarrow.dataset as ds

    failed = Path(results_dir) / "failed"
    if "://" in results_dir or not failed.is_dir():
        return []
    table = ds.dataset(str(failed), format="parquet").head(limit)
    rows = table.to_pylist()
    keep = ["sf__Error", *[name for name in table.column_names if not name.startswith("sf__")]]
    return [{name: row.get(name) for name in keep} for row in rows]
