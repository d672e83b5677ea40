"""The sample source tables: shape, determinism, planted failure rates, field fit, and a real load into the org."""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simple_salesforce import Salesforce

from sf_assets.emulator.schema import ObjectDef, Schema
from sf_assets.emulator.values import _EMAIL  # the org's own email rule, private on purpose
from sf_assets.sample_data import (
    ACCOUNT_SCHEMA,
    CONTACT_SCHEMA,
    SourceTables,
    generate_accounts,
    generate_contacts,
    industry_values,
    write_source_tables,
)
from sf_assets.sample_data import generator as gen

# Deliberately independent of the org's own check: whatever looks like one plain address.
_PLAIN_EMAIL = re.compile(r"^[^@\s,;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_ACCOUNT_FIELDS = ("Oracle_Id__c", "Name", "Phone", "Website", "BillingCity", "BillingCountry", "Description")
_CONTACT_FIELDS = ("External_Id__c", "FirstName", "LastName", "Email", "Phone", "Title", "Description")


@pytest.fixture(scope="module")
def accounts() -> pa.Table:
    return generate_accounts()


@pytest.fixture(scope="module")
def contacts(accounts: pa.Table) -> pa.Table:
    return generate_contacts(accounts=accounts)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _repeated(keys: Iterable[str]) -> int:
    """Rows whose key, compared case-insensitively like the org does, already appeared on an earlier row."""
    counts = Counter(key.lower() for key in keys)
    return sum(times - 1 for times in counts.values())


def _too_long(table: pa.Table, obj: ObjectDef, names: Iterable[str]) -> dict[str, int]:
    over: dict[str, int] = {}
    for name in names:
        field = obj.field(name)
        assert field is not None, name
        over[name] = sum(1 for v in _column(table, name) if v is not None and _utf16(v) > field.length)
    return over


# -- shape ------------------------------------------------------------------------------------------------------


def test_accounts_have_the_salesforce_columns_and_arrow_types() -> None:
    table = generate_accounts(50)

    assert table.schema == ACCOUNT_SCHEMA
    assert table.column_names == [
        "Oracle_Id__c", "Name", "Industry", "Phone", "Website", "AnnualRevenue", "NumberOfEmployees",
        "BillingCity", "BillingCountry", "Description",
    ]  # fmt: skip
    assert table.schema.field("AnnualRevenue").type == pa.decimal128(18, 2)
    assert table.schema.field("NumberOfEmployees").type == pa.int32()


def test_contacts_have_the_salesforce_columns_and_arrow_types() -> None:
    table = generate_contacts(50, accounts=generate_accounts(20))

    assert table.schema == CONTACT_SCHEMA
    assert table.column_names == [
        "External_Id__c", "FirstName", "LastName", "Email", "Phone", "Title", "Birthdate", "Description",
        "AccountOracleId",
    ]  # fmt: skip
    assert table.schema.field("Birthdate").type == pa.date32()


def test_keys_are_numbered_in_the_source_systems_format(accounts: pa.Table, contacts: pa.Table) -> None:
    assert _column(accounts, "Oracle_Id__c")[:2] == ["ORA-000001", "ORA-000002"]
    assert _column(contacts, "External_Id__c")[:2] == ["CON-0000001", "CON-0000002"]
    assert all(re.fullmatch(r"ORA-\d{6}", k, re.IGNORECASE) for k in _column(accounts, "Oracle_Id__c"))
    assert all(re.fullmatch(r"CON-\d{7}", k, re.IGNORECASE) for k in _column(contacts, "External_Id__c"))


def test_row_counts_follow_the_arguments() -> None:
    accounts = generate_accounts(123)

    assert accounts.num_rows == 123
    assert generate_contacts(456, accounts=accounts).num_rows == 456
    assert generate_accounts(0).num_rows == 0


def test_industries_come_from_the_orgs_picklist(accounts: pa.Table, schema: Schema) -> None:
    account = schema.get("Account")
    assert account is not None
    industry = account.field("Industry")
    assert industry is not None

    used = {v for v in _column(accounts, "Industry") if v is not None}

    assert used <= set(industry.picklist_values)
    assert set(industry_values()) == set(industry.picklist_values)
    assert len(used) > 20


# -- determinism --------------------------------------------------------------------------------------------------


def test_same_seed_gives_equal_tables() -> None:
    first = generate_accounts(500, seed=3)
    second = generate_accounts(500, seed=3)

    assert first.equals(second)
    assert generate_contacts(2_000, accounts=first, seed=3).equals(generate_contacts(2_000, accounts=second, seed=3))


def test_different_seed_gives_different_tables() -> None:
    first = generate_accounts(500, seed=3)
    second = generate_accounts(500, seed=4)

    assert not first.equals(second)
    assert not generate_contacts(2_000, accounts=first, seed=3).equals(generate_contacts(2_000, accounts=first, seed=4))


def test_same_arguments_write_byte_identical_parquet(tmp_path: Path) -> None:
    first = write_source_tables(tmp_path / "a", accounts=500, contacts=2_000, seed=5)
    second = write_source_tables(tmp_path / "b", accounts=500, contacts=2_000, seed=5)

    assert first.accounts_path.read_bytes() == second.accounts_path.read_bytes()
    assert first.contacts_path.read_bytes() == second.contacts_path.read_bytes()


# -- planted failures at the default sizes ------------------------------------------------------------------------


def test_about_one_percent_of_account_names_are_null(accounts: pa.Table) -> None:
    rate = sum(1 for v in _column(accounts, "Name") if v is None) / accounts.num_rows

    assert rate == pytest.approx(gen.ACCOUNT_NULL_NAME_RATE, abs=0.001)


def test_about_half_a_percent_of_account_names_are_too_long(accounts: pa.Table) -> None:
    lengths = [len(v) for v in _column(accounts, "Name") if v is not None and len(v) > gen.NAME_MAX_LENGTH]

    assert len(lengths) / accounts.num_rows == pytest.approx(gen.ACCOUNT_LONG_NAME_RATE, abs=0.001)
    assert max(lengths) <= 400


def test_about_a_third_of_a_percent_of_account_keys_repeat(accounts: pa.Table) -> None:
    keys = _column(accounts, "Oracle_Id__c")

    assert _repeated(keys) / accounts.num_rows == pytest.approx(gen.ACCOUNT_DUPLICATE_KEY_RATE, abs=0.0005)
    # Some repeats differ only in letter case: the exact-match count is lower than the case-insensitive one.
    assert _repeated(keys) > len(keys) - len(set(keys)) > 0


def test_about_one_percent_of_contact_emails_are_malformed(contacts: pa.Table) -> None:
    bad = [v for v in _column(contacts, "Email") if v is not None and not _PLAIN_EMAIL.match(v)]

    assert len(bad) / contacts.num_rows == pytest.approx(gen.CONTACT_BAD_EMAIL_RATE, abs=0.001)
    assert any("@@" in v for v in bad)
    assert any("@" not in v for v in bad)


def test_about_half_a_percent_of_contact_last_names_are_null(contacts: pa.Table) -> None:
    rate = sum(1 for v in _column(contacts, "LastName") if v is None) / contacts.num_rows

    assert rate == pytest.approx(gen.CONTACT_NULL_LAST_NAME_RATE, abs=0.001)


def test_about_one_percent_of_contacts_point_at_a_missing_account(accounts: pa.Table, contacts: pa.Table) -> None:
    known = {k.lower() for k in _column(accounts, "Oracle_Id__c")}
    parents = _column(contacts, "AccountOracleId")

    orphans = sum(1 for p in parents if p.lower() not in known)

    assert orphans / contacts.num_rows == pytest.approx(gen.CONTACT_ORPHAN_RATE, abs=0.001)
    assert all(p is not None for p in parents)


def test_about_a_third_of_a_percent_of_contact_keys_repeat(contacts: pa.Table) -> None:
    keys = _column(contacts, "External_Id__c")

    assert _repeated(keys) / contacts.num_rows == pytest.approx(gen.CONTACT_DUPLICATE_KEY_RATE, abs=0.0005)
    assert _repeated(keys) > len(keys) - len(set(keys)) > 0


def test_contacts_reference_only_accounts_that_load(accounts: pa.Table, contacts: pa.Table) -> None:
    keys = _column(accounts, "Oracle_Id__c")
    repeated = {k for k, n in Counter(k.lower() for k in keys).items() if n > 1}
    broken = {
        k.lower()
        for k, name in zip(keys, _column(accounts, "Name"), strict=True)
        if name is None or len(name) > 255 or k.lower() in repeated
    }

    assert not broken & {p.lower() for p in _column(contacts, "AccountOracleId")}


def test_some_accounts_have_a_hundred_contacts_or_more(contacts: pa.Table) -> None:
    per_account = Counter(_column(contacts, "AccountOracleId"))

    assert per_account.most_common(1)[0][1] >= 100
    assert sorted(per_account.values())[len(per_account) // 2] < 10  # most accounts stay small


# -- values that load ---------------------------------------------------------------------------------------------


def test_every_other_account_value_fits_its_field(accounts: pa.Table, schema: Schema) -> None:
    account = schema.get("Account")
    assert account is not None
    planted_long = gen.planted_count(gen.ACCOUNT_LONG_NAME_RATE, accounts.num_rows)

    over = _too_long(accounts, account, _ACCOUNT_FIELDS)

    assert over == {name: planted_long if name == "Name" else 0 for name in _ACCOUNT_FIELDS}
    assert max(v for v in _column(accounts, "NumberOfEmployees") if v is not None) < 10**8
    assert max(v for v in _column(accounts, "AnnualRevenue") if v is not None) < 10**16


def test_every_contact_value_fits_its_field(contacts: pa.Table, schema: Schema) -> None:
    contact = schema.get("Contact")
    assert contact is not None

    assert _too_long(contacts, contact, _CONTACT_FIELDS) == dict.fromkeys(_CONTACT_FIELDS, 0)


def test_every_unplanted_email_passes_the_orgs_check(contacts: pa.Table) -> None:
    emails = [v for v in _column(contacts, "Email") if v is not None]
    rejected = [v for v in emails if not _EMAIL.match(v)]
    plain = [v for v in emails if _PLAIN_EMAIL.match(v)]

    assert len(rejected) == gen.planted_count(gen.CONTACT_BAD_EMAIL_RATE, contacts.num_rows)
    assert all(_EMAIL.match(v) for v in plain)


def test_text_carries_newlines_quotes_and_commas(accounts: pa.Table, contacts: pa.Table) -> None:
    notes = [v for v in _column(accounts, "Description") + _column(contacts, "Description") if v is not None]

    assert sum("\r\n" in v for v in notes) / len(notes) == pytest.approx(gen.DESCRIPTION_CRLF_RATE, abs=0.01)
    assert any("\n" in v and "\r\n" not in v for v in notes)
    assert any('"' in v for v in notes)
    assert any("," in v for v in notes)


def test_names_carry_accents_cjk_emoji_and_quotes(accounts: pa.Table, contacts: pa.Table) -> None:
    names = [v for v in _column(accounts, "Name") + _column(contacts, "FirstName") if v is not None]

    assert any(re.search(r"[À-ɏ]", v) for v in names)  # Latin with diacritics
    assert any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", v) for v in names)  # kana or CJK ideographs
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", v) for v in names)  # emoji
    assert any('"' in v for v in names)
    assert any("," in v for v in names)


def test_optional_columns_have_some_nulls(accounts: pa.Table, contacts: pa.Table) -> None:
    null_rates = {
        **{f"Account.{c}": accounts.column(c).null_count / accounts.num_rows for c in gen.ACCOUNT_NULL_RATES},
        **{f"Contact.{c}": contacts.column(c).null_count / contacts.num_rows for c in gen.CONTACT_NULL_RATES},
    }

    assert all(0.01 < rate < 0.5 for rate in null_rates.values()), null_rates
    assert accounts.column("Oracle_Id__c").null_count == 0
    assert contacts.column("External_Id__c").null_count == 0


def test_default_sizes_generate_quickly() -> None:
    generate_accounts(20)  # warm the picklist cache and pyarrow's converters
    started = time.perf_counter()
    contacts = generate_contacts(accounts=generate_accounts())

    assert contacts.num_rows == 50_000
    assert time.perf_counter() - started < 3.0


def test_contacts_need_an_account_to_reference() -> None:
    with pytest.raises(ValueError, match="Oracle_Id__c"):
        generate_contacts(10, accounts=generate_accounts(0))


# -- writing ------------------------------------------------------------------------------------------------------


def test_write_returns_paths_and_row_counts(tmp_path: Path) -> None:
    tables = write_source_tables(tmp_path / "source", accounts=100, contacts=400, seed=2)

    assert tables == SourceTables(
        tmp_path / "source" / "accounts.parquet", tmp_path / "source" / "contacts.parquet", 100, 400
    )
    assert pq.read_table(tables.accounts_path).equals(generate_accounts(100, seed=2))
    assert pq.read_table(tables.contacts_path).num_rows == 400


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_source_tables(tmp_path, accounts=100, contacts=400)
    write_source_tables(tmp_path, accounts=100, contacts=400)  # over existing files, too

    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.parquet", "contacts.parquet"]


def test_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = write_source_tables(tmp_path, accounts=100, contacts=400).accounts_path.read_bytes()

    def broken(table: pa.Table, where: Any, **options: Any) -> None:
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(gen.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_source_tables(tmp_path, accounts=200, contacts=400)

    assert (tmp_path / "accounts.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.parquet", "contacts.parquet"]


# -- a real load --------------------------------------------------------------------------------------------------


def _records(table: pa.Table, rename: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rename = rename or {}
    return [{rename.get(k, k): v for k, v in row.items()} for row in table.to_pylist()]


def _failures(sf: Salesforce, sobject: str, results: list[dict[str, Any]], key: str) -> Counter[tuple[str, str]]:
    """(key as sent, error code) of every failed row, with the foreign-key case told apart from other INVALID_FIELD."""
    failed: Counter[tuple[str, str]] = Counter()
    for result in results:
        text = getattr(sf.bulk2, sobject).get_failed_records(result["job_id"])
        for row in csv.DictReader(io.StringIO(text)):
            code, message = row["sf__Error"].split(":", 1)
            if code == "INVALID_FIELD" and message.startswith("Foreign key external ID:") and " not found " in message:
                code = "FOREIGN_KEY_NOT_FOUND"
            failed[(row[key], code)] += 1
    return failed


def _expected_account_failures(accounts: pa.Table) -> Counter[tuple[str, str]]:
    keys = _column(accounts, "Oracle_Id__c")
    repeated = {k for k, n in Counter(k.lower() for k in keys).items() if n > 1}
    expected: Counter[tuple[str, str]] = Counter()
    for key, name in zip(keys, _column(accounts, "Name"), strict=True):
        if name is None:
            expected[(key, "REQUIRED_FIELD_MISSING")] += 1
        elif len(name) > 255:
            expected[(key, "STRING_TOO_LONG")] += 1
        elif key.lower() in repeated:
            expected[(key, "DUPLICATE_VALUE")] += 1
    return expected


def _expected_contact_failures(contacts: pa.Table, loaded_accounts: set[str]) -> Counter[tuple[str, str]]:
    keys = _column(contacts, "External_Id__c")
    repeated = {k for k, n in Counter(k.lower() for k in keys).items() if n > 1}
    expected: Counter[tuple[str, str]] = Counter()
    columns = (_column(contacts, name) for name in ("LastName", "Email", "AccountOracleId"))
    for key, last_name, email, parent in zip(keys, *columns, strict=True):
        if email is not None and not _PLAIN_EMAIL.match(email):
            expected[(key, "INVALID_EMAIL_ADDRESS")] += 1
        elif last_name is None:
            expected[(key, "REQUIRED_FIELD_MISSING")] += 1
        elif parent.lower() not in loaded_accounts:
            expected[(key, "FOREIGN_KEY_NOT_FOUND")] += 1
        elif key.lower() in repeated:
            expected[(key, "DUPLICATE_VALUE")] += 1
    return expected


def test_loading_into_the_org_fails_exactly_the_planted_rows(sf: Salesforce) -> None:
    accounts = generate_accounts(300, seed=11)
    contacts = generate_contacts(1_000, accounts=accounts, seed=11)
    expected_accounts = _expected_account_failures(accounts)
    loaded = {k.lower() for k in _column(accounts, "Oracle_Id__c")} - {k.lower() for k, _ in expected_accounts}
    expected_contacts = _expected_contact_failures(contacts, loaded)

    account_results = sf.bulk2.Account.upsert(records=_records(accounts), external_id_field="Oracle_Id__c", wait=0.05)
    contact_results = sf.bulk2.Contact.upsert(
        records=_records(contacts, {"AccountOracleId": "Account.Oracle_Id__c"}),
        external_id_field="External_Id__c",
        wait=0.05,
    )

    assert _failures(sf, "Account", account_results, "Oracle_Id__c") == expected_accounts
    assert _failures(sf, "Contact", contact_results, "External_Id__c") == expected_contacts
    # Every planted kind shows up, so the check above is not vacuous.
    assert {code for _, code in expected_accounts} == {"REQUIRED_FIELD_MISSING", "STRING_TOO_LONG", "DUPLICATE_VALUE"}
    assert {code for _, code in expected_contacts} == {
        "INVALID_EMAIL_ADDRESS", "REQUIRED_FIELD_MISSING", "FOREIGN_KEY_NOT_FOUND", "DUPLICATE_VALUE",
    }  # fmt: skip
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 300 - expected_accounts.total()
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1_000 - expected_contacts.total()
