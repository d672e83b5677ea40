"""The ``salesforce-batch`` data source: DataFrames to Salesforce through Bulk API 2.0."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage

from .commit_message import PartitionResult
from .options import OptionError, WriteOptions

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

    from sf_assets.bulk import ObjectDescribe, OrgSession, Transport

    from .columns import ColumnPlan
    from .summary import WriteSummary

log = logging.getLogger(__name__)


class SalesforceBatchDataSource(DataSource):
    """Writes a DataFrame to a Salesforce object with Bulk API 2.0 jobs, streaming, several per partition.

    Name: ``salesforce-batch``

    Notes:
        - Log-in happens once, on the driver; executors reuse the session and log in again only if it expires.
        - Columns are checked against the object's describe before anything is sent.
        - Results land under ``resultsPath``: ``summary.json`` and Parquet files of failed, unprocessed and
          (with ``successResults=true``) successful rows. Rows in = succeeded + failed + unprocessed.
        - Only ``mode("append")`` is supported: Salesforce has no truncate.

    Examples:
        >>> spark.dataSource.register(SalesforceBatchDataSource)
        >>> (df.write.format("salesforce-batch").mode("append")
        ...     .option("sobject", "Account").option("operation", "upsert")
        ...     .option("upsertField", "Oracle_Id__c")
        ...     .options(username=user, password=password, security_token=token)
        ...     .save())
    """

    @classmethod
    def name(cls) -> str:
        return "salesforce-batch"

    def writer(self, schema: StructType, overwrite: bool) -> SalesforceBatchWriter:
        if overwrite:
            raise OptionError(
                'mode("overwrite") is not supported: Salesforce has no truncate. Use mode("append") with '
                "operation upsert to make the object match the DataFrame's rows"
            )
        return SalesforceBatchWriter(WriteOptions.parse(self.options), schema)


class SalesforceBatchWriter(DataSourceArrowWriter):
    """Logs in, validates on the driver, then writes each partition's Arrow batches on the executors."""

    def __init__(self, options: WriteOptions, schema: StructType) -> None:
        self.options = options
        transport = _transport(options)
        self.org: OrgSession = transport.org
        describes: dict[str, ObjectDescribe] = {}
        self.plan: ColumnPlan = _plan(schema, options, transport, describes)
        if options.check_limits:
            from .limits_check import check_limits

            check_limits(transport, options, options.expected_rows)
        log.info(
            "writing %s (%s) to %s; results in %s",
            self.plan.sobject,
            options.operation,
            self.org.instance_url,
            options.results_dir,
        )

    def write(self, iterator: Iterator[pa.RecordBatch]) -> PartitionResult:
        from .worker_memory import lean_memory, reset_peak_rss

        # Before anything else the task does: a reused worker's peak would otherwise be that of its largest task.
        reset_peak_rss()

        from pyspark import TaskContext

        from sf_assets.bulk import IngestClient, JobSpec
        from sf_assets.bulk.ingest import PollSchedule

        from .bulk1_jobs import Bulk1Jobs
        from .csv_encoding import CsvEncoder
        from .ledger import Ledger
        from .partition_writer import JobLimits, PartitionWriter
        from .result_files import ResultFiles
        from .worker_gc import freeze_heap

        # After the imports: the modules they loaded are what the worker's collection after each task would walk.
        freeze_heap()
        context = TaskContext.get()
        partition_id = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        options = self.options
        transport = _transport(options, org=self.org)
        jobs = Bulk1Jobs(transport, serial=options.serial) if options.bulk_api == "1" else IngestClient(transport)
        writer = PartitionWriter(
            jobs=jobs,
            spec=JobSpec(self.plan.sobject, options.operation, options.upsert_field),
            encoder=CsvEncoder(self.plan),
            results=ResultFiles(options.results_dir, self.plan.headers, partition_id, attempt),
            limits=JobLimits(
                options.job_rows,
                options.max_job_bytes,
                options.max_jobs_in_flight,
                options.success_results,
                options.max_row_retries,
                options.retry_delay,
                options.job_tail_rows,
            ),
            poll=PollSchedule(options.poll_interval, 1.5, options.max_poll_interval, options.job_timeout),
            ledger=Ledger(options.results_dir, partition_id),
        )
        try:
            with lean_memory():
                return writer.write(iterator)
        finally:
            transport.http.close()

    def commit(self, messages: Sequence[WriterCommitMessage | None]) -> None:
        from .summary import FailureThresholdExceededError

        summary = self._summary(messages, "succeeded")
        threshold = self.options.failure_threshold
        if threshold is not None and threshold.exceeded(summary.not_written, summary.records_in):
            summary = self._summary(messages, "threshold_exceeded")
            path = summary.save()
            raise FailureThresholdExceededError(
                f"{summary.not_written} of {summary.records_in} rows written to {summary.sobject} failed or were "
                f"not processed, more than failureThreshold={threshold.describe()} allows "
                f"(errors: {_top_errors(summary.errors_by_code)}); failed rows are in {summary.results_dir}/failed, "
                f"the summary in {path}"
            )
        summary.save()
        log.info(
            "wrote %s: %d succeeded, %d failed, %d unprocessed",
            summary.sobject,
            summary.succeeded,
            summary.failed,
            summary.unprocessed,
        )

    def abort(self, messages: Sequence[WriterCommitMessage | None]) -> None:
        from .summary import read_summary

        # Spark also aborts when commit() raised; the summary commit() saved then is the true outcome.
        try:
            if read_summary(self.options.results_dir).status == "threshold_exceeded":
                return
        except FileNotFoundError:
            pass
        # Keep what the partitions that finished did, so a failed write still says what landed.
        self._summary(messages, "aborted").save()

    def _summary(self, messages: Sequence[WriterCommitMessage | None], status: str) -> WriteSummary:
        from .summary import WriteSummary

        threshold = self.options.failure_threshold
        return WriteSummary.from_messages(
            [message if isinstance(message, PartitionResult) else None for message in messages],
            write_id=self.options.write_id,
            sobject=self.plan.sobject,
            operation=self.options.operation,
            results_dir=self.options.results_dir,
            status=status,
            failure_threshold=threshold.describe() if threshold else None,
        )


