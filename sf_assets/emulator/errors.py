"""API errors as Salesforce reports them: an HTTP status and a JSON array of error objects."""

from __future__ import annotations

import json


class ApiError(Exception):
    """An error answered as ``[{"errorCode": ..., "message": ...}]`` with an HTTP status.

    Args:
        status: HTTP status code.
        error_code: Salesforce's errorCode (``NOT_FOUND``, ``INVALIDJOBSTATE``, ...).
        message: Salesforce's message text.
        fields: For REST sObject errors, the fields the error is about.
        headers: Extra response headers (``WWW-Authenticate`` on 401).
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> bytes:
        error: dict[str, object] = {"errorCode": self.error_code, "message": self.message}
        if self.fields is not None:
            error["fields"] = self.fields
        return json.dumps([error]).encode()


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    return ApiError(
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
        headers={"WWW-Authenticate": "Token"},
    )


def bad_request(error_code: str, message: str) -> ApiError:
    return ApiError(400, error_code, message)
