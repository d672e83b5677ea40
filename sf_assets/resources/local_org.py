"""The local org as the default Salesforce: reuse the one running in a directory, or start it there.

The org runs as its own process, detached from whoever started it, so it outlives a Dagster step or run and
keeps its data like a real org would. Stop it with ``kill $(cat .local-org/org.pid)`` (or Ctrl-C when it was
started in the foreground with ``python -m sf_assets.emulator``).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

CONNECTION_FILE = "connection.json"
PID_FILE = "org.pid"


class LocalOrgError(RuntimeError):
    """The local org could not be reached or started."""


def ensure_local_org(data_dir: str | Path, *, timeout: float = 30.0) -> dict[str, str]:
    """Connection details of the local org kept in ``data_dir``, starting it first if it is not answering.

    Args:
        data_dir: The org's directory (created if missing).
        timeout: Seconds to wait for a freshly started org.

    Returns:
        The contents of its ``connection.json`` (secrets included: keep them out of logs).

    Examples:
        >>> connection = ensure_local_org(".local-org")
        >>> connection["instance_url"]
        'https://127.0.0.1:43123'
    """
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    running = _running(directory)
    if running:
        return running
    # Several Dagster steps or runs may start at once: one of them starts the org, the others wait for it.
    with open(directory / ".start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = _running(directory)
        if running:
            return running
        (directory / CONNECTION_FILE).unlink(missing_ok=True)
        log = open(directory / "org.log", "ab")  # noqa: SIM115 - handed to the child process
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sf_assets.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        (directory / PID_FILE).write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalOrgError(f"the local org in {directory} exited with code {process.returncode}; see org.log")
            running = _running(directory)
            if running:
                return running
            time.sleep(0.05)
        process.terminate()
        raise LocalOrgError(f"the local org in {directory} did not answer within {timeout:.0f}s; see org.log")


def _running(directory: Path) -> dict[str, str] | None:
    path = directory / CONNECTION_FILE
    try:
        connection = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        response = requests.get(f"{connection['instance_url']}/services/data/", verify=connection["ca_file"], timeout=2)
    except (requests.RequestException, KeyError, OSError):
        return None
    return connection if response.status_code == 200 else None


def stop_local_org(data_dir: str | Path) -> bool:
    """Stop an org that :func:`ensure_local_org` started in ``data_dir``; returns whether one was running."""
    pid_file = Path(data_dir) / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return False
    finally:
        pid_file.unlink(missing_ok=True)
    return True
