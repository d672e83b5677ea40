from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from sf_assets.resources import ensure_local_org, stop_local_org
from sf_assets.resources.local_org import LocalOrgError


@pytest.fixture
def org_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "org"
    yield directory
    stop_local_org(directory)


def _answers(connection: dict[str, str]) -> bool:
    response = requests.get(f"{connection['instance_url']}/services/data/", verify=connection["ca_file"], timeout=5)
    return response.status_code == 200


def test_an_org_is_started_when_none_runs(org_dir: Path) -> None:
    connection = ensure_local_org(org_dir)
    assert _answers(connection)
    assert (org_dir / "org.pid").exists()


def test_a_running_org_is_reused(org_dir: Path) -> None:
    first = ensure_local_org(org_dir)
    assert ensure_local_org(org_dir)["instance_url"] == first["instance_url"]


def test_concurrent_callers_share_one_org(org_dir: Path) -> None:
    with ThreadPoolExecutor(3) as pool:
        urls = {connection["instance_url"] for connection in pool.map(ensure_local_org, [org_dir] * 3)}
    assert len(urls) == 1


def test_a_stale_connection_file_starts_a_new_org(org_dir: Path) -> None:
    org_dir.mkdir(parents=True)
    (org_dir / "connection.json").write_text(json.dumps({"instance_url": "https://127.0.0.1:9", "ca_file": "/nope"}))
    assert _answers(ensure_local_org(org_dir))


def test_stop_ends_the_org(org_dir: Path) -> None:
    connection = ensure_local_org(org_dir)
    assert stop_local_org(org_dir)
    assert not _still_answering(connection)
    assert not stop_local_org(org_dir)


def _still_answering(connection: dict[str, str]) -> bool:
    for _ in range(100):  # the process needs a moment to exit
        try:
            _answers(connection)
        except requests.RequestException:
            return False
        time.sleep(0.05)
    return True


def test_an_org_that_cannot_start_names_its_log(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises((LocalOrgError, OSError)):
        ensure_local_org(blocked / "org", timeout=5)
