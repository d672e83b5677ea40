"""Authentication for the emulated org: SOAP login, the OAuth 2.0 token endpoint and access tokens.

Pure logic with no HTTP: the server's route handlers pass request bodies in and send the returned
status and body back. The shapes follow what simple-salesforce sends and reads (see
``simple_salesforce/login.py``) and the responses recorded from real orgs.

Secrets (passwords, security tokens, client secrets, access tokens, private keys) never appear in a
repr, an exception message or a response body, and are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import math
import secrets
import string
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from xml.parsers import expat
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from sf_assets.emulator import ids
from sf_assets.emulator.errors import invalid_session

DEFAULT_USERNAME = "integration@sf-assets.local"
DEFAULT_SESSION_TTL_SECONDS = 7200.0

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce wants the assertion's exp "within three minutes"; the skew absorbs clients that round
# exp up (simple-salesforce formats now+3min with %.0f) and small clock differences.
JWT_MAX_LIFETIME_SECONDS = 180.0
JWT_CLOCK_SKEW_SECONDS = 30.0

SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
ENTERPRISE_NS = "urn:enterprise.soap.sforce.com"
_FAULT_NS = {
    PARTNER_NS: "urn:fault.partner.soap.sforce.com",
    ENTERPRISE_NS: "urn:fault.enterprise.soap.sforce.com",
}
# The partner API lives under /services/Soap/u, the enterprise API under /services/Soap/c.
_SOAP_PATH_LETTER = {PARTNER_NS: "u", ENTERPRISE_NS: "c"}

INVALID_LOGIN_MESSAGE = "Invalid username, password, security token; or user locked out."

# Profile and display values for userInfo; simple-salesforce ignores them but other clients log them.
ORGANIZATION_NAME = "sf-assets local org"
USER_FULL_NAME = "Integration User"

_ALPHANUMERIC = string.ascii_letters + string.digits
# Real access tokens and consumer keys use these characters; none of them needs XML or URL escaping,
# which matters because simple-salesforce extracts sessionId from the raw XML text.
_TOKEN_ALPHABET = _ALPHANUMERIC + "._"
_ACCESS_TOKEN_RANDOM_LENGTH = 96


def _random_string(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgIdentity:
    """Who the org is: its ids, its one API user's credentials and its connected app.

    Attributes:
        org_id: 18-character organization id (``00D`` prefix).
        user_id: 18-character id of the API user (``005`` prefix).
        username: The API user's username.
        password: The API user's password.
        security_token: Appended to the password by API logins, as Salesforce requires from
            untrusted networks.
        client_id: The connected app's consumer key.
        client_secret: The connected app's consumer secret.
        jwt_certificate_pem: The connected app's certificate; JWT bearer assertions must be
            RS256-signed with the matching private key.
    """

    org_id: str
    user_id: str
    username: str
    password: str = field(repr=False)
    security_token: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)
    # Not secret, but a kilobyte of PEM makes every repr unreadable.
    jwt_certificate_pem: bytes = field(repr=False)


def new_identity(org_id: str, user_id: str, username: str = DEFAULT_USERNAME) -> tuple[OrgIdentity, bytes]:
    """Creates an identity with fresh random credentials and a connected-app key pair.

    Args:
        org_id: The org's id, 15 or 18 characters, ``00D`` prefix.
        user_id: The API user's id, 15 or 18 characters, ``005`` prefix.
        username: The API user's username.

    Returns:
        The identity (ids normalized to 18 characters) and the PEM (PKCS#8, unencrypted) of the
        private key that signs JWT bearer assertions. The org keeps the key in its data directory
        so local users can sign JWTs; the identity only holds the certificate.

    Raises:
        ValueError: If an id is malformed or has the wrong key prefix.
    """
    org_id = _checked_id(org_id, "00D", "org_id")
    user_id = _checked_id(user_id, "005", "user_id")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    identity = OrgIdentity(
        org_id=org_id,
        user_id=user_id,
        username=username,
        password=_new_password(),
        # Real security tokens are 24-25 alphanumerics; letters and digits only because
        # simple-salesforce appends the token to the SOAP body without escaping it.
        security_token=_random_string(_ALPHANUMERIC, 25),
        # Real consumer keys start with 3MVG9 and run to about 85 characters.
        client_id="3MVG9" + _random_string(_TOKEN_ALPHABET, 80),
        client_secret=secrets.token_hex(32).upper(),
        jwt_certificate_pem=_self_signed_certificate(key).public_bytes(serialization.Encoding.PEM),
    )
    private_key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return identity, private_key_pem


def _checked_id(value: str, prefix: str, name: str) -> str:
    normalized = ids.normalize(value)
    if normalized is None or not normalized.startswith(prefix):
        raise ValueError(f"{name} must be a 15- or 18-character Salesforce id starting with {prefix}")
    return normalized


def _new_password() -> str:
    # Salesforce's default password policy wants letters and digits mixed.
    while True:
        candidate = _random_string(_ALPHANUMERIC, 20)
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "sf-assets local connected app"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION_NAME),
        ]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so a verifier with a slow clock does not see it as not yet valid.
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


@dataclass
class Session:
    """One access token and when it was issued and last used (clock seconds)."""

    token: str = field(repr=False)
    user_id: str
    issued_at: float
    last_used: float


class SessionRegistry:
    """The org's access tokens.

    Tokens look like Salesforce's (the org id's first 15 characters, ``!``, random characters).
    A session expires after ``ttl_seconds`` without use; every successful ``validate`` restarts
    that clock, like Salesforce's idle session timeout. Sessions can be revoked singly or all at
    once. Thread-safe: the server validates tokens from many request threads at once.

    Args:
        org_id: The org's id; its first 15 characters prefix every token, as on Salesforce.
        user_id: The user every session belongs to.
        ttl_seconds: Idle timeout. Settable at run time; a change applies to existing sessions.
        clock: Returns the current time in seconds; tests pass a fake one.
    """

    def __init__(
        self,
        org_id: str,
        user_id: str,
        ttl_seconds: float = DEFAULT_SESSION_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._org_id = org_id
        self._user_id = user_id
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self.ttl_seconds = ttl_seconds

    @property
    def ttl_seconds(self) -> float:
        """Seconds of inactivity after which a session expires."""
        return self._ttl_seconds

    @ttl_seconds.setter
    def ttl_seconds(self, value: float) -> None:
        if not value > 0:
            raise ValueError("ttl_seconds must be positive")
        self._ttl_seconds = float(value)

    def now(self) -> float:
        """Returns the registry clock's current time, so callers judge time the same way."""
        return self._clock()

    def issue(self) -> Session:
        """Creates a session with a fresh access token.

        Returns:
            A snapshot of the new session.
        """
        now = self._clock()
        token = f"{self._org_id[:15]}!AQ{_random_string(_TOKEN_ALPHABET, _ACCESS_TOKEN_RANDOM_LENGTH)}"
        session = Session(token=token, user_id=self._user_id, issued_at=now, last_used=now)
        with self._lock:
            # Sweeping here keeps abandoned sessions from piling up without a background thread.
            self._purge_locked(now)
            self._sessions[token] = session
            return replace(session)

    def validate(self, token: str | None) -> Session:
        """Checks an access token and marks its session as used now.

        Args:
            token: The bare token (without ``Bearer``), or None if the request had none.

        Returns:
            A snapshot of the session after the update.

        Raises:
            ApiError: 401 ``INVALID_SESSION_ID`` if the token is missing, unknown, expired or
                revoked.
        """
        if not token:
            raise invalid_session()
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                raise invalid_session()
            if self._expired(session, now):
                del self._sessions[token]
                raise invalid_session()
            # max() keeps a clock that steps backwards from shortening a session's life.
            session.last_used = max(session.last_used, now)
            return replace(session)

    def revoke(self, token: str) -> bool:
        """Ends one session.

        Returns:
            True if the token named a live session.
        """
        now = self._clock()
        with self._lock:
            session = self._sessions.pop(token, None)
            return session is not None and not self._expired(session, now)

    def revoke_all(self) -> int:
        """Ends every session.

        Returns:
            How many live sessions were ended.
        """
        now = self._clock()
        with self._lock:
            live = sum(1 for session in self._sessions.values() if not self._expired(session, now))
            self._sessions.clear()
            return live

    def purge_expired(self) -> int:
        """Forgets expired sessions.

        Returns:
            How many were forgotten.
        """
        with self._lock:
            return self._purge_locked(self._clock())

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_used >= self._ttl_seconds

    def _purge_locked(self, now: float) -> int:
        expired = [token for token, session in self._sessions.items() if self._expired(session, now)]
        for token in expired:
            del self._sessions[token]
        return len(expired)


