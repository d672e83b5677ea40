"""Bad and unusual HTTP input never crashes the org: after each case it still answers ``GET /services/data/``.

Also gzip both ways, as Salesforce does it: compressed request bodies, compressed responses on request.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from sf_assets.emulator import LocalOrg
from sf_assets.emulator.http import accepts_gzip

NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


class Client:
    """Plain HTTPS calls to the org's ingest API, with one session token."""

    def __init__(self, org: LocalOrg, session: Any) -> None:
        self.org = org
        self.session = session
        self.auth = {"Authorization": f"Bearer {org.new_session()}"}
        self.base = f"{org.instance_url}/services/data/v59.0/jobs/ingest"

    def create(self, **spec: Any) -> dict[str, Any]:
        response = self.session.post(
            self.base, json={"object": "Account", "operation": "insert", **spec}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def upload(self, job_id: str, data: Any, content_type: str = "text/csv") -> Any:
        headers = {**self.auth, "Content-Type": content_type}
        return self.session.put(f"{self.base}/{job_id}/batches", data=data, headers=headers)

    def patch(self, job_id: str, state: str) -> Any:
        return self.session.patch(f"{self.base}/{job_id}", json={"state": state}, headers=self.auth)

    def close(self, job_id: str) -> None:
        assert self.patch(job_id, "UploadComplete").status_code == 200

    def wait(self, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            info = dict(self.session.get(f"{self.base}/{job_id}", headers=self.auth).json())
            if info["state"] in ("JobComplete", "Failed", "Aborted") or time.monotonic() > deadline:
                return info
            time.sleep(0.05)

    def names(self) -> list[str]:
        response = self.session.get(
            f"{self.org.instance_url}/services/data/v59.0/query",
            params={"q": "SELECT Name FROM Account ORDER BY Name"},
            headers=self.auth,
        )
        return [r["Name"] for r in response.json()["records"]]


@pytest.fixture
def client(org: LocalOrg, org_session: Any) -> Iterator[Client]:
    yield Client(org, org_session)
    # Whatever the case did, the org still serves.
    assert org_session.get(f"{org.instance_url}/services/data/", timeout=5).status_code == 200


def _raw_tls(org: LocalOrg) -> ssl.SSLSocket:
    url = urlsplit(org.instance_url)
    context = ssl.create_default_context(cafile=org.connection()["ca_file"])
    raw = socket.create_connection((url.hostname, url.port), timeout=5)
    return context.wrap_socket(raw, server_hostname=url.hostname)


def test_malformed_json_job_create_is_json_parser_error(client: Client) -> None:
    headers = {**client.auth, "Content-Type": "application/json"}
    response = client.session.post(client.base, data=b'{"object": "Account",', headers=headers)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_upload_with_wrong_content_type_is_415(client: Client) -> None:
    job = client.create()
    assert client.upload(job["id"], b'{"Name": "Acme"}', content_type="application/json").status_code == 415


def test_unknown_job_is_not_found(client: Client) -> None:
    response = client.session.get(f"{client.base}/750000000000000AAA", headers=client.auth)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_oversized_header_line_is_an_http_error(client: Client) -> None:
    headers = {**client.auth, "X-Padding": "x" * 70_000}
    response = client.session.get(f"{client.org.instance_url}/services/data/", headers=headers)
    assert response.status_code in (400, 431)


def test_body_shorter_than_content_length_then_closed(client: Client) -> None:
    job = client.create()
    url = urlsplit(client.base)
    with _raw_tls(client.org) as tls:
        tls.sendall(
            (
                f"PUT {url.path}/{job['id']}/batches HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: {client.auth['Authorization']}\r\nContent-Type: text/csv\r\n"
                "Content-Length: 100000\r\n\r\nName\nAcme\n"
            ).encode()
        )
    assert client.upload(job["id"], b"Name\nAcme\n").status_code == 201


def test_unterminated_quote_fails_job_with_invalid_batch(client: Client) -> None:
    job = client.create()
    assert client.upload(job["id"], b'Name\n"Acme\n').status_code == 201
    client.close(job["id"])
    info = client.wait(job["id"])
    assert info["state"] == "Failed"
    assert info["errorMessage"].startswith("InvalidBatch")


def test_upload_to_closed_job_is_invalid_job_state(client: Client) -> None:
    job = client.create()
    client.close(job["id"])
    response = client.upload(job["id"], b"Name\nAcme\n")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_delete_of_open_job_is_rejected(client: Client) -> None:
    job = client.create()
    assert client.session.delete(f"{client.base}/{job['id']}", headers=client.auth).status_code == 400


def test_patch_to_unknown_state_is_rejected(client: Client) -> None:
    job = client.create()
    assert client.patch(job["id"], "Bogus").status_code == 400


def test_chunked_upload_is_processed(client: Client) -> None:
    job = client.create()

    def body() -> Iterator[bytes]:
        yield b"Name\n"
        yield b"Acme\n"
        yield b"Globex\n"

    assert client.upload(job["id"], body()).status_code == 201
    client.close(job["id"])
    assert client.wait(job["id"])["numberRecordsProcessed"] == 2
    assert client.names() == ["Acme", "Globex"]


def test_second_upload_to_open_job_is_processed_too(client: Client) -> None:
    job = client.create()
    assert client.upload(job["id"], b"Name\nAcme\n").status_code == 201
    assert client.upload(job["id"], b"Name\nGlobex\n").status_code == 201
    client.close(job["id"])
    assert client.wait(job["id"])["numberRecordsProcessed"] == 2
    assert client.names() == ["Acme", "Globex"]


def test_multipart_create_completes_upload_and_processes(client: Client) -> None:
    body = (
        '--BOUNDARY\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name="job"\r\n\r\n'
        '{"object":"Contact","contentType":"CSV","operation":"insert","lineEnding":"LF"}\r\n'
        "--BOUNDARY\r\nContent-Type: text/csv\r\n"
        'Content-Disposition: form-data; name="content"; filename="content"\r\n\r\n'
        "FirstName,LastName,MailingCity\nAstro,Nomical,San Francisco\n\r\n--BOUNDARY--\r\n"
    )
    headers = {**client.auth, "Content-Type": "multipart/form-data; boundary=BOUNDARY"}
    response = client.session.post(client.base, data=body.encode(), headers=headers)
    assert response.status_code == 200
    assert response.json()["state"] == "UploadComplete"
    info = client.wait(response.json()["id"])
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 1, 0)


@pytest.mark.parametrize(
    ("spec", "data"),
    [
        ({"columnDelimiter": "PIPE"}, b"Name|Phone\nAcme, Inc.|1\nGlobex|2\n"),
        ({"lineEnding": "CRLF"}, b'Name,Phone\r\n"Acme, Inc.",1\r\nGlobex,2\r\n'),
    ],
)
def test_delimiter_and_line_ending_options(client: Client, spec: dict[str, str], data: bytes) -> None:
    job = client.create(**spec)
    assert client.upload(job["id"], data).status_code == 201
    client.close(job["id"])
    info = client.wait(job["id"])
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 2, 0)
    assert client.names() == ["Acme, Inc.", "Globex"]


