"""Unit tests for ``lambdaone.jwks_fetch``: the URL check, the one deadline, the request, the reader's limits, TLS.

Hostile servers (trickles, garbage, chunking faults) are in ``test/integration/test_jwks_faults.py``;
here the pieces are checked one by one, with fake sockets where a real one would be slow, and a TLS
server on 127.0.0.1 with a certificate generated at run time (no key is ever written to disk).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lambdaone import jwks_fetch
from lambdaone.jwks_fetch import Deadline, FetchError, parse_target
from workbook.fault_server import FaultServer

SECRET = "s3cr3t-pa55"


# --------------------------------------------------------------------------- the URL


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "host_header"),
    [
        ("https://issuer.example.test/.well-known/jwks.json", "issuer.example.test", 443,
         "/.well-known/jwks.json", "issuer.example.test"),
        ("https://issuer.example.test:8443/keys?tenant=a", "issuer.example.test", 8443, "/keys?tenant=a",
         "issuer.example.test:8443"),
        ("https://ISSUER.example.test", "issuer.example.test", 443, "/", "issuer.example.test"),
        ("http://127.0.0.1:8080/jwks.json", "127.0.0.1", 8080, "/jwks.json", "127.0.0.1:8080"),
        ("http://[::1]:8080/jwks.json", "::1", 8080, "/jwks.json", "[::1]:8080"),
        ("http://localhost/jwks.json", "localhost", 80, "/jwks.json", "localhost"),
        ("https://issuer.example.test/jwks.json#fragment", "issuer.example.test", 443, "/jwks.json",
         "issuer.example.test"),
    ],
)
def test_a_url_is_split_for_the_request(url: str, host: str, port: int, target: str, host_header: str) -> None:
    parsed = parse_target(url)
    assert (parsed.host, parsed.port, parsed.request_target, parsed.host_header) == (host, port, target, host_header)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://issuer.example.test/jwks.json", "only on loopback"),
        ("http://10.0.0.1/jwks.json", "only on loopback"),
        ("ftp://127.0.0.1/jwks.json", "with a host"),
        ("https:///jwks.json", "with a host"),
        ("https://[::1/jwks.json", "not a valid URL"),
        ("https://issuer.example.test:99999/jwks.json", "not a valid URL"),
        (f"https://admin:{SECRET}@issuer.example.test/jwks.json", "credentials"),
        (f"https://{SECRET}@issuer.example.test/jwks.json", "credentials"),
        (f"https://admin:{SECRET}/x@issuer.example.test/jwks.json", "credentials"),
        ("https://issuer.example.test/a b", "percent-encoded"),
        ("https://issuer.example.test/a\r\nX-Injected: 1", "percent-encoded"),
        ("https://issuer.example.test/ключи", "percent-encoded"),
        ("https://ключи.example.test/jwks.json", "xn--"),
    ],
)
def test_a_url_that_cannot_be_fetched_safely_is_refused(url: str, why: str) -> None:
    with pytest.raises(FetchError, match=why) as caught:
        parse_target(url)
    assert SECRET not in str(caught.value) and "admin" not in str(caught.value)


# --------------------------------------------------------------------------- the deadline


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_deadline_counts_down_and_names_the_stage() -> None:
    clock = ManualClock()
    deadline = Deadline(2.0, clock)
    assert deadline.left("connect") == 2.0
    clock.now += 1.5
    assert deadline.left("headers") == 0.5
    clock.now += 0.5
    with pytest.raises(FetchError, match=r"no complete answer within the 2 s deadline \(during the body\)"):
        deadline.left("body")


def test_a_slow_name_resolution_ends_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hanging_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)  # a resolver that takes far longer than the deadline
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(jwks_fetch.socket, "getaddrinfo", hanging_getaddrinfo)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="0.3 s deadline .during the name resolution"):
            jwks_fetch.fetch_document("https://issuer.example.test/jwks.json", timeout=0.3)
        assert time.monotonic() - started < 1.3
    finally:
        release.set()


def test_a_failed_name_resolution_names_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(jwks_fetch.socket, "getaddrinfo", failing_getaddrinfo)
    with pytest.raises(FetchError, match="cannot resolve issuer.example.test: Name or service not known"):
        jwks_fetch.fetch_document("https://issuer.example.test/jwks.json", timeout=1)


def test_a_name_is_resolved_in_a_helper_thread_and_literal_addresses_are_not(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = socket.getaddrinfo

    def recording_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real("127.0.0.1", args[1], type=socket.SOCK_STREAM)

    monkeypatch.setattr(jwks_fetch.socket, "getaddrinfo", recording_getaddrinfo)
    target = parse_target("https://issuer.example.test:1/jwks.json")
    [address] = jwks_fetch._addresses(target, Deadline(1))
    assert address[4] == ("127.0.0.1", 1)
    assert threads == ["jwks-resolve"]
    jwks_fetch._addresses(parse_target("http://127.0.0.1:1/"), Deadline(1))
    assert threads == ["jwks-resolve", "MainThread"]


# --------------------------------------------------------------------------- the request


def test_the_request_is_a_plain_http_1_1_get(issuer_key: Any) -> None:
    seen: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def answer() -> None:
            connection, _ = listener.accept()
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(4096)
                seen.append(data)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        assert jwks_fetch.fetch_document(f"http://127.0.0.1:{port}/jwks.json?x=1", timeout=2,
                                         headers={"User-Agent": "lambdaone-jwks/1"}) == {}
        server.join(timeout=5)
    assert seen == [(f"GET /jwks.json?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: lambdaone-jwks/1\r\n"
                     "Accept-Encoding: identity\r\nConnection: close\r\n\r\n").encode()]


@pytest.mark.parametrize("headers", [{"X-Bad": "a\r\nInjected: 1"}, {"Bad Name": "x"}, {"X-Uni": "ключ"}])
def test_a_request_header_that_cannot_be_sent_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(FetchError, match="cannot be sent"):
        jwks_fetch._request(parse_target("https://issuer.example.test/"), headers)


# --------------------------------------------------------------------------- the reader's limits, with a fake socket


class EndlessSocket:
    """A socket that always has ``piece`` to give, and counts what it gave."""

    def __init__(self, piece: bytes) -> None:
        self.piece = piece
        self.received = 0
        self.timeouts: list[float] = []

    def settimeout(self, seconds: float) -> None:
        self.timeouts.append(seconds)

    def recv(self, size: int) -> bytes:
        self.received += len(self.piece)
        return self.piece


def reader_for(sock: Any, seconds: float = 5.0) -> jwks_fetch._Reader:
    return jwks_fetch._Reader(sock, Deadline(seconds), jwks_fetch._Stage("body"))


def test_the_size_cap_is_enforced_while_reading() -> None:
    sock = EndlessSocket(b"x" * 4096)
    with pytest.raises(FetchError, match="larger than 262144 bytes"):
        reader_for(sock).until_close(jwks_fetch.MAX_BODY_BYTES)
    assert jwks_fetch.MAX_BODY_BYTES < sock.received <= jwks_fetch.MAX_BODY_BYTES + 4096  # never the whole body


def test_a_body_of_exactly_the_cap_is_read() -> None:
    class Finite(EndlessSocket):
        def recv(self, size: int) -> bytes:
            if self.received >= 1000:
                return b""
            return super().recv(size)

    assert reader_for(Finite(b"y" * 100)).until_close(1000) == b"y" * 1000
    with pytest.raises(FetchError, match="larger than 999 bytes"):
        reader_for(Finite(b"y" * 100)).until_close(999)


def test_every_receive_waits_at_most_for_what_is_left() -> None:
    clock = ManualClock()
    sock = EndlessSocket(b"a")
    reader = jwks_fetch._Reader(sock, Deadline(1.0, clock), jwks_fetch._Stage("status line"))

    def slow_recv(size: int) -> bytes:
        clock.now += 0.3
        return b"a"

    sock.recv = slow_recv  # type: ignore[method-assign]
    with pytest.raises(FetchError, match="1 s deadline .during the status line"):
        reader.line()
    assert sock.timeouts == pytest.approx([1.0, 0.7, 0.4, 0.1])


def test_a_long_line_is_refused_after_the_limit_not_at_its_end() -> None:
    sock = EndlessSocket(b"h" * 1000)
    with pytest.raises(FetchError, match="longer than 8192 bytes"):
        reader_for(sock).line()
    assert sock.received < jwks_fetch.MAX_LINE_BYTES + 1000


def test_a_line_of_exactly_the_limit_is_read() -> None:
    line = b"h" * (jwks_fetch.MAX_LINE_BYTES - 2) + b"\r\n"
    assert reader_for(EndlessSocket(line)).line() == line[:-2]
    too_long = b"h" * (jwks_fetch.MAX_LINE_BYTES - 1) + b"\r\n"
    with pytest.raises(FetchError, match="longer than"):
        reader_for(EndlessSocket(too_long)).line()


def test_many_small_chunks_are_bounded_by_the_deadline_even_from_the_buffer() -> None:
    clock = ManualClock()
    sock = EndlessSocket(b"1\r\na\r\n" * 1000)
    reader = jwks_fetch._Reader(sock, Deadline(1.0, clock), jwks_fetch._Stage("body"))
    original = reader.check_deadline
    calls = 0

    def ticking() -> None:
        nonlocal calls
        calls += 1
        clock.now += 0.01  # each chunk costs time
        original()

    reader.check_deadline = ticking  # type: ignore[method-assign]
    with pytest.raises(FetchError, match="deadline"):
        jwks_fetch._read_chunked(reader, jwks_fetch.MAX_BODY_BYTES)
    assert 99 <= calls <= 101
    assert sock.received == len(b"1\r\na\r\n" * 1000)  # one receive: the rest came from the buffer


def test_chunks_over_the_cap_are_refused() -> None:
    sock = EndlessSocket(b"10000\r\n" + b"z" * 0x10000 + b"\r\n")
    with pytest.raises(FetchError, match="larger than 262144 bytes"):
        jwks_fetch._read_chunked(reader_for(sock), jwks_fetch.MAX_BODY_BYTES)
    assert sock.received <= jwks_fetch.MAX_BODY_BYTES + 2 * (0x10000 + 9)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", "larger than 262144 bytes .Content-Length 999999"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", "more than 100 lines in the headers"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 4 + b"HTTP/1.1 200 OK\r\n\r\n", "more than 3 interim"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "HTTP 101"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "HTTP 204"),
        (b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", "HTTP 301 .*redirects are not followed"),
        (b"HTTP/2 200\r\n\r\n{}", "not an HTTP/1.x response"),
        (b"HTTP/1.1 20 OK\r\n\r\n{}", "not an HTTP/1.x response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", "not followed by its line end"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + b"T: 1\r\n" * 101,
         "more than 100 lines in the trailers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n{}", None),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}", None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n2\r\n{}\r\n0\r\n\r\n", None),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", None),  # no final CRLF: complete
    ],
)
def test_response_rules(raw: bytes, why: str | None) -> None:
    class Once(EndlessSocket):
        def recv(self, size: int) -> bytes:
            data, self.piece = self.piece, b""
            return data

    reader = reader_for(Once(raw))
    if why is None:
        assert jwks_fetch._read_response(reader, jwks_fetch.MAX_BODY_BYTES) == b"{}"
    else:
        with pytest.raises(FetchError, match=why):
            jwks_fetch._read_response(reader, jwks_fetch.MAX_BODY_BYTES)


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"[" * 100_000 + b"]" * 100_000, "nested too deeply"), (b"", "not JSON"), (b"\xff\xfe\xfa", "not JSON"),
     (b"1" * 5000, "not JSON"), (b"{'a': 1}", "not JSON")],
    ids=["deep", "empty", "not_utf", "huge_integer", "python_literal"],
)
def test_json_that_cannot_be_used_is_a_fetch_error(body: bytes, why: str) -> None:
    with pytest.raises(FetchError, match=why):
        jwks_fetch.parse_json(body)


def test_messages_never_carry_the_path_or_query() -> None:
    with FaultServer("garbage") as server:
        url = server.url + "?token=private-value"
        with pytest.raises(FetchError) as caught:
            jwks_fetch.fetch_document(url, timeout=1)
    assert "private-value" not in str(caught.value) and server.path not in str(caught.value)


# --------------------------------------------------------------------------- TLS, on 127.0.0.1


@contextmanager
def tls_server(answer: bytes | None) -> Iterator[tuple[int, ssl.SSLContext]]:
    """A TLS server for one connection (a certificate for 127.0.0.1 made now); None: never handshakes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:  # load_cert_chain reads files: a private folder, removed at once
        (Path(folder) / "cert.pem").write_bytes(pem)
        (Path(folder) / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                 serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
        server_context.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
    client_context = ssl.create_default_context(cadata=pem.decode())
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5)

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            if answer is None:
                stop.wait(10)  # TCP accepted, no TLS handshake ever
                return
            try:
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(answer)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], client_context
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def test_https_with_a_trusted_certificate() -> None:
    with tls_server(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"keys\":[]}") as (port, context):
        assert jwks_fetch.fetch_document(f"https://127.0.0.1:{port}/jwks.json", timeout=2,
                                         ssl_context=context) == {"keys": []}


