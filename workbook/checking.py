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

A case's ``hint`` is fixed; its ``explain`` (optional) looks at what came back (the value, or the exception
raised) and returns a hint for that very mistake, or None to fall back to ``hint``. One case can then tell
"the leeway is too large" from "exp verification is off" when both accept the same expired token.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Mapping
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
    explain: Callable[[Any], str | None] | None = None

    def hint_for(self, outcome: Any) -> str:
        """The hint for this outcome (a value, or the exception raised): ``explain``'s, else ``hint``."""
        if self.explain is not None:
            try:
                specific = self.explain(outcome)
            except Exception:  # an explanation that cannot read the outcome falls back to the fixed hint
                specific = None
            if specific:
                return specific
        return self.hint


def check(title: str, cases: list[Case]) -> None:
    """Run ``cases`` in order; print one pass line, or raise ``CheckFailed`` at the first failure."""
    for case in cases:
        failure = _failure(case)
        if failure is not None:
            expected, got, outcome = failure
            raise CheckFailed(failure_lines(title, case, expected, got, outcome))
    print(f"✅ {title}: all {len(cases)} cases pass")


def failure_lines(title: str, case: Case, expected: str, got: str, outcome: Any = None) -> list[str]:
    """The lines that report one failed case (``outcome``: what came back, for the case's ``explain``)."""
    lines = [f'❌ {title}: case "{case.name}" failed', f"{INDENT}expected: {expected}", f"{INDENT}got: {got}"]
    hint = case.hint_for(outcome)
    if hint:
        lines.append(f"{INDENT}hint: {hint}")
    return lines


def _failure(case: Case) -> tuple[str, str, Any] | None:
    """None when the case passes, else (what was expected, what happened in words, the value or exception)."""
    try:
        value = case.actual()
    except NotImplementedError:
        return _describe_expected(case), INCOMPLETE, None
    except Exception as error:  # the learner's code may raise anything; report it, never crash the check
        if case.raises is not None and isinstance(error, case.raises):
            return None
        return _describe_expected(case), _describe_error(error), error
    if case.raises is not None:
        return _describe_expected(case), f"it returned {shown(value)}", value
    if _accepted(case, value):
        return None
    return _describe_expected(case), shown(value), value


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


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record whose message cannot be formatted still counts
            self.lines.append(record.getMessage())
            return
        self.lines.append(str(record.msg))


def output_of(call: Callable[[], Any]) -> tuple[Any, str]:
    """Call ``call`` and return (its result, everything it printed or logged at any level, as one text).

    Catches ``print`` (stdout and stderr) and records sent to any logger that propagates to the root logger,
    whatever the levels configured: the point is to see a token written anywhere.
    """
    collector = _Collect()
    root = logging.getLogger()
    level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            result = call()
    finally:
        root.removeHandler(collector)
        root.setLevel(level)
    return result, printed.getvalue() + "\n".join(collector.lines)


def false_alarm_hints(why_fine: Mapping[str, str]) -> Callable[[Any], str | None]:
    """An ``explain=`` for a case whose right answer is ``set()``: each problem code flagged there is named
    with why that input is fine (``why_fine[code]``), so the hint speaks of the false alarm actually raised."""

    def explain(outcome: Any) -> str | None:
        if isinstance(outcome, (set, frozenset)) and outcome:
            return " ".join(why_fine.get(code, f"{code!r} is not a problem code") for code in sorted(outcome))
        return None

    return explain
