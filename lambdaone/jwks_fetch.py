"""One HTTP GET of a JWKS document under one total deadline.

``fetch_document(url, timeout=...)`` gives up ``timeout`` seconds after it starts, whatever the server
does: every blocking step (name resolution, connect, TLS handshake, sending the request, each read of
the status line, headers and body) waits at most for what is left of that one deadline. A socket
timeout alone bounds each read, so a server trickling a byte a second could hold a fetch for as long
as it likes; ``urllib`` and ``http.client`` work that way.

The response is read by a small HTTP/1.1 reader, stricter than ``http.client`` (see the README):
only ``200`` is a success and redirects are never followed; the body is read up to a cap, counted
while reading (``Content-Length``, chunked or until close); a line over ``MAX_LINE_BYTES``, more than
``MAX_HEADER_LINES`` header lines, obsolete line folding, a malformed ``Content-Length`` or chunk size,
a transfer coding other than ``chunked`` or a content coding other than ``identity`` end the fetch.
Every failure is a :class:`FetchError` whose message is short and safe to log: it names the stage
and the host, never the URL's path, query or credentials, nor anything the server sent.

``fetch_json`` also reads the answer's ``Cache-Control`` (:func:`cache_max_age`): the key sources
let it shorten their lifetime, within their bounds. The same rules fetch discovery documents.

``ssl`` is imported only for an ``https`` URL; no proxy variables are read (``HTTPS_PROXY`` is ignored).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

from .settings import has_credentials, is_loopback_host

#: The largest body read (bytes); a longer one ends the fetch without being read further.
MAX_BODY_BYTES = 256 * 1024
#: The longest status line, header line or chunk-size line (bytes, with its line end).
MAX_LINE_BYTES = 8 * 1024
#: The most header lines in one response (and trailer lines after a chunked body).
MAX_HEADER_LINES = 100
#: The most interim (1xx) responses skipped before the final one.
MAX_INTERIM_RESPONSES = 3

_RECEIVE_BYTES = 64 * 1024
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9][0-9])(?: [^\x00-\x08\x0a-\x1f\x7f]*)?")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_DIGITS = re.compile(rb"[0-9]{1,15}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """The fetch failed; the message is short, names the stage, and is safe to log.

    ``status`` is the HTTP status of a final answer other than 200 (None for any other failure):
    discovery falls back to RFC 8414's metadata on a 404.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Fetched(NamedTuple):
    """A parsed JSON answer and what its ``Cache-Control`` says about its lifetime (None: nothing)."""

    document: Any
    max_age: float | None


@dataclass(frozen=True)
class Target:
    """What a JWKS URL asks for: where to connect and what to send."""

    scheme: str
    host: str
    port: int
    request_target: str
    host_header: str


def parse_target(url: str) -> Target:
    """Check a JWKS URL (https, or http on loopback; no credentials) and split it for the request."""
    if has_credentials(url):
        raise FetchError("the JWKS URL carries credentials (user:password@): refused, they are never sent")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise FetchError("the JWKS URL is not a valid URL") from None
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise FetchError("the JWKS URL is not an http(s) URL with a host")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise FetchError("plain http is allowed only on loopback: use https")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        raise FetchError("the JWKS host is not ASCII: write it in its xn-- form") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(character <= " " or character == "\x7f" for character in path) or not path.isascii():
        raise FetchError("the JWKS URL's path has characters that must be percent-encoded")
    shown_host = f"[{host}]" if ":" in host else host
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port or _DEFAULT_PORTS[parts.scheme],
        request_target=path,
        host_header=shown_host if port is None else f"{shown_host}:{port}",
    )