# ---------------------------------------------------------------------------------------------
# SOAP login
# ---------------------------------------------------------------------------------------------


class _SoapClientError(Exception):
    """A request the SOAP layer rejects before any Salesforce logic runs."""

    def __init__(self, faultcode: str, faultstring: str) -> None:
        super().__init__(faultstring)
        self.faultcode = faultcode
        self.faultstring = faultstring


def soap_login(
    body: bytes,
    identity: OrgIdentity,
    sessions: SessionRegistry,
    *,
    instance_url: str,
    api_version: str,
) -> tuple[int, bytes]:
    """Answers ``POST /services/Soap/u/{version}`` (partner) or ``/services/Soap/c/{version}`` (enterprise).

    Args:
        body: The request body: a SOAP 1.1 envelope holding a ``login`` call in the partner or
            enterprise namespace, with the password followed by the security token.
        identity: The org and its API user.
        sessions: Where the new session is registered.
        instance_url: The server's base URL, ``https://host:port``; clients take the instance
            from ``serverUrl``.
        api_version: The version from the request path, e.g. ``59.0``.

    Returns:
        ``(200, loginResponse XML)`` on success; ``(500, INVALID_LOGIN fault)`` for wrong
        credentials; ``(500, soapenv:Client or soapenv:VersionMismatch fault)`` for a request
        that is not a well-formed SOAP 1.1 login.
    """
    try:
        namespace, username, password = _parse_login_request(body)
    except _SoapClientError as fault:
        return 500, _soap_fault(fault.faultcode, fault.faultstring)
    if not _credentials_match(identity, username, password):
        return 500, _invalid_login_fault(_FAULT_NS[namespace])
    session = sessions.issue()
    return 200, _login_response(
        namespace,
        identity,
        session,
        instance_url=instance_url.rstrip("/"),
        api_version=api_version,
        session_seconds_valid=round(sessions.ttl_seconds),
    )


