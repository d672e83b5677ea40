"""Bulk API 2.0 ingest jobs: state machine, JobInfo shapes, and the job's files on disk.

A job's uploads, internal batches and result CSVs live under ``DIR/jobs/{id}/``, so no job is ever
held in memory; its metadata is persisted in the store after every state change. Discard mode keeps
accepted batches there too, until their successful-results lines are first read (see ``discard``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from . import batch_text, discard
from .errors import ApiError, bad_request

DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = ("LF", "CRLF")
TERMINAL = ("JobComplete", "Failed", "Aborted")
# Cells can legitimately be large (131,072 characters per field); the csv default is 128 KiB.
csv.field_size_limit(32 * 1024 * 1024)


class UploadError(Exception):
    """The uploaded data cannot be read as the job's CSV; the job fails with this message."""


# Transitions a client may request with PATCH; processing moves jobs on from UploadComplete itself.
_CLIENT_TRANSITIONS = {
    "UploadComplete": ("Open",),
    "Aborted": ("Open", "UploadComplete", "InProgress"),
}


@dataclass
class IngestJob:
    """One ingest job's metadata, as persisted and as rendered into JobInfo."""

    id: str
    operation: str
    object: str
    created_by_id: str
    created_date: str
    system_modstamp: str
    api_version: float
    state: str = "Open"
    external_id_field_name: str | None = None
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    assignment_rule_id: str | None = None
    number_records_processed: int = 0
    number_records_failed: int = 0
    retries: int = 0
    total_processing_time: int = 0
    api_active_processing_time: int = 0
    apex_processing_time: int = 0
    error_message: str | None = None
    upload_bytes: int = 0
    uploads: int = 0
    header: list[str] | None = None
    batches_total: int = 0
    # Records per internal batch as split: discard mode counts a batch without reading it back.
    batch_counts: list[int] = field(default_factory=list)
    # Per internal batch, where it lies in an upload (``Span.to_text``) when it was never copied, else None.
    batch_spans: list[str | None] = field(default_factory=list)
    batches_done: list[int] = field(default_factory=list)
    upload_complete_at: float = 0.0

    def batch_span(self, number: int) -> Span | None:
        """Where internal batch ``number`` lies in an upload, if it was never copied into a file of its own."""
        text = self.batch_spans[number] if number < len(self.batch_spans) else None
        return None if text is None else Span.from_text(text)

    def _head(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by_id,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.state,
        }
        if self.external_id_field_name is not None:
            info["externalIdFieldName"] = self.external_id_field_name
        info.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": self.api_version})
        return info

    def created_info(self) -> dict[str, Any]:
        """The create response: no jobType, counters or timings yet."""
        info = self._head()
        if self.state == "Open":
            info["contentUrl"] = self.content_url
        info.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        return info

    def short_info(self) -> dict[str, Any]:
        """The PATCH response, which Salesforce keeps short."""
        return self._head()

    def info(self) -> dict[str, Any]:
        """Full JobInfo: counters appear once processing starts, contentUrl only while Open."""
        info = self._head()
        info["jobType"] = "V2Ingest"
        if self.assignment_rule_id:
            info["assignmentRuleId"] = self.assignment_rule_id
        if self.state == "Open":
            info["contentUrl"] = self.content_url
        info.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if self.state not in ("Open", "UploadComplete"):
            info["numberRecordsProcessed"] = self.number_records_processed
            info["numberRecordsFailed"] = self.number_records_failed
        info.update(
            {
                "retries": self.retries,
                "totalProcessingTime": self.total_processing_time,
                "apiActiveProcessingTime": self.api_active_processing_time,
                "apexProcessingTime": self.apex_processing_time,
            }
        )
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info

    @property
    def content_url(self) -> str:
        return f"services/data/v{self.api_version:.1f}/jobs/ingest/{self.id}/batches"

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def line_terminator(self) -> str:
        return "\r\n" if self.line_ending == "CRLF" else "\n"

    def check_transition(self, target: str) -> None:
        allowed = _CLIENT_TRANSITIONS.get(target)
        if allowed is None:
            raise bad_request("INVALIDJOBSTATE", f"Invalid state {target!r}: use UploadComplete or Aborted")
        if self.state not in allowed:
            verb = "Aborting" if target == "Aborted" else "Closing"
            shown = "Completed" if self.state == "JobComplete" else self.state
            raise bad_request("INVALIDJOBSTATE", f"{verb} already {shown} Job not allowed")

    def to_record(self) -> dict[str, Any]:
        # Shallow, unlike asdict: the store serializes it at once, under the lock that guards the lists.
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> IngestJob:
        return cls(**record)


