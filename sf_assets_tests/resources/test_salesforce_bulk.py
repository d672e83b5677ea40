from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets.resources import SalesforceBulkResource, stop_local_org


@pytest.fixture
def connection(org: LocalOrg) -> dict[str, str]:
    return json.loads((Path(org.data_dir) / "connection.json").read_text())


def _connected(tmp_path: Path, connection: dict[str, str], **fields: Any) -> SalesforceBulkResource:
    """A resource logging in to the test org with OAuth client credentials."""
    return _resource(
        tmp_path,
        instance_url=connection["instance_url"],
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        ca_file=connection["ca_file"],
        **fields,
    )


def _resource(tmp_path: Path, **fields: Any) -> SalesforceBulkResource:
    # getOrCreate() hands the resource the test session (spark fixture), whatever its config says.
    return SalesforceBulkResource(
        pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        results_path=str(tmp_path / "results"),
        **fields,
    )


@pytest.fixture
def salesforce(spark: SparkSession, connection: dict[str, str], tmp_path: Path) -> Iterator[SalesforceBulkResource]:
    resource = _connected(tmp_path, connection)
    with dg.build_resources({"salesforce": resource}) as resources:
        yield resources.salesforce


def _accounts(spark: SparkSession, *rows: tuple[str, str | None]) -> Any:
    return spark.createDataFrame(list(rows), "Oracle_Id__c string, Name string")


def test_write_upserts_and_reports(spark: SparkSession, salesforce: SalesforceBulkResource, sf: Salesforce) -> None:
    result = salesforce.write(
        _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", None)), sobject="Account", external_id_field="Oracle_Id__c"
    )
    assert (result.records_in, result.records_written, result.records_failed) == (2, 1, 1)
    assert result.errors_by_code == {"REQUIRED_FIELD_MISSING": 1}
    assert result.failed_sample[0]["Oracle_Id__c"] == "ORA-2"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_metadata_never_holds_a_secret(
    spark: SparkSession, salesforce: SalesforceBulkResource, connection: dict[str, str]
) -> None:
    result = salesforce.write(_accounts(spark, ("ORA-1", "Acme")), sobject="Account", external_id_field="Oracle_Id__c")
    text = repr(result.to_metadata()) + repr(result)
    assert connection["client_secret"] not in text
    assert salesforce._org is not None
    assert salesforce._org.access_token not in text


def test_a_bad_column_fails_without_retries(spark: SparkSession, salesforce: SalesforceBulkResource) -> None:
    df = spark.createDataFrame([("Acme",)], "Nmae string")
    with pytest.raises(dg.Failure, match="column 'Nmae'") as raised:
        salesforce.write(df, sobject="Account", operation="insert")
    assert raised.value.allow_retries is False


def test_crossing_the_threshold_fails_with_the_write_metadata(
    spark: SparkSession, connection: dict[str, str], tmp_path: Path
) -> None:
    resource = _connected(tmp_path, connection, failure_threshold="0")
    with dg.build_resources({"salesforce": resource}) as resources, pytest.raises(dg.Failure) as raised:
        resources.salesforce.write(
            _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", None)), sobject="Account", external_id_field="Oracle_Id__c"
        )
    assert raised.value.allow_retries is False
    assert raised.value.metadata["records_failed"].value == 1


def test_count_records_counts_the_given_keys(spark: SparkSession, salesforce: SalesforceBulkResource) -> None:
    salesforce.write(
        _accounts(spark, ("ORA-1", "A"), ("ORA-2", "B"), ("ORA-3", "C")),
        sobject="Account",
        external_id_field="Oracle_Id__c",
    )
    assert salesforce.count_records("Account", "Oracle_Id__c", ["ORA-1", "ORA-3", "ORA-404"]) == 2


def test_without_a_login_it_uses_a_local_org(spark: SparkSession, tmp_path: Path) -> None:
    resource = _resource(tmp_path, local_org_dir=str(tmp_path / "org"))
    assert resource.uses_local_org
    try:
        with dg.build_resources({"salesforce": resource}) as resources:
            result = resources.salesforce.write(
                _accounts(spark, ("ORA-1", "Acme")), sobject="Account", external_id_field="Oracle_Id__c"
            )
        assert result.records_written == 1
        assert (tmp_path / "org" / "connection.json").exists()
    finally:
        stop_local_org(tmp_path / "org")


def test_cluster_by_keeps_each_parent_in_one_partition(spark: SparkSession, salesforce: SalesforceBulkResource) -> None:
    salesforce.write(
        _accounts(spark, *[(f"ORA-{i}", f"A{i}") for i in range(5)]),
        sobject="Account",
        external_id_field="Oracle_Id__c",
    )
    rows = [(f"C-{i}", f"Last {i}", f"ORA-{i % 5}") for i in range(60)]
    contacts = spark.createDataFrame(rows, "External_Id__c string, LastName string, `Account.Oracle_Id__c` string")
    result = salesforce.write(
        contacts.repartition(4),  # round-robin: every parent in every partition
        sobject="Contact",
        external_id_field="External_Id__c",
        cluster_by="Account.Oracle_Id__c",
        partitions=3,
    )
    assert result.records_written == 60
    parents_by_partition: dict[str, set[str]] = {}
    for path in (Path(result.results_dir) / "successful").glob("part-*.parquet"):
        partition = path.name.split("-")[1]
        for parent in pq.read_table(path, columns=["Account.Oracle_Id__c"]).column(0).to_pylist():
            parents_by_partition.setdefault(parent, set()).add(partition)
    assert len(parents_by_partition) == 5
    assert all(len(partitions) == 1 for partitions in parents_by_partition.values())


def test_cluster_by_an_unknown_column_fails_clearly(spark: SparkSession, salesforce: SalesforceBulkResource) -> None:
    with pytest.raises(dg.Failure, match=r"cluster_by='Account\.Nope__c' is not a column"):
        salesforce.write(_accounts(spark, ("ORA-1", "A")), sobject="Account", cluster_by="Account.Nope__c")


def test_bulk_api_1_in_serial_mode_is_configuration(
    spark: SparkSession, connection: dict[str, str], tmp_path: Path, sf: Salesforce
) -> None:
    resource = _connected(tmp_path, connection, bulk_api="1", serial=True)
    with dg.build_resources({"salesforce": resource}) as resources:
        result = resources.salesforce.write(
            _accounts(spark, ("ORA-1", "Acme"), ("ORA-2", "Tech")), sobject="Account", external_id_field="Oracle_Id__c"
        )
    assert result.records_written == 2
    assert all("-751" in job_id for job_id in result.job_ids)  # <job>-<batch>: Bulk API 1.0 batches
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2
