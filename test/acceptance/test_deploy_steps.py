"""deploy.md's commands, run as written, in order, against the local AWS stand-in (moto).

Every ``bash`` block of deploy.md runs in one shell, from a scratch folder, with the AWS CLI pointed at the
stand-in. What needs a real machine or a real registry is recorded instead of run, by stand-ins on PATH:
``make zip`` puts the zip that ``lambda_build`` built for this test at ``build/lambdaone.zip``, and
``docker`` (login, build, tag, push) only records its arguments. The AWS CLI wrapper records each call
with its output; with AWS CLI v1 (the one ``requirements-dev.txt`` installs) it leaves out
``--cli-binary-format raw-in-base64-out``, an option only v2 has (deploy.md says so).

Then the names and ARNs that the stand-in returned are compared with the table at the top of deploy.md.
A block preceded by ``<!-- deploy-test: skip (reason) -->`` is not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_build.build_zip import Options, build
from workbook.aws_standin import ACCOUNT_ID, REGION, AwsStandin

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(600)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_MD = PROJECT_ROOT / "deploy.md"
TOKEN = "stand-in-token"  # moto never runs the code: any text shows that the payload reaches the function
FUNCTION, ROLE, REPOSITORY = "lambdaone", "lambdaone-execution", "lambdaone"
AUTHORIZER_FUNCTION = "lambdaone-authorizer"
#: The skip reasons deploy.md may give: what the stand-in cannot do.
ALLOWED_SKIPS = ("the local stand-in runs no code", "the local stand-in records the APIs but serves no requests")
BASIC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SKIP_MARKER = re.compile(r"<!--\s*deploy-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
FENCE = re.compile(r"^```bash\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)

# The AWS CLI as the shell sees it: records each call (arguments, exit status, output) in calls.jsonl.
AWS_SHIM = """\
#!{python}
import json, os, subprocess, sys

arguments = sys.argv[1:]
command = list(arguments)
if "--cli-binary-format" in command:  # a v2-only option; v1 sends the payload as it is
    where = command.index("--cli-binary-format")
    del command[where:where + 2]
completed = subprocess.run([sys.executable, "-m", "awscli", *command], capture_output=True, text=True)
with open(os.environ["DEPLOY_TEST_CALLS"], "a") as log:
    log.write(json.dumps({{"tool": "aws", "arguments": arguments, "status": completed.returncode,
                          "stdout": completed.stdout, "stderr": completed.stderr}}) + "\\n")
sys.stdout.write(completed.stdout)
sys.stderr.write(completed.stderr)
sys.exit(completed.returncode)
"""

# docker and make: record the call; make zip copies the prepared zip; docker login reads its password.
RECORDER_SHIM = """\
#!{python}
import json, os, shutil, sys

tool, arguments = os.path.basename(sys.argv[0]), sys.argv[1:]
received = sys.stdin.read() if "--password-stdin" in arguments else ""
if tool == "make" and arguments == ["zip"]:
    os.makedirs("build", exist_ok=True)
    shutil.copyfile(os.environ["DEPLOY_TEST_ZIP"], "build/lambdaone.zip")
with open(os.environ["DEPLOY_TEST_CALLS"], "a") as log:
    log.write(json.dumps({{"tool": tool, "arguments": arguments, "status": 0, "stdin": received}}) + "\\n")
