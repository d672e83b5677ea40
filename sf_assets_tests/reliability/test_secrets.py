"""No secret of a full run reaches a log, a Spark plan, the Spark event log or a result file.

A fresh interpreter (``secrets_driver.py``) runs Spark with its event log on (uncompressed), ``sf_assets``
logging at DEBUG and Spark at INFO, and writes through each login method: SOAP (password and security token),
OAuth client credentials (client secret) and the JWT bearer flow (private key). Everything it leaves behind is
then searched for each secret and for anything shaped like the org's access tokens.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sf_assets.emulator import LocalOrg

DRIVER = Path(__file__).resolve().parent / "secrets_driver.py"
# The local org's access tokens: 00D + 15 characters, "!", then the secret part.
ACCESS_TOKEN = re.compile(r"00D\w{15}!\S{20,}")

pytestmark = pytest.mark.slow  # a Spark of its own, in another process


@pytest.fixture(scope="module")
def run(local_org: LocalOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One full run, three writes; its connection secrets and every text it produced, by where it came from."""
    connection = json.loads((Path(local_org.data_dir) / "connection.json").read_text())
    key = Path(connection["jwt_private_key_file"]).read_text()
    base = {"instance_url": connection["instance_url"], "ca_file": connection["ca_file"]}
    logins = [
        {**base, **{name: connection[name] for name in ("username", "password", "security_token")}},
        {**base, "client_id": connection["client_id"], "client_secret": connection["client_secret"]},
        {**base, "username": connection["username"], "client_id": connection["client_id"], "jwt_private_key": key},
    ]
    root = tmp_path_factory.mktemp("secrets")
    spec = {"event_log_dir": str(root / "events"), "results_path": str(root / "results"), "logins": logins}
    (root / "events").mkdir()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(spec)], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, f"driver failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    texts = {"driver stdout": done.stdout, "driver and executor logs (stderr)": done.stderr}
    for path in sorted((root / "events").rglob("*")):
        if path.is_file():
            texts[f"event log {path.name}"] = path.read_text(errors="replace")
    for path in sorted((root / "results").rglob("*")):
        if path.suffix == ".parquet":
            texts[f"result {path.relative_to(root)}"] = json.dumps(pq.read_table(path).to_pylist())
        elif path.is_file():
            texts[f"result {path.relative_to(root)}"] = path.read_text(errors="replace")
    # The PEM key's body lines, each long and random enough to be unmistakable.
    key_lines = [line for line in key.splitlines() if len(line) >= 40 and not line.startswith("-----")]
    secrets = {
        "password": connection["password"],
        "security_token": connection["security_token"],
        "password+token": connection["password"] + connection["security_token"],
        "client_secret": connection["client_secret"],
        **{f"jwt key line {n}": line for n, line in enumerate(key_lines)},
    }
    return {"texts": texts, "secrets": secrets, "stdout": done.stdout}


def _texts(run: dict[str, object]) -> dict[str, str]:
    return run["texts"]  # type: ignore[return-value]


def test_the_run_wrote_through_every_login_method(run: dict[str, object]) -> None:
    summaries = [json.loads(line) for line in str(run["stdout"]).splitlines() if line.startswith("{")]
    assert [(s["succeeded"], s["failed"]) for s in summaries] == [(588, 12)] * 3


def test_the_event_log_holds_the_write_plans(run: dict[str, object]) -> None:
    events = "".join(text for name, text in _texts(run).items() if name.startswith("event log"))
    assert "SparkListenerSQLExecutionStart" in events
    assert "physicalPlanDescription" in events


def test_no_secret_appears_anywhere(run: dict[str, object]) -> None:
    secrets: dict[str, str] = run["secrets"]  # type: ignore[assignment]
    leaks = [
        f"{secret} in {where}"
        for where, text in _texts(run).items()
        for secret, value in secrets.items()
        if value in text
    ]
    assert leaks == []


def test_no_access_token_appears_anywhere(run: dict[str, object]) -> None:
    leaks = {where: ACCESS_TOKEN.findall(text)[:1] for where, text in _texts(run).items() if ACCESS_TOKEN.search(text)}
    assert leaks == {}
