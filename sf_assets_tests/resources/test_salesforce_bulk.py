from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg
from sf_assets.resources import SalesforceBulkResource, stop_local_org


@pytest.fixture
def connection(org: LocalOrg) -> dict[str, str]:
    return json.loads((Path(org.data_dir) / "connection.json").read_text())


def _resource(tmp_path: Path, **fields: Any) -> SalesforceBulkResource:
    # getOrCreate() hands the resource the test session (spark fixture), whatever its config says.
    return SalesforceBulkResource(
        pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        results_path=str(tmp_path / "results"),
        **fields,
    )


@pytest.fixture
def salesforce(spark: SparkSession, connection: dict[str, str], tmp_path: Path) -> Iterator[SalesforceBulkResource]:
    resource = _resource(
        tmp_path,
        instance_url=connection["instance_url"],
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        ca_file=connection["ca_file"],
    )
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
    resource = _resource(
        tmp_path,
        instance_url=connection["instance_url"],
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        ca_file=connection["ca_file"],
        failure_threshold="0",
    )
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