def test_https_with_an_untrusted_certificate_is_refused() -> None:
    with tls_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") as (port, _):
        with pytest.raises(FetchError, match="TLS handshake with 127.0.0.1: CERTIFICATE_VERIFY_FAILED"):
            jwks_fetch.fetch_document(f"https://127.0.0.1:{port}/jwks.json", timeout=2)


def test_a_tls_handshake_that_never_comes_ends_at_the_deadline() -> None:
    with tls_server(None) as (port, context):
        started = time.monotonic()
        with pytest.raises(FetchError, match="0.3 s deadline .during the TLS handshake"):
            jwks_fetch.fetch_document(f"https://127.0.0.1:{port}/jwks.json", timeout=0.3, ssl_context=context)
        assert time.monotonic() - started < 1.3


# --------------------------------------------------------------------------- boundaries mutation testing asked for


class OnceSocket(EndlessSocket):
    """Gives ``piece`` once, then end of stream."""

    def recv(self, size: int) -> bytes:
        data, self.piece = self.piece, b""
        return data


def read_response(raw: bytes, max_bytes: int = jwks_fetch.MAX_BODY_BYTES) -> bytes:
    return jwks_fetch._read_response(reader_for(OnceSocket(raw)), max_bytes)


def test_exactly_max_header_lines_are_read() -> None:
    raw = b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 98 + b"Content-Length: 2\r\n\r\n{}"
    assert read_response(raw) == b"{}"  # 99 + 1 = 100 header lines: the limit itself


