"""The deployment zip proves itself before AWS sees it.

It is built once per session with ``python -m lambda_build.build_zip``, extracted into an empty folder
and run in a clean interpreter of the Lambda's Python (``-I -S``: no site-packages, no environment,
only the extracted folder on the path). If anything the handler needs were missing from the zip, or
built for the wrong Python or platform, these runs would fail to import or to verify a signature.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_build.build_zip import DEFAULT_PYTHON as TARGET_PYTHON
from workbook import events
from workbook.jwks_server import JwksServer
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks

pytestmark = pytest.mark.acceptance

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCOPE = "treasure:read"
TARGET_TAG = "cpython-" + TARGET_PYTHON.replace(".", "")
# What must never be deployed: the workbook, tests, notebooks, tooling, local configuration, dev files.
NEVER_IN_THE_ZIP = {
    "workbook", "test", "tests", "notebooks", "bench", "lambda_build", "build", "bin", ".env", ".env.example",
    "requirements.txt", "requirements-dev.txt", "Makefile", "pyproject.toml", "Dockerfile", ".dockerignore",
    "README.md", ".git", ".venv", ".ci",
}

# Runs in the clean interpreter: only the extracted folder is on sys.path; -S keeps site-packages out.
RUN_HANDLER = """
import json, sys
root, events_file, results_file = sys.argv[1:]
sys.path.insert(0, root)
import lambda_function

class Context:
    aws_request_id = "zip-acceptance"

with open(events_file) as source:
    responses = [lambda_function.handler(event, Context()) for event in json.load(source)]
files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
stdlib = sys.base_prefix
foreign = sorted(name for name, file in files.items() if file and not file.startswith(root)
                 and ("-packages" in file or not file.startswith(stdlib)))
with open(results_file, "w") as sink:
    json.dump({"responses": responses, "files": files, "foreign": foreign, "version": list(sys.version_info[:2])}, sink)
