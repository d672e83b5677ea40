"""Every kind of bad input the README's "Bad input" table documents, through the real data source.

The cases live here, once: ``test_readme_table_lists_every_case`` checks that the README's table names the same
cases with the same outcomes, so the two cannot drift. Four outcomes are documented:

- **error before any write**: a clear error. The message holds the documented text, and the org has no job and
  no record afterwards.
- **per-row error**: in the results. The row is in ``failed/`` with the documented ``sf__Error`` code, the
  other rows of the write landed, and rows in = succeeded + failed + unprocessed.
- **handled**: the write succeeds and does the documented thing (NUL bytes removed, text kept exactly, ...).
- **error after rows were sent**: a task fails part-way through its partition; the message holds the documented
  text, and the aborted write's summary accounts for every row of that partition, including those that landed.

Per-row cases share a few writes (one per group and Bulk API), made by the first case of the group that runs.

Per-row and handled cases run through Bulk API 2.0 and 1.0 (``api_version``), since their rows reach the
partition writer and Salesforce. Errors before any write run through 2.0 only: they are raised on the driver by
option parsing, login, describe or the column plan, which are the same for both APIs and come before any Bulk call.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import certifi
import pyarrow.parquet as pq
import pytest
from pyspark.errors import AnalysisException, PythonException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets.spark import WriteSummary
from sf_assets_tests.conftest import operator_call

from .conftest import Write

README = Path(__file__).resolve().parents[2] / "README.md"

# Driver-side errors reach the caller as AnalysisException, task errors as PythonException.
SPARK_ERRORS = (AnalysisException, PythonException)
ERROR = "error before any write"
ROW = "per-row error"
HANDLED = "handled"
PARTIAL = "error after rows were sent"


@dataclass(frozen=True)
class Ctx:
    """What a case needs to build its input and check its outcome."""

    spark: SparkSession
    writer: Write
    org: LocalOrg
    session: Any
    sf: Salesforce
    connection: dict[str, str]
    tmp_path: Path
    api: str = "2"

    def write(self, df: DataFrame, **options: str) -> WriteSummary:
        """Write through this context's Bulk API; an ``api_version`` in ``options`` (a bad one) wins."""
        summary = self.writer(df, **{"api_version": self.api, **options})
        # Both halves pass on the same expectations, so prove each really went through its own API.
        used = {api for api, count in self.jobs().items() if count}
        assert used == ({self.api} if summary.job_ids else set()), (self.api, used, summary.job_ids)
        return summary

    def frame(self, rows: list[tuple[Any, ...]], schema: str) -> DataFrame:
        return self.spark.createDataFrame(rows, schema).coalesce(1)

    @property
    def creds(self) -> dict[str, str]:
        keys = ("username", "password", "security_token", "instance_url", "ca_file")
        return {key: self.connection[key] for key in keys}

    def counters(self) -> dict[str, Any]:
        return dict(operator_call(self.org, self.session, "GET", "counters").json())

    def jobs(self) -> dict[str, int]:
        """The org's jobs by Bulk API."""
        counters = self.counters()
        return {"2": sum(counters["jobs"].values()), "1": sum(counters["bulk1_jobs"].values())}


@dataclass(frozen=True)
class Attempt:
    """A write to try: the DataFrame, its options (``""`` removes one of the org's credentials) and the mode."""

    df: DataFrame
    options: dict[str, str]
    mode: str = "append"


@dataclass(frozen=True)
class Case:
    """One row of the README table.

    Attributes:
        name: The case's name, as the README lists it.
        area: options, credentials, schema, values, encodings or sizes.
        bad_input: What is wrong, as the README says it.
        outcome: ``ERROR``, ``ROW``, ``HANDLED`` or ``PARTIAL``.
        gets: What the README quotes: the start of the message, the ``sf__Error`` code, or what is done.
        build: For errors: the write to try.
        fragments: For errors: further text the message must hold.
        raised: For errors: the exception class the message must name (never a bare crash).
        group: For per-row errors and handled rows: the shared write the row is part of.
        check: For handled cases outside a group, and partial writes: the whole check.
        bug: Set when sf_assets misbehaves: the case is a strict xfail with this reason.
    """

    name: str
    area: str
    bad_input: str
    outcome: str
    gets: str
    build: Callable[[Ctx], Attempt] | None = None
    fragments: tuple[str, ...] = ()
    raised: str = "OptionError"
    group: str | None = None
    check: Callable[[Ctx], None] | None = None
    bug: str | None = None

    def param(self) -> Any:
        marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {self.bug}")] if self.bug else []
        return pytest.param(self, id=self.name, marks=marks)