def test_a_chunked_body_of_exactly_the_cap_is_read() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n"
    assert read_response(raw, max_bytes=10) == b"abcdefghij"
    with pytest.raises(FetchError, match="larger than 9 bytes"):
        read_response(raw, max_bytes=9)


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: identity, identity\r\nContent-Length: 2\r\n\r\n{}", b"{}"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked , \r\n\r\n2\r\n{}\r\n0\r\n\r\n", b"{}"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2 ,\t2\r\n\r\n{}", b"{}"),
    ],
)
def test_comma_lists_are_split_and_trimmed(raw: bytes, body: bytes) -> None:
    assert read_response(raw) == body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         "the JWKS response has a Transfer-Encoding other than chunked"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: X2\r\n\r\n{}", "the JWKS response has a malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
         "the JWKS response has conflicting Content-Length values"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "the JWKS response has a malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}X\r\n",
         "a chunk of the JWKS response is not followed by its line end"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "a malformed line in the headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", r"the connection closed during the body \(2 of 10 bytes\)"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "the connection closed during the headers"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nT: 1\r\nBad trailer\r\n",
         "a malformed line in the trailers"),
    ],
)
def test_refusals_say_what_was_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(FetchError, match=f"^{message}$"):
        read_response(raw)


def test_the_deadline_message_names_the_chunk_stage() -> None:
    clock = ManualClock()
    reader = jwks_fetch._Reader(EndlessSocket(b"1\r\na\r\n" * 10), Deadline(1.0, clock), jwks_fetch._Stage("body"))
    reader.line()  # the first chunk-size line arrives; then time runs out
    clock.now += 2
    with pytest.raises(FetchError, match=r"^no complete answer within the 1 s deadline \(during the chunk size\)$"):
        jwks_fetch._read_chunked(reader, 100)


