"""``salesforce-batch`` through a Spark Connect server, as Databricks serves notebooks.

The client registers the data source; the class is pickled by reference, so the server's Python workers import
it from the venv. The server logs each plan's options at INFO (G6), so the client passes a short-lived session
(``session_id`` + ``instance_url``) instead of a password, and revokes it after the write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg

from .conftest import ConnectServer, run_driver

ROWS = 2_000


@pytest.mark.slow
def test_spark_connect_writes_and_no_password_reaches_the_server_log(
    connect_server: ConnectServer, local_org: LocalOrg, org_session: Any, tmp_path: Path
) -> None:
    connection = local_org.connection()
    token = local_org.new_session()
    result = run_driver(
        {
            "remote": connect_server.url,
            "rows": ROWS,
            "partitions": 2,
            "prefix": "SC-",
            "options": {
                "session_id": token,
                "instance_url": connection["instance_url"],
                "ca_file": connection["ca_file"],
                "resultsPath": str(tmp_path / "results"),
                "writeId": "connect",
            },
        },
        connect_server.env,
        cwd=tmp_path,
    )
    assert (result["records_in"], result["succeeded"], result["failed"]) == (ROWS, ROWS, 0)

    # The write's session ends with it: whatever the server logged is useless afterwards.
    revoked = org_session.post(
        f"{local_org.instance_url}/__org__/sessions/revoke",
        json={"token": token},
        headers={"Authorization": f"Bearer {local_org.new_session()}"},
    )
    assert revoked.json() == {"revoked": 1}
    limits = org_session.get(
        f"{local_org.instance_url}/services/data/v59.0/limits", headers={"Authorization": f"Bearer {token}"}
    )
    assert limits.status_code == 401
    # Spark 4.3 logs the write's options, this token among them, in clear at INFO; passwords never get there.
    server_log = connect_server.log.read_text(errors="replace")
    for secret in ("password", "security_token", "client_secret"):
        assert connection[secret] not in server_log, f"the Connect server logged the {secret}"

    sf = Salesforce(
        instance_url=local_org.instance_url, session_id=local_org.new_session(), session=org_session, version="59.0"
    )
    assert sf.query("SELECT COUNT() FROM Contact WHERE External_Id__c LIKE 'SC-%'")["totalSize"] == ROWS