"""


@dataclass(frozen=True)
class Built:
    path: Path
    stdout: str

    def names(self) -> list[str]:
        with zipfile.ZipFile(self.path) as archive:
            return archive.namelist()

    def top_level(self) -> set[str]:
        return {name.split("/")[0] for name in self.names()}


def run_build(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-m", "lambda_build.build_zip", *arguments],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=env, check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def built_zip(issuer_public_pem: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The zip as ``make zip`` builds it, with the issuer's public key at its root (for SIGNATUREKEYPATH)."""
    output = tmp_path_factory.mktemp("zip") / "lambdaone.zip"
    completed = run_build("--key", str(issuer_public_pem), "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    return Built(output, completed.stdout)


@pytest.fixture(scope="session")
def task_root(built_zip: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip extracted into an empty folder, as Lambda extracts it into /var/task."""
    folder = tmp_path_factory.mktemp("var-task")
    assert not any(folder.iterdir())
    with zipfile.ZipFile(built_zip.path) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def jwks_url(issuer_key: KeyPair) -> Iterator[str]:
    with JwksServer(jwks(issuer_key)) as server:
        yield server.url


def run_in_clean_interpreter(python: Path, root: Path, environment: dict[str, str], event_list: list[Any],
                             work: Path) -> tuple[dict[str, Any], str]:
    """Invoke the handler once per event in ``python -I -S -B``; the results and what it printed (its log)."""
    events_file, results_file = work / "events.json", work / "results.json"
    events_file.write_text(json.dumps(event_list))
    completed = subprocess.run(  # noqa: S603 (the target interpreter, fixed arguments)
        [str(python), "-I", "-S", "-B", "-c", RUN_HANDLER, str(root), str(events_file), str(results_file)],
        cwd=work, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(results_file.read_text()), completed.stdout + completed.stderr


def reason(response: dict[str, Any]) -> str:
    return json.loads(response["body"])["reason"]


def configuration(**key_source: str) -> dict[str, str]:
    return {"REQUIRE": SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, **key_source}


# --- what is in the zip -----------------------------------------------------------------------------


def test_code_and_packages_sit_at_the_zip_root(built_zip: Built) -> None:
    top = built_zip.top_level()
    assert {"lambda_function.py", "lambdaone", "jwt", "cryptography", "cffi", "issuer_public.pem"} <= top
    assert any(re.fullmatch(r"_cffi_backend\.cpython-312-x86_64-linux-gnu\.so", name) for name in top)
    assert not [name for name in built_zip.names() if "site-packages" in name or name.startswith("python3")]


def test_nothing_the_lambda_does_not_need_goes_in(built_zip: Built) -> None:
    names = built_zip.names()
    assert not built_zip.top_level() & NEVER_IN_THE_ZIP
    assert not [name for name in names if {"test", "tests", "workbook"} & set(name.split("/")[:-1])]
    assert not [name for name in names if name.endswith((".ipynb", ".pyo", ".env"))]
    code = sorted(name for name in names if name.startswith("lambdaone/") and name.endswith(".py"))
    assert code == sorted(f"lambdaone/{path.name}" for path in (PROJECT_ROOT / "lambdaone").glob("*.py"))


def test_bytecode_is_only_for_the_target_python(built_zip: Built, target_python: Path) -> None:
    names = set(built_zip.names())
    compiled = [name for name in names if name.endswith(".pyc")]
    assert compiled, "the target interpreter is here, so the zip must carry its bytecode"
    assert all(f".{TARGET_TAG}.pyc" in name and "/__pycache__/" in f"/{name}" for name in compiled)
    for source in (name for name in names if name.startswith(("lambdaone/", "jwt/")) and name.endswith(".py")):
        folder, _, module = source.rpartition("/")
        assert f"{folder}/__pycache__/{module[:-3]}.{TARGET_TAG}.pyc" in names, source


def test_entries_are_sorted_with_fixed_times_and_permissions(built_zip: Built) -> None:
    with zipfile.ZipFile(built_zip.path) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {info.filename: info.external_attr >> 16 for info in infos}
    assert modes["lambda_function.py"] == 0o100644
    assert modes["lambdaone/"] == 0o040755
    assert set(modes.values()) <= {0o100644, 0o100755, 0o040755}


def test_the_same_inputs_give_the_same_bytes(built_zip: Built, issuer_public_pem: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    completed = run_build("--key", str(issuer_public_pem), "--output", str(again))
    assert completed.returncode == 0, completed.stderr
    assert sha256(again) == sha256(built_zip.path)


def test_the_build_prints_the_size_and_a_summary(built_zip: Built) -> None:
    size = built_zip.path.stat().st_size
    assert f"({size:,} bytes)" in built_zip.stdout
    assert re.search(r"\b\d[\d,]* files\b", built_zip.stdout)
    assert "SIGNATUREKEYPATH=issuer_public.pem" in built_zip.stdout
    summary = {line.split()[0] for line in built_zip.stdout.splitlines() if line.startswith("  ")}
    assert {"lambda_function.py", "lambdaone/", "jwt/", "cryptography/"} <= summary


# --- the zip runs on its own in the Lambda's Python ------------------------------------------------


def test_the_handler_runs_from_the_zip_against_a_jwks(task_root: Path, target_python: Path, jwks_url: str,
                                                      issuer_key: KeyPair, other_key: KeyPair,
                                                      tmp_path: Path) -> None:
    valid = issuer_key.token(scope=SCOPE)
    forged = other_key.token(scope=SCOPE, header={"kid": issuer_key.kid})
    no_scope = issuer_key.token(scope="treasure:write")
    cases = [
        (events.http_api_v2(events.bearer(valid)), 200, None),
        (events.rest_api_v1(events.bearer(valid)), 200, None),
        (events.http_api_v2(), 401, "missing_token"),
        (events.http_api_v2(events.bearer(forged)), 401, "bad_signature"),
        (events.http_api_v2(events.bearer(no_scope)), 403, "insufficient_scope"),
    ]
    results, output = run_in_clean_interpreter(target_python, task_root, configuration(JWKSPATH=jwks_url),
                                               [event for event, _, _ in cases], tmp_path)

    assert results["version"] == [int(part) for part in TARGET_PYTHON.split(".")]
    for response, (_, status, expected_reason) in zip(results["responses"], cases, strict=True):
        assert response["statusCode"] == status
        if expected_reason is None:
            assert response["body"] == "Hello from LambdaOne!"
        else:
            assert reason(response) == expected_reason
    assert results["responses"][2]["headers"]["WWW-Authenticate"] == "Bearer"
    for module in ("lambda_function", "lambdaone", "jwt", "cryptography"):
        assert results["files"][module].startswith(str(task_root)), module
    assert results["foreign"] == [], "modules came from outside the zip and the standard library"
    assert valid not in output and forged not in output, "a token reached the log"


def test_the_handler_reads_the_pem_key_shipped_in_the_zip(task_root: Path, target_python: Path,
                                                          issuer_key: KeyPair, tmp_path: Path) -> None:
    # A relative SIGNATUREKEYPATH resolves beside lambda_function.py, wherever the process starts.
    cases = [events.http_api_v2(events.bearer(issuer_key.token(scope=SCOPE))), events.http_api_v2()]
    results, _ = run_in_clean_interpreter(target_python, task_root,
                                          configuration(SIGNATUREKEYPATH="issuer_public.pem"), cases, tmp_path)
    statuses = [response["statusCode"] for response in results["responses"]]
    assert statuses == [200, 401]
    assert reason(results["responses"][1]) == "missing_token"


def test_imports_load_the_zips_bytecode(task_root: Path, target_python: Path) -> None:
    # -v names each module's code object: a .pyc when the bytecode is used, the .py when it is compiled again.
    completed = subprocess.run(  # noqa: S603
        [str(target_python), "-I", "-S", "-B", "-v", "-c",
         f"import sys; sys.path.insert(0, {str(task_root)!r}); import jwt, lambdaone.handler"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", completed.stderr, flags=re.MULTILINE)
    from_zip = [path for path in loaded if path.startswith(str(task_root))]
    assert len(from_zip) > 20
    assert [path for path in from_zip if not path.endswith(f".{TARGET_TAG}.pyc")] == []


# --- options and failures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arm64_without_interpreter(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """An arm64 zip built where no Python of the target version can be found."""
    if any(Path(folder, f"python{TARGET_PYTHON}").exists() for folder in ("/usr/bin", "/usr/local/bin")):
        pytest.skip(f"a system python{TARGET_PYTHON} cannot be hidden from the build")
    folder = tmp_path_factory.mktemp("arm64")
    hidden = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYENV_ROOT": str(folder / "no-pyenv"),
              "HOME": str(folder)}
    completed = run_build("--arch", "arm64", "--output", str(folder / "lambdaone.zip"), env=hidden)
    assert completed.returncode == 0, completed.stderr
    return Built(folder / "lambdaone.zip", completed.stdout)


def test_arm64_packages_are_built_for_aarch64(arm64_without_interpreter: Built) -> None:
    with zipfile.ZipFile(arm64_without_interpreter.path) as archive:
        libraries = [name for name in archive.namelist() if name.endswith(".so")]
        assert libraries
        for name in libraries:
            elf_header = archive.read(name)[:20]
            assert elf_header[:4] == b"\x7fELF"
            assert int.from_bytes(elf_header[18:20], "little") == 183, f"{name} is not an AArch64 library"
    assert "manylinux2014_aarch64" in arm64_without_interpreter.stdout


def test_a_missing_interpreter_is_reported_and_bytecode_skipped(arm64_without_interpreter: Built) -> None:
    assert f"WARNING: no Python {TARGET_PYTHON} interpreter found" in arm64_without_interpreter.stdout
    assert "bytecode skipped" in arm64_without_interpreter.stdout
    assert not [name for name in arm64_without_interpreter.names() if name.endswith(".pyc")]


def assert_one_line_error(completed: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("build_zip: error: "), completed.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_missing_requirements_file_stops_the_build(tmp_path: Path) -> None:
    completed = run_build("--requirements", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "out.zip"))
    assert_one_line_error(completed, "nope.txt", "does not exist")
    assert not (tmp_path / "out.zip").exists()


def test_a_private_key_is_never_packaged(issuer_key: KeyPair, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    private = tmp_path / "private.pem"  # a throwaway copy in tmp, never in the repository
    private.write_bytes(issuer_key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    completed = run_build("--key", str(private), "--output", str(tmp_path / "out.zip"))
    assert_one_line_error(completed, "PRIVATE key")
    assert not (tmp_path / "out.zip").exists()


def test_a_pip_failure_stops_the_build_with_pips_reason(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("PyJWT==0.0.0\n")  # a version that was never published
    stale = tmp_path / "out.zip"
    stale.write_bytes(b"an earlier build")
    completed = run_build("--requirements", str(requirements), "--output", str(stale))
    assert_one_line_error(completed, "pip could not install requirements.txt", "PyJWT==0.0.0")
    assert not stale.exists(), "a failed build must not leave an earlier zip to be deployed by mistake"


def test_missing_code_stops_the_build(tmp_path: Path) -> None:
    from lambda_build.build_zip import BuildError, Options, build

    options = Options(requirements=PROJECT_ROOT / "requirements.txt", output=tmp_path / "out.zip", root=tmp_path)
    with pytest.raises(BuildError, match="lambda_function.py does not exist"):
        build(options)


# Runs in the clean interpreter too: the authorizer entry point of the same zip; errors become their messages.
RUN_AUTHORIZER = """
import json, sys
root, events_file, results_file = sys.argv[1:]
sys.path.insert(0, root)
import lambda_function

answers = []
for event in json.load(open(events_file)):
    try:
        answers.append(lambda_function.authorizer(event, None))
    except Exception as error:
        answers.append({"raised": type(error).__name__, "message": str(error)})
json.dump(answers, open(results_file, "w"))
"""


def test_the_authorizer_runs_from_the_same_zip(task_root: Path, target_python: Path, jwks_url: str,
                                               issuer_key: KeyPair, tmp_path: Path) -> None:
    from workbook import authorizer_events

    valid = f"Bearer {issuer_key.token(scope=SCOPE)}"
    cases = [authorizer_events.for_kind("rest_token", valid), authorizer_events.for_kind("http_v2", valid),
             authorizer_events.for_kind("rest_request", f"Bearer {issuer_key.token(scope='treasure:write')}"),
             authorizer_events.for_kind("http_v1", None)]
    (tmp_path / "events.json").write_text(json.dumps(cases))
    completed = subprocess.run(  # noqa: S603 (the target interpreter, fixed arguments)
        [str(target_python), "-I", "-S", "-B", "-c", RUN_AUTHORIZER, str(task_root), str(tmp_path / "events.json"),
         str(tmp_path / "answers.json")],
        cwd=tmp_path, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **configuration(JWKSPATH=jwks_url)},
        capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    allow, simple, deny, missing = json.loads((tmp_path / "answers.json").read_text())
    assert allow["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": authorizer_events.REST_STAGE_RESOURCE}
    assert simple["isAuthorized"] is True
    assert deny["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert missing == {"raised": "Unauthorized", "message": "Unauthorized"}
    assert valid.split(" ")[1] not in completed.stdout + completed.stderr, "a token reached the log"
