"""The container image proves itself: built from the project's Dockerfile, run, and invoked.

With AWS's base image (in the local store, or pulled), the image runs its runtime interface emulator on an
ephemeral port and events are POSTed to ``/2015-03-31/functions/function/invocations``. Where that
image cannot be pulled (no registry reachable), the same Dockerfile is built on a stand-in base
(Debian, with AWS's runtime interface client as entrypoint, see ``lambda_build.standin_base``) and
events go through a runtime API served by this test: that proves the image's layout, packages and
CMD, and the test says it ran on a stand-in. Without a Docker engine every test here is skipped.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from lambda_build import containers
from lambda_build.containers import AWS_BASE_IMAGE, DockerError
from lambda_build.runtime_api import RuntimeApi
from lambda_build.standin_base import StandinUnavailableError, ensure_standin_base
from workbook import events
from workbook.jwks_server import JwksServer
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(1200)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCOPE = "treasure:read"
KEY_NAME = "issuer_public.pem"
IMAGE_INPUTS = ("Dockerfile", ".dockerignore", "requirements.txt", "lambda_function.py")
INVOCATIONS = "/2015-03-31/functions/function/invocations"


class StandInWarning(UserWarning):
    """The container test ran on the stand-in base, not on AWS's Lambda base image."""


@dataclass(frozen=True)
class Base:
    name: str
    stand_in: bool


@pytest.fixture(scope="module")
def engine() -> None:
    problem = containers.engine_problem()
    if problem is not None:
        pytest.skip(f"Docker engine not running: {problem}")


@pytest.fixture(scope="module")
def base(engine: None) -> Base:
    """AWS's base image when it is here or can be pulled, else the stand-in (built once, then cached by tag)."""
    if containers.image_present(AWS_BASE_IMAGE):
        return Base(AWS_BASE_IMAGE, stand_in=False)
    why_not = containers.pull(AWS_BASE_IMAGE)
    if why_not is None:
        return Base(AWS_BASE_IMAGE, stand_in=False)
    print(f"{AWS_BASE_IMAGE} cannot be pulled ({why_not}): using the stand-in base")
    try:
        return Base(ensure_standin_base(say=print), stand_in=True)
    except StandinUnavailableError as error:
        pytest.skip(f"{AWS_BASE_IMAGE} cannot be pulled and no stand-in can be built: {error}")


