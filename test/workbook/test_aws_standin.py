"""The local AWS stand-in: moto's server on 127.0.0.1 on a free port, Lambda without Docker, a CLI sealed off
from the machine's AWS configuration, and a process that always goes away."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbook import aws_standin
from workbook.aws_standin import (
    ACCOUNT_ID,
    REGION,
    AwsCliError,
    AwsStandin,
    StandinError,
    aws,
    choose_target,
)

BASIC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def standin() -> Iterator[AwsStandin]:
    with AwsStandin() as server:
        yield server


@pytest.fixture
def fresh(standin: AwsStandin) -> AwsStandin:
    standin.reset()
    return standin


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def port_refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def process_gone(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when it is our child
        if finished == pid:
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").read_text().count("zombie") > 0


# --- the server --------------------------------------------------------------------------------------------


def test_it_listens_on_loopback_on_a_port_the_os_picked(standin: AwsStandin) -> None:
    assert standin.endpoint == f"http://127.0.0.1:{standin.port}"
    assert standin.port not in (0, 5000), "moto's fixed default port would collide between runs"
    assert get_json(standin.endpoint + "/moto-api/config")["lambda"]["use_docker"] is False


def test_two_stand_ins_run_side_by_side_with_separate_state(standin: AwsStandin) -> None:
    with AwsStandin() as other:
        assert other.port != standin.port
        other.client("iam").create_role(RoleName="only-in-other", AssumeRolePolicyDocument=TRUST)
        names = [role["RoleName"] for role in standin.client("iam").list_roles()["Roles"]]
        assert "only-in-other" not in names


def test_stop_frees_the_port_ends_the_process_and_removes_its_folder() -> None:
    server = AwsStandin().start()
    port, pid, folder = server.port, server.pid, server._folder
    assert folder is not None and folder.is_dir()
    server.stop()
    assert port_refuses(port)
    assert pid is not None and process_gone(pid)
    assert not folder.exists()
    assert not server.running
    with pytest.raises(StandinError, match="not running"):
        _ = server.endpoint
    server.stop()  # a second stop is harmless


def test_the_server_stops_by_itself_when_its_parent_dies(tmp_path: Path) -> None:
    # A kernel killed with SIGKILL never runs its cleanup: the stand-in must not outlive it.
    parent = subprocess.Popen(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from workbook.aws_standin import AwsStandin
            server = AwsStandin().start()
            print(server.pid, server.port, flush=True)
            time.sleep(120)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        child_pid, port = (int(word) for word in parent.stdout.readline().split())  # type: ignore[union-attr]
        assert not port_refuses(port)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        parent.stdout.close()  # type: ignore[union-attr]
    assert wait_until(lambda: port_refuses(port)), "the orphaned moto server still listens"
    assert wait_until(lambda: process_gone(child_pid))


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'No module named moto' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(StandinError, match="exited with status 3: No module named moto"):
        AwsStandin(python=str(broken)).start()


# --- what it offers ------------------------------------------------------------------------------------------


def test_the_cli_environment_reaches_only_the_stand_in(standin: AwsStandin) -> None:
    machine = {"PATH": "/usr/bin", "AWS_PROFILE": "production", "AWS_SESSION_TOKEN": "real-session",
               "AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
               "AWS_ENDPOINT_URL_LAMBDA": "https://lambda.example", "AWS_CONFIG_FILE": "/home/me/.aws/config"}
    environment = standin.cli_env(machine)
    assert environment["PATH"] == "/usr/bin"
    assert environment["AWS_ENDPOINT_URL"] == standin.endpoint
    assert (environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert environment["AWS_DEFAULT_REGION"] == REGION
    assert environment["AWS_CONFIG_FILE"] == environment["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    for leaked in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                   "AWS_ENDPOINT_URL_LAMBDA"):
        assert leaked not in environment


def test_the_cli_talks_to_the_stand_in(fresh: AwsStandin) -> None:
    identity = aws(["sts", "get-caller-identity"], fresh.cli_env())
    assert identity["Account"] == ACCOUNT_ID
    assert aws(["sts", "get-caller-identity", "--query", "Account", "--output", "text"], fresh.cli_env()) == ACCOUNT_ID


def test_cli_errors_carry_the_aws_error_code(fresh: AwsStandin) -> None:
    with pytest.raises(AwsCliError) as raised:
        aws(["lambda", "get-function", "--function-name", "lambdaone"], fresh.cli_env())
    assert raised.value.code == "ResourceNotFoundException"
    assert "lambdaone" in str(raised.value) and str(raised.value).startswith("aws lambda get-function failed")


def test_cli_usage_errors_say_what_is_wrong(fresh: AwsStandin) -> None:
    # The CLI prints its usage and a note around the one line that matters: that line is the message.
    with pytest.raises(AwsCliError) as raised:
        aws(["lambda", "create-function", "--function-name"], fresh.cli_env())
    assert raised.value.code is None
    assert raised.value.message.endswith("argument --function-name: expected one argument")
    with pytest.raises(AwsCliError, match="Error parsing parameter '--environment'"):
        aws(["lambda", "create-function", "--function-name", "f", "--role", "arn:aws:iam::123456789012:role/r",
             "--code", "ImageUri=x", "--environment", "Variables={A=b, c,D=e}"], fresh.cli_env())


def test_the_basic_execution_policy_can_be_attached(fresh: AwsStandin) -> None:
    iam = fresh.client("iam")
    iam.create_role(RoleName="lambdaone-execution", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="lambdaone-execution", PolicyArn=BASIC_POLICY)
    attached = iam.list_attached_role_policies(RoleName="lambdaone-execution")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [BASIC_POLICY]


def test_managed_policies_can_be_left_out_for_a_faster_start() -> None:
    with AwsStandin(managed_policies=False) as server:
        iam = server.client("iam")
        iam.create_role(RoleName="lambdaone-execution", AssumeRolePolicyDocument=TRUST)
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.attach_role_policy(RoleName="lambdaone-execution", PolicyArn=BASIC_POLICY)


def test_lambda_functions_are_created_and_invoked_without_docker(fresh: AwsStandin, tmp_path: Path) -> None:
    fresh.client("iam").create_role(RoleName="lambdaone-execution", AssumeRolePolicyDocument=TRUST)
    archive = tmp_path / "code.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("lambda_function.py", "def handler(event, context):\n    return 'never run'\n")
    client = fresh.client("lambda")
    created = client.create_function(
        FunctionName="lambdaone", Runtime="python3.12", Handler="lambda_function.handler",
        Role=f"arn:aws:iam::{ACCOUNT_ID}:role/lambdaone-execution", Code={"ZipFile": archive.read_bytes()})
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:lambdaone"
    answer = client.invoke(FunctionName="lambdaone", Payload=json.dumps({"headers": {"authorization": "Bearer x"}}))
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"headers": {"authorization": "Bearer x"}}


def test_reset_forgets_every_resource(standin: AwsStandin) -> None:
    standin.client("ecr").create_repository(repositoryName="lambdaone")
    standin.reset()
    assert standin.client("ecr").describe_repositories()["repositories"] == []


def test_configuration_that_is_not_applied_is_an_error(standin: AwsStandin) -> None:
    with pytest.raises(StandinError, match="did not apply"):
        standin.configure({"iam": {"load_aws_managed_policies": True}})  # moto reads this one only at start


# --- choosing where the notebooks deploy ---------------------------------------------------------------------


def test_by_default_the_target_is_the_stand_in_and_says_so() -> None:
    target = choose_target(False)
    try:
        assert target.standin is not None and target.standin.running and not target.is_real
        assert (target.account, target.region) == (ACCOUNT_ID, REGION)
        assert target.describe().startswith("Talking to the LOCAL AWS stand-in (moto) at http://127.0.0.1:")
        assert target.role_arn("lambdaone-execution") == f"arn:aws:iam::{ACCOUNT_ID}:role/lambdaone-execution"
        assert target.registry() == f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
    finally:
        target.stop()
    assert not target.standin.running


def machine_without_aws_config(home: Path, **variables: str) -> dict[str, str]:
    """A machine environment with no AWS config files and no instance metadata, plus ``variables``."""
    empty = str(home / "none")
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "AWS_CONFIG_FILE": empty,
            "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true", **variables}


def test_real_aws_without_credentials_is_refused_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(aws_standin, "aws", lambda *args, **kwargs: calls.append(args))
    machine = machine_without_aws_config(tmp_path, AWS_DEFAULT_REGION="eu-west-1")
    before = dict(os.environ)
    with pytest.raises(StandinError, match="no AWS credentials are configured.*Nothing was sent to AWS"):
        choose_target(True, base=machine)
    assert calls == []
    assert dict(os.environ) == before, "the machine's environment is restored"


def test_real_aws_without_a_region_is_refused_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(aws_standin, "aws", lambda *args, **kwargs: calls.append(args))
    machine = machine_without_aws_config(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example")
    with pytest.raises(StandinError, match="no region is configured"):
        choose_target(True, base=machine)
    assert calls == []


def test_real_aws_with_credentials_asks_aws_who_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The call itself is replaced: this test must not reach AWS. It proves what would be sent, and to whom.
    sent: list[tuple[list[str], dict[str, str]]] = []

    def fake_aws(arguments, env, **kwargs):
        sent.append((list(arguments), dict(env)))
        return {"Account": "111122223333", "Arn": "arn:aws:iam::111122223333:user/learner"}

    monkeypatch.setattr(aws_standin, "aws", fake_aws)
    machine = machine_without_aws_config(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example",
                                         AWS_DEFAULT_REGION="eu-west-1", AWS_ENDPOINT_URL="http://127.0.0.1:9")
    target = choose_target(True, base=machine)
    assert target.is_real and (target.account, target.region) == ("111122223333", "eu-west-1")
    assert target.describe().startswith("Talking to REAL AWS: account 111122223333, region eu-west-1")
    [(arguments, environment)] = sent
    assert arguments[:2] == ["sts", "get-caller-identity"]
    assert "AWS_ENDPOINT_URL" not in environment, "real AWS means AWS's own endpoints"
    target.stop()  # nothing to stop: harmless
