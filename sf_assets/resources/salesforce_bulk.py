"""``SalesforceBulkResource``: Spark DataFrames to Salesforce objects from Dagster assets."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dagster as dg
from dagster_pyspark import PySparkResource
from pydantic import Field, PrivateAttr
from pyspark.sql import functions as F

from sf_assets.bulk import Credentials, OrgSession, Transport
from sf_assets.bulk import query as soql
from sf_assets.spark import SalesforceBatchDataSource, read_summary

from .local_org import ensure_local_org
from .write_result import WriteResult, read_failed_sample

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


class SalesforceBulkResource(dg.ConfigurableResource):
    """Writes Spark DataFrames to Salesforce objects through the ``salesforce-batch`` data source (Bulk API 2.0).

    Configure one way to log in (username/password/token, OAuth client credentials, JWT bearer); secrets through
    ``dg.EnvVar``. With none configured it uses the local org in ``local_org_dir``, starting it when it is not
    running. It logs in once per run and hands the Spark tasks a session, never the credentials.

    Examples:
        >>> salesforce = SalesforceBulkResource(
        ...     pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        ...     instance_url="https://acme.my.salesforce.com",
        ...     username=dg.EnvVar("SF_USERNAME"),
        ...     password=dg.EnvVar("SF_PASSWORD"),
        ...     security_token=dg.EnvVar("SF_SECURITY_TOKEN"),
        ... )
        >>> result = salesforce.write(df, sobject="Account", external_id_field="Oracle_Id__c")
        >>> result.records_written
    """

    pyspark: PySparkResource = Field(description="The Spark session the DataFrames live in.")
    instance_url: str | None = Field(
        default=None, description="The org's URL, e.g. https://acme.my.salesforce.com. Logins go here when set."
    )
    domain: str = Field(default="login", description="'login' (production), 'test' (sandbox) or a My Domain prefix.")
    username: str | None = Field(default=None, description="Salesforce API user, for password and JWT logins.")
    password: str | None = Field(default=None, description="The user's password. Set it as dg.EnvVar('SF_PASSWORD').")
    security_token: str | None = Field(
        default=None, description="The user's security token. Set it as dg.EnvVar('SF_SECURITY_TOKEN')."
    )
    client_id: str | None = Field(default=None, description="Connected app consumer key (OAuth logins).")
    client_secret: str | None = Field(
        default=None, description="Connected app consumer secret. Set it as dg.EnvVar('SF_CLIENT_SECRET')."
    )
    jwt_private_key: str | None = Field(
        default=None, description="PEM private key for the JWT bearer flow. Set it as dg.EnvVar('SF_JWT_PRIVATE_KEY')."
    )
    ca_file: str | None = Field(default=None, description="PEM bundle to trust instead of the system CAs.")
    sf_version: str = Field(default="59.0", description="Salesforce REST API version.")
    local_org_dir: str = Field(
        default=".local-org", description="The local org used (and started if needed) when no login is configured."
    )
    results_path: str = Field(
        default="data/results", description="Where each write keeps its summary and failed/unprocessed rows."
    )
    bulk_api: Literal["1", "2"] = Field(
        default="2", description="Bulk API version: '2' (jobs), or '1' (one job of batches per partition)."
    )
    serial: bool = Field(
        default=False,
        description="Bulk API 1.0 only: process each partition's batches one at a time (no parent lock fights).",
    )
    batch_size: int | None = Field(
        default=None,
        description=(
            "Records per Salesforce job (Bulk API 1.0: per batch). Unset: 100,000 per 2.0 job, 10,000 per 1.0 batch."
        ),
    )
    max_jobs_in_flight: int = Field(default=4, description="Salesforce jobs each Spark partition runs at once.")
    ignore_null_values: bool = Field(
        default=False, description="Leave fields unchanged for null cells instead of clearing them."
    )
    failure_threshold: str | None = Field(
        default=None,
        description="Fail the write when more rows fail: a count ('100'), percentage ('2.5%') or fraction.",
    )
    check_limits: bool = Field(
        default=True,
        description="Count the rows and refuse a write the org's daily API and batch allocations cannot carry.",
    )
    keep_successful: bool = Field(
        default=True, description="Keep successful rows with their Salesforce Ids (used by reconciliation checks)."
    )

    _org: OrgSession | None = PrivateAttr(default=None)
    _ca_file: str | None = PrivateAttr(default=None)

    @property
    def uses_local_org(self) -> bool:
        """Whether no login is configured, so the local org stands in for Salesforce."""
        return not any((self.username, self.password, self.client_id, self.client_secret, self.jwt_private_key))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Registration is per SparkSession; repeating it is harmless.
        self.pyspark.spark_session.dataSource.register(SalesforceBatchDataSource)

    def write(
        self,
        df: DataFrame,
        *,
        sobject: str,
        operation: str = "upsert",
        external_id_field: str | None = None,
        ignore_null_values: bool | None = None,
        write_id: str | None = None,
        cluster_by: str | None = None,
        partitions: int | None = None,
    ) -> WriteResult:
        """Write ``df`` to ``sobject`` and report what happened.

        Args:
            df: The rows; column names are Salesforce field names (``Account.Oracle_Id__c`` for parents).
            sobject: The object, e.g. ``Contact``.
            operation: ``insert``, ``update``, ``upsert``, ``delete`` or ``hardDelete``.
            external_id_field: The external ID an upsert matches on.
            ignore_null_values: Override of the resource's setting for this write.
            write_id: Name of this write's results directory (default: time, object and a random suffix).
            cluster_by: A column whose equal values must travel together, typically the parent link
                (``Account.Oracle_Id__c``): rows are hash-partitioned by it and sorted within each partition, so
                a parent's children land in one job and parallel jobs do not fight over the parent's lock.
            partitions: How many Spark partitions to write in parallel (with ``cluster_by``: default the
                DataFrame's current number).

        Raises:
            dagster.Failure: When the failure threshold is exceeded (with the write's metadata attached), or
                when Salesforce refuses the write; the message names the problem.
        """
        if cluster_by is not None:
            if cluster_by not in df.columns:
                raise dg.Failure(f"cluster_by={cluster_by!r} is not a column of the DataFrame", allow_retries=False)
            key = F.col(f"`{cluster_by}`")
            df = df.repartition(partitions or df.rdd.getNumPartitions(), key).sortWithinPartitions(key)
        elif partitions is not None:
            df = df.repartition(partitions)
        org, ca_file = self._session()
        write_id = write_id or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{sobject}-{operation}-{uuid.uuid4().hex[:8]}"
        results_path = str(Path(self.results_path).resolve())
        options = {
            "sobject": sobject,
            "operation": operation,
            "session_id": org.access_token,
            "instance_url": org.instance_url,
            "sf_version": self.sf_version,
            "resultsPath": results_path,
            "writeId": write_id,
            "api_version": self.bulk_api,
            "maxJobsInFlight": str(self.max_jobs_in_flight),
            "ignoreNullValues": str(self.ignore_null_values if ignore_null_values is None else ignore_null_values),
            "successResults": str(self.keep_successful),
        }
        if external_id_field:
            options["upsertField"] = external_id_field
        if self.batch_size is not None:
            options["batchSize"] = str(self.batch_size)
        if self.serial:
            options["concurrencyMode"] = "Serial"
        if ca_file:
            options["ca_file"] = ca_file
        if self.failure_threshold:
            options["failureThreshold"] = self.failure_threshold
        options["checkLimits"] = str(self.check_limits)
        if self.check_limits:
            options["expectedRows"] = str(df.count())
        if df.sparkSession is not self.pyspark.spark_session:
            df.sparkSession.dataSource.register(SalesforceBatchDataSource)
        started = time.perf_counter()
        try:
            df.write.format("salesforce-batch").mode("append").options(**options).save()
        except Exception as error:
            kind, message = python_error(str(error))
            # Bad data, bad config and refused logins fail the same way on every attempt: don't retry them.
            retryable = kind.rsplit(".", 1)[-1] not in _PERMANENT_ERRORS
            result = self._result(f"{results_path}/{write_id}", time.perf_counter() - started)
            if result is None:
                raise dg.Failure(description=f"writing {sobject} failed: {message}", allow_retries=retryable) from error
            raise dg.Failure(
                description=(
                    f"writing {sobject} failed after {result.records_written} of {result.records_in} rows landed: "
                    f"{message}"
                ),
                metadata=result.to_metadata(),
                allow_retries=retryable,
            ) from error
        result = self._result(f"{results_path}/{write_id}", time.perf_counter() - started)
        assert result is not None
        return result

    def count_records(self, sobject: str, field: str, values: list[str]) -> int:
        """How many ``sobject`` records hold one of ``values`` in ``field`` (a SOQL ``COUNT()`` per chunk)."""
        return soql.count_matching(self._transport(), sobject, field, values)

    def _result(self, results_dir: str, duration: float) -> WriteResult | None:
        try:
            summary = read_summary(results_dir)
        except FileNotFoundError:
            return None
        return WriteResult.from_summary(
            summary, duration_seconds=duration, failed_sample=read_failed_sample(results_dir)
        )

    def _credentials(self) -> tuple[Credentials, str | None]:
        if self.uses_local_org:
            connection = ensure_local_org(self.local_org_dir)
            credentials = Credentials(
                client_id=connection["client_id"],
                client_secret=connection["client_secret"],
                instance_url=connection["instance_url"],
                api_version=self.sf_version,
            )
            return credentials, connection["ca_file"]
        credentials = Credentials(
            username=self.username,
            password=self.password,
            security_token=self.security_token,
            client_id=self.client_id,
            client_secret=self.client_secret,
            jwt_private_key=self.jwt_private_key,
            instance_url=self.instance_url,
            domain=self.domain,
            api_version=self.sf_version,
        )
        return credentials, self.ca_file

    def _transport(self) -> Transport:
        credentials, ca_file = self._credentials()
        return Transport(credentials, ca_file=ca_file, org=self._org)

    def _session(self) -> tuple[OrgSession, str | None]:
        # One login per run: Spark tasks get the session, so no credential travels into Spark options.
        if self._org is None:
            credentials, ca_file = self._credentials()
            transport = Transport(credentials, ca_file=ca_file)
            self._org = transport.org
            self._ca_file = ca_file
            log.info("logged in to %s (%s)", self._org.instance_url, credentials.method)
        return self._org, self._ca_file


_PERMANENT_ERRORS = frozenset({"SchemaError", "OptionError", "AuthenticationError", "FailureThresholdExceededError"})
_PYTHON_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exceeded\w*)): (.*)$")


def python_error(text: str) -> tuple[str, str]:
    """The Python exception class and message inside a Spark error (which wraps it in a traceback).

    Examples:
        >>> python_error("AnalysisException: ... Traceback ...\\nsf_assets.spark.columns.SchemaError: cannot ...")
        ('sf_assets.spark.columns.SchemaError', 'cannot ...')
    """
    lines = text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _PYTHON_ERROR_LINE.match(lines[index])
        if match and not match.group(2).startswith("[PYTHON_DATA_SOURCE_ERROR]"):
            rest = [line for line in lines[index + 1 :] if line.strip() and not line.startswith(" SQLSTATE")]
            return match.group(1), "\n".join([match.group(2), *rest])
    first = next((line.strip() for line in lines if line.strip()), type(text).__name__)
    return "", first
