"""The code location: ``dagster dev -w workspace.yaml`` (or ``-m sf_assets.definitions``) loads ``defs``."""

from __future__ import annotations

import os
import sys

import dagster as dg

from sf_assets.defs.checks import salesforce_checks
from sf_assets.defs.jobs import daily_salesforce_sync, full_sync, salesforce_sync
from sf_assets.defs.resources import default_resources
from sf_assets.defs.salesforce_assets import account, contact
from sf_assets.defs.source_assets import sample_source_tables

# Spark starts its Python workers with PYSPARK_PYTHON (the data source's planner honours nothing else); without
# it they run whichever `python3` is first on PATH, which may lack sf_assets and pyarrow.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

defs = dg.Definitions(
    assets=[sample_source_tables, account, contact],
    asset_checks=salesforce_checks(),
    jobs=[salesforce_sync, full_sync],
    schedules=[daily_salesforce_sync],
    resources=default_resources(),
    # One process per run: every step shares one SparkSession (a JVM takes seconds to start) and the login
    # the Salesforce resource made. The multiprocess default would start a JVM per step.
    executor=dg.in_process_executor,
)
