"""A small Salesforce Bulk API 2.0 client: login, ingest jobs, results, describe.

It depends only on ``requests`` (and ``cryptography``/``pyjwt`` for JWT bearer logins), so it runs anywhere
a Spark executor runs. The Spark data source in :mod:`sf_assets.spark` is built on it.
"""

from __future__ import annotations

from .auth import Credentials, OrgSession, login
from .describe import FieldInfo, ObjectDescribe
from .errors import ApiError, AuthenticationError, JobFailedError, SalesforceError
from .ingest import IngestClient, JobInfo, JobSpec
from .transport import RetryPolicy, Transport

__all__ = [
    "ApiError",
    "AuthenticationError",
    "Credentials",
    "FieldInfo",
    "IngestClient",
    "JobFailedError",
    "JobInfo",
    "JobSpec",
    "ObjectDescribe",
    "OrgSession",
    "RetryPolicy",
    "SalesforceError",
    "Transport",
    "login",
]
