"""JWKS under faults: what callers of ``lambda_function.handler`` see while the JWKS endpoint misbehaves.

    .venv/bin/python bench/jwks_faults.py           # the full run (part of ``make bench``), about 80 s
    .venv/bin/python bench/jwks_faults.py --quick   # a smoke run, 3 s per scenario

For an endpoint that refuses connections, one that accepts and never answers, and one that trickles
its answer (a byte every 20 ms: about 9 s for the document, far longer than the deadline), 8 concurrent callers send valid
tokens (one every 10 ms each) for 10 s, with the default cache policy (JWKS_TIMEOUT_SECONDS=2,
JWKS_COOLDOWN_SECONDS=10), first with an expired-but-stale cache (the keys just past their lifetime)
and then with a cold cache. Printed per scenario: the slowest request, how many requests waited
(took over 50 ms), and how many fetches the key source started in the 10 s. A last row shows PyJWT's
``PyJWKClient`` (timeout 2 s, expired cache) under the trickle, for comparison.

The exit status is 1 when a guarantee is broken (a stale-cache request waited, a request waited
longer than one deadline plus a margin, or more fetches than one per timeout + cooldown); the
latencies themselves never fail the run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from any folder

import jwt  # noqa: E402

from lambdaone import handler, jwt_key  # noqa: E402
from workbook import events  # noqa: E402
from workbook.environment import LambdaEnvironment  # noqa: E402
from workbook.fault_server import FaultServer  # noqa: E402
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks  # noqa: E402

CALLERS = 8
PACE_SECONDS = 0.010  # each caller sends a request every 10 ms
WAITED_SECONDS = 0.050  # a request slower than this "waited"
TIMEOUT = 2.0
COOLDOWN = 10.0
TRICKLE_INTERVAL = 0.02
REQUIRED_SCOPE = "treasure:read"


@dataclass
class Row:
    endpoint: str
    cache: str
    requests: int
    statuses: dict[int, int]
    slowest_ms: float
    waited: int
    fetches: int


def run_callers(call: Callable[[], Any], seconds: float) -> list[tuple[Any, float]]:
    """``CALLERS`` threads call ``call`` every ``PACE_SECONDS`` for ``seconds``; (result, latency) of each."""
    results: list[tuple[Any, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CALLERS)
    ends_at = time.monotonic() + seconds

    def caller() -> None:
        barrier.wait(timeout=10)
        mine: list[tuple[Any, float]] = []
        while time.monotonic() < ends_at:
            started = time.monotonic()
            try:
                outcome = call()
            except Exception as error:  # PyJWKClient raises: recorded as a result
                outcome = type(error).__name__
            mine.append((outcome, time.monotonic() - started))
            time.sleep(PACE_SECONDS)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return results


@contextlib.contextmanager
def lambda_configured(url: str) -> Iterator[None]:
    values = {"REQUIRE": REQUIRED_SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "JWKSPATH": url,
              "JWKS_TIMEOUT_SECONDS": str(TIMEOUT), "JWKS_COOLDOWN_SECONDS": str(COOLDOWN)}
    handler._runtime = None
    jwt_key.clear_caches()
    try:
        with LambdaEnvironment().using(values):
            yield
    finally:
        handler._runtime = None
        jwt_key.clear_caches()


def lambdaone_row(issuer: KeyPair, endpoint: str, cache: str, seconds: float) -> Row:
    import lambda_function

    token = issuer.token(scope=REQUIRED_SCOPE)
    event = events.http_api_v2(events.bearer(token))
    with FaultServer("ok", document=jwks(issuer), interval=TRICKLE_INTERVAL) as server, \
            lambda_configured(server.url):
        source = handler.current_runtime().key_source
        assert isinstance(source, jwt_key.JwksKeySource)
        if cache == "expired, stale":
            assert lambda_function.handler(event, None)["statusCode"] == 200
            source.expire()
        if endpoint == "refuses":
            server.stop()  # its port now refuses connections
        else:
            server.set_fault({"never answers": "never_answer", "trickles": "trickle_body"}[endpoint])
        before = source.fetches
        results = run_callers(lambda: lambda_function.handler(event, None)["statusCode"], seconds)
        fetches = source.fetches - before
    return summarize(endpoint, cache, results, fetches)


def pyjwkclient_row(issuer: KeyPair, seconds: float) -> Row:
    token = issuer.token(scope=REQUIRED_SCOPE)
    with FaultServer("ok", document=jwks(issuer), interval=TRICKLE_INTERVAL) as server:
        client = jwt.PyJWKClient(server.url, timeout=TIMEOUT, lifespan=1)
        client.get_signing_key_from_jwt(token)
        time.sleep(1.05)  # the cached set is now past its lifespan
        server.set_fault("trickle_body")
        before = server.connections

        def verify() -> int:
            key = client.get_signing_key_from_jwt(token)
            jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
            return 200

        results = run_callers(verify, seconds)
        fetches = server.connections - before
    return summarize("trickles", "`PyJWKClient(timeout=2)`, expired", results, fetches)


def summarize(endpoint: str, cache: str, results: list[tuple[Any, float]], fetches: int) -> Row:
    statuses: dict[Any, int] = {}
    for outcome, _ in results:
        statuses[outcome] = statuses.get(outcome, 0) + 1
    latencies = [latency for _, latency in results]
    return Row(endpoint, cache, len(results), statuses, max(latencies, default=0.0) * 1000,
               sum(latency > WAITED_SECONDS for latency in latencies), fetches)


def check(rows: list[Row], seconds: float) -> list[str]:
    problems = []
    allowed_fetches = int(seconds // (TIMEOUT + COOLDOWN)) + 1
    for row in rows:
        if row.cache.startswith("`"):
            continue
        if row.cache == "expired, stale" and row.waited:
            problems.append(f"{row.endpoint}, stale cache: {row.waited} requests waited")
        if row.slowest_ms > (TIMEOUT + 0.25 + 0.5) * 1000:  # one deadline, its margin, and a loaded machine
            problems.append(f"{row.endpoint}, {row.cache}: a request waited {row.slowest_ms:.0f} ms")
        if row.fetches > allowed_fetches:
            problems.append(f"{row.endpoint}, {row.cache}: {row.fetches} fetches, more than {allowed_fetches}")
    return problems


def report(rows: list[Row], seconds: float) -> str:
    lines = [
        f"**JWKS under faults** ({CALLERS} concurrent callers, a valid token every {PACE_SECONDS * 1000:.0f} ms "
        f"each, for {seconds:g} s; JWKS_TIMEOUT_SECONDS={TIMEOUT:g}, JWKS_COOLDOWN_SECONDS={COOLDOWN:g}):",
        "",
        f"| endpoint | cache | requests (statuses) | slowest request ms | waited > {WAITED_SECONDS * 1000:.0f} ms "
        f"| fetches per {seconds:g} s |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        statuses = ", ".join(f"{count:,}× {status}" for status, count in sorted(row.statuses.items(), key=str))
        lines.append(f"| {row.endpoint} | {row.cache} | {row.requests:,} ({statuses}) | {row.slowest_ms:,.0f} "
                     f"| {row.waited:,} | {row.fetches} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per scenario instead of 10")
    arguments = parser.parse_args(argv)
    seconds = 3.0 if arguments.quick else 10.0
    issuer = KeyPair.generate("RS256", kid="bench-faults-key")
    rows: list[Row] = []
    with contextlib.redirect_stdout(io.StringIO()):  # the Lambda's log lines: not part of the report
        for cache in ("expired, stale", "cold"):
            for endpoint in ("refuses", "never answers", "trickles"):
                print(f"{endpoint}, {cache} ...", file=sys.stderr, flush=True)
                rows.append(lambdaone_row(issuer, endpoint, cache, seconds))
        print("PyJWKClient, trickles ...", file=sys.stderr, flush=True)
        rows.append(pyjwkclient_row(issuer, seconds))
    print(report(rows, seconds))
    problems = check(rows, seconds)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
