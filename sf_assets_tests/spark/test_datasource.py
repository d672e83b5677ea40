"""The data source through a real local SparkSession against the local org."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests
from pyspark.errors import AnalysisException, PythonException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg, OrgConfig
from sf_assets_tests.conftest import operator_call

from .conftest import Write

_SPARK_ERRORS = (AnalysisException, PythonException)


def _accounts(spark: SparkSession, *rows: tuple[str, str | None]) -> Any:
    return spark.createDataFrame(list(rows), "Oracle_Id__c string, Name string")


def _query(sf: Salesforce, soql: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k != "attributes"} for record in sf.query_all(soql)["records"]]


def test_blog_example_1_basic_insert(
    spark: SparkSession, sf_creds: dict[str, str], sf: Salesforce, bulk_api: str
) -> None:
    df_contacts = spark.createDataFrame(
        [
            {"FirstName": "John", "LastName": "Doe", "Email": "john.doe@example.com"},
            {"FirstName": "Jane", "LastName": "Smith", "Email": "jane.smith@example.com"},
        ]
    )
    (
        df_contacts.write.format("salesforce-batch")
        .mode("append")
        .options(**sf_creds)
        .option("sobject", "Contact")
        .option("api_version", bulk_api)
        .option("operation", "insert")
        .save()
    )
    assert _query(sf, "SELECT LastName, Email FROM Contact ORDER BY LastName") == [
        {"LastName": "Doe", "Email": "john.doe@example.com"},
        {"LastName": "Smith", "Email": "jane.smith@example.com"},
    ]


def test_blog_examples_2_and_3_parent_then_children(
    spark: SparkSession, sf_creds: dict[str, str], sf: Salesforce, bulk_api: str
) -> None:
    df_accounts = spark.createDataFrame(
        [{"Name": "Acme Corp", "Oracle_Id__c": "ORA-1001"}, {"Name": "Tech Inc", "Oracle_Id__c": "ORA-1002"}]
    )
    (
        df_accounts.write.format("salesforce-batch")
        .mode("append")
        .options(**sf_creds)
        .option("sobject", "Account")
        .option("api_version", bulk_api)
        .option("operation", "upsert")
        .option("upsertField", "Oracle_Id__c")
        .save()
    )
    df_contacts = spark.createDataFrame(
        [
            {"FirstName": "John", "LastName": "Doe", "Email": "john@acme.com", "AccountExtId": "ORA-1001"},
            {"FirstName": "Jane", "LastName": "Smith", "Email": "jane@tech.com", "AccountExtId": "ORA-1002"},
        ]
    )
    # A real org refuses Email as an upsert key (it is no external ID): match on the Contact external ID.
    df_contacts_ready = df_contacts.select(
        "FirstName",
        "LastName",
        "Email",
        F.col("Email").alias("External_Id__c"),
        F.col("AccountExtId").alias("Account.Oracle_Id__c"),
    )
    for _ in range(2):  # an upsert run twice changes nothing
        (
            df_contacts_ready.write.format("salesforce-batch")
            .mode("append")
            .options(**sf_creds)
            .option("sobject", "Contact")
            .option("api_version", bulk_api)
            .option("operation", "upsert")
            .option("upsertField", "External_Id__c")
            .option("ignoreNullValues", "true")
            .save()
        )
    assert _query(sf, "SELECT LastName, Account.Name, Account.Oracle_Id__c FROM Contact ORDER BY LastName") == [
        {
            "LastName": "Doe",
            "Account": {
                "attributes": {"type": "Account", "url": _query_url(sf, "ORA-1001")},
                "Name": "Acme Corp",
                "Oracle_Id__c": "ORA-1001",
            },
        },
        {
            "LastName": "Smith",
            "Account": {
                "attributes": {"type": "Account", "url": _query_url(sf, "ORA-1002")},
                "Name": "Tech Inc",
                "Oracle_Id__c": "ORA-1002",
            },
        },
    ]


def _query_url(sf: Salesforce, oracle_id: str) -> str:
    [account] = sf.query(f"SELECT Id FROM Account WHERE Oracle_Id__c = '{oracle_id}'")["records"]
    return account["attributes"]["url"]


def test_blog_example_2_email_upsert_is_refused_before_sending(
    spark: SparkSession, sf_creds: dict[str, str], sf: Salesforce, bulk_api: str
) -> None:
    df_contacts = spark.createDataFrame(
        [{"FirstName": "John", "LastName": "Doe", "Email": "john.doe@example.com", "Phone": "555-0123"}]
    )
    writer = (
        df_contacts.write.format("salesforce-batch")
        .mode("append")
        .options(**sf_creds)
        .option("sobject", "Contact")
        .option("api_version", bulk_api)
        .option("operation", "upsert")
        .option("upsertField", "Email")
    )
    with pytest.raises(
        _SPARK_ERRORS, match=r"Contact.Email is not an external ID field; use one of Id, External_Id__c"
    ):
        writer.save()
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_blog_example_4_many_partitions(
    spark: SparkSession, sf_creds: dict[str, str], sf: Salesforce, write: Write, bulk_api: str
) -> None:
    df_large = spark.range(3000).select(
        F.concat(F.lit("Last-"), F.col("id").cast("string")).alias("LastName"),
        F.concat(F.lit("c"), F.col("id").cast("string"), F.lit("@example.com")).alias("Email"),
    )
    summary = write(df_large.repartition(8), sobject="Contact", api_version=bulk_api)
    assert (summary.records_in, summary.succeeded, len(summary.partitions)) == (3000, 3000, 8)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 3000


def test_update_changes_only_the_given_fields(spark: SparkSession, sf: Salesforce, write: Write, bulk_api: str) -> None:
    write(
        _accounts(spark, ("ORA-1", "Acme")),
        api_version=bulk_api,
        sobject="Account",
        operation="upsert",
        upsertField="Oracle_Id__c",
    )
    [account] = _query(sf, "SELECT Id FROM Account")
    update = spark.createDataFrame([(account["Id"], "Manufacturing")], "Id string, Industry string")
    summary = write(update, api_version=bulk_api, sobject="Account", operation="update")
    assert summary.succeeded == 1
    assert _query(sf, "SELECT Name, Industry FROM Account") == [{"Name": "Acme", "Industry": "Manufacturing"}]


@pytest.mark.parametrize("operation", ["delete", "hardDelete"])
def test_delete_operations_remove_records(
    spark: SparkSession, sf: Salesforce, write: Write, operation: str, bulk_api: str
) -> None:
    write(
        _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", "Tech")),
        api_version=bulk_api,
        sobject="Account",
        operation="upsert",
        upsertField="Oracle_Id__c",
    )
    ids = spark.createDataFrame(
        [(r["Id"],) for r in _query(sf, "SELECT Id FROM Account WHERE Oracle_Id__c = 'ORA-1'")], "Id string"
    )
    summary = write(ids, api_version=bulk_api, sobject="Account", operation=operation)
    assert summary.succeeded == 1
    assert _query(sf, "SELECT Oracle_Id__c FROM Account") == [{"Oracle_Id__c": "ORA-2"}]


def _upsert_then_null_industry(spark: SparkSession, write: Write, bulk_api: str, **options: str) -> None:
    """Upsert Acme in Retail, then upsert the same key with a null Industry."""
    upsert = {"api_version": bulk_api, "sobject": "Account", "operation": "upsert", "upsertField": "Oracle_Id__c"}
    schema = "Oracle_Id__c string, Name string, Industry string"
    write(spark.createDataFrame([("ORA-1", "Acme", "Retail")], schema), **upsert)
    write(spark.createDataFrame([("ORA-1", None)], "Oracle_Id__c string, Industry string"), **upsert, **options)


def test_null_clears_a_field_by_default(spark: SparkSession, sf: Salesforce, write: Write, bulk_api: str) -> None:
    _upsert_then_null_industry(spark, write, bulk_api)
    assert _query(sf, "SELECT Name, Industry FROM Account") == [{"Name": "Acme", "Industry": None}]


def test_null_leaves_a_field_with_ignore_null_values(
    spark: SparkSession, sf: Salesforce, write: Write, bulk_api: str
) -> None:
    _upsert_then_null_industry(spark, write, bulk_api, ignoreNullValues="true")
    assert _query(sf, "SELECT Name, Industry FROM Account") == [{"Name": "Acme", "Industry": "Retail"}]


@pytest.fixture(scope="module")
def typed_org(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An org whose Contact has custom fields of every type the writer encodes."""
    data_dir = tmp_path_factory.mktemp("typed-org")
    schema_file = data_dir / "schema.json"
    fields = [
        {"name": "Active__c", "type": "boolean", "nillable": False, "defaultedOnCreate": True},
        {"name": "Score__c", "type": "double", "precision": 18, "scale": 6},
        {"name": "Amount__c", "type": "currency", "precision": 18, "scale": 2},
        {"name": "Last_Synced__c", "type": "datetime"},
        {"name": "Visits__c", "type": "double", "precision": 18, "scale": 0},
    ]
    schema_file.write_text(
        json.dumps({"fields": {"Contact": [{**f, "custom": True, "label": f["name"]} for f in fields]}})
    )
    with LocalOrg(OrgConfig(data_dir=data_dir / "org", schema_file=schema_file)) as typed:
        yield typed


def _typed_write(
    spark: SparkSession,
    typed_org: LocalOrg,
    tmp_path: Path,
    rows: list[tuple[Any, ...]],
    schema: StructType,
    bulk_api: str = "2",
) -> Salesforce:
    connection = typed_org.connection()
    (
        spark.createDataFrame(rows, schema)
        .write.format("salesforce-batch")
        .mode("append")
        .option("sobject", "Contact")
        .option("operation", "upsert")
        .option("upsertField", "External_Id__c")
        .option("api_version", bulk_api)
        .option("session_id", typed_org.new_session())
        .option("instance_url", connection["instance_url"])
        .option("ca_file", connection["ca_file"])
        .option("resultsPath", str(tmp_path))
        .save()
    )
    return Salesforce(
        instance_url=typed_org.instance_url, session_id=typed_org.new_session(), session=typed_org.requests_session()
    )


_TYPED = StructType(
    [
        StructField("External_Id__c", StringType()),
        StructField("LastName", StringType()),
        StructField("Birthdate", DateType()),
        StructField("Active__c", BooleanType()),
        StructField("Score__c", DoubleType()),
        StructField("Amount__c", DecimalType(20, 2)),
        StructField("Visits__c", IntegerType()),
        StructField("Last_Synced__c", TimestampType()),
        StructField("EmailBouncedDate", TimestampNTZType()),
        StructField("Description", StringType()),
    ]
)


