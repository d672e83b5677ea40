"""``salesforce-batch`` on a real standalone cluster: executors in their own JVMs, Python workers under them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg

from .conftest import Standalone, json_at, run_driver

ROWS = 3_000


@pytest.mark.slow
def test_standalone_cluster_writes_through_executors(
    standalone_cluster: Standalone, local_org: LocalOrg, org_session: Any, tmp_path: Path
) -> None:
    connection = local_org.connection()
    write_id = "standalone"
    result = run_driver(
        {
            "master": standalone_cluster.master_url,
            "rows": ROWS,
            "partitions": 4,
            "prefix": "SA-",
            "options": {
                "client_id": connection["client_id"],
                "client_secret": connection["client_secret"],
                "instance_url": connection["instance_url"],
                "ca_file": connection["ca_file"],
                "resultsPath": str(tmp_path / "results"),
                "writeId": write_id,
            },
        },
        standalone_cluster.env,
        cwd=tmp_path,
    )

    assert (result["records_in"], result["succeeded"], result["failed"]) == (ROWS, ROWS, 0)
    assert result["partitions"] == 4
    print(f"driver seconds: {result['seconds']}")  # shown with -s or on failure: where the time went
    tasks = result["tasks"]
    # Python workers ran under executor JVMs (CoarseGrainedExecutorBackend), not in or under the driver, and
    # imported sf_assets from its installed (editable) location while their cwd was the worker's work dir.
    assert all(task["executor_backend"] for task in tasks), tasks
    assert {task["pid"] for task in tasks}.isdisjoint({result["driver_pid"]})
    assert all(Path(task["cwd"]).is_relative_to(standalone_cluster.work) for task in tasks), tasks
    assert {task["sf_assets"] for task in tasks} == {str(Path(__file__).resolve().parents[2] / "sf_assets")}
    master = json_at(standalone_cluster.master_json)
    assert [app["name"] for app in master["completedapps"]] == ["sf-assets-cluster-test"]

    sf = Salesforce(
        instance_url=local_org.instance_url, session_id=local_org.new_session(), session=org_session, version="59.0"
    )
    assert sf.query("SELECT COUNT() FROM Contact WHERE External_Id__c LIKE 'SA-%'")["totalSize"] == ROWS
