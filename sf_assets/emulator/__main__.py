"""``python -m sf_assets.emulator``: run a local Salesforce org until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from .org import DEFAULT_API_VERSION, LocalOrg, OrgConfig
from .processing import ProcessingModel


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sf_assets.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--data-dir", type=Path, required=True, help="where the org keeps its data")
    parser.add_argument("--api-version", default=DEFAULT_API_VERSION, help="API version for clients")
    parser.add_argument("--schema", type=Path, help="a schema file adding objects and fields")
    parser.add_argument("--session-ttl", type=float, default=7200.0, help="token idle timeout in seconds")
    parser.add_argument("--records-per-second", type=float, default=0.0, help="simulated speed per batch worker")
    parser.add_argument("--parallel-batches", type=int, default=2, help="internal batches processed at once")
    parser.add_argument("--queue-latency", type=float, default=0.0, help="seconds from UploadComplete to InProgress")
    parser.add_argument(
        "--discard-records",
        action="store_true",
        help="complete ingest jobs without storing their rows (every row succeeds); for client benchmarks",
    )
    parser.add_argument(
        "--lock-model",
        action="store_true",
        help="child writes lock their parent per transaction; contenders wait --lock-wait, then fail",
    )
    parser.add_argument("--lock-wait", type=float, default=0.1, help="seconds a transaction waits for a lock")
    parser.add_argument("--log-level", default="WARNING", help="Python logging level")
    return parser


def config_from_argv(argv: list[str] | None = None) -> OrgConfig:
    """The org configuration the command-line arguments describe."""
    args = _parser().parse_args(argv)
    return OrgConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        api_version=args.api_version,
        session_ttl=args.session_ttl,
        schema_file=args.schema,
        processing=ProcessingModel(
            records_per_second=args.records_per_second,
            parallel_batches=args.parallel_batches,
            queue_latency=args.queue_latency,
            store_records=not args.discard_records,
            lock_model=args.lock_model,
            lock_wait=args.lock_wait,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_argv(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    org = LocalOrg(config).start()
    try:
        print(json.dumps(org.connection()), flush=True)
        # A process signal may land on any thread, and then never wakes a main thread blocked without a
        # timeout: wake up regularly to see whether the handler has run.
        while not stop.wait(0.2):
            pass
    finally:
        org.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
