"""A local AWS stand-in for the deploy notebooks and tests: moto in server mode on 127.0.0.1.

    with AwsStandin() as standin:
        aws(["lambda", "list-functions"], standin.cli_env())   # the AWS CLI, its JSON parsed

The server runs in a child process on a port the OS picks (the child binds port 0 and reports it). It
loads AWS's managed IAM policies, so ``AWSLambdaBasicExecutionRole`` can be attached as on AWS, and
Lambda's Docker mode is turned off (``POST /moto-api/config``): functions are created, updated and
deleted, and an invocation echoes its payload back instead of running the code.

Nothing sent to the stand-in can reach AWS: :meth:`AwsStandin.cli_env` points the CLI at it, gives it
dummy credentials, and hides every AWS variable and configuration file of the machine.

:func:`choose_target` is what the notebooks call: the stand-in by default, or, when the learner opts in,
real AWS with their own credentials, saying which one it is before anything changes.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: moto's account and the region the stand-in answers for (moto's ARNs always carry this account).
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
#: Dummy credentials: moto accepts any, and real AWS refuses these.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 (not a secret: moto's documented dummy value)
START_TIMEOUT_SECONDS = 60
CLI_TIMEOUT_SECONDS = 120

# Runs in the child: bind port 0, write the port to a file (atomically), serve until told to stop, and
# stop by itself if the process that started it disappears (a killed kernel must not leave it behind).
_LAUNCHER = """
import logging, os, sys, threading, time
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

port_file, parent = sys.argv[1], int(sys.argv[2])
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)
os.environ["MOTO_PORT"] = str(server.server_port)

def orphaned():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)

threading.Thread(target=orphaned, daemon=True).start()
with open(port_file + ".partial", "w") as sink:
    sink.write(str(server.server_port))
