"""The main job: sample source data → local org (or your org) → every asset and check, then a summary.

Run with ``bin/main`` (or ``python -m sf_assets.main``). Runs are recorded in ``DAGSTER_HOME`` (default
``.dagster_home``), so ``bin/ui`` shows them afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sf_assets.main", description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000, help="sample accounts to generate")
    parser.add_argument("--contacts", type=int, default=50_000, help="sample contacts to generate")
    parser.add_argument("--partitions", type=int, default=4, help="Spark partitions written in parallel")
    parser.add_argument("--full-resync", action="store_true", help="send every row, not only what changed")
    parser.add_argument(
        "--mirror-deletes", action="store_true", help="delete records whose keys have left the source tables"
    )
    args = parser.parse_args(argv)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()  # an empty file: default storage in DAGSTER_HOME, without a warning

    import dagster as dg

    from sf_assets.definitions import defs
    from sf_assets.resources import SalesforceBulkResource, ensure_local_org, stop_local_org

    salesforce = defs.resources["salesforce"]
    assert isinstance(salesforce, SalesforceBulkResource)
    started_org = False
    if salesforce.uses_local_org:
        already = (Path(salesforce.local_org_dir) / "org.pid").exists()
        connection = ensure_local_org(salesforce.local_org_dir)
        started_org = not already
        print(f"Salesforce: the local org at {connection['instance_url']} (data in {salesforce.local_org_dir}/)")
    else:
        print("Salesforce: the org configured by the SF_* environment variables")
    sync = {
        "config": {
            "partitions": args.partitions,
            "full_resync": args.full_resync,
            "mirror_deletes": args.mirror_deletes,
        }
    }
    run_config = {
        # The summary below says what happened; step-by-step DEBUG events stay in the run's log in the UI.
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {
            "sample_source_tables": {"config": {"accounts": args.accounts, "contacts": args.contacts}},
            "salesforce__account": sync,
            "salesforce__contact": sync,
        },
    }
    started = time.perf_counter()
    try:
        result = defs.resolve_job_def("full_sync").execute_in_process(
            run_config=run_config, instance=dg.DagsterInstance.get(), raise_on_error=False
        )
    finally:
        if started_org:
            stop_local_org(salesforce.local_org_dir)
    print(_summary(result, time.perf_counter() - started))
    return 0 if result.success else 1


def _summary(result: Any, seconds: float) -> str:
    import dagster as dg

    lines = [f"\nRun {result.run_id} {'succeeded' if result.success else 'FAILED'} in {seconds:.0f} s"]
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key.to_user_string()
        metadata = {name: value.value for name, value in materialization.metadata.items()}
        if "records_written" not in metadata:
            lines.append(f"  {key}: {metadata.get('dagster/row_count')} rows")
            continue
        errors = ", ".join(f"{code} {count}" for code, count in list(dict(metadata["errors_by_code"]).items())[:3])
        lines.append(
            f"  {key}: {metadata['records_written']} written, {metadata['records_failed']} failed"
            f"{f' ({errors})' if errors else ''}, {metadata['records_unprocessed']} unprocessed, "
            f"{metadata['salesforce_jobs']} jobs in {metadata['duration_seconds']:.1f} s"
        )
        if "rows_skipped" in metadata:
            lines.append(f"      {_sync_line(metadata)}")
        if metadata["records_failed"]:
            lines.append(f"      failed rows: {metadata['failed_rows_path']}")
    checks = result.dagster_run and dg.DagsterInstance.get().all_logs(
        result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    for record in checks or []:
        evaluation = record.dagster_event.event_specific_data
        status = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
        lines.append(f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}: {status}"
                     f"{' - ' + evaluation.description if evaluation.description else ''}")  # fmt: skip
    lines.append("Open the UI with bin/ui (http://127.0.0.1:3000): the runs above are in its Runs page.")
    return "\n".join(lines)


def _sync_line(metadata: dict[str, Any]) -> str:
    """What the incremental sync skipped and why it sent the rest."""
    resync = " (full resync)" if metadata.get("full_resync") else ""
    line = (
        f"skipped {metadata['rows_skipped']} of {metadata['rows_in_source']} rows{resync}; sent "
        f"{metadata['rows_new']} new, {metadata['rows_changed']} changed, {metadata['rows_retried']} re-tried "
        f"(failed before)"
    )
    if metadata.get("mirror_deletes") or metadata.get("rows_deleted"):
        line += f"; deleted {metadata['rows_deleted']}"
    elif metadata.get("keys_removed_from_source"):
        line += f"; {metadata['keys_removed_from_source']} gone from the source (not deleted: mirror_deletes is off)"
    return line


if __name__ == "__main__":
    sys.exit(main())