def test_every_type_lands_as_salesforce_expects(
    spark: SparkSession, typed_org: LocalOrg, tmp_path: Path, bulk_api: str
) -> None:
    text = 'Ünïcödé "quoted", comma\nnew line\r\nCRLF\x00NUL'
    row = (
        "C-1",
        "Doe",
        dt.date(1980, 2, 29),
        True,
        1.5e-5,
        Decimal("123456789012345.25"),
        2_000_000_000,
        dt.datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 23, 59, 59, 999000),
        text,
    )
    sf = _typed_write(spark, typed_org, tmp_path, [row], _TYPED, bulk_api)
    fields = "Birthdate, Active__c, Score__c, Amount__c, Visits__c, Last_Synced__c, EmailBouncedDate, Description"
    assert _query(sf, f"SELECT {fields} FROM Contact WHERE External_Id__c = 'C-1'") == [
        {
            "Birthdate": "1980-02-29",
            "Active__c": True,
            "Score__c": 1.5e-5,
            "Amount__c": 123456789012345.25,
            "Visits__c": 2_000_000_000,
            "Last_Synced__c": "2024-03-01T12:30:45.123+0000",
            "EmailBouncedDate": "2024-03-01T23:59:59.999+0000",
            "Description": text.replace("\x00", ""),
        }
    ]


