"""The ``salesforce-batch`` PySpark data source (no Dagster needed).

Examples:
    >>> from sf_assets.spark import SalesforceBatchDataSource
    >>> spark.dataSource.register(SalesforceBatchDataSource)
    >>> df.write.format("salesforce-batch").mode("append").options(**creds).option("sobject", "Contact").save()
"""

from __future__ import annotations

from .commit_message import JobResult, PartitionResult
from .datasource import SalesforceBatchDataSource, SalesforceBatchWriter, register
from .options import FailureThreshold, OptionError, WriteOptions
from .summary import FailureThresholdExceededError, WriteSummary, read_summary

__all__ = [
    "FailureThreshold",
    "FailureThresholdExceededError",
    "JobResult",
    "OptionError",
    "PartitionResult",
    "SalesforceBatchDataSource",
    "SalesforceBatchWriter",
    "WriteOptions",
    "WriteSummary",
    "read_summary",
    "register",
]
