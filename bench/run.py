"""LambdaOne's benchmark: prints Markdown tables (ready for the README); it is not a test.

    .venv/bin/python bench/run.py           # the full run (``make bench``), 20-40 s
    .venv/bin/python bench/run.py --quick   # a smoke run (rough figures), 5-10 s

Three questions, each answered in the same run against a local JWKS server on 127.0.0.1:

1. Warm invocation: the raw RSA verify of the token's signature (the floor), a bare ``jwt.decode``
   with a preloaded key, ``lambda_function.handler`` on a token it has never seen, and on the same
   token again (a verified-token cache hit). All four are measured in alternating rounds, so a
   noisy neighbour slows them alike; each piece of a first-seen request is also timed alone.
2. Cold start: ``import jwt`` alone, and ``import lambda_function`` (configuration and JWKS fetch)
   plus the first request, each in a fresh interpreter.
3. JWKS fetches: how many requests the key source makes for warm traffic and for a flood of
   tokens with random ``kid``s, next to PyJWT's own ``PyJWKClient`` used the straightforward way.

The exit status is 1 when a fetch-count guarantee or a response status is wrong (a bug, not noise);
timing figures never fail the run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import secrets
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from any folder: lambdaone and workbook live at the root

import cryptography  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from jwt.utils import base64url_decode, base64url_encode  # noqa: E402

from lambdaone import authz, handler, jose, jwt_key, logs, request, responses, settings  # noqa: E402
from lambdaone.claims import check_registered_claims  # noqa: E402
from lambdaone.reasons import Reason  # noqa: E402
from workbook import events  # noqa: E402
from workbook.environment import LambdaEnvironment  # noqa: E402
from workbook.jwks_server import JwksServer  # noqa: E402
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks  # noqa: E402

REQUIRED_SCOPE = "treasure:read"
FIRST_SEEN_TARGET = 2.0  # handler on a first-seen token / raw RSA verify
REPEATED_TARGET = 0.2  # handler on a repeated token / bare jwt.decode
COLD_TARGET = 1.15  # import lambda_function + first request / import jwt
FLOOD_SIZE = 1_000
# What API Gateway's HTTP API forwards besides Authorization: the handler scans every header name.
TYPICAL_HEADERS = {
    "accept": "*/*", "content-length": "0", "host": "abc123.execute-api.us-east-1.amazonaws.com",
    "user-agent": "curl/8.5.0", "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
    "x-forwarded-for": "203.0.113.7", "x-forwarded-port": "443", "x-forwarded-proto": "https",
}


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or a quick smoke run."""

    warm_rounds: int
    warm_calls: int
    piece_rounds: int
    piece_seconds: float  # wall time of one batch of a piece
    cold_starts: int


FULL = Plan(warm_rounds=15, warm_calls=2_000, piece_rounds=7, piece_seconds=0.05, cold_starts=7)
QUICK = Plan(warm_rounds=4, warm_calls=300, piece_rounds=3, piece_seconds=0.01, cold_starts=2)


class Context:
    """The part of Lambda's context object the handler reads."""

    aws_request_id = "bench-request"


# ---------------------------------------------------------------------------------------------
# Timing helpers


