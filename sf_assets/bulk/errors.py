"""Errors raised by the Bulk API client. None of them ever carries a credential."""

from __future__ import annotations


class SalesforceError(Exception):
    """Base class of everything this client raises about Salesforce."""


class AuthenticationError(SalesforceError):
    """A login was refused (wrong credentials, unknown client, bad JWT)."""


class ApiError(SalesforceError):
    """Salesforce answered a call with an error status.

    Attributes:
        status: The HTTP status code.
        code: Salesforce's ``errorCode`` (for example ``INVALIDJOBSTATE``), or ``""`` when the body had none.
        message: Salesforce's ``message``, or the start of the body.
        method: The HTTP method of the call.
        path: The path of the call, without host or query.
    """

    def __init__(self, status: int, code: str, message: str, *, method: str, path: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        detail = f"{code}: {message}" if code else message
        super().__init__(f"{method} {path} failed with HTTP {status}: {detail}")


class JobFailedError(SalesforceError):
    """An ingest job ended in the ``Failed`` state; ``error_message`` is Salesforce's ``errorMessage``."""

    def __init__(self, job_id: str, error_message: str) -> None:
        self.job_id = job_id
        self.error_message = error_message
        super().__init__(f"Salesforce job {job_id} failed: {error_message}")
