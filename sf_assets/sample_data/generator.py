r"""Deterministic, deliberately messy source tables of accounts and contacts, written as Parquet.

The tables look like an export from an ERP and a CRM that were never cleaned: names in many scripts, quotes,
commas and CR/LF line breaks inside text, nulls in optional fields. A few rows are *planted* failures, each of
which the Salesforce org rejects with a known error code, so that a demo load shows real failures next to
thousands of successes.

Planted failures are exact counts: ``round-half-up(rate x rows)``, on disjoint, seed-chosen rows (a row carries
at most one of them, so every failure has exactly one cause).

=======================  ==========  =========================================================================
Table / defect           Rate        What the org answers
=======================  ==========  =========================================================================
accounts: null Name      1 %         ``REQUIRED_FIELD_MISSING`` (Name is required)
accounts: long Name      0.5 %       ``STRING_TOO_LONG`` (256 to 400 characters; the limit is 255)
accounts: duplicate key  0.3 %       ``DUPLICATE_VALUE`` on both rows: a row re-uses another row's
                                     ``Oracle_Id__c``, in every second case in lower case only (the key is
                                     case-insensitive)
contacts: bad email      1 %         ``INVALID_EMAIL_ADDRESS`` (``a@@b.com``, no ``@``, spaces, two addresses)
contacts: null LastName  0.5 %       ``REQUIRED_FIELD_MISSING`` (LastName is required)
contacts: orphan         1 %         ``INVALID_FIELD`` "Foreign key external ID ... not found": the
                                     ``AccountOracleId`` names no account in the table
contacts: duplicate key  0.3 %       ``DUPLICATE_VALUE`` on both rows (same person exported twice, same parent)
=======================  ==========  =========================================================================

Mess that loads fine is drawn row by row (so rates are approximate):

=============================================  =======  ====================================================
Mess                                           Rate     Where
=============================================  =======  ====================================================
hand-picked awkward account names              8 %      quotes, commas, emoji, CJK, ``&``, ``;``
CR/LF (``\r\n``) inside Description            10 %     accounts and contacts
bare LF (``\n``) inside Description            5 %      accounts and contacts
emoji after a contact's FirstName              1 %      contacts
nulls in optional columns                      3-45 %   see ``ACCOUNT_NULL_RATES`` / ``CONTACT_NULL_RATES``
=============================================  =======  ====================================================

Contacts reference only accounts that load (no null, over-long or duplicated key), so account failures do not
cascade and the contact failures are exactly the planted ones. Parent popularity is skewed: a tenth of the contacts
pick their account from a Zipf distribution, so a handful of accounts own hundreds of contacts (the largest about
500 at the default sizes) while most own a few.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from itertools import accumulate
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

ACCOUNT_NULL_NAME_RATE = 0.01
ACCOUNT_LONG_NAME_RATE = 0.005
ACCOUNT_DUPLICATE_KEY_RATE = 0.003
CONTACT_BAD_EMAIL_RATE = 0.01
CONTACT_NULL_LAST_NAME_RATE = 0.005
CONTACT_ORPHAN_RATE = 0.01
CONTACT_DUPLICATE_KEY_RATE = 0.003

SPECIAL_ACCOUNT_NAME_RATE = 0.08
DESCRIPTION_CRLF_RATE = 0.10
DESCRIPTION_LF_RATE = 0.05
EMOJI_FIRST_NAME_RATE = 0.01
PARENT_SKEW_SHARE = 0.10

ACCOUNT_NULL_RATES: Mapping[str, float] = MappingProxyType(
    {
        "Industry": 0.05,
        "Phone": 0.08,
        "Website": 0.10,
        "AnnualRevenue": 0.15,
        "NumberOfEmployees": 0.10,
        "BillingCity": 0.05,
        "BillingCountry": 0.03,
        "Description": 0.25,
    }
)
CONTACT_NULL_RATES: Mapping[str, float] = MappingProxyType(
    {
        "FirstName": 0.03,
        "Email": 0.05,
        "Phone": 0.10,
        "Title": 0.08,
        "Birthdate": 0.15,
        "Description": 0.45,
    }
)

NAME_MAX_LENGTH = 255
"""Account.Name's length in the org; the planted long names exceed it."""

