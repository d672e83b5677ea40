"""Peak memory of a Python worker writing one partition through ``salesforce-batch`` (not a test).

Usage: ``.venv/bin/python bench/writer_memory.py [--rows 100000 1000000]``

For each size it runs a fresh Spark application (``local[1]``, one partition, no Python worker reuse) that
upserts that many Contact-like rows into a local org running in its own process, and reports the Python
worker's peak RSS (from the partition's commit message), rows/s and the jobs used. The libraries' cached pages are
dropped before each size (``page_cache.py``). The writer streams, so the peak must not grow with the partition:
1,000,000 rows should stay within 2x of 100,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_BENCH_DIR = Path(__file__).resolve().parent


def run_one(rows: int, connection: dict[str, str], results: Path) -> dict[str, object]:
    """One Spark application writing ``rows`` rows in one partition; returns its figures."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from sf_assets.spark import SalesforceBatchDataSource, read_summary

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(SalesforceBatchDataSource)
    key = F.col("id").cast("string")
    df = spark.range(rows, numPartitions=1).select(
        F.concat(F.lit("C-"), key).alias("External_Id__c"),
        F.concat(F.lit("First "), key).alias("FirstName"),
        F.concat(F.lit("Last "), key).alias("LastName"),
        F.concat(F.lit("person"), key, F.lit("@example.com")).alias("Email"),
        F.concat(F.lit('A description, with "quotes" and a comma, for row '), key).alias("Description"),
    )
    started = time.perf_counter()
    (
        df.write.format("salesforce-batch")
        .mode("append")
        .option("sobject", "Contact")
        .option("operation", "upsert")
        .option("upsertField", "External_Id__c")
        .option("client_id", connection["client_id"])
        .option("client_secret", connection["client_secret"])
        .option("instance_url", connection["instance_url"])
        .option("ca_file", connection["ca_file"])
        .option("resultsPath", str(results))
        .option("writeId", f"rows-{rows}")
        .save()
    )
    seconds = time.perf_counter() - started
    summary = read_summary(str(results / f"rows-{rows}"))
    [partition] = summary.partitions
    spark.stop()
    return {
        "rows": rows,
        "succeeded": summary.succeeded,
        "jobs": len(summary.job_ids),
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(float(partition["peak_rss_mb"]), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--connection", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        connection = json.loads(Path(args.connection).read_text())
        print(json.dumps(run_one(args.one, connection, Path(args.results))))
        return 0
    sys.path.insert(0, str(_BENCH_DIR))
    from org_process import org_process
    from page_cache import drop_library_pages

    work = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    figures = []
    # As in writer_bench's memory section: every worker maps its libraries as read from disk, however recently pip
    # wrote them (``page_cache.py``).
    drop_library_pages()
    with org_process(work / "org"):
        for rows in args.rows:
            drop_library_pages()
            # A fresh interpreter and Spark application per size, so no worker carries an earlier peak.
            output = subprocess.run(
                [sys.executable, __file__, "--one", str(rows), "--connection", str(work / "org" / "connection.json"),
                 "--results", str(work / "results")],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            figures.append(json.loads(output.stdout.strip().splitlines()[-1]))
            print(json.dumps(figures[-1]))
    if len(figures) > 1:
        ratio = figures[-1]["peak_rss_mb"] / figures[0]["peak_rss_mb"]  # type: ignore[operator]
        print(f"peak RSS ratio {figures[-1]['rows']:,} vs {figures[0]['rows']:,} rows: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