def per_call_microseconds(call: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in repeat(None, calls):
        call()
    return (time.perf_counter() - start) / calls * 1e6


Batch = Callable[[int], float]  # runs a number of calls, returns µs per call


def batch_of(call: Callable[[], object]) -> Batch:
    return lambda calls: per_call_microseconds(call, calls)


def interleaved(candidates: dict[str, Batch], rounds: int, calls: int) -> dict[str, list[float]]:
    """Per-call µs of each candidate, one sample per round; the order flips every round."""
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm every code path and cache before the first sample
        candidates[name](max(1, calls // 10))
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else reversed(names):
            samples[name].append(candidates[name](calls))
    return samples


def sized_batch(call: Callable[[], object], seconds: float) -> Batch:
    """A batch that always runs as many calls as fill about ``seconds`` (cheap pieces get more calls)."""
    estimate = per_call_microseconds(call, 200)
    calls = max(200, int(seconds * 1e6 / max(estimate, 0.01)))
    return lambda _requested: per_call_microseconds(call, calls)


# ---------------------------------------------------------------------------------------------
# Setup


@contextlib.contextmanager
def configured(server: JwksServer) -> Iterator[None]:
    """The Lambda's environment pointed at ``server``; the previous environment restored after."""
    with LambdaEnvironment().using(lambda_environment(server)):
        yield


def lambda_environment(server: JwksServer) -> dict[str, str]:
    return {"REQUIRE": REQUIRED_SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "JWKSPATH": server.url}


def reset_lambda_state() -> None:
    """A cold cache: no runtime and no key set, as in a fresh execution environment."""
    jwt_key.clear_caches()
    handler._runtime = None


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Denials log one line each to stdout: keep a flood of them out of the tables."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def random_kid_token(kid: str) -> str:
    """A token an attacker could send: RS256 header with an unknown kid, plausible claims, a junk signature."""
    now = int(time.time())
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "flood", "iat": now, "exp": now + 300, "scope": REQUIRED_SCOPE}
    segments = [json.dumps(part, separators=(",", ":")).encode() for part in (header, payload)]
    segments.append(secrets.token_bytes(256))
    return ".".join(base64url_encode(segment).decode() for segment in segments)


def http_api_event(token: str) -> dict[str, Any]:
    return events.http_api_v2({**TYPICAL_HEADERS, **events.bearer(token)})


def status_of(token: str) -> int:
    return handler_call(http_api_event(token))["statusCode"]


def handler_call(event: dict[str, Any]) -> dict[str, Any]:
    import lambda_function  # imported only once the environment is configured (it warms up at import)

    return lambda_function.handler(event, Context())


# ---------------------------------------------------------------------------------------------
# 1. Warm invocation


@dataclass
class WarmResult:
    samples: dict[str, list[float]]  # µs per call, one sample per round, for each series in WARM_SERIES
    pieces: dict[str, float]


WARM_SERIES = {
    "raw": "raw RSA PKCS#1 v1.5 SHA-256 verify of the signature (`cryptography`, the floor)",
    "decode": "bare `jwt.decode(token, public_key, algorithms=[\"RS256\"], audience=..., issuer=...)`",
    "first": "`lambda_function.handler` on a token it has never seen (verified-token cache emptied before each call)",
    "repeated": "`lambda_function.handler` on the same token again (a verified-token cache hit)",
}


def bench_warm(issuer: KeyPair, plan: Plan, problems: list[str]) -> WarmResult:
    import lambda_function

    token = issuer.token(scope=REQUIRED_SCOPE, lifetime=3600)
    event = http_api_event(token)
    context = Context()
    public_key = issuer.public_key
    signing_input, _, signature_segment = token.rpartition(".")
    signature = base64url_decode(signature_segment)
    message = signing_input.encode()
    pkcs1, sha256 = padding.PKCS1v15, hashes.SHA256
    runtime = handler.current_runtime()
    cache = runtime.token_cache
    if cache is None:
        problems.append("warm: the runtime has no verified-token cache (TOKEN_CACHE_SIZE=0?)")
        return WarmResult({}, {})
    for label, call in (("first-seen", lambda: (cache.clear(), lambda_function.handler(event, context))[1]),
                        ("repeated", lambda: lambda_function.handler(event, context))):
        status = call()["statusCode"]
        if status != 200:
            problems.append(f"warm: the handler answered {status} to a valid {label} token")

    def first_seen() -> object:
        cache.clear()  # about 0.1 µs: the token is then new to the handler, as every client's first call is
        return lambda_function.handler(event, context)

    candidates: dict[str, Batch] = {
        "raw": batch_of(lambda: public_key.verify(signature, message, pkcs1(), sha256())),
        "decode": batch_of(lambda: jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE,
                                              issuer=ISSUER)),
        "first": batch_of(first_seen),
        "repeated": batch_of(lambda: lambda_function.handler(event, context)),
    }
    samples = interleaved(candidates, plan.warm_rounds, plan.warm_calls)
    return WarmResult(samples, bench_pieces(token, event, plan))


def bench_pieces(token: str, event: dict[str, Any], plan: Plan) -> dict[str, float]:
    """Each step of a first-seen request alone, in the order a request meets them (best µs per call)."""
    runtime = handler.current_runtime()
    assert runtime.settings is not None and runtime.key_source is not None and runtime.token_cache is not None
    config, key_source, cache = runtime.settings, runtime.key_source, runtime.token_cache
    jws = jose.split(token)
    kid = jws.header["kid"]
    key = key_source.key_for(kid)
    payload = jose.decode_segment(jws.payload_segment, "payload")
    signature = jose.decode_segment(jws.signature_segment, "signature")
    claims = jose.parse_object(payload, "payload")
    decision = authz.Decision(Reason.ALLOWED, claims=claims, detail={"sub": claims["sub"]})

    def logging_piece() -> None:
        with logs.request_context(Context.aws_request_id):
            handler.log_decision(decision)

    pieces: dict[str, Callable[[], object]] = {
        "`current_runtime()` (configuration fingerprint)": handler.current_runtime,
        f"`bearer_token(event)` ({len(TYPICAL_HEADERS) + 1} headers)": lambda: request.bearer_token(event),
        "verified-token cache lookup (a miss)": lambda: cache.get("not-cached"),
        "`jose.split(token)` (shape, header: a repeated header's parse is reused)": lambda: jose.split(token),
        "header checks (`alg`, `typ`, `cty`, `kid`)": lambda: authz.check_header(jws.header, config),
        "key lookup (`key_for(kid)`, warm cache)": lambda: key_source.key_for(kid),
        "payload and signature base64url (strict)": lambda: (jose.decode_segment(jws.payload_segment, "p"),
                                                            jose.decode_segment(jws.signature_segment, "s")),
        "signature (PyJWT's RS256 algorithm object)": lambda: jose.signature_is_valid(jws, signature, "RS256",
                                                                                      key.public_key),
        "payload parse (UTF-8, I-JSON)": lambda: jose.parse_object(payload, "payload"),
        "registered claims": lambda: check_registered_claims(claims, issuer=config.issuer,
                                                             audiences=config.audiences, leeway=config.leeway,
                                                             now=time.time()),
        "`check_scopes(claims)`": lambda: authz.check_scopes(claims, config.required_scopes),
        "`respond(decision)`": lambda: responses.respond(decision),
        "log context + `log_decision` (nothing written at INFO)": logging_piece,
    }
    candidates = {name: sized_batch(call, plan.piece_seconds) for name, call in pieces.items()}
    figures = interleaved(candidates, plan.piece_rounds, calls=0)  # each batch knows its size
    return {name: min(values) for name, values in figures.items()}  # best of: noise only ever adds


# ---------------------------------------------------------------------------------------------
# 2. Cold start

# Runs in a fresh interpreter. It builds the event itself: importing the workbook would add to the figure.
_COLD_LAMBDA = """
import json, sys, time
token = sys.stdin.read()
start = time.perf_counter()
import lambda_function
imported = time.perf_counter()
event = {"version": "2.0", "routeKey": "GET /hello", "rawPath": "/hello", "rawQueryString": "",
         "headers": {"authorization": "Bearer " + token},
         "requestContext": {"http": {"method": "GET", "path": "/hello"}, "requestId": "cold"},
         "isBase64Encoded": False}
class Context:
    aws_request_id = "cold-start"
status = lambda_function.handler(event, Context())["statusCode"]
served = time.perf_counter()
print(json.dumps({"import_ms": (imported - start) * 1e3, "first_ms": (served - imported) * 1e3, "status": status}))
"""

_COLD_JWT = """
import json, time
start = time.perf_counter()
import jwt
print(json.dumps({"import_ms": (time.perf_counter() - start) * 1e3}))
"""


@dataclass
class ColdResult:
    figures: dict[str, list[float]]
    fetches: int
    starts: int


def run_child(code: str, environment: dict[str, str], stdin: str = "") -> tuple[dict[str, float], float]:
    """Run ``code`` in a fresh interpreter; its last stdout line (JSON) and the wall time in ms."""
    start = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 (our own interpreter and our own code)
        [sys.executable, "-c", code], input=stdin, capture_output=True, text=True, env=environment, cwd=ROOT,
        timeout=60, check=False,
    )
    wall_ms = (time.perf_counter() - start) * 1e3
    if completed.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1]), wall_ms


