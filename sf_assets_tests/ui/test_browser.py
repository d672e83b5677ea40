"""The UI end to end: dagster-webserver and dagster-daemon on loopback, driven by headless Chromium.

The browser opens the salesforce group's asset graph, then the asset page of ``salesforce/account``, clicks
"Materialize" there and, once the run succeeded, finds ``records_written`` on that page. The source tables come
first, launched through GraphQL with small sample sizes: a launch from the UI would use the default sizes (10,000
accounts, 50,000 contacts), which take far longer. Account alone keeps the run to one Spark write; the in-process
tests cover Contact.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from sf_assets.defs.resources import CONNECTION_ENV
from sf_assets.resources import stop_local_org

# Generous limits: a loaded 2-core machine runs this in about a minute and a half; a quiet one in less.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
LOCATION = "sf_assets"
REPOSITORY = "__repository__"
ACCOUNT = ["salesforce", "account"]
SOURCES = [["source", "accounts"], ["source", "contacts"]]
# Small enough for seconds of work, large enough that the sample data's planted failures show up.
SAMPLE = {"accounts": 60, "contacts": 200}
STARTUP_TIMEOUT = 60.0
RUN_TIMEOUT = 240.0
# Requests leaving loopback. A pattern rather than a Python predicate: Playwright matches it in its driver, so
# loopback requests never wait for this (possibly busy) Python thread to decide.
OFF_LOOPBACK = re.compile(r"^(https?|wss?)://(?!127\.0\.0\.1[:/])")


@dataclass
class DagsterUI:
    url: str
    workdir: Path
    processes: list[subprocess.Popen[bytes]]

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{self.logs()}")

    def logs(self) -> str:
        tails = []
        for log in sorted(self.workdir.glob("*.log")):
            tails.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(tails)


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, which bin/setup installs; Playwright never downloads a browser of its own."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: bin/setup installs Debian's chromium when it runs as root with apt-get"
    if os.environ.get("CI"):
        # CI runs as root after bin/setup, so a missing browser there is a set-up bug, not a reason to skip.
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(
    what: str, ui: DagsterUI, probe: Callable[[], Any], timeout: float, sleep: Callable[[float], None] = time.sleep
) -> Any:
    """Poll ``probe`` until it returns something truthy, failing early when a server process died.

    With a browser open, pass a ``sleep`` that lets Playwright work (``page.wait_for_timeout``): its sync API
    handles the browser's events only while this thread is inside one of its calls.
    """
    deadline = time.monotonic() + timeout
    delay = 0.1
    while time.monotonic() < deadline:
        ui.check_alive()
        try:
            value = probe()
        except requests.RequestException:
            value = None
        if value:
            return value
        sleep(delay)
        delay = min(delay * 1.5, 1.0)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{ui.logs()}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    # Runs, code servers and Spark's JVM are descendants: list them before the parents go, in case one of them
    # left the process group.
    descendants: list[psutil.Process] = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            descendants.extend(psutil.Process(process.pid).children(recursive=True))
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    # The daemon takes several seconds to wind its threads down; the instance is thrown away, so a short grace
    # period is enough.
    deadline = time.monotonic() + 3
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Whatever left the groups (compute-log watchers, say) got no signal yet.
    for leftover in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.terminate()
    _, alive = psutil.wait_procs(descendants, timeout=3)
    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[DagsterUI]:
    """dagster-webserver and dagster-daemon on a temporary instance, local org and source tables."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").touch()  # default storage in DAGSTER_HOME; the daemon lets queued runs start
    org_dir = tmp_path / "org"
    env = {name: value for name, value in os.environ.items() if name not in CONNECTION_ENV.values()}
    # No SF_* connection: whatever the developer's shell points at, the test writes to its own local org.
    env.update(
        DAGSTER_HOME=str(home),
        SF_ASSETS_LOCAL_ORG=str(org_dir),
        SF_ASSETS_RESULTS=str(tmp_path / "results"),
        SF_ASSETS_SOURCE_DIR=str(tmp_path / "source"),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    bin_dir = Path(sys.executable).parent
    port = _free_port()
    commands = {
        "webserver": [bin_dir / "dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        "daemon": [bin_dir / "dagster-daemon", "run", "-w", "workspace.yaml"],
    }
    processes = []
    try:
        for name, command in commands.items():
            with open(tmp_path / f"{name}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [str(part) for part in command],
                        cwd=REPO,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group, stopped as a whole in teardown
                    )
                )
        ui = DagsterUI(url=f"http://127.0.0.1:{port}", workdir=tmp_path, processes=processes)
        _wait_for("the webserver", ui, lambda: requests.get(f"{ui.url}/server_info", timeout=2).ok, STARTUP_TIMEOUT)
        _wait_for("the code location", ui, lambda: _location_loaded(ui), STARTUP_TIMEOUT)
        yield ui
    finally:
        _stop(processes)
        # The org runs detached from whoever started it (it outlives runs), so it is stopped by its pid file.
        stop_local_org(org_dir)


def _location_loaded(ui: DagsterUI) -> bool:
    data = ui.graphql(
        """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
             locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    )
    for entry in data["workspaceOrError"]["locationEntries"]:
        if entry["name"] != LOCATION or entry["loadStatus"] != "LOADED":
            continue
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded
        return True
    return False


def _launch(ui: DagsterUI, assets: list[list[str]], run_config: dict[str, Any]) -> str:
    data = ui.graphql(
        """mutation Launch($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
             ... on RunConfigValidationInvalid { errors { message } } } }""",
        params={
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": path} for path in assets],
            },
            "runConfigData": run_config,
        },
    )
    launched = data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


def _run_ids(ui: DagsterUI) -> set[str]:
    data = ui.graphql("{ runsOrError(limit: 20) { ... on Runs { results { runId } } } }")
    return {run["runId"] for run in data["runsOrError"]["results"]}


def _wait_for_success(ui: DagsterUI, run_id: str, sleep: Callable[[float], None] = time.sleep) -> None:
    def finished() -> str | None:
        data = ui.graphql("query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)
        status = data["runOrError"]["status"]
        return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None

    status = _wait_for(f"run {run_id}", ui, finished, RUN_TIMEOUT, sleep)
    assert status == "SUCCESS", f"run {run_id} ended {status}\n{ui.logs()}"


def _records_written(ui: DagsterUI, run_id: str) -> int:
    data = ui.graphql(
        """query Written($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
             assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
           } } }""",
        key={"path": ACCOUNT},
    )
    [materialization] = data["assetOrError"]["assetMaterializations"]
    assert materialization["runId"] == run_id
    [value] = [entry["intValue"] for entry in materialization["metadataEntries"] if entry["label"] == "records_written"]
    return int(value)


def test_materialize_from_the_ui(chromium: Path, dagster_ui: DagsterUI, tmp_path: Path) -> None:
    ui = dagster_ui
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(phase: str) -> None:
        timings[phase] = time.monotonic() - started - sum(timings.values())

    sources = _launch(ui, SOURCES, {"ops": {"sample_source_tables": {"config": SAMPLE}}})
    # Root in a container has no user namespaces for Chromium's sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        # Loopback only: the UI must work offline (it asks dagster.io for a telemetry script), and a test must
        # not talk to the internet.
        context.route(OFF_LOOPBACK, lambda route: route.abort())
        # The "Join the Dagster community" dialog, shown once per browser on localhost, would cover the page.
        context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
        page = context.new_page()
        # A loaded 2-core machine takes seconds to render a page; the defaults (5 s for expect) are too short.
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)

        def pump(seconds: float) -> None:
            page.wait_for_timeout(seconds * 1000)

        try:
            page.goto(f"{ui.url}/locations/{LOCATION}/asset-groups/salesforce/lineage")
            expect(page.get_by_text("contact", exact=True).first).to_be_visible()
            page.screenshot(path=tmp_path / "ui-graph.png")
            lap("graph")
            page.goto(f"{ui.url}/assets/{'/'.join(ACCOUNT)}")
            # By its text: the button's accessible name also carries its icon's.
            materialize = page.get_by_role("button").filter(has_text=re.compile(r"^Materialize$"))
            expect(materialize).to_be_enabled()
            lap("asset page")
            # Launched before the browser started, the sources are (nearly) there by now; once they are,
            # "Materialize" asks no question about missing upstream assets.
            _wait_for_success(ui, sources, pump)
            lap("sources")
            before = _run_ids(ui)
            materialize.click()
            [run_id] = _wait_for("the run launched from the UI", ui, lambda: _run_ids(ui) - before, 30, pump)
            lap("launch")
            _wait_for_success(ui, run_id, pump)
            lap("run")
            written = _records_written(ui, run_id)
            # The page polls for new events, but a reload shows the latest materialization without waiting for it.
            page.reload()
            row = page.get_by_role("row").filter(has=page.get_by_text("records_written", exact=True))
            expect(row.get_by_role("cell").last).to_have_text(str(written))
            screenshot = tmp_path / "ui-salesforce-account.png"
            page.screenshot(path=screenshot, full_page=True)
            lap("metadata")
            print(f"\nscreenshots: {tmp_path / 'ui-graph.png'} {screenshot}")
        except BaseException:  # pytest.fail raises an OutcomeException, which is no Exception
            page.screenshot(path=tmp_path / "ui-failure.png", full_page=True)
            print(f"\nfailure screenshot: {tmp_path / 'ui-failure.png'}")
            raise
        finally:
            browser.close()
            print("seconds per phase: " + ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in timings.items()))