os.replace(port_file + ".partial", port_file)
server.serve_forever()
"""


class StandinError(RuntimeError):
    """The stand-in could not start or be configured; the message says why."""


class AwsCliError(RuntimeError):
    """An AWS CLI command failed; ``code`` is the AWS error code when the CLI printed one."""

    def __init__(self, arguments: Sequence[str], message: str) -> None:
        self.arguments = list(arguments)
        self.message = message
        self.code = _error_code(message)
        super().__init__(f"aws {' '.join(self.arguments[:2])} failed: {message}")


class AwsStandin:
    """moto's server in a child process on 127.0.0.1; ``start()``/``stop()`` or a ``with`` block."""

    def __init__(self, python: str | None = None, region: str = REGION, managed_policies: bool = True) -> None:
        self.python = python or sys.executable
        self.region = region
        # AWS's managed policies (AWSLambdaBasicExecutionRole) exist on AWS; moto loads them only when asked,
        # which costs about a second at the first IAM call.
        self.managed_policies = managed_policies
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: Path | None = None
        self._port = 0

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> AwsStandin:
        if self.running:
            return self
        self._folder = Path(tempfile.mkdtemp(prefix="lambdaone-aws-standin-"))
        port_file = self._folder / "port"
        log_path = self._folder / "server.log"
        with open(log_path, "wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 (this interpreter, a fixed script)
                [self.python, "-c", _LAUNCHER, str(port_file), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self._server_env(),
            )
        atexit.register(self.stop)
        try:
            self._port = self._wait_for_port(port_file, log_path, timeout)
            self.configure({"lambda": {"use_docker": False}})
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and remove its folder; quiet when it is not running."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            atexit.unregister(self.stop)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self._port = 0

    def __enter__(self) -> AwsStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int:
        if not self.running:
            raise StandinError("the AWS stand-in is not running: call start() or use it in a with block")
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what clients need -----------------------------------------------------------------------------

    def cli_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for the AWS CLI (or boto3) to talk to this stand-in, and only to it.

        Every ``AWS_*`` variable of ``base`` (default ``os.environ``) is dropped: a profile, a session
        token or ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` would otherwise send calls elsewhere, and the
        configuration and credentials files are replaced by empty ones.
        """
        environment = {name: value for name, value in (os.environ if base is None else base).items()
                       if not name.startswith("AWS_")}
        environment.update({
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        })
        return environment

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this stand-in (faster than the CLI, for checks and tests)."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)

    def configure(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """POST moto's configuration (``/moto-api/config``); the whole configuration it now has."""
        answer = self._post("/moto-api/config", settings)
        for section, values in settings.items():
            applied = answer.get(section, {})
            if any(applied.get(name) != value for name, value in values.items()):
                raise StandinError(f"moto did not apply {section}={values}: its configuration is {answer}")
        return answer

    def reset(self) -> None:
        """Forget every resource (roles, functions, repositories): a fresh account, same server."""
        self._post("/moto-api/reset", {})

    # --- internals ---------------------------------------------------------------------------------------

    def _server_env(self) -> dict[str, str]:
        environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MOTO_"))}
        environment["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true" if self.managed_policies else "false"
        return environment

    def _wait_for_port(self, port_file: Path, log_path: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            assert self._process is not None
            if self._process.poll() is not None:
                raise StandinError(f"the moto server exited with status {self._process.returncode}: "
                                   f"{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise StandinError(f"the moto server did not start within {timeout:.0f} s: {_tail(log_path)}")
            time.sleep(0.05)
        return int(port_file.read_text())

    def _post(self, path: str, document: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(self.endpoint + path, data=json.dumps(document).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback, our server)
                body = response.read()
        except OSError as error:
            raise StandinError(f"the moto server did not answer {path}: {error}") from None
        return json.loads(body) if body.strip() else {}


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "no output"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "no output"


# --- the AWS CLI -----------------------------------------------------------------------------------------


def aws_cli_command() -> list[str]:
    """How to run the AWS CLI: the one installed with this Python (awscli), else ``aws`` on PATH."""
    if importlib.util.find_spec("awscli") is not None:
        return [sys.executable, "-m", "awscli"]
    found = shutil.which("aws")
    if found is None:
        raise AwsCliError(["--version"], "the AWS CLI is not installed (pip install awscli, or AWS CLI v2)")
    return [found]


def aws(arguments: Sequence[str], env: Mapping[str, str], cwd: str | Path | None = None,
        timeout: float = CLI_TIMEOUT_SECONDS) -> Any:
    """Run ``aws ARGUMENTS``: its JSON output parsed, its text output stripped, or None when it printed nothing.

    Raises :class:`AwsCliError` with the CLI's own message when the command fails.
    """
    command = [*aws_cli_command(), *arguments]
    try:
        completed = subprocess.run(  # noqa: S603 (the AWS CLI, no shell)
            command, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AwsCliError(arguments, f"no answer within {timeout:.0f} s") from None
    if completed.returncode != 0:
        raise AwsCliError(arguments, _cli_message(completed.stderr or completed.stdout, completed.returncode))
    output = completed.stdout.strip()
    if not output:
        return None
    if _option(arguments, "--output") not in (None, "json"):
        return output  # text or a table, as asked (an account id must stay a string)
    try:
        return json.loads(output)
    except ValueError:
        return output


def _option(arguments: Sequence[str], name: str) -> str | None:
    arguments = list(arguments)
    if name in arguments[:-1]:
        return arguments[arguments.index(name) + 1]
    return None


def _cli_message(output: str, status: int) -> str:
    """The line of the CLI's output that says what went wrong (it prints usage and notes around it)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    markers = ("An error occurred", "Error parsing parameter", "Unable to locate", "Unknown options", ": error:")
    errors = [line for line in lines if any(marker in line for marker in markers)]
    if errors:
        return errors[-1]
    return lines[-1] if lines else f"exit status {status}"


def _error_code(message: str) -> str | None:
    # "An error occurred (ResourceNotFoundException) when calling the GetFunction operation: ..."
    if message.startswith("An error occurred (") and ")" in message:
        return message[len("An error occurred ("):message.index(")")]
    return None


# --- the notebooks' choice: the stand-in or real AWS -----------------------------------------------------


@dataclass
class Target:
    """Where the deploy cells send their AWS calls: ``env`` for the CLI, and who answers."""

    env: dict[str, str]
    account: str
    region: str
    caller: str
    standin: AwsStandin | None = None

    @property
    def is_real(self) -> bool:
        return self.standin is None

    def describe(self) -> str:
        """One line that says plainly what these calls will change."""
        if self.standin is not None:
            return (f"Talking to the LOCAL AWS stand-in (moto) at {self.standin.endpoint}: account {self.account}, "
                    f"region {self.region}. Nothing leaves this machine.")
        return (f"Talking to REAL AWS: account {self.account}, region {self.region}, as {self.caller}. "
                f"The next cells create real resources in that account; the cleanup cell deletes them.")

    def role_arn(self, role_name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{role_name}"

    def registry(self) -> str:
        """The account's ECR registry host, where ``docker push`` sends images."""
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def stop(self) -> None:
        if self.standin is not None:
            self.standin.stop()


def choose_target(use_real_aws: bool = False, base: Mapping[str, str] | None = None) -> Target:
    """The stand-in (started here), or real AWS with the credentials already configured on this machine.

    For real AWS, the credentials and the region are checked before any call: without them this
    raises :class:`StandinError` saying what to configure, and nothing is sent anywhere.
    """
    if not use_real_aws:
        standin = AwsStandin().start()
        try:
            return _identify(standin.cli_env(), standin.region, standin)
        except BaseException:
            standin.stop()
            raise
    environment = dict(os.environ if base is None else base)
    region = _configured_region(environment)
    if not _has_credentials(environment):
        raise StandinError("USE_REAL_AWS is True but no AWS credentials are configured here: run `aws configure` "
                           "(or `aws sso login`), then run this cell again. Nothing was sent to AWS.")
    if region is None:
        raise StandinError("USE_REAL_AWS is True but no region is configured: set AWS_DEFAULT_REGION "
                           "(or run `aws configure`), then run this cell again. Nothing was sent to AWS.")
    environment["AWS_DEFAULT_REGION"] = region
    environment.pop("AWS_ENDPOINT_URL", None)  # real AWS means AWS's own endpoints
    return _identify(environment, region, None)


def _identify(environment: dict[str, str], region: str, standin: AwsStandin | None) -> Target:
    identity = aws(["sts", "get-caller-identity", "--output", "json"], environment)
    return Target(env=environment, account=identity["Account"], region=region, caller=identity["Arn"],
                  standin=standin)


def _has_credentials(environment: Mapping[str, str]) -> bool:
    import botocore.session

    with _environment(environment):
        try:
            return botocore.session.Session().get_credentials() is not None
        except Exception:  # a broken profile or configuration file: no usable credentials
            return False


def _configured_region(environment: Mapping[str, str]) -> str | None:
    import botocore.session

    with _environment(environment):
        try:
            return botocore.session.Session().get_config_variable("region") or environment.get("AWS_REGION")
        except Exception:
            return None


@contextlib.contextmanager
def _environment(environment: Mapping[str, str]) -> Any:
    """``os.environ`` replaced by ``environment`` for the duration (botocore reads only os.environ)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
