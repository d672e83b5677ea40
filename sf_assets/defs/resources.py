"""The resources the definitions use, configured from the environment.

With no ``SF_*`` login variables set, ``SalesforceBulkResource`` uses the local org. To write to a real org set,
for example, ``SF_INSTANCE_URL``, ``SF_USERNAME``, ``SF_PASSWORD`` and ``SF_SECURITY_TOKEN`` (see the README).
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource

from sf_assets.resources import SalesforceBulkResource

from .source_tables import SourceTables

# Resource field per environment variable. Every value goes through EnvVar, so the UI and the event log show
# the variable's name, never its value.
CONNECTION_ENV = {
    "instance_url": "SF_INSTANCE_URL",
    "domain": "SF_DOMAIN",
    "username": "SF_USERNAME",
    "password": "SF_PASSWORD",
    "security_token": "SF_SECURITY_TOKEN",
    "client_id": "SF_CLIENT_ID",
    "client_secret": "SF_CLIENT_SECRET",
    "jwt_private_key": "SF_JWT_PRIVATE_KEY",
    "ca_file": "SF_CA_FILE",
}

SPARK_CONFIG: dict[str, Any] = {
    "spark.master": os.environ.get("SF_ASSETS_SPARK_MASTER", "local[2]"),
    "spark.app.name": "sf_assets",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


def connection_from_env(environ: dict[str, str] | None = None) -> dict[str, dg.EnvVar]:
    """The connection fields whose environment variables are set, as ``EnvVar`` references."""
    environ = dict(os.environ) if environ is None else environ
    return {field: dg.EnvVar(name) for field, name in CONNECTION_ENV.items() if environ.get(name)}


def default_resources() -> dict[str, Any]:
    salesforce = SalesforceBulkResource(
        pyspark=PySparkResource(spark_config=SPARK_CONFIG),
        local_org_dir=os.environ.get("SF_ASSETS_LOCAL_ORG", ".local-org"),
        results_path=os.environ.get("SF_ASSETS_RESULTS", "data/results"),
        **connection_from_env(),
    )
    return {"salesforce": salesforce, "source": source_tables_from_env()}


def source_tables_from_env(environ: dict[str, str] | None = None) -> SourceTables:
    """The sample Parquet tables, under ``SF_ASSETS_SOURCE_DIR`` when it is set (``data/source`` otherwise).

    A separate directory keeps a test's or a demo's small tables away from the ones ``bin/main`` generated.
    """
    environ = dict(os.environ) if environ is None else environ
    directory = environ.get("SF_ASSETS_SOURCE_DIR")
    if not directory:
        return SourceTables()
    return SourceTables(accounts=f"{directory}/accounts.parquet", contacts=f"{directory}/contacts.parquet")
