"""The options of ``format("salesforce-batch")``, parsed once on the driver into a typed object.

Spark lower-cases option keys before a Python data source sees them, so every name below is matched in any
case (``upsertField`` and ``upsertfield`` are the same option). Values arrive as strings.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import overload

from sf_assets.bulk import Credentials, bulk1
from sf_assets.bulk.auth import DEFAULT_API_VERSION
from sf_assets.bulk.ingest import OPERATIONS

DEFAULT_BATCH_SIZE = 10_000
# Without batchSize, a Bulk API 2.0 job holds ten of the 10,000-record batches Salesforce cuts it into: few API calls
# per row (a job costs at least five), yet a partition's jobs still overlap and a resent job stays small. A partition's
# last job may take half as many more (WriteOptions.job_tail_rows): a small job costs nearly what a full one does.
DEFAULT_JOB_ROWS = 100_000
DEFAULT_MAX_JOB_BYTES = 100 * 1024 * 1024
# Salesforce refuses uploads over 150 MB of base64, i.e. about 100 MB of raw CSV.
MAX_JOB_BYTES = 100 * 1024 * 1024
MAX_BATCH_SIZE = 150_000_000

# Canonical spelling of every option, by its lower-cased key.
OPTION_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (
        # The blog's option table.
        "username",
        "password",
        "security_token",
        "sobject",
        "instance_url",
        "domain",
        "api_version",
        "operation",
        "upsertField",
        "ignoreNullValues",
        "batchSize",
        # Ours.
        "client_id",
        "client_secret",
        "jwt_private_key",
        "jwt_private_key_file",
        "session_id",
        "sf_version",
        "ca_file",
        "resultsPath",
        "writeId",
        "maxJobBytes",
        "maxJobsInFlight",
        "failureThreshold",
        "successResults",
        "pollInterval",
        "maxPollInterval",
        "jobTimeout",
        "maxRetries",
        "maxRowRetries",
        "retryDelay",
        "checkLimits",
        "limitsMargin",
        "expectedRows",
        "concurrencyMode",
        # Spark adds it for save(path); we have no use for it.
        "path",
    )
}
_SECRETS = frozenset({"password", "security_token", "client_secret", "jwt_private_key", "session_id"})
_OPERATIONS = {name.lower(): name for name in OPERATIONS}


class OptionError(ValueError):
    """An option is missing, malformed or in conflict with another; the message names it."""


@dataclass(frozen=True)
class FailureThreshold:
    """When a write with failed rows raises: more than ``count`` rows, or more than ``fraction`` of them.

    Rows count as failed when Salesforce rejected them, when they were never sent (client-side rejects) or
    when Salesforce left them unprocessed.
    """

    count: int | None = None
    fraction: float | None = None

    @classmethod
    def parse(cls, text: str) -> FailureThreshold:
        value = text.strip()
        try:
            if value.endswith("%"):
                percent = float(value[:-1])
                if not 0 <= percent <= 100:
                    raise ValueError
                return cls(fraction=percent / 100)
            if re.fullmatch(r"\d+", value):
                return cls(count=int(value))
            fraction = float(value)
            if not 0 <= fraction <= 1:
                raise ValueError
            return cls(fraction=fraction)
        except ValueError:
            raise OptionError(
                f"option failureThreshold={text!r} is not a row count (e.g. 100), a percentage (e.g. 2.5%) "
                "or a fraction between 0 and 1 (e.g. 0.025)"
            ) from None

    def exceeded(self, failed: int, total: int) -> bool:
        if self.count is not None:
            return failed > self.count
        assert self.fraction is not None
        return total > 0 and failed / total > self.fraction

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count} rows"
        assert self.fraction is not None
        return f"{self.fraction:.4%}"


@dataclass(frozen=True)
class WriteOptions:
    """Everything a write needs to know, validated.

    Attributes:
        credentials: How to log in (secrets are hidden from ``repr``).
        sobject: The target object as given; validation insists on describe's exact spelling.
        operation: ``insert``, ``update``, ``upsert``, ``delete`` or ``hardDelete``.
        upsert_field: The external ID an upsert matches on.
        ignore_null_values: Leave fields unchanged for null cells instead of clearing them.
        bulk_api: ``"2"`` (Bulk API 2.0) or ``"1"``.
        serial: Bulk API 1.0's ``concurrencyMode=Serial``: a partition's batches are processed one at a time.
        batch_size: The ``batchSize`` option: records per Bulk API 1.0 batch, or per Bulk API 2.0 job (whose
            batches Salesforce cuts at 10,000 records itself); ``None`` when not given.
        max_job_bytes: CSV bytes per Salesforce job.
        max_jobs_in_flight: Jobs one partition keeps uploading or processing at once.
        ca_file: PEM bundle to trust.
        results_path: Directory (local path or a pyarrow filesystem URI) receiving this write's results.
        write_id: Name of this write's results directory under ``results_path``.
        failure_threshold: Raise after reporting when more rows than this fail; ``None`` never raises.
        success_results: Also keep the successful rows (with their Salesforce Ids).
        poll_interval: First interval between job status polls, in seconds.
        max_poll_interval: Longest interval between polls.
        job_timeout: Seconds to wait for one job before giving up (``None``: no limit).
        max_retries: Retries of a call that failed for a transient reason.
        max_row_retries: Times rows that failed for a transient reason (``UNABLE_TO_LOCK_ROW``, unprocessed)
            are sent again in a new job.
        retry_delay: Seconds before the first resend; each later one waits about twice as long.
        check_limits: Check the org's daily allocations (``/limits``) before sending anything.
        limits_margin: Share of each daily allocation a write must leave untouched.
        expected_rows: How many rows the write holds, if known, to check the allocations against.
    """

    credentials: Credentials
    sobject: str
    operation: str = "insert"
    upsert_field: str | None = None
    ignore_null_values: bool = False
    bulk_api: str = "2"
    serial: bool = False
    batch_size: int | None = None
    max_job_bytes: int = DEFAULT_MAX_JOB_BYTES
    max_jobs_in_flight: int = 4
    ca_file: str | None = None
    results_path: str = field(default_factory=lambda: default_results_path())
    write_id: str = ""
    failure_threshold: FailureThreshold | None = None
    success_results: bool = False
    poll_interval: float = 0.1
    max_poll_interval: float = 5.0
    job_timeout: float | None = None
    max_retries: int = 5
    max_row_retries: int = 3
    retry_delay: float = 1.0
    check_limits: bool = True
    limits_margin: float = 0.1
    expected_rows: int | None = None

    @property
    def results_dir(self) -> str:
        """This write's own results directory."""
        return f"{self.results_path.rstrip('/')}/{self.write_id}"

    @property
    def job_rows(self) -> int:
        """Records per job the writer sends: ``batchSize``, or by default 10,000 per Bulk API 1.0 batch and
        :data:`DEFAULT_JOB_ROWS` per Bulk API 2.0 job."""
        if self.batch_size is not None:
            return self.batch_size
        return DEFAULT_BATCH_SIZE if self.bulk_api == "1" else DEFAULT_JOB_ROWS

    @property
    def job_tail_rows(self) -> int:
        """Rows a partition's last job may hold beyond :attr:`job_rows` rather than leave them to a small job of
        their own: half a job's worth when the size is the default of Bulk API 2.0, none when ``batchSize`` is given
        (it is a limit) or on Bulk API 1.0 (whose batches take at most 10,000 records)."""
        if self.batch_size is not None or self.bulk_api == "1":
            return 0
        return DEFAULT_JOB_ROWS // 2

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> WriteOptions:
        """Parse Spark's (lower-cased, string-valued) options.

        Raises:
            OptionError: Naming the first option that is missing, unknown, malformed or conflicting.
        """
        given = {key.lower(): value for key, value in options.items()}
        unknown = sorted(key for key in given if key not in OPTION_NAMES)
        if unknown:
            raise OptionError(_unknown_options_message(unknown))
        reader = _Reader(given)
        sobject = reader.text("sobject")
        if not sobject:
            raise OptionError("option sobject is required: the Salesforce object to write, e.g. Contact")
        operation_text = reader.text("operation") or "insert"
        operation = _OPERATIONS.get(operation_text.lower())
        if operation is None:
            raise OptionError(
                f"option operation={operation_text!r} is not a Bulk API operation; use one of {', '.join(OPERATIONS)}"
            )
        upsert_field = reader.text("upsertfield")
        if operation == "upsert" and not upsert_field:
            raise OptionError("operation upsert needs option upsertField: the external ID field to match on")
        if upsert_field and operation != "upsert":
            raise OptionError(f"option upsertField is only for operation upsert, not {operation}")
        bulk_api = reader.text("api_version") or "2"
        if bulk_api not in ("1", "2"):
            hint = " (the REST API version is option sf_version)" if "." in bulk_api else ""
            raise OptionError(f"option api_version={bulk_api!r} must be 1 or 2 (the Bulk API version){hint}")
        concurrency = (reader.text("concurrencymode") or "Parallel").capitalize()
        if concurrency not in ("Parallel", "Serial"):
            raise OptionError(f"option concurrencyMode={concurrency!r} must be Parallel or Serial")
        if concurrency == "Serial" and bulk_api != "1":
            raise OptionError("option concurrencyMode=Serial needs api_version=1: Bulk API 2.0 is always parallel")
        # Bulk API 1.0 refuses batches over 10,000 records or 10 MB.
        batch_limit = bulk1.MAX_BATCH_RECORDS if bulk_api == "1" else MAX_BATCH_SIZE
        bytes_limit = bulk1.MAX_BATCH_BYTES if bulk_api == "1" else MAX_JOB_BYTES
        credentials = _credentials(reader)
        try:
            credentials.method  # noqa: B018 - validates the login options
        except ValueError as error:
            raise OptionError(str(error)) from None
        sobject_id = re.sub(r"[^A-Za-z0-9_]+", "", sobject)
        threshold_text = reader.text("failurethreshold")
        return cls(
            credentials=credentials,
            sobject=sobject,
            operation=operation,
            upsert_field=upsert_field,
            ignore_null_values=reader.boolean("ignorenullvalues", default=False),
            bulk_api=bulk_api,
            batch_size=reader.integer("batchsize", None, minimum=1, maximum=batch_limit),
            max_job_bytes=reader.integer(
                "maxjobbytes", min(DEFAULT_MAX_JOB_BYTES, bytes_limit), minimum=1024, maximum=bytes_limit
            ),
            serial=concurrency == "Serial",
            max_jobs_in_flight=reader.integer("maxjobsinflight", 4, minimum=1, maximum=64),
            ca_file=_ca_file(reader.text("ca_file")),
            results_path=_results_path(reader.text("resultspath")),
            write_id=reader.text("writeid") or _new_write_id(sobject_id, operation),
            failure_threshold=FailureThreshold.parse(threshold_text) if threshold_text else None,
            success_results=reader.boolean("successresults", default=False),
            poll_interval=reader.number("pollinterval", 0.1, minimum=0.01),
            max_poll_interval=reader.number("maxpollinterval", 5.0, minimum=0.01),
            job_timeout=reader.number("jobtimeout", None, minimum=1.0),
            max_retries=reader.integer("maxretries", 5, minimum=0, maximum=100),
            max_row_retries=reader.integer("maxrowretries", 3, minimum=0, maximum=20),
            retry_delay=reader.number("retrydelay", 1.0, minimum=0.0) or 0.0,
            check_limits=reader.boolean("checklimits", default=True),
            limits_margin=_fraction(reader, "limitsmargin", 0.1),
            expected_rows=reader.integer("expectedrows", -1, minimum=0, maximum=10**12)
            if reader.text("expectedrows")
            else None,
        )


