"""A tiny Lambda runtime API: hands events to a runtime interface client and collects its answers.

On Lambda, a runtime (here AWS's ``awslambdaric``, the image's entrypoint) asks the service for work at
``AWS_LAMBDA_RUNTIME_API``: ``GET /2018-06-01/runtime/invocation/next`` returns the next event, and the
runtime posts the handler's result to ``.../invocation/{request id}/response`` (or ``.../error``). This
server plays the service's part on 127.0.0.1, on a port the OS picks:

    with RuntimeApi() as api:
        # docker run --network host -e AWS_LAMBDA_RUNTIME_API={api.address} IMAGE
        result = api.invoke({"headers": {}}, timeout=60)   # {"kind": "response", "payload": {...}}

It is silent, serves one invocation at a time, and shuts down and closes its socket on ``stop()``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from workbook.loopback import LoopbackHttpServer

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lambdaone"
DEADLINE_SECONDS = 30


class RuntimeApiError(RuntimeError):
    """The runtime reported an initialization error, or gave no answer in time."""


@dataclass
class _Invocation:
    request_id: str
    event: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None


class RuntimeApi(LoopbackHttpServer):
    thread_name = "runtime-api"

    def __init__(self) -> None:
        super().__init__()
        self._pending: queue.Queue[_Invocation] = queue.Queue()
        self._in_flight: dict[str, _Invocation] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.init_error: dict[str, Any] | None = None
        self.polls = 0  # GET .../next requests: the runtime is up once this is positive

    @property
    def address(self) -> str:
        """``host:port``, the value for ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self.host_port
        return f"{host}:{port}"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def start(self) -> RuntimeApi:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # releases a runtime blocked in GET .../next
        super().stop()

    def invoke(self, event: Any, timeout: float = 60) -> dict[str, Any]:
        """Queue one event and wait for the runtime's answer: ``{"kind": "response"|"error", "payload": ...}``."""
        invocation = _Invocation(str(uuid.uuid4()), event)
        self._pending.put(invocation)
        deadline = time.monotonic() + timeout
        while not invocation.done.wait(timeout=0.1):
            if self.init_error is not None:
                raise RuntimeApiError(f"the runtime failed to initialize: {self.init_error}")
            if time.monotonic() > deadline:
                raise RuntimeApiError(f"no answer from the runtime within {timeout:.0f} s (polls so far: {self.polls})")
        assert invocation.result is not None
        return invocation.result

    # --- the service side, called from the HTTP handler's threads -------------------------------------

    def _next(self) -> _Invocation | None:
        with self._lock:
            self.polls += 1
        while not self._stopping.is_set():
            try:
                invocation = self._pending.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._lock:
                self._in_flight[invocation.request_id] = invocation
            return invocation
        return None

    def _finish(self, request_id: str, kind: str, payload: Any) -> bool:
        with self._lock:
            invocation = self._in_flight.pop(request_id, None)
        if invocation is None:
            return False
        invocation.result = {"kind": kind, "payload": payload}
        invocation.done.set()
        return True


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" handled for large results

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                # The runtime's container was removed while its keep-alive connection waited: nobody to answer,
                # and socketserver would otherwise print a traceback on stderr from this thread.
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404, {"errorMessage": "not found"})
                return
            invocation = api._next()
            if invocation is None:
                self._reply(503, {"errorMessage": "shutting down"})
                return
            deadline_ms = int((time.time() + DEADLINE_SECONDS) * 1000)
            self._reply(200, invocation.event, {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            })

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = _json_or_text(body)
            parts = self.path.removeprefix(PREFIX).strip("/").split("/")
            if parts == ["init", "error"]:
                api.init_error = {"type": self.headers.get("Lambda-Runtime-Function-Error-Type"), "payload": payload}
                self._reply(202, {"status": "OK"})
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in {"response", "error"}:
                known = api._finish(parts[1], parts[2], payload)
                self._reply(202 if known else 400, {"status": "OK" if known else "unknown request id"})
            else:
                self._reply(404, {"errorMessage": "not found"})

        def _reply(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(document).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the runtime is gone (its container was removed): nobody to tell

        def log_message(self, format: str, *args: Any) -> None:  # silent: output would land in notebook cells
            pass

    return Handler


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
