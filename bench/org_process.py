"""A local org in a process of its own, for benchmarks (so it never shares a GIL with the client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def org_process(data_dir: Path, *args: str, cores: set[int] | None = None) -> Iterator[dict[str, str]]:
    """Start ``python -m sf_assets.emulator`` in ``data_dir``; yields its connection details."""
    org = subprocess.Popen(
        [sys.executable, "-m", "sf_assets.emulator", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        if cores:
            os.sched_setaffinity(org.pid, cores)
        assert org.stdout is not None
        yield json.loads(org.stdout.readline())
    finally:
        org.terminate()
        org.wait(timeout=30)
