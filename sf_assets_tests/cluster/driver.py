"""A Spark driver for the cluster tests, run as its own process (not collected by pytest).

The test process may already hold a local SparkSession (``getOrCreate`` would silently return it, G12) and a Spark
Connect client changes process-wide state, so each cluster test drives Spark from a fresh interpreter.

Usage: ``python driver.py SPEC_JSON``; SPEC_JSON has ``master`` or ``remote``, ``rows``, ``partitions``, ``prefix``
and ``options`` (the ``salesforce-batch`` options). Prints one JSON line: the write summary's counts and, for a
classic session, where each Python worker ran.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _where() -> dict[str, Any]:
    """Runs inside a Spark task: this Python worker's pid, its executor JVM and where sf_assets came from."""
    import psutil

    import sf_assets

    jvm = next((p for p in psutil.Process().parents() if p.name() == "java"), None)
    return {
        "pid": os.getpid(),
        "jvm_pid": jvm.pid if jvm else None,
        "executor_backend": bool(jvm and any("CoarseGrainedExecutorBackend" in arg for arg in jvm.cmdline())),
        "cwd": os.getcwd(),
        "sf_assets": os.path.dirname(sf_assets.__file__),
    }


def main(spec: dict[str, Any]) -> dict[str, Any]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from sf_assets.spark import SalesforceBatchDataSource, read_summary

    builder = SparkSession.builder.appName("sf-assets-cluster-test")
    if "remote" in spec:
        builder = builder.remote(spec["remote"])
    else:
        builder = (
            builder.master(spec["master"])
            # One executor JVM with both of the worker's cores: its own process, and the cheapest to start.
            .config("spark.executor.memory", "512m")
            .config("spark.executor.cores", "2")
            .config("spark.cores.max", "2")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.pyspark.python", sys.executable)
        )
    started = time.monotonic()
    spark = builder.getOrCreate()
    timings = {"session": time.monotonic() - started}
    try:
        spark.dataSource.register(SalesforceBatchDataSource)
        key = F.col("id").cast("string")
        frame = spark.range(spec["rows"], numPartitions=spec["partitions"]).select(
            F.concat(F.lit(spec["prefix"]), key).alias("External_Id__c"),
            F.concat(F.lit("Cluster "), key).alias("LastName"),
            F.concat(F.lit("c"), key, F.lit("@example.com")).alias("Email"),
        )
        (
            frame.write.format("salesforce-batch")
            .mode("append")
            .option("sobject", "Contact")
            .option("operation", "upsert")
            .option("upsertField", "External_Id__c")
            .options(**spec["options"])
            .save()
        )
        timings["write"] = time.monotonic() - started - sum(timings.values())
        summary = read_summary(os.path.join(spec["options"]["resultsPath"], spec["options"]["writeId"]))
        result: dict[str, Any] = {
            "records_in": summary.records_in,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "partitions": len(summary.partitions),
            "jobs": len(summary.job_ids),
            "driver_pid": os.getpid(),
        }
        if "remote" not in spec:
            tasks = spark.sparkContext.parallelize(range(4), 4).map(lambda _: _where()).collect()
            result["tasks"] = tasks
        timings["total"] = time.monotonic() - started
        result["seconds"] = {name: round(value, 1) for name, value in timings.items()}
        return result
    finally:
        spark.stop()


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
