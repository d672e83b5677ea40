from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg


@pytest.fixture
def org(local_org: LocalOrg, org_session: Any) -> LocalOrg:
    """The session's org, emptied: each test starts from no records and no jobs."""
    response = org_session.post(
        f"{local_org.instance_url}/__org__/reset", headers={"Authorization": f"Bearer {local_org.new_session()}"}
    )
    assert response.status_code == 204
    return local_org


@pytest.fixture
def sf(org: LocalOrg, org_session: Any) -> Salesforce:
    """simple-salesforce, unmodified, on a session id and instance URL (no login call)."""
    return Salesforce(instance_url=org.instance_url, session_id=org.new_session(), session=org_session, version="59.0")
