"""A scripted loopback HTTP server for transport tests: each request takes the next scripted answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    """One scripted response; ``drop`` closes the connection instead, ``truncate`` cuts the body short."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    drop: bool = False
    truncate: bool = False


@dataclass
class Script:
    answers: list[Answer]
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)


@contextmanager
def stub_server(answers: list[Answer]) -> Iterator[tuple[str, Script]]:
    """Serve ``answers`` in order at ``http://127.0.0.1:<port>``; yields the base URL and the script."""
    script = Script(list(answers))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.requests.append((self.command, self.path, body))
            answer = script.answers.pop(0) if script.answers else Answer(500, b"script exhausted")
            if answer.drop:
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body) * (2 if answer.truncate else 1)))
            self.end_headers()
            self.wfile.write(answer.body)
            if answer.truncate:
                self.wfile.flush()
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = _answer  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", script
    finally:
        server.shutdown()
        server.server_close()
