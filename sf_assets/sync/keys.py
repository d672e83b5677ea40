"""How rows are identified and compared: the case-folded external ID and a content hash of the mapped columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column

# Internal columns added to the source rows; Salesforce field names never start with an underscore.
KEY = "_sync_key"
HASH = "_sync_hash"
COPIES = "_sync_copies"
KIND = "_sync_kind"


def field(name: str) -> Column:
    """A column by its exact name, dots included (``Account.Oracle_Id__c`` is a column, not a struct field)."""
    return F.col(f"`{name}`")


def folded_key(external_id_field: str) -> Column:
    """The external ID as Salesforce matches it: case-insensitively, so ``ora-1`` and ``ORA-1`` are one record.

    Empty strings count as null, as they do when the row is sent.
    """
    value = field(external_id_field)
    return F.when(value == "", F.lit(None)).otherwise(F.lower(value))


def content_hash(columns: Sequence[str]) -> Column:
    """SHA-256 of the mapped columns, names included, nulls written out.

    The JSON form keeps types apart (``1`` vs ``"1"``) and a null apart from an empty string; naming every
    column means a renamed mapping hashes differently. Columns are sorted: the order they are sent in does
    not change what Salesforce stores.
    """
    row = F.struct(*[field(name).alias(name) for name in sorted(columns)])
    return F.sha2(F.to_json(row, {"ignoreNullFields": "false"}), 256)
