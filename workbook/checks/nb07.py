"""Checks for notebook 07 (a local JWKS server): start on port 0 from a daemon thread, stop cleanly."""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from workbook.checking import Case, check, shown

DOCUMENT = {"keys": [{"kty": "RSA", "kid": "check-07", "use": "sig", "alg": "RS256", "n": "AQAB", "e": "AQAB"}]}
OTHER_DOCUMENT = {"keys": [{"kty": "EC", "kid": "check-07-other", "use": "sig", "alg": "ES256"}]}
TIMEOUT = 2.0


class _Started:
    """The servers the check started, so that every one of them is stopped whatever happens."""

    def __init__(self, start: Callable[[dict[str, Any]], Any], stop: Callable[[Any], None]) -> None:
        self._start, self._stop = start, stop
        self.started: list[Any] = []
        self.created: list[socketserver.BaseServer] = []  # every server built during the check, returned or not
        self.stopped: list[Any] = []
        self.url = ""
        self.port = 0
        self.new_threads: list[threading.Thread] = []

    def start(self, document: dict[str, Any]) -> tuple[Any, str]:
        result = self._start(document)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str)):
            raise TypeError(f"start_jwks_server returned {shown(result)}, not (server, url)")
        self.started.append(result[0])
        return result

    def stop(self, server: Any) -> None:
        self.stopped.append(server)
        self._stop(server)

    @contextlib.contextmanager
    def recording_servers(self) -> Iterator[None]:
        """Note every socketserver built inside the block, even one the learner's code never returns."""
        original = socketserver.BaseServer.__init__
        created = self.created

        def init(server: socketserver.BaseServer, *args: Any, **kwargs: Any) -> None:
            created.append(server)
            original(server, *args, **kwargs)

        socketserver.BaseServer.__init__ = init  # type: ignore[method-assign]
        try:
            yield
        finally:
            socketserver.BaseServer.__init__ = original  # type: ignore[method-assign]

    def stop_all(self) -> None:
        """Stop with the learner's stop what it has not stopped yet, then make sure with the server's own methods:
        every server built during the check, so that no port stays bound after a failure."""
        for server in self.started:
            if not any(server is done for done in self.stopped):
                with contextlib.suppress(Exception):
                    self.stop(server)
        for server in [*self.started, *self.created]:
            _force_stop(server)


def _force_stop(server: Any) -> None:
    # shutdown() waits for serve_forever to end, forever if it never ran: give it a thread and a limit, then
    # release that thread; shutdown() has set the loop's stop request by then, so a loop still running ends too.
    shutdown = getattr(server, "shutdown", None)
    if callable(shutdown):
        helper = threading.Thread(target=_quietly, args=(shutdown,), daemon=True)
        helper.start()
        helper.join(timeout=2 if _is_serving(server) else 0.1)
        finished = getattr(server, "_BaseServer__is_shut_down", None)
        if helper.is_alive() and isinstance(finished, threading.Event):
            finished.set()
    with contextlib.suppress(Exception):
        server.server_close()


def _is_serving(server: Any) -> bool:
    """Whether a thread runs this server's serve_forever (a server that was never started does not)."""
    serve = getattr(server, "serve_forever", None)
    return serve is not None and any(getattr(thread, "_target", None) == serve for thread in threading.enumerate())


def _quietly(action: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):
        action()


def _port_is_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does; a listener still blocks it
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def check_jwks_server(start_jwks_server: Callable[[dict[str, Any]], Any], stop: Callable[[Any], None]) -> None:
    """``start_jwks_server(document) -> (server, url)`` and ``stop(server)``."""
    state = _Started(start_jwks_server, stop)
    # What the learner's server prints (http.server writes request lines to sys.stderr, from its threads)
    # is kept out of the cell; the "prints nothing" case looks at it.
    stray_output = io.StringIO()
    try:
        with contextlib.redirect_stderr(stray_output), state.recording_servers():
            check("start_jwks_server and stop", _cases(state, stray_output))
    finally:
        with contextlib.redirect_stderr(stray_output):
            state.stop_all()


