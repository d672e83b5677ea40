"""Bulk API 1.0 ingest: a job of CSV batches, processed in parallel or, to avoid lock contention, serially.

Batch results come back in the batch's own row order (``Id,Success,Created,Error``), unlike Bulk API 2.0's.

Examples:
    >>> bulk1 = Bulk1Client(transport)
    >>> job = bulk1.create_job(JobSpec("Contact", "insert"), serial=True)
    >>> batch = bulk1.add_batch(job, b"LastName\\nDoe\\n")
    >>> bulk1.close_job(job)
    >>> bulk1.wait_batch(job, batch.id).processed
    1
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from .errors import ApiError, SalesforceError
from .ingest import JobSpec, PollSchedule
from .transport import Transport

if TYPE_CHECKING:
    import requests

_NS = "http://www.force.com/2009/06/asyncapi/dataload"
BATCH_DONE = frozenset({"Completed", "Failed", "NotProcessed"})
MAX_BATCH_RECORDS = 10_000
MAX_BATCH_BYTES = 10_000_000


class BatchFailedError(SalesforceError):
    """A Bulk API 1.0 batch ended ``Failed``; ``state_message`` is Salesforce's reason."""

    def __init__(self, job_id: str, batch_id: str, state_message: str) -> None:
        self.job_id = job_id
        self.batch_id = batch_id
        self.state_message = state_message
        super().__init__(f"Salesforce batch {batch_id} of job {job_id} failed: {state_message}")


@dataclass(frozen=True)
class BatchInfo:
    """A batch's state and counters."""

    id: str
    job_id: str
    state: str
    processed: int = 0
    failed: int = 0
    state_message: str = ""

    @classmethod
    def from_xml(cls, document: bytes) -> BatchInfo:
        return cls.from_element(ElementTree.fromstring(document))

    @classmethod
    def from_element(cls, root: ElementTree.Element) -> BatchInfo:
        return cls(
            id=_text(root, "id"),
            job_id=_text(root, "jobId"),
            state=_text(root, "state"),
            processed=int(_text(root, "numberRecordsProcessed") or 0),
            failed=int(_text(root, "numberRecordsFailed") or 0),
            state_message=_text(root, "stateMessage"),
        )

    @property
    def done(self) -> bool:
        return self.state in BATCH_DONE


class Bulk1Client:
    """The ``/services/async`` job and batch resources of one org."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def create_job(self, spec: JobSpec, *, serial: bool = False) -> str:
        """Open a CSV job; returns its id. ``serial`` makes Salesforce process its batches one at a time."""
        external_id = (
            f"<externalIdFieldName>{escape(spec.external_id_field)}</externalIdFieldName>"
            if spec.external_id_field
            else ""
        )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{_NS}">'
            f"<operation>{escape(spec.operation)}</operation><object>{escape(spec.sobject)}</object>"
            f"{external_id}<concurrencyMode>{'Serial' if serial else 'Parallel'}</concurrencyMode>"
            "<contentType>CSV</contentType></jobInfo>"
        )
        response = self._call("POST", "job", body.encode(), "application/xml; charset=UTF-8", expected=(200, 201))
        return _text(ElementTree.fromstring(response.content), "id")

    def add_batch(self, job_id: str, data: bytes | IO[bytes], *, retry: bool = True) -> BatchInfo:
        """Add a CSV batch (at most 10,000 records and 10 MB); a file object is streamed.

        With ``retry=False`` a failed add is not repeated: the org may have taken the batch although the answer
        was lost, and adding it again would process its rows twice.
        """
        response = self._call(
            "POST", f"job/{job_id}/batch", data, "text/csv; charset=UTF-8", expected=(200, 201), retry=retry
        )
        return BatchInfo.from_xml(response.content)

    def close_job(self, job_id: str) -> None:
        """Close the job: no more batches. Closing a job already Closed is not an error: a close whose answer
        was lost and that the transport sent again finds the job closed by the first."""
        try:
            self._set_state(job_id, "Closed")
        except ApiError as error:
            if error.code != "InvalidJobState" or self.job_state(job_id) != "Closed":
                raise

    def job_state(self, job_id: str) -> str:
        """``Open``, ``Closed``, ``Aborted`` or ``Failed``."""
        return _text(ElementTree.fromstring(self._call("GET", f"job/{job_id}").content), "state")

    def abort_job(self, job_id: str) -> None:
        self._set_state(job_id, "Aborted")

    def batch_info(self, job_id: str, batch_id: str) -> BatchInfo:
        return BatchInfo.from_xml(self._call("GET", f"job/{job_id}/batch/{batch_id}").content)

    def list_batches(self, job_id: str) -> list[BatchInfo]:
        """Every batch of the job, in the order they were added."""
        root = ElementTree.fromstring(self._call("GET", f"job/{job_id}/batch").content)
        return [BatchInfo.from_element(element) for element in root.findall(f"{{{_NS}}}batchInfo")]

    def wait_batch(
        self,
        job_id: str,
        batch_id: str,
        schedule: PollSchedule | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> BatchInfo:
        """Poll until the batch is ``Completed``, ``Failed`` or ``NotProcessed``.

        Raises:
            BatchFailedError: When the batch ends ``Failed``, quoting Salesforce's ``stateMessage``.
            TimeoutError: When ``schedule.timeout`` passes first.
        """
        info = (schedule or PollSchedule()).until(
            lambda: self.batch_info(job_id, batch_id),
            lambda info: info.state,
            lambda info: info.done,
            f"Salesforce batch {batch_id}",
            sleep=sleep,
        )
        if info.state == "Failed":
            raise BatchFailedError(job_id, batch_id, info.state_message or "no stateMessage given")
        return info

    def batch_results(self, job_id: str, batch_id: str, sink: Callable[[bytes], object]) -> int:
        """Stream the batch's ``Id,Success,Created,Error`` CSV, one line per input row in input order.

        ``sink`` is called with ``b""`` before each attempt: a download cut short starts over.
        """
        return self.transport.download(f"job/{job_id}/batch/{batch_id}/result", sink, api="async")

    def batch_request(self, job_id: str, batch_id: str, sink: Callable[[bytes], object]) -> int:
        """Stream the batch's data as it was added; ``sink`` is reset with ``b""`` as for :meth:`batch_results`."""
        return self.transport.download(f"job/{job_id}/batch/{batch_id}/request", sink, api="async")

    def _set_state(self, job_id: str, state: str) -> None:
        body = f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{_NS}"><state>{state}</state></jobInfo>'
        self._call("POST", f"job/{job_id}", body.encode(), "application/xml; charset=UTF-8")

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes] | None = None,
        content_type: str | None = None,
        *,
        expected: tuple[int, ...] = (200,),
        retry: bool = True,
    ) -> requests.Response:
        headers = {"Content-Type": content_type} if content_type else None
        return self.transport.call(
            method, path, body=body, headers=headers, expected=expected, api="async", retry=retry
        )


def _text(root: ElementTree.Element, name: str) -> str:
    element = root.find(f"{{{_NS}}}{name}")
    return (element.text or "").strip() if element is not None else ""