def test_results_account_for_every_row(spark: SparkSession, write: Write, bulk_api: str) -> None:
    df = _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", None), ("ORA-3", "x" * 300), ("ORA-4", "Tech"))
    summary = write(
        df.repartition(2), api_version=bulk_api, sobject="Account", operation="upsert", upsertField="Oracle_Id__c"
    )
    assert (summary.records_in, summary.succeeded, summary.failed, summary.unprocessed) == (4, 2, 2, 0)
    assert summary.errors_by_code == {"REQUIRED_FIELD_MISSING": 1, "STRING_TOO_LONG": 1}
    failed = pq.read_table(Path(summary.results_dir) / "failed").to_pylist()
    assert sorted((row["Oracle_Id__c"], row["sf__Error"].split(":")[0]) for row in failed) == [
        ("ORA-2", "REQUIRED_FIELD_MISSING"),
        ("ORA-3", "STRING_TOO_LONG"),
    ]


def test_successful_rows_are_kept_on_request(spark: SparkSession, write: Write, bulk_api: str) -> None:
    summary = write(
        _accounts(spark, ("ORA-1", "Acme")),
        api_version=bulk_api,
        sobject="Account",
        operation="upsert",
        upsertField="Oracle_Id__c",
        successResults="true",
    )
    [success] = pq.read_table(Path(summary.results_dir) / "successful").to_pylist()
    assert (success["sf__Id"][:3], success["sf__Created"], success["Oracle_Id__c"]) == ("001", "true", "ORA-1")


def test_a_partition_is_split_into_jobs_of_batch_size(spark: SparkSession, write: Write, bulk_api: str) -> None:
    df = spark.range(25).select(F.concat(F.lit("Name-"), F.col("id").cast("string")).alias("Name"))
    summary = write(df.coalesce(1), api_version=bulk_api, sobject="Account", batchSize="10")
    [partition] = summary.partitions
    assert [job["records"] for job in partition["jobs"]] == [10, 10, 5]
    assert summary.succeeded == 25


def test_the_driver_logs_in_once(
    spark: SparkSession, org: LocalOrg, org_session: requests.Session, write: Write, bulk_api: str
) -> None:
    before = operator_call(org, org_session, "GET", "counters").json()["logins"]
    df = spark.range(40).select(F.concat(F.lit("Name-"), F.col("id").cast("string")).alias("Name"))
    write(df.repartition(4), sobject="Account", api_version=bulk_api)
    assert operator_call(org, org_session, "GET", "counters").json()["logins"] - before == 1


def test_crossing_the_failure_threshold_raises_after_reporting(
    spark: SparkSession, write: Write, tmp_path: Path, bulk_api: str
) -> None:
    df = _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", None), ("ORA-3", None))
    with pytest.raises(
        _SPARK_ERRORS,
        match=r"2 of 3 rows written to Account failed or were not processed, more than failureThreshold=1 rows",
    ):
        write(
            df,
            api_version=bulk_api,
            sobject="Account",
            operation="upsert",
            upsertField="Oracle_Id__c",
            failureThreshold="1",
            writeId="over",
        )
    summary = json.loads((tmp_path / "results" / "over" / "summary.json").read_text())
    assert (summary["status"], summary["failed"]) == ("threshold_exceeded", 2)


def test_a_fraction_below_the_threshold_succeeds(spark: SparkSession, write: Write, bulk_api: str) -> None:
    df = _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", None), ("ORA-3", "Tech"))
    options = {"sobject": "Account", "operation": "upsert", "upsertField": "Oracle_Id__c", "failureThreshold": "50%"}
    assert write(df, api_version=bulk_api, **options).failed == 1


# The daily allocation each API's ingest spends: 2.0 counts records, 1.0 counts batches.
_INGEST_ALLOCATION = {"2": "DailyBulkV2IngestRecords", "1": "DailyBulkApiBatches"}