class Deadline:
    """One point in time after which a fetch gives up; ``left(stage)`` is what remains of it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends_at = clock() + seconds

    def left(self, stage: str) -> float:
        remaining = self._ends_at - self._clock()
        if remaining <= 0:
            raise FetchError(f"no complete answer within the {self.seconds:g} s deadline (during the {stage})")
        return remaining


def fetch_document(
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    ssl_context: Any = None,
) -> Any:
    """GET ``url`` and parse its body as JSON, all within ``timeout`` seconds; raise :class:`FetchError`."""
    return fetch_json(url, timeout=timeout, headers=headers, max_bytes=max_bytes, ssl_context=ssl_context).document


def fetch_json(
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    ssl_context: Any = None,
) -> Fetched:
    """Like :func:`fetch_document`, with the ``max-age`` of the answer's ``Cache-Control``."""
    deadline = Deadline(timeout)
    target = parse_target(url)
    response_headers: dict[bytes, list[bytes]] = {}
    body = fetch_body(target, deadline, headers or {}, max_bytes, ssl_context, response_headers)
    return Fetched(parse_json(body), cache_max_age(response_headers.get(b"cache-control", [])))


_MAX_AGE = re.compile(rb'max-age[ \t]*=[ \t]*"?([0-9]{1,10})"?')


def cache_max_age(values: list[bytes]) -> float | None:
    """The lifetime ``Cache-Control`` header values give a response (seconds), or None when they say none.

    ``no-store`` and ``no-cache`` count as 0 (the response may not be reused without asking again);
    of several ``max-age`` the smallest wins, and a malformed one counts as 0 (RFC 9111 §4.2.1:
    an invalid freshness lifetime means stale). The key sources floor what comes out of here, so
    0 never means a fetch per request.
    """
    ages: list[float] = []
    for directive in _tokens(values):
        name = directive.split(b"=", 1)[0].strip(b" \t")
        if name in (b"no-store", b"no-cache"):
            ages.append(0.0)
        elif name == b"max-age":
            match = _MAX_AGE.fullmatch(directive)
            ages.append(float(match.group(1)) if match else 0.0)
    return min(ages) if ages else None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise FetchError("the JWKS response is JSON nested too deeply") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer too long to convert
        raise FetchError("the JWKS response is not JSON") from None


def fetch_body(target: Target, deadline: Deadline, headers: Mapping[str, str], max_bytes: int,
               ssl_context: Any = None, response_headers: dict[bytes, list[bytes]] | None = None) -> bytes:
    """Connect, send the GET, read a 200 response's body; every step within ``deadline``.

    ``response_headers``, when given, receives the final answer's headers (lower-case names).
    """
    stage = _Stage("name resolution")
    try:
        sock = _connect(target, deadline, stage)
        try:
            if target.scheme == "https":
                sock = _start_tls(sock, target, deadline, stage, ssl_context)
            stage.name = "request"
            sock.settimeout(deadline.left(stage.name))
            sock.sendall(_request(target, headers))
            return _read_response(_Reader(sock, deadline, stage), max_bytes, response_headers)
        finally:
            sock.close()
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(f"no complete answer within the {deadline.seconds:g} s deadline "
                         f"(during the {stage.name})") from None
    except OSError as error:  # includes ssl.SSLError
        raise FetchError(f"network error during the {stage.name} with {target.host}: {_cause(error)}") from None
    except (ValueError, UnicodeError) as error:  # e.g. a host name the IDNA codec or TLS refuses
        raise FetchError(f"cannot fetch from {target.host}: {type(error).__name__}") from None