def _cases(state: _Started, stray_output: io.StringIO) -> list[Case]:
    """The cases run in order on shared state: start a server, use it, start a second one, stop them."""
    first: list[Any] = []

    def starts() -> tuple[str | None, str | None, bool]:
        threads_before = set(threading.enumerate())
        server, url = state.start(DOCUMENT)
        first.append(server)
        state.new_threads = [t for t in threading.enumerate() if t not in threads_before]
        parts = urlsplit(url)
        state.url, state.port = url, parts.port or 0
        return parts.scheme, parts.hostname, state.port > 0

    def listens_on() -> Any:
        address = first[0].socket.getsockname() if hasattr(first[0], "socket") else first[0].server_address
        return address[0]

    def answers() -> tuple[int, str, Any]:
        response = requests.get(state.url, timeout=TIMEOUT)
        return response.status_code, response.headers.get("Content-Type", "").split(";")[0], response.json()

    def silent() -> str:
        already = len(stray_output.getvalue())
        with contextlib.redirect_stdout(stray_output):
            requests.get(state.url, timeout=TIMEOUT)
        return stray_output.getvalue()[already:]

    def daemon_thread() -> list[tuple[str, bool]]:
        return [(thread.name, thread.daemon) for thread in state.new_threads if not thread.daemon]

    def two_at_once() -> tuple[bool, Any, Any]:
        other, other_url = state.start(OTHER_DOCUMENT)
        try:
            different = urlsplit(other_url).port != state.port
            return (different, requests.get(state.url, timeout=TIMEOUT).json(),
                    requests.get(other_url, timeout=TIMEOUT).json())
        finally:
            state.stop(other)

    def port_free_after_stop() -> bool:
        state.stop(first[0])
        return _port_is_free(state.port)

    def refused_after_stop() -> str:
        try:
            requests.get(state.url, timeout=1)
        except requests.ConnectionError:
            return "connection refused"
        except requests.Timeout:
            return "the connection hung (the socket is still open)"
        return "it still answered"

    def no_thread_left() -> list[str]:
        _wait_for(lambda: not any(t.is_alive() for t in state.new_threads))
        return [thread.name for thread in state.new_threads if thread.is_alive()]

    return [
        Case("start_jwks_server returns (server, url): http, 127.0.0.1, a real port", starts,
             ("http", "127.0.0.1", True),
             hint="bind ('127.0.0.1', 0) and build the URL from server.server_address"),
        Case("the server listens on 127.0.0.1 only (the address it is bound to)", listens_on, "127.0.0.1",
             hint="bind ('127.0.0.1', 0): '' or '0.0.0.0' binds every interface, so anyone on the network can reach "
                  "it, whatever URL you return"),
        Case("GET url answers 200, application/json, the document", answers, (200, "application/json", DOCUMENT),
             hint="send_response(200), a Content-Type header, end_headers(), then write json.dumps(document)"),
        Case("the server prints nothing while serving", silent, "",
             hint="override log_message in the handler class so that it does nothing"),
        Case("every thread it started is a daemon (non-daemon threads listed)", daemon_thread, [],
             hint="threading.Thread(target=server.serve_forever, daemon=True)"),
        Case("two servers run at once, on different ports, each with its document (different, first, second)",
             two_at_once, (True, DOCUMENT, OTHER_DOCUMENT),
             hint="port 0 gives each server a free port; keep the document in the handler of each server"),
        Case("after stop the port is free again", port_free_after_stop, True,
             hint="call server.shutdown() and then server.server_close(), which closes the listening socket"),
        Case("after stop a GET is refused", refused_after_stop, "connection refused",
             hint="server_close() closes the socket: without it, connections still queue on the port"),
        Case("after stop no thread of the server is left (alive threads)", no_thread_left, [],
             hint="shutdown() ends serve_forever; then join() the thread you started"),
    ]
