"""The JWKS cache over time: lifetime, stale window, 503; cooldowns after a failure and an unknown kid; the deadline.

The variable names are checked against ``lambdaone.settings`` and the defaults read from ``lambdaone.jwt_key``,
so a renamed variable or a changed default makes this figure stale instead of wrong (notebooks 05 and 07).
"""

from __future__ import annotations

from lambdaone import jwt_key, settings

from .svg import BLUE, GRAY, GREEN, INK, MUTED, RED, YELLOW, Drawing, FigureError, Line, Span, Tone

NAME = "jwks-cache-timeline.svg"
WIDTH, HEIGHT = 800, 668
LEFT, RIGHT = 24, 776
BAND = 46


def defaults() -> dict[str, str]:
    """Each cache variable with its default, as the Lambda reads them."""
    policy = jwt_key.CachePolicy()
    values = {"JWKS_CACHE_SECONDS": policy.lifetime, "JWKS_STALE_SECONDS": policy.stale_for,
              "JWKS_COOLDOWN_SECONDS": policy.cooldown, "JWKS_TIMEOUT_SECONDS": policy.timeout}
    missing = sorted(set(values) - set(settings.VARIABLES))
    if missing:
        raise FigureError(f"{NAME}: lambdaone.settings no longer reads {', '.join(missing)}")
    return {name: f"{value:g} s" for name, value in values.items()}


def variable(name: str, value: str) -> list[Span]:
    return [Span(name, code=True), Span(f" ({value} by default)")]


def band(drawing: Drawing, x0: float, x1: float, y: float, tone: Tone, lines: list[Line], *, dash: str | None = None,
         height: float = BAND) -> None:
    """A stretch of time: a box from x0 to x1 with its meaning inside, centred."""
    drawing.rect(x0, y, x1 - x0, height, fill=tone.fill, stroke=tone.stroke, radius=3, dash=dash)
    first = y + height / 2 - (len(lines) - 1) * 8 + 4.5
    drawing.lines((x0 + x1) / 2, first, lines, size=12, leading=1.35, anchor="middle", max_width=x1 - x0 - 10)


def bracket(drawing: Drawing, x0: float, x1: float, y: float, label: Line) -> None:
    """A bracket above a stretch of time, with what sets its length."""
    drawing.path(f"M{x0 + 1},{y + 6} V{y} H{x1 - 1} V{y + 6}", stroke=INK, width=1.2)
    drawing.text((x0 + x1) / 2, y - 6, label, size=12, anchor="middle", max_width=x1 - x0 + 40)


def tick(drawing: Drawing, x: float, y: float, label: Line, *, fill: str = MUTED) -> None:
    drawing.line(x, y - 4, x, y + 4, stroke=MUTED, width=1.2)
    drawing.text(x, y + 18, label, size=11.5, anchor="middle", fill=fill)


def heading(drawing: Drawing, y: float, title: str, explanation: Line) -> None:
    drawing.text(LEFT, y, title, size=14.5, bold=True)
    drawing.text(LEFT, y + 19, explanation, size=12.5, fill=MUTED, max_width=RIGHT - LEFT)


