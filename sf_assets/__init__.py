"""sf_assets: reverse ETL from Spark to Salesforce as Dagster assets."""

from __future__ import annotations

__version__ = "0.1.0"
