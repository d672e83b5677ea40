"""Logging in over real HTTPS: SOAP, the OAuth grants, and what happens to missing, revoked and idle tokens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from simple_salesforce import SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from sf_assets.emulator import LocalOrg

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def _limits(org: LocalOrg, session: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return session.get(f"{org.instance_url}/services/data/v59.0/limits", headers=headers)


def _token(org: LocalOrg, session: Any, form: dict[str, str]) -> str:
    response = session.post(f"{org.instance_url}/services/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _assert_invalid_session(response: Any) -> None:
    assert response.status_code == 401
    assert [{k: e[k] for k in ("message", "errorCode")} for e in response.json()] == INVALID_SESSION


def test_soap_login_token_is_accepted(org: LocalOrg, org_session: Any) -> None:
    c = org.connection()
    session_id, _instance = SalesforceLogin(
        username=c["username"],
        password=c["password"],
        security_token=c["security_token"],
        session=org_session,
        scratch_url=org.instance_url,
        sf_version="59.0",
    )
    assert _limits(org, org_session, session_id).status_code == 200


def test_soap_login_with_wrong_password_is_invalid_login(org: LocalOrg, org_session: Any) -> None:
    c = org.connection()
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        SalesforceLogin(
            username=c["username"],
            password=c["password"] + "-wrong",
            security_token=c["security_token"],
            session=org_session,
            scratch_url=org.instance_url,
            sf_version="59.0",
        )
    assert failure.value.code == "INVALID_LOGIN"


def test_oauth_password_grant_token_works(org: LocalOrg, org_session: Any) -> None:
    c = org.connection()
    token = _token(
        org,
        org_session,
        {
            "grant_type": "password",
            "client_id": c["client_id"],
            "client_secret": c["client_secret"],
            "username": c["username"],
            "password": c["password"] + c["security_token"],
        },
    )
    assert _limits(org, org_session, token).status_code == 200


def test_oauth_client_credentials_grant_token_works(org: LocalOrg, org_session: Any) -> None:
    c = org.connection()
    token = _token(
        org,
        org_session,
        {"grant_type": "client_credentials", "client_id": c["client_id"], "client_secret": c["client_secret"]},
    )
    assert _limits(org, org_session, token).status_code == 200


def test_oauth_jwt_bearer_grant_token_works(org: LocalOrg, org_session: Any) -> None:
    c = org.connection()
    claims = {"iss": c["client_id"], "sub": c["username"], "aud": org.instance_url, "exp": int(time.time()) + 120}
    assertion = jwt.encode(claims, Path(c["jwt_private_key_file"]).read_bytes(), algorithm="RS256")
    token = _token(
        org, org_session, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    )
    assert _limits(org, org_session, token).status_code == 200


def test_missing_token_is_invalid_session(org: LocalOrg, org_session: Any) -> None:
    _assert_invalid_session(_limits(org, org_session, None))


def test_revoked_token_is_invalid_session(org: LocalOrg, org_session: Any) -> None:
    token = org.new_session()
    assert _limits(org, org_session, token).status_code == 200
    revoked = org_session.post(
        f"{org.instance_url}/__org__/sessions/revoke",
        json={"token": token},
        headers={"Authorization": f"Bearer {org.new_session()}"},
    )
    assert revoked.status_code == 200
    _assert_invalid_session(_limits(org, org_session, token))


def test_idle_token_expires_after_session_ttl(org: LocalOrg, org_session: Any, request: pytest.FixtureRequest) -> None:
    original = org.sessions.ttl_seconds

    def restore() -> None:
        response = org_session.patch(
            f"{org.instance_url}/__org__/config",
            json={"session_ttl": original},
            headers={"Authorization": f"Bearer {org.new_session()}"},
        )
        assert response.status_code == 200

    request.addfinalizer(restore)
    token = org.new_session()
    configured = org_session.patch(
        f"{org.instance_url}/__org__/config", json={"session_ttl": 0.2}, headers={"Authorization": f"Bearer {token}"}
    )
    assert configured.json()["session_ttl"] == 0.2
    time.sleep(0.5)
    _assert_invalid_session(_limits(org, org_session, token))