class _Stage:
    """The step a fetch is in, for its error messages."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _cause(error: OSError) -> str:
    reason = getattr(error, "reason", None)  # ssl.SSLError: e.g. CERTIFICATE_VERIFY_FAILED
    text = reason if isinstance(reason, str) else error.strerror
    return str(text or type(error).__name__)[:120]


def _addresses(target: Target, deadline: Deadline) -> list[tuple[Any, ...]]:
    try:
        ipaddress.ip_address(target.host)
    except ValueError:
        pass
    else:  # a literal address: nothing to resolve, nothing to wait for
        return socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    # getaddrinfo has no timeout: it runs in a helper thread, and the fetch stops waiting at its deadline.
    outcome: dict[str, Any] = {}
    resolved = threading.Event()

    def resolve() -> None:
        try:
            outcome["addresses"] = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except Exception as error:  # gaierror, UnicodeError: reported by the waiting fetch
            outcome["error"] = error
        finally:
            resolved.set()

    threading.Thread(target=resolve, name="jwks-resolve", daemon=True).start()
    if not resolved.wait(deadline.left("name resolution")):
        raise FetchError(f"no complete answer within the {deadline.seconds:g} s deadline (during the name resolution)")
    if "error" in outcome:
        error = outcome["error"]
        cause = _cause(error) if isinstance(error, OSError) else type(error).__name__
        raise FetchError(f"cannot resolve {target.host}: {cause}")
    addresses: list[tuple[Any, ...]] = outcome["addresses"]
    return addresses


def _connect(target: Target, deadline: Deadline, stage: _Stage) -> socket.socket:
    addresses = _addresses(target, deadline)
    stage.name = "connect"
    failure: OSError | None = None
    for family, kind, protocol, _, address in addresses:
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(deadline.left(stage.name))
            sock.connect(address)
        except OSError as error:
            sock.close()
            failure = error
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if isinstance(failure, TimeoutError):
        raise failure
    raise FetchError(f"cannot connect to {target.host}: {_cause(failure) if failure else 'no address'}")


_default_tls_context: Any = None


def _start_tls(sock: socket.socket, target: Target, deadline: Deadline, stage: _Stage,
               ssl_context: Any) -> socket.socket:
    import ssl  # only for https: plain-http loopback fetches never load it

    global _default_tls_context
    context = ssl_context
    if context is None:
        if _default_tls_context is None:
            _default_tls_context = ssl.create_default_context()
        context = _default_tls_context
    stage.name = "TLS handshake"
    tls = context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
    try:
        tls.settimeout(deadline.left(stage.name))
        tls.do_handshake()  # one call: CPython bounds the whole handshake by the socket timeout
    except BaseException:
        tls.close()
        raise
    return cast(socket.socket, tls)


def _request(target: Target, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {target.request_target} HTTP/1.1", f"Host: {target.host_header}"]
    for name, value in headers.items():
        if not _HEADER_LINE.fullmatch(f"{name}: {value}".encode("latin-1", "replace")):
            raise FetchError(f"request header {name[:40]!r} cannot be sent as it is")
        lines.append(f"{name}: {value}")
    lines += ["Accept-Encoding: identity", "Connection: close", "", ""]
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise FetchError("a request header cannot be sent as it is") from None


class _Reader:
    """Lines and bytes from a socket; each receive waits at most for what is left of the deadline.

    Consumed bytes are dropped only before the next receive (a read position, not a copy per line),
    so a body of many tiny chunks costs time in proportion to its size, not to its size squared.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline, stage: _Stage) -> None:
        self._sock = sock
        self._deadline = deadline
        self.stage = stage
        self._buffer = bytearray()
        self._position = 0

    def check_deadline(self) -> None:
        """Raise when the deadline has passed, even while buffered data needs no receive."""
        self._deadline.left(self.stage.name)

    def _receive(self) -> bool:
        """Append what the server sends next; False when it has closed the connection."""
        if self._position:
            del self._buffer[: self._position]
            self._position = 0
        self._sock.settimeout(self._deadline.left(self.stage.name))
        data = self._sock.recv(_RECEIVE_BYTES)
        self._buffer += data
        return bool(data)

    def _buffered(self) -> int:
        return len(self._buffer) - self._position

    def line(self, *, eof_ok: bool = False) -> bytes | None:
        """The next line without its line end (CRLF, or LF alone); None at a permitted end of stream."""
        searched = 0  # bytes of the current line already searched for its end
        while True:
            end = self._buffer.find(b"\n", self._position + searched, self._position + MAX_LINE_BYTES)
            if end >= 0:
                line = bytes(self._buffer[self._position : end])
                self._position = end + 1
                return line[:-1] if line.endswith(b"\r") else line
            if self._buffered() >= MAX_LINE_BYTES:
                raise FetchError(f"a line of the {self.stage.name} is longer than {MAX_LINE_BYTES} bytes")
            searched = self._buffered()
            if not self._receive():
                if eof_ok and not self._buffered():
                    return None
                raise FetchError(f"the connection closed during the {self.stage.name}")

    def exactly(self, count: int) -> bytes:
        while self._buffered() < count:
            if not self._receive():
                raise FetchError(f"the connection closed during the {self.stage.name} "
                                 f"({self._buffered()} of {count} bytes)")
        data = bytes(self._buffer[self._position : self._position + count])
        self._position += count
        return data

    def until_close(self, limit: int) -> bytes:
        while self._buffered() <= limit and self._receive():
            pass
        if self._buffered() > limit:
            raise FetchError(f"the JWKS response is larger than {limit} bytes")
        return bytes(self._buffer[self._position :])