# --- inputs ------------------------------------------------------------------------------------------------------


def _contacts(ctx: Ctx, **options: str) -> Attempt:
    return Attempt(ctx.frame([("Doe", "C-1")], "LastName string, External_Id__c string"), options)


def _columns(schema: str, row: tuple[Any, ...], **options: str) -> Callable[[Ctx], Attempt]:
    return lambda ctx: Attempt(ctx.frame([row], schema), {"sobject": "Contact", **options})


def _revoked_session(ctx: Ctx) -> Attempt:
    token = ctx.org.new_session()
    operator_call(ctx.org, ctx.session, "POST", "sessions/revoke", {"token": token})
    return _contacts(ctx, sobject="Contact", username="", password="", security_token="", session_id=token)


def _bad_client_secret(ctx: Ctx) -> Attempt:
    client_id = ctx.connection["client_id"]
    return _contacts(
        ctx, sobject="Contact", username="", password="", security_token="", client_id=client_id, client_secret="nope"
    )


def _nested_columns(ctx: Ctx) -> Attempt:
    df = ctx.spark.sql(
        "SELECT 'Doe' AS LastName, array('a', 'b') AS Description, map('k', 1) AS Title, "
        "named_struct('a', 1) AS Department, CAST('x' AS BINARY) AS FirstName"
    )
    return Attempt(df, {"sobject": "Contact"})


def _rejected_before_sending(ctx: Ctx, df: Any, code: str, good: int, **options: str) -> None:
    """The write succeeds; the bad row is a failed row with ``code``, never sent; the good rows land."""
    summary = ctx.write(df, sobject="Contact", **options)
    failed = pq.read_table(Path(summary.results_dir) / "failed").to_pylist()
    assert [row["sf__Error"].split(":", 1)[0] for row in failed] == [code]
    assert (summary.records_in, summary.succeeded, summary.failed, summary.unprocessed) == (good + 1, good, 1, 0)
    assert ctx.counters()["records"]["Contact"] == good


def _single_big_row(ctx: Ctx) -> None:
    df = ctx.frame([("x" * 3000,)], "LastName string")
    _rejected_before_sending(ctx, df, "ROW_TOO_LARGE", 0, maxJobBytes="1024")


def _invalid_utf8(ctx: Ctx) -> None:
    # Spark casts binary to string without checking UTF-8, so such strings do reach data sources.
    raw = ctx.frame([(bytearray(b"\xff\xfeDoe"),), (bytearray(b"Roe"),)], "b binary")
    _rejected_before_sending(ctx, raw.select(F.col("b").cast("string").alias("LastName")), "INVALID_UTF8", 1)


