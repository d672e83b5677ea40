"""Where the source tables live: the sample Parquet files by default, or your own tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class SourceTables(dg.ConfigurableResource):
    """The account and contact tables the Salesforce assets read.

    Point them at your own data with ``format="table"`` and catalog names (``main.crm.accounts``), or at other
    Parquet locations (any path Spark reads: local, ``s3a://``, ``abfss://``).

    Examples:
        >>> SourceTables(format="table", accounts="main.crm.accounts", contacts="main.crm.contacts")
    """

    format: Literal["parquet", "table"] = Field(
        default="parquet", description="'parquet' for file paths, 'table' for Spark catalog table names."
    )
    accounts: str = Field(default="data/source/accounts.parquet", description="The accounts table.")
    contacts: str = Field(default="data/source/contacts.parquet", description="The contacts table.")

    def read(self, spark: SparkSession, table: Literal["accounts", "contacts"]) -> DataFrame:
        location = self.accounts if table == "accounts" else self.contacts
        if self.format == "table":
            return spark.table(location)
        return spark.read.parquet(location)
