"""A small threaded HTTPS server: requests, responses, routing and body streaming.

Built on ``http.server`` so the org has no web-framework dependency. Each connection runs on its own
thread (Spark executors open many at once), HTTP/1.1 keep-alive is honoured, and request bodies are
streamed (``Content-Length`` or chunked) so a 100 MB upload never sits in memory.

Compression works as on Salesforce: a request body sent with ``Content-Encoding: gzip`` is inflated
as it is read, and a response is gzipped (chunked, ``Content-Encoding: gzip``) when the request says
``Accept-Encoding: gzip``, which ``requests`` sends by default and decodes transparently.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import ssl
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from .errors import ApiError

log = logging.getLogger(__name__)
JSON = "application/json;charset=UTF-8"
_GZIP_WBITS = 31  # zlib's window bits for the gzip container
# The fastest level: results of a million rows are compressed on the org's one core while the client
# waits, and CSV still shrinks several times.
_GZIP_LEVEL = 1


class _LimitedReader:
    """Reads exactly ``length`` bytes of a request body from the connection."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        return data

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


class _ChunkedReader:
    """Decodes a ``Transfer-Encoding: chunked`` request body."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._left = 0
        self._done = False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self._done and (size < 0 or len(out) < size):
            if self._left == 0:
                line = self._stream.readline(1024)
                if not line:
                    raise ConnectionError("client closed the connection mid-body")
                self._left = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if self._left == 0:
                    while self._stream.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self._done = True
                    break
            want = self._left if size < 0 else min(self._left, size - len(out))
            data = self._stream.read(want)
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            out += data
            self._left -= len(data)
            if self._left == 0:
                self._stream.readline(8)
        return bytes(out)

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


class _GzipReader:
    """Inflates a gzip request body (one or more members) as it is read, never more than asked for,
    so that a small compressed body cannot fill memory."""

    def __init__(self, raw: _LimitedReader | _ChunkedReader) -> None:
        self._raw = raw
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._pending = b""  # compressed bytes read but not yet inflated
        self._in_member = False
        self._done = False

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self._done and (size < 0 or len(out) < size):
            data = self._pending or self._raw.read(1 << 16)
            self._pending = b""
            if not data:
                if self._in_member:
                    raise ApiError(400, "INVALID_REQUEST", "The gzip request body ends before its data does")
                self._done = True
                break
            self._in_member = True
            try:
                out += self._inflater.decompress(data, 0 if size < 0 else size - len(out))
            except zlib.error as error:
                raise ApiError(400, "INVALID_REQUEST", f"The request body is not valid gzip: {error}") from error
            self._pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                # Another member may follow (concatenated gzip files are one valid gzip stream).
                self._pending = self._inflater.unused_data + self._pending
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
                self._in_member = False
        return bytes(out)

    def drain(self) -> None:
        # What is left need not be inflated: only the connection must be read to its end.
        self._raw.drain()


def _decoded(
    raw: _LimitedReader | _ChunkedReader, encoding: str | None
) -> _LimitedReader | _ChunkedReader | _GzipReader:
    name = (encoding or "identity").strip().lower()
    if name in ("gzip", "x-gzip"):
        return _GzipReader(raw)
    if name == "identity":
        return raw
    raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"Content encoding {encoding} is not supported")


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (listed, or ``*``, with a q-value above 0)."""
    weights: dict[str, float] = {}
    for item in (header or "").split(","):
        name, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name.strip().lower()] = weight
    for name in ("gzip", "x-gzip", "*"):
        if name in weights:
            return weights[name] > 0
    return False


def _gzip_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compresses a body chunk by chunk: each source chunk is flushed, so a streamed body reaches
    the client as it is produced rather than when it ends."""
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    for chunk in chunks:
        if chunk:
            yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


@dataclass
class Request:
    """One HTTP request, with its body still unread."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: Any
    params: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def read(self, limit: int = 64 * 1024 * 1024) -> bytes:
        data = self.body.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, "REQUEST_TOO_LARGE", f"The request body exceeds {limit} bytes")
        return data

    def json(self) -> Any:
        raw = self.read()
        try:
            return json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character in the JSON body: {error}") from error