def bench_cold(issuer: KeyPair, server: JwksServer, plan: Plan, problems: list[str]) -> ColdResult:
    base = {k: v for k, v in os.environ.items() if k not in settings.VARIABLES}
    lambda_env = {**base, **lambda_environment(server)}
    token = issuer.token(scope=REQUIRED_SCOPE, lifetime=3600)
    run_child(_COLD_JWT, base)  # unmeasured: makes sure every .pyc is written before the figures start
    run_child(_COLD_LAMBDA, lambda_env, token)
    figures: dict[str, list[float]] = {"jwt": [], "import": [], "first": [], "both": [], "wall": []}
    before = server.requests
    for _ in range(plan.cold_starts):
        jwt_only, _wall = run_child(_COLD_JWT, base)
        figures["jwt"].append(jwt_only["import_ms"])
        child, wall = run_child(_COLD_LAMBDA, lambda_env, token)
        if child["status"] != 200:
            problems.append(f"cold start: the first request got {child['status']}, not 200")
        figures["import"].append(child["import_ms"])
        figures["first"].append(child["first_ms"])
        figures["both"].append(child["import_ms"] + child["first_ms"])
        figures["wall"].append(wall)
    return ColdResult(figures, server.requests - before, plan.cold_starts)


# ---------------------------------------------------------------------------------------------
# 3. JWKS fetches