class _Reader:
    """Typed access to the lower-cased options, with errors that name the option as documented."""

    def __init__(self, given: Mapping[str, str]) -> None:
        self.given = given

    def text(self, key: str) -> str | None:
        value = self.given.get(key)
        if value is None:
            return None
        value = value.strip() if key not in _SECRETS else value
        return value or None

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.text(key)
        if value is None:
            return default
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise OptionError(f"option {OPTION_NAMES[key]}={value!r} must be true or false")

    @overload
    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int: ...
    @overload
    def integer(self, key: str, default: None, *, minimum: int, maximum: int) -> int | None: ...
    def integer(self, key: str, default: int | None, *, minimum: int, maximum: int) -> int | None:
        value = self.text(key)
        if value is None:
            return default
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise OptionError(f"option {OPTION_NAMES[key]}={value!r} must be a whole number") from None
        if not minimum <= number <= maximum:
            raise OptionError(f"option {OPTION_NAMES[key]}={number} must be between {minimum} and {maximum}")
        return number

    def number(self, key: str, default: float | None, *, minimum: float) -> float | None:
        value = self.text(key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise OptionError(f"option {OPTION_NAMES[key]}={value!r} must be a number of seconds") from None
        if not number >= minimum or number == float("inf"):
            raise OptionError(f"option {OPTION_NAMES[key]}={value} must be at least {minimum} seconds")
        return number


def _credentials(reader: _Reader) -> Credentials:
    key_text = reader.text("jwt_private_key")
    key_file = reader.text("jwt_private_key_file")
    if key_text and key_file:
        raise OptionError("give option jwt_private_key or jwt_private_key_file, not both")
    if key_file:
        if "\n" in key_file or "PRIVATE KEY" in key_file:
            raise OptionError("option jwt_private_key_file holds key text, not a path; give it as jwt_private_key")
        # Read on the driver so executors need no copy of the key file.
        try:
            key_text = Path(key_file).read_text()
        except OSError as error:
            raise OptionError(f"option jwt_private_key_file: cannot read {key_file}: {error.strerror}") from None
    domain = reader.text("domain") or "login"
    if not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        raise OptionError(f"option domain={domain!r} must be login, test or a My Domain prefix such as acme.my")
    instance_url = reader.text("instance_url")
    if instance_url and not re.match(r"https://[^/\s]+/?$", instance_url):
        raise OptionError(f"option instance_url={instance_url!r} must look like https://acme.my.salesforce.com")
    version = reader.text("sf_version") or DEFAULT_API_VERSION
    if not re.fullmatch(r"\d{2,3}\.0", version.removeprefix("v")):
        raise OptionError(f"option sf_version={version!r} must be a REST API version such as 59.0")
    return Credentials(
        username=reader.text("username"),
        password=reader.text("password"),
        security_token=reader.text("security_token"),
        client_id=reader.text("client_id"),
        client_secret=reader.text("client_secret"),
        jwt_private_key=key_text,
        session_id=reader.text("session_id"),
        instance_url=instance_url.rstrip("/") if instance_url else None,
        domain=domain,
        api_version=version.removeprefix("v"),
    )


def _fraction(reader: _Reader, key: str, default: float) -> float:
    value = reader.number(key, default, minimum=0.0)
    assert value is not None
    if value >= 1:
        raise OptionError(f"option {OPTION_NAMES[key]}={value:g} must be a fraction below 1, e.g. 0.1")
    return value


def _ca_file(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise OptionError(f"option ca_file={value!r} is not a readable file (a PEM bundle of CA certificates)")
    return str(path.resolve())


def _results_path(value: str | None) -> str:
    if value is None:
        return default_results_path()
    if "://" in value:
        return value.rstrip("/")
    # Executors and the commit worker resolve relative paths against their own working directories.
    return os.path.abspath(os.path.expanduser(value))


def default_results_path() -> str:
    """Where results go when ``resultsPath`` is not given."""
    return os.path.join(tempfile.gettempdir(), "sf_assets", "results")


def _new_write_id(sobject: str, operation: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{sobject}-{operation}-{uuid.uuid4().hex[:8]}"


def _unknown_options_message(unknown: list[str]) -> str:
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, OPTION_NAMES, n=1, cutoff=0.75)
        hint = f" (did you mean {OPTION_NAMES[close[0]]}?)" if close else ""
        parts.append(f"{key}{hint}")
    return f"unknown option{'s' if len(parts) > 1 else ''}: {', '.join(parts)}"