@pytest.mark.parametrize(("body", "message"), [(b"[" * 100_000 + b"]" * 100_000, "the JWKS response is JSON nested too deeply"),
                                               (b"nope", "the JWKS response is not JSON")])
def test_json_refusals_say_what_was_wrong(body: bytes, message: str) -> None:
    with pytest.raises(FetchError, match=f"^{message}$"):
        jwks_fetch.parse_json(body)


def test_causes_are_short_and_never_empty() -> None:
    assert jwks_fetch._cause(OSError()) == "OSError"
    assert jwks_fetch._cause(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"
    assert jwks_fetch._cause(OSError(5, "x" * 500)) == "x" * 120
    assert jwks_fetch._cause(ssl.SSLError(1, "[SSL] bad")) == "[SSL] bad"


def test_the_default_tls_context_verifies_certificates_and_host_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwks_fetch, "_default_tls_context", None)
    with tls_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") as (port, _):
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            jwks_fetch.fetch_document(f"https://127.0.0.1:{port}/jwks.json", timeout=2)
    context = jwks_fetch._default_tls_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with tls_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") as (port, _):
        with pytest.raises(FetchError):
            jwks_fetch.fetch_document(f"https://127.0.0.1:{port}/jwks.json", timeout=2)
    assert jwks_fetch._default_tls_context is context  # made once, reused


