"""Keeping a Python worker's memory close to what its partition needs at the moment.

Two allocators keep memory a writer has freed. Arrow's default pool (mimalloc) holds on to the pages each thread
freed. glibc raises its mmap threshold after a large block is freed, so the next megabyte-sized buffers (an encoded
batch, a digest list) come from a heap that seldom shrinks. Together that is about 30 MB over a long partition,
about as much as the writer's own working set.

Examples:
    >>> with lean_memory():
    ...     writer.write(batches)
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

# glibc's mallopt parameter number, and the size from which blocks are mapped and unmapped on their own. glibc starts
# at 128 KiB, but then every column of an Arrow batch is fresh pages to fault in (about 15 % slower here); at 512 KiB
# the small buffers reuse the heap and the large ones (encoded batches, digests) still go back.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 512 * 1024


@contextmanager
def lean_memory() -> Iterator[None]:
    """Allocate Arrow buffers with the system allocator while the block runs (the previous pool is restored
    afterwards) and keep glibc's mmap threshold fixed, so that freed buffers go back to the system."""
    fix_mmap_threshold()
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def fix_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold at 512 KiB (setting it turns off its growth); False where the C library has no
    ``mallopt`` (macOS, musl). It stays for the life of the process: a smaller heap suits any later task in a
    reused worker too."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
