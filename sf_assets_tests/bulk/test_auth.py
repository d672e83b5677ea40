from __future__ import annotations

from pathlib import Path

import pytest
import requests

from sf_assets.bulk import AuthenticationError, Credentials, login


def _works(session: requests.Session, org_session: object, ca_file: str) -> bool:
    response = requests.get(
        f"{org_session.instance_url}/services/data/v59.0/limits",  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {org_session.access_token}"},  # type: ignore[attr-defined]
        verify=ca_file,
        timeout=10,
    )
    return response.status_code == 200


def test_soap_login_at_the_instance_url(soap_credentials: Credentials, connection: dict[str, str]) -> None:
    org = login(requests.Session(), soap_credentials, verify=connection["ca_file"])
    assert org.instance_url == connection["instance_url"]
    assert _works(requests.Session(), org, connection["ca_file"])


def test_soap_login_refused_names_the_code_but_not_the_password(
    soap_credentials: Credentials, connection: dict[str, str]
) -> None:
    wrong = Credentials(
        username=soap_credentials.username, password="Wr0ng-Secret", instance_url=connection["instance_url"]
    )
    with pytest.raises(AuthenticationError, match="INVALID_LOGIN") as raised:
        login(requests.Session(), wrong, verify=connection["ca_file"])
    assert "Wr0ng-Secret" not in str(raised.value)


def test_client_credentials_login(connection: dict[str, str]) -> None:
    credentials = Credentials(
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        instance_url=connection["instance_url"],
    )
    org = login(requests.Session(), credentials, verify=connection["ca_file"])
    assert _works(requests.Session(), org, connection["ca_file"])


def test_client_credentials_refused_without_quoting_the_secret(connection: dict[str, str]) -> None:
    credentials = Credentials(
        client_id=connection["client_id"], client_secret="not-the-secret", instance_url=connection["instance_url"]
    )
    with pytest.raises(AuthenticationError, match="invalid_client") as raised:
        login(requests.Session(), credentials, verify=connection["ca_file"])
    assert "not-the-secret" not in str(raised.value)


def test_oauth_password_login(connection: dict[str, str]) -> None:
    credentials = Credentials(
        username=connection["username"],
        password=connection["password"],
        security_token=connection["security_token"],
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        instance_url=connection["instance_url"],
    )
    assert credentials.method == "oauth_password"
    assert _works(
        requests.Session(), login(requests.Session(), credentials, verify=connection["ca_file"]), connection["ca_file"]
    )


def test_jwt_bearer_login(connection: dict[str, str]) -> None:
    credentials = Credentials(
        username=connection["username"],
        client_id=connection["client_id"],
        jwt_private_key=Path(connection["jwt_private_key_file"]).read_text(),
        instance_url=connection["instance_url"],
    )
    org = login(requests.Session(), credentials, verify=connection["ca_file"])
    assert _works(requests.Session(), org, connection["ca_file"])


def test_a_ready_session_needs_no_call() -> None:
    credentials = Credentials(session_id="00Dxx!token", instance_url="https://acme.my.salesforce.com/")
    org = login(requests.Session(), credentials)
    assert (org.instance_url, org.access_token) == ("https://acme.my.salesforce.com", "00Dxx!token")


def test_ca_file_wins_over_requests_ca_bundle(
    soap_credentials: Credentials, connection: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bogus = tmp_path / "bundle.pem"
    bogus.write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bogus))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bogus))
    org = login(requests.Session(), soap_credentials, verify=connection["ca_file"])
    assert org.instance_url == connection["instance_url"]


def test_repr_hides_every_secret() -> None:
    credentials = Credentials(
        username="u@example.com",
        password="pw-1",
        security_token="tok-2",
        client_secret="cs-3",
        jwt_private_key="key-4",
        session_id="sid-5",
    )
    shown = repr(credentials)
    assert "u@example.com" in shown
    assert not any(secret in shown for secret in ("pw-1", "tok-2", "cs-3", "key-4", "sid-5"))


def test_two_login_methods_conflict() -> None:
    credentials = Credentials(username="u", password="p", session_id="s", instance_url="https://x.example.com")
    with pytest.raises(ValueError, match="conflicting login options: they select session and soap"):
        _ = credentials.method


def test_incomplete_method_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="login by session id needs instance_url"):
        _ = Credentials(session_id="s").method


def test_no_method_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="no login options"):
        _ = Credentials(username="u").method


def test_login_url_defaults_to_the_domain() -> None:
    assert Credentials(domain="test").login_url == "https://test.salesforce.com"
    assert Credentials(instance_url="https://acme.my.salesforce.com/").login_url == "https://acme.my.salesforce.com"