@pytest.mark.parametrize("interim", [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 102 Processing\r\n\r\n",
                                     b"HTTP/1.1 103 Early Hints\r\nLink: </k>\r\n\r\n"],
                         ids=["100", "102", "103"])
def test_up_to_max_interim_responses_are_skipped(interim: bytes) -> None:
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert read_response(interim * jwks_fetch.MAX_INTERIM_RESPONSES + final) == b"{}"
    with pytest.raises(FetchError, match="^more than 3 interim"):
        read_response(interim * (jwks_fetch.MAX_INTERIM_RESPONSES + 1) + final)


@pytest.mark.parametrize(("status", "message"), [
    (300, "HTTP 300 from the JWKS endpoint (redirects are not followed)"),
    (399, "HTTP 399 from the JWKS endpoint (redirects are not followed)"),
    (299, "HTTP 299 from the JWKS endpoint"),
    (400, "HTTP 400 from the JWKS endpoint"),
])
def test_only_3xx_is_called_a_redirect(status: int, message: str) -> None:
    with pytest.raises(FetchError) as caught:
        read_response(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % status)
    assert str(caught.value) == message


# --------------------------------------------------------------------------- what mutation testing found untested


def test_a_refused_address_is_followed_by_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with several addresses (localhost: ::1 and 127.0.0.1): a refusal on one moves on to the next."""
    with FaultServer("ok", document={"keys": []}) as server:
        port = server.host_port[1]
        with socket.socket() as closed:  # a port where nothing listens: connecting there is refused at once
            closed.bind(("127.0.0.1", 0))
            refused = closed.getsockname()
        addresses = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", refused),
                     (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        monkeypatch.setattr(jwks_fetch, "_addresses", lambda target, deadline: addresses)
        assert jwks_fetch.fetch_document(f"http://localhost:{port}/.well-known/jwks.json", timeout=2) == {"keys": []}


def test_when_every_address_refuses_the_last_refusal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = closed.getsockname()
    addresses = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", refused)] * 2
    monkeypatch.setattr(jwks_fetch, "_addresses", lambda target, deadline: addresses)
    with pytest.raises(FetchError, match=r"cannot connect to localhost: .*refused"):
        jwks_fetch.fetch_document(f"http://localhost:{refused[1]}/jwks.json", timeout=2)


def test_a_content_length_of_exactly_the_cap_is_read() -> None:
    body = b'{"keys": []}'
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with FaultServer("ok") as server:
        server.respond_with(raw)
        assert jwks_fetch.fetch_document(server.url, timeout=2, max_bytes=len(body)) == {"keys": []}
        with pytest.raises(FetchError, match=f"larger than {len(body) - 1} bytes"):
            jwks_fetch.fetch_document(server.url, timeout=2, max_bytes=len(body) - 1)


def test_a_connect_that_is_never_accepted_ends_at_the_deadline() -> None:
    """A listener whose backlog is full drops new SYNs: the connect itself must respect the deadline."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(8):  # fill the accept queue (never accepted); later SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.05)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("this kernel accepts connections beyond a full backlog: a stalled connect cannot be made here")
        except TimeoutError:
            pass
        finally:
            probe.close()
        started = time.monotonic()
        with pytest.raises(FetchError, match="deadline|timed out"):
            jwks_fetch.fetch_document(f"http://127.0.0.1:{port}/jwks.json", timeout=0.5)
        assert time.monotonic() - started < 0.5 + 1.0
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
