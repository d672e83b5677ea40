from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce

from sf_assets.emulator import LocalOrg

pytest_plugins = ["sf_assets.emulator.testing"]


def operator_call(org: LocalOrg, session: Any, method: str, path: str, body: Any = None) -> Any:
    """Call one of the org's ``/__org__/`` operator routes and return the response."""
    response = session.request(
        method,
        f"{org.instance_url}/__org__/{path}",
        json=body,
        headers={"Authorization": f"Bearer {org.new_session()}"},
    )
    assert response.status_code < 300, response.text
    return response


@pytest.fixture
def org(local_org: LocalOrg, org_session: Any) -> LocalOrg:
    """The session's org, emptied: each test starts from no records and no jobs."""
    operator_call(local_org, org_session, "POST", "reset")
    return local_org


@pytest.fixture
def sf(org: LocalOrg, org_session: Any) -> Salesforce:
    """simple-salesforce, unmodified, on a session id and instance URL (no login call)."""
    return Salesforce(instance_url=org.instance_url, session_id=org.new_session(), session=org_session, version="59.0")
