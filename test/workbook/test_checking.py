"""workbook.checking: the one-line pass report, the failure lines, and Jupyter's rendering of a failure."""

from __future__ import annotations

import pytest

from workbook.checking import INCOMPLETE, Case, CheckFailed, check, shown


def failure_of(title: str, cases: list[Case]) -> CheckFailed:
    with pytest.raises(CheckFailed) as raised:
        check(title, cases)
    return raised.value


def test_all_cases_pass_prints_exactly_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    check("adder", [Case("1 + 1", lambda: 1 + 1, expected=2), Case("2 + 2", lambda: 2 + 2, expected=4)])
    assert capsys.readouterr().out == "✅ adder: all 2 cases pass\n"


def test_first_failing_case_is_reported_with_expected_got_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    failure = failure_of("adder", [
        Case("1 + 1", lambda: 2, expected=2),
        Case("2 + 2", lambda: 5, expected=4, hint="use +"),
    ])
    assert failure.lines == ['❌ adder: case "2 + 2" failed', "    expected: 4", "    got: 5", "    hint: use +"]
    assert str(failure) == "\n".join(failure.lines)
    assert capsys.readouterr().out == ""  # the lines are shown once, by the exception, not printed as well


def test_no_hint_line_when_the_case_has_no_hint() -> None:
    failure = failure_of("t", [Case("c", lambda: 1, expected=2)])
    assert failure.lines == ['❌ t: case "c" failed', "    expected: 2", "    got: 1"]


def test_cases_after_the_first_failure_are_not_run() -> None:
    calls: list[str] = []

    def record(name: str, value: int) -> int:
        calls.append(name)
        return value

    failure_of("t", [Case("a", lambda: record("a", 1), expected=2), Case("b", lambda: record("b", 2), expected=2)])
    assert calls == ["a"]


def test_not_implemented_reads_as_an_incomplete_exercise() -> None:
    def stub() -> None:
        raise NotImplementedError("complete this exercise")

    failure = failure_of("t", [Case("c", stub, expected=1)])
    assert failure.lines[2] == f"    got: {INCOMPLETE}"
    assert INCOMPLETE == "the exercise is not complete yet"


def test_any_other_exception_is_reported_with_its_type_and_message() -> None:
    failure = failure_of("t", [Case("c", lambda: {}["missing"], expected=1)])
    assert failure.lines[2] == "    got: it raised KeyError: 'missing'"
    failure = failure_of("t", [Case("c", lambda: 1 / 0, expected=1)])
    assert failure.lines[2] == "    got: it raised ZeroDivisionError: division by zero"


def test_an_exception_without_message_shows_its_type_only() -> None:
    def fail() -> None:
        raise ValueError

    assert failure_of("t", [Case("c", fail, expected=1)]).lines[2] == "    got: it raised ValueError"


def test_satisfies_replaces_equality_and_describe_expected_is_shown() -> None:
    check("t", [Case("even", lambda: 4, expected=99, satisfies=lambda value: value % 2 == 0)])
    failure = failure_of("t", [Case("even", lambda: 3, satisfies=lambda value: value % 2 == 0,
                                    describe_expected="an even number")])
    assert failure.lines[1:3] == ["    expected: an even number", "    got: 3"]


def test_a_predicate_that_cannot_inspect_the_value_means_failure() -> None:
    failure = failure_of("t", [Case("has key", lambda: None, satisfies=lambda value: value["key"] == 1)])
    assert failure.lines[1:3] == ["    expected: a value that satisfies the check", "    got: None"]


def test_raises_passes_only_for_the_expected_exception(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse() -> None:
        raise PermissionError("no")

    check("t", [Case("refused", refuse, raises=OSError)])
    assert capsys.readouterr().out == "✅ t: all 1 cases pass\n"
    returned = failure_of("t", [Case("refused", lambda: {"ok": True}, raises=OSError)])
    assert returned.lines[1:3] == ["    expected: it raises OSError", "    got: it returned {'ok': True}"]
    wrong_type = failure_of("t", [Case("refused", lambda: 1 / 0, raises=(OSError, KeyError))])
    assert wrong_type.lines[1:3] == ["    expected: it raises OSError or KeyError",
                                     "    got: it raised ZeroDivisionError: division by zero"]


def test_raises_never_accepts_an_incomplete_exercise() -> None:
    def stub() -> None:
        raise NotImplementedError

    failure = failure_of("t", [Case("refused", stub, raises=Exception)])
    assert failure.lines[2] == f"    got: {INCOMPLETE}"


def test_check_failed_renders_in_jupyter_as_its_lines_only() -> None:
    failure = failure_of("t", [Case("c", lambda: 1, expected=2, hint="h")])
    assert isinstance(failure, AssertionError)
    assert failure._render_traceback_() == failure.lines
    assert not any("Traceback" in line or 'File "' in line for line in failure._render_traceback_())


def test_long_values_are_cut_and_sets_are_sorted() -> None:
    text = shown("x" * 1000)
    assert len(text) == 300 and text.endswith("…")
    assert shown({"b", "a", "c"}) == "{'a', 'b', 'c'}"
    assert shown(set()) == "set()"
    assert shown({1, "a"}) in {"{1, 'a'}", "{'a', 1}"}  # unorderable items fall back to repr


def test_explain_names_the_mistake_it_sees_and_falls_back_to_the_hint() -> None:
    def explain(outcome: object) -> str | None:
        if isinstance(outcome, KeyError):
            return "that key may be missing"
        return "returned zero" if outcome == 0 else None

    case = lambda actual: Case("c", actual, expected=1, hint="fixed", explain=explain)  # noqa: E731
    assert failure_of("t", [case(lambda: {}["k"])]).lines[3] == "    hint: that key may be missing"
    assert failure_of("t", [case(lambda: 0)]).lines[3] == "    hint: returned zero"
    assert failure_of("t", [case(lambda: 2)]).lines[3] == "    hint: fixed"


def test_an_explanation_that_fails_falls_back_to_the_hint() -> None:
    failure = failure_of("t", [Case("c", lambda: 2, expected=1, hint="fixed", explain=lambda outcome: 1 / 0)])
    assert failure.lines[3] == "    hint: fixed"
