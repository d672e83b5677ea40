from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame

from sf_assets.emulator import LocalOrg
from sf_assets.spark import WriteSummary, read_summary
from sf_assets_tests.conftest import wait_for_idle_tasks

Write = Callable[..., WriteSummary]


@pytest.fixture
def connection(org: LocalOrg) -> dict[str, str]:
    return json.loads((Path(org.data_dir) / "connection.json").read_text())


@pytest.fixture
def sf_creds(connection: dict[str, str]) -> dict[str, str]:
    """The blog's credential options, pointed at the local org (and trusting its CA)."""
    return {
        "username": connection["username"],
        "password": connection["password"],
        "security_token": connection["security_token"],
        "instance_url": connection["instance_url"],
        "ca_file": connection["ca_file"],
    }


@pytest.fixture
def write(sf_creds: dict[str, str], tmp_path: Path) -> Write:
    """Write a DataFrame with the given options (plus the org's credentials) and return its summary."""
    counter = iter(range(1_000_000))

    def run(df: DataFrame, **options: Any) -> WriteSummary:
        write_id = f"write-{next(counter)}"
        try:
            (
                df.write.format("salesforce-batch")
                .mode("append")
                .options(**sf_creds)
                .option("resultsPath", str(tmp_path / "results"))
                .option("writeId", write_id)
                .option("pollInterval", "0.02")
                .options(**{key: str(value) for key, value in options.items()})
                .save()
            )
        except Exception:
            # save() raises once one task failed, while another may still be recovering its jobs (a cancelled
            # task's Python worker runs until Spark kills it): what the test inspects next must be what the
            # write left, not a state its last task is still changing.
            wait_for_idle_tasks(df.sparkSession)
            raise
        return read_summary(str(tmp_path / "results" / write_id))

    return run