ACCOUNT_SCHEMA = pa.schema(
    [
        pa.field("Oracle_Id__c", pa.string()),
        pa.field("Name", pa.string()),
        pa.field("Industry", pa.string()),
        pa.field("Phone", pa.string()),
        pa.field("Website", pa.string()),
        pa.field("AnnualRevenue", pa.decimal128(18, 2)),
        pa.field("NumberOfEmployees", pa.int32()),
        pa.field("BillingCity", pa.string()),
        pa.field("BillingCountry", pa.string()),
        pa.field("Description", pa.string()),
    ]
)
CONTACT_SCHEMA = pa.schema(
    [
        pa.field("External_Id__c", pa.string()),
        pa.field("FirstName", pa.string()),
        pa.field("LastName", pa.string()),
        pa.field("Email", pa.string()),
        pa.field("Phone", pa.string()),
        pa.field("Title", pa.string()),
        pa.field("Birthdate", pa.date32()),
        pa.field("Description", pa.string()),
        pa.field("AccountOracleId", pa.string()),
    ]
)

# -- vocabularies -------------------------------------------------------------------------------------------------
# Every entry fits its Salesforce field with room to spare, also when counted in UTF-16 units (emoji count twice).

_CORES = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
    "Cyberdyne", "Aperture", "Nakatomi", "Massive Dynamic", "Wonka", "Oceanic", "Monarch", "Blue Sun", "Pied Piper",
    "Müller", "Søndergaard", "Ångström", "Łódź", "Žalgiris", "Çelik", "Öztürk", "Dvořák", "Þórsdóttir", "Ñandú",
    "Café Olé", "São Jorge", "Élan", "Nørrebro", "Kraków", "Dębica", "Şahin", "Ærø", "Größe",
    "東京精密", "北京华信", "大阪商事", "서울테크", "Ελληνικά", "Сибирь", "Δέλτα", "Ōmi", "O'Reilly", "D'Arcy",
)  # fmt: skip
_SECTORS = (
    "Industries", "Logistics", "Holdings", "Systems", "Foods", "Energy", "Biotech", "Media", "Textiles", "Robotics",
    "Analytics", "Pharma", "Capital", "Trading", "Labs", "Software", "Werke", "Consulting", "Shipping", "Solutions",
)  # fmt: skip
_SUFFIXES = (
    "Inc.", "LLC", "Ltd.", "GmbH", "AG", "S.A.", "S.p.A.", "B.V.", "K.K.", "Oy", "AB", "Pty Ltd", "S.A.S.", "plc",
    "Co.", "株式会社", "ООО", "Sp. z o.o.", "A/S", "",
)  # fmt: skip
_SPECIAL_NAMES = (
    'The "Best" Widgets, Inc.',
    "Smith, Jones & Partners",
    "Rocket 🚀 Labs",
    "Café ☕ & Co.",
    "Bäckerei Müller, Söhne & Töchter",
    "株式会社サンプル商事",
    "上海未来科技有限公司",
    'Ümlaut "Quoted" GmbH',
    "Pizza 🍕 Palace",
    "Trailing, Comma, Co.",
    "O'Malley & O'Neil",
    'Zoë\'s "Famous" Pies, LLC',
    "100% Organic; Inc.",
    "Back\\slash Imports Ltd.",
    "«Guillemets» S.A.R.L.",
    "Ἀθῆναι Shipping",
    "Nguyễn & Trần Co.",
    "شركة المستقبل",
    "חברת אור בע״מ",
    "👩\u200d💻 Dev Collective",
)
_CITIES = (
    ("São Paulo", "Brazil"), ("München", "Germany"), ("Zürich", "Switzerland"), ("Kraków", "Poland"),
    ("東京", "Japan"), ("Reykjavík", "Iceland"), ("Québec", "Canada"), ("London", "United Kingdom"),
    ("New York", "United States"), ("Washington, D.C.", "United States"), ("Abidjan", "Côte d'Ivoire"),
    ("İstanbul", "Türkiye"), ("Ciudad de México", "México"), ("Århus", "Denmark"), ("Besançon", "France"),
    ("Sankt-Peterburg", "Россия"), ("Αθήνα", "Ελλάδα"), ("서울", "대한민국"), ("Lagos", "Nigeria"),
    ("Llanfairpwllgwyngyll", "United Kingdom"), ("Wagga Wagga", "Australia"), ("Hà Nội", "Việt Nam"),
    ("Düsseldorf", "Germany"), ("San José", "Costa Rica"), ("Bengaluru", "India"), ("Chicago", "United States"),
)  # fmt: skip
_FIRST_NAMES = (
    "James", "Mary", "José", "Zoë", "François", "Björn", "Łukasz", "Siobhán", "Ana María", "Jean-Luc", "Chloé",
    "Søren", "Ngozi", "Aarav", "Mohammed", "Olga", "Σοφία", "Дмитрий", "太郎", "美咲", "지훈", "Thảo", "Renée",
    "Émile", "D'Andre", "Mary-Kate", "Ólafur", "Jürgen", "Fatima", "Wei", "Priya", "Kwame", "Noël", "Linda",
    "Robert", "Patricia", "Michael", "Jennifer", "David", "Elizabeth", "Ægir", "Małgorzata",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "García Márquez", "Müller", "O'Brien", "D'Angelo", "van der Berg", "de la Cruz", "Nguyễn",
    "Østergaard", "Kowalski", "Dvořák", "Öztürk", "Þórsson", "Ivanova", "Иванов", "Παπαδόπουλος", "山田", "佐藤",
    "김", "Smith-Jones", "MacDonald", "Núñez", "Le Blanc", "Al-Sayed", "Okafor", "Patel", "Chen", "Zhang",
    "Hernández", "Schröder", "Ní Bhriain", "Fitzgerald", "St. John", "Lê", "Ōtsuka", "Wójcik", "Brown",
    "Williams", "Jones", "Miller", "Davis", "Wilson", "Taylor",
)  # fmt: skip
_EMOJI = ("🎉", "🚀", "😀", "🌍", "☕", "🎸")
_TITLES = (
    "CEO", "CTO", "CFO, EMEA", "VP of Sales", "Head of R&D", "Directeur Général", "Ingeniera de Datos",
    "営業部長", 'Chief "Everything" Officer', "Sales Manager, North-East", "Procurement Lead",
    "Senior Vice President, Global Strategic Partnerships & Alliances (EMEA, APAC and LATAM)",
    "Geschäftsführer", "Office Manager", "Account Executive", "Buyer", "Einkäuferin", "Менеджер по закупкам",
    "Data Scientist", "IT Director", "Assistant to the Regional Manager", "Owner; Founder",
)  # fmt: skip
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "example.co.uk", "example.de")
_ACCOUNT_NOTES = (
    "Key account, renewal due in Q3.",
    'Customer said: "ship it, now!"',
    "Prefers email; no calls before 10:00.",
    "Kontakt über Frau Müller — bitte auf Deutsch.",
    "担当者は田中さんです。",
    "Very happy 😀👍",
    'Legacy note: \\"escaped\\" quotes from the old CRM',
    "Comma, separated, notes, everywhere",
    "Payment terms: net 30 (EUR €), 2% early-payment discount",
    'Merged from CRM #4411; see "old" notes.',
    "Çok iyi müşteri.",
    "Клиент доволен, продлевает договор.",
    "¡Muy buen cliente!",
    "Ticket ‹A-17›, status: «open»",
    "Address:\tBuilding 7, 3rd floor",
)
_CONTACT_NOTES = (
    "Met at Dreamforce, interested in the API tier.",
    'Nickname "JJ", prefers first name.',
    "Do not call; email only.",
    "Left the company? Bounced once, re-check.",
    "Spricht Deutsch, Englisch, Français.",
    "电话联系，周一至周五。",
    "Loves the product 🎉",
    "Assistant: Ms. O'Hara, ext. 204",
    "Budget owner, signs off > $50,000",
    'Notes, with, commas, and "quotes"',
)
_CHARACTER_FOLDS = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "ß": "ss", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "đ": "d"}
)
_EMAIL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'-")
_EMAIL_MAX_LENGTH = 80
# The local org's recorded describe, shipped as package data next to this package.
_ACCOUNT_DESCRIBE = Path(__file__).resolve().parent.parent / "emulator" / "schema" / "Account.json"
_BIRTHDATE_FIRST = (dt.date(1945, 1, 1) - dt.date(1970, 1, 1)).days
_BIRTHDATE_LAST = (dt.date(2006, 12, 31) - dt.date(1970, 1, 1)).days


