"""A local issuer that serves OpenID Connect Discovery and its JWKS on 127.0.0.1 (a port the OS picks).

    with IssuerServer(jwks(key_a)) as a, IssuerServer(jwks(key_b), path="/realms/b") as b:
        os.environ["ISSUER"] = f"{a.issuer} {b.issuer}"    # no JWKSPATH: discovery
        token = key_a.token(iss=a.issuer, scope="treasure:read")
        ...
        a.set_metadata(issuer="https://someone-else.example/")   # the mix-up attack
        a.cache_control = "max-age=0"                                # Cache-Control on both answers
        a.go_down()                                                  # 503 from now on

Paths: ``<issuer without trailing slash>/.well-known/openid-configuration`` (OpenID Connect
Discovery), ``/.well-known/oauth-authorization-server<issuer path>`` (RFC 8414; with
``openid_configuration=False`` only this one answers and the other gives 404), and the JWKS at
``<issuer path>/jwks.json``. ``requests`` counts what was asked, by kind (``"openid"``, ``"oauth"``,
``"jwks"``, ``"other"``). Silent, and always shut down and closed on ``stop()`` or at the end of a
``with`` block.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackHttpServer

OPENID = "/.well-known/openid-configuration"
OAUTH = "/.well-known/oauth-authorization-server"


class IssuerServer(LoopbackHttpServer):
    thread_name = "issuer-server"

    def __init__(self, document: dict[str, Any] | None = None, *, path: str = "/",
                 openid_configuration: bool = True, cache_control: str | None = None) -> None:
        super().__init__()
        if not path.startswith("/"):
            raise ValueError("path starts with '/' (e.g. '/' or '/realms/a')")
        self.path = path
        self.openid_configuration = openid_configuration
        self.cache_control = cache_control
        self._lock = threading.Lock()
        self._jwks = b""
        self._overrides: dict[str, Any] = {}
        self.requests: Counter[str] = Counter()
        self.down = False
        self.publish(document or {"keys": []})

    # ------------------------------------------------------------------ what it serves

    @property
    def base(self) -> str:
        host, port = self.host_port
        return f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        """The issuer identifier: ``http://127.0.0.1:<port><path>`` (``/`` gives a trailing slash)."""
        return self.base + self.path

    @property
    def _trimmed_path(self) -> str:
        return self.path[:-1] if self.path.endswith("/") else self.path

    @property
    def openid_configuration_url(self) -> str:
        return self.base + self._trimmed_path + OPENID

    @property
    def authorization_server_url(self) -> str:
        return self.base + OAUTH + self._trimmed_path

    @property
    def jwks_url(self) -> str:
        return self.base + self._trimmed_path + "/jwks.json"

    def metadata(self) -> dict[str, Any]:
        """The metadata document it serves now (``set_metadata`` overrides members)."""
        with self._lock:
            overrides = dict(self._overrides)
        document = {"issuer": self.issuer, "jwks_uri": self.jwks_url,
                    "authorization_endpoint": self.base + self._trimmed_path + "/authorize",
                    "token_endpoint": self.base + self._trimmed_path + "/token",
                    "id_token_signing_alg_values_supported": ["RS256"]}
        document.update(overrides)
        return {name: value for name, value in document.items() if value is not None}

    def publish(self, document: dict[str, Any] | bytes) -> None:
        """Serve this JWKS from now on (bytes are served as they are)."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        with self._lock:
            self._jwks = body

    def set_metadata(self, **members: Any) -> None:
        """Override members of the metadata (None removes one), e.g. ``issuer=...`` or ``jwks_uri=...``."""
        with self._lock:
            self._overrides.update(members)

    def go_down(self) -> None:
        """Answer every request with 503, as an unreachable or broken issuer would."""
        self.down = True

    def come_back(self) -> None:
        self.down = False

    # ------------------------------------------------------------------ HTTP

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def answer(self, path: str) -> tuple[int, bytes]:
        kind = ("openid" if path == self._trimmed_path + OPENID else
                "oauth" if path == OAUTH + self._trimmed_path else
                "jwks" if path == self._trimmed_path + "/jwks.json" else "other")
        with self._lock:
            self.requests[kind] += 1
            jwks_body = self._jwks
        if self.down:
            return 503, b'{"error":"down"}'
        if kind == "jwks":
            return 200, jwks_body
        if kind == "oauth" or (kind == "openid" and self.openid_configuration):
            return 200, json.dumps(self.metadata()).encode()
        return 404, b'{"error":"not found"}'


def _handler_for(server: IssuerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, body = server.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 200 and server.cache_control is not None:
                self.send_header("Cache-Control", server.cache_control)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # silent: output would land in random cells
            pass

    return Handler
