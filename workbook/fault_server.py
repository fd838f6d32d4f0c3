"""A JWKS endpoint that misbehaves the way real networks do: a raw-socket server on 127.0.0.1.

    with FaultServer("trickle_body", document=jwks(issuer), interval=0.05) as server:
        os.environ["JWKSPATH"] = server.url
        ...
        server.set_fault("ok")          # behave from now on (e.g. to warm a cache first)
        server.connections              # how many connections it has accepted

Each connection is answered in its own daemon thread according to the current fault (see
``FAULTS``: trickled status line, headers or body, a connection accepted and never answered,
garbage, an oversized header line, too many header lines, chunked bodies cut short, with a bad
size or endless, a lying ``Content-Length``, JSON nested 100,000 deep, ...). ``http.server`` cannot
misbehave like this: it always writes whole, well-formed responses.

The server binds port 0 (the OS picks a free port), waits on an event rather than sleeping, and
``stop()`` (or the end of a ``with`` block) releases every waiting handler, closes every socket and
joins every thread it started, even when a test failed. ``refusing_url()`` gives a URL on a port
where nothing listens (connections are refused).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any, Self

#: How a connection is answered: ``fault(connection, server)``; it may raise OSError when the client leaves.
Fault = Callable[[socket.socket, "FaultServer"], None]

DEFAULT_DOCUMENT: dict[str, Any] = {"keys": []}


class FaultServer:
    """A TCP server on 127.0.0.1 answering every connection with the current fault."""

    def __init__(self, fault: str = "ok", *, document: dict[str, Any] | bytes | None = None,
                 interval: float = 0.05, path: str = "/.well-known/jwks.json") -> None:
        self.path = path
        self.interval = interval  # seconds between trickled bytes or endless chunks
        self.connections = 0
        self._fault = _fault_named(fault)
        self.fault_name = fault
        self.body = b""
        self.publish(document if document is not None else DEFAULT_DOCUMENT)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._handlers: list[threading.Thread] = []
        self._open: set[socket.socket] = set()

    # ------------------------------------------------------------------ control

    def publish(self, document: dict[str, Any] | bytes) -> None:
        """The JWKS document the well-behaved parts of a fault send (bytes are sent as they are)."""
        self.body = document if isinstance(document, bytes) else json.dumps(document).encode()

    def set_fault(self, fault: str) -> None:
        """Answer new connections with this fault from now on."""
        self._fault = _fault_named(fault)
        self.fault_name = fault

    def respond_with(self, raw: bytes) -> None:
        """Answer new connections with exactly these bytes, then close (any response, well-formed or not)."""
        def send_raw(connection: socket.socket, server: FaultServer) -> None:
            connection.sendall(raw)

        self._fault = send_raw
        self.fault_name = "raw"

    @property
    def url(self) -> str:
        host, port = self.host_port
        return f"http://{host}:{port}{self.path}"

    @property
    def host_port(self) -> tuple[str, int]:
        if self._listener is None:
            raise RuntimeError("the fault server is not running: call start() or use it in a with block")
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Self:
        if self._listener is not None:
            return self
        self._stopping.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.05)  # the accept loop looks at the stop event this often
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-server", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Release every handler, close every socket, join every thread (bounded)."""
        if self._listener is None:
            return
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            for connection in list(self._open):
                _close(connection)
            handlers = list(self._handlers)
        for handler in handlers:
            handler.join(timeout=5)
        self._listener = None
        self._acceptor = None
        self._handlers.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers for faults

    def pause(self, seconds: float) -> bool:
        """Wait, unless the server is stopping; True when the fault should go on."""
        return not self._stopping.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def trickle(self, connection: socket.socket, data: bytes) -> None:
        """Send ``data`` one byte per ``interval``."""
        for index in range(len(data)):
            if not self.pause(self.interval):
                return
            connection.sendall(data[index : index + 1])

    def headers_for(self, body: bytes, *extra: str) -> bytes:
        lines = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    # ------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.add(connection)
                handler = threading.Thread(target=self._serve, args=(connection, self._fault),
                                           name="fault-server-connection", daemon=True)
                self._handlers.append(handler)
            handler.start()

    def _serve(self, connection: socket.socket, fault: Fault) -> None:
        try:
            connection.settimeout(1.0)
            _read_request(connection, self)
            fault(connection, self)
        except OSError:
            pass  # the client gave up (its deadline) or the server is stopping
        finally:
            with self._lock:
                self._open.discard(connection)
            _close(connection)


def refusing_url(path: str = "/.well-known/jwks.json") -> str:
    """A URL on 127.0.0.1 where nothing listens: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def _close(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()


def _read_request(connection: socket.socket, server: FaultServer) -> None:
    """Read the request head (up to its blank line) so the client is not reset while it sends."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536 and not server.stopping:
        try:
            chunk = connection.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            return
        data += chunk


# ---------------------------------------------------------------------- the faults


def ok(connection: socket.socket, server: FaultServer) -> None:
    """A clean answer: 200 with Content-Length and the document."""
    connection.sendall(server.headers_for(server.body) + server.body)


