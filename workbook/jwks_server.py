"""A local JWKS server: ``http.server`` in a daemon thread on 127.0.0.1, on a port the OS picks.

    with JwksServer(jwks(issuer)) as server:
        os.environ["JWKSPATH"] = server.url
        ...
        server.publish(jwks(issuer, rotated))   # rotate keys live
        server.go_down()                          # answer 503 from now on

It is silent (no request lines land in notebook cells), counts the requests it serves, and always
shuts down and closes its socket on ``stop()`` or at the end of a ``with`` block.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackHttpServer


class JwksServer(LoopbackHttpServer):
    thread_name = "jwks-server"

    def __init__(self, document: dict[str, Any] | None = None, path: str = "/.well-known/jwks.json") -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()
        self._body = b""
        self.requests = 0
        self.down = False
        self.publish(document or {"keys": []})

    def publish(self, document: dict[str, Any] | bytes) -> None:
        """Serve this document from now on (bytes are served as they are)."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        with self._lock:
            self._body = body

    def go_down(self) -> None:
        """Answer every request with 503, as an unreachable or broken issuer would."""
        self.down = True

    def come_back(self) -> None:
        self.down = False

    @property
    def url(self) -> str:
        host, port = self.host_port
        return f"http://{host}:{port}{self.path}"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def _answer(self, path: str) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
            body = self._body
        if self.down:
            return 503, b'{"error":"down"}'
        if path != self.path:
            return 404, b'{"error":"not found"}'
        return 200, body


def _handler_for(server: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, body = server._answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # silent: output would land in random cells
            pass

    return Handler
