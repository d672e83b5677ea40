"""The sync as asset jobs, and its daily schedule."""

from __future__ import annotations

import dagster as dg

salesforce_sync = dg.define_asset_job(
    "salesforce_sync",
    selection=dg.AssetSelection.groups("salesforce"),
    description="Push the source tables to Salesforce: Account, then Contact, each with its checks.",
)

full_sync = dg.define_asset_job(
    "full_sync",
    selection=dg.AssetSelection.groups("source", "salesforce"),
    description="Refresh the (sample) source tables, then push them to Salesforce.",
)

daily_salesforce_sync = dg.ScheduleDefinition(
    name="daily_salesforce_sync",
    job=salesforce_sync,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="Every night at 02:00 UTC. Turn it on in the UI (Automation) once the org connection is set.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
