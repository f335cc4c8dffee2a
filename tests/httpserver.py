"""A real HTTP server on 127.0.0.1 for tests, with scriptable routes.

Routes serve bytes (or a file) with a status and headers, and can answer
conditional GETs (ETag / Last-Modified -> 304), Range requests (206 / 416,
If-Range), stall before the headers or the body, drop the connection after N
body bytes, and redirect. Every request is logged so tests can assert what the
server saw (or that it saw nothing).

Use from any test module:

    from httpserver import LocalServer  # the `http_server` fixture comes through conftest.py

    def test_x(http_server: LocalServer) -> None:
        http_server.route("/feed.xml", b"<rss/>", content_type="application/rss+xml")
        url = http_server.url("/feed.xml")
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Route:
    """What one path answers; every field can be changed between requests."""

    body: bytes | Path = b""
    status: int = 200
    content_type: str | None = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    ranges: bool = True  # honour Range / If-Range on 200 responses
    delay: float = 0.0  # seconds before the status line
    body_delay: float = 0.0  # seconds between the headers and the body
    drop_after: int | None = None  # close the connection after this many body bytes ...
    drop_times: int = 1  # ... on this many requests, then serve normally
    content_length: int | None = None  # declare this length instead of the real one
    handler: Handler | None = None  # full control: called instead of all of the above
    dropped: int = 0

    def data(self) -> bytes:
        return self.body.read_bytes() if isinstance(self.body, Path) else self.body


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: "LocalServer") -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.owner = owner

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out or hang up on purpose are part of the tests.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._log(Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.close_connection = True
        route = owner.routes.get(self.path) or owner.routes.get(self.path.split("?", 1)[0])
        route = route or owner.routes.get("*")
        if route is None:
            self._send(404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
            return
        if route.handler is not None:
            route.handler(self)
            return
        if route.delay and owner.stopping.wait(route.delay):
            return
        self._serve(route)

    def _serve(self, route: Route) -> None:
        headers = {"Content-Type": route.content_type} if route.content_type else {}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        headers.update(route.headers)
        if route.status == 200 and self._not_modified(route):
            self._send(304, b"", headers, declare_length=False)
            return
        data = route.data()
        status = route.status
        wanted = self.headers.get("Range")
        if status == 200 and route.ranges and wanted and self._if_range_holds(route):
            start, end = _parse_range(wanted, len(data))
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                self._send(416, b"", headers)
                return
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            status, data = 206, data[start : end + 1]
        if route.drop_after is not None and route.dropped < route.drop_times:
            route.dropped += 1
            self._send(status, data, headers, route=route, cut=route.drop_after)
            return
        self._send(status, data, headers, route=route)

    def _not_modified(self, route: Route) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # takes precedence over If-Modified-Since
            tags = {t.strip() for t in inm.split(",")}
            return route.etag is not None and ("*" in tags or route.etag in tags)
        ims = self.headers.get("If-Modified-Since")
        if ims and route.last_modified:
            try:
                return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
        return False

    def _if_range_holds(self, route: Route) -> bool:
        validator = self.headers.get("If-Range")
        return validator is None or validator in (route.etag, route.last_modified)

    def _send(
        self,
        status: int,
        data: bytes,
        headers: dict[str, str],
        *,
        route: Route | None = None,
        cut: int | None = None,
        declare_length: bool = True,
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if declare_length and not any(k.lower() == "content-length" for k in headers):
            length = route.content_length if route and route.content_length is not None else len(data)
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        if route is not None and route.body_delay and self.server.owner.stopping.wait(route.body_delay):
            return
        self.wfile.write(data if cut is None else data[:cut])
        self.wfile.flush()
        if cut is not None:
            # Hang up mid-body, as a flaky CDN or a dropped mobile link would.
            self.connection.shutdown(socket.SHUT_RDWR)


def _parse_range(value: str, size: int) -> tuple[int, int]:
    """(first, last) byte of a single "bytes=N-" or "bytes=N-M" range."""
    first, _, last = value.strip().removeprefix("bytes=").partition("-")
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return start, end


class LocalServer:
    """A threaded HTTP(S) server on 127.0.0.1 with a route table and a request log."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Absolute URL of `path` on this server (optionally under another host name)."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, body: bytes | Path = b"", **options: object) -> Route:
        """Serve `body` at `path` ("*" = any unknown path); options are Route fields."""
        route = Route(body=body, **options)  # type: ignore[arg-type]
        self.routes[path] = route
        return route

    def redirect(self, path: str, to: str, status: int = 302) -> Route:
        """Answer `path` with a redirect to `to` (a path or a full URL)."""
        return self.route(path, b"", status=status, content_type=None, headers={"Location": to})

    def requests_to(self, path: str) -> list[Seen]:
        """The logged requests for `path`."""
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def _log(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def close(self) -> None:
        """Stop serving and release stalled handlers."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A fresh LocalServer per test, closed afterwards."""
    server = LocalServer()
    try:
        yield server
    finally:
        server.close()
