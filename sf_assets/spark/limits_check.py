"""Refusing a write the org's daily allocations cannot carry, before anything is sent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sf_assets.bulk.limits import Limit, fetch_limits

from .options import OptionError

if TYPE_CHECKING:
    from sf_assets.bulk import Transport

    from .options import WriteOptions

# Bulk API 2.0 processes a job in internal batches of 10,000 records; each counts against the batch allocation.
RECORDS_PER_BATCH = 10_000
# Create, upload, close, a few polls and up to three result downloads.
CALLS_PER_JOB = 12


class LimitsExceededError(OptionError):
    """The write would eat into the org's daily allocations beyond the safety margin."""


@dataclass(frozen=True)
class WriteEstimate:
    """What a write of ``rows`` rows costs, at most."""

    jobs: int
    batches: int
    api_requests: int


def estimate(rows: int, options: WriteOptions, partitions: int = 1) -> WriteEstimate:
    """What ``rows`` rows in ``partitions`` partitions cost. With Bulk API 1.0 each of the writer's jobs is one
    batch of a partition's 1.0 job, and that batch is what the batch allocation counts."""
    per_job = min(options.job_rows, RECORDS_PER_BATCH * 10)
    # Every partition may end on a part-full job.
    jobs = math.ceil(rows / per_job) + max(0, partitions - 1)
    batches = jobs if options.bulk_api == "1" else math.ceil(rows / RECORDS_PER_BATCH) + jobs
    return WriteEstimate(jobs=jobs, batches=batches, api_requests=jobs * CALLS_PER_JOB)


def check_limits(transport: Transport, options: WriteOptions, rows: int | None, partitions: int = 1) -> None:
    """Raise when the write (of ``rows`` rows, if known) would leave less than the safety margin of any allocation.

    Raises:
        LimitsExceededError: Naming the allocation, what is left, what the write needs and the margin.
    """
    limits = fetch_limits(transport)
    needed = estimate(rows, options, partitions) if rows is not None else WriteEstimate(0, 0, 0)
    for name, amount in (("DailyApiRequests", needed.api_requests), ("DailyBulkApiBatches", needed.batches)):
        limit = limits.get(name)
        if limit is None:
            continue
        check_allocation(name, limit, amount, options.limits_margin, rows)


def check_allocation(name: str, limit: Limit, amount: int, margin: float, rows: int | None) -> None:
    """Raise unless spending ``amount`` of ``limit`` leaves its reserve (``margin`` of the maximum)."""
    reserve = math.ceil(limit.maximum * margin)
    if limit.remaining - amount >= reserve:
        return
    need = f"this write of {rows:,} rows needs about {amount:,}" if rows is not None else "nothing is left to spend"
    raise LimitsExceededError(
        f"refusing to write: the org has {limit.remaining:,} of {limit.maximum:,} {name} left today; {need}, "
        f"and {reserve:,} are kept in reserve (limitsMargin={margin:g}). Wait for the allocation to recover, "
        "write fewer rows, or lower limitsMargin"
    )