@pytest.fixture(scope="module")
def image(base: Base, issuer_public_pem: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The project's Dockerfile built on ``base`` with the issuer's public key (KEY_FILE); removed afterwards.

    The build context is a copy of the image's inputs plus the key, so no key file is written into the
    repository; the repository's own context is checked by the .dockerignore test.
    """
    context = tmp_path_factory.mktemp("image-context")
    for name in IMAGE_INPUTS:
        shutil.copy2(PROJECT_ROOT / name, context / name)
    shutil.copytree(PROJECT_ROOT / "lambdaone", context / "lambdaone", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(issuer_public_pem, context / KEY_NAME)
    tag = f"lambdaone-acceptance:{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    containers.build_image(context, tag, {"BASE_IMAGE": base.name, "KEY_FILE": KEY_NAME})
    print(f"built {tag} on {base.name} in {time.monotonic() - started:.1f} s")
    yield tag
    containers.remove_image(tag)


@pytest.fixture
def jwks_url(issuer_key: KeyPair) -> Iterator[str]:
    with JwksServer(jwks(issuer_key)) as server:
        yield server.url


def configuration(**key_source: str) -> dict[str, str]:
    return {"REQUIRE": SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, **key_source}


def reason(response: dict[str, Any]) -> str:
    return json.loads(response["body"])["reason"]


def cases(issuer_key: KeyPair, other_key: KeyPair) -> list[tuple[dict[str, Any], int, str | None]]:
    """Events with the status and reason each must get: valid token, no token, forged signature."""
    forged = other_key.token(scope=SCOPE, header={"kid": issuer_key.kid})
    return [
        (events.http_api_v2(events.bearer(issuer_key.token(scope=SCOPE))), 200, None),
        (events.direct_invoke(), 401, "missing_token"),
        (events.http_api_v2(events.bearer(forged)), 401, "bad_signature"),
    ]


def assert_answers(responses: list[dict[str, Any]], expected: list[tuple[dict[str, Any], int, str | None]]) -> None:
    for response, (_, status, expected_reason) in zip(responses, expected, strict=True):
        assert response["statusCode"] == status, response
        if expected_reason is None:
            assert response["body"] == "Hello from LambdaOne!"
        else:
            assert reason(response) == expected_reason
    assert responses[1]["headers"]["WWW-Authenticate"] == "Bearer"


# --- what goes into the image ------------------------------------------------------------------------


def test_dockerignore_sends_only_the_images_inputs(engine: None) -> None:
    # Copy the whole build context of the repository into an empty image and list it.
    tag = f"lambdaone-context:{uuid.uuid4().hex[:12]}"
    container = None
    try:
        containers.build_image(PROJECT_ROOT, tag, dockerfile="FROM scratch\nCOPY . /context/\n", timeout=300)
        container = containers.docker("create", tag, "none").strip()
        exported = containers.docker_bytes("export", container)
    finally:
        if container:
            containers.remove_container(container)
        containers.remove_image(tag)
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        sent = {member.name.removeprefix("context/") for member in archive.getmembers()
                if member.isfile() and member.name.startswith("context/")}
    code = {f"lambdaone/{path.name}" for path in (PROJECT_ROOT / "lambdaone").iterdir() if path.is_file()
            and path.suffix != ".pyc"}
    assert {"requirements.txt", "lambda_function.py"} | code <= sent
    unexpected = sent - {"requirements.txt", "lambda_function.py"} - code
    assert {name for name in unexpected if not (name.endswith(".pem") and "/" not in name)} == set()


def test_the_image_holds_the_code_packages_and_key_at_the_task_root(image: str) -> None:
    listing = json.loads(containers.docker(
        "run", "--rm", "--entrypoint", "python3", image, "-c",
        "import json, os; root = os.environ['LAMBDA_TASK_ROOT']; "
        "print(json.dumps([root, sorted(os.listdir(root)), sorted(os.listdir(root + '/lambdaone'))]))",
    ))
    root, top, package = listing
    assert root == "/var/task"
    assert {"lambda_function.py", "lambdaone", "jwt", "cryptography", "cffi", KEY_NAME} <= set(top)
    assert not set(top) & {"workbook", "test", "notebooks", "bench", "lambda_build", ".env", "Dockerfile",
                           "requirements.txt", "requirements-dev.txt", "bin"}
    assert "handler.py" in package and "authz.py" in package, "lambdaone/ must stay a folder"


# --- invocations ---------------------------------------------------------------------------------------


def test_invocations_through_the_aws_base_images_emulator(base: Base, image: str, issuer_key: KeyPair,
                                                          other_key: KeyPair) -> None:
    if base.stand_in:
        pytest.skip(f"{AWS_BASE_IMAGE} cannot be pulled here (no registry reachable): "
                    "the stand-in test drives the image through the runtime API instead")
    # The emulator's container cannot reach this test's loopback JWKS server: the key baked in with KEY_FILE verifies.
    expected = cases(issuer_key, other_key)
    container = containers.run_detached(image, ["--publish", "127.0.0.1::8080"],
                                        configuration(SIGNATUREKEYPATH=KEY_NAME))
    try:
        url = f"http://127.0.0.1:{containers.host_port(container, 8080)}{INVOCATIONS}"
        wait_until_answering(url, container)
        responses = [post_json(url, event) for event, _, _ in expected]
        log = containers.logs(container)
    finally:
        containers.remove_container(container)
    assert_answers(responses, expected)
    assert_tokens_never_logged(log, expected)


def test_invocations_on_a_stand_in_base_through_the_runtime_api(base: Base, image: str, jwks_url: str,
                                                                issuer_key: KeyPair, other_key: KeyPair) -> None:
    if not base.stand_in:
        pytest.skip(f"{AWS_BASE_IMAGE} is here: the emulator test covers the image")
    message = (f"ran on the stand-in base {base.name} (Debian's Python with awslambdaric), "
               f"not on {AWS_BASE_IMAGE}, which cannot be pulled here")
    print(message)
    warnings.warn(message, StandInWarning, stacklevel=1)
    expected = cases(issuer_key, other_key)

    # With the JWKS: --network host lets the container reach the runtime API and the JWKS on 127.0.0.1.
    responses, log = invoke_through_runtime_api(image, configuration(JWKSPATH=jwks_url),
                                                [event for event, _, _ in expected])
    assert_answers(responses, expected)
    assert_tokens_never_logged(log, expected)
    assert '"reason":"bad_signature"' in log

    # With the key the image was built with (KEY_FILE), named relative to the task root.
    pem_cases = expected[:2]
    responses, _ = invoke_through_runtime_api(image, configuration(SIGNATUREKEYPATH=KEY_NAME),
                                              [event for event, _, _ in pem_cases])
    assert_answers(responses, pem_cases)


def invoke_through_runtime_api(image: str, environment: dict[str, str],
                               event_list: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Run the image against this process's runtime API, one invocation per event; the results and the log."""
    with RuntimeApi() as api:
        container = containers.run_detached(
            image, ["--network", "host"], {"AWS_LAMBDA_RUNTIME_API": api.address, **environment})
        try:
            results = [api.invoke(event, timeout=90) for event in event_list]
            log = containers.logs(container)
        except Exception:
            print(containers.logs(container)[-3000:])
            raise
        finally:
            containers.remove_container(container)
    assert [result["kind"] for result in results] == ["response"] * len(event_list), results
    return [result["payload"] for result in results], log


def assert_tokens_never_logged(log: str, expected: list[tuple[dict[str, Any], int, str | None]]) -> None:
    for event, _, _ in expected:
        header = (event.get("headers") or {}).get("authorization")
        if header:
            assert header.split()[-1] not in log, "a token reached the log"


def wait_until_answering(url: str, container: str, timeout: float = 90) -> None:
    """Poll the emulator until it answers an invocation (its first one runs the Lambda's init)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            post_json(url, events.direct_invoke(), timeout=30)
            return
        except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError) as error:
            if not containers.docker("inspect", "--format", "{{.State.Running}}", container).strip() == "true":
                pytest.fail(f"the container stopped: {containers.logs(container)[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the emulator did not answer within {timeout:.0f} s: {error}")
            time.sleep(0.2)


def post_json(url: str, document: Any, timeout: float = 60) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(document).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def test_docker_errors_carry_the_reason(engine: None) -> None:
    with pytest.raises(DockerError, match="No such image|not found|No such object"):
        containers.docker("image", "inspect", f"lambdaone-absent:{uuid.uuid4().hex[:12]}")
