"""The main job until the Dagster assets land: start the local org and upsert accounts through Bulk API 2.0.

Run with ``bin/main`` (or ``python -m sf_assets.demo``). It starts a local org in ``.local-org/`` (kept
between runs, like a real org), upserts a small set of accounts by ``Oracle_Id__c`` with
simple-salesforce's Bulk API 2.0 client, reads back what landed with SOQL, and prints a summary.
Running it twice updates the same records instead of creating new ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simple_salesforce import Salesforce, SalesforceLogin

from sf_assets.emulator import LocalOrg, OrgConfig

_ACCOUNTS = [
    {"Oracle_Id__c": "ORA-1001", "Name": "Acme Corp", "Industry": "Manufacturing", "NumberOfEmployees": 1200},
    {"Oracle_Id__c": "ORA-1002", "Name": "Tech Inc", "Industry": "Technology", "NumberOfEmployees": 85},
    {"Oracle_Id__c": "ORA-1003", "Name": 'Ünïcödé "Quoted", Ltd', "Industry": "Consulting", "NumberOfEmployees": 7},
    {"Oracle_Id__c": "ORA-1004", "Name": "", "Industry": "Retail", "NumberOfEmployees": 40},  # fails: no Name
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sf_assets.demo", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".local-org"), help="the local org's directory")
    args = parser.parse_args(argv)
    with LocalOrg(OrgConfig(data_dir=args.data_dir)) as org:
        print(f"local org running at {org.instance_url} (data in {args.data_dir})")
        connection = org.connection()
        session = org.requests_session()
        # A SOAP login at the org's own URL, as on a My Domain host.
        session_id, instance = SalesforceLogin(
            username=connection["username"],
            password=connection["password"],
            security_token=connection["security_token"],
            sf_version=connection["api_version"],
            session=session,
            scratch_url=org.instance_url,
        )
        sf = Salesforce(
            instance_url=f"https://{instance}",
            session_id=session_id,
            session=session,
            version=connection["api_version"],
        )
        results = sf.bulk2.Account.upsert(records=_ACCOUNTS, external_id_field="Oracle_Id__c", wait=0.2)
        processed = sum(int(r["numberRecordsProcessed"]) for r in results)
        failed = sum(int(r["numberRecordsFailed"]) for r in results)
        print(f"Bulk API 2.0 upsert: {processed} processed, {processed - failed} succeeded, {failed} failed")
        for result in results:
            failures = sf.bulk2.Account.get_failed_records(result["job_id"])
            for line in failures.splitlines()[1:]:
                print(f"  failed: {line}")
        landed = sf.query_all("SELECT Oracle_Id__c, Name, Industry FROM Account ORDER BY Oracle_Id__c")
        print(f"Accounts in the org: {landed['totalSize']}")
        for record in landed["records"]:
            print(f"  {record['Oracle_Id__c']}: {record['Name']} ({record['Industry']})")
        return 0 if processed == len(_ACCOUNTS) else 1


if __name__ == "__main__":
    sys.exit(main())