ERROR_CASES = [
    # options
    Case("missing_sobject", "options", "no `sobject`", ERROR, "option sobject is required",
         build=lambda ctx: _contacts(ctx)),
    Case("unknown_option", "options", "a misspelt option (`upsertFeild`)", ERROR,
         "unknown option: upsertfeild (did you mean upsertField?)",
         build=lambda ctx: _contacts(ctx, sobject="Contact", upsertFeild="External_Id__c")),
    Case("bad_operation", "options", "`operation` `merge`", ERROR,
         "option operation='merge' is not a Bulk API operation",
         build=lambda ctx: _contacts(ctx, sobject="Contact", operation="merge")),
    Case("upsert_without_upsert_field", "options", "`upsert` with no `upsertField`", ERROR,
         "operation upsert needs option upsertField",
         build=lambda ctx: _contacts(ctx, sobject="Contact", operation="upsert")),
    Case("upsert_field_without_upsert", "options", "`upsertField` on an insert", ERROR,
         "option upsertField is only for operation upsert, not insert",
         build=lambda ctx: _contacts(ctx, sobject="Contact", upsertField="External_Id__c")),
    Case("api_version_3", "options", "`api_version` `3`", ERROR, "option api_version='3' must be 1 or 2",
         build=lambda ctx: _contacts(ctx, sobject="Contact", api_version="3")),
    Case("api_version_as_rest_version", "options", "`api_version` `59.0` (a REST version)", ERROR,
         "option api_version='59.0' must be 1 or 2 (the Bulk API version) (the REST API version is option sf_version)",
         build=lambda ctx: _contacts(ctx, sobject="Contact", api_version="59.0")),
    Case("bad_sf_version", "options", "`sf_version` `59`", ERROR,
         "option sf_version='59' must be a REST API version such as 59.0",
         build=lambda ctx: _contacts(ctx, sobject="Contact", sf_version="59")),
    Case("batch_size_zero", "options", "`batchSize` `0`", ERROR, "option batchSize=0 must be between 1 and",
         build=lambda ctx: _contacts(ctx, sobject="Contact", batchSize="0")),
    Case("batch_size_not_a_number", "options", "`batchSize` `ten`", ERROR,
         "option batchSize='ten' must be a whole number",
         build=lambda ctx: _contacts(ctx, sobject="Contact", batchSize="ten")),
    Case("max_job_bytes_too_small", "options", "`maxJobBytes` `100`", ERROR,
         "option maxJobBytes=100 must be between 1024 and 104857600",
         build=lambda ctx: _contacts(ctx, sobject="Contact", maxJobBytes="100")),
    Case("bad_failure_threshold", "options", "`failureThreshold` `150%`", ERROR,
         "option failureThreshold='150%' is not a row count",
         build=lambda ctx: _contacts(ctx, sobject="Contact", failureThreshold="150%")),
    Case("bad_boolean", "options", "`ignoreNullValues` `maybe`", ERROR,
         "option ignoreNullValues='maybe' must be true or false",
         build=lambda ctx: _contacts(ctx, sobject="Contact", ignoreNullValues="maybe")),
    Case("overwrite_mode", "options", '`mode("overwrite")`', ERROR, 'mode("overwrite") is not supported',
         build=lambda ctx: Attempt(_contacts(ctx).df, {"sobject": "Contact"}, mode="overwrite")),
    # credentials
    Case("no_credentials", "credentials", "no login options at all", ERROR,
         "no login options: give username + password",
         build=lambda ctx: _contacts(ctx, sobject="Contact", username="", password="", security_token="")),
    Case("conflicting_logins", "credentials", "a password and a `session_id`", ERROR,
         "conflicting login options: they select session and soap",
         build=lambda ctx: _contacts(ctx, sobject="Contact", session_id="00Dx!token")),
    Case("wrong_password", "credentials", "a wrong password", ERROR, "refused: INVALID_LOGIN",
         fragments=("SOAP login as",), raised="AuthenticationError",
         build=lambda ctx: _contacts(ctx, sobject="Contact", password="wrong")),
    Case("bad_client_secret", "credentials", "a wrong `client_secret`", ERROR, "refused: invalid_client",
         fragments=("OAuth login (client_credentials)",), raised="AuthenticationError", build=_bad_client_secret),
    Case("revoked_session_id", "credentials", "a revoked (or expired) `session_id`", ERROR,
         "HTTP 401: INVALID_SESSION_ID", raised="ApiError", build=_revoked_session),
    Case("session_id_without_instance_url", "credentials", "`session_id` with no `instance_url`", ERROR,
         "login by session id needs instance_url",
         build=lambda ctx: _contacts(
             ctx, sobject="Contact", username="", password="", security_token="", instance_url="", session_id="00Dx"
         )),
    Case("instance_url_not_https", "credentials", "`instance_url` `http://…`", ERROR,
         "must look like https://acme.my.salesforce.com",
         build=lambda ctx: _contacts(ctx, sobject="Contact", instance_url="http://127.0.0.1:9")),
    Case("ca_file_missing", "credentials", "`ca_file` that does not exist", ERROR, "is not a readable file",
         build=lambda ctx: _contacts(ctx, sobject="Contact", ca_file=str(ctx.tmp_path / "none.pem"))),
    Case("ca_file_of_another_ca", "credentials",
         "`ca_file` that does not sign the org's certificate (retried `maxRetries` times)", ERROR,
         "CERTIFICATE_VERIFY_FAILED", raised="SSLError",
         # maxRetries=0: TLS failures are retried as transient (about 15 s with the default 5 retries).
         build=lambda ctx: _contacts(ctx, sobject="Contact", ca_file=certifi.where(), maxRetries="0")),
    Case("jwt_key_file_missing", "credentials", "`jwt_private_key_file` that does not exist", ERROR,
         "option jwt_private_key_file: cannot read",
         build=lambda ctx: _contacts(ctx, sobject="Contact", jwt_private_key_file=str(ctx.tmp_path / "no.key"))),
    # schema
    Case("unknown_object", "schema", "`sobject` `Contct`", ERROR, "option sobject='Contct': the org has no object",
         build=lambda ctx: _contacts(ctx, sobject="Contct")),
    Case("mis_cased_object", "schema", "`sobject` `contact`", ERROR,
         "option sobject='contact': the object is called 'Contact'", raised="SchemaError",
         build=lambda ctx: _contacts(ctx, sobject="contact")),
    Case("unknown_column", "schema", "a column `LastNam`", ERROR,
         "column 'LastNam': Contact has no such field; did you mean 'LastName'?", raised="SchemaError",
         build=_columns("LastNam string", ("Doe",))),
    Case("mis_cased_column", "schema", "a column `lastname`", ERROR,
         "column 'lastname': the field is spelled 'LastName'", raised="SchemaError",
         build=_columns("lastname string", ("Doe",))),
    Case("duplicate_columns", "schema", "columns `LastName` and `lastname`", ERROR,
         "columns 'LastName' and 'lastname' name the same field", raised="SchemaError",
         build=_columns("LastName string, lastname string", ("Doe", "Roe"))),
    Case("no_columns", "schema", "a DataFrame with no columns", ERROR, "the DataFrame has no columns",
         raised="SchemaError", build=lambda ctx: Attempt(ctx.spark.range(2).select(), {"sobject": "Contact"})),
    Case("read_only_field", "schema", "a read-only field (`Contact.Name`) on insert", ERROR,
         "column 'Name': field Contact.Name is not createable", raised="SchemaError",
         build=_columns("LastName string, Name string", ("Doe", "John Doe"))),
    Case("id_on_insert", "schema", "an `Id` column on insert", ERROR,
         "column 'Id': an insert creates new records and cannot take an Id", raised="SchemaError",
         build=_columns("Id string, LastName string", ("003000000000001AAA", "Doe"))),
    Case("missing_required_field", "schema", "insert without a required field (`LastName`)", ERROR,
         "insert into Contact needs the required field LastName", raised="SchemaError",
         build=_columns("FirstName string", ("John",))),
    Case("upsert_field_not_external_id", "schema", "`upsertField` `LastName` (no external ID)", ERROR,
         "option upsertField='LastName': Contact.LastName is not an external ID field", raised="SchemaError",
         build=_columns("LastName string", ("Doe",), operation="upsert", upsertField="LastName")),
    Case("upsert_key_column_missing", "schema", "upsert whose DataFrame lacks the `upsertField` column", ERROR,
         "the DataFrame has no column 'External_Id__c' to match on", raised="SchemaError",
         build=_columns("LastName string", ("Doe",), operation="upsert", upsertField="External_Id__c")),
    Case("delete_with_extra_columns", "schema", "delete with columns besides `Id`", ERROR,
         "delete takes only the column 'Id'; drop 'LastName'", raised="SchemaError",
         build=_columns("Id string, LastName string", ("003000000000001AAA", "Doe"), operation="delete")),
    Case("update_without_id", "schema", "update with no `Id` column", ERROR, "update needs the column 'Id'",
         raised="SchemaError", build=_columns("LastName string", ("Doe",), operation="update")),
    Case("relationship_to_non_external_id", "schema", "relationship column `Account.Name` (no external ID)", ERROR,
         "column 'Account.Name': Account.Name is not an external ID field (external IDs: Oracle_Id__c)",
         raised="SchemaError", build=_columns("LastName string, `Account.Name` string", ("Doe", "Acme"))),
    Case("array_map_struct_binary_columns", "schema", "array, map, struct and binary columns", ERROR,
         "column 'Description' has type array<string>, which has no Salesforce CSV form",
         fragments=("column 'Title' has type map<string,int>", "column 'Department' has type struct<a:int>",
                    "column 'FirstName' has type binary"),
         raised="SchemaError", build=_nested_columns),

]  # fmt: skip