def test_a_spent_daily_allocation_fails_the_write_quoting_salesforce(
    spark: SparkSession, org: LocalOrg, org_session: requests.Session, write: Write, bulk_api: str
) -> None:
    limit = _INGEST_ALLOCATION[bulk_api]
    maximum = operator_call(org, org_session, "GET", "counters").json()["limits"][limit]["Max"]
    # Enough for the first job (2.0) or batch (1.0) of one row; the second runs out.
    operator_call(org, org_session, "PATCH", "config", {"limits": {limit: 1}})
    try:
        with pytest.raises(_SPARK_ERRORS, match=r"ExceededQuota ?: The daily limit"):
            write(
                _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", "Tech")).coalesce(1),
                api_version=bulk_api,
                sobject="Account",
                operation="upsert",
                upsertField="Oracle_Id__c",
                batchSize=1,
            )
    finally:
        operator_call(org, org_session, "PATCH", "config", {"limits": {limit: maximum}})


def test_overwrite_mode_is_refused(spark: SparkSession, sf_creds: dict[str, str]) -> None:
    writer = (
        _accounts(spark, ("ORA-1", "Acme"))
        .write.format("salesforce-batch")
        .mode("overwrite")
        .options(**sf_creds)
        .option("sobject", "Account")
    )
    with pytest.raises(_SPARK_ERRORS, match=r'mode\("overwrite"\) is not supported: Salesforce has no truncate'):
        writer.save()


def test_a_bad_column_fails_on_the_driver_and_sends_nothing(spark: SparkSession, sf: Salesforce, write: Write) -> None:
    df = spark.createDataFrame([("Doe", "x")], "lastname string, Emial string")
    with pytest.raises(_SPARK_ERRORS) as raised:
        write(df, sobject="Contact")
    message = str(raised.value)
    assert "column 'lastname': the field is spelled 'LastName'" in message
    assert "column 'Emial': Contact has no such field; did you mean 'Email'?" in message
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_a_missing_option_is_named(spark: SparkSession, sf_creds: dict[str, str]) -> None:
    writer = _accounts(spark, ("ORA-1", "Acme")).write.format("salesforce-batch").mode("append").options(**sf_creds)
    with pytest.raises(_SPARK_ERRORS, match="option sobject is required"):
        writer.save()


def test_secrets_stay_out_of_errors(spark: SparkSession, sf_creds: dict[str, str]) -> None:
    wrong = {**sf_creds, "password": "Wrong-Pa55word"}
    writer = (
        _accounts(spark, ("ORA-1", "Acme"))
        .write.format("salesforce-batch")
        .mode("append")
        .options(**wrong)
        .option("sobject", "Account")
    )
    with pytest.raises(_SPARK_ERRORS, match="INVALID_LOGIN") as raised:
        writer.save()
    assert "Wrong-Pa55word" not in str(raised.value)
    assert sf_creds["security_token"] not in str(raised.value)


@pytest.mark.parametrize(
    "login",
    [
        pytest.param(
            lambda c, org: {"client_id": c["client_id"], "client_secret": c["client_secret"]}, id="client-credentials"
        ),
        pytest.param(
            lambda c, org: {
                "username": c["username"],
                "client_id": c["client_id"],
                "jwt_private_key_file": c["jwt_private_key_file"],
            },
            id="jwt-bearer",
        ),
        pytest.param(lambda c, org: {"session_id": org.new_session()}, id="session-id"),
    ],
)
def test_every_login_method_writes(
    spark: SparkSession,
    org: LocalOrg,
    connection: dict[str, str],
    sf: Salesforce,
    tmp_path: Path,
    login: Any,
    bulk_api: str,
) -> None:
    (
        _accounts(spark, ("ORA-1", "Acme"))
        .write.format("salesforce-batch")
        .mode("append")
        .options(**login(connection, org))
        .option("instance_url", connection["instance_url"])
        .option("ca_file", connection["ca_file"])
        .option("resultsPath", str(tmp_path))
        .option("sobject", "Account")
        .option("api_version", bulk_api)
        .save()
    )
    assert _query(sf, "SELECT Name FROM Account") == [{"Name": "Acme"}]


def test_importing_the_data_source_needs_no_dagster() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dagster', 'dagster_pyspark', 'simple_salesforce', 'pandas'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sf_assets.spark.datasource, sf_assets.spark.partition_writer, sf_assets.spark.bulk1_jobs\n"
    )
    completed = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
