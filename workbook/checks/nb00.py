"""Checks for ``00_welcome``: the warm-up exercise."""

from __future__ import annotations

from collections.abc import Callable

from workbook.checking import Case, check

# (text, scopes expected) – the last rows are what broke the original REQUIRE parsing.
_SPLIT_CASES: tuple[tuple[str, list[str]], ...] = (
    ("treasure:read", ["treasure:read"]),
    ("treasure:read treasure:write", ["treasure:read", "treasure:write"]),
    ("treasure:read,treasure:write", ["treasure:read", "treasure:write"]),
    ("treasure:read, treasure:write", ["treasure:read", "treasure:write"]),
    ("", []),
    ("   ", []),
    ("a,,b", ["a", "b"]),
    ("treasure:read\ttreasure:write\n", ["treasure:read", "treasure:write"]),
    ("treasure:write treasure:read treasure:write", ["treasure:write", "treasure:read"]),
    (" treasure:read", ["treasure:read"]),
    ("treasure:read,", ["treasure:read"]),
    ("Treasure:Read treasure:read", ["Treasure:Read", "treasure:read"]),
)


def check_split_scopes(split_scopes: Callable[[str], list[str]]) -> None:
    """``split_scopes(text)``: scope names in order, commas and whitespace both separate, no empties or repeats."""
    cases = [Case("returns a list", lambda: type(split_scopes("a b")).__name__, expected="list",
                  hint="build and return a list, e.g. with a list comprehension (not a tuple, set or generator)")]
    cases += [
        Case(f"split_scopes({text!r})", (lambda text=text: split_scopes(text)), expected=expected,
             hint=_hint_for(text))
        for text, expected in _SPLIT_CASES
    ]
    check("split_scopes", cases)


def _hint_for(text: str) -> str:
    if text != text.lower():
        return "scope names are case-sensitive: keep each name exactly as written, never lower() it"
    if not text.strip() or ",," in text or text.startswith(" ") or text.endswith(","):
        return "empty pieces appear around extra separators: drop them (a piece is kept only when it is not empty)"
    if text.count("treasure:write") > 1:
        return "keep each scope once, at its first place (dict.fromkeys keeps order)"
    return "commas and any whitespace both separate names: the re module can split on both at once"
