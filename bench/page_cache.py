"""Dropping the Python libraries' shared objects from the page cache, for the memory section (not part of sf_assets).

A process's resident memory counts the pages of the shared libraries it maps, and how many of them depends on how
the files sit in the kernel's page cache. Files pip has just written stay cached in large folios, which a page fault
maps whole; files read from disk come in by readahead and map a few pages at a time. On this machine (Linux 6.18,
ext4) the same fresh Python worker held 30 MB more after ``pip install`` had rewritten pyarrow and numpy than after
those files were read from disk again: the floor's peak was 143 MB against 113 MB, ours' 159 MB against 127 MB, with
the same anonymous memory. Peaks measured minutes apart thus differed by more than the writers did. Dropping the
cached pages first makes every writer's libraries come from disk, as on a node after it boots.

``posix_fadvise(POSIX_FADV_DONTNEED)`` needs no privilege and drops only clean pages no process maps, so libraries a
running process (the org, this script) has loaded keep their state: call it before starting them.

Examples:
    >>> drop_library_pages()  # before starting the processes to measure; the number of files advised
    421
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path


def drop_library_pages(roots: tuple[str, ...] = (sys.prefix, sys.base_prefix)) -> int:
    """Advise the kernel to drop the cached pages of every shared object under ``roots`` (the venv and the Python
    it was made from); returns how many files were advised. A no-op where there is no ``posix_fadvise``."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    advised = 0
    for root in dict.fromkeys(roots):
        for path in Path(root).rglob("*.so*"):
            if not (path.suffix == ".so" or ".so." in path.name):
                continue
            try:
                # Non-blocking, so that a FIFO named like a library cannot hang the bench; only regular files count.
                descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if stat.S_ISREG(os.fstat(descriptor).st_mode):
                    os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                    advised += 1
            except OSError:
                pass
            finally:
                os.close(descriptor)
    return advised