def quote_all(rows: Iterable[Sequence[str]]) -> str:
    """Result lines, each starting with a newline: every value double-quoted, embedded quotes doubled.

    That is how Salesforce writes result CSVs; the C csv writer does it far faster than Python code.
    """
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    return "\n" + text[:-1] if text else ""


class JobFiles:
    """A job's directory: uploads, internal batches and the three result CSVs.

    Result files start with their header line and gain one ``\\n``-prefixed line per row, so a file
    never ends with a newline, like the recorded responses. Appends are serialized per job because
    several internal batches of one job finish concurrently.

    An internal batch is a file of its own, ``batch-NNNNN.csv``, or, when discard mode cut it from one
    stretch of an upload, a :class:`Span` of that upload, noted in the job's record: copying uploads into
    batch files, and creating a file per batch, were about a fifth of the org's work for the rows a benchmark
    sends. Discard mode keeps accepted batches (see :meth:`keep`), listed in ``accepted.jsonl``, with their
    files as ``accepted-NNNNN.csv``; their successful-results lines are written when the results are first read.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def upload_path(self, number: int) -> Path:
        return self.root / f"upload-{number:05d}.csv"

    def uploads(self) -> list[Path]:
        return sorted(self.root.glob("upload-*.csv"))

    def rows(self, delimiter: str) -> Iterator[list[str]]:
        """All rows of the uploads, header first; every upload must repeat the same header."""
        header: list[str] | None = None
        for path in self.uploads():
            with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
                reader = csv.reader(handle, delimiter=delimiter, strict=True)
                first = next(reader, None)
                if first is None:
                    continue
                if header is None:
                    header = first
                    yield first
                elif first != header:
                    raise UploadError("InvalidBatch : Every upload of a job must repeat the same header row")
                for row in reader:
                    if row:
                        yield row

    def header(self, delimiter: str) -> list[str] | None:
        """The header row of the first upload that has one."""
        for path in self.uploads():
            with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
                first = next(csv.reader(handle, delimiter=delimiter, strict=True), None)
                if first is not None:
                    return first
        return None

    def split(self, delimiter: str, size: int, key_index: int | None, *, raw: bool = False) -> Iterator[Split]:
        """The rows after the header, as batch-file text of ``size`` rows each, reading the same rows
        as :meth:`rows`. Text without quotes, carriage returns or NULs (the usual case) is cut at
        newlines without parsing; the rest of an upload that has any goes through the csv module.

        With ``raw`` (discard mode, which never reads cells), text with quotes keeps each record's
        own text, cut by :func:`batch_text.records`, so batch files are read back with it too; the
        uploads are then cut as bytes, never decoded into text unless they need the csv module, and a
        batch that is one stretch of an upload comes as its :class:`Span`, never copied."""
        header: list[str] | None = None
        cutter = _Cutter(size, delimiter, key_index)
        for path in self.uploads():
            if raw and key_index is None:
                with path.open("rb") as binary:
                    first = _plain_header(binary.readline(), delimiter)
                    if first is not None:
                        header = _same_header(header, first)
                        yield from _cut_bytes(binary, cutter, delimiter, path.name)
                        continue
            with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
                first = next(csv.reader(handle, delimiter=delimiter, strict=True), None)
                if first is None:
                    continue
                header = _same_header(header, first)
                while block := handle.read(1 << 20):
                    if not block.endswith(("\n", "\r")):
                        block += handle.readline()
                    if raw and '"' in block and (records := batch_text.records(block)) is not None:
                        yield from cutter.add_lines(records)
                        continue
                    if '"' in block or "\r" in block or "\0" in block or len(block) > csv.field_size_limit():
                        lines = itertools.chain(io.StringIO(block, newline=""), handle)
                        for row in csv.reader(lines, delimiter=delimiter, strict=True):
                            if row:
                                yield from cutter.add_row(row)
                        break
                    yield from cutter.add_lines([line for line in block.split("\n") if line])
        yield from cutter.flush()

    def batch_path(self, number: int) -> Path:
        return self.root / f"batch-{number:05d}.csv"

    def accepted_path(self, number: int) -> Path:
        return self.root / f"accepted-{number:05d}.csv"

    def batch_data(self, number: int, span: Span | None = None) -> bytes:
        """Internal batch ``number``'s text as UTF-8 bytes, one record per line: its file's, or its ``span``'s."""
        return self.span_data(span) if span is not None else self.batch_path(number).read_bytes()

    def span_data(self, span: Span) -> bytes:
        with (self.root / span.upload).open("rb") as upload:
            upload.seek(span.start)
            data = upload.read(span.end - span.start)
        # The last record of an upload may have no line end of its own.
        return data if data.endswith(b"\n") else data + b"\n"

    def result_path(self, kind: str) -> Path:
        return self.root / f"{kind}.csv"

    @property
    def _segments_path(self) -> Path:
        return self.root / "accepted.jsonl"

    @property
    def _settling_path(self) -> Path:
        return self.root / "accepted.offset"

    def start_results(self, header: Sequence[str]) -> None:
        names = ",".join(header)
        self.result_path("successful").write_text('"sf__Id","sf__Created"' + ("," + names if names else ""))
        self.result_path("failed").write_text('"sf__Id","sf__Error"' + ("," + names if names else ""))
        self.result_path("unprocessed").write_text(names)

    def append(self, kind: str, rows: Iterable[Sequence[str]]) -> None:
        self.append_text(kind, quote_all(rows))

    def append_text(self, kind: str, text: str) -> None:
        """Appends lines already in result form (see :func:`quote_all`)."""
        if not text:
            return
        with self._lock, self.result_path(kind).open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)

    def keep(self, segment: discard.Segment) -> None:
        """Sets an accepted batch's file aside: its successful-results lines are written from it, with
        the Ids reserved in ``segment``, when the results are first read (see :meth:`stream`)."""
        with self._lock:
            # Each entry starts a line of its own, so one cut short by a crash spoils no other.
            with self._segments_path.open("a", encoding="utf-8") as handle:
                handle.write("\n" + segment.to_json())
            # The rename commits the entry: a batch whose file was never renamed was not kept. A span has no
            # file, and keeping it again after a crash is harmless: the last entry of a batch is the one read.
            if segment.span is None:
                self.batch_path(segment.batch).replace(self.accepted_path(segment.batch))

    def stream(self, kind: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """A result file's bytes; the successful results first gain the lines of kept batches."""
        if kind == "successful":
            self._settle()
        return _chunks(self.result_path(kind), chunk_size)

    def _settle(self) -> None:
        """Appends the successful-results lines of the kept batches, in batch order, and drops them.

        The results file's size is noted before the first line is written, and settling redone after a
        crash starts again from there, so no line is lost or written twice.
        """
        with self._lock:
            if not self._segments_path.exists():
                self._settling_path.unlink(missing_ok=True)
                return
            segments = self._kept_segments()
            results = self.result_path("successful")
            start = self._settling_start(results)
            with results.open("ab") as handle:
                handle.truncate(start)
                for segment in segments:
                    data = (
                        self.accepted_path(segment.batch).read_bytes()
                        if segment.span is None
                        else self.span_data(Span.from_text(segment.span))
                    )
                    handle.write(discard.result_lines(segment, data.decode("utf-8")).encode("utf-8"))
            # Dropping the list ends the settling; left-over batch files are only clutter.
            self._segments_path.unlink()
            self._settling_path.unlink()
            for segment in segments:
                self.accepted_path(segment.batch).unlink(missing_ok=True)

    def _kept_segments(self) -> list[discard.Segment]:
        """The committed entries of ``accepted.jsonl`` in batch order. A batch listed twice was kept again
        after a crash between its first entry and the rename: its last entry is the one committed."""
        segments: dict[int, discard.Segment] = {}
        for line in self._segments_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, TypeError):
                segment = discard.Segment.from_json(line)
                segments[segment.batch] = segment
        return [
            segments[number]
            for number in sorted(segments)
            if segments[number].span is not None or self.accepted_path(number).exists()
        ]

    def _settling_start(self, results: Path) -> int:
        """Where the kept batches' lines start: as noted by a settling cut short, else the file's end,
        noted atomically before anything is written."""
        if self._settling_path.exists():
            return int(self._settling_path.read_text())
        start = results.stat().st_size
        noted = self._settling_path.with_suffix(".tmp")
        noted.write_text(str(start))
        noted.replace(self._settling_path)
        return start

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _chunks(path: Path, chunk_size: int) -> Iterator[bytes]:
    if not path.exists():
        return
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


