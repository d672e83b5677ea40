"""Login routes: SOAP login and the OAuth 2.0 token endpoint, on the instance host as on My Domain."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from . import auth
from .http import Request, Response, Router, public

if TYPE_CHECKING:
    from .org import LocalOrg

_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


def register(router: Router, org: LocalOrg) -> None:
    @public
    def soap_login(request: Request) -> Response:
        status, body = auth.soap_login(
            request.read(1 << 20),
            org.identity,
            org.sessions,
            instance_url=org.instance_url,
            api_version=request.params["version"],
        )
        if status == 200:
            org.count("logins")
        return Response(status, body, "text/xml; charset=utf-8")

    @public
    def oauth_token(request: Request) -> Response:
        raw = request.read(1 << 20).decode("utf-8", errors="replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        form.update({k: v[0] for k, v in request.query.items() if k not in form})
        status, payload = auth.oauth_token(
            form,
            request.header("Authorization"),
            org.identity,
            org.sessions,
            instance_url=org.instance_url,
            audiences=(*_AUDIENCES, org.instance_url),
        )
        if status == 200:
            org.count("logins")
        return Response.json(payload, status)

    router.add("POST", r"/services/Soap/[uc]/(?P<version>\d+\.\d)(?:/[0-9A-Za-z]*)?", soap_login)
    router.add("POST", r"/services/oauth2/token", oauth_token)
