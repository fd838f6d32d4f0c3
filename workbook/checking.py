"""Exercise checks: run a battery of cases against a learner's code and report in plain words.

    from workbook.checking import Case, check
    check("hello handler", [
        Case("answers 200", lambda: handler({}, None)["statusCode"], expected=200,
             hint="return a dict with statusCode 200"),
    ])

On success ``check`` prints one line, ``✅ {title}: all {n} cases pass``. On the first failing case it
raises ``CheckFailed``, whose message (and whole IPython rendering: no traceback) is::

    ❌ {title}: case "{name}" failed
        expected: ...
        got: ...
        hint: ...

A learner function that still raises ``NotImplementedError`` (the stub) is reported as
"the exercise is not complete yet"; any other exception as "it raised {Type}: {message}".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INCOMPLETE = "the exercise is not complete yet"
INDENT = "    "
_MAX_SHOWN = 300  # long values (tokens, responses) are cut so a failure stays readable


class CheckFailed(AssertionError):  # noqa: N818 (the name the notebooks use)
    """A failed exercise check. Jupyter shows only its lines, never a traceback."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback.
        return list(self.lines)


@dataclass
class Case:
    """One case of a check: call the learner's code, compare the result.

    ``expected`` is compared with ``==`` unless ``satisfies`` (a predicate) is given; ``raises`` (an
    exception type) turns the case around: it passes only when ``actual()`` raises that type.
    """

    name: str
    actual: Callable[[], Any]
    expected: Any = None
    satisfies: Callable[[Any], bool] | None = None
    describe_expected: str | None = None
    hint: str = ""
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None


def check(title: str, cases: list[Case]) -> None:
    """Run ``cases`` in order; print one pass line, or raise ``CheckFailed`` at the first failure."""
    for case in cases:
        failure = _failure(case)
        if failure is not None:
            expected, got = failure
            raise CheckFailed(failure_lines(title, case, expected, got))
    print(f"✅ {title}: all {len(cases)} cases pass")


def failure_lines(title: str, case: Case, expected: str, got: str) -> list[str]:
    """The lines that report one failed case."""
    lines = [f'❌ {title}: case "{case.name}" failed', f"{INDENT}expected: {expected}", f"{INDENT}got: {got}"]
    if case.hint:
        lines.append(f"{INDENT}hint: {case.hint}")
    return lines


def _failure(case: Case) -> tuple[str, str] | None:
    """None when the case passes, else (what was expected, what happened) in words."""
    try:
        value = case.actual()
    except NotImplementedError:
        return _describe_expected(case), INCOMPLETE
    except Exception as error:  # the learner's code may raise anything; report it, never crash the check
        if case.raises is not None and isinstance(error, case.raises):
            return None
        return _describe_expected(case), _describe_error(error)
    if case.raises is not None:
        return _describe_expected(case), f"it returned {shown(value)}"
    if _accepted(case, value):
        return None
    return _describe_expected(case), shown(value)


def _accepted(case: Case, value: Any) -> bool:
    if case.satisfies is None:
        return bool(value == case.expected)
    try:
        return bool(case.satisfies(value))
    except Exception:  # a predicate that cannot even inspect the value means the value is wrong
        return False


def _describe_expected(case: Case) -> str:
    if case.describe_expected is not None:
        return case.describe_expected
    if case.raises is not None:
        return f"it raises {_type_names(case.raises)}"
    if case.satisfies is not None:
        return "a value that satisfies the check"
    return shown(case.expected)


def _describe_error(error: BaseException) -> str:
    message = str(error)
    return f"it raised {type(error).__name__}: {message}" if message else f"it raised {type(error).__name__}"


def _type_names(types: type[BaseException] | tuple[type[BaseException], ...]) -> str:
    if isinstance(types, tuple):
        return " or ".join(t.__name__ for t in types)
    return types.__name__


def shown(value: Any) -> str:
    """``repr`` of a value, cut to a readable length; sets in sorted order, so a report reads the same each run."""
    if isinstance(value, (set, frozenset)) and value:
        try:
            text = "{" + ", ".join(map(repr, sorted(value))) + "}"
        except TypeError:  # items that cannot be ordered
            text = repr(value)
    else:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