"""


@dataclass(frozen=True)
class Block:
    number: int
    heading: str
    body: str
    skip_reason: str | None


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: list[str]
    status: int
    stdout: str = ""
    stderr: str = ""
    stdin: str = ""

    def option(self, name: str) -> str | None:
        if name in self.arguments:
            return self.arguments[self.arguments.index(name) + 1]
        return None

    def output(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


@dataclass(frozen=True)
class Run:
    calls: list[Call]
    workdir: Path
    zip_path: Path
    after: dict[str, Any]

    def aws(self, *command: str) -> list[Call]:
        """The AWS CLI calls whose arguments begin with ``command`` (``"lambda", "create-function"``)."""
        return [call for call in self.calls if call.tool == "aws" and call.arguments[:len(command)] == list(command)]

    def tool(self, name: str, subcommand: str) -> list[Call]:
        return [call for call in self.calls if call.tool == name and subcommand in call.arguments[:2]]


def bash_blocks(text: str) -> list[Block]:
    """The ``bash`` blocks of deploy.md in order, each with the heading above it and its skip marker."""
    blocks = []
    for number, match in enumerate(FENCE.finditer(text)):
        before = text[:match.start()].rstrip("\n").splitlines()
        marker = SKIP_MARKER.match(before[-1]) if before else None
        headings = [line for line in before if line.startswith("#")]
        blocks.append(Block(number, headings[-1] if headings else "", match.group("body"),
                            marker.group("reason") if marker else None))
    return blocks


def names_table(text: str) -> dict[str, str]:
    """The table under "## The names": its first column → the ARN or URI of its third column."""
    section = text.split("## The names", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2] and not set(cells[2]) <= {"-", " "} and cells[0] != "What":
            rows[cells[0]] = cells[2]
    return rows


def documented(value: str) -> str:
    return value.replace("<account>", ACCOUNT_ID).replace("<region>", REGION)


def write_shim(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def script_for(blocks: list[Block]) -> str:
    """One shell script: every block not marked skip, each announced so a failure names its block."""
    parts = ["set -euo pipefail"]
    for block in blocks:
        if block.skip_reason is None:
            parts.append(f"echo '::block {block.number}: {block.heading}' >&2")
            parts.append(block.body)
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def deploy_text() -> str:
    return DEPLOY_MD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment zip, built by lambda_build as ``make zip`` builds it."""
    output = tmp_path_factory.mktemp("deploy-zip") / "lambdaone.zip"
    return build(Options(requirements=PROJECT_ROOT / "requirements.txt", output=output))


@pytest.fixture(scope="module")
def standin() -> Iterator[AwsStandin]:
    with AwsStandin() as server:
        yield server


