"""Salesforce objects as assets: Account first, then Contact linked to it through ``Account.Oracle_Id__c``."""

# No `from __future__ import annotations` here: Dagster reads the `config` parameter's annotation as an
# object to build the config schema, and a postponed (string) annotation cannot be resolved there.

from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sf_assets.resources import SalesforceBulkResource
from sf_assets.sync import SyncState, sync_object

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
CONTACT_PARENT = "Account.Oracle_Id__c"


# Where sync states go when the source tables are catalog tables or remote files (nothing local to sit beside).
FALLBACK_STATE_DIR = "data/sync_state"


class SyncConfig(dg.Config):
    partitions: int = Field(default=4, description="Spark partitions to write in parallel (each runs its own jobs).")
    full_resync: bool = Field(
        default=False, description="Send every row, changed or not (the sync state is still updated afterwards)."
    )
    mirror_deletes: bool = Field(
        default=False, description="Delete in Salesforce the records whose keys have left the source table."
    )
    state_dir: str | None = Field(
        default=None,
        description=(
            "Local directory of the sync states, one subdirectory per object (default: _sync_state beside the "
            "source Parquet files, or data/sync_state for catalog tables)."
        ),
    )


def sync_state(config: SyncConfig, source: SourceTables, table: Literal["accounts", "contacts"]) -> SyncState:
    """The object's sync state: under ``config.state_dir``, or beside the source table it is synced from."""
    name = "account" if table == "accounts" else "contact"
    if config.state_dir:
        return SyncState(Path(config.state_dir) / name)
    location = source.accounts if table == "accounts" else source.contacts
    if source.format == "parquet" and "://" not in location:
        return SyncState(Path(location).parent / "_sync_state" / name)
    return SyncState(Path(FALLBACK_STATE_DIR) / name)


@dg.asset(
    key=ACCOUNT_KEY,
    deps=[dg.AssetKey(["source", "accounts"])],
    group_name="salesforce",
    kinds={"spark", "salesforce"},
    owners=OWNERS,
    retry_policy=RETRY,
    description=(
        "Accounts upserted into Salesforce on the external ID Oracle_Id__c: only new, changed and previously "
        "failed rows (config full_resync sends all; mirror_deletes deletes accounts gone from the source)."
    ),
)
def account(config: SyncConfig, salesforce: SalesforceBulkResource, source: SourceTables) -> dg.MaterializeResult:
    spark = salesforce.pyspark.spark_session
    report = sync_object(
        salesforce,
        source.read(spark, "accounts").select(*ACCOUNT_FIELDS),
        sobject="Account",
        external_id_field="Oracle_Id__c",
        state=sync_state(config, source, "accounts"),
        full_resync=config.full_resync,
        mirror_deletes=config.mirror_deletes,
        prepare=lambda rows: rows.repartition(config.partitions),
    )
    return dg.MaterializeResult(metadata=report.to_metadata())


@dg.asset(
    key=CONTACT_KEY,
    deps=[ACCOUNT_KEY, dg.AssetKey(["source", "contacts"])],
    group_name="salesforce",
    kinds={"spark", "salesforce"},
    owners=OWNERS,
    retry_policy=RETRY,
    description=(
        "Contacts upserted into Salesforce on External_Id__c and linked to their account through "
        "Account.Oracle_Id__c: only new, changed and previously failed rows. Written after the accounts, grouped "
        "by account."
    ),
)
def contact(config: SyncConfig, salesforce: SalesforceBulkResource, source: SourceTables) -> dg.MaterializeResult:
    spark = salesforce.pyspark.spark_session
    contacts = source.read(spark, "contacts")
    ready = contacts.select(*CONTACT_FIELDS, F.col("AccountOracleId").alias(CONTACT_PARENT))

    def group_by_account(rows: DataFrame) -> DataFrame:
        # All contacts of an account in one partition, next to each other: their jobs then lock each parent
        # account from one place only, instead of parallel jobs fighting over it (UNABLE_TO_LOCK_ROW).
        parent = F.col(f"`{CONTACT_PARENT}`")
        return rows.repartition(config.partitions, parent).sortWithinPartitions(parent)

    report = sync_object(
        salesforce,
        ready,
        sobject="Contact",
        external_id_field="External_Id__c",
        state=sync_state(config, source, "contacts"),
        full_resync=config.full_resync,
        mirror_deletes=config.mirror_deletes,
        prepare=group_by_account,
    )
    return dg.MaterializeResult(metadata=report.to_metadata())
