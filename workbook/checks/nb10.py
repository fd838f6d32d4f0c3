"""Checks for notebook 10 (the deployment zip): spot a broken zip, and compose ``aws lambda create-function``.

The zips are built at check time in a temporary folder (their files are a few bytes: only names matter), and the
create-function arguments run through the AWS CLI against a local AWS stand-in the check starts and stops.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from workbook.aws_standin import ACCOUNT_ID, AwsCliError, AwsStandin, aws
from workbook.checking import Case, check, false_alarm_hints

ALL_PROBLEMS = {"packages_not_at_root", "no_handler_module", "dev_files", "wrong_bytecode", "wrong_binary"}

# What a good zip holds (the names matter, not the bytes): the code and the packages at the root, bytecode and
# compiled modules for CPython 3.12 on Linux x86_64, the packages' metadata and bundled libraries.
GOOD = (
    "lambda_function.py",
    "__pycache__/lambda_function.cpython-312.pyc",
    "lambdaone/",
    "lambdaone/__init__.py",
    "lambdaone/handler.py",
    "lambdaone/__pycache__/handler.cpython-312.pyc",
    "jwt/",
    "jwt/__init__.py",
    "jwt/api_jwt.py",
    "pyjwt-2.15.1.dist-info/RECORD",
    "cryptography/__init__.py",
    "cryptography/hazmat/bindings/_rust.abi3.so",
    "cryptography/hazmat/bindings/_rust/test_support.pyi",
    "cffi/__init__.py",
    "cffi/testing/__init__.py",
    "_cffi_backend.cpython-312-x86_64-linux-gnu.so",
    "cffi.libs/libffi-1a2b3c4d.so.8.1.0",
    "pycparser/__init__.py",
)
CODE = ("lambda_function.py", "lambdaone/__init__.py", "lambdaone/handler.py")
PACKAGES = ("jwt/__init__.py", "jwt/api_jwt.py", "cryptography/__init__.py",
            "cryptography/hazmat/bindings/_rust.abi3.so", "_cffi_backend.cpython-312-x86_64-linux-gnu.so")

ROLE_NAME = "lambdaone-execution"
SCOPES = "treasure:read, treasure:write"
AUDIENCES = "https://api.example.com/treasure,https://api.example.com/admin"
ENVIRONMENT = {
    "REQUIRE": SCOPES,
    "ISSUER": "https://issuer.example.com/",
    "AUDIENCE": AUDIENCES,
    "JWKSPATH": "https://issuer.example.com/.well-known/jwks.json",
}
OTHER_ENVIRONMENT = {"REQUIRE": "reports:read", "ISSUER": "https://login.example.org/oauth2/default",
                     "AUDIENCE": "api://reports", "JWKSPATH": "https://login.example.org/oauth2/default/v1/keys"}


def _write_zip(folder: Path, name: str, entries: Iterable[str]) -> str:
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for entry in entries:
            archive.writestr(entry, b"" if entry.endswith("/") else f"# {entry}\n".encode())
    return str(path)


def _site_packages(prefix: str) -> list[str]:
    return [*CODE, *(f"{prefix}{name}" for name in PACKAGES)]


def _zip_cases(zip_problems: Callable[[str], Any], folder: Path, built_zip: str | Path | None) -> list[Case]:
    def problems_of(name: str, entries: Iterable[str]) -> Callable[[], Any]:
        path = _write_zip(folder, name, entries)
        return lambda: zip_problems(path)

    good = list(GOOD)
    cases = [
        Case("a good zip: code and packages at the root, bytecode and binaries for 3.12", problems_of("good", good),
             set(), hint="return set() when nothing is wrong: a set of problem codes, never a list",
             explain=_explain_false_alarm),
    ]
    if built_zip is not None:
        cases.append(Case("the zip you built with lambda_build", lambda: zip_problems(str(built_zip)), set(),
                          hint="look at names only; the real zip also holds *.dist-info folders and cffi.libs",
                          explain=_explain_false_alarm))
    cases += [
        Case("packages under python3.12/site-packages/ (the zipped virtual environment)",
             problems_of("site-packages", _site_packages("python3.12/site-packages/")), {"packages_not_at_root"},
             hint="an entry whose path contains 'site-packages/' anywhere is out of Lambda's reach"),
        Case("packages under lib/python3.12/site-packages/",
             problems_of("lib-site-packages", _site_packages("lib/python3.12/site-packages/")),
             {"packages_not_at_root"}, hint="'site-packages/' anywhere in a path, not only at its start"),
        Case("the project folder zipped instead of its contents",
             problems_of("nested", [f"lambdaone-main/{name}" for name in good]), {"no_handler_module"},
             hint="the handler module must be exactly 'lambda_function.py', at the root"),
        Case("no lambda_function.py at all",
             problems_of("no-handler", [name for name in good if "lambda_function" not in name]),
             {"no_handler_module"}, hint="'lambda_function.py' must be one of the zip's names, exactly"),
        Case("tests and notebooks went in", problems_of("dev", [*good, "tests/test_handler.py", "notebooks/09.ipynb"]),
             {"dev_files"}, hint="top-level test/, tests/, notebooks/, .venv/, .git/, .env, or any .ipynb"),
        Case("a .env file at the root", problems_of("dotenv", [*good, ".env"]), {"dev_files"},
             hint="a .env file holds secrets and local settings: it is a dev file, never deployed"),
        Case("a notebook deep in a folder", problems_of("deep-notebook", [*good, "lambdaone/scratch/try.ipynb"]),
             {"dev_files"}, hint="a .ipynb anywhere in the zip, not only at the top level, is a dev file"),
        Case("bytecode from the developer's Python 3.11",
             problems_of("pyc-311", [*good, "lambdaone/__pycache__/authz.cpython-311.pyc"]), {"wrong_bytecode"},
             hint="a .pyc is for 3.12 only when its name contains '.cpython-312.'"),
        Case("an untagged lambda_function.pyc beside the source",
             problems_of("pyc-untagged", [*good, "lambda_function.pyc"]), {"wrong_bytecode"},
             hint="a .pyc without '.cpython-312.' in its name was written by whichever Python made it"),
        Case("cffi's backend built for Python 3.11",
             problems_of("cffi-311", [name.replace("cpython-312", "cpython-311") if name.startswith("_cffi") else name
                                      for name in good]), {"wrong_binary"},
             hint="a .so with a 'cpython-3NN' tag must say cpython-312-x86_64-linux-gnu; abi3 and bundled libraries are fine"),
        Case("cffi's backend built on a Mac",
             problems_of("cffi-darwin", [name.replace("x86_64-linux-gnu", "darwin") if name.startswith("_cffi") else name
                                         for name in good]), {"wrong_binary"},
             hint="a .so built on a Mac says 'darwin': Lambda runs Linux, x86_64"),
        Case("cffi's backend built for arm64 (a zip for the wrong platform)",
             problems_of("cffi-arm64", [name.replace("x86_64", "aarch64") if name.startswith("_cffi") else name
                                        for name in good]), {"wrong_binary"},
             hint="'aarch64' is arm64 (Graviton): a function configured for x86_64 cannot load it; the tag must say "
                  "cpython-312-x86_64-linux-gnu"),
        Case("a Windows extension module (.pyd)", problems_of("pyd", [*good, "cryptography/hazmat/bindings/_rust.pyd"]),
             {"wrong_binary"}, hint="a .pyd is a Windows extension module: never loadable on Lambda"),
        Case("everything wrong at once",
             problems_of("all-wrong", ["project/lambda_function.py", "python3.12/site-packages/jwt/__init__.py",
                                       "tests/test_x.py", "lambdaone/__pycache__/a.cpython-311.pyc",
                                       "_cffi_backend.cpython-311-x86_64-linux-gnu.so"]), ALL_PROBLEMS,
             hint="check every problem on its own: one found does not stop the others being found"),
    ]
    return cases


#: Why a problem reported on a good zip is a false alarm.
_FALSE_ALARMS = {
    "wrong_binary": "cryptography's _rust.abi3.so is fine: abi3 runs on every CPython from 3.11, and cffi.libs/ "
                    "holds bundled libraries; only a 'cpython-3NN' tag other than cpython-312-x86_64-linux-gnu is wrong",
    "wrong_bytecode": "__pycache__/NAME.cpython-312.pyc is the right bytecode: flag only .pyc names without "
                      "'.cpython-312.'",
    "dev_files": "test_support.pyi and cffi/testing/ belong to the packages: dev files are top-level test/, tests/, "
                 "notebooks/, .venv/, .git/, .env, and any .ipynb",
    "packages_not_at_root": "packages at the root are right: flag only paths that contain 'site-packages/'",
    "no_handler_module": "lambda_function.py is there, at the root: compare whole names with the zip's namelist()",
}


_explain_false_alarm = false_alarm_hints(_FALSE_ALARMS)


def check_zip_problems(zip_problems: Callable[[str], Any], built_zip: str | Path | None = None) -> None:
    """``zip_problems(path) -> set[str]`` of problem codes, against good and broken zips built here."""
    with tempfile.TemporaryDirectory(prefix="lambdaone-check09-") as folder:
        check("zip_problems", _zip_cases(zip_problems, Path(folder), built_zip))


# --- create-function ----------------------------------------------------------------------------------------


def _b64_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def _small_zip(folder: Path, name: str, greeting: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("lambda_function.py", f"def handler(event, context):\n    return {greeting!r}\n")
    return path


class _Deployment:
    """Runs the learner's arguments through the AWS CLI against the stand-in; keeps what came back."""

    def __init__(self, create_function_args: Callable[..., Any], standin: AwsStandin, folder: Path) -> None:
        self.compose = create_function_args
        self.standin = standin
        self.folder = folder
        self.response: dict[str, Any] = {}
        self.zip_path = _small_zip(folder, "lambdaone.zip", "hello")
        self.role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"

    def arguments(self) -> Any:
        return self.compose(str(self.zip_path), self.role_arn, dict(ENVIRONMENT))

    def create(self, zip_path: Path, role_arn: str, environment: dict[str, str]) -> str:
        arguments = self.compose(str(zip_path), role_arn, dict(environment))
        if not (isinstance(arguments, Sequence) and all(isinstance(word, str) for word in arguments)):
            return f"create_function_args returned {type(arguments).__name__}, not a list of strings"
        try:
            self.response = aws(list(arguments), self.standin.cli_env(), cwd=self.folder)
        except AwsCliError as error:
            return f"the AWS CLI refused them: {error.message}"
        if not isinstance(self.response, dict):
            return f"the CLI printed {str(self.response)[:200]!r}, not the new function as JSON"
        return "created"

    def field(self, name: str) -> Any:
        return self.response.get(name)

    def code(self) -> tuple[Any, Any]:
        return self.response.get("CodeSize"), self.response.get("CodeSha256")

    def again_elsewhere(self) -> tuple[str, Any, Any, Any]:
        """Delete the function, then deploy another zip with another role and configuration."""
        self.standin.client("lambda").delete_function(FunctionName="lambdaone")
        other_zip = _small_zip(self.folder, "elsewhere/build/other.zip", "bonjour")
        other_role = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}-staging"
        outcome = self.create(other_zip, other_role, OTHER_ENVIRONMENT)
        variables = (self.response.get("Environment") or {}).get("Variables")
        return outcome, self.field("Role"), self.field("CodeSha256") == _b64_sha256(other_zip), variables


