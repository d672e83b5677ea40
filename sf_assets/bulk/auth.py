"""Logging in to Salesforce: SOAP, OAuth (password, client credentials, JWT bearer) or a ready session.

Every method ends in an :class:`OrgSession`: an access token plus the instance URL to call. Secrets live in
:class:`Credentials` fields that are left out of ``repr``, and no error message ever quotes one.

Examples:
    >>> credentials = Credentials(username="me@example.com", password="pw", security_token="tok")
    >>> org = login(requests.Session(), credentials)
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from .errors import AuthenticationError

if TYPE_CHECKING:
    import requests

DEFAULT_API_VERSION = "59.0"
_PARTNER_NS = "urn:partner.soap.sforce.com"
_JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_LOGIN_TIMEOUT = (10.0, 60.0)


@dataclass(frozen=True)
class OrgSession:
    """An authenticated session: where to send calls and the token to send.

    Attributes:
        instance_url: The org's base URL, e.g. ``https://acme.my.salesforce.com``.
        access_token: The session id / OAuth access token (never shown in ``repr``).
    """

    instance_url: str
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class Credentials:
    """How to log in to an org; exactly one method must be complete.

    The method is chosen from what is set: ``session_id`` (with ``instance_url``) uses a ready session; a
    ``jwt_private_key`` signs a JWT bearer assertion for ``username`` with ``client_id``; ``client_id`` and
    ``client_secret`` without a username use the client-credentials flow, and with ``username``/``password``
    the OAuth password flow; ``username``, ``password`` and ``security_token`` alone use the SOAP login.

    Attributes:
        username: The Salesforce username.
        password: The user's password.
        security_token: The user's security token, appended to the password.
        client_id: The connected app's consumer key.
        client_secret: The connected app's consumer secret.
        jwt_private_key: PEM text of the key whose certificate the connected app holds.
        session_id: A ready access token (needs ``instance_url``).
        instance_url: The org's URL. When set, logins go there (My Domain) rather than to ``domain``.
        domain: ``login`` (production), ``test`` (sandbox) or a My Domain prefix such as ``acme.my``.
        api_version: The REST API version, e.g. ``59.0``.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    jwt_private_key: str | None = field(default=None, repr=False)
    session_id: str | None = field(default=None, repr=False)
    instance_url: str | None = None
    domain: str = "login"
    api_version: str = DEFAULT_API_VERSION

    @property
    def method(self) -> str:
        """The login method these credentials select: ``session``, ``jwt``, ``client_credentials``,
        ``oauth_password`` or ``soap``.

        Raises:
            ValueError: When no method is complete, or when more than one is given.
        """
        chosen = []
        if self.session_id:
            chosen.append("session")
        if self.jwt_private_key:
            chosen.append("jwt")
        if self.client_secret:
            chosen.append("oauth_password" if self.password else "client_credentials")
        elif self.password:
            chosen.append("soap")
        if len(chosen) > 1:
            raise ValueError(
                f"conflicting login options: they select {' and '.join(chosen)}; give the options of one method only"
            )
        if not chosen:
            raise ValueError(
                "no login options: give username + password (+ security_token), client_id + client_secret, "
                "username + client_id + a JWT private key, or session_id + instance_url"
            )
        method = chosen[0]
        missing = [name for name in _REQUIRED[method] if not getattr(self, name)]
        if missing:
            raise ValueError(f"login by {_DESCRIPTION[method]} needs {', '.join(missing)}")
        return method

    @property
    def login_url(self) -> str:
        """Where logins go: the instance URL when known, else ``https://{domain}.salesforce.com``."""
        if self.instance_url:
            return self.instance_url.rstrip("/")
        return f"https://{self.domain}.salesforce.com"


_REQUIRED: dict[str, tuple[str, ...]] = {
    "session": ("session_id", "instance_url"),
    "jwt": ("username", "client_id"),
    "client_credentials": ("client_id",),
    "oauth_password": ("username", "client_id"),
    "soap": ("username",),
}
_DESCRIPTION = {
    "session": "session id",
    "jwt": "JWT bearer",
    "client_credentials": "OAuth client credentials",
    "oauth_password": "OAuth username-password",
    "soap": "username and password",
}


