"""A real webhook receiver for tests: an http.server on 127.0.0.1 in a thread that keeps every JSON POST.

It can answer with another status, or wait before answering (a slow endpoint); `url` is where to post.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Collects the JSON bodies posted to it; `status` and `delay` may be changed between posts."""

    def __init__(self, port: int = 0, status: int = 200, delay: float = 0.0) -> None:
        self.posts: list[dict] = []
        self.status = status
        self.delay = delay
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet tests
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if owner.delay and owner.stopping.wait(owner.delay):
                    return
                with owner._lock:
                    if owner.status < 300:
                        owner.posts.append({"content_type": self.headers.get("content-type"), **json.loads(body)})
                self.send_response(owner.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up waiting is part of the tests

        self._server = Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        """The posts, once at least `count` arrived (or the timeout passed)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(self.posts) < count:
            time.sleep(0.05)
        with self._lock:
            return list(self.posts)

    def close(self) -> None:
        """Stop serving (stalled answers are released)."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
