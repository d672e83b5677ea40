"""A partition's ledger of finished Salesforce jobs, so a retried Spark task never sends their rows again.

When a chain of jobs (a job and the jobs resending its transient failures) is over, the task records it under
``_ledger/part-NNNNN/``: its outcome and a 64-bit digest of every CSV line it carried. A later attempt of the
same task loads the ledger, skips input rows whose line it finds there (counting duplicates, so two identical
input rows are skipped only as often as they were sent) and reports the recorded outcome as its own. An
insert is therefore never duplicated by a task retry, and no work Salesforce did is lost or counted twice.

The digests of one chain are written before its result files are moved to their final names, and a later
attempt finishes any move that was cut short, so no crash leaves a sent row both unrecorded and unskipped.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xxhash import xxh3_64_digest

from .commit_message import JobResult
from .filesystems import FileSelector, FileType, open_filesystem

if TYPE_CHECKING:
    import pyarrow as pa

LEDGER_DIR = "_ledger"


def line_digest(line: bytes) -> int:
    """A stable 64-bit digest of one CSV line without its line end (Python's ``hash`` differs between worker
    processes). XXH3 is not cryptographic and need not be: the ledger guards against a task's own retries, not
    against an adversary, and it is about four times faster per line than BLAKE2b."""
    return int.from_bytes(xxh3_64_digest(line), "little")


def line_digests(csv: bytes, rows: int, lines: Callable[[], pa.Array] | None = None) -> array[int]:
    """The :func:`line_digest` of each of the ``rows`` lines of ``csv`` (each ending in LF), kept as unsigned
    64-bit numbers: eight bytes a row, where a list of Python ints takes about forty.

    When a quoted cell holds a line feed, the lines are cut where ``lines()``, the same lines as a string array,
    puts them."""
    pieces = csv.split(b"\n")
    pieces.pop()
    if len(pieces) != rows:
        if lines is None:
            raise ValueError(f"{len(pieces)} line feeds in {rows} lines, and no line array to cut them by")
        return _cut_digests(csv, lines())
    return _unpack(b"".join(map(xxh3_64_digest, pieces)))


def _cut_digests(csv: bytes, lines: pa.Array) -> array[int]:
    offsets = memoryview(lines.buffers()[1]).cast("i")[lines.offset : lines.offset + len(lines) + 1]
    first = offsets[0]
    pieces = [csv[start - first : end - first - 1] for start, end in itertools.pairwise(offsets)]
    return _unpack(b"".join(map(xxh3_64_digest, pieces)))


def _unpack(packed: bytes) -> array[int]:
    digests = array("Q")
    digests.frombytes(packed)
    if sys.byteorder == "big":  # the digests and the ledger are little-endian on every machine
        digests.byteswap()
    return digests


def _packed_chunks(digests: array[int], chunk: int = 3 << 16) -> Iterator[bytes]:
    """The digests as little-endian base64, a piece at a time: a million rows make 11 MB of text, which is
    written as it is made rather than held (``chunk`` is a multiple of 3, so the pieces join into one text)."""
    if sys.byteorder == "big":
        digests = array("Q", digests)
        digests.byteswap()
    raw = memoryview(digests).cast("B")
    for start in range(0, len(raw), chunk):
        yield base64.b64encode(raw[start : start + chunk])


@dataclass(frozen=True)
class ChainRecord:
    """The outcome of one finished chain of jobs, as a later attempt takes it over."""

    jobs: tuple[JobResult, ...]
    succeeded: int
    failed: int
    unprocessed: int
    errors_by_code: Mapping[str, int] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # staged path -> final name

    def to_json(self) -> dict[str, object]:
        return {
            "jobs": [job.to_json() for job in self.jobs],
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unprocessed": self.unprocessed,
            "errors_by_code": dict(self.errors_by_code),
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, object]) -> ChainRecord:
        jobs = tuple(JobResult(**job) for job in payload["jobs"])  # type: ignore[attr-defined,arg-type]
        return cls(
            jobs=jobs,
            succeeded=int(payload["succeeded"]),  # type: ignore[call-overload]
            failed=int(payload["failed"]),  # type: ignore[call-overload]
            unprocessed=int(payload["unprocessed"]),  # type: ignore[call-overload]
            errors_by_code=dict(payload.get("errors_by_code") or {}),  # type: ignore[call-overload]
            files=dict(payload.get("files") or {}),  # type: ignore[call-overload]
        )


@dataclass(frozen=True)
class PendingChain:
    """A chain whose jobs were handed to Salesforce but whose outcome was never recorded."""

    job_ids: tuple[str, ...]
    digests: array[int]
    rows: int


class Ledger:
    """The ledger of one partition of one write."""

    def __init__(self, results_dir: str, partition_id: int) -> None:
        self.fs, root = open_filesystem(results_dir)
        self.dir = f"{root}/{LEDGER_DIR}/part-{partition_id:05d}"

    def pending(self, job_ids: list[str], digests: array[int], rows: int) -> None:
        """Note, before a job is closed (from then on Salesforce may process it), which rows it carries."""
        self._write(f"{job_ids[0]}.pending", {"job_ids": job_ids, "rows": rows}, digests)

    def record(self, chain: ChainRecord, digests: array[int]) -> None:
        """Record a finished chain (atomically: a half-written entry is never read)."""
        name = chain.jobs[0].job_id
        self._write(name, {"chain": chain.to_json()}, digests)
        self.discard(name)

    def load(self) -> tuple[list[ChainRecord], Counter[int], list[PendingChain]]:
        """Every chain earlier attempts finished, how many times each of their line digests was sent, and the
        chains they handed to Salesforce without recording an outcome."""
        if self.fs.get_file_info(self.dir).type != FileType.Directory:
            return [], Counter(), []
        chains: list[ChainRecord] = []
        pending: list[PendingChain] = []
        sent: Counter[int] = Counter()
        names = {info.base_name: info.path for info in self.fs.get_file_info(FileSelector(self.dir))}
        for name, path in sorted(names.items()):
            if not name.endswith(".json") or name.startswith("."):
                continue
            with self.fs.open_input_stream(path) as source:
                entry = json.loads(source.read())
            if name.endswith(".pending.json"):
                if name.replace(".pending", "") not in names:
                    digests = _unpack(base64.b64decode(entry["digests"]))
                    pending.append(PendingChain(tuple(entry["job_ids"]), digests, int(entry["rows"])))
                continue
            chains.append(ChainRecord.from_json(entry["chain"]))
            sent.update(_unpack(base64.b64decode(entry["digests"])))
        return chains, sent, pending

    def discard(self, first_job_id: str) -> None:
        """Forget a chain's pending entry: it is recorded as finished, or none of its rows reached Salesforce."""
        if self._exists(f"{first_job_id}.pending.json"):
            self.fs.delete_file(f"{self.dir}/{first_job_id}.pending.json")

    def _write(self, name: str, entry: dict[str, object], digests: array[int]) -> None:
        self.fs.create_dir(self.dir, recursive=True)
        staging = f"{self.dir}/.{name}.tmp"
        with self.fs.open_output_stream(staging) as out:
            # The entry's JSON object with a "digests" member appended, streamed.
            out.write(json.dumps(entry)[:-1].encode("utf-8") + b', "digests": "')
            for piece in _packed_chunks(digests):
                out.write(piece)
            out.write(b'"}')
        self.fs.move(staging, f"{self.dir}/{name}.json")

    def _exists(self, name: str) -> bool:
        return self.fs.get_file_info(f"{self.dir}/{name}").type == FileType.File
