"""Checks on every Salesforce write: failure ratios (blocking at ERROR) and reconciliation against the org."""

# No `from __future__ import annotations` here: Dagster reads the `config` parameter's annotation as an
# object to build the config schema, and a postponed (string) annotation cannot be resolved there.

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pyarrow.dataset as ds
from pydantic import Field

from sf_assets.resources import SalesforceBulkResource
from sf_assets.sync import SyncState

from .salesforce_assets import ACCOUNT_KEY, CONTACT_KEY


class RatioThreshold(dg.Config):
    max_failure_ratio: float | None = Field(
        default=None, description="Highest share of rows that may fail or stay unprocessed (default: the check's own)."
    )


def _latest_metadata(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dict[str, object]:
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} has no materialization to check", allow_retries=False)
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}


def _ratio_result(metadata: dict[str, object], limit: float, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    ratio = float(metadata["failure_ratio"])  # type: ignore[arg-type]
    return dg.AssetCheckResult(
        passed=ratio <= limit,
        severity=severity,
        description=f"{ratio:.2%} of rows did not land (limit {limit:.2%})",
        metadata={
            "failure_ratio": dg.MetadataValue.float(ratio),
            "max_failure_ratio": dg.MetadataValue.float(limit),
            "records_failed": dg.MetadataValue.int(int(metadata["records_failed"])),  # type: ignore[call-overload]
        },
    )


def failure_ratio_checks(key: dg.AssetKey, *, error_at: float, warn_at: float) -> list[dg.AssetChecksDefinition]:
    """A blocking ERROR check at ``error_at`` and a WARN check at ``warn_at`` on a Salesforce asset's failures."""
    name = key.path[-1]

    @dg.asset_check(
        asset=key,
        name="failure_ratio_error",
        blocking=True,
        description=f"Fails the run (and so stops downstream loads) when more than {error_at:.0%} of {name} rows fail.",
    )
    def error_check(context: dg.AssetCheckExecutionContext, config: RatioThreshold) -> dg.AssetCheckResult:
        limit = error_at if config.max_failure_ratio is None else config.max_failure_ratio
        return _ratio_result(_latest_metadata(context, key), limit, dg.AssetCheckSeverity.ERROR)

    @dg.asset_check(
        asset=key,
        name="failure_ratio_warn",
        description=f"Warns when more than {warn_at:.0%} of {name} rows fail.",
    )
    def warn_check(context: dg.AssetCheckExecutionContext, config: RatioThreshold) -> dg.AssetCheckResult:
        limit = warn_at if config.max_failure_ratio is None else config.max_failure_ratio
        return _ratio_result(_latest_metadata(context, key), limit, dg.AssetCheckSeverity.WARN)

    return [error_check, warn_check]


def reconciliation_check(key: dg.AssetKey, *, sobject: str, external_id_field: str) -> dg.AssetChecksDefinition:
    """Counts in the org the records whose external IDs the last write reported written, and compares."""

    @dg.asset_check(
        asset=key,
        name="reconciliation",
        description=(
            f"SOQL COUNT() of {sobject} records holding the {external_id_field} values the last write reported "
            "written must equal the number of those values."
        ),
    )
    def check(context: dg.AssetCheckExecutionContext, salesforce: SalesforceBulkResource) -> dg.AssetCheckResult:
        metadata = _latest_metadata(context, key)
        keys = _written_keys(str(metadata["results_dir"]), external_id_field)
        found = salesforce.count_records(sobject, external_id_field, sorted(keys))
        return dg.AssetCheckResult(
            passed=found == len(keys),
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{found} of {len(keys)} {external_id_field} values written are in the org",
            metadata={
                "keys_reported_written": dg.MetadataValue.int(len(keys)),
                "records_found": dg.MetadataValue.int(found),
            },
        )

    return check


class RepeatedFailuresConfig(dg.Config):
    runs: int = Field(default=3, description="Warn about rows that failed in each of their last this many runs.")
    sample: int = Field(default=10, description="Repeatedly failing rows to show in the check's metadata.")


def repeated_failures_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    """Warns when rows keep failing run after run: the sync re-sends them every time and they never land."""

    @dg.asset_check(
        asset=key,
        name="repeated_failures",
        description=(
            f"Warns when {key.path[-1]} rows failed in each of their last runs (3 by default): re-sending does not "
            "help them; their data (or the org) needs fixing."
        ),
    )
    def check(context: dg.AssetCheckExecutionContext, config: RepeatedFailuresConfig) -> dg.AssetCheckResult:
        metadata = _latest_metadata(context, key)
        if "sync_state_dir" not in metadata:
            return dg.AssetCheckResult(passed=True, description="The last write kept no sync state")
        state = SyncState(str(metadata["sync_state_dir"]))
        failing = state.repeated_failures(config.runs)
        sample = failing.slice(0, config.sample).select(["external_id", "streak", "error"]).to_pylist()
        return dg.AssetCheckResult(
            passed=failing.num_rows == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{failing.num_rows} rows failed in each of their last {config.runs} runs or more",
            metadata={
                "rows_failing_repeatedly": dg.MetadataValue.int(failing.num_rows),
                "runs": dg.MetadataValue.int(config.runs),
                "sample": dg.MetadataValue.json(sample),
            },
        )

    return check


def _written_keys(results_dir: str, field: str) -> set[str]:
    successful = Path(results_dir) / "successful"
    if not successful.is_dir():
        return set()
    table = ds.dataset(str(successful), format="parquet").to_table(columns=[field])
    # External IDs are case-insensitive in Salesforce: one record per key whatever its case.
    return set({value.lower(): value for value in table.column(field).to_pylist() if value}.values())


def salesforce_checks(*, error_at: float = 0.10, warn_at: float = 0.01) -> Sequence[dg.AssetChecksDefinition]:
    """Every check of the Salesforce assets."""
    return [
        *failure_ratio_checks(ACCOUNT_KEY, error_at=error_at, warn_at=warn_at),
        reconciliation_check(ACCOUNT_KEY, sobject="Account", external_id_field="Oracle_Id__c"),
        repeated_failures_check(ACCOUNT_KEY),
        *failure_ratio_checks(CONTACT_KEY, error_at=error_at, warn_at=warn_at),
        reconciliation_check(CONTACT_KEY, sobject="Contact", external_id_field="External_Id__c"),
        repeated_failures_check(CONTACT_KEY),
    ]