# --- per-row groups ----------------------------------------------------------------------------------------------


@dataclass
class GroupOutcome:
    """One shared write: its summary, each tagged row's errors, and the tagged rows that landed."""

    summary: WriteSummary
    tags: list[str]
    good: list[str]
    failed: dict[str, list[str]] = field(default_factory=dict)
    landed: dict[str, dict[str, Any]] = field(default_factory=dict)


ODD_UNICODE = "Zoë 😀 𝔘𝔫𝔦 e\u0301 \u200b\u202eRTL\u202c 中文"
CR_LF_TEXT = 'line 1\r\nline 2\n"quoted", with, commas\rend'


def _contact_insert(ctx: Ctx) -> GroupOutcome:
    """Contact insert, tagged by External_Id__c (a plain field on insert)."""
    ctx.sf.Account.create({"Name": "Parent", "Oracle_Id__c": "PARENT-1"})
    schema = (
        "External_Id__c string, LastName string, Email string, MailingLatitude double, OtherLatitude string, "
        "Birthdate date, Description string, `Account.Oracle_Id__c` string"
    )
    rows = [
        ("ok-1", "Doe", "doe@example.com", 48.85, "2.35", dt.date(1980, 5, 17), "fine", "PARENT-1"),
        ("ok-2", "Roe", None, None, None, None, None, None),
        ("nan_in_double", "Nan", None, float("nan"), None, None, None, None),
        ("infinity_in_double", "Inf", None, float("-inf"), None, None, None, None),
        ("string_over_field_length", "L" * 81, None, None, None, None, None, None),
        ("text_over_32000_chars", "Long", None, None, None, None, "t" * 32_001, None),
        ("invalid_email", "Mail", "not an email", None, None, None, None, None),
        ("null_in_required_field", None, None, None, None, None, None, None),
        ("empty_string_in_required_field", "", None, None, None, None, None, None),
        ("text_in_number_field", "Text", None, None, "north", None, None, None),
        ("date_out_of_range", "Date", None, None, None, dt.date(9999, 12, 31), None, None),
        ("unknown_parent_external_id", "Orphan", None, None, None, None, None, "NO-SUCH-ACCOUNT"),
        ("nul_bytes", "Nul\x00Byte", None, None, None, None, "a\x00b", None),
        ("emoji_and_odd_unicode", ODD_UNICODE, None, None, None, None, ODD_UNICODE, None),
        ("cr_lf_quotes_commas", 'Quote, "Q"', None, None, None, None, CR_LF_TEXT, None),
    ]
    df = ctx.frame(rows, schema).withColumn(
        "Birthdate",
        # Python dates stop at 9999; Spark's go on: 10000-01-01 is past what Salesforce can hold.
        F.when(F.col("External_Id__c") == "date_out_of_range", F.date_add(F.col("Birthdate"), 1)).otherwise(
            F.col("Birthdate")
        ),
    )
    summary = ctx.write(df, sobject="Contact", successResults="true")
    landed = {
        record["External_Id__c"]: record
        for record in _query(ctx.sf, "SELECT External_Id__c, LastName, Description, AccountId FROM Contact")
    }
    return _outcome(summary, [row[0] for row in rows], ["ok-1", "ok-2"], "External_Id__c", landed)


