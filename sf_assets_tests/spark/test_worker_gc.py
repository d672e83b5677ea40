"""worker_gc: a reused worker's heap frozen once, so its collection after each task walks only what is new."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from sf_assets.spark.worker_gc import freeze_heap

from .conftest import Write


class _Node:
    """A container the collector tracks, put in a reference cycle with itself."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen in the test process."""
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()


def test_the_first_call_freezes_what_the_process_holds(unfrozen: None) -> None:
    assert freeze_heap()
    assert gc.get_freeze_count() > 0


def test_a_frozen_heap_is_left_as_it_is(unfrozen: None) -> None:
    freeze_heap()
    node = _Node()
    alive = weakref.ref(node)
    assert not freeze_heap()
    # Not frozen by the second call: the cycle made between the calls is still collected. (The freeze count itself
    # is no witness: it falls whenever a frozen object is freed, by this thread or another.)
    del node
    gc.collect()
    assert alive() is None


def test_cycles_made_after_the_freeze_are_collected(unfrozen: None) -> None:
    freeze_heap()
    node = _Node()
    alive = weakref.ref(node)
    del node
    gc.collect()
    assert alive() is None


def test_a_collection_skips_what_was_frozen(unfrozen: None) -> None:
    node = _Node()
    alive = weakref.ref(node)
    freeze_heap()
    del node
    gc.collect()
    assert alive() is not None  # the documented cost: frozen cyclic garbage stays
    gc.unfreeze()
    gc.collect()
    assert alive() is None


def test_a_write_freezes_the_heap_of_its_workers(spark: SparkSession, write: Write) -> None:
    write(spark.range(40, numPartitions=2).selectExpr("concat('Frozen ', id) AS Name"), sobject="Account")

    def freeze_counts(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for _ in batches:
            yield pa.record_batch({"frozen": [gc.get_freeze_count()]})

    # Arrow functions run in the same pool of workers as the data source's tasks.
    counts = spark.range(4, numPartitions=4).mapInArrow(freeze_counts, "frozen long").collect()
    assert max(row.frozen for row in counts) > 0