def login(http: requests.Session, credentials: Credentials, *, verify: bool | str = True) -> OrgSession:
    """Log in once with whichever method ``credentials`` select.

    Args:
        http: The session to send the login with.
        credentials: What to log in with.
        verify: ``True`` or the path of a CA bundle to trust, passed per request so that
            ``REQUESTS_CA_BUNDLE`` in the environment cannot override it.

    Raises:
        AuthenticationError: When Salesforce refuses the login.
        requests.RequestException: On network failures (the caller decides about retries).
    """
    method = credentials.method
    if method == "session":
        return OrgSession(str(credentials.instance_url).rstrip("/"), str(credentials.session_id))
    if method == "soap":
        return _soap_login(http, credentials, verify)
    form = _oauth_form(credentials, method)
    return _token_login(http, credentials, form, verify)


def _soap_login(http: requests.Session, credentials: Credentials, verify: bool | str) -> OrgSession:
    secret = f"{credentials.password or ''}{credentials.security_token or ''}"
    body = (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:urn="{_PARTNER_NS}">'
        "<env:Header><urn:CallOptions><urn:client>sf_assets</urn:client></urn:CallOptions></env:Header>"
        f"<env:Body><urn:login><urn:username>{escape(str(credentials.username))}</urn:username>"
        f"<urn:password>{escape(secret)}</urn:password></urn:login></env:Body></env:Envelope>"
    )
    url = f"{credentials.login_url}/services/Soap/u/{credentials.api_version}"
    response = http.post(
        url,
        data=body.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
        verify=verify,
        timeout=_LOGIN_TIMEOUT,
    )
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise AuthenticationError(
            f"SOAP login at {credentials.login_url} answered HTTP {response.status_code} with no SOAP envelope"
        ) from None
    session_id = _first_text(root, "sessionId")
    server_url = _first_text(root, "serverUrl")
    if response.status_code == 200 and session_id and server_url:
        parts = urlsplit(server_url)
        return OrgSession(f"{parts.scheme}://{parts.netloc}", session_id)
    code = _first_text(root, "exceptionCode") or _first_text(root, "faultcode") or f"HTTP {response.status_code}"
    message = _first_text(root, "exceptionMessage") or _first_text(root, "faultstring") or "no message"
    raise AuthenticationError(f"SOAP login as {credentials.username} refused: {code}: {message}")


def _first_text(root: ElementTree.Element, local_name: str) -> str | None:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == local_name:
            return (element.text or "").strip()
    return None


def _oauth_form(credentials: Credentials, method: str) -> dict[str, str]:
    if method == "client_credentials":
        return {
            "grant_type": "client_credentials",
            "client_id": str(credentials.client_id),
            "client_secret": str(credentials.client_secret),
        }
    if method == "oauth_password":
        return {
            "grant_type": "password",
            "client_id": str(credentials.client_id),
            "client_secret": str(credentials.client_secret),
            "username": str(credentials.username),
            "password": f"{credentials.password or ''}{credentials.security_token or ''}",
        }
    return {"grant_type": _JWT_BEARER_GRANT, "assertion": _jwt_assertion(credentials)}


def _jwt_assertion(credentials: Credentials) -> str:
    import jwt  # only JWT logins need pyjwt and cryptography

    # Salesforce wants the login host as audience, even when the token is requested from a My Domain.
    audience = "https://test.salesforce.com" if credentials.domain == "test" else "https://login.salesforce.com"
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.username,
        "aud": audience,
        "exp": int(time.time()) + 180,
        "jti": uuid.uuid4().hex,
    }
    try:
        return jwt.encode(claims, str(credentials.jwt_private_key), algorithm="RS256")
    except (ValueError, TypeError) as error:
        raise AuthenticationError(f"the JWT private key cannot sign a token: {type(error).__name__}") from None


def _token_login(
    http: requests.Session, credentials: Credentials, form: dict[str, str], verify: bool | str
) -> OrgSession:
    url = f"{credentials.login_url}/services/oauth2/token"
    response = http.post(url, data=form, verify=verify, timeout=_LOGIN_TIMEOUT)
    payload = _json_or_none(response)
    if response.status_code == 200 and payload and payload.get("access_token") and payload.get("instance_url"):
        return OrgSession(str(payload["instance_url"]).rstrip("/"), str(payload["access_token"]))
    error = (payload or {}).get("error") or f"HTTP {response.status_code}"
    description = (payload or {}).get("error_description") or "no description"
    who = credentials.username or credentials.client_id
    raise AuthenticationError(
        f"OAuth login ({form['grant_type'].rsplit(':', 1)[-1]}) as {who} at {credentials.login_url} refused: "
        f"{error}: {description}"
    )


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
