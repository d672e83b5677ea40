"""The org's SQLite store: which fields are indexed, and what survives reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.schema import Schema
from sf_assets.emulator.store import Store


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_external_id_fields_are_indexed(tmp_path: Path) -> None:
    Store(tmp_path / "org.sqlite3", Schema.load()).close()
    assert "ix_Contact_External_Id__c" in _indexes(tmp_path / "org.sqlite3")


def test_an_older_orgs_index_on_a_lookup_only_field_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "org.sqlite3"
    Store(path, Schema.load()).close()
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE INDEX "ix_Contact_Email" ON "Contact" (Email COLLATE NOCASE)')
    Store(path, Schema.load()).close()
    assert "ix_Contact_Email" not in _indexes(path)


def test_contact_is_found_by_email_without_an_index(org: LocalOrg, org_session: Any) -> None:
    auth = {"Authorization": f"Bearer {org.new_session()}"}
    loaded = org_session.post(
        f"{org.instance_url}/__org__/records/Contact",
        json=[{"LastName": "Lovelace", "Email": "ada@example.com"}, {"LastName": "Turing"}],
        headers=auth,
    )
    response = org_session.get(
        f"{org.instance_url}/services/data/v59.0/sobjects/Contact/Email/ADA@example.com", headers=auth
    )
    assert response.status_code == 200
    assert response.json()["Id"] == loaded.json()[0]["id"]
