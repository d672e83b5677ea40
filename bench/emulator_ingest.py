"""Measures the local org's Bulk API 2.0 ingest rate for a simple Contact upsert (not a test).

Usage: ``.venv/bin/python bench/emulator_ingest.py [--records 200000] [--runs 2] [--discard]``

The org runs in a separate process pinned to one core (``taskset``-style affinity), so the figure
is what one core of org sustains; the client uploads one CSV and polls. Reported: upload seconds,
processing seconds (UploadComplete to JobComplete, from the job's own counters) and records/s.
The second run upserts the same keys, so it measures the update path. ``--discard`` runs the org in
discard mode (rows are read and counted, never stored), the ceiling a client can see.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests


def _csv(records: int) -> bytes:
    lines = ["External_Id__c,FirstName,LastName,Email,Birthdate"]
    lines += [f"C-{i},First{i},Last{i},person{i}@example.com,1980-01-{i % 28 + 1:02d}" for i in range(records)]
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--discard", action="store_true", help="start the org with --discard-records")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-org-"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from org_process import org_process

    flags = ["--parallel-batches", "1", *(["--discard-records"] if args.discard else [])]
    with org_process(data_dir, *flags, cores={0}) as connection:
        session = requests.Session()
        session.trust_env = False
        session.verify = connection["ca_file"]
        token = session.post(
            f"{connection['instance_url']}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": connection["client_id"],
                  "client_secret": connection["client_secret"]},
        ).json()["access_token"]  # fmt: skip
        session.headers["Authorization"] = f"Bearer {token}"
        base = f"{connection['instance_url']}/services/data/v{connection['api_version']}/jobs/ingest"
        body = _csv(args.records)
        for run in range(args.runs):
            job = session.post(base, json={"object": "Contact", "operation": "upsert",
                                           "externalIdFieldName": "External_Id__c"}).json()  # fmt: skip
            started = time.perf_counter()
            session.put(f"{base}/{job['id']}/batches", data=body, headers={"Content-Type": "text/csv"})
            uploaded = time.perf_counter()
            session.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"})
            while (info := session.get(f"{base}/{job['id']}").json())["state"] not in ("JobComplete", "Failed"):
                time.sleep(0.05)
            done = time.perf_counter()
            assert info["numberRecordsFailed"] == 0, info
            seconds = info["totalProcessingTime"] / 1000
            kind = "discarded" if args.discard else "insert" if run == 0 else "update"
            print(
                f"run {run + 1} ({kind}): {args.records:,} records, "
                f"{len(body) / 1e6:.1f} MB, upload {uploaded - started:.2f} s, processing {seconds:.2f} s "
                f"({args.records / seconds:,.0f} records/s on one core), wall {done - started:.2f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