def draw() -> Drawing:
    values = defaults()
    drawing = Drawing(WIDTH, HEIGHT, slug="jwks-cache-timeline", title="The JWKS key cache over time",
                      description=(
                          "Four timelines, not to scale. One: after a successful fetch the keys are fresh for "
                          f"JWKS_CACHE_SECONDS ({values['JWKS_CACHE_SECONDS']} by default) and served from memory; "
                          f"then, for JWKS_STALE_SECONDS ({values['JWKS_STALE_SECONDS']}), they are still served "
                          "while one request refreshes them in the background, so nobody waits; after that, with no "
                          "usable key, requests get 503 with Retry-After. A successful refresh starts the timeline "
                          "again. Two: a failed fetch is followed by a cooldown of JWKS_COOLDOWN_SECONDS "
                          f"({values['JWKS_COOLDOWN_SECONDS']}), counted from when the failed fetch ends; no fetch "
                          "starts before it is over. Three: a token with an unknown kid triggers at most one refetch "
                          "per cooldown; another unknown kid during the cooldown is refused without a fetch. Four: "
                          f"JWKS_TIMEOUT_SECONDS ({values['JWKS_TIMEOUT_SECONDS']}) bounds the whole fetch, connect, "
                          "status line, headers and body, not each read, so a server that trickles bytes is cut off "
                          "at the deadline."))
    drawing.text(LEFT, 30, "The JWKS key cache over time", size=18, bold=True)
    drawing.text(RIGHT, 30, "(not to scale)", size=12.5, anchor="end", fill=MUTED)

    # 1. Lifetime, stale window, no key.
    y = 62
    heading(drawing, y, "1  After a successful fetch", "A successful refresh, at any point, starts this timeline again "
            "with the new keys.")
    bar = y + 58
    fetch_end, fresh_end, stale_end = 84, 330, 640
    band(drawing, LEFT, fetch_end, bar, GRAY, ["fetch"])
    band(drawing, fetch_end, fresh_end, bar, GREEN, ["fresh: served from memory,", "no network call"])
    band(drawing, fresh_end, stale_end, bar, YELLOW, ["stale: still served at once; one request", "refreshes in the "
                                                                                             "background"])
    band(drawing, stale_end, RIGHT, bar, RED, ["no usable key:", "503 + Retry-After"])
    bracket(drawing, fetch_end, fresh_end, bar - 10, variable("JWKS_CACHE_SECONDS", values["JWKS_CACHE_SECONDS"]))
    bracket(drawing, fresh_end, stale_end, bar - 10, variable("JWKS_STALE_SECONDS", values["JWKS_STALE_SECONDS"]))
    tick(drawing, fetch_end, bar + BAND + 6, "keys arrive")
    tick(drawing, fresh_end, bar + BAND + 6, "lifetime over")
    tick(drawing, stale_end, bar + BAND + 6, "lifetime + stale window over")

    # 2. A failed fetch, then a cooldown from its end.
    y = bar + BAND + 50
    heading(drawing, y, "2  A failed fetch", "Refused, stalled, cut off or garbage: all fail alike. Keys still within "
            "1 keep serving meanwhile.")
    bar = y + 58
    fail_end, cool_end = 250, 560
    band(drawing, LEFT, fail_end, bar, GRAY, ["fetch attempt", "(at most the deadline, see 4)"])
    band(drawing, fail_end, cool_end, bar, BLUE, ["cooldown: no fetch starts; without keys,",
                                                  "503 with Retry-After = the seconds left"])
    band(drawing, cool_end, RIGHT, bar, GREEN, ["the next fetch may start"], dash="5 3")
    bracket(drawing, fail_end, cool_end, bar - 10, variable("JWKS_COOLDOWN_SECONDS", values["JWKS_COOLDOWN_SECONDS"]))
    tick(drawing, fail_end, bar + BAND + 6, [Span("the failure ends: the cooldown starts here", fill=RED.stroke)])

    # 3. Unknown kids.
    y = bar + BAND + 50
    heading(drawing, y, "3  Tokens with an unknown kid", "A rotated key is picked up by the first token that uses it; "
            "a flood of random kids costs one fetch.")
    bar = y + 58
    refetch_end, cool_end = 170, 560
    band(drawing, LEFT, refetch_end, bar, GRAY, ["kid \"new\": one", "refetch"])
    band(drawing, refetch_end, cool_end, bar, BLUE, ["cooldown: another unknown kid gets", "401 unknown_key, no fetch"])
    band(drawing, cool_end, RIGHT, bar, GREEN, ["an unknown kid may", "refetch again"], dash="5 3")
    bracket(drawing, refetch_end, cool_end, bar - 10, variable("JWKS_COOLDOWN_SECONDS",
                                                               values["JWKS_COOLDOWN_SECONDS"]))
    for x in (300, 400):
        drawing.circle(x, bar + BAND + 8, 4.5, fill=RED.stroke)
    drawing.text(350, bar + BAND + 26, "unknown kids: refused", size=11.5, anchor="middle", fill=MUTED)

    # 4. The deadline of one fetch.
    y = bar + BAND + 50
    heading(drawing, y, "4  One fetch, one deadline", "Whatever the server does (trickle, stall, endless body), the "
            "fetch gives up in time.")
    bar = y + 58
    connect_end, headers_end, deadline = 150, 360, 600
    band(drawing, LEFT, connect_end, bar, GRAY, ["connect"])
    band(drawing, connect_end, headers_end, bar, GRAY, ["status line + headers"])
    band(drawing, headers_end, deadline, bar, GRAY, [f"body (at most {jwt_key.MAX_JWKS_BYTES // 1024} KiB)"])
    band(drawing, deadline, RIGHT, bar, RED, ["cut off: a", "failed fetch (2)"])
    bracket(drawing, LEFT, deadline, bar - 10, [*variable("JWKS_TIMEOUT_SECONDS", values["JWKS_TIMEOUT_SECONDS"]),
                                                Span(": the whole fetch, not each read")])
    drawing.line(deadline, bar - 6, deadline, bar + BAND + 6, stroke=RED.stroke, width=2.5)
    tick(drawing, deadline, bar + BAND + 6, [Span("deadline", fill=RED.stroke)])
    return drawing
