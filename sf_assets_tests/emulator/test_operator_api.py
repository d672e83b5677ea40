from __future__ import annotations

import threading
import time

import requests

from sf_assets.emulator import LocalOrg
from sf_assets_tests.conftest import operator_call


def _batch_workers() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name.startswith("org-batch-worker-"))


def _settles_at(count: int) -> bool:
    for _ in range(100):
        if _batch_workers() == count:
            return True
        time.sleep(0.02)
    return False


def test_parallel_batches_changes_the_worker_count_at_run_time(org: LocalOrg, org_session: requests.Session) -> None:
    before = _batch_workers()
    operator_call(org, org_session, "PATCH", "config", {"processing": {"parallel_batches": 5}})
    try:
        assert _settles_at(before + 3)
    finally:
        operator_call(org, org_session, "PATCH", "config", {"processing": {"parallel_batches": 2}})
    assert _settles_at(before)