def register(spark: SparkSession) -> None:
    """Register ``salesforce-batch`` with ``spark`` (registration is per session; repeating it is harmless)."""
    spark.dataSource.register(SalesforceBatchDataSource)


def _transport(options: WriteOptions, org: OrgSession | None = None) -> Transport:
    from sf_assets.bulk import RetryPolicy, Transport

    return Transport(
        options.credentials,
        ca_file=options.ca_file,
        retry=RetryPolicy(max_attempts=options.max_retries + 1),
        org=org,
    )


def _plan(
    schema: StructType, options: WriteOptions, transport: Transport, cache: dict[str, ObjectDescribe]
) -> ColumnPlan:
    from sf_assets.bulk import ApiError, ObjectDescribe

    from .columns import plan_columns

    def describe(sobject: str) -> ObjectDescribe:
        if sobject not in cache:
            try:
                cache[sobject] = ObjectDescribe.fetch(transport, sobject)
            except ApiError as error:
                if error.status == 404 or error.code in ("NOT_FOUND", "INVALID_TYPE"):
                    if sobject == options.sobject:
                        raise OptionError(f"option sobject={sobject!r}: the org has no object {sobject!r}") from None
                    raise OptionError(
                        f"a relationship column points at {sobject}, which the org cannot describe"
                    ) from None
                raise
        return cache[sobject]

    return plan_columns(schema, options, describe)


def _top_errors(errors_by_code: Mapping[str, int]) -> str:
    # The summary lists codes most frequent first.
    return ", ".join(f"{code} x{count}" for code, count in list(errors_by_code.items())[:3]) or "none"