# -- gzip ------------------------------------------------------------------------------------------


def _gzip_upload(client: Client, job_id: str, data: bytes) -> Any:
    headers = {**client.auth, "Content-Type": "text/csv", "Content-Encoding": "gzip"}
    return client.session.put(f"{client.base}/{job_id}/batches", data=data, headers=headers)


def _finished_job(client: Client, csv: bytes) -> str:
    job = client.create()
    assert client.upload(job["id"], csv).status_code == 201
    client.close(job["id"])
    assert client.wait(job["id"])["state"] == "JobComplete"
    return str(job["id"])


def test_gzip_upload_is_inflated_and_processed(client: Client) -> None:
    job = client.create()
    assert _gzip_upload(client, job["id"], gzip.compress(b"Name\nAcme\nGlobex\n")).status_code == 201
    client.close(job["id"])
    assert client.wait(job["id"])["numberRecordsProcessed"] == 2
    assert client.names() == ["Acme", "Globex"]


def test_gzip_upload_of_concatenated_members_reads_them_all(client: Client) -> None:
    job = client.create()
    data = gzip.compress(b"Name\nAcme\n") + gzip.compress(b"Globex\n")
    assert _gzip_upload(client, job["id"], data).status_code == 201
    client.close(job["id"])
    assert client.wait(job["id"])["numberRecordsProcessed"] == 2
    assert client.names() == ["Acme", "Globex"]


def test_gzip_json_body_creates_a_job(client: Client) -> None:
    headers = {**client.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    body = gzip.compress(b'{"object": "Account", "operation": "insert"}')
    response = client.session.post(client.base, data=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["state"] == "Open"


def test_corrupt_gzip_upload_is_400_and_stores_nothing(client: Client) -> None:
    job = client.create()
    response = _gzip_upload(client, job["id"], b"\x1f\x8b\x08\x00not gzip at all")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_REQUEST"


def test_truncated_gzip_upload_is_400(client: Client) -> None:
    job = client.create()
    assert _gzip_upload(client, job["id"], gzip.compress(b"Name\nAcme\n" * 100)[:-12]).status_code == 400


def test_unknown_content_encoding_is_415(client: Client) -> None:
    headers = {**client.auth, "Content-Type": "text/csv", "Content-Encoding": "br"}
    job = client.create()
    response = client.session.put(f"{client.base}/{job['id']}/batches", data=b"Name\nAcme\n", headers=headers)
    assert response.status_code == 415


def test_json_response_is_gzipped_when_accepted(client: Client) -> None:
    headers = {**client.auth, "Accept-Encoding": "gzip"}
    response = client.session.get(f"{client.base}/", headers=headers, stream=True)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert gzip.decompress(response.raw.read(decode_content=False)).startswith(b'{"done": ')


def test_response_is_plain_without_accept_encoding(client: Client) -> None:
    headers = {**client.auth, "Accept-Encoding": "identity"}
    response = client.session.get(f"{client.base}/", headers=headers, stream=True)
    assert "Content-Encoding" not in response.headers
    assert response.raw.read(decode_content=False).startswith(b'{"done": ')


def test_result_csv_is_streamed_gzipped_and_requests_decodes_it(client: Client) -> None:
    job_id = _finished_job(client, b"Name\nAcme\nGlobex\n")
    # requests asks for gzip by default and inflates transparently: callers see the plain CSV.
    response = client.session.get(f"{client.base}/{job_id}/successfulResults/", headers=client.auth)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Transfer-Encoding"] == "chunked"
    lines = response.text.split("\n")
    assert lines[0] == '"sf__Id","sf__Created",Name'
    assert [line.split(",")[-1] for line in lines[1:]] == ['"Acme"', '"Globex"']


def test_no_content_response_carries_no_encoding(client: Client) -> None:
    job_id = _finished_job(client, b"Name\nAcme\n")
    response = client.session.delete(f"{client.base}/{job_id}", headers={**client.auth, "Accept-Encoding": "gzip"})
    assert response.status_code == 204
    assert "Content-Encoding" not in response.headers


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("identity", False),
        (None, False),
    ],
)
def test_accept_encoding_parsing(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected
