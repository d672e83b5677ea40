"""Keeping a Python worker's memory close to what its partition needs at the moment, and measuring a task's peak.

Two allocators keep memory a writer has freed. Arrow's default pool (mimalloc) holds on to the pages each thread
freed. glibc raises its mmap threshold after a large block is freed, so the next megabyte-sized buffers (an encoded
batch, a digest list) come from a heap that seldom shrinks. Together that is about 30 MB over a long partition,
about as much as the writer's own working set.

Spark reuses a Python worker for task after task (``spark.python.worker.reuse``, on by default), so the process's
lifetime peak (``ru_maxrss``) soon says more about the largest earlier task than about the current one. Linux can
start the peak again from the present (:func:`reset_peak_rss`), which makes a task's peak its own.

Examples:
    >>> reset_peak_rss()
    >>> with lean_memory():
    ...     writer.write(batches)
    >>> peak_rss_mb()
    123.4
"""

from __future__ import annotations

import ctypes
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

# glibc's mallopt parameter number, and the size from which blocks are mapped and unmapped on their own. glibc starts
# at 128 KiB, but then every column of an Arrow batch is fresh pages to fault in (about 15 % slower here); at 512 KiB
# the small buffers reuse the heap and the large ones (encoded batches, digests) still go back.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 512 * 1024
# The size of Arrow data to encode at a time: the encoder's buffers for it (a column made text, the joined lines)
# then stay under the mmap threshold and reuse heap the last piece freed. Whole 10,000-row Arrow batches (a
# megabyte of lines) took a third longer to encode, in fresh pages, and held twice the memory.
ENCODE_PIECE_BYTES = _MMAP_THRESHOLD // 2
# proc(5): writing "5" to clear_refs starts the peak resident set (VmHWM in status) again from the current one.
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"
# Where there is no /proc: ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
_RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024


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


def reset_peak_rss() -> bool:
    """Start this process's peak resident memory again from what it holds now, so that :func:`peak_rss_mb` reports
    the peak since this call (best effort).

    The new peak can never be lower than the process's resident memory at the reset: what earlier tasks left
    allocated in a reused worker still counts.

    Returns:
        False where the kernel offers no reset (no ``/proc``, as on macOS, or ``clear_refs`` not writable); the
        peak is then the process's lifetime one.
    """
    try:
        with open(_CLEAR_REFS, "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB since the last :func:`reset_peak_rss`, or since it started.

    Read from ``VmHWM`` in ``/proc/self/status`` where there is one; otherwise from ``ru_maxrss``, the process's
    lifetime peak where the reset is not available.
    """
    try:
        with open(_STATUS) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # "VmHWM:    123456 kB"
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RU_MAXRSS_BYTES / (1 << 20)
