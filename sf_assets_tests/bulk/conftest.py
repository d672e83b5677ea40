from __future__ import annotations

import json
from pathlib import Path

import pytest

from sf_assets.bulk import Credentials
from sf_assets.emulator import LocalOrg


@pytest.fixture
def connection(org: LocalOrg) -> dict[str, str]:
    """The org's ``connection.json``: credentials of every login method."""
    return json.loads((Path(org.data_dir) / "connection.json").read_text())


@pytest.fixture
def soap_credentials(connection: dict[str, str]) -> Credentials:
    return Credentials(
        username=connection["username"],
        password=connection["password"],
        security_token=connection["security_token"],
        instance_url=connection["instance_url"],
    )