_T = TypeVar("_T")


class _Stream(random.Random):
    """A seeded random stream with cheap draws.

    ``choice`` and ``randrange`` pay for exact uniformity, which sample data does not need, at about four times
    the cost of one ``random()``; these draws keep 50,000 contacts well under a second.
    """

    def pick(self, options: Sequence[_T]) -> _T:
        return options[int(self.random() * len(options))]

    def below(self, stop: int) -> int:
        return int(self.random() * stop)

    def between(self, low: int, high: int) -> int:
        """Like ``randint``: both ends included."""
        return low + int(self.random() * (high - low + 1))


@dataclass(frozen=True)
class SourceTables:
    """Where :func:`write_source_tables` put the tables and how many rows each holds.

    Attributes:
        accounts_path: The accounts Parquet file.
        contacts_path: The contacts Parquet file.
        accounts: Rows in the accounts table.
        contacts: Rows in the contacts table.
    """

    accounts_path: Path
    contacts_path: Path
    accounts: int
    contacts: int


def generate_accounts(count: int = 10_000, *, seed: int = 7) -> pa.Table:
    """Generates the accounts table, planted failures included (see the module docstring for the rates).

    Args:
        count: Number of rows.
        seed: Seed of the table's own random stream; the same seed gives the same table.

    Returns:
        A table with the columns of :data:`ACCOUNT_SCHEMA`, keyed by ``Oracle_Id__c`` (``ORA-000001`` ...).

    Examples:
        >>> accounts = generate_accounts(1_000, seed=1)
        >>> accounts.num_rows, accounts.column_names[:2]
        (1000, ['Oracle_Id__c', 'Name'])
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    rng = _Stream(f"sf_assets.sample_data.accounts:{seed}")
    industries = industry_values()
    nulls = _null_draw(rng, ACCOUNT_NULL_RATES)

    keys = [f"ORA-{number:06d}" for number in range(1, count + 1)]
    names: list[str | None] = []
    industry: list[str | None] = []
    phones: list[str | None] = []
    websites: list[str | None] = []
    revenue: list[Decimal | None] = []
    employees: list[int | None] = []
    cities: list[str | None] = []
    countries: list[str | None] = []
    descriptions: list[str | None] = []
    for row in range(count):
        core = rng.pick(_CORES)
        names.append(_account_name(rng, core))
        industry.append(None if nulls("Industry") else rng.pick(industries))
        phones.append(None if nulls("Phone") else _phone(rng))
        websites.append(None if nulls("Website") else _website(rng, core, row))
        revenue.append(None if nulls("AnnualRevenue") else _revenue(rng))
        # Company sizes span orders of magnitude, so draw the exponent, not the number.
        employees.append(None if nulls("NumberOfEmployees") else int(10 ** rng.uniform(0, 5.7)))
        city, country = rng.pick(_CITIES)
        cities.append(None if nulls("BillingCity") else city)
        countries.append(None if nulls("BillingCountry") else country)
        descriptions.append(None if nulls("Description") else _description(rng, _ACCOUNT_NOTES))

    null_names, long_names, duplicates, sources = _plant(
        rng, count, (ACCOUNT_NULL_NAME_RATE, ACCOUNT_LONG_NAME_RATE), ACCOUNT_DUPLICATE_KEY_RATE
    )
    for row in null_names:
        names[row] = None
    for row in long_names:
        names[row] = _long_name(rng)
    for number, (row, source) in enumerate(zip(duplicates, sources, strict=True)):
        keys[row] = keys[source].lower() if number % 2 else keys[source]
        # The same company exported twice: identity columns agree, the figures and notes differ.
        for column in (names, industry, websites, cities, countries):
            column[row] = column[source]

    return pa.Table.from_arrays(
        [
            pa.array(keys, pa.string()),
            pa.array(names, pa.string()),
            pa.array(industry, pa.string()),
            pa.array(phones, pa.string()),
            pa.array(websites, pa.string()),
            pa.array(revenue, pa.decimal128(18, 2)),
            pa.array(employees, pa.int32()),
            pa.array(cities, pa.string()),
            pa.array(countries, pa.string()),
            pa.array(descriptions, pa.string()),
        ],
        schema=ACCOUNT_SCHEMA,
    )


def generate_contacts(count: int = 50_000, *, accounts: pa.Table, seed: int = 7) -> pa.Table:
    """Generates the contacts table for ``accounts``, planted failures included (rates in the module docstring).

    Args:
        count: Number of rows.
        accounts: The accounts table (``Oracle_Id__c`` and ``Name`` are read) whose keys the contacts reference.
        seed: Seed of the table's own random stream; the same seed and accounts give the same table.

    Returns:
        A table with the columns of :data:`CONTACT_SCHEMA`, keyed by ``External_Id__c`` (``CON-0000001`` ...).

    Raises:
        ValueError: If ``count`` is negative, or contacts are asked for but ``accounts`` has no keys.

    Examples:
        >>> accounts = generate_accounts(1_000, seed=1)
        >>> contacts = generate_contacts(5_000, accounts=accounts, seed=1)
        >>> contacts.column("External_Id__c")[0].as_py()
        'CON-0000001'
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    rng = _Stream(f"sf_assets.sample_data.contacts:{seed}")
    existing, parents = _parent_keys(accounts)
    if count and not parents:
        raise ValueError("accounts has no Oracle_Id__c values for the contacts to reference")
    nulls = _null_draw(rng, CONTACT_NULL_RATES)

    keys = [f"CON-{number:07d}" for number in range(1, count + 1)]
    first_names: list[str | None] = []
    last_names: list[str | None] = []
    emails: list[str | None] = []
    phones: list[str | None] = []
    titles: list[str | None] = []
    birthdates: list[int | None] = []
    descriptions: list[str | None] = []
    for row in range(count):
        first = rng.pick(_FIRST_NAMES)
        last = rng.pick(_LAST_NAMES)
        if nulls("FirstName"):
            first_names.append(None)
        elif rng.random() < EMOJI_FIRST_NAME_RATE:
            first_names.append(f"{first} {rng.pick(_EMOJI)}")
        else:
            first_names.append(first)
        last_names.append(last)
        emails.append(None if nulls("Email") else _email(rng, first, last, row))
        phones.append(None if nulls("Phone") else _phone(rng))
        titles.append(None if nulls("Title") else rng.pick(_TITLES))
        birthdates.append(None if nulls("Birthdate") else rng.between(_BIRTHDATE_FIRST, _BIRTHDATE_LAST))
        descriptions.append(None if nulls("Description") else _description(rng, _CONTACT_NOTES))
    account_ids = _pick_parents(rng, parents, count)

    bad_emails, null_last_names, orphans, duplicates, sources = _plant(
        rng,
        count,
        (CONTACT_BAD_EMAIL_RATE, CONTACT_NULL_LAST_NAME_RATE, CONTACT_ORPHAN_RATE),
        CONTACT_DUPLICATE_KEY_RATE,
    )
    for row in bad_emails:
        first, last = first_names[row] or rng.pick(_FIRST_NAMES), last_names[row] or "Doe"
        emails[row] = _bad_email(rng, _email(rng, first, last, row))
    for row in null_last_names:
        last_names[row] = None
    for row in orphans:
        account_ids[row] = _missing_key(rng, existing, len(existing))
    for number, (row, source) in enumerate(zip(duplicates, sources, strict=True)):
        keys[row] = keys[source].lower() if number % 2 else keys[source]
        # The same person exported twice, under the same account so a per-account load still sees both rows.
        for column in (first_names, last_names, emails, birthdates, account_ids):
            column[row] = column[source]

    return pa.Table.from_arrays(
        [
            pa.array(keys, pa.string()),
            pa.array(first_names, pa.string()),
            pa.array(last_names, pa.string()),
            pa.array(emails, pa.string()),
            pa.array(phones, pa.string()),
            pa.array(titles, pa.string()),
            pa.array(birthdates, pa.date32()),
            pa.array(descriptions, pa.string()),
            pa.array(account_ids, pa.string()),
        ],
        schema=CONTACT_SCHEMA,
    )