@dataclass
class FetchRow:
    label: str
    fetches: int
    expected: str
    seconds: float


def bench_fetches(issuer: KeyPair, server: JwksServer, problems: list[str]) -> list[FetchRow]:
    token = issuer.token(scope=REQUIRED_SCOPE, lifetime=3600)
    flood = [random_kid_token(f"kid-{secrets.token_hex(8)}") for _ in range(FLOOD_SIZE)]
    rows = lambdaone_fetches(token, flood, server, problems)
    rows += pyjwt_fetches(token, flood, server)
    return rows


def lambdaone_fetches(token: str, flood: list[str], server: JwksServer, problems: list[str]) -> list[FetchRow]:
    reset_lambda_state()
    statuses, warm = counted(server, lambda: [status_of(token) for _ in range(FLOOD_SIZE)])
    if set(statuses) != {200}:
        problems.append(f"fetches: valid tokens got statuses {sorted(set(statuses))}")
    if warm.fetches != 1:
        problems.append(f"fetches: {FLOOD_SIZE} warm invocations made {warm.fetches} JWKS requests, not 1")
    with quiet_logs():
        statuses, flooded = counted(server, lambda: [status_of(forged) for forged in flood])
    if set(statuses) != {401}:
        problems.append(f"fetches: random-kid tokens got statuses {sorted(set(statuses))}")
    cooldown = handler.current_runtime().settings.jwks_cooldown_seconds  # type: ignore[union-attr]
    if flooded.fetches > 1:
        problems.append(f"fetches: {FLOOD_SIZE} random kids made {flooded.fetches} JWKS requests, more than 1")
    if flooded.seconds >= cooldown:
        problems.append(f"fetches: the flood took {flooded.seconds:.1f} s, longer than the {cooldown:g} s cooldown")
    return [
        FetchRow(f"`lambda_function.handler`, cold cache, then {FLOOD_SIZE:,} valid tokens", warm.fetches,
                 "exactly 1", warm.seconds),
        FetchRow(f"then {FLOOD_SIZE:,} tokens with random kids (one {cooldown:g} s cooldown window)",
                 flooded.fetches, "at most 1", flooded.seconds),
    ]


def pyjwt_fetches(token: str, flood: list[str], server: JwksServer) -> list[FetchRow]:
    """PyJWT's client, defaults, one ``get_signing_key_from_jwt`` per request (facts, no expectation)."""
    client = jwt.PyJWKClient(server.url)

    def signing_key(client: jwt.PyJWKClient, presented: str) -> bool:
        try:
            client.get_signing_key_from_jwt(presented)
        except jwt.PyJWKClientError:
            return False
        return True

    _, valid = counted(server, lambda: [signing_key(client, token) for _ in range(FLOOD_SIZE)])
    _, flooded = counted(server, lambda: [signing_key(client, forged) for forged in flood])
    _, per_request = counted(server, lambda: [signing_key(jwt.PyJWKClient(server.url), token)
                                              for _ in range(FLOOD_SIZE)])
    return [
        FetchRow(f"`PyJWKClient(url)` (defaults), new client, then {FLOOD_SIZE:,} valid tokens", valid.fetches,
                 "", valid.seconds),
        FetchRow(f"then {FLOOD_SIZE:,} tokens with random kids (same client)", flooded.fetches, "", flooded.seconds),
        FetchRow(f"a new `PyJWKClient(url)` built inside the handler, {FLOOD_SIZE:,} valid tokens",
                 per_request.fetches, "", per_request.seconds),
    ]


@dataclass
class Counted:
    fetches: int
    seconds: float


def counted(server: JwksServer, work: Callable[[], list[Any]]) -> tuple[list[Any], Counted]:
    """Run ``work``; its result, the JWKS requests the server saw meanwhile and the time it took."""
    before = server.requests
    start = time.perf_counter()
    result = work()
    return result, Counted(server.requests - before, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Report


def report(plan: Plan, warm: WarmResult, cold: ColdResult, fetch_rows: list[FetchRow]) -> str:
    lines = [*report_header(), "", *report_warm(plan, warm), "", *report_cold(cold), "", *report_fetches(fetch_rows)]
    return "\n".join(lines)


def report_header() -> list[str]:
    command = shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}, {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs), PyJWT {jwt.__version__}, cryptography "
        f"{cryptography.__version__}; `{command}`, {when}; load average {os.getloadavg()[0]:.2f} at the end.",
    ]


