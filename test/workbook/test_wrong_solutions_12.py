"""The catalogue of wrong solutions for notebook 12 (authorizers), in the pattern of test_wrong_solutions.py.

Each entry is the notebook's own solution (read from solutions/12_authorizers.ipynb) with one plausible mistake
written into it; the check must fail it (``CheckFailed``) with a hint that holds the entry's key words. The
unchanged solution passes the same checks, and each check reports the blank stub as incomplete.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nbformat
import pytest

from workbook.checking import INCOMPLETE, CheckFailed
from workbook.checks import nb12
from workbook.generate import SOLUTIONS
from workbook.selfcheck import exercise_name, is_check_cell

NOTEBOOK = SOLUTIONS / "12_authorizers.ipynb"
#: The solution cell of each exercise, and the name of the function it defines.
EXERCISE_CELLS = {"iam_policy": ("nb12-09", "build_policy"), "stage_resource": ("nb12-16", "stage_resource")}
CHECKS: dict[str, Callable[[Any], None]] = {"iam_policy": nb12.check_iam_policy,
                                            "stage_resource": nb12.check_stage_resource}


@dataclass(frozen=True)
class Wrong:
    exercise: str
    mistake: str
    replacements: tuple[tuple[str, str], ...]
    words: tuple[str, ...]


def solution_source(exercise: str) -> str:
    cell_id, _ = EXERCISE_CELLS[exercise]
    [cell] = [cell for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.get("id") == cell_id]
    return str(cell.source)


def built(exercise: str, *replacements: tuple[str, str]) -> Any:
    """The exercise's function from the notebook's solution, each (old, new) replaced exactly once."""
    source = solution_source(exercise)
    for old, new in replacements:
        assert source.count(old) == 1, f"{old!r} is not once in the solution of {exercise}"
        source = source.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{exercise}>", "exec"), namespace)  # noqa: S102 (the project's own notebook)
    return namespace[EXERCISE_CELLS[exercise][1]]


EFFECT_CHECK = ('    if effect not in ("Allow", "Deny"):\n'
                '        raise ValueError(f"effect must be Allow or Deny, not {effect!r}")\n')
CONTEXT = '"context": {"sub": claims["sub"], "iss": claims["iss"], "scope": " ".join(sorted(granted_scopes(claims)))},'
RESOURCE = '"Resource": resource}'
ARN_PATTERN = r'(?P<stage>\$default|[A-Za-z0-9_-]+)'
RESULT = ('    return (f"arn:{match[\'partition\']}:execute-api:{match[\'region\']}:{match[\'account\']}:"\n'
          '            f"{match[\'api\']}/{match[\'stage\']}/*")')

CATALOGUE = [
    # --- exercise 1: build_policy ---------------------------------------------------------------------------
    Wrong("iam_policy", "an old policy language version", (('"Version": "2012-10-17"', '"Version": "2008-10-17"'),),
          ("2012-10-17",)),
    Wrong("iam_policy", "Statement as one object, not a list",
          (('"Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]',
            '"Statement": {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}'),), ("list",)),
    Wrong("iam_policy", "every execute-api action", (('"Action": "execute-api:Invoke"', '"Action": "execute-api:*"'),),
          ("execute-api:Invoke", "InvalidateCache")),
    Wrong("iam_policy", "the effect written in lower case", (('"Effect": effect', '"Effect": effect.lower()'),),
          ("capitalised",)),
    Wrong("iam_policy", "Resource * instead of the one given", ((RESOURCE, '"Resource": "*"}'),),
          ("resource you were given", "every API")),
    Wrong("iam_policy", "the scopes as a list in context",
          (('"scope": " ".join(sorted(granted_scopes(claims)))', '"scope": sorted(granted_scopes(claims))'),),
          ("array", "joined by spaces")),
    Wrong("iam_policy", "every claim copied into context", ((CONTEXT, '"context": dict(claims),'),),
          ("sub, iss and scope only", "copy of every claim")),
    Wrong("iam_policy", "the scope claim only (Okta's scp ignored)",
          (('" ".join(sorted(granted_scopes(claims)))', 'claims.get("scope", "")'),), ("scp",)),
    Wrong("iam_policy", "no context at all", ((CONTEXT, ""),), ("context holds sub, iss and scope",)),
    Wrong("iam_policy", "any effect accepted", ((EFFECT_CHECK, ""),), ("ValueError", "exactly")),
    # --- exercise 2: stage_resource -------------------------------------------------------------------------
    Wrong("stage_resource", "the method ARN itself (cached, it refuses the next route)",
          ((RESULT, "    return method_arn"),), ("every route", "not the method ARN")),
    Wrong("stage_resource", "the method kept (STAGE/GET/*)",
          ((RESULT, '    return method_arn.rsplit("/", 1)[0] + "/*"'),), ("whole stage",)),
    Wrong("stage_resource", "every stage of the API (API/*)",
          ((RESULT, '    return method_arn.split("/")[0] + "/*"'),), ("stage", "dev")),
    Wrong("stage_resource", "everything (*)", ((RESULT, '    return "*"'),), ("every API of every account",)),
    Wrong("stage_resource", "the stage without the wildcard",
          ((RESULT, '    return "/".join(method_arn.split("/")[:2])'),), ("STAGE/*",)),
    Wrong("stage_resource", "split on / with nothing checked (a wildcard API id passes)",
          (('    if match is None:\n        raise ValueError("not an execute-api method or route ARN")\n', ""),
           (RESULT, '    return "/".join(method_arn.split("/")[:2]) + "/*"')), ("wildcard", "ValueError")),
    Wrong("stage_resource", "split(':') into exactly six parts (a ':' in the path breaks it)",
          ((RESULT, '    _, partition, service, region, account, rest = method_arn.split(":")\n'
                    '    return f"arn:{partition}:{service}:{region}:{account}:" + "/".join(rest.split("/")[:2]) + "/*"'),),
          ("split on ':' at most 5 times",)),
    Wrong("stage_resource", "the stage $default refused", ((ARN_PATTERN, r'(?P<stage>[A-Za-z0-9_-]+)'),),
          ("$default",)),
]


@pytest.mark.parametrize("wrong", CATALOGUE, ids=[f"12-{w.exercise}-{w.mistake}" for w in CATALOGUE])
def test_a_wrong_solution_fails_its_check_with_a_hint_that_names_the_mistake(wrong: Wrong) -> None:
    function = built(wrong.exercise, *wrong.replacements)
    with pytest.raises(CheckFailed) as failed:
        CHECKS[wrong.exercise](function)
    hints = [line.strip().removeprefix("hint:").strip() for line in failed.value.lines
             if line.strip().startswith("hint:")]
    assert hints, f"the failure gives no hint: {failed.value.lines}"
    missing = [word for word in wrong.words if word.lower() not in hints[0].lower()]
    assert not missing, f"{wrong.mistake}: the hint lacks {missing}:\n" + "\n".join(failed.value.lines)


@pytest.mark.parametrize("exercise", sorted(EXERCISE_CELLS))
def test_the_notebook_s_solution_passes_the_same_check(exercise: str, capsys: pytest.CaptureFixture[str]) -> None:
    CHECKS[exercise](built(exercise))
    assert capsys.readouterr().out.startswith("✅ ")


@pytest.mark.parametrize("exercise", sorted(EXERCISE_CELLS))
def test_the_stub_reads_as_an_incomplete_exercise_not_as_a_mistake(exercise: str) -> None:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("complete this exercise")

    with pytest.raises(CheckFailed) as failed:
        CHECKS[exercise](stub)
    assert f"got: {INCOMPLETE}" in "\n".join(failed.value.lines), failed.value.lines


def test_every_exercise_of_the_notebook_has_five_wrong_solutions_or_more() -> None:
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    exercises = {exercise_name(cell) for cell in cells if is_check_cell(cell)}
    assert exercises == set(EXERCISE_CELLS) == set(CHECKS), "every check cell of notebook 12 is catalogued here"
    counts = Counter(wrong.exercise for wrong in CATALOGUE)
    assert all(counts[exercise] >= 5 for exercise in exercises), counts