def write_source_tables(
    root: str | Path, *, accounts: int = 10_000, contacts: int = 50_000, seed: int = 7
) -> SourceTables:
    """Generates both tables and writes ``root/accounts.parquet`` and ``root/contacts.parquet``.

    Each file is written under a temporary name in ``root`` and renamed into place, so a reader sees the old
    file or the new one, never half of one. The same arguments write byte-identical files.

    Args:
        root: Directory of the tables; created if missing.
        accounts: Number of account rows.
        contacts: Number of contact rows.
        seed: Seed of both tables (each draws from its own stream).

    Returns:
        The paths written and their row counts.

    Examples:
        >>> tables = write_source_tables("/tmp/sf-source", accounts=100, contacts=500)
        >>> tables.accounts_path.name, tables.contacts
        ('accounts.parquet', 500)
    """
    directory = Path(root)
    directory.mkdir(parents=True, exist_ok=True)
    account_table = generate_accounts(accounts, seed=seed)
    contact_table = generate_contacts(contacts, accounts=account_table, seed=seed)
    accounts_path = directory / "accounts.parquet"
    contacts_path = directory / "contacts.parquet"
    _write_atomically(account_table, accounts_path)
    _write_atomically(contact_table, contacts_path)
    return SourceTables(accounts_path, contacts_path, account_table.num_rows, contact_table.num_rows)


