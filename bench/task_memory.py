"""A Spark task's own peak resident memory, for the bench's writers (not part of sf_assets).

The floor and the baseline measure the way ``salesforce-batch`` does (``sf_assets.spark.worker_memory``): reset the
process's peak when the task starts, read it when the task ends. They do not import it, because importing
``sf_assets.spark`` would load our writer's modules into their workers and add to the very memory being compared.
In a reused Python worker (Spark's default) the lifetime peak would otherwise be that of the largest task the
worker ever ran.

Examples:
    >>> reset_peak_rss()
    >>> ...  # the task's work
    >>> peak_rss_mb()
    110.2
"""

from __future__ import annotations

import resource
import sys

# proc(5): writing "5" to clear_refs starts the peak resident set (VmHWM in status) again from the current one.
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"
# Where there is no /proc: ru_maxrss is in KiB on Linux, in bytes on macOS.
_RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024


def reset_peak_rss() -> bool:
    """Start this process's peak resident memory again from what it holds now; False where that is impossible."""
    try:
        with open(_CLEAR_REFS, "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory in MiB since the last :func:`reset_peak_rss` (``VmHWM``), else the lifetime one."""
    try:
        with open(_STATUS) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # "VmHWM:    123456 kB"
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RU_MAXRSS_BYTES / (1 << 20)