def _account_upsert(ctx: Ctx) -> GroupOutcome:
    """Account upsert on Oracle_Id__c, tagged by Name."""
    rows = [
        ("ACC-1", "ok-1", 1000.0, 10),
        ("ACC-2", "ok-2", None, None),
        ("DUP-1", "duplicate_external_ids", None, None),
        ("dup-1", "duplicate_external_ids", None, None),  # external IDs match case-insensitively
        (None, "null_upsert_key", None, None),
        ("ACC-3", "number_out_of_range", 1e20, None),
        ("ACC-4", "integer_out_of_range", None, 10**12),
    ]
    schema = "Oracle_Id__c string, Name string, AnnualRevenue double, NumberOfEmployees long"
    summary = ctx.write(ctx.frame(rows, schema), sobject="Account", operation="upsert", upsertField="Oracle_Id__c")
    landed = {record["Name"]: record for record in _query(ctx.sf, "SELECT Name, Oracle_Id__c FROM Account")}
    return _outcome(summary, [row[1] for row in rows], ["ok-1", "ok-2"], "Name", landed)


def _contact_update(ctx: Ctx) -> GroupOutcome:
    """Contact update by Id, tagged by LastName."""
    keep = [ctx.sf.Contact.create({"LastName": "before"})["id"] for _ in range(2)]
    gone = ctx.sf.Contact.create({"LastName": "gone"})["id"]
    ctx.sf.Contact.delete(gone)
    rows = [
        (keep[0], "ok-1"),
        (keep[1], "ok-2"),
        ("not-an-id", "malformed_id"),
        (gone, "deleted_record_id"),
        (None, "update_row_without_id"),
    ]
    summary = ctx.write(ctx.frame(rows, "Id string, LastName string"), sobject="Contact", operation="update")
    landed = {record["LastName"]: record for record in _query(ctx.sf, "SELECT Id, LastName FROM Contact")}
    return _outcome(summary, [row[1] for row in rows], ["ok-1", "ok-2"], "LastName", landed)