@dataclass(frozen=True)
class Span:
    """Bytes ``start`` to ``end`` of the upload file named ``upload``: whole records, one a line."""

    upload: str
    start: int
    end: int

    def to_text(self) -> str:
        return f"{self.upload} {self.start} {self.end}"

    @classmethod
    def from_text(cls, text: str) -> Span:
        upload, start, end = text.split()
        return cls(upload, int(start), int(end))


@dataclass
class Split:
    """One internal batch cut from the uploads: its file's UTF-8 text (the job's delimiter, one record
    per line) or, for a batch that is one stretch of an upload, where it lies there; and the raw
    upsert-key cells of its rows that have one."""

    content: bytes | Span
    count: int
    keys: list[str]


def _same_header(header: list[str] | None, first: list[str]) -> list[str]:
    if header is not None and first != header:
        raise UploadError("InvalidBatch : Every upload of a job must repeat the same header row")
    return first


def _plain_header(line: bytes, delimiter: str) -> list[str] | None:
    """The header cells of an upload's first line, when it is plain: no quote and no carriage return
    but its line end. None for an empty upload or a header that needs the csv module."""
    body = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
    if not body or b'"' in body or b"\r" in body:
        return None
    return body.decode("utf-8-sig").split(delimiter)


def _cut_bytes(binary: IO[bytes], cutter: _Cutter, delimiter: str, upload: str) -> Iterator[Split]:
    """The rows after a plain header of the upload named ``upload`` cut into batches as bytes; from a
    block the csv module must read (carriage returns, NULs, a quote left open, a huge line), the rest is
    read as text."""
    while True:
        offset = binary.tell()
        block = binary.read(1 << 20)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += binary.readline()
        if not block.isascii():
            block.decode("utf-8")  # invalid UTF-8 fails the job, as the text path's reads do
        if b'"' in block:
            count = batch_text.line_records(block)
            if count is not None:
                yield from cutter.add_line_stretch(block, count, upload, offset)
                continue
            lines = batch_text.records(block)
        elif b"\r" in block or b"\0" in block:
            lines = None
        else:
            lines = [line for line in block.split(b"\n") if line]
        if lines is None or len(block) > csv.field_size_limit():
            text = itertools.chain(
                io.StringIO(block.decode("utf-8"), newline=""), io.TextIOWrapper(binary, encoding="utf-8", newline="")
            )
            for row in csv.reader(text, delimiter=delimiter, strict=True):
                if row:
                    yield from cutter.add_row(row)
            return
        # The records are all of the block unless blank lines were dropped (the last line may lack its LF).
        if sum(map(len, lines)) + len(lines) == len(block) + (not block.endswith(b"\n")):
            yield from cutter.add_stretch(block, lines, upload, offset)
        else:
            yield from cutter.add_lines(lines)