def delayed(connection: socket.socket, server: FaultServer) -> None:
    """A clean answer after ``interval`` seconds of silence (slow, but complete)."""
    if server.pause(server.interval):
        ok(connection, server)


def refuse_after_accept(connection: socket.socket, server: FaultServer) -> None:
    """Accept, then reset the connection at once (RST)."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def never_answer(connection: socket.socket, server: FaultServer) -> None:
    """Accept, read the request, say nothing until the server stops (a black hole behind a balancer)."""
    server.pause(3600)


def trickle_status(connection: socket.socket, server: FaultServer) -> None:
    server.trickle(connection, server.headers_for(server.body) + server.body)


def trickle_headers(connection: socket.socket, server: FaultServer) -> None:
    head = server.headers_for(server.body, *(f"X-Padding-{n}: {'p' * 20}" for n in range(40)))
    status_end = head.index(b"\r\n") + 2
    connection.sendall(head[:status_end])
    server.trickle(connection, head[status_end:] + server.body)


def trickle_body(connection: socket.socket, server: FaultServer) -> None:
    connection.sendall(server.headers_for(server.body))
    server.trickle(connection, server.body)


def garbage(connection: socket.socket, server: FaultServer) -> None:
    """Another service on the port: an SSH banner and binary bytes, not HTTP."""
    connection.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n" + bytes(range(256)) * 4)


def long_header_line(connection: socket.socket, server: FaultServer) -> None:
    """A 70 KB header line (http.client's limit is 64 KiB)."""
    head = server.headers_for(server.body, "X-Huge: " + "h" * 70_000)
    connection.sendall(head + server.body)


def many_header_lines(connection: socket.socket, server: FaultServer) -> None:
    """101 header lines (http.client's limit is 100)."""
    head = server.headers_for(server.body, *(f"X-Line-{n}: {n}" for n in range(99)))
    connection.sendall(head + server.body)


def _chunked_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(connection: socket.socket, server: FaultServer) -> None:
    """A clean chunked answer (three chunks, a chunk extension and a trailer)."""
    body = server.body
    third = max(1, len(body) // 3)
    parts = [body[:third], body[third : 2 * third], body[2 * third :]]
    encoded = b"".join(f"{len(p):x}".encode() + (b";note=x" if i == 0 else b"") + b"\r\n" + p + b"\r\n"
                       for i, p in enumerate(parts) if p)
    connection.sendall(_chunked_head() + encoded + b"0\r\nX-Trailer: done\r\n\r\n")


def chunked_cut_short(connection: socket.socket, server: FaultServer) -> None:
    """A chunk announced at its full size, half of it sent, then the connection closed."""
    body = server.body
    connection.sendall(_chunked_head() + f"{len(body):x}\r\n".encode() + body[: len(body) // 2])


def bad_chunk_size(connection: socket.socket, server: FaultServer) -> None:
    connection.sendall(_chunked_head() + b"zz\r\n" + server.body + b"\r\n0\r\n\r\n")


def endless_chunked(connection: socket.socket, server: FaultServer) -> None:
    """Chunks that never end: one small chunk per interval, until the client leaves."""
    connection.sendall(_chunked_head() + b"1\r\n[\r\n")
    while server.pause(server.interval):
        connection.sendall(b"8\r\n        \r\n")


def lying_content_length(connection: socket.socket, server: FaultServer) -> None:
    """Content-Length promises far more than is sent; then the connection closes."""
    head = server.headers_for(server.body).replace(f"Content-Length: {len(server.body)}".encode(),
                                                   f"Content-Length: {len(server.body) + 10_000}".encode())
    connection.sendall(head + server.body)


def deep_json(connection: socket.socket, server: FaultServer) -> None:
    """A 200 whose body is valid JSON nested 100,000 deep (200 KB: under the size cap)."""
    body = b"[" * 100_000 + b"]" * 100_000
    connection.sendall(server.headers_for(body) + body)


def redirect(connection: socket.socket, server: FaultServer) -> None:
    connection.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n")


def http_503(connection: socket.socket, server: FaultServer) -> None:
    body = b'{"error":"down"}'
    connection.sendall(server.headers_for(body).replace(b"200 OK", b"503 Service Unavailable") + body)


FAULTS: dict[str, Fault] = {
    "ok": ok,
    "chunked": chunked,
    "delayed": delayed,
    "refuse_after_accept": refuse_after_accept,
    "never_answer": never_answer,
    "trickle_status": trickle_status,
    "trickle_headers": trickle_headers,
    "trickle_body": trickle_body,
    "garbage": garbage,
    "long_header_line": long_header_line,
    "many_header_lines": many_header_lines,
    "chunked_cut_short": chunked_cut_short,
    "bad_chunk_size": bad_chunk_size,
    "endless_chunked": endless_chunked,
    "lying_content_length": lying_content_length,
    "deep_json": deep_json,
    "redirect": redirect,
    "http_503": http_503,
}

#: The faults that must make a fetch fail (every name in ``FAULTS`` but the clean answers).
FAILING_FAULTS = tuple(name for name in FAULTS if name not in ("ok", "chunked", "delayed"))


def _fault_named(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise ValueError(f"unknown fault {name!r}: choose from {', '.join(FAULTS)}") from None
