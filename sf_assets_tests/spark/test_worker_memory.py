"""worker_memory: the allocators a writer runs with, and a task's own peak resident memory."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from sf_assets.spark import worker_memory
from sf_assets.spark.worker_memory import fix_mmap_threshold, lean_memory, peak_rss_mb, reset_peak_rss

_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak can be reset through /proc")
# Larger than glibc's largest mmap threshold (32 MiB), so freeing it hands the pages back at once.
_BLOCK = 64 << 20


def _resident_block() -> bytes:
    # Repetition writes every byte, so every page is resident (bytes(n) would map untouched zero pages).
    return b"x" * _BLOCK


def test_arrow_buffers_come_from_the_system_allocator_inside() -> None:
    with lean_memory():
        assert pa.default_memory_pool().backend_name == "system"


def test_the_previous_arrow_pool_is_restored_after_an_error() -> None:
    before = pa.default_memory_pool().backend_name
    with pytest.raises(RuntimeError), lean_memory():
        raise RuntimeError("the write failed")
    assert pa.default_memory_pool().backend_name == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_glibc_takes_the_fixed_mmap_threshold() -> None:
    assert fix_mmap_threshold()


@_linux
def test_the_peak_rises_with_a_large_allocation() -> None:
    reset_peak_rss()
    before = peak_rss_mb()
    block = _resident_block()
    assert peak_rss_mb() >= before + 60
    del block


@_linux
def test_a_reset_forgets_a_peak_already_freed() -> None:
    block = _resident_block()
    high = peak_rss_mb()
    del block
    assert reset_peak_rss()
    assert peak_rss_mb() <= high - 60


def test_without_proc_the_reset_does_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(worker_memory, "_CLEAR_REFS", str(tmp_path / "no-proc" / "clear_refs"))
    assert not reset_peak_rss()


@pytest.mark.skipif(sys.platform == "darwin", reason="ru_maxrss is in bytes there")
def test_without_proc_the_peak_comes_from_getrusage_in_mib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(worker_memory, "_STATUS", str(tmp_path / "no-proc" / "status"))
    low = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = peak_rss_mb()
    assert low <= peak <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
