"""The local org: a real HTTPS server speaking Salesforce's auth, REST and Bulk API 2.0 protocols.

Examples:
    >>> with LocalOrg(OrgConfig(data_dir=tmp_path)) as org:
    ...     sf = simple_salesforce.Salesforce(instance_url=org.instance_url,
    ...                                       session_id=org.new_session(), session=org.requests_session())
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import auth, bulk1_api, bulk2_api, ids, login_api, operator_api, rest_api
from .bulk1_jobs import Bulk1Service
from .bulk1_processing import Bulk1Processor
from .dml import Engine
from .errors import ApiError, not_found
from .faults import OPERATOR_PREFIX, FaultInjector
from .http import HttpsServer, Request, Response, Router, serve
from .ingest import IngestService
from .limits import Limits
from .processing import ProcessingModel, Processor
from .rest_api import SUPPORTED_VERSIONS
from .schema import Schema
from .store import Store
from .tls import ensure_tls

log = logging.getLogger(__name__)
DEFAULT_API_VERSION = "59.0"
_VERSIONED = re.compile(r"^/services/(?:data|async)/v(\d+\.\d)(?:/|$)", re.IGNORECASE)


@dataclass(frozen=True)
class OrgConfig:
    """How to run a local org.

    Attributes:
        data_dir: Where the org keeps its SQLite data, CA, job files and ``connection.json``.
        host: Loopback address to bind.
        port: Port to bind; 0 picks a free one.
        api_version: The version written to ``connection.json`` for clients to use.
        session_ttl: Seconds of inactivity after which an access token expires.
        schema_file: A user schema file adding objects and fields.
        processing: How fast ingest jobs are processed.
        limits: Overrides of daily allocation maxima, by ``/limits`` name.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    api_version: str = DEFAULT_API_VERSION
    session_ttl: float = 7200.0
    schema_file: Path | None = None
    processing: ProcessingModel = field(default_factory=ProcessingModel)
    limits: Mapping[str, int] = field(default_factory=dict)


class LocalOrg:
    """A running local Salesforce org. Use as a context manager, or call ``start()``/``stop()``."""

    def __init__(self, config: OrgConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.schema = Schema.load(config.schema_file)
        self.store = Store(self.data_dir / "org.sqlite3", self.schema)
        self.ids = ids.IdGenerator(self.store.reserve_ids)
        self.identity = self._load_identity()
        self.sessions = auth.SessionRegistry(
            self.identity.org_id, self.identity.user_id, ttl_seconds=config.session_ttl
        )
        self.limits = Limits(config.limits)
        self.engine = Engine(self.store, self.ids, self.identity.user_id)
        self.ingest = IngestService(self.data_dir, self.store, self.schema, self.ids, self.identity.user_id)
        self.processor = Processor(self.ingest, self.engine, self.limits, config.processing)
        self.bulk1 = Bulk1Service(self.data_dir, self.schema, self.ids, self.identity.user_id, self.limits)
        # Bulk API 1.0 batches follow the same processing model, read live as the operator changes it.
        self.bulk1_processor = Bulk1Processor(
            self.bulk1, self.engine, lambda: self.processor.model, locker=self.processor
        )
        self.faults = FaultInjector(self, _bearer)
        self.tls = ensure_tls(self.data_dir)
        self.router = Router()
        self.counters: dict[str, int] = {"requests": 0, "api_requests": 0, "logins": 0}
        self._counter_lock = threading.Lock()
        for module in (login_api, rest_api, bulk2_api, bulk1_api, operator_api):
            module.register(self.router, self)
        self._server: HttpsServer | None = None

    # -- identity ------------------------------------------------------------------------------------

    def _load_identity(self) -> auth.OrgIdentity:
        """The org's user and connected app, created on first start and kept across restarts."""
        stored = self.store.get_meta("identity")
        key_file = self.data_dir / "jwt-private-key.pem"
        if stored is None or not key_file.exists():
            org_id = self.ids.new("00D")
            user_id = self.ids.new("005")
            identity, private_key = auth.new_identity(org_id, user_id)
            key_file.write_bytes(private_key)
            key_file.chmod(0o600)
            stored = {
                "org_id": identity.org_id,
                "user_id": identity.user_id,
                "username": identity.username,
                "password": identity.password,
                "security_token": identity.security_token,
                "client_id": identity.client_id,
                "client_secret": identity.client_secret,
                "jwt_certificate_pem": identity.jwt_certificate_pem.decode(),
            }
            self.store.set_meta("identity", stored)
        return auth.OrgIdentity(**{**stored, "jwt_certificate_pem": stored["jwt_certificate_pem"].encode()})

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> LocalOrg:
        self._server = HttpsServer((self.config.host, self.config.port), self, self.tls.server_context())
        self.processor.start()
        self.bulk1_processor.start()
        serve(self._server)
        connection = self.connection()
        path = self.data_dir / "connection.json"
        path.write_text(json.dumps(connection, indent=2) + "\n")
        path.chmod(0o600)
        log.info("local org listening at %s", self.instance_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.processor.stop()
        self.bulk1_processor.stop()
        self.store.close()

    def __enter__(self) -> LocalOrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the org is not running")
        return int(self._server.server_address[1])

    @property
    def instance_url(self) -> str:
        return f"https://{self.config.host}:{self.port}"

    def connection(self) -> dict[str, Any]:
        """Everything a client needs to connect, as written to ``connection.json``."""
        return {
            "instance_url": self.instance_url,
            "ca_file": str(self.tls.ca_file),
            "username": self.identity.username,
            "password": self.identity.password,
            "security_token": self.identity.security_token,
            "client_id": self.identity.client_id,
            "client_secret": self.identity.client_secret,
            "jwt_private_key_file": str(self.data_dir / "jwt-private-key.pem"),
            "api_version": self.config.api_version,
            "org_id": self.identity.org_id,
            "user_id": self.identity.user_id,
        }

    def new_session(self) -> str:
        """Issues an access token directly, as if the user had logged in."""
        return self.sessions.issue().token

    def requests_session(self) -> Any:
        """A ``requests.Session`` that trusts the org's CA whatever REQUESTS_CA_BUNDLE says."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.tls.ca_file)
        return session

    # -- request pipeline ----------------------------------------------------------------------------

    def count(self, name: str) -> None:
        # Connections run on their own threads; += on a shared dict would lose counts.
        with self._counter_lock:
            self.counters[name] += 1

    def __call__(self, request: Request) -> Response:
        if bulk1_api.owns(request):
            # Bulk API 1.0 answers every error, authentication included, in its own XML or JSON shape.
            return bulk1_api.guard(request, lambda r: self.faults(r, self._serve))
        return self.faults(request, self._serve)

    def _serve(self, request: Request) -> Response:
        self.count("requests")
        versioned = _VERSIONED.match(request.path)
        if versioned and versioned.group(1) not in SUPPORTED_VERSIONS:
            raise not_found()
        request.context["version"] = versioned.group(1) if versioned else self.config.api_version
        handler = self.router.resolve(request)
        if getattr(handler, "public", False):
            return handler(request)
        token = _bearer(request)
        self.sessions.validate(token)
        # An operator call is never refused for quota, so a test can always restore what it exhausted.
        if not self.limits.consume("DailyApiRequests") and not request.path.startswith(OPERATOR_PREFIX):
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.count("api_requests")
        try:
            response = handler(request)
        except ApiError as error:
            response = Response.error(error)
        response.headers.setdefault("Sforce-Limit-Info", self.limits.usage_header())
        return response


def _bearer(request: Request) -> str | None:
    value = request.header("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token:
        return token.strip()
    return request.header("X-SFDC-Session")