GROUPS: dict[str, Callable[[Ctx], GroupOutcome]] = {
    "contact_insert": _contact_insert,
    "account_upsert": _account_upsert,
    "contact_update": _contact_update,
}


def _query(sf: Salesforce, soql: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "attributes"} for r in sf.query_all(soql)["records"]]


def _outcome(
    summary: WriteSummary, tags: list[str], good: list[str], tag_column: str, landed: dict[str, dict[str, Any]]
) -> GroupOutcome:
    outcome = GroupOutcome(summary, tags, good, landed={tag: landed[tag] for tag in tags if tag in landed})
    for path in sorted(Path(summary.results_dir, "failed").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            outcome.failed.setdefault(str(row[tag_column]), []).append(str(row["sf__Error"]))
    return outcome


def _group_row(name: str, area: str, bad_input: str, code: str, group: str) -> Case:
    return Case(name, area, bad_input, ROW, code, group=group)


ROW_CASES = [
    _group_row("nan_in_double", "values", "NaN in a double column", "NON_FINITE_NUMBER", "contact_insert"),
    _group_row("infinity_in_double", "values", "±infinity in a double column", "NON_FINITE_NUMBER", "contact_insert"),
    _group_row("string_over_field_length", "values", "81 characters for `LastName` (80)", "STRING_TOO_LONG",
               "contact_insert"),
    _group_row("text_over_32000_chars", "sizes", "32,001 characters for a long text area (32,000)",
               "STRING_TOO_LONG", "contact_insert"),
    _group_row("invalid_email", "values", "`not an email` for `Email`", "INVALID_EMAIL_ADDRESS", "contact_insert"),
    _group_row("null_in_required_field", "values", "null `LastName` on insert", "REQUIRED_FIELD_MISSING",
               "contact_insert"),
    _group_row("empty_string_in_required_field", "values", "empty string `LastName` on insert (counts as null)",
               "REQUIRED_FIELD_MISSING", "contact_insert"),
    _group_row("text_in_number_field", "values", "`north` for a number field", "INVALID_FIELD", "contact_insert"),
    _group_row("date_out_of_range", "values", "date `+10000-01-01`", "INVALID_FIELD", "contact_insert"),
    _group_row("unknown_parent_external_id", "values", "`Account.Oracle_Id__c` naming no account", "INVALID_FIELD",
               "contact_insert"),
    _group_row("duplicate_external_ids", "values", "one external ID twice in a write (`DUP-1`, `dup-1`)",
               "DUPLICATE_VALUE", "account_upsert"),
    _group_row("null_upsert_key", "values", "null upsert key", "MISSING_ARGUMENT", "account_upsert"),
    _group_row("number_out_of_range", "values", "`1e20` for a currency field (18 digits)",
               "NUMBER_OUTSIDE_VALID_RANGE", "account_upsert"),
    _group_row("integer_out_of_range", "values", "`10^12` for an int field (9 digits)", "NUMBER_OUTSIDE_VALID_RANGE",
               "account_upsert"),
    _group_row("malformed_id", "values", "`not-an-id` as `Id` on update", "MALFORMED_ID", "contact_update"),
    _group_row("deleted_record_id", "values", "the `Id` of a deleted record on update", "ENTITY_IS_DELETED",
               "contact_update"),
    _group_row("update_row_without_id", "values", "null `Id` on update", "MISSING_ARGUMENT", "contact_update"),
]  # fmt: skip


# --- handled -----------------------------------------------------------------------------------------------------


def _landed_as(tag: str, **fields: Any) -> Callable[[GroupOutcome], None]:
    def check(outcome: GroupOutcome) -> None:
        assert tag not in outcome.failed
        record = outcome.landed[tag]
        assert {name: record[name] for name in fields} == fields

    return check


HANDLED_IN_GROUPS: dict[str, Callable[[GroupOutcome], None]] = {
    "nul_bytes": _landed_as("nul_bytes", LastName="NulByte", Description="ab"),
    "emoji_and_odd_unicode": _landed_as("emoji_and_odd_unicode", LastName=ODD_UNICODE, Description=ODD_UNICODE),
    "cr_lf_quotes_commas": _landed_as("cr_lf_quotes_commas", LastName='Quote, "Q"', Description=CR_LF_TEXT),
}


def _empty_dataframe(ctx: Ctx) -> None:
    summary = ctx.write(ctx.spark.createDataFrame([], "LastName string"), sobject="Contact")
    assert (summary.status, summary.records_in, summary.succeeded, summary.failed, summary.job_ids) == (
        "succeeded",
        0,
        0,
        0,
        (),
    )
    assert ctx.jobs() == {"2": 0, "1": 0}
    assert ctx.counters()["records"]["Contact"] == 0


def _oversized_row_after_others(ctx: Ctx) -> None:
    rows = [(f"small-{index}",) for index in range(6)] + [("x" * 3000,)]
    df = ctx.frame(rows, "LastName string")
    _rejected_before_sending(ctx, df, "ROW_TOO_LARGE", 6, maxJobBytes="1024", batchSize="2")


HANDLED_CASES = [
    Case("nul_bytes", "encodings", "NUL bytes inside text", HANDLED, "NUL bytes removed, the rest lands",
         group="contact_insert"),
    Case("emoji_and_odd_unicode", "encodings", "emoji, astral letters, combining marks, zero-width and bidi controls",
         HANDLED, "lands unchanged", group="contact_insert"),
    Case("cr_lf_quotes_commas", "encodings", "CR, LF, CRLF, quotes and commas inside text", HANDLED,
         "quoted, lands unchanged", group="contact_insert"),
    Case("empty_dataframe", "sizes", "an empty DataFrame", HANDLED, "succeeds with 0 rows and no Salesforce job",
         check=_empty_dataframe),
    Case("single_row_over_max_job_bytes", "sizes", "a row bigger than `maxJobBytes`", HANDLED,
         "not sent, reported as a failed row `ROW_TOO_LARGE`", check=_single_big_row),
    Case("oversized_row_after_others", "sizes", "a row bigger than `maxJobBytes` after other rows of its partition",
         HANDLED, "not sent, reported as a failed row `ROW_TOO_LARGE`; the other rows land",
         check=_oversized_row_after_others),
    Case("invalid_utf8", "encodings", "a string that is not valid UTF-8 (binary cast to string)", HANDLED,
         "not sent, reported as a failed row `INVALID_UTF8` (text kept with U+FFFD)", check=_invalid_utf8),
]  # fmt: skip


CASES = ERROR_CASES + ROW_CASES + HANDLED_CASES


# --- tests -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def group_outcomes() -> dict[tuple[str, str], GroupOutcome]:
    """Each group's write per Bulk API, keyed by (api_version, group), made by the first case of it that runs."""
    return {}


@pytest.fixture
def ctx(
    spark: SparkSession,
    write: Write,
    org: LocalOrg,
    org_session: Any,
    sf: Salesforce,
    connection: dict[str, str],
    tmp_path: Path,
) -> Ctx:
    return Ctx(spark, write, org, org_session, sf, connection, tmp_path)


@pytest.fixture
def api_ctx(ctx: Ctx, bulk_api: str) -> Ctx:
    """``ctx`` writing through each Bulk API in turn."""
    return replace(ctx, api=bulk_api)


def _save(ctx: Ctx, attempt: Attempt) -> None:
    if attempt.mode == "append":
        ctx.write(attempt.df, **attempt.options)
        return
    writer = attempt.df.write.format("salesforce-batch").mode(attempt.mode)
    writer.options(**ctx.creds).options(**attempt.options).save()


def _group(ctx: Ctx, outcomes: dict[tuple[str, str], GroupOutcome], name: str) -> GroupOutcome:
    key = (ctx.api, name)
    if key not in outcomes:
        outcomes[key] = GROUPS[name](ctx)
    return outcomes[key]


def test_cases_have_unique_names_and_cover_every_area() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert {case.area for case in CASES} == {"options", "credentials", "schema", "values", "encodings", "sizes"}
    assert len(CASES) >= 25


# Single-API on purpose: these errors are raised on the driver before any Bulk call, whatever api_version says.
@pytest.mark.parametrize("case", [case.param() for case in ERROR_CASES])
def test_error_before_any_write(ctx: Ctx, case: Case) -> None:
    assert case.build is not None
    attempt = case.build(ctx)
    with pytest.raises(SPARK_ERRORS) as raised:
        _save(ctx, attempt)
    message = str(raised.value)
    assert f"{case.raised}: " in message, message
    for text in (case.gets, *case.fragments):
        assert text in message, message
    assert ctx.jobs() == {"2": 0, "1": 0}
    assert set(ctx.counters()["records"].values()) == {0}


@pytest.mark.parametrize("case", [case.param() for case in ROW_CASES])
def test_per_row_error_in_results(
    api_ctx: Ctx, group_outcomes: dict[tuple[str, str], GroupOutcome], case: Case
) -> None:
    assert case.group is not None
    outcome = _group(api_ctx, group_outcomes, case.group)
    errors = outcome.failed.get(case.name)
    assert errors, f"{case.name} is not among the failed rows: {outcome.failed}"
    assert len(errors) == outcome.tags.count(case.name)
    assert all(error.startswith(f"{case.gets}:") for error in errors), errors
    assert case.name not in outcome.landed
    summary = outcome.summary
    assert summary.errors_by_code[case.gets] >= len(errors)
    # The other rows landed, and every row is accounted for.
    assert set(outcome.good) <= set(outcome.landed)
    assert summary.records_in == len(outcome.tags) == summary.succeeded + summary.failed + summary.unprocessed
    assert summary.succeeded == len(outcome.landed)
    assert summary.failed == sum(len(errors) for errors in outcome.failed.values())
    assert set(outcome.landed) | set(outcome.failed) == set(outcome.tags)


@pytest.mark.parametrize("case", [case.param() for case in HANDLED_CASES])
def test_handled(api_ctx: Ctx, group_outcomes: dict[tuple[str, str], GroupOutcome], case: Case) -> None:
    if case.check is not None:
        case.check(api_ctx)
        return
    assert case.group is not None
    outcome = _group(api_ctx, group_outcomes, case.group)
    HANDLED_IN_GROUPS[case.name](outcome)
    assert set(outcome.good) <= set(outcome.landed)


def _readme_rows() -> dict[str, str]:
    text = README.read_text()
    start = text.index("### Bad input")
    end = text.index("\n## ", start)
    rows = {}
    for line in text[start:end].splitlines():
        match = re.match(r"\| `(\w+)` \|", line)
        if match:
            rows[match[1]] = line
    return rows


def test_readme_table_lists_every_case() -> None:
    rows = _readme_rows()
    assert sorted(rows) == sorted(case.name for case in CASES)
    for case in CASES:
        cells = [cell.strip() for cell in rows[case.name].strip("|").split(" | ")]
        assert cells[1] == case.area, rows[case.name]
        assert cells[3] == case.outcome + (" (BUG)" if case.bug else ""), rows[case.name]
        assert case.gets in cells[4], rows[case.name]


def readme_table() -> str:
    """The README's table, as this module defines it (``python -m sf_assets_tests.spark.test_bad_input``)."""
    lines = ["| case | area | bad input | outcome | what it gets |", "|---|---|---|---|---|"]
    for case in CASES:
        gets = case.gets if case.outcome == HANDLED else f"`{case.gets}`"
        if case.outcome == PARTIAL:
            gets += "; the summary counts the partition's rows, the ones that landed too"
        outcome = case.outcome + (" (BUG)" if case.bug else "")
        lines.append(f"| `{case.name}` | {case.area} | {case.bad_input} | {outcome} | {gets} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
