"""Real multi-process Spark for the cluster tests: a standalone master and worker, and a Spark Connect server.

Every JVM is started from the pip pyspark's scripts on 127.0.0.1 with free ports, in its own process group, and
stopped (by its pid) when the test ends. Readiness is polled, never slept on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark
import pytest

SPARK_HOME = Path(pyspark.__file__).resolve().parent
DRIVER = Path(__file__).resolve().parent / "driver.py"
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spark_env(tmp: Path) -> dict[str, str]:
    """The environment of every Spark process: loopback only, this interpreter for Python workers.

    PYTHONPATH is dropped, so that executors find sf_assets only because it is installed in the venv (G5).
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(tmp / "logs"),
        SPARK_WORKER_DIR=str(tmp / "work"),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


def wait_for(what: str, ready: Callable[[], bool], processes: list[subprocess.Popen[bytes]], log: Path) -> None:
    """Polls ``ready`` until it holds; fails early, with the log's tail, if a process died."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"{what}: process {process.args!r} exited with {process.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready after {START_TIMEOUT:.0f} s:\n{tail(log)}")
        time.sleep(0.2)


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stops a JVM we started, and whatever it started in its process group (executors, Python workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    else:
        # The JVM is gone but its executors may linger in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        # spark-class and spark-submit exec java, so this pid is the JVM's; its own group makes clean-up exact.
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def json_at(url: str) -> Any:
    """The JSON at ``url``, or None while nothing answers there or the answer is not JSON yet: a starting master
    serves its HTML page at every path until its ``/json`` handler is attached."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)
    except (OSError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class Standalone:
    master_url: str
    master_json: str
    env: dict[str, str]
    work: Path


@pytest.fixture
def standalone_cluster(tmp_path: Path) -> Iterator[Standalone]:
    """A standalone master and one worker (2 cores, 1 GB), each a JVM from ``spark-class``."""
    env = spark_env(tmp_path)
    port, master_ui, worker_ui = free_port(), free_port(), free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master_log, worker_log = tmp_path / "logs" / "master.log", tmp_path / "logs" / "worker.log"
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(master_ui)]  # fmt: skip
    worker = [spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
              "--cores", "2", "--memory", "1g", "--webui-port", str(worker_ui),
              "--work-dir", str(tmp_path / "work")]  # fmt: skip
    processes = [start(master, env, master_log)]
    try:
        master_json = f"http://127.0.0.1:{master_ui}/json/"
        wait_for("the master", lambda: json_at(master_json) is not None, processes, master_log)
        processes.append(start(worker, env, worker_log))
        wait_for(
            "the worker",
            lambda: (json_at(master_json) or {}).get("aliveworkers", 0) >= 1,
            processes,
            worker_log,
        )
        yield Standalone(f"spark://127.0.0.1:{port}", master_json, env, tmp_path / "work")
    finally:
        for process in reversed(processes):
            stop(process)


@dataclass(frozen=True)
class ConnectServer:
    url: str
    log: Path
    env: dict[str, str]


@pytest.fixture
def connect_server(tmp_path: Path) -> Iterator[ConnectServer]:
    """A Spark Connect server (``local[2]``) bound to 127.0.0.1 on a free port, logging at INFO to a file."""
    env = spark_env(tmp_path)
    port = free_port()
    log = tmp_path / "logs" / "connect.log"
    # What start-connect-server.sh runs, minus spark-daemon.sh's wrapper shells: spark-submit execs the JVM.
    server = start(
        [str(SPARK_HOME / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--name", "Spark Connect server", "--master", "local[2]",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.ui.enabled=false",
         "--conf", "spark.driver.host=127.0.0.1",
         "--conf", "spark.driver.bindAddress=127.0.0.1",
         "--conf", f"spark.pyspark.python={sys.executable}"],
        env, log,
    )  # fmt: skip
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_for("the Spark Connect server", listening, [server], log)
        yield ConnectServer(f"sc://127.0.0.1:{port}", log, env)
    finally:
        stop(server)


def run_driver(spec: dict[str, Any], env: dict[str, str], cwd: Path, timeout: float = 120) -> dict[str, Any]:
    """Runs ``driver.py`` in a fresh interpreter from ``cwd`` (not the repository: imports must not come from it)."""
    done = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(spec)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"driver failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
