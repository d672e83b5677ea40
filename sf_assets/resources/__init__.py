"""Dagster resources: ``SalesforceBulkResource`` and what its writes return."""

from __future__ import annotations

from .local_org import ensure_local_org, stop_local_org
from .salesforce_bulk import SalesforceBulkResource
from .write_result import PartitionTiming, WriteResult

__all__ = ["PartitionTiming", "SalesforceBulkResource", "WriteResult", "ensure_local_org", "stop_local_org"]
