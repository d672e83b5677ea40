"""Deterministic, deliberately messy account and contact source tables for the Salesforce load.

Examples:
    >>> from sf_assets.sample_data import write_source_tables
    >>> tables = write_source_tables("/tmp/sf-source", accounts=1_000, contacts=5_000)
    >>> tables.accounts_path.name
    'accounts.parquet'
"""

from __future__ import annotations

from .generator import (
    ACCOUNT_SCHEMA,
    CONTACT_SCHEMA,
    SourceTables,
    generate_accounts,
    generate_contacts,
    industry_values,
    planted_count,
    write_source_tables,
)

__all__ = [
    "ACCOUNT_SCHEMA",
    "CONTACT_SCHEMA",
    "SourceTables",
    "generate_accounts",
    "generate_contacts",
    "industry_values",
    "planted_count",
    "write_source_tables",
]
