from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from sf_assets.sync.keys import content_hash, folded_key


def _one(spark: SparkSession, rows: list[tuple], schema: str, column: object) -> list[object]:
    return [row[0] for row in spark.createDataFrame(rows, schema).select(column).collect()]


def test_keys_fold_case_as_salesforce_matches_them(spark: SparkSession) -> None:
    keys = _one(spark, [("ORA-1",), ("ora-1",), ("Ora-1",)], "Oracle_Id__c string", folded_key("Oracle_Id__c"))
    assert set(keys) == {"ora-1"}


def test_an_empty_key_is_no_key(spark: SparkSession) -> None:
    assert _one(spark, [("",)], "Oracle_Id__c string", folded_key("Oracle_Id__c")) == [None]


def test_the_hash_ignores_column_order(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", "b")], "x string, y string")
    assert df.select(content_hash(["x", "y"])).first()[0] == df.select(content_hash(["y", "x"])).first()[0]


@pytest.mark.parametrize(
    ("left", "right"), [(("a", None), ("a", "")), (("a", "b"), ("a", "c")), (("a", "b"), ("b", "a"))]
)
def test_the_hash_tells_contents_apart(spark: SparkSession, left: tuple, right: tuple) -> None:
    df = spark.createDataFrame([left, right], "x string, y string")
    first, second = df.select(content_hash(["x", "y"])).collect()
    assert first[0] != second[0]


def test_the_hash_reads_dotted_column_names(spark: SparkSession) -> None:
    df = spark.createDataFrame([("C-1", "ORA-1")], "External_Id__c string, `Account.Oracle_Id__c` string")
    assert len(df.select(content_hash(df.columns)).first()[0]) == 64
