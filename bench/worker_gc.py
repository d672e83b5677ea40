"""The floor and the baseline pay for their workers' garbage collections as they would alone (not part of sf_assets).

``salesforce-batch`` freezes a reused worker's heap (``sf_assets.spark.worker_gc``), which makes the full
``gc.collect()`` Spark runs after every task in a reused worker walk only what is new. The bench's writers share warm
workers, so without this the floor and the baseline would get that saving from ours' earlier tasks, which they do not
have alone: each undoes the freeze when its task starts. Ours freezes again when its next task starts.

Examples:
    >>> unfreeze_heap()
"""

from __future__ import annotations

import gc


def unfreeze_heap() -> None:
    """Put back what a writer before this task froze, so the worker collects its whole heap after the task."""
    gc.unfreeze()