@cache
def industry_values() -> tuple[str, ...]:
    """The active values of Account.Industry's picklist in the local org's schema.

    Examples:
        >>> "Banking" in industry_values()
        True
    """
    text = _ACCOUNT_DESCRIBE.read_text(encoding="utf-8")
    [industry] = [field for field in json.loads(text)["fields"] if field["name"] == "Industry"]
    return tuple(entry["value"] for entry in industry["picklistValues"] if entry.get("active", True))


def planted_count(rate: float, rows: int) -> int:
    """How many rows of a table of ``rows`` carry a defect planted at ``rate``: ``rate x rows``, halves up.

    Examples:
        >>> planted_count(0.005, 300)
        2
    """
    return int(Decimal(str(rate)) * rows + Decimal("0.5"))


# -- planting ------------------------------------------------------------------------------------------------------


def _plant(rng: _Stream, count: int, rates: Sequence[float], duplicate_rate: float) -> tuple[list[int], ...]:
    """Picks disjoint rows: one list per rate, then the duplicate rows and, pairwise, the rows they copy."""
    sizes = [planted_count(rate, count) for rate in rates]
    duplicates = planted_count(duplicate_rate, count)
    sizes += [duplicates, duplicates]
    chosen = rng.sample(range(count), sum(sizes))
    groups: list[list[int]] = []
    start = 0
    for size in sizes:
        groups.append(chosen[start : start + size])
        start += size
    return tuple(groups)


