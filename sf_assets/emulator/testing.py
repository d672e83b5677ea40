"""Pytest fixtures for a local org: ``pytest_plugins = ["sf_assets.emulator.testing"]``.

Examples:
    >>> def test_accounts(local_org, org_session):
    ...     sf = Salesforce(instance_url=local_org.instance_url, session_id=local_org.new_session(),
    ...                     session=org_session)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .org import LocalOrg, OrgConfig


@pytest.fixture(scope="session")
def local_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOrg]:
    """A real HTTPS org on an ephemeral loopback port, shared by the session (Spark workers reach it too)."""
    data_dir: Path = tmp_path_factory.mktemp("local-org")
    with LocalOrg(OrgConfig(data_dir=data_dir)) as org:
        yield org


@pytest.fixture
def org_session(local_org: LocalOrg) -> Any:
    """A ``requests.Session`` trusting the org's CA, immune to REQUESTS_CA_BUNDLE."""
    session = local_org.requests_session()
    yield session
    session.close()
