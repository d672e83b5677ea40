"""Tests for ``sf_assets.spark.filesystems``: local paths and URIs, and what opening them imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pa_fs

from sf_assets.spark.filesystems import open_filesystem


def test_a_local_path_opens_as_it_is(tmp_path: Path) -> None:
    fs, path = open_filesystem(str(tmp_path))
    assert isinstance(fs, pa_fs.LocalFileSystem)
    assert path == str(tmp_path)


def test_a_file_uri_opens_its_path(tmp_path: Path) -> None:
    fs, path = open_filesystem(f"file://{tmp_path}")
    assert isinstance(fs, pa_fs.LocalFileSystem)
    assert path == str(tmp_path)


def test_an_s3_uri_opens_s3() -> None:
    # No request is made until a file is touched; the endpoint is a closed loopback port all the same.
    fs, path = open_filesystem("s3://bucket/sf_results?region=us-east-1&endpoint_override=127.0.0.1:9&scheme=http")
    assert isinstance(fs, pa_fs.S3FileSystem)
    assert path == "bucket/sf_results"


def _modules_after(code: str) -> set[str]:
    """The pyarrow modules a fresh interpreter holds after running ``code`` (this test process has them all)."""
    script = f"import sys\n{code}\nprint(' '.join(m for m in sys.modules if m.startswith('pyarrow')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_a_task_writing_to_a_local_path_loads_no_remote_filesystem_nor_parquet(tmp_path: Path) -> None:
    modules = _modules_after(
        "from sf_assets.spark import datasource, partition_writer, bulk1_jobs\n"
        "from sf_assets.spark.ledger import Ledger\n"
        "from sf_assets.spark.result_files import ResultFiles\n"
        f"files = ResultFiles({str(tmp_path)!r}, ['Name'], 0, 0)\n"
        f"Ledger({str(tmp_path)!r}, 0).load()\n"
        "files.publish()"
    )
    assert "pyarrow.fs" not in modules
    assert "pyarrow._s3fs" not in modules
    assert "pyarrow.parquet" not in modules
    assert "pyarrow._fs" in modules


def test_a_uri_loads_the_remote_filesystems(tmp_path: Path) -> None:
    modules = _modules_after(
        f"from sf_assets.spark.filesystems import open_filesystem\nopen_filesystem('file://{tmp_path}')"
    )
    assert "pyarrow.fs" in modules
