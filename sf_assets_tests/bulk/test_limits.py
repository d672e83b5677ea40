from __future__ import annotations

import pytest

from sf_assets.bulk import Credentials, Transport
from sf_assets.bulk.limits import Limit, api_usage, fetch_limits
from sf_assets.emulator import LocalOrg


def test_fetch_limits_reads_maximum_and_remaining(org: LocalOrg, soap_credentials: Credentials) -> None:
    limits = fetch_limits(Transport(soap_credentials, ca_file=str(org.tls.ca_file)))
    batches = limits["DailyBulkApiBatches"]
    assert batches.maximum == 15_000
    assert batches.used == batches.maximum - batches.remaining


@pytest.mark.parametrize(
    ("header", "usage"),
    [
        ("api-usage=25/15000", (25, 15000)),
        ("per-app-api-usage=1/5(appName=x), api-usage=7/100", (7, 100)),
        (None, None),
    ],
)
def test_api_usage_parses_the_limit_info_header(header: str | None, usage: tuple[int, int] | None) -> None:
    assert api_usage(header) == usage


def test_a_limit_knows_its_use() -> None:
    assert Limit(maximum=100, remaining=30).used == 70