def ratio_text(value: float, target: float) -> str:
    return f"{value:.2f}× (target ≤ {target:g}×: {'met' if value <= target else 'NOT met'})"


def report_warm(plan: Plan, warm: WarmResult) -> list[str]:
    if not warm.samples:
        return ["**Warm invocation**: not measured (see PROBLEM below)."]
    medians = {name: statistics.median(values) for name, values in warm.samples.items()}
    raw, decode = medians["raw"], medians["decode"]
    paired_first = statistics.median(f / r for f, r in zip(warm.samples["first"], warm.samples["raw"], strict=True))
    paired_repeated = statistics.median(
        p / d for p, d in zip(warm.samples["repeated"], warm.samples["decode"], strict=True))
    lines = [
        f"**Warm invocation** (RS256 2048-bit, HTTP API v2 event with {len(TYPICAL_HEADERS) + 1} headers, JWKS cache "
        f"warm): {plan.warm_rounds} alternating rounds of {plan.warm_calls:,} calls each.",
        "",
        "| per call | median µs | min µs | × raw verify | × bare decode |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in WARM_SERIES.items():
        values = warm.samples[name]
        lines.append(f"| {label} | {medians[name]:.1f} | {min(values):.1f} | {medians[name] / raw:.2f} "
                     f"| {medians[name] / decode:.2f} |")
    lines += [
        "",
        f"- first-seen token: handler / raw verify = **{ratio_text(medians['first'] / raw, FIRST_SEEN_TARGET)}**; "
        f"round by round {paired_first:.2f}×.",
        f"- repeated token: handler / bare decode = **{ratio_text(medians['repeated'] / decode, REPEATED_TARGET)}**; "
        f"round by round {paired_repeated:.2f}×.",
        "",
        f"A first-seen request piece by piece, each alone in a tight loop (best of {plan.piece_rounds} rounds):",
        "",
        "| piece | µs per call |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {micros:.2f} |" for name, micros in warm.pieces.items()]
    total = sum(warm.pieces.values())
    lines += [
        f"| **sum of the pieces** | **{total:.2f}** |",
        f"| handler first-seen (median) − sum: glue (Decision and cache entries, calls) and running colder "
        f"| {medians['first'] - total:+.2f} |",
    ]
    return lines


def report_cold(cold: ColdResult) -> list[str]:
    def row(label: str, values: list[float]) -> str:
        return f"| {label} | {statistics.median(values):.0f} | {min(values):.0f} |"

    return [
        f"**Cold start**: a fresh `python` process each time, {cold.starts} times (bytecode already cached); "
        "times from `time.perf_counter()` inside the process.",
        "",
        "| fresh process | median ms | min ms |",
        "|---|---:|---:|",
        row("`import jwt` alone", cold.figures["jwt"]),
        row("`import lambda_function` (configuration + JWKS fetch from 127.0.0.1)", cold.figures["import"]),
        row("first request (valid RS256 token, 200)", cold.figures["first"]),
        row("`import lambda_function` + first request", cold.figures["both"]),
        row("the same, whole process as the parent sees it (interpreter start to exit)", cold.figures["wall"]),
        "",
        f"- cold start: (`import lambda_function` + first request) / `import jwt` = "
        f"**{ratio_text(statistics.median(cold.figures['both']) / statistics.median(cold.figures['jwt']), COLD_TARGET)}**"
        f" (medians).",
        f"- JWKS requests: {cold.fetches} for {cold.starts} cold starts (one each, during import).",
    ]


def report_fetches(rows: list[FetchRow]) -> list[str]:
    lines = [
        "**JWKS fetches** (requests counted by the local JWKS server; random-kid tokens carry a junk signature).",
        "",
        "| traffic | JWKS requests | guaranteed | wall s |",
        "|---|---:|---|---:|",
    ]
    lines += [f"| {r.label} | {r.fetches:,} | {r.expected or '–'} | {r.seconds:.2f} |" for r in rows]
    return lines


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with few rounds (figures are rough)")
    plan = QUICK if parser.parse_args(argv).quick else FULL
    problems: list[str] = []
    issuer = KeyPair.generate("RS256", kid="bench-key-1")
    with JwksServer(jwks(issuer)) as server, configured(server):
        reset_lambda_state()
        warm = bench_warm(issuer, plan, problems)
        cold = bench_cold(issuer, server, plan, problems)
        fetch_rows = bench_fetches(issuer, server, problems)
    print(report(plan, warm, cold, fetch_rows))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
