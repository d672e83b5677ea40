"""Tests for the emulator's authentication: sessions, SOAP login and the OAuth token endpoint.

Where possible the requests are built, and the responses read, by simple-salesforce's own login
code, with a stand-in transport that hands the request to the auth functions instead of a socket.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin

from sf_assets.emulator import auth, ids
from sf_assets.emulator.errors import ApiError

ORG_ID = "00D8c000000A1b2"
USER_ID = "0058c000000C3d4"
INSTANCE_URL = "https://localhost:8443"
API_VERSION = "59.0"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com", INSTANCE_URL)

SOAP_NS = {"soapenv": auth.SOAP_ENVELOPE_NS, "p": auth.PARTNER_NS}

# The INVALID_LOGIN fault recorded from a real org's enterprise endpoint (SalesforcePy fixture).
RECORDED_ENTERPRISE_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.enterprise.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, "
    "security token; or user locked out.</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>'
    "<sf:exceptionMessage>Invalid username, password, security token; or user locked out."
    "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def generated() -> tuple[auth.OrgIdentity, bytes]:
    # RSA key generation is the slow part, so one identity serves the module.
    return auth.new_identity(ORG_ID, USER_ID)


@pytest.fixture
def identity(generated: tuple[auth.OrgIdentity, bytes]) -> auth.OrgIdentity:
    return generated[0]


@pytest.fixture
def private_key_pem(generated: tuple[auth.OrgIdentity, bytes]) -> bytes:
    return generated[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sessions(identity: auth.OrgIdentity, clock: FakeClock) -> auth.SessionRegistry:
    return auth.SessionRegistry(identity.org_id, identity.user_id, ttl_seconds=7200, clock=clock)


@pytest.fixture
def real_time_sessions(identity: auth.OrgIdentity) -> auth.SessionRegistry:
    # simple-salesforce stamps JWTs with the wall clock, so those tests need a real one.
    return auth.SessionRegistry(identity.org_id, identity.user_id)


@dataclass
class FakeResponse:
    """The parts of requests.Response that simple-salesforce's login code reads."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class Transport:
    """Stands in for requests.Session: routes simple-salesforce's POSTs to the auth functions."""

    identity: auth.OrgIdentity
    sessions: auth.SessionRegistry
    seen: list[tuple[str, object, Mapping[str, str]]] = field(default_factory=list)

    def post(
        self, url: str, data: object = None, headers: Mapping[str, str] | None = None, **_: object
    ) -> FakeResponse:
        headers = dict(headers or {})
        self.seen.append((url, data, headers))
        if "/services/Soap/u/" in url:
            assert isinstance(data, str)
            status, body = auth.soap_login(
                data.encode(),
                self.identity,
                self.sessions,
                instance_url=INSTANCE_URL,
                api_version=url.rsplit("/", 1)[1],
            )
            return FakeResponse(status, body)
        assert url.endswith("/services/oauth2/token")
        assert isinstance(data, dict)
        form = {key: value for key, value in data.items() if value is not None}
        status, payload = auth.oauth_token(
            form,
            headers.get("Authorization"),
            self.identity,
            self.sessions,
            instance_url=INSTANCE_URL,
            audiences=AUDIENCES,
        )
        return FakeResponse(status, json.dumps(payload).encode())


def soap_request(username: str, password: str, *, namespace: str = auth.PARTNER_NS) -> bytes:
    """A login envelope shaped like the one simple-salesforce sends with a security token."""
    return f"""<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="{namespace}">
    <env:Header><urn:CallOptions><urn:client>test</urn:client></urn:CallOptions></env:Header>
    <env:Body>
        <n1:login xmlns:n1="{namespace}">
            <n1:username>{username}</n1:username>
            <n1:password>{password}</n1:password>
        </n1:login>
    </env:Body>
</env:Envelope>""".encode()


def good_soap_request(identity: auth.OrgIdentity, **kwargs: str) -> bytes:
    return soap_request(identity.username, identity.password + identity.security_token, **kwargs)


