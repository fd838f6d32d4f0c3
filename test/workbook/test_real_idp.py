"""Notebook 13's support: ``workbook.idp`` (the .env opt-in, discovery, client credentials, the local IdP),
the ``nb13`` check battery against broken solutions, and the notebook's live path run against a local IdP."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from nbclient import NotebookClient

from lambdaone import settings
from workbook import idp
from workbook.checking import CheckFailed
from workbook.checks import nb13
from workbook.generate import SOLUTIONS
from workbook.selfcheck import KERNEL_NAME, error_of, printed_text
from workbook.tokens import KeyPair

NOTEBOOK = SOLUTIONS / "13_real_idp.ipynb"


@pytest.fixture(scope="module")
def signing_key() -> KeyPair:
    return KeyPair.generate("RS256", kid="idp-test-key")


@pytest.fixture(params=["auth0", "okta"])
def local_idp(request: pytest.FixtureRequest, signing_key: KeyPair) -> Iterator[idp.LocalIdp]:
    with idp.LocalIdp(signing_key, request.param) as server:
        yield server


def write_env(path: Path, config: idp.IdpConfig, **overrides: str) -> Path:
    values = {"IDP_TOKEN_URL": config.token_url, "IDP_CLIENT_ID": config.client_id,
              "IDP_CLIENT_SECRET": config.client_secret, "IDP_CLIENT_AUTH": config.client_auth,
              **config.lambda_env, **overrides}
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items() if value is not None))
    return path


# --- reading .env only on request ------------------------------------------------------------------------

def test_nothing_is_read_unless_the_learner_opts_in(tmp_path: Path) -> None:
    config, status = idp.load_config(False, tmp_path / "does-not-matter")
    assert config is None
    assert status.startswith("Real IdP: off") and idp.OPT_IN in status


def test_the_opt_in_is_an_explicit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (("1", True), (" 1 ", True), ("0", False), ("true", False), ("", False)):
        monkeypatch.setenv(idp.OPT_IN, value)
        assert idp.opted_in() is expected, value
    monkeypatch.delenv(idp.OPT_IN)
    assert idp.opted_in() is False


def test_the_env_file_is_the_repository_one_unless_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(idp.ENV_FILE_VARIABLE, raising=False)
    assert idp.env_file() == idp.ROOT / ".env"
    monkeypatch.setenv(idp.ENV_FILE_VARIABLE, str(tmp_path / "other.env"))
    assert idp.env_file() == tmp_path / "other.env"


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    config, status = idp.load_config(True, tmp_path / ".env")
    assert config is None and "there is no" in status


def test_missing_variables_are_named_without_values(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("IDP_CLIENT_SECRET=s3cret-value\nISSUER=https://tenant.example/\n")
    config, status = idp.load_config(True, path)
    assert config is None
    for name in ("IDP_TOKEN_URL", "IDP_CLIENT_ID", "REQUIRE", "AUDIENCE"):
        assert name in status
    assert "JWKSPATH" not in status  # optional: without it the Lambda finds the keys by discovery
    assert "IDP_CLIENT_SECRET" not in status and "s3cret-value" not in status


def test_reading_env_leaves_os_environ_alone(tmp_path: Path) -> None:
    config = idp.IdpConfig("https://t.example/oauth/token", "client", "secret-xyz", lambda_env={
        "REQUIRE": "treasure:read", "ISSUER": "https://t.example/", "AUDIENCE": "https://api.example.com/treasure",
        "JWKSPATH": "https://t.example/.well-known/jwks.json"})
    before = dict(os.environ)
    loaded, status = idp.load_config(True, write_env(tmp_path / ".env", config))
    assert loaded == config
    assert dict(os.environ) == before
    assert "secret-xyz" not in status and "secret-xyz" not in repr(loaded)


def test_an_env_without_jwkspath_configures_discovery(tmp_path: Path) -> None:
    config = idp.IdpConfig("https://t.example/oauth/token", "client", "secret", lambda_env={
        "REQUIRE": "treasure:read", "ISSUER": "https://t.example/", "AUDIENCE": "aud"})
    loaded, status = idp.load_config(True, write_env(tmp_path / ".env", config))
    assert loaded == config and loaded.jwks_url is None, status
    assert settings.load(loaded.lambda_env).jwks_urls == ()


def test_the_local_idp_configures_the_lambda_for_discovery() -> None:
    with idp.LocalIdp(KeyPair.generate("RS256"), "okta") as local:
        lambda_env = local.config().lambda_env
        assert set(lambda_env) == {"REQUIRE", "ISSUER", "AUDIENCE"} and lambda_env["ISSUER"] == local.issuer


def test_a_secret_with_a_dollar_sign_is_read_as_written(tmp_path: Path) -> None:
    config = idp.IdpConfig("https://t.example/oauth/token", "client", "a$HOME${USER}b", lambda_env={
        "REQUIRE": "treasure:read", "ISSUER": "https://t.example/", "AUDIENCE": "aud",
        "JWKSPATH": "https://t.example/keys"})
    loaded, _ = idp.load_config(True, write_env(tmp_path / ".env", config))
    assert loaded is not None and loaded.client_secret == "a$HOME${USER}b"


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"IDP_TOKEN_URL": "http://t.example/oauth/token"}, "IDP_TOKEN_URL is not an https URL"),
    ({"IDP_CLIENT_AUTH": "private_key_jwt"}, "IDP_CLIENT_AUTH must be one of"),
    ({"JWKSPATH": "http://t.example/keys"}, "JWKSPATH"),
    ({"SIGNATUREKEYPATH": "public.pem"}, "both are set"),
    ({"ALGORITHMS": "HS256"}, "ALGORITHMS"),
])
def test_a_configuration_the_lambda_would_refuse_is_reported(tmp_path: Path, overrides: dict[str, str],
                                                             fragment: str) -> None:
    config = idp.IdpConfig("https://t.example/oauth/token", "client", "secret", lambda_env={
        "REQUIRE": "treasure:read", "ISSUER": "https://t.example/", "AUDIENCE": "aud",
        "JWKSPATH": "https://t.example/keys"})
    loaded, status = idp.load_config(True, write_env(tmp_path / ".env", config, **overrides))
    assert loaded is None
    assert fragment in status


# --- discovery, tokens, and what gets shown ----------------------------------------------------------------

@pytest.mark.integration
def test_discovery_agrees_with_the_configuration(local_idp: idp.LocalIdp) -> None:
    config = local_idp.config()
    document = idp.fetch_discovery(config.issuer)
    assert document["issuer"] == config.issuer
    assert all(line.endswith(": yes") for line in idp.compare_discovery(document, config))


def test_discovery_urls_never_double_the_slash() -> None:
    assert idp.discovery_url("https://t.us.auth0.com/") == "https://t.us.auth0.com/.well-known/openid-configuration"
    assert idp.discovery_url("https://o.okta.com/oauth2/default") == (
        "https://o.okta.com/oauth2/default/.well-known/openid-configuration")


@pytest.mark.integration
def test_discovery_errors_are_idp_errors(local_idp: idp.LocalIdp) -> None:
    with pytest.raises(idp.IdpError, match="answered 404"):
        idp.fetch_discovery(local_idp.base_url + "/no/such/issuer")
    with pytest.raises(idp.IdpError, match="not an https URL"):
        idp.fetch_discovery("http://issuer.example.com/")


@pytest.mark.integration
def test_a_client_credentials_token_has_the_flavours_shape(local_idp: idp.LocalIdp) -> None:
    config = local_idp.config()
    token = idp.request_token(config)
    lines = idp.describe_token(token, config)
    claim = "scope" if local_idp.flavour.name == "auth0" else "scp"
    assert f"scopes ({claim}): treasure:read" in lines
    assert "iss equals ISSUER: yes" in lines and "aud includes AUDIENCE: yes" in lines
    shown = "\n".join(lines)
    assert token not in shown and token.split(".")[2] not in shown and "eyJ" not in shown
    assert local_idp.tokens_issued == 1


@pytest.mark.integration
@pytest.mark.parametrize(("change", "status", "error"), [
    (lambda c: dataclasses.replace(c, client_secret="wrong"), 401, "invalid_client"),
    (lambda c: dataclasses.replace(c, client_id="someone-else"), 401, "invalid_client"),
    (lambda c: dataclasses.replace(c, client_auth="client_secret_basic" if c.client_auth == "client_secret_post"
                                   else "client_secret_post"), 401, "invalid_client"),
])
def test_a_refused_client_never_hears_its_secret_repeated(local_idp: idp.LocalIdp, change: Callable[..., Any],
                                                          status: int, error: str) -> None:
    config = change(local_idp.config())
    with pytest.raises(idp.IdpError) as raised:
        idp.request_token(config)
    message = str(raised.value)
    assert f"answered {status}: {error}" in message
    assert config.client_secret not in message and local_idp.config().client_secret not in message
    assert local_idp.tokens_issued == 0


@pytest.mark.integration
def test_scopes_beyond_the_grant_are_refused(local_idp: idp.LocalIdp) -> None:
    with pytest.raises(idp.IdpError, match="invalid_scope"):
        idp.request_token(local_idp.config(), scopes=("treasure:read", "treasure:admin"))


@pytest.mark.integration
def test_auth0_refuses_another_audience(signing_key: KeyPair) -> None:
    with idp.LocalIdp(signing_key, "auth0") as server:
        config = server.config()
        other = dataclasses.replace(config, lambda_env={**config.lambda_env, "AUDIENCE": "https://other.example"})
        with pytest.raises(idp.IdpError, match="403: access_denied"):
            idp.request_token(other)


@pytest.mark.integration
def test_a_token_that_is_not_bearer_is_refused(local_idp: idp.LocalIdp, monkeypatch: pytest.MonkeyPatch) -> None:
    original = local_idp.token_response

    def dpop_response(form: Any, authorization: Any) -> tuple[int, dict[str, Any]]:
        status, body = original(form, authorization)
        return status, {**body, "token_type": "DPoP"}

    monkeypatch.setattr(local_idp, "token_response", dpop_response)
    with pytest.raises(idp.IdpError, match="not Bearer"):
        idp.request_token(local_idp.config())


@pytest.mark.integration
def test_the_local_idp_stops_and_frees_its_port(signing_key: KeyPair) -> None:
    server = idp.LocalIdp(signing_key).start()
    url = server.token_url
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, timeout=2)
    with pytest.raises(RuntimeError):
        _ = server.base_url


# --- the nb13 check battery fails broken solutions -----------------------------------------------------------

def solution_source() -> str:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    return next(cell.source for cell in notebook.cells
                if cell.cell_type == "code" and "def lambda_env_from_discovery" in cell.source)


def compiled(source: str) -> Callable[..., dict[str, str]]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "lambda_env_from_discovery", "exec"), namespace)  # noqa: S102 (the notebook's own cell)
    return namespace["lambda_env_from_discovery"]


def test_the_solution_passes(capsys: pytest.CaptureFixture[str]) -> None:
    nb13.check_lambda_env_from_discovery(compiled(solution_source()))
    assert capsys.readouterr().out.startswith("✅ lambda_env_from_discovery")


@pytest.mark.parametrize(("original", "broken", "failing_case"), [
    ('parts.scheme != "https"', 'parts.scheme not in ("https", "http")', "jwks_uri over plain http"),
    ("or not parts.hostname", "", "jwks_uri without a host"),
    ('issuer.rstrip("/") + WELL_KNOWN != discovery_url', "not issuer.startswith(discovery_url.removesuffix(WELL_KNOWN))",
     "issuer that only starts like the right one"),
    ("if not names or any(", "if any(", "no scope at all"),
    ('"ISSUER": issuer', '"ISSUER": issuer.rstrip("/")', "an Auth0 document"),
    ('" ".join(names)', '",".join(names[:1])', "two scopes, as the Lambda reads them"),
    ("if not isinstance(document, dict):", "if False:", "a document that is not a JSON object"),
    ("not audience.strip()", "not audience", "an empty audience"),
])
def test_the_check_catches_a_broken_solution(original: str, broken: str, failing_case: str) -> None:
    source = solution_source()
    assert original in source, "the solution changed: update this mutation"
    with pytest.raises(CheckFailed) as failed:
        nb13.check_lambda_env_from_discovery(compiled(source.replace(original, broken, 1)))
    assert failed.value.lines[0] == f'❌ lambda_env_from_discovery: case "{failing_case}" failed'


# --- the live path of the notebook, with a local IdP standing in for the real one ---------------------------

@pytest.mark.integration
def test_the_notebook_uses_the_idp_in_env_when_opted_in(signing_key: KeyPair, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with idp.LocalIdp(signing_key, "okta", client_id="notebook-client") as server:
        config = server.config()
        monkeypatch.setenv(idp.OPT_IN, "1")  # the kernel inherits this process's environment
        monkeypatch.setenv(idp.ENV_FILE_VARIABLE, str(write_env(tmp_path / ".env", config)))
        NotebookClient(notebook, timeout=120, kernel_name=KERNEL_NAME, allow_errors=True,
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute(stderr=subprocess.DEVNULL)
        issued = server.tokens_issued
    errors = [(index, error_of(cell)) for index, cell in enumerate(notebook.cells)
              if cell.cell_type == "code" and error_of(cell) is not None]
    assert errors == []
    printed = "\n".join(printed_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert printed.startswith("Real IdP: configured.")
    assert idp.SKIP not in printed
    assert "token_endpoint equals IDP_TOKEN_URL: yes" in printed
    your_idp = printed[printed.index("your IdP:"):]
    assert "as configured                            200 -" in your_idp
    assert "ISSUER with its trailing slash flipped   401 wrong_issuer" in your_idp
    assert issued == 1  # the notebook's rehearsal tokens come from its own local IdPs
    # This stand-in serves http on loopback, which the exercise rightly refuses (a real IdP is https).
    assert "your function refused this document: discovery_url is not an https URL" in printed
    assert config.client_secret not in printed and "eyJ" not in printed