def _null_draw(rng: _Stream, rates: Mapping[str, float]) -> Callable[[str], bool]:
    def is_null(column: str) -> bool:
        return rng.random() < rates[column]

    return is_null


def _parent_keys(accounts: pa.Table) -> tuple[set[str], list[str]]:
    """Every key of ``accounts`` folded to lower case, and the keys of the rows the org will accept."""
    keys: list[str | None] = accounts.column("Oracle_Id__c").to_pylist()
    names: list[str | None] = accounts.column("Name").to_pylist()
    folded = Counter(key.lower() for key in keys if key)
    loadable = [
        key
        for key, name in zip(keys, names, strict=True)
        if key and name and _utf16_length(name) <= NAME_MAX_LENGTH and folded[key.lower()] == 1
    ]
    # A table the generator did not make may have no clean row; its keys still make contacts.
    return set(folded), loadable or [key for key in keys if key]


def _pick_parents(rng: _Stream, parents: list[str], count: int) -> list[str | None]:
    """A parent per contact: uniform, plus a Zipf-distributed share so that a few accounts are very large."""
    if not count:
        return []
    ranks = list(range(len(parents)))
    rng.shuffle(ranks)  # the large accounts sit anywhere in the table, not at its start
    harmonic = sum(1 / (rank + 1) for rank in ranks)
    uniform = (1 - PARENT_SKEW_SHARE) / len(parents)
    weights = [uniform + PARENT_SKEW_SHARE / ((rank + 1) * harmonic) for rank in ranks]
    return list(rng.choices(parents, cum_weights=list(accumulate(weights)), k=count))


def _missing_key(rng: _Stream, existing: set[str], accounts: int) -> str:
    """An account key in the table's format that no account holds (a parent deleted or never exported)."""
    while True:
        key = f"ORA-{rng.between(accounts + 1, 2 * accounts + 999_999):06d}"
        if key.lower() not in existing:
            return key


# -- values ---------------------------------------------------------------------------------------------------------


def _account_name(rng: _Stream, core: str) -> str:
    if rng.random() < SPECIAL_ACCOUNT_NAME_RATE:
        return rng.pick(_SPECIAL_NAMES)
    suffix = rng.pick(_SUFFIXES)
    if rng.random() < 0.5:
        return f"{core} {rng.pick(_SECTORS)} {suffix}".rstrip()
    return f"{core} {suffix}".rstrip()


