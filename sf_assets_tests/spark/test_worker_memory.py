"""lean_memory: the allocators a writer runs with."""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest

from sf_assets.spark.worker_memory import fix_mmap_threshold, lean_memory


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