def do_soap_login(body: bytes, identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> tuple[int, bytes]:
    return auth.soap_login(body, identity, sessions, instance_url=INSTANCE_URL, api_version=API_VERSION)


def do_oauth(
    form: Mapping[str, str],
    identity: auth.OrgIdentity,
    sessions: auth.SessionRegistry,
    authorization: str | None = None,
) -> tuple[int, dict[str, object]]:
    return auth.oauth_token(form, authorization, identity, sessions, instance_url=INSTANCE_URL, audiences=AUDIENCES)


def password_form(identity: auth.OrgIdentity, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "password",
        "client_id": identity.client_id,
        "client_secret": identity.client_secret,
        "username": identity.username,
        "password": identity.password + identity.security_token,
    }
    form.update(overrides)
    return form


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def make_jwt(
    identity: auth.OrgIdentity,
    key: bytes | rsa.RSAPrivateKey | str,
    now: float,
    *,
    algorithm: str = "RS256",
    **claims: object,
) -> str:
    payload: dict[str, object] = {
        "iss": identity.client_id,
        "sub": identity.username,
        "aud": "https://login.salesforce.com",
        "exp": int(now) + 180,
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def jwt_form(assertion: str) -> dict[str, str]:
    return {"grant_type": auth.JWT_BEARER_GRANT, "assertion": assertion}


def oauth_error(result: tuple[int, dict[str, object]]) -> tuple[int, object, object]:
    status, body = result
    return status, body.get("error"), body.get("error_description")


def secret_values(identity: auth.OrgIdentity, private_key_pem: bytes) -> list[str]:
    key_body = "".join(private_key_pem.decode().splitlines()[1:-1])
    return [identity.password, identity.security_token, identity.client_secret, key_body[:64]]


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------


def test_new_identity_normalizes_ids_to_18_characters(identity: auth.OrgIdentity) -> None:
    assert identity.org_id == ORG_ID + ids.checksum(ORG_ID)
    assert identity.user_id == USER_ID + ids.checksum(USER_ID)


def test_new_identity_private_key_matches_certificate(identity: auth.OrgIdentity, private_key_pem: bytes) -> None:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    certificate = x509.load_pem_x509_certificate(identity.jwt_certificate_pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()


def test_new_identity_draws_fresh_credentials_each_time(identity: auth.OrgIdentity) -> None:
    other, _ = auth.new_identity(ORG_ID, USER_ID)
    assert other.password != identity.password
    assert other.security_token != identity.security_token
    assert other.client_id != identity.client_id
    assert other.client_secret != identity.client_secret
    assert other.jwt_certificate_pem != identity.jwt_certificate_pem


def test_new_identity_uses_given_username() -> None:
    identity, _ = auth.new_identity(ORG_ID, USER_ID, username="someone@example.com")
    assert identity.username == "someone@example.com"


@pytest.mark.parametrize(("org_id", "user_id"), [(USER_ID, USER_ID), (ORG_ID, ORG_ID), ("00Dshort", USER_ID)])
def test_new_identity_rejects_wrong_or_malformed_ids(org_id: str, user_id: str) -> None:
    with pytest.raises(ValueError, match="must be a 15- or 18-character Salesforce id"):
        auth.new_identity(org_id, user_id)


def test_identity_repr_hides_secrets(identity: auth.OrgIdentity, private_key_pem: bytes) -> None:
    text = repr(identity)
    assert identity.username in text
    for secret in secret_values(identity, private_key_pem):
        assert secret not in text


def test_session_repr_hides_token(sessions: auth.SessionRegistry) -> None:
    session = sessions.issue()
    assert session.token not in repr(session)
    assert session.user_id in repr(session)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


def test_issued_token_is_salesforce_shaped_and_validates(
    sessions: auth.SessionRegistry, identity: auth.OrgIdentity, clock: FakeClock
) -> None:
    session = sessions.issue()
    assert session.token.startswith(identity.org_id[:15] + "!")
    assert len(session.token) > 100
    assert session.issued_at == session.last_used == clock.now
    assert sessions.validate(session.token).user_id == identity.user_id


def test_issued_tokens_are_unique(sessions: auth.SessionRegistry) -> None:
    tokens = {sessions.issue().token for _ in range(50)}
    assert len(tokens) == 50


@pytest.mark.parametrize("token", [None, "", "00D8c000000A1b2!unknown"])
def test_validate_rejects_missing_or_unknown_token(sessions: auth.SessionRegistry, token: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        sessions.validate(token)
    assert (caught.value.status, caught.value.error_code) == (401, "INVALID_SESSION_ID")
    assert caught.value.message == "Session expired or invalid"


def test_session_expires_after_ttl_of_inactivity(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    token = sessions.issue().token
    clock.advance(7199)
    sessions.validate(token)
    clock.advance(7200)
    with pytest.raises(ApiError) as caught:
        sessions.validate(token)
    assert caught.value.status == 401


def test_expired_session_stays_invalid_if_clock_is_rewound(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    token = sessions.issue().token
    clock.advance(7200)
    with pytest.raises(ApiError):
        sessions.validate(token)
    clock.advance(-7200)
    with pytest.raises(ApiError):
        sessions.validate(token)


def test_validate_resets_idle_clock(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    session = sessions.issue()
    for _ in range(5):
        clock.advance(7000)
        used = sessions.validate(session.token)
        assert used.last_used == clock.now
        assert used.issued_at == session.issued_at
    assert clock.now - session.issued_at == 35_000


def test_ttl_change_applies_to_existing_sessions(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    token = sessions.issue().token
    sessions.ttl_seconds = 60
    clock.advance(61)
    with pytest.raises(ApiError):
        sessions.validate(token)


@pytest.mark.parametrize("ttl", [0, -5])
def test_ttl_must_be_positive(sessions: auth.SessionRegistry, ttl: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        sessions.ttl_seconds = ttl


def test_revoke_ends_only_that_session(sessions: auth.SessionRegistry) -> None:
    first, second = sessions.issue().token, sessions.issue().token
    assert sessions.revoke(first) is True
    with pytest.raises(ApiError):
        sessions.validate(first)
    assert sessions.validate(second).token == second


def test_revoke_of_unknown_or_expired_token_returns_false(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    token = sessions.issue().token
    clock.advance(7200)
    assert sessions.revoke(token) is False
    assert sessions.revoke("nonsense") is False


def test_revoke_all_counts_live_sessions(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    stale = sessions.issue().token
    clock.advance(7000)
    live = [sessions.issue().token for _ in range(3)]
    clock.advance(300)
    assert sessions.revoke_all() == 3
    for token in [stale, *live]:
        with pytest.raises(ApiError):
            sessions.validate(token)


def test_purge_expired_forgets_only_idle_sessions(sessions: auth.SessionRegistry, clock: FakeClock) -> None:
    sessions.issue()
    sessions.issue()
    clock.advance(7000)
    kept = sessions.issue().token
    clock.advance(300)
    assert sessions.purge_expired() == 2
    assert sessions.validate(kept).token == kept


def test_concurrent_validation_and_issue_are_consistent(identity: auth.OrgIdentity) -> None:
    registry = auth.SessionRegistry(identity.org_id, identity.user_id)
    tokens = [registry.issue().token for _ in range(20)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                for token in tokens:
                    registry.validate(token)
                registry.issue()
        except BaseException as exc:  # collected so the main thread's assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert registry.revoke_all() == 20 + 8 * 200


# ---------------------------------------------------------------------------------------------
# SOAP login
# ---------------------------------------------------------------------------------------------


def test_soap_login_success_has_the_elements_clients_read(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    status, body = do_soap_login(good_soap_request(identity), identity, sessions)
    assert status == 200
    root = ET.fromstring(body)
    # simple-salesforce takes the first sessionId and serverUrl in document order.
    session_id = next(root.iter(f"{{{auth.PARTNER_NS}}}sessionId")).text
    server_url = next(root.iter(f"{{{auth.PARTNER_NS}}}serverUrl")).text
    assert server_url == f"{INSTANCE_URL}/services/Soap/u/{API_VERSION}/{identity.org_id[:15]}"
    assert server_url.split("/")[2] == "localhost:8443"
    assert session_id is not None
    assert sessions.validate(session_id).user_id == identity.user_id


def test_soap_login_success_describes_org_and_user(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    sessions.ttl_seconds = 3600
    _, body = do_soap_login(good_soap_request(identity), identity, sessions)
    result = ET.fromstring(body).find("soapenv:Body/p:loginResponse/p:result", SOAP_NS)
    assert result is not None
    assert result.findtext("p:metadataServerUrl", namespaces=SOAP_NS) == (
        f"{INSTANCE_URL}/services/Soap/m/{API_VERSION}/{identity.org_id[:15]}"
    )
    assert result.findtext("p:userId", namespaces=SOAP_NS) == identity.user_id
    assert result.findtext("p:passwordExpired", namespaces=SOAP_NS) == "false"
    info = result.find("p:userInfo", SOAP_NS)
    assert info is not None
    assert info.findtext("p:organizationId", namespaces=SOAP_NS) == identity.org_id
    assert info.findtext("p:userName", namespaces=SOAP_NS) == identity.username
    assert info.findtext("p:userId", namespaces=SOAP_NS) == identity.user_id
    assert info.findtext("p:sessionSecondsValid", namespaces=SOAP_NS) == "3600"
    role = info.find("p:roleId", SOAP_NS)
    assert role is not None
    assert role.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"


def test_simple_salesforce_soap_login_round_trip(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    transport = Transport(identity, sessions)
    session_id, instance = SalesforceLogin(
        username=identity.username,
        password=identity.password,
        security_token=identity.security_token,
        session=transport,  # type: ignore[arg-type]
        scratch_url=INSTANCE_URL,
    )
    assert instance == "localhost:8443"
    assert sessions.validate(session_id).user_id == identity.user_id


def test_simple_salesforce_soap_login_with_xml_special_characters_in_password(
    sessions: auth.SessionRegistry,
) -> None:
    base, _ = auth.new_identity(ORG_ID, USER_ID, username="o'brien&co@example.com")
    identity = dataclasses.replace(base, password="p<a>s&s\"w'rd")
    transport = Transport(identity, sessions)
    session_id, _ = SalesforceLogin(
        username=identity.username,
        password=identity.password,
        security_token=identity.security_token,
        session=transport,  # type: ignore[arg-type]
        scratch_url=INSTANCE_URL,
    )
    assert sessions.validate(session_id)


def test_soap_login_username_is_case_insensitive(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    body = soap_request(identity.username.upper(), identity.password + identity.security_token)
    assert do_soap_login(body, identity, sessions)[0] == 200


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda i: (i.username, i.password + "wrong" + i.security_token), id="wrong-password"),
        pytest.param(lambda i: (i.username, i.password), id="missing-token"),
        pytest.param(lambda i: ("nobody@example.com", i.password + i.security_token), id="wrong-username"),
        pytest.param(lambda i: ("", ""), id="empty"),
    ],
)
def test_soap_login_bad_credentials_return_partner_invalid_login_fault(
    identity: auth.OrgIdentity,
    sessions: auth.SessionRegistry,
    credentials: Callable[[auth.OrgIdentity], tuple[str, str]],
) -> None:
    status, body = do_soap_login(soap_request(*credentials(identity)), identity, sessions)
    assert status == 500
    expected = RECORDED_ENTERPRISE_FAULT.replace(
        "urn:fault.enterprise.soap.sforce.com", "urn:fault.partner.soap.sforce.com"
    )
    assert body.decode() == expected
    assert sessions.revoke_all() == 0


def test_soap_login_fault_fields_are_the_ones_simple_salesforce_reads(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    _, body = do_soap_login(soap_request(identity.username, "nope"), identity, sessions)
    root = ET.fromstring(body)
    fault = root.find("soapenv:Body/soapenv:Fault", SOAP_NS)
    assert fault is not None
    assert fault.findtext("faultcode") == "sf:INVALID_LOGIN"
    sf = {"sf": "urn:fault.partner.soap.sforce.com"}
    assert fault.findtext("detail/sf:LoginFault/sf:exceptionCode", namespaces=sf) == "INVALID_LOGIN"
    assert fault.findtext("detail/sf:LoginFault/sf:exceptionMessage", namespaces=sf) == (
        "Invalid username, password, security token; or user locked out."
    )


def test_simple_salesforce_reports_invalid_login(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    transport = Transport(identity, sessions)
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        SalesforceLogin(
            username=identity.username,
            password="wrong",
            security_token=identity.security_token,
            session=transport,  # type: ignore[arg-type]
            scratch_url=INSTANCE_URL,
        )
    assert caught.value.code == "INVALID_LOGIN"
    assert caught.value.auth_message == auth.INVALID_LOGIN_MESSAGE


def test_enterprise_login_fault_is_exactly_the_recorded_one(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    body = soap_request(identity.username, "wrong", namespace=auth.ENTERPRISE_NS)
    status, response = do_soap_login(body, identity, sessions)
    assert status == 500
    assert response.decode() == RECORDED_ENTERPRISE_FAULT


def test_enterprise_login_answers_in_enterprise_namespace(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    status, body = do_soap_login(good_soap_request(identity, namespace=auth.ENTERPRISE_NS), identity, sessions)
    assert status == 200
    server_url = ET.fromstring(body).findtext(
        f".//{{{auth.ENTERPRISE_NS}}}serverUrl",
    )
    assert server_url == f"{INSTANCE_URL}/services/Soap/c/{API_VERSION}/{identity.org_id[:15]}"


def client_fault(body: bytes) -> tuple[str | None, str | None]:
    fault = ET.fromstring(body).find("soapenv:Body/soapenv:Fault", SOAP_NS)
    assert fault is not None
    return fault.findtext("faultcode"), fault.findtext("faultstring")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<env:Envelope",
        b"not xml at all",
        pytest.param("<a>\u00e9</a>".encode("latin-1"), id="bad-encoding"),
    ],
)
def test_soap_login_malformed_xml_is_a_client_fault(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, body: bytes
) -> None:
    status, response = do_soap_login(body, identity, sessions)
    assert status == 500
    code, message = client_fault(response)
    assert code == "soapenv:Client"
    assert message is not None
    assert message.startswith("Malformed XML")


def test_soap_login_malformed_xml_fault_does_not_echo_the_password(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    body = good_soap_request(identity).replace(b"</n1:password>", b"</n1:oops>")
    status, response = do_soap_login(body, identity, sessions)
    assert status == 500
    assert identity.password.encode() not in response
    assert identity.security_token.encode() not in response


def test_soap_login_refuses_a_doctype(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    body = good_soap_request(identity).replace(b"?>", b'?><!DOCTYPE env:Envelope [<!ENTITY x "y">]>', 1)
    status, response = do_soap_login(body, identity, sessions)
    assert status == 500
    assert client_fault(response)[0] == "soapenv:Client"
    assert sessions.revoke_all() == 0


def test_soap_12_envelope_is_a_version_mismatch(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    body = good_soap_request(identity).replace(
        auth.SOAP_ENVELOPE_NS.encode(), b"http://www.w3.org/2003/05/soap-envelope"
    )
    status, response = do_soap_login(body, identity, sessions)
    assert status == 500
    assert client_fault(response)[0] == "soapenv:VersionMismatch"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<login/>", id="no-envelope"),
        pytest.param(f'<e:Envelope xmlns:e="{auth.SOAP_ENVELOPE_NS}"><e:Body/></e:Envelope>'.encode(), id="empty-body"),
        pytest.param(
            f'<e:Envelope xmlns:e="{auth.SOAP_ENVELOPE_NS}"><e:Body><p:logout xmlns:p="{auth.PARTNER_NS}"/>'
            "</e:Body></e:Envelope>".encode(),
            id="other-operation",
        ),
        pytest.param(
            f'<e:Envelope xmlns:e="{auth.SOAP_ENVELOPE_NS}"><e:Body><p:login xmlns:p="urn:other"/>'
            "</e:Body></e:Envelope>".encode(),
            id="foreign-namespace",
        ),
    ],
)
def test_soap_request_that_is_not_a_login_is_a_client_fault(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, body: bytes
) -> None:
    status, response = do_soap_login(body, identity, sessions)
    assert status == 500
    assert client_fault(response)[0] == "soapenv:Client"


# ---------------------------------------------------------------------------------------------
# OAuth: password grant
# ---------------------------------------------------------------------------------------------


def test_password_grant_returns_recorded_shape(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    status, body = do_oauth(password_form(identity), identity, sessions)
    assert status == 200
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "scope",
    }
    assert body["instance_url"] == INSTANCE_URL
    assert body["id"] == f"{INSTANCE_URL}/id/{identity.org_id}/{identity.user_id}"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api"
    assert body["issued_at"] == str(int(clock.now * 1000))


def test_password_grant_token_validates(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    _, body = do_oauth(password_form(identity), identity, sessions)
    assert isinstance(body["access_token"], str)
    assert sessions.validate(body["access_token"]).user_id == identity.user_id


def test_password_grant_signature_is_hmac_of_id_and_issued_at(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    _, body = do_oauth(password_form(identity), identity, sessions)
    message = f"{body['id']}{body['issued_at']}".encode()
    expected = hmac.new(identity.client_secret.encode(), message, hashlib.sha256).digest()
    assert body["signature"] == base64.b64encode(expected).decode()


def test_simple_salesforce_password_grant_round_trip(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    transport = Transport(identity, sessions)
    session_id, instance = SalesforceLogin(
        username=identity.username,
        password=identity.password + identity.security_token,
        consumer_key=identity.client_id,
        consumer_secret=identity.client_secret,
        session=transport,  # type: ignore[arg-type]
    )
    assert instance == "localhost:8443"
    assert sessions.validate(session_id)


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"client_id": "3MVG9unknown"}, "invalid_client_id", "client identifier invalid"),
        ({"client_id": ""}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "0000"}, "invalid_client", "invalid client credentials"),
        ({"password": "wrong"}, "invalid_grant", "authentication failure"),
        ({"username": "nobody@example.com"}, "invalid_grant", "authentication failure"),
    ],
    ids=["unknown-client", "no-client", "wrong-secret", "wrong-password", "wrong-username"],
)
def test_password_grant_failures(
    identity: auth.OrgIdentity,
    sessions: auth.SessionRegistry,
    overrides: dict[str, str],
    error: str,
    description: str,
) -> None:
    result = do_oauth(password_form(identity, **overrides), identity, sessions)
    assert oauth_error(result) == (400, error, description)
    assert sessions.revoke_all() == 0


def test_password_grant_without_security_token_fails(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    result = do_oauth(password_form(identity, password=identity.password), identity, sessions)
    assert oauth_error(result) == (400, "invalid_grant", "authentication failure")


def test_password_grant_without_client_secret_fails(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    form = password_form(identity)
    del form["client_secret"]
    assert oauth_error(do_oauth(form, identity, sessions)) == (
        400,
        "invalid_client",
        "invalid client credentials",
    )


def test_simple_salesforce_reports_password_grant_failure(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    transport = Transport(identity, sessions)
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        SalesforceLogin(
            username=identity.username,
            password="wrong",
            consumer_key=identity.client_id,
            consumer_secret=identity.client_secret,
            session=transport,  # type: ignore[arg-type]
        )
    assert (caught.value.code, caught.value.auth_message) == ("invalid_grant", "authentication failure")


# ---------------------------------------------------------------------------------------------
# OAuth: client_credentials grant
# ---------------------------------------------------------------------------------------------


def test_client_credentials_with_basic_header(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    status, body = do_oauth(
        {"grant_type": "client_credentials"},
        identity,
        sessions,
        authorization=basic(identity.client_id, identity.client_secret),
    )
    assert status == 200
    assert isinstance(body["access_token"], str)
    assert sessions.validate(body["access_token"])
    assert body["id"] == f"{INSTANCE_URL}/id/{identity.org_id}/{identity.user_id}"
    assert "signature" in body
    assert "issued_at" in body


def test_client_credentials_in_form(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": identity.client_id,
        "client_secret": identity.client_secret,
    }
    status, body = do_oauth(form, identity, sessions)
    assert status == 200
    assert body["instance_url"] == INSTANCE_URL


def test_simple_salesforce_client_credentials_round_trip(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry
) -> None:
    transport = Transport(identity, sessions)
    session_id, instance = SalesforceLogin(
        consumer_key=identity.client_id,
        consumer_secret=identity.client_secret,
        domain="sf-assets-local",
        session=transport,  # type: ignore[arg-type]
    )
    assert instance == "localhost:8443"
    assert sessions.validate(session_id)
    assert transport.seen[0][2]["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("authorization", "error", "description"),
    [
        (None, "invalid_client_id", "client identifier invalid"),
        ("Bearer abc", "invalid_client_id", "client identifier invalid"),
        ("Basic !!!not-base64", "invalid_client", "invalid client credentials"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "invalid_client", "invalid client credentials"),
    ],
    ids=["none", "other-scheme", "bad-base64", "no-colon"],
)
def test_client_credentials_malformed_or_missing(
    identity: auth.OrgIdentity,
    sessions: auth.SessionRegistry,
    authorization: str | None,
    error: str,
    description: str,
) -> None:
    result = do_oauth({"grant_type": "client_credentials"}, identity, sessions, authorization=authorization)
    assert oauth_error(result) == (400, error, description)


def test_client_credentials_wrong_secret(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    result = do_oauth(
        {"grant_type": "client_credentials"},
        identity,
        sessions,
        authorization=basic(identity.client_id, "WRONG"),
    )
    assert oauth_error(result) == (400, "invalid_client", "invalid client credentials")


def test_client_credentials_unknown_client(identity: auth.OrgIdentity, sessions: auth.SessionRegistry) -> None:
    result = do_oauth(
        {"grant_type": "client_credentials"},
        identity,
        sessions,
        authorization=basic("3MVG9someoneelse", identity.client_secret),
    )
    assert oauth_error(result) == (400, "invalid_client_id", "client identifier invalid")


@pytest.mark.parametrize("grant_type", [None, "", "authorization_code", "refresh_token", "PASSWORD"])
def test_unsupported_grant_type(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, grant_type: str | None
) -> None:
    form = password_form(identity)
    if grant_type is None:
        del form["grant_type"]
    else:
        form["grant_type"] = grant_type
    result = do_oauth(form, identity, sessions)
    assert oauth_error(result) == (400, "unsupported_grant_type", "grant type not supported")


# ---------------------------------------------------------------------------------------------
# OAuth: JWT bearer grant
# ---------------------------------------------------------------------------------------------


def test_jwt_bearer_grant_success(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    status, body = do_oauth(jwt_form(make_jwt(identity, private_key_pem, clock.now)), identity, sessions)
    assert status == 200
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "scope"}
    assert body["id"] == f"{INSTANCE_URL}/id/{identity.org_id}/{identity.user_id}"
    assert isinstance(body["access_token"], str)
    assert sessions.validate(body["access_token"]).user_id == identity.user_id


def test_simple_salesforce_jwt_round_trip(
    identity: auth.OrgIdentity, private_key_pem: bytes, real_time_sessions: auth.SessionRegistry
) -> None:
    # simple-salesforce sends exp as a string and aud as https://{domain}.salesforce.com.
    transport = Transport(identity, real_time_sessions)
    session_id, instance = SalesforceLogin(
        username=identity.username,
        consumer_key=identity.client_id,
        privatekey=private_key_pem.decode(),
        domain="test",
        session=transport,  # type: ignore[arg-type]
    )
    assert instance == "localhost:8443"
    assert real_time_sessions.validate(session_id)


@pytest.mark.parametrize(
    "aud",
    [
        "https://test.salesforce.com",
        "https://login.salesforce.com/",
        INSTANCE_URL,
        ["https://elsewhere.example", "https://login.salesforce.com"],
    ],
    ids=["test", "trailing-slash", "instance", "list"],
)
def test_jwt_accepts_each_configured_audience(
    identity: auth.OrgIdentity,
    private_key_pem: bytes,
    sessions: auth.SessionRegistry,
    clock: FakeClock,
    aud: object,
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, aud=aud)
    assert do_oauth(jwt_form(assertion), identity, sessions)[0] == 200


def test_jwt_signed_with_another_key_is_invalid_assertion(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    result = do_oauth(jwt_form(make_jwt(identity, other_key, clock.now)), identity, sessions)
    assert oauth_error(result) == (400, "invalid_grant", "invalid assertion")
    assert sessions.revoke_all() == 0


def test_jwt_hmac_signed_with_client_secret_is_invalid_assertion(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    assertion = make_jwt(identity, identity.client_secret, clock.now, algorithm="HS256")
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_grant",
        "invalid assertion",
    )


def test_jwt_with_tampered_claims_is_invalid_assertion(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    header, _, signature = make_jwt(identity, private_key_pem, clock.now).split(".")
    claims = {"iss": identity.client_id, "sub": identity.username, "aud": AUDIENCES[0], "exp": clock.now + 60}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    result = do_oauth(jwt_form(f"{header}.{forged}.{signature}"), identity, sessions)
    assert oauth_error(result) == (400, "invalid_grant", "invalid assertion")


@pytest.mark.parametrize("assertion", ["", "not-a-jwt", "a.b.c"])
def test_garbage_assertion_is_invalid_assertion(
    identity: auth.OrgIdentity, sessions: auth.SessionRegistry, assertion: str
) -> None:
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_grant",
        "invalid assertion",
    )


def test_jwt_wrong_audience(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, aud="https://evil.example.com")
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_grant",
        "audience is invalid",
    )


def test_jwt_missing_audience(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, aud=None)
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions))[2] == "audience is invalid"


def test_jwt_wrong_subject(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, sub="someone.else@example.com")
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_grant",
        "user hasn't approved this consumer",
    )


def test_jwt_wrong_issuer(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, iss="3MVG9someoneelse")
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_client_id",
        "client identifier invalid",
    )


@pytest.mark.parametrize("offset", [0, -1, -3600], ids=["now", "just-past", "hour-ago"])
def test_jwt_expired(
    identity: auth.OrgIdentity,
    private_key_pem: bytes,
    sessions: auth.SessionRegistry,
    clock: FakeClock,
    offset: int,
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, exp=int(clock.now) + offset)
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_grant",
        "expired authorization code",
    )


def test_jwt_exp_too_far_ahead_is_rejected(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    # A classic mistake: exp in milliseconds.
    assertion = make_jwt(identity, private_key_pem, clock.now, exp=int(clock.now * 1000))
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions))[2] == "expired authorization code"


def test_jwt_exp_at_three_minutes_plus_skew_is_accepted(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry, clock: FakeClock
) -> None:
    exp = clock.now + auth.JWT_MAX_LIFETIME_SECONDS + auth.JWT_CLOCK_SKEW_SECONDS
    assertion = make_jwt(identity, private_key_pem, clock.now, exp=str(int(exp)))
    assert do_oauth(jwt_form(assertion), identity, sessions)[0] == 200


@pytest.mark.parametrize("exp", [None, "soon", True], ids=["missing", "text", "bool"])
def test_jwt_without_numeric_exp_is_invalid_assertion(
    identity: auth.OrgIdentity,
    private_key_pem: bytes,
    sessions: auth.SessionRegistry,
    clock: FakeClock,
    exp: object,
) -> None:
    assertion = make_jwt(identity, private_key_pem, clock.now, exp=exp)
    assert oauth_error(do_oauth(jwt_form(assertion), identity, sessions)) == (
        400,
        "invalid_grant",
        "invalid assertion",
    )


# ---------------------------------------------------------------------------------------------
# Secrets never leak into error bodies
# ---------------------------------------------------------------------------------------------


def failing_requests(
    identity: auth.OrgIdentity, private_key_pem: bytes, now: float
) -> Iterator[tuple[int, dict[str, object]]]:
    yield do_oauth_fn(password_form(identity, password=identity.password), identity)
    yield do_oauth_fn(password_form(identity, client_secret=identity.client_secret + "x"), identity)
    yield do_oauth_fn(
        {"grant_type": "client_credentials"}, identity, basic(identity.client_id, identity.client_secret[:-1])
    )
    yield do_oauth_fn(jwt_form(make_jwt(identity, private_key_pem, now, exp=int(now) - 10)), identity)
    yield do_oauth_fn(jwt_form(make_jwt(identity, identity.client_secret, now, algorithm="HS256")), identity)


def do_oauth_fn(
    form: Mapping[str, str], identity: auth.OrgIdentity, authorization: str | None = None
) -> tuple[int, dict[str, object]]:
    registry = auth.SessionRegistry(identity.org_id, identity.user_id)
    return do_oauth(form, identity, registry, authorization)


def test_oauth_error_bodies_contain_no_secrets(identity: auth.OrgIdentity, private_key_pem: bytes) -> None:
    results = list(failing_requests(identity, private_key_pem, time.time()))
    assert all(status == 400 for status, _ in results)
    text = json.dumps([body for _, body in results])
    for secret in secret_values(identity, private_key_pem):
        assert secret not in text


def test_soap_fault_bodies_contain_no_secrets(
    identity: auth.OrgIdentity, private_key_pem: bytes, sessions: auth.SessionRegistry
) -> None:
    bodies = [
        soap_request(identity.username, identity.password),
        soap_request(identity.username, identity.password + identity.security_token + "x"),
        good_soap_request(identity)[:-20],
    ]
    for body in bodies:
        status, response = do_soap_login(body, identity, sessions)
        assert status == 500
        for secret in secret_values(identity, private_key_pem):
            assert secret.encode() not in response