def _column(lines: list[str], delimiter: str, index: int) -> list[str]:
    """Cell ``index`` of each quote-free line that has one."""
    widths = set(map(str.count, lines, itertools.repeat(delimiter)))
    if len(widths) == 1:
        # Every line has the same cells: cut them all at once and take every width-th.
        width = widths.pop() + 1
        if index >= width:
            return []
        return "\n".join(lines).replace("\n", delimiter).split(delimiter)[index::width]
    splits = (line.split(delimiter, index + 1) for line in lines)
    return [cells[index] for cells in splits if len(cells) > index]


class _Cutter:
    """Gathers records into internal batches of ``size``."""

    def __init__(self, size: int, delimiter: str, key_index: int | None) -> None:
        self.size = size
        self.delimiter = delimiter
        self.key_index = key_index
        self._parts: list[str | bytes | memoryview] = []
        self._count = 0
        self._keys: list[str] = []
        # Where the batch so far lies in an upload, while it is one stretch of one.
        self._span: Span | None = None
        self._sink = io.StringIO()
        # "\r\n" so that the writer quotes cells holding either line-end character.
        self._writer = csv.writer(self._sink, delimiter=delimiter, lineterminator="\r\n")

    def add_lines(self, lines: list[str] | list[bytes]) -> Iterator[Split]:
        """Records, one a line (quote-free lines: its cells are the line split on the delimiter), as text or
        as bytes; keys are only taken from text."""
        if not lines:
            return
        newline: Any = "\n" if isinstance(lines[0], str) else b"\n"
        while lines:
            piece = lines[: self.size - self._count]
            lines = lines[len(piece) :]
            self._span = None
            self._parts.append(newline.join(piece) + newline)
            self._count += len(piece)
            if self.key_index is not None:
                self._keys += _column(piece, self.delimiter, self.key_index)
            if self._count >= self.size:
                yield from self.flush()

    def add_stretch(self, block: bytes, records: list[bytes], upload: str, offset: int) -> Iterator[Split]:
        """The ``records`` that make up all of ``block``, which starts at byte ``offset`` of the upload named
        ``upload``: batches made only of such stretches are kept as spans of the upload, never copied."""
        view = memoryview(block)
        start = 0
        while records:
            piece = records[: self.size - self._count]
            records = records[len(piece) :]
            end = min(len(block), start + sum(map(len, piece)) + len(piece))
            yield from self._add_part(view, start, end, len(piece), upload, offset)
            start = end

    def add_line_stretch(self, block: bytes, count: int, upload: str, offset: int) -> Iterator[Split]:
        """:meth:`add_stretch` for a block of ``count`` records that are one line each: only the lines where a
        batch ends are looked for."""
        view = memoryview(block)
        start = lines = 0
        while lines < count:
            rows = min(count - lines, self.size - self._count)
            lines += rows
            end = len(block) if lines == count else len(block) - len(block.split(b"\n", lines)[-1])
            yield from self._add_part(view, start, end, rows, upload, offset)
            start = end

    def _add_part(self, view: memoryview, start: int, end: int, rows: int, upload: str, offset: int) -> Iterator[Split]:
        span = Span(upload, offset + start, offset + end)
        if not self._count:
            self._span = span
        elif self._span is not None and (self._span.upload, self._span.end) == (upload, span.start):
            self._span = Span(upload, self._span.start, span.end)
        else:
            self._span = None
        self._parts.append(view[start:end])
        self._count += rows
        if self._count >= self.size:
            yield from self.flush()

    def add_row(self, row: list[str]) -> Iterator[Split]:
        self._span = None
        self._writer.writerow(row)
        self._parts.append(self._sink.getvalue())
        self._sink.seek(0)
        self._sink.truncate()
        self._count += 1
        if self.key_index is not None and self.key_index < len(row):
            self._keys.append(row[self.key_index])
        if self._count >= self.size:
            yield from self.flush()

    def flush(self) -> Iterator[Split]:
        if self._count:
            yield Split(self._span or _joined(self._parts), self._count, self._keys)
        self._parts, self._count, self._keys, self._span = [], 0, [], None


def _joined(parts: list[str | bytes | memoryview]) -> bytes:
    """The parts, cut as text or as bytes (a batch cut as bytes whose rest the csv module read has both), as UTF-8.
    Each ends a line: the last stretch of an upload may lack its LF."""
    return b"".join(
        part.encode("utf-8") if isinstance(part, str) else part if part[-1:] == b"\n" else bytes(part) + b"\n"
        for part in parts
    )


def not_terminal(job: IngestJob) -> ApiError:
    return bad_request("INVALIDJOBSTATE", f"Job {job.id} is {job.state}: results are available once it has finished")
