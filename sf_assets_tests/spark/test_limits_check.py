from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sf_assets.bulk import Credentials, Transport
from sf_assets.bulk.limits import Limit
from sf_assets.emulator import LocalOrg
from sf_assets.spark.limits_check import LimitsExceededError, check_allocation, check_limits, estimate
from sf_assets.spark.options import WriteOptions
from sf_assets_tests.conftest import operator_call


def _options(**overrides: object) -> WriteOptions:
    return WriteOptions(credentials=Credentials(), sobject="Contact", **overrides)  # type: ignore[arg-type]


def test_estimate_counts_jobs_batches_and_calls() -> None:
    needed = estimate(25_000, _options(batch_size=10_000), partitions=1)
    assert (needed.jobs, needed.batches, needed.api_requests) == (3, 6, 36)


def test_a_bulk1_write_spends_one_batch_per_job() -> None:
    needed = estimate(25_000, _options(batch_size=10_000, bulk_api="1"), partitions=1)
    assert (needed.jobs, needed.batches) == (3, 3)


def test_every_partition_may_add_a_part_full_job() -> None:
    assert estimate(25_000, _options(batch_size=10_000), partitions=4).jobs == 6


@pytest.fixture
def few_batches(org: LocalOrg, org_session: requests.Session) -> Iterator[Transport]:
    operator_call(org, org_session, "PATCH", "config", {"limits": {"DailyBulkApiBatches": 100}})
    yield Transport(
        Credentials(session_id=org.new_session(), instance_url=org.instance_url), ca_file=str(org.tls.ca_file)
    )
    operator_call(org, org_session, "PATCH", "config", {"limits": {"DailyBulkApiBatches": 15_000}})


def test_a_write_within_the_allocation_passes(few_batches: Transport) -> None:
    check_limits(few_batches, _options(), rows=100_000)  # 20 batches of 100, 10 kept in reserve


def test_a_write_beyond_the_allocation_is_refused_naming_it(few_batches: Transport) -> None:
    with pytest.raises(LimitsExceededError, match=r"100 of 100 DailyBulkApiBatches left today; this write of 900,000"):
        check_limits(few_batches, _options(), rows=900_000)


def test_the_safety_margin_is_kept(few_batches: Transport) -> None:
    with pytest.raises(LimitsExceededError, match=r"limitsMargin=0.5"):
        check_limits(few_batches, _options(limits_margin=0.5), rows=600_000)


def test_without_a_row_count_a_fresh_allocation_passes(few_batches: Transport) -> None:
    check_limits(few_batches, _options(), rows=None)


def test_without_a_row_count_an_allocation_inside_its_reserve_is_refused() -> None:
    with pytest.raises(LimitsExceededError, match="5 of 100 DailyApiRequests left today; nothing is left to spend"):
        check_allocation("DailyApiRequests", Limit(maximum=100, remaining=5), 0, 0.1, None)