def check_create_function_args(create_function_args: Callable[[str, str, dict[str, str]], Any]) -> None:
    """``create_function_args(zip_file, role_arn, environment)``: the words after ``aws``, run against a stand-in."""
    with tempfile.TemporaryDirectory(prefix="lambdaone-check09-") as folder, \
            AwsStandin(managed_policies=False) as standin:  # no policy is attached here: a faster start
        iam = standin.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        for name in (ROLE_NAME, f"{ROLE_NAME}-staging"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        deployment = _Deployment(create_function_args, standin, Path(folder))
        check("create_function_args", _create_cases(deployment))


FILEB_HINT = ("--zip-file fileb://PATH: fileb:// sends the file's bytes unchanged, file:// reads the zip as text "
              "and a bare path is refused")
SHORTHAND_HINT = ("the shorthand Variables={A=b,C=d} splits on commas: pass JSON, "
                  "json.dumps({'Variables': environment})")


def _explain_words(deployment: _Deployment) -> Callable[[Any], str | None]:
    """A hint from the words themselves, when the CLI refused them or the function differs."""
    def explain(outcome: Any) -> str | None:
        words = list(deployment.arguments())
        following = dict(zip(words, [*words[1:], ""], strict=True))
        code = following.get("--zip-file")
        if code is not None and not code.startswith("fileb://"):
            return FILEB_HINT
        if any(word.startswith("Variables=") for word in words):
            return SHORTHAND_HINT
        return None
    return explain


def _create_cases(deployment: _Deployment) -> list[Case]:
    zip_path = deployment.zip_path
    explain = _explain_words(deployment)
    return [
        Case("returns the words after `aws`: 'lambda', 'create-function', ...", lambda: list(deployment.arguments())[:2],
             ["lambda", "create-function"], hint="a list of strings, like sys.argv without the program name"),
        Case("the AWS CLI accepts them and creates the function",
             lambda: deployment.create(zip_path, deployment.role_arn, ENVIRONMENT), "created",
             hint="every option takes its value as the next word: ['--function-name', 'lambdaone', ...]",
             explain=explain),
        Case("FunctionName", lambda: deployment.field("FunctionName"), "lambdaone", hint="--function-name lambdaone"),
        Case("Runtime", lambda: deployment.field("Runtime"), "python3.12", hint="--runtime python3.12"),
        Case("Handler", lambda: deployment.field("Handler"), "lambda_function.handler",
             hint="module lambda_function (the file at the zip root), function handler"),
        Case("Role: the ARN passed in", lambda: deployment.field("Role"), deployment.role_arn,
             hint="--role takes the role's ARN as given: never build it from another name or path"),
        Case("PackageType", lambda: deployment.field("PackageType"), "Zip",
             hint="a zip's code goes in with --zip-file (no --package-type Image, no --code ImageUri=...)"),
        Case("the code is the zip's bytes (CodeSize, CodeSha256)", deployment.code,
             (zip_path.stat().st_size, _b64_sha256(zip_path)), hint=FILEB_HINT),
        Case("Environment: every variable, values with commas and spaces intact",
             lambda: (deployment.field("Environment") or {}).get("Variables"), ENVIRONMENT,
             hint=SHORTHAND_HINT),
        Case("another zip, role and configuration (outcome, Role, code matches, Environment)",
             deployment.again_elsewhere,
             ("created", f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}-staging", True, OTHER_ENVIRONMENT),
             hint="use the arguments you are given; nothing about the file or the role is fixed"),
    ]
