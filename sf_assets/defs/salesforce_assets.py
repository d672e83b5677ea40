"""Salesforce objects as assets: Account first, then Contact linked to it through ``Account.Oracle_Id__c``."""

# No `from __future__ import annotations` here: Dagster reads the `config` parameter's annotation as an
# object to build the config schema, and a postponed (string) annotation cannot be resolved there.

import dagster as dg
from pydantic import Field
from pyspark.sql import functions as F

from sf_assets.resources import SalesforceBulkResource

from .source_tables import SourceTables

OWNERS = ["team:data-platform"]
# Transient failures (network, org hiccups) deserve another go; bad data and bad config do not (the resource
# raises those as Failure(allow_retries=False)). Upserts on external IDs make a repeated write harmless.
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

ACCOUNT_KEY = dg.AssetKey(["salesforce", "account"])
CONTACT_KEY = dg.AssetKey(["salesforce", "contact"])
ACCOUNT_FIELDS = [
    "Oracle_Id__c",
    "Name",
    "Industry",
    "Phone",
    "Website",
    "AnnualRevenue",
    "NumberOfEmployees",
    "BillingCity",
    "BillingCountry",
    "Description",
]
CONTACT_FIELDS = ["External_Id__c", "FirstName", "LastName", "Email", "Phone", "Title", "Birthdate", "Description"]


class SyncConfig(dg.Config):
    partitions: int = Field(default=4, description="Spark partitions to write in parallel (each runs its own jobs).")


@dg.asset(
    key=ACCOUNT_KEY,
    deps=[dg.AssetKey(["source", "accounts"])],
    group_name="salesforce",
    kinds={"spark", "salesforce"},
    owners=OWNERS,
    retry_policy=RETRY,
    description="Accounts upserted into Salesforce on the external ID Oracle_Id__c.",
)
def account(config: SyncConfig, salesforce: SalesforceBulkResource, source: SourceTables) -> dg.MaterializeResult:
    spark = salesforce.pyspark.spark_session
    accounts = source.read(spark, "accounts").select(*ACCOUNT_FIELDS).repartition(config.partitions)
    result = salesforce.write(accounts, sobject="Account", operation="upsert", external_id_field="Oracle_Id__c")
    return dg.MaterializeResult(metadata=result.to_metadata())


@dg.asset(
    key=CONTACT_KEY,
    deps=[ACCOUNT_KEY, dg.AssetKey(["source", "contacts"])],
    group_name="salesforce",
    kinds={"spark", "salesforce"},
    owners=OWNERS,
    retry_policy=RETRY,
    description=(
        "Contacts upserted into Salesforce on External_Id__c and linked to their account through "
        "Account.Oracle_Id__c. Written after the accounts, grouped by account."
    ),
)
def contact(config: SyncConfig, salesforce: SalesforceBulkResource, source: SourceTables) -> dg.MaterializeResult:
    spark = salesforce.pyspark.spark_session
    contacts = source.read(spark, "contacts")
    # All contacts of an account in one partition, next to each other: their jobs then lock each parent
    # account from one place only, instead of parallel jobs fighting over it (UNABLE_TO_LOCK_ROW).
    grouped = contacts.repartition(config.partitions, "AccountOracleId").sortWithinPartitions("AccountOracleId")
    ready = grouped.select(*CONTACT_FIELDS, F.col("AccountOracleId").alias("Account.Oracle_Id__c"))
    result = salesforce.write(ready, sobject="Contact", operation="upsert", external_id_field="External_Id__c")
    return dg.MaterializeResult(metadata=result.to_metadata())