@pytest.fixture(scope="module")
def run(deploy_text: str, built_zip: Path, standin: AwsStandin, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run every block of deploy.md once; record the calls, and what the stand-in holds afterwards."""
    workdir = tmp_path_factory.mktemp("deploy-workdir")
    shims = tmp_path_factory.mktemp("deploy-shims")
    calls_file = workdir.parent / f"{workdir.name}-calls.jsonl"
    write_shim(shims, "aws", AWS_SHIM)
    for tool in ("docker", "make"):
        write_shim(shims, tool, RECORDER_SHIM)
    environment = standin.cli_env()
    environment.update({
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "DEPLOY_TEST_CALLS": str(calls_file),
        "DEPLOY_TEST_ZIP": str(built_zip),
    })
    completed = subprocess.run(  # noqa: S603 (bash, the documented commands against the stand-in)
        [shutil.which("bash") or "/bin/bash", "-c", script_for(bash_blocks(deploy_text))], cwd=workdir, env=environment,
        input=f"{TOKEN}\n{TOKEN}\n", capture_output=True, text=True, timeout=480, check=False,
    )
    calls = [Call(**json.loads(line)) for line in calls_file.read_text().splitlines()]
    failed = [call for call in calls if call.status != 0]
    assert completed.returncode == 0 and not failed, (
        f"deploy.md stopped at {_last_block(completed.stderr)}: "
        f"{failed[-1].arguments[:2] if failed else ''} {completed.stderr[-1500:]}")
    after = {
        "functions": standin.client("lambda").list_functions()["Functions"],
        "roles": [role["RoleName"] for role in standin.client("iam").list_roles()["Roles"]],
        "repositories": standin.client("ecr").describe_repositories()["repositories"],
        "rest_apis": standin.client("apigateway").get_rest_apis()["items"],
        "http_apis": standin.client("apigatewayv2").get_apis()["Items"],
    }
    return Run(calls, workdir, built_zip, after)


def _last_block(stderr: str) -> str:
    announced = [line for line in stderr.splitlines() if line.startswith("::block")]
    return announced[-1] if announced else "the first block"


# --- the document itself ----------------------------------------------------------------------------------


def test_the_page_has_both_paths_and_every_skip_says_why(deploy_text: str) -> None:
    blocks = bash_blocks(deploy_text)
    commands = "\n".join(block.body for block in blocks)
    for needed in ("aws iam create-role", "aws iam attach-role-policy", "aws lambda create-function",
                   "--package-type Image", "aws lambda wait function-active-v2", "aws ecr create-repository",
                   "aws ecr get-login-password", "docker login", "docker tag", "docker push",
                   "aws lambda invoke", "--cli-binary-format raw-in-base64-out", "aws lambda update-function-code",
                   "aws lambda delete-function", "aws ecr delete-repository", "aws iam detach-role-policy",
                   "aws iam delete-role",
                   "--handler lambda_function.authorizer", "aws apigateway create-rest-api",
                   "aws apigateway create-authorizer", "--type TOKEN",
                   "--identity-source method.request.header.Authorization", "--authorizer-uri",
                   "aws lambda add-permission", "--principal apigateway.amazonaws.com", "aws apigatewayv2 create-api",
                   "aws apigatewayv2 create-authorizer", "--authorizer-type REQUEST",
                   "--authorizer-payload-format-version 2.0", "--enable-simple-responses",
                   "--identity-source '$request.header.Authorization'", "aws apigateway delete-rest-api",
                   "aws apigatewayv2 delete-api"):
        assert needed in commands, f"deploy.md has no {needed!r}"
    skipped = [block for block in blocks if block.skip_reason is not None]
    assert all(len(block.skip_reason or "") > 10 for block in skipped)
    assert all(block.skip_reason.startswith(ALLOWED_SKIPS) for block in skipped if block.skip_reason), (
        "only what the stand-in cannot do is skipped: the log group of a real run, calls to a served API")
    assert len(skipped) <= 2


def test_every_command_uses_the_one_set_of_names(deploy_text: str) -> None:
    commands = " ".join(block.body for block in bash_blocks(deploy_text)).replace("\\\n", " ")
    assert set(re.findall(r"--function-name (\S+)", commands)) == {FUNCTION, AUTHORIZER_FUNCTION}
    assert set(re.findall(r"--role-name (\S+)", commands)) == {ROLE}
    assert set(re.findall(r"--repository-name (\S+)", commands)) == {REPOSITORY}
    assert "service-role/lambdaone" not in deploy_text, "the role is created without a path"
    assert set(re.findall(r"fileb://(\S+)", commands)) == {"build/lambdaone.zip"}


# --- the run against the stand-in -------------------------------------------------------------------------


def test_the_role_has_the_documented_arn_and_policy(run: Run, deploy_text: str) -> None:
    [created] = run.aws("iam", "create-role")
    role = created.output()["Role"]
    assert role["Arn"] == documented(names_table(deploy_text)["Execution role"])
    assert role["Path"] == "/"
    statement = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                          "Action": "sts:AssumeRole"}]
    [attached] = run.aws("iam", "attach-role-policy")
    assert attached.option("--policy-arn") == BASIC_POLICY == names_table(deploy_text)[
        "Policy attached to the role (AWS managed)"]


def test_the_zip_function_is_created_as_documented(run: Run, deploy_text: str) -> None:
    zip_function = next(call for call in run.aws("lambda", "create-function") if "--zip-file" in call.arguments)
    created = zip_function.output()
    assert created["FunctionArn"] == documented(names_table(deploy_text)["Function"])
    assert created["Role"] == documented(names_table(deploy_text)["Execution role"])
    assert (created["Runtime"], created["Handler"], created["PackageType"]) == (
        "python3.12", "lambda_function.handler", "Zip")
    assert created["Architectures"] == ["x86_64"]
    # fileb:// sent the zip's bytes unchanged.
    assert created["CodeSize"] == run.zip_path.stat().st_size
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(run.zip_path.read_bytes()).digest()).decode()
    assert set(created["Environment"]["Variables"]) == {"REQUIRE", "ISSUER", "AUDIENCE", "JWKSPATH"}
    assert created["Environment"]["Variables"]["JWKSPATH"].startswith("https://")


def test_get_function_shows_each_path(run: Run, deploy_text: str) -> None:
    zip_view, image_view = (call.output() for call in run.aws("lambda", "get-function"))
    arn = documented(names_table(deploy_text)["Function"])
    role = documented(names_table(deploy_text)["Execution role"])
    assert zip_view == {"Arn": arn, "Role": role, "Package": "Zip", "State": "Active", "Image": None}
    image = documented(names_table(deploy_text)["Image (path B)"])
    assert image_view == {"Arn": arn, "Role": role, "Package": "Image", "State": "Active", "Image": image}


def test_invoke_sends_the_authorization_header(run: Run) -> None:
    invocations = run.aws("lambda", "invoke")
    assert len(invocations) == 2
    assert all(call.output()["StatusCode"] == 200 for call in invocations)
    # The stand-in echoes the payload: what reached the function is the event with the token's header.
    echoed = json.loads((run.workdir / "build" / "response.json").read_text())
    assert echoed == {"headers": {"authorization": f"Bearer {TOKEN}"}}
    assert not (run.workdir / "build" / "event.json").exists(), "the file holding the token is removed"


def test_updates_point_at_the_same_artifacts(run: Run, deploy_text: str) -> None:
    zip_update, image_update = run.aws("lambda", "update-function-code")
    assert zip_update.option("--zip-file") == "fileb://build/lambdaone.zip"
    assert zip_update.output()["CodeSha256"] == base64.b64encode(
        hashlib.sha256(run.zip_path.read_bytes()).digest()).decode()
    assert image_update.option("--image-uri") == documented(names_table(deploy_text)["Image (path B)"])
    assert len(run.aws("lambda", "wait", "function-updated-v2")) == 3


def test_the_image_path_uses_the_documented_repository(run: Run, deploy_text: str) -> None:
    table = names_table(deploy_text)
    [created] = run.aws("ecr", "create-repository")
    repository = created.output()["repository"]
    assert repository["repositoryArn"] == documented(table["ECR repository (path B)"])
    image = documented(table["Image (path B)"])
    assert image == repository["repositoryUri"] + ":latest"
    registry = image.split("/")[0]

    [login] = run.tool("docker", "login")
    assert login.arguments == ["login", "--username", "AWS", "--password-stdin", registry]
    [password] = run.aws("ecr", "get-login-password")
    assert login.stdin.strip() == password.stdout.strip() != ""
    builds = run.tool("docker", "build")
    assert builds and all({"--platform", "linux/amd64", "--provenance=false"} <= set(call.arguments)
                          for call in builds)
    assert [call.arguments for call in run.tool("docker", "tag")] == [["tag", "lambdaone:latest", image]] * 2
    assert [call.arguments for call in run.tool("docker", "push")] == [["push", image]] * 2

    image_function = next(call for call in run.aws("lambda", "create-function") if "--package-type" in call.arguments)
    created_function = image_function.output()
    assert created_function["PackageType"] == "Image"
    assert "Runtime" not in created_function and "Handler" not in created_function
    assert created_function["Role"] == documented(table["Execution role"])


def test_the_clean_up_leaves_nothing_behind(run: Run) -> None:
    assert run.after == {"functions": [], "roles": [], "repositories": [], "rest_apis": [], "http_apis": []}
    deleted = [call.arguments[:2] for call in run.calls if call.tool == "aws" and call.arguments[1].startswith(
        ("delete-", "detach-"))]
    assert deleted == [["lambda", "delete-function"], ["apigateway", "delete-rest-api"], ["apigatewayv2", "delete-api"],
                       ["lambda", "delete-function"], ["lambda", "delete-function"], ["ecr", "delete-repository"],
                       ["iam", "detach-role-policy"], ["iam", "delete-role"]]


def test_the_skip_marker_is_read() -> None:
    text = textwrap.dedent("""\
        ## A
        ```bash
        echo run
        ```
        <!-- deploy-test: skip (needs a real account) -->
        ```bash
        echo skipped
        ```
    """)
    blocks = bash_blocks(text)
    assert [(block.heading, block.skip_reason) for block in blocks] == [("## A", None), ("## A", "needs a real account")]
    assert "echo skipped" not in script_for(blocks) and "echo run" in script_for(blocks)


# --- the authorizer steps (the stand-in records them; it invokes no authorizer) ---------------------------


def _authorizer_uri(deploy_text: str) -> str:
    function = documented(names_table(deploy_text)["Authorizer function (same artifact, handler "
                                                   "`lambda_function.authorizer`)"])
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function}/invocations"


def _permissions(run: Run, function: str) -> list[dict[str, Any]]:
    """The policy statements that add-permission returned for ``function``."""
    return [json.loads(call.output()["Statement"]) for call in run.aws("lambda", "add-permission")
            if call.option("--function-name") == function]


def test_the_authorizer_function_is_the_same_zip_with_the_authorizer_handler(run: Run, deploy_text: str) -> None:
    [created_call] = [call for call in run.aws("lambda", "create-function")
                      if call.option("--function-name") == AUTHORIZER_FUNCTION]
    created = created_call.output()
    assert created["FunctionArn"] == documented(names_table(deploy_text)[
        "Authorizer function (same artifact, handler `lambda_function.authorizer`)"])
    assert (created["Runtime"], created["Handler"]) == ("python3.12", "lambda_function.authorizer")
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(run.zip_path.read_bytes()).digest()).decode()
    assert created["Environment"]["Variables"]["REQUIRE"], "an authorizer without REQUIRE refuses every request"
    import lambda_function

    assert callable(lambda_function.authorizer), "the handler string names a function that exists"


def test_the_rest_api_has_a_token_authorizer_on_every_route(run: Run, deploy_text: str) -> None:
    [api] = (call.stdout.strip() for call in run.aws("apigateway", "create-rest-api"))
    [got] = run.aws("apigateway", "get-authorizer")
    authorizer = got.output()
    assert authorizer["type"] == "TOKEN"
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerUri"] == _authorizer_uri(deploy_text)
    assert 0 <= authorizer["authorizerResultTtlInSeconds"] <= 3600
    [method] = run.aws("apigateway", "put-method")
    assert (method.output()["authorizationType"], method.output()["authorizerId"]) == ("CUSTOM", authorizer["id"])
    [integration] = run.aws("apigateway", "put-integration")
    assert integration.output()["type"] == "AWS_PROXY"
    assert integration.output()["uri"].endswith(f"function:{FUNCTION}/invocations")
    [deployment] = run.aws("apigateway", "create-deployment")
    assert deployment.option("--stage-name") == "prod"
    [authorizer_permission] = [statement for statement in _permissions(run, AUTHORIZER_FUNCTION)
                               if statement["Sid"] == "apigateway-rest-authorizer"]
    assert authorizer_permission["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert authorizer_permission["Action"] == "lambda:InvokeFunction"
    assert authorizer_permission["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api}/authorizers/{authorizer['id']}")


def test_the_http_api_has_a_simple_response_authorizer(run: Run, deploy_text: str) -> None:
    [api] = (call.stdout.strip() for call in run.aws("apigatewayv2", "create-api"))
    [got] = run.aws("apigatewayv2", "get-authorizer")
    authorizer = got.output()
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["AuthorizerUri"] == _authorizer_uri(deploy_text)
    [route] = run.aws("apigatewayv2", "create-route")
    assert (route.output()["AuthorizationType"], route.output()["AuthorizerId"]) == (
        "CUSTOM", authorizer["AuthorizerId"])
    [stage] = run.aws("apigatewayv2", "create-stage")
    assert stage.output()["StageName"] == "$default"
    statements = {statement["Sid"]: statement for statement in _permissions(run, AUTHORIZER_FUNCTION)}
    assert statements["apigateway-http-authorizer"]["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api}/authorizers/{authorizer['AuthorizerId']}")


def test_api_gateway_may_invoke_the_backend_of_both_apis(run: Run) -> None:
    statements = {statement["Sid"]: statement for statement in _permissions(run, FUNCTION)}
    assert set(statements) == {"apigateway-rest-backend", "apigateway-http-backend"}
    assert all(statement["Principal"] == {"Service": "apigateway.amazonaws.com"} for statement in statements.values())
    [rest_api] = (call.stdout.strip() for call in run.aws("apigateway", "create-rest-api"))
    [http_api] = (call.stdout.strip() for call in run.aws("apigatewayv2", "create-api"))
    sources = {sid: statement["Condition"]["ArnLike"]["AWS:SourceArn"] for sid, statement in statements.items()}
    assert sources == {"apigateway-rest-backend": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{rest_api}/*",
                       "apigateway-http-backend": f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{http_api}/*"}


def test_the_steps_say_the_stand_in_invokes_no_authorizer(deploy_text: str) -> None:
    section = deploy_text.split("## The same function as an API Gateway authorizer", 1)[1].split("\n## ", 1)[0]
    assert "does **not** serve the APIs and does not invoke authorizers" in section
    assert "ignores the token's `exp`" in section