def _long_name(rng: _Stream) -> str:
    """A legal name grown by renamings, cut to 256-400 characters the way a fixed-width export cuts it."""
    target = rng.between(NAME_MAX_LENGTH + 1, 400)
    parts = [_account_name(rng, rng.pick(_CORES))]
    while len(", formerly ".join(parts)) < target:
        parts.append(_account_name(rng, rng.pick(_CORES)))
    return ", formerly ".join(parts)[: target - 1] + "…"


def _phone(rng: _Stream) -> str:
    kind = rng.below(6)
    if kind == 0:
        return f"+1 ({rng.between(201, 989)}) 555-{rng.below(10_000):04d}"
    if kind == 1:
        return f"({rng.between(201, 989)}) 555-{rng.below(10_000):04d}"
    if kind == 2:
        return f"+44 20 7946 {rng.below(10_000):04d}"
    if kind == 3:
        return f"+49 30 {rng.below(10_000_000):07d}"
    if kind == 4:
        return f"+81 3-{rng.below(10_000):04d}-{rng.below(10_000):04d}"
    return f"{rng.between(201, 989)}.555.{rng.below(10_000):04d} ext. {rng.between(1, 999)}"


def _website(rng: _Stream, core: str, row: int) -> str:
    slug = _ascii_slug(core) or f"company{row + 1}"
    kind = rng.below(4)
    if kind == 0:
        return f"https://www.{slug}.example.com"
    if kind == 1:
        return f"http://{slug}.example.org/"
    if kind == 2:
        return f"www.{slug}.example.net"
    return f"https://{slug}.example.co.uk/about?ref=crm&lang=en"


def _revenue(rng: _Stream) -> Decimal:
    dollars = int(10 ** rng.uniform(4, 11.5))
    cents = 0 if rng.random() < 0.5 else rng.below(100)
    return Decimal(dollars * 100 + cents).scaleb(-2)


def _description(rng: _Stream, notes: Sequence[str]) -> str:
    draw = rng.random()
    if draw < DESCRIPTION_CRLF_RATE:
        separator = "\r\n"
    elif draw < DESCRIPTION_CRLF_RATE + DESCRIPTION_LF_RATE:
        separator = "\n"
    else:
        return " ".join(rng.pick(notes) for _ in range(rng.between(1, 3)))
    # At least two notes, so that the line break really is inside the text.
    return separator.join(rng.pick(notes) for _ in range(rng.between(2, 3)))


def _email(rng: _Stream, first: str, last: str, row: int) -> str:
    given, family = _ascii_slug(first), _ascii_slug(last)
    domain = rng.pick(_EMAIL_DOMAINS)
    if not given or not family:
        # Names in scripts without a Latin transliteration here get the address a CRM assigns.
        return f"contact{row + 1}@{domain}"
    kind = rng.below(5)
    if kind == 0:
        address = f"{given}.{family}@{domain}"
    elif kind == 1:
        address = f"{given[0]}{family}@{domain}"
    elif kind == 2:
        address = f"{family}.{given}+crm@{domain}"
    elif kind == 3:
        address = f"{given}_{family}{row % 100}@{domain}"
    else:
        address = f"{given.capitalize()}.{family.capitalize()}@{domain.upper()}"
    return address if len(address) <= _EMAIL_MAX_LENGTH else f"contact{row + 1}@{domain}"


def _bad_email(rng: _Stream, good: str) -> str:
    local, domain = good.split("@")
    kind = rng.below(6)
    if kind == 0:
        return f"{local}@@{domain}"
    if kind == 1:
        return f"{local}.{domain}"  # the @ lost
    if kind == 2:
        return f"{local.replace('.', ' ', 1) if '.' in local else local + ' x'}@{domain}"
    if kind == 3:
        return f"{local}@"
    if kind == 4:
        return f"{local}@{domain.replace('.', ',', 1)}"
    return f"{local}@{domain}; info@{domain}"  # two addresses in one cell


@cache
def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_CHARACTER_FOLDS)).encode("ascii", "ignore").decode()
    return "".join(char for char in folded.lower() if char in _EMAIL_SAFE).strip("'-")


def _utf16_length(text: str) -> int:
    # Salesforce measures text in UTF-16 units, where an emoji counts twice.
    return len(text.encode("utf-16-le")) // 2


# -- writing --------------------------------------------------------------------------------------------------------


def _write_atomically(table: pa.Table, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with temporary.open("wb") as file:
            pq.write_table(table, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
