"""Checks for notebook 11 (the container image): ``dockerfile_problems(text)`` spots what breaks a Lambda image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbook.checking import Case, check, false_alarm_hints

ALL_PROBLEMS = {"copy_trap", "no_handler_cmd", "pip_without_target", "unpinned_base", "copies_everything"}
PROJECT_DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"

BASE = "FROM public.ecr.aws/lambda/python:3.12"
REQUIREMENTS = 'COPY requirements.txt ${LAMBDA_TASK_ROOT}/\nRUN pip install -r requirements.txt --target "${LAMBDA_TASK_ROOT}"'
CODE = "COPY lambda_function.py ${LAMBDA_TASK_ROOT}/\nCOPY lambdaone/ ${LAMBDA_TASK_ROOT}/lambdaone/"
CMD = 'CMD ["lambda_function.handler"]'


def dockerfile(*parts: str) -> str:
    return "\n".join(parts) + "\n"


GOOD = dockerfile(BASE, REQUIREMENTS, CODE, CMD)

# The shape of AWS's own example: single-source COPYs to the task root, spaces inside the CMD's brackets.
AWS_EXAMPLE = dockerfile(
    BASE,
    "# Copy requirements.txt, then install the packages into the task root",
    "COPY requirements.txt ${LAMBDA_TASK_ROOT}",
    'RUN pip install -r requirements.txt --target "${LAMBDA_TASK_ROOT}"',
    "COPY lambda_function.py ${LAMBDA_TASK_ROOT}",
    "COPY lambdaone ${LAMBDA_TASK_ROOT}/lambdaone",
    'CMD [ "lambda_function.handler" ]',
)

LOWER_CASE = dockerfile(
    "from public.ecr.aws/lambda/python:3.12",
    "copy requirements.txt ${LAMBDA_TASK_ROOT}/",
    'run pip install -r requirements.txt -t "${LAMBDA_TASK_ROOT}"',
    "copy lambda_function.py ${LAMBDA_TASK_ROOT}/",
    "copy lambdaone/ ${LAMBDA_TASK_ROOT}/lambdaone/",
    'cmd ["lambda_function.handler"]',
)

CONTINUED = dockerfile(
    "ARG PYTHON=3.12",
    "FROM public.ecr.aws/lambda/python:${PYTHON}",
    "COPY requirements.txt ${LAMBDA_TASK_ROOT}/",
    "RUN python3 -m pip install --no-cache-dir \\",
    "        -r requirements.txt \\",
    '        --target "${LAMBDA_TASK_ROOT}"',
    "# a comment that says: pip install everything, copy . into the image",
    CODE,
    "CMD [\"lambda_function.handler\"]",
)

ALL_WRONG = dockerfile(
    "FROM public.ecr.aws/lambda/python",
    "COPY . ${LAMBDA_TASK_ROOT}/",
    "RUN pip install -r requirements.txt",
    "COPY lambda_function.py lambdaone/ ${LAMBDA_TASK_ROOT}",
)


#: Why a problem reported on a good Dockerfile is a false alarm.
_FALSE_ALARMS = {
    "copy_trap": "one source copied to a destination is fine, and so is lambdaone/ copied to .../lambdaone/; "
                 "words that start with -- are options, not sources",
    "no_handler_cmd": 'CMD ["lambda_function.handler"] names the handler, with or without spaces in the brackets, '
                      "in any case: parse CMD's JSON array",
    "pip_without_target": "-t and --target both count, also on a continued line: join a line ending with \\ "
                          "to the next before reading it, and skip comment lines",
    "unpinned_base": "substitute ARG defaults ($NAME and ${NAME}) into FROM; a tag or an @sha256: digest pins it",
    "copies_everything": "only COPY . (or ./ or *) sends the whole context; a comment mentioning it is no instruction",
}


_explain_false_alarm = false_alarm_hints(_FALSE_ALARMS)


def _cases(dockerfile_problems: Callable[[str], Any]) -> list[Case]:
    def problems(text: str) -> Callable[[], Any]:
        return lambda: dockerfile_problems(text)

    code_lines = CODE.splitlines()
    return [
        Case("the project's Dockerfile (ARG BASE_IMAGE, FROM ${BASE_IMAGE}, comments)",
             problems(PROJECT_DOCKERFILE.read_text()), set(), explain=_explain_false_alarm,
             hint="return set() when nothing is wrong; substitute ARG defaults into FROM; skip comment lines"),
        Case("a minimal good Dockerfile", problems(GOOD), set(), explain=_explain_false_alarm),
        Case("AWS's example: single-source COPYs, CMD [ \"...\" ] with spaces", problems(AWS_EXAMPLE), set(), explain=_explain_false_alarm,
             hint="one source copied to a destination without a trailing / is fine; parse CMD's JSON array"),
        Case("instructions in lower case", problems(LOWER_CASE), set(), explain=_explain_false_alarm,
             hint="instructions are case-insensitive: compare the first word in upper case"),
        Case("a RUN continued over several lines, an ARG in FROM, a comment mentioning pip install",
             problems(CONTINUED), set(), explain=_explain_false_alarm,
             hint="join a line that ends with \\ to the next before reading the instruction; -t and --target both count"),
        Case("the original template: COPY lambda_function.py lambdaone/ ${LAMBDA_TASK_ROOT}",
             problems(dockerfile(BASE, REQUIREMENTS, "COPY lambda_function.py lambdaone/ ${LAMBDA_TASK_ROOT}", CMD)),
             {"copy_trap"}, hint="several sources need a destination that ends with /"),
        Case("the same with a trailing / (BuildKit flattens lambdaone/ into the task root)",
             problems(dockerfile(BASE, REQUIREMENTS, "COPY lambda_function.py lambdaone/ ${LAMBDA_TASK_ROOT}/", CMD)),
             {"copy_trap"}, hint="lambdaone copied anywhere but a destination ending in /lambdaone/ loses its folder"),
        Case("COPY lambdaone ${LAMBDA_TASK_ROOT}/ on its own",
             problems(dockerfile(BASE, REQUIREMENTS, code_lines[0], "COPY lambdaone ${LAMBDA_TASK_ROOT}/", CMD)),
             {"copy_trap"}, hint="copying a folder copies its contents: the destination must name the folder"),
        Case("the JSON form of COPY with the trap",
             problems(dockerfile(BASE, REQUIREMENTS, 'COPY ["lambda_function.py", "lambdaone/", "/var/task/"]', CMD)),
             {"copy_trap"}, hint="COPY [\"src\", ..., \"dest\"] is a JSON array: json.loads it"),
        Case("COPY with an option: --chown=0:0 lambdaone/ /var/task/lambdaone/",
             problems(dockerfile(BASE, REQUIREMENTS, code_lines[0], "COPY --chown=0:0 lambdaone/ /var/task/lambdaone/",
                                 CMD)), set(), hint="words that start with -- are options, not sources"),
        Case("no CMD", problems(dockerfile(BASE, REQUIREMENTS, CODE)), {"no_handler_cmd"},
             hint="the base image's entrypoint needs the handler's name from CMD"),
        Case("CMD in shell form", problems(dockerfile(BASE, REQUIREMENTS, CODE, "CMD lambda_function.handler")),
             {"no_handler_cmd"}, hint="only the exec form, CMD [\"lambda_function.handler\"], passes the name as is"),
        Case("CMD naming another handler", problems(dockerfile(BASE, REQUIREMENTS, CODE, 'CMD ["app.handler"]')),
             {"no_handler_cmd"}, hint='CMD must name lambda_function.handler exactly: module lambda_function, '
                                      "function handler"),
        Case("pip install without --target",
             problems(dockerfile(BASE, "COPY requirements.txt ./", "RUN pip3 install -r requirements.txt", CODE, CMD)),
             {"pip_without_target"}, hint="pip3 install and python -m pip install count too"),
        Case("a base image without a tag", problems(GOOD.replace(":3.12", "")), {"unpinned_base"},
             hint="no tag means :latest, whatever AWS publishes today"),
        Case("a base image tagged latest", problems(GOOD.replace(":3.12", ":latest")), {"unpinned_base"},
             hint=":latest moves whenever AWS publishes: pin the Python version's tag, :3.12"),
        Case("an ARG default without a tag", problems(dockerfile(
            "ARG BASE_IMAGE=public.ecr.aws/lambda/python", "FROM $BASE_IMAGE", REQUIREMENTS, CODE, CMD)),
             {"unpinned_base"}, hint="both ${NAME} and $NAME take the ARG's default"),
        Case("a base image pinned by digest", problems(GOOD.replace(":3.12", "@sha256:" + "ab" * 32)), set(),
             explain=_explain_false_alarm,
             hint="name@sha256:... is pinned even without a tag"),
        Case("a registry with a port, and no tag", problems(GOOD.replace(
            "public.ecr.aws/lambda/python:3.12", "localhost:5000/lambda/python")), {"unpinned_base"},
             hint="a tag is a ':' after the last '/': in localhost:5000/x the colon belongs to the host"),
        Case("COPY . into the task root", problems(dockerfile(BASE, REQUIREMENTS, "COPY . ${LAMBDA_TASK_ROOT}/", CMD)),
             {"copies_everything"}, hint="'.' (or './', '*') sends the whole build context: tests, notebooks, .env"),
        Case("everything wrong at once", problems(ALL_WRONG), ALL_PROBLEMS,
             hint="check every problem on its own: one found does not stop the others being found"),
    ]


def check_dockerfile_problems(dockerfile_problems: Callable[[str], Any]) -> None:
    """``dockerfile_problems(text) -> set[str]`` of problem codes, against good and broken Dockerfiles."""
    check("dockerfile_problems", _cases(dockerfile_problems))