def _parse_login_request(body: bytes) -> tuple[str, str, str]:
    """Returns the login call's namespace, username and password (with token appended)."""
    root = _parse_xml(body)
    namespace, local_name = _split_tag(root.tag)
    if local_name != "Envelope":
        raise _SoapClientError("soapenv:Client", "The root element of a SOAP message must be Envelope")
    if namespace != SOAP_ENVELOPE_NS:
        # SOAP 1.1 section 4.4.1: an Envelope in any other namespace is a version mismatch.
        raise _SoapClientError("soapenv:VersionMismatch", "Only SOAP 1.1 envelopes are supported")
    soap_body = root.find(f"{{{SOAP_ENVELOPE_NS}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise _SoapClientError("soapenv:Client", "The SOAP Envelope has no Body or the Body is empty")
    call = soap_body[0]
    namespace, operation = _split_tag(call.tag)
    if operation != "login" or namespace not in _FAULT_NS:
        raise _SoapClientError(
            "soapenv:Client",
            f"No operation available for request {{{namespace}}}{operation}",
        )
    username = call.findtext(f"{{{namespace}}}username") or ""
    password = call.findtext(f"{{{namespace}}}password") or ""
    return namespace, username.strip(), password


def _parse_xml(body: bytes) -> ET.Element:
    guard = expat.ParserCreate()

    def reject_doctype(*_args: object) -> None:
        # SOAP 1.1 section 3 forbids a DTD, and refusing one rules out entity-expansion attacks.
        raise _SoapClientError("soapenv:Client", "A SOAP message must not contain a Document Type Declaration")

    guard.StartDoctypeDeclHandler = reject_doctype
    try:
        guard.Parse(body, True)
        return ET.fromstring(body)
    except (expat.ExpatError, ET.ParseError) as exc:
        # Only the position is reported: the body carries a password.
        line, column = getattr(exc, "position", (getattr(exc, "lineno", 0), getattr(exc, "offset", 0)))
        raise _SoapClientError(
            "soapenv:Client", f"Malformed XML in the request at line {line}, column {column}"
        ) from None


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local_name = tag[1:].partition("}")
        return namespace, local_name
    return "", tag


def _soap_fault(faultcode: str, faultstring: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>{escape(faultcode)}</faultcode>"
        f"<faultstring>{escape(faultstring)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _invalid_login_fault(fault_namespace: str) -> bytes:
    # Byte for byte the recorded fault, apart from the sf namespace, which follows the endpoint.
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}" xmlns:sf="{fault_namespace}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        "<faultcode>sf:INVALID_LOGIN</faultcode>"
        f"<faultstring>INVALID_LOGIN: {INVALID_LOGIN_MESSAGE}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
        f"<sf:exceptionMessage>{INVALID_LOGIN_MESSAGE}</sf:exceptionMessage>"
        "</sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _login_response(
    namespace: str,
    identity: OrgIdentity,
    session: Session,
    *,
    instance_url: str,
    api_version: str,
    session_seconds_valid: int,
) -> bytes:
    org15 = identity.org_id[:15]
    letter = _SOAP_PATH_LETTER[namespace]
    user_info = [
        ("accessibilityMode", "false"),
        ("currencySymbol", "$"),
        ("orgAttachmentFileSizeLimit", "5242880"),
        ("orgDefaultCurrencyIsoCode", "USD"),
        ("orgDisallowHtmlAttachments", "false"),
        ("orgHasPersonAccounts", "false"),
        ("organizationId", identity.org_id),
        ("organizationMultiCurrency", "false"),
        ("organizationName", ORGANIZATION_NAME),
        ("profileId", _profile_id(identity.org_id)),
        ("roleId", None),
        ("sessionSecondsValid", str(session_seconds_valid)),
        ("userDefaultCurrencyIsoCode", None),
        ("userEmail", identity.username),
        ("userFullName", USER_FULL_NAME),
        ("userId", identity.user_id),
        ("userLanguage", "en_US"),
        ("userLocale", "en_US"),
        ("userName", identity.username),
        ("userTimeZone", "America/Los_Angeles"),
        ("userType", "Standard"),
        ("userUiSkin", "Theme3"),
    ]
    result = [
        ("metadataServerUrl", f"{instance_url}/services/Soap/m/{api_version}/{org15}"),
        ("passwordExpired", "false"),
        ("sandbox", "false"),
        ("serverUrl", f"{instance_url}/services/Soap/{letter}/{api_version}/{org15}"),
        ("sessionId", session.token),
        ("userId", identity.user_id),
    ]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}" xmlns="{namespace}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        ),
        "   <soapenv:Body>",
        "      <loginResponse>",
        "         <result>",
        *(_xml_element(name, value, indent=12) for name, value in result),
        "            <userInfo>",
        *(_xml_element(name, value, indent=15) for name, value in user_info),
        "            </userInfo>",
        "         </result>",
        "      </loginResponse>",
        "   </soapenv:Body>",
        "</soapenv:Envelope>",
    ]
    return ("\n".join(lines) + "\n").encode()