@dataclass
class Response:
    """A response: ``body`` is bytes or an iterator of byte chunks (sent chunked).

    ``cut_after``, set by fault injection, sends the headers and only that many body bytes, then
    hangs up: a connection lost mid-response.
    """

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(payload).encode(), JSON)

    @classmethod
    def error(cls, error: ApiError) -> Response:
        return cls(error.status, error.body(), JSON, dict(error.headers))


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Maps method and path to handlers; unmatched paths are 404 NOT_FOUND, wrong methods 405."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append(Route(method, re.compile("^" + pattern + "$", re.IGNORECASE), handler))

    def resolve(self, request: Request) -> Handler:
        allowed = []
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            request.params = match.groupdict()
            return route.handler
        if allowed:
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(sorted(set(allowed)))}",
            )
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers (about 40 ms a request).
    disable_nagle_algorithm = True
    server: HttpsServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        length = self.headers.get("Content-Length")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body: _LimitedReader | _ChunkedReader = _ChunkedReader(self.rfile)
        else:
            try:
                size = int(length or 0)
            except ValueError:
                size = -1
            if size < 0:
                self._send(Response.error(ApiError(400, "INVALID_REQUEST", "Invalid Content-Length header")))
                self.close_connection = True
                return
            body = _LimitedReader(self.rfile, size)
        try:
            request = Request(
                self.command,
                url.path,
                parse_qs(url.query, keep_blank_values=True),
                self.headers,
                _decoded(body, self.headers.get("Content-Encoding")),
            )
            response = self.server.app(request)
        except ApiError as error:
            response = Response.error(error)
        except ConnectionError:
            self.close_connection = True
            return
        except Exception:
            log.exception("unhandled error on %s %s", self.command, url.path)
            response = Response.error(ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred."))
        try:
            body.drain()
        except (ConnectionError, ValueError):
            self.close_connection = True
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        body = response.body
        empty = isinstance(body, bytes | bytearray) and not body
        if response.cut_after is not None:
            self._send_cut(body, response.cut_after)
            return
        if not empty and self.command != "HEAD" and accepts_gzip(self.headers.get("Accept-Encoding")):
            self.send_header("Content-Encoding", "gzip")
            body = _gzip_chunks([body] if isinstance(body, bytes | bytearray) else body)
        if isinstance(body, bytes | bytearray):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in body:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _send_cut(self, body: bytes | Iterable[bytes], budget: int) -> None:
        """Headers, then fewer body bytes than announced, then a closed connection. Uncompressed, so
        the cut falls inside the body whatever its size."""
        self.close_connection = True
        if isinstance(body, bytes | bytearray):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: max(0, min(budget, len(body) - 1))])
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in body:
            piece = chunk[:budget]
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            budget -= len(piece)
            if budget <= 0:
                break
        # No terminating chunk: the client sees the stream end early.

    # http.server dispatches on these names.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch  # noqa: N815


class HttpsServer(ThreadingHTTPServer):
    """A threading HTTPS server; the TLS handshake runs on the connection's thread, not the acceptor's."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Callable[[Request], Response], context: ssl.SSLContext) -> None:
        self.app = app
        self.ssl_context = context
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            log.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        try:
            super().finish_request(tls, client_address)
        except (ConnectionError, ssl.SSLError, TimeoutError) as error:
            log.debug("connection from %s ended: %s", client_address, error)
        finally:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


def serve(server: HttpsServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="org-http", daemon=True)
    thread.start()
    return thread


def public(handler: Handler) -> Handler:
    """Marks a route that needs no session (login, the versions list)."""
    handler.public = True  # type: ignore[attr-defined]
    return handler
