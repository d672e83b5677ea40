"""A Spark driver for the secrets test, run as its own process (not collected by pytest).

The test process already holds a SparkSession without an event log, so this interpreter starts one with
``spark.eventLog.enabled`` and DEBUG logging for ``sf_assets``, then writes the same rows once per login method.

Usage: ``python secrets_driver.py SPEC_JSON``; SPEC_JSON has ``event_log_dir``, ``results_path`` and ``logins``
(a list of option dicts: each one full write's credentials). Prints each write's summary counts as JSON lines.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any


def main(spec: dict[str, Any]) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from sf_assets.spark import SalesforceBatchDataSource, read_summary

    # sf_assets at DEBUG; the rest at INFO: py4j at DEBUG logs every JVM call with its arguments, option values
    # included, whatever the data source does.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("sf_assets").setLevel(logging.DEBUG)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("sf-assets-secrets")
        .config("spark.ui.enabled", "false")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", spec["event_log_dir"])
        .config("spark.eventLog.compress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("INFO")
    spark.dataSource.register(SalesforceBatchDataSource)
    for number, login in enumerate(spec["logins"]):
        df = spark.range(600, numPartitions=2).select(
            F.concat(F.lit(f"S{number}-"), F.col("id").cast("string")).alias("External_Id__c"),
            F.concat(F.lit("Secret "), F.col("id").cast("string")).alias("LastName"),
            F.when(F.col("id") % 50 == 0, F.lit("bad email")).alias("Email"),
        )
        write_id = f"write-{number}"
        (
            df.write.format("salesforce-batch")
            .mode("append")
            .options(**login)
            .option("sobject", "Contact")
            .option("operation", "upsert")
            .option("upsertField", "External_Id__c")
            .option("batchSize", "200")
            .option("successResults", "true")
            .option("resultsPath", spec["results_path"])
            .option("writeId", write_id)
            .save()
        )
        summary = read_summary(f"{spec['results_path']}/{write_id}")
        print(json.dumps({"write": write_id, "succeeded": summary.succeeded, "failed": summary.failed}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