def _xml_element(name: str, value: str | None, *, indent: int) -> str:
    pad = " " * indent
    if value is None:
        return f'{pad}<{name} xsi:nil="true" />'
    return f"{pad}<{name}>{escape(value)}</{name}>"


def _profile_id(org_id: str) -> str:
    # Derived from the org id so it is stable across restarts without being stored.
    body = "00e" + org_id[3:15]
    return body + ids.checksum(body)


def _credentials_match(identity: OrgIdentity, username: str, password_and_token: str) -> bool:
    # Salesforce usernames are case-insensitive. Both comparisons always run so the timing does
    # not reveal whether the username exists.
    username_ok = _same_secret(username.casefold(), identity.username.casefold())
    password_ok = _same_secret(password_and_token, identity.password + identity.security_token)
    return username_ok & password_ok


# ---------------------------------------------------------------------------------------------
# OAuth 2.0 token endpoint
# ---------------------------------------------------------------------------------------------


class _OAuthError(Exception):
    """An RFC 6749 error response; carries only the public error code and description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def _invalid_client_id() -> _OAuthError:
    return _OAuthError("invalid_client_id", "client identifier invalid")


def _invalid_client() -> _OAuthError:
    return _OAuthError("invalid_client", "invalid client credentials")


def _invalid_assertion() -> _OAuthError:
    return _OAuthError("invalid_grant", "invalid assertion")


def oauth_token(
    form: Mapping[str, str],
    authorization: str | None,
    identity: OrgIdentity,
    sessions: SessionRegistry,
    *,
    instance_url: str,
    audiences: Iterable[str],
) -> tuple[int, dict[str, object]]:
    """Answers ``POST /services/oauth2/token``.

    Supports the ``password``, ``client_credentials`` and JWT bearer
    (``urn:ietf:params:oauth:grant-type:jwt-bearer``) grants. Client credentials come from the
    form (``client_id``/``client_secret``) or, failing that, an ``Authorization: Basic`` header.

    Args:
        form: The decoded ``application/x-www-form-urlencoded`` body.
        authorization: The request's ``Authorization`` header, if any.
        identity: The org, its API user and its connected app.
        sessions: Where the new session is registered; its clock also judges JWT expiry.
        instance_url: The server's base URL, ``https://host:port``; returned as ``instance_url``.
        audiences: The ``aud`` values a JWT assertion may carry (compared without a trailing
            slash and case-insensitively).

    Returns:
        ``(200, token response)`` or ``(400, {"error": ..., "error_description": ...})``.
    """
    instance_url = instance_url.rstrip("/")
    grant_type = form.get("grant_type", "")
    try:
        if grant_type == "password":
            _check_client(identity, *_client_credentials(form, authorization))
            username = form.get("username", "")
            if not _credentials_match(identity, username.strip(), form.get("password", "")):
                raise _OAuthError("invalid_grant", "authentication failure")
            return 200, _token_response(identity, sessions.issue(), instance_url, signed=True)
        if grant_type == "client_credentials":
            _check_client(identity, *_client_credentials(form, authorization))
            return 200, _token_response(identity, sessions.issue(), instance_url, signed=True)
        if grant_type == JWT_BEARER_GRANT:
            _check_assertion(form.get("assertion", ""), identity, sessions.now(), audiences)
            return 200, _token_response(identity, sessions.issue(), instance_url, signed=False)
        raise _OAuthError("unsupported_grant_type", "grant type not supported")
    except _OAuthError as error:
        return 400, {"error": error.error, "error_description": error.description}


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str | None]:
    if form.get("client_id"):
        return form["client_id"], form.get("client_secret")
    if not authorization:
        return "", None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return "", None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client() from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise _invalid_client()
    # simple-salesforce sends the id and secret raw, not form-encoded as RFC 6749 2.3.1 suggests;
    # generated credentials contain nothing that the two conventions would encode differently.
    return client_id, client_secret


def _check_client(identity: OrgIdentity, client_id: str, client_secret: str | None) -> None:
    if not client_id or not _same_secret(client_id, identity.client_id):
        raise _invalid_client_id()
    if client_secret is None or not _same_secret(client_secret, identity.client_secret):
        raise _invalid_client()


def _check_assertion(assertion: str, identity: OrgIdentity, now: float, audiences: Iterable[str]) -> None:
    # Error descriptions are the ones Salesforce is widely reported to return for each problem.
    if not assertion:
        raise _invalid_assertion()
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _invalid_assertion() from None
    if header.get("alg") != "RS256":
        raise _invalid_assertion()
    # The issuer names the connected app, whose certificate verifies the signature, so it is
    # checked first.
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not _same_secret(issuer, identity.client_id):
        raise _invalid_client_id()
    try:
        jwt.decode(
            assertion,
            key=_certificate_public_key(identity.jwt_certificate_pem),
            algorithms=["RS256"],
            # Claims are checked below: simple-salesforce sends exp as a string, which PyJWT
            # rejects, and expiry must follow the registry's clock.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.PyJWTError:
        raise _invalid_assertion() from None
    if not _audience_allowed(claims.get("aud"), audiences):
        raise _OAuthError("invalid_grant", "audience is invalid")
    expires = _numeric_date(claims.get("exp"))
    if expires is None:
        raise _invalid_assertion()
    # Salesforce answers both a stale exp and one too far ahead (e.g. in milliseconds) this way.
    if expires <= now or expires > now + JWT_MAX_LIFETIME_SECONDS + JWT_CLOCK_SKEW_SECONDS:
        raise _OAuthError("invalid_grant", "expired authorization code")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not _same_secret(subject.casefold(), identity.username.casefold()):
        raise _OAuthError("invalid_grant", "user hasn't approved this consumer")


@functools.lru_cache(maxsize=8)
def _certificate_public_key(certificate_pem: bytes) -> PublicKeyTypes:
    return x509.load_pem_x509_certificate(certificate_pem).public_key()


def _audience_allowed(audience: object, audiences: Iterable[str]) -> bool:
    allowed = {_normalize_url(url) for url in audiences}
    # RFC 7519 4.1.3: aud is a string or an array of strings.
    candidates = audience if isinstance(audience, list) else [audience]
    return any(isinstance(value, str) and _normalize_url(value) in allowed for value in candidates)


def _normalize_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _numeric_date(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _token_response(identity: OrgIdentity, session: Session, instance_url: str, *, signed: bool) -> dict[str, object]:
    identity_url = f"{instance_url}/id/{identity.org_id}/{identity.user_id}"
    response: dict[str, object] = {"access_token": session.token}
    if signed:
        issued_at = str(int(session.issued_at * 1000))
        # Salesforce signs id + issued_at with the consumer secret so the client can verify both.
        digest = hmac.new(identity.client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
        response["signature"] = base64.b64encode(digest).decode()
        response["issued_at"] = issued_at
    response.update({"scope": "api", "instance_url": instance_url, "id": identity_url, "token_type": "Bearer"})
    return response