def _read_response(reader: _Reader, max_bytes: int,
                   response_headers: dict[bytes, list[bytes]] | None = None) -> bytes:
    for _ in range(MAX_INTERIM_RESPONSES + 1):
        reader.stage.name = "status line"
        status_line = reader.line()
        match = _STATUS_LINE.fullmatch(status_line or b"")
        if match is None:
            raise FetchError("the JWKS endpoint's answer is not an HTTP/1.x response")
        status = int(match.group(1))
        headers = _read_headers(reader, "headers")
        if status in (100, 102, 103):  # interim responses: the final one follows
            continue
        break
    else:
        raise FetchError(f"more than {MAX_INTERIM_RESPONSES} interim (1xx) responses")
    if status != 200:
        redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
        raise FetchError(f"HTTP {status} from the JWKS endpoint{redirect}", status=status)
    if response_headers is not None:
        response_headers.update(headers)
    for coding in _tokens(headers.get(b"content-encoding", [])):
        if coding != b"identity":
            raise FetchError("the JWKS response has a Content-Encoding, which was not asked for")
    reader.stage.name = "body"
    transfer_codings = _tokens(headers.get(b"transfer-encoding", []))
    if transfer_codings:
        if transfer_codings != [b"chunked"]:
            raise FetchError("the JWKS response has a Transfer-Encoding other than chunked")
        return _read_chunked(reader, max_bytes)  # RFC 9112 §6.3: chunked wins over Content-Length
    length = _content_length(headers.get(b"content-length"))
    if length is None:
        return reader.until_close(max_bytes)
    if length > max_bytes:
        raise FetchError(f"the JWKS response is larger than {max_bytes} bytes (Content-Length {length})")
    return reader.exactly(length)


def _read_headers(reader: _Reader, section: str) -> dict[bytes, list[bytes]]:
    reader.stage.name = section
    headers: dict[bytes, list[bytes]] = {}
    for _ in range(MAX_HEADER_LINES + 1):
        line = reader.line(eof_ok=section == "trailers")
        if not line:  # the blank line ending the section (or the end of the stream after trailers)
            return headers
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            raise FetchError(f"a malformed line in the {section}")
        headers.setdefault(match.group(1).lower(), []).append(match.group(2))
    raise FetchError(f"more than {MAX_HEADER_LINES} lines in the {section}")


def _tokens(values: list[bytes]) -> list[bytes]:
    return [token.strip(b" \t").lower() for value in values for token in value.split(b",") if token.strip(b" \t")]


def _content_length(values: list[bytes] | None) -> int | None:
    if values is None:
        return None
    lengths = {item.strip(b" \t") for value in values for item in value.split(b",")}
    if len(lengths) != 1:
        raise FetchError("the JWKS response has conflicting Content-Length values")
    [length] = lengths
    if not _DIGITS.fullmatch(length):
        raise FetchError("the JWKS response has a malformed Content-Length")
    return int(length)


def _read_chunked(reader: _Reader, max_bytes: int) -> bytes:
    body = bytearray()
    while True:
        reader.stage.name = "chunk size"
        reader.check_deadline()  # many small chunks may come from the buffer without a receive
        match = _CHUNK_SIZE.fullmatch(reader.line() or b"")
        if match is None:
            raise FetchError("the JWKS response has a malformed chunk size")
        size = int(match.group(1), 16)
        if size == 0:
            break
        if len(body) + size > max_bytes:
            raise FetchError(f"the JWKS response is larger than {max_bytes} bytes")
        reader.stage.name = "body"
        body += reader.exactly(size)
        reader.stage.name = "chunk end"
        if reader.line() != b"":
            raise FetchError("a chunk of the JWKS response is not followed by its line end")
    _read_headers(reader, "trailers")
    return bytes(body)
