"""Sample source tables: realistic, messy accounts and contacts, generated deterministically as Parquet."""

# No `from __future__ import annotations` here: Dagster reads the `config` parameter's annotation as an
# object to build the config schema, and a postponed (string) annotation cannot be resolved there.

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from sf_assets.sample_data import generate_accounts, generate_contacts

from .source_tables import SourceTables


class SampleDataConfig(dg.Config):
    accounts: int = Field(default=10_000, description="How many accounts to generate.")
    contacts: int = Field(default=50_000, description="How many contacts to generate.")
    seed: int = Field(default=7, description="Random seed: the same seed gives the same rows.")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["source", "accounts"],
            description="Accounts from the ERP (sample data: Unicode, quotes, nulls, over-long names, duplicate keys).",
            kinds={"parquet"},
            group_name="source",
        ),
        dg.AssetSpec(
            key=["source", "contacts"],
            description="Contacts from the CRM export (sample data: bad emails, orphans, duplicates, newlines).",
            kinds={"parquet"},
            group_name="source",
        ),
    ],
)
def sample_source_tables(config: SampleDataConfig, source: SourceTables) -> Iterator[dg.MaterializeResult]:
    """Generate both tables together: contacts reference the generated accounts."""
    if source.format != "parquet":
        raise dg.Failure(
            "source tables are configured as catalog tables; sample data is only written as Parquet",
            allow_retries=False,
        )
    accounts = generate_accounts(config.accounts, seed=config.seed)
    contacts = generate_contacts(config.contacts, accounts=accounts, seed=config.seed)
    for key, table, location in (("accounts", accounts, source.accounts), ("contacts", contacts, source.contacts)):
        path = _write_parquet(table, Path(location))
        yield dg.MaterializeResult(
            asset_key=["source", key],
            metadata={
                "dagster/row_count": dg.MetadataValue.int(table.num_rows),
                "path": dg.MetadataValue.path(str(path)),
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(field.name, str(field.type)) for field in table.schema]
                ),
            },
        )


def _write_parquet(table: pa.Table, path: Path) -> Path:
    # Readers never see a half-written file: write beside it, then rename.
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, staging)
    staging.replace(path)
    return path
