"""Unit tests for ``lambdaone.settings``: every variable's parsing and every configuration error.

``load`` is pure (it reads no file and touches no network), so most tests hand it a plain dict.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from lambdaone import settings
from lambdaone.keys import SUPPORTED_ALGORITHMS
from lambdaone.settings import ConfigurationError, Settings, fingerprint, load

# A complete, valid configuration with a fixed key; tests override or drop single variables.
VALID = {
    "REQUIRE": "treasure:read",
    "ISSUER": "https://issuer.example.test/",
    "AUDIENCE": "https://api.example.test/treasure",
    "SIGNATUREKEYPATH": "/keys/public.pem",
}


def env(drop: tuple[str, ...] = (), **overrides: str) -> dict[str, str]:
    """``VALID`` with some variables replaced or removed."""
    result = {**VALID, **overrides}
    for name in drop:
        result.pop(name, None)
    return result


def configuration_error(environ: dict[str, str]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load(environ)
    return caught.value


# --------------------------------------------------------------------------------------------------
# Defaults and authorization switched off
# --------------------------------------------------------------------------------------------------


def test_a_valid_configuration_gets_the_documented_defaults() -> None:
    loaded = load(env())
    assert loaded.required_scopes == ("treasure:read",)
    assert loaded.authorization_required
    assert loaded.issuer == "https://issuer.example.test/"
    assert loaded.audiences == ("https://api.example.test/treasure",)
    assert loaded.key_path == Path("/keys/public.pem")
    assert loaded.jwks_url is None
    assert loaded.algorithms == {"RS256"}
    assert (loaded.leeway, loaded.jwks_cache_seconds, loaded.jwks_cooldown_seconds) == (30, 600, 10)
    assert (loaded.jwks_stale_seconds, loaded.jwks_timeout_seconds) == (1800, 2)
    assert loaded.log_level == logging.INFO
    assert loaded.warnings == ()


@pytest.mark.parametrize("require", ["", "   ", " , ,\t", None])
def test_empty_require_turns_authorization_off_with_a_warning(require: str | None) -> None:
    environ = {} if require is None else {"REQUIRE": require}
    loaded = load(environ)
    assert not loaded.authorization_required
    assert loaded.required_scopes == ()
    assert len(loaded.warnings) == 1
    assert "REQUIRE" in loaded.warnings[0] and "OFF" in loaded.warnings[0]


def test_with_authorization_off_nothing_else_is_required_or_checked() -> None:
    # No issuer, audience or key source, and values that would otherwise be errors: not read at all.
    loaded = load({"ALGORITHMS": "none", "LEEWAY": "nan", "JWKSPATH": "http://example.com/"})
    assert not loaded.authorization_required
    assert loaded.jwks_url is None and loaded.key_path is None


# --------------------------------------------------------------------------------------------------
# REQUIRE, AUDIENCE, ISSUER
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("require", "scopes"),
    [
        ("treasure:read", ("treasure:read",)),
        (" treasure:read", ("treasure:read",)),  # leading space
        ("treasure:read,", ("treasure:read",)),  # trailing comma
        ("treasure:read, treasure:write", ("treasure:read", "treasure:write")),
        ("treasure:read treasure:write", ("treasure:read", "treasure:write")),
        ("treasure:read,,treasure:write ,", ("treasure:read", "treasure:write")),
        ("a\tb\nc", ("a", "b", "c")),
        ("treasure:read treasure:read,treasure:read", ("treasure:read",)),  # duplicates
        ("b a b", ("b", "a")),  # first occurrence keeps its place
        ("https://api.example.test/read!#$%&'()*+-./;<=>?@[]^_`{|}~", ("https://api.example.test/read!#$%&'()*+-./;<=>?@[]^_`{|}~",)),
    ],
)
def test_require_is_split_on_commas_and_spaces(require: str, scopes: tuple[str, ...]) -> None:
    assert load(env(REQUIRE=require)).required_scopes == scopes


@pytest.mark.parametrize("bad_scope", ['treasure"read', "treasure\\read", "trésor:lire", "read\x00", "read\x7f"])
def test_require_refuses_characters_outside_rfc6749_scope_tokens(bad_scope: str) -> None:
    error = configuration_error(env(REQUIRE=f"treasure:write {bad_scope}"))
    assert error.variable == "REQUIRE"
    assert "not a valid scope name" in str(error)


@pytest.mark.parametrize(
    ("audience", "audiences"),
    [
        ("api", ("api",)),
        (" api , other ", ("api", "other")),
        ("api,other,api,", ("api", "other")),
    ],
)
def test_audience_is_a_comma_separated_list(audience: str, audiences: tuple[str, ...]) -> None:
    assert load(env(AUDIENCE=audience)).audiences == audiences


def test_issuer_is_stripped_but_otherwise_kept_exactly() -> None:
    assert load(env(ISSUER="  https://issuer.example.test/  ")).issuer == "https://issuer.example.test/"
    assert load(env(ISSUER="https://Issuer.example.test")).issuer == "https://Issuer.example.test"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        (env(drop=("ISSUER",)), "ISSUER"),
        (env(ISSUER="   "), "ISSUER"),
        (env(drop=("AUDIENCE",)), "AUDIENCE"),
        (env(AUDIENCE=" , ,"), "AUDIENCE"),
    ],
)
def test_issuer_and_audience_are_required_with_require(environ: dict[str, str], variable: str) -> None:
    error = configuration_error(environ)
    assert error.variable == variable
    assert "missing while REQUIRE is set" in str(error)


# --------------------------------------------------------------------------------------------------
# Key source: JWKSPATH xor SIGNATUREKEYPATH
# --------------------------------------------------------------------------------------------------


def test_both_key_sources_is_an_error() -> None:
    error = configuration_error(env(JWKSPATH="https://issuer.example.test/jwks.json"))
    assert error.variable == "JWKSPATH/SIGNATUREKEYPATH"
    assert "both are set" in str(error)


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_neither_key_source_means_discovery(blank: str | None) -> None:
    environ = env(drop=("SIGNATUREKEYPATH",))
    if blank is not None:
        environ.update(SIGNATUREKEYPATH=blank, JWKSPATH=blank)
    loaded = load(environ)
    assert loaded.discovery
    assert (loaded.jwks_url, loaded.jwks_urls, loaded.key_path) == (None, (), None)
    assert loaded.issuers == ("https://issuer.example.test/",)


def test_a_key_source_means_no_discovery() -> None:
    assert not load(env()).discovery
    assert not load(env(drop=("SIGNATUREKEYPATH",), JWKSPATH="https://issuer.example.test/jwks")).discovery
    assert not Settings().discovery  # authorization off: nothing to discover


# --------------------------------------------------------------------------------------------------
# Several issuers
# --------------------------------------------------------------------------------------------------

ISSUER_A = "https://a.example.test/"
ISSUER_B = "https://b.example.test/oauth2/default"


@pytest.mark.parametrize("text", [f"{ISSUER_A},{ISSUER_B}", f"{ISSUER_A} {ISSUER_B}", f" {ISSUER_A} ,\n {ISSUER_B}, ",
                                  f"{ISSUER_A},,{ISSUER_B}"])
def test_issuer_lists_several_issuers_split_on_commas_and_spaces(text: str) -> None:
    loaded = load(env(drop=("SIGNATUREKEYPATH",), ISSUER=text))
    assert loaded.issuers == (ISSUER_A, ISSUER_B)
    assert loaded.issuer == ISSUER_A
    assert loaded.issuer_set == {ISSUER_A, ISSUER_B}


def test_issuers_are_kept_exactly_a_trailing_slash_makes_another_issuer() -> None:
    loaded = load(env(drop=("SIGNATUREKEYPATH",), ISSUER="https://a.example.test/ https://a.example.test"))
    assert loaded.issuers == ("https://a.example.test/", "https://a.example.test")


def test_an_issuer_listed_twice_is_an_error() -> None:
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), ISSUER=f"{ISSUER_A}, {ISSUER_B}, {ISSUER_A}"))
    assert error.variable == "ISSUER"
    assert "listed twice" in str(error)


def test_jwkspath_gives_one_url_per_issuer_in_order() -> None:
    loaded = load(env(drop=("SIGNATUREKEYPATH",), ISSUER=f"{ISSUER_A} {ISSUER_B}",
                      JWKSPATH="https://a.example.test/keys, https://b.example.test/keys"))
    assert loaded.jwks_urls == ("https://a.example.test/keys", "https://b.example.test/keys")
    assert loaded.jwks_url == "https://a.example.test/keys"
    assert not loaded.discovery


@pytest.mark.parametrize(("issuers", "urls"), [(2, 1), (1, 2), (2, 3), (3, 2)])
def test_a_jwkspath_count_that_differs_names_both_variables(issuers: int, urls: int) -> None:
    issuer_text = " ".join(f"https://i{n}.example.test/" for n in range(issuers))
    url_text = ",".join(f"https://i{n}.example.test/keys" for n in range(urls))
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), ISSUER=issuer_text, JWKSPATH=url_text))
    assert error.variable == "ISSUER/JWKSPATH"
    assert f"ISSUER lists {issuers} issuer(s) but JWKSPATH {urls} URL(s)" in str(error)


def test_every_jwks_url_of_the_list_is_checked() -> None:
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), ISSUER=f"{ISSUER_A} {ISSUER_B}",
                                    JWKSPATH="https://a.example.test/keys http://b.example.test/keys"))
    assert error.variable == "JWKSPATH"
    assert "'http://b.example.test' is not an https URL" in str(error)


def test_signaturekeypath_with_several_issuers_is_an_error() -> None:
    error = configuration_error(env(ISSUER=f"{ISSUER_A} {ISSUER_B}"))
    assert error.variable == "SIGNATUREKEYPATH"
    assert "cannot serve the 2 issuers" in str(error)


def test_audience_applies_to_every_issuer() -> None:
    loaded = load(env(drop=("SIGNATUREKEYPATH",), ISSUER=f"{ISSUER_A} {ISSUER_B}", AUDIENCE="api-1,api-2"))
    assert loaded.audiences == ("api-1", "api-2")


@pytest.mark.parametrize("issuer", ["https://a.example.test/", "http://127.0.0.1:8080/realms/x", "http://localhost:1/"])
def test_discovery_accepts_https_issuers_and_http_on_loopback(issuer: str) -> None:
    assert load(env(drop=("SIGNATUREKEYPATH",), ISSUER=issuer)).issuers == (issuer,)


@pytest.mark.parametrize(("issuer", "problem"), [
    ("http://a.example.test/", "is not an https URL"),
    ("a.example.test", "is not an https URL"),
    ("urn:example:issuer", "is not an https URL"),
    ("https://user:pa55@a.example.test/", "carries credentials"),
    ("https://[::1/", "is not a valid URL"),
    ("https://a.example.test/?tenant=1", "has a query or fragment"),
    ("https://a.example.test/#x", "has a query or fragment"),
])
def test_discovery_refuses_issuers_it_cannot_fetch_from(issuer: str, problem: str) -> None:
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), ISSUER=f"{ISSUER_A} {issuer}"))
    assert error.variable == "ISSUER"
    assert problem in str(error)
    assert "pa55" not in str(error)


def test_an_issuer_that_is_not_a_url_is_fine_with_a_key_source() -> None:
    assert load(env(ISSUER="urn:example:issuer")).issuer == "urn:example:issuer"


def test_jwks_min_cache_seconds_defaults_to_60() -> None:
    assert load(env()).jwks_min_cache_seconds == 60
    assert load(env(JWKS_MIN_CACHE_SECONDS="0")).jwks_min_cache_seconds == 0


def test_settings_built_by_hand_derive_their_lists() -> None:
    built = Settings(required_scopes=("s",), audiences=("a",), issuer=ISSUER_A, jwks_url="https://a.example.test/k")
    assert (built.issuers, built.jwks_urls, built.issuer_set) == ((ISSUER_A,), ("https://a.example.test/k",), {ISSUER_A})
    both = Settings(required_scopes=("s",), audiences=("a",), issuers=(ISSUER_A, ISSUER_B))
    assert both.issuer == ISSUER_A and both.discovery
    with pytest.raises(ValueError, match="first of issuers"):
        Settings(issuer=ISSUER_B, issuers=(ISSUER_A, ISSUER_B))
    with pytest.raises(ValueError, match="one JWKS URL per issuer"):
        Settings(issuers=(ISSUER_A, ISSUER_B), jwks_urls=("https://a.example.test/k",))
    with pytest.raises(ValueError, match="first of jwks_urls"):
        Settings(issuers=(ISSUER_A,), jwks_url="https://x.example.test/", jwks_urls=("https://a.example.test/k",))


@pytest.mark.parametrize(
    "url",
    [
        "https://issuer.example.test/.well-known/jwks.json",
        "https://10.0.0.1/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://127.0.0.2/jwks.json",
        "http://[::1]:8080/jwks.json",
        "http://localhost:8000/jwks.json",
        "http://LOCALHOST/jwks.json",
    ],
)
def test_jwks_url_https_anywhere_or_http_on_loopback(url: str) -> None:
    loaded = load(env(drop=("SIGNATUREKEYPATH",), JWKSPATH=f"  {url} "))
    assert loaded.jwks_url == url
    assert loaded.key_path is None


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example.test/jwks.json",  # plain http off loopback
        "http://10.0.0.1/jwks.json",
        "http://169.254.169.254/latest/meta-data",  # the instance metadata endpoint
        "http://0.0.0.0:8080/jwks.json",
        "http://localhost.example.test/jwks.json",  # looks like localhost, is not
        "http://127.0.0.1.nip.io/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/jwks.json",
        "https:///jwks.json",  # no host
        "issuer.example.test/jwks.json",  # no scheme
        "http://[::1/jwks.json",  # not even a URL: an unclosed IPv6 bracket
        "https://[::1/jwks.json",
    ],
)
def test_jwks_url_refused(url: str) -> None:
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), JWKSPATH=url))
    assert error.variable == "JWKSPATH"
    assert "https" in str(error).split("Fix:")[1]


def test_absolute_signature_key_path_is_kept() -> None:
    assert load(env(SIGNATUREKEYPATH=" /opt/keys/public.pem ")).key_path == Path("/opt/keys/public.pem")


def test_relative_signature_key_path_resolves_beside_lambda_function_not_the_cwd(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import lambda_function

    monkeypatch.chdir(tmp_path)  # in AWS the working directory is not the task root either
    key_path = load(env(SIGNATUREKEYPATH="keys/public.pem")).key_path
    assert key_path == Path(lambda_function.__file__).resolve().parent / "keys" / "public.pem"
    assert key_path.is_absolute()
    assert not key_path.is_relative_to(tmp_path)
    assert settings.TASK_ROOT == Path(lambda_function.__file__).resolve().parent


# --------------------------------------------------------------------------------------------------
# ALGORITHMS
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "algorithms"),
    [
        ("", {"RS256"}),
        ("  ", {"RS256"}),
        ("ES256", {"ES256"}),
        ("rs256, ps256", {"RS256", "PS256"}),  # any case, canonical names
        ("eddsa EDDSA", {"EdDSA"}),
        ("RS256,RS256,", {"RS256"}),
        (" ".join(SUPPORTED_ALGORITHMS), set(SUPPORTED_ALGORITHMS)),
    ],
)
def test_algorithms_are_parsed_to_canonical_names(text: str, algorithms: set[str]) -> None:
    assert load(env(ALGORITHMS=text)).algorithms == algorithms


@pytest.mark.parametrize("forbidden", ["none", "None", "NONE", "HS256", "hs384", "HS512"])
def test_none_and_hmac_are_never_allowed(forbidden: str) -> None:
    error = configuration_error(env(ALGORITHMS=f"RS256, {forbidden}"))
    assert error.variable == "ALGORITHMS"
    assert "never allowed" in str(error)


@pytest.mark.parametrize("unknown", ["RS1", "ES256K", "Ed25519", "RSA-OAEP", "*"])
def test_unknown_algorithms_are_refused(unknown: str) -> None:
    error = configuration_error(env(ALGORITHMS=unknown))
    assert error.variable == "ALGORITHMS"
    assert "not a supported algorithm" in str(error)
    assert all(name in str(error) for name in SUPPORTED_ALGORITHMS)  # the fix lists the choices


# --------------------------------------------------------------------------------------------------
# Numbers of seconds
# --------------------------------------------------------------------------------------------------

# variable, Settings field, default, lowest accepted, highest accepted
NUMBERS = [
    ("LEEWAY", "leeway", 30.0, 0.0, 600.0),
    ("JWKS_CACHE_SECONDS", "jwks_cache_seconds", 600.0, 1.0, 86400.0),
    ("JWKS_MIN_CACHE_SECONDS", "jwks_min_cache_seconds", 60.0, 0.0, 86400.0),
    ("JWKS_COOLDOWN_SECONDS", "jwks_cooldown_seconds", 10.0, 0.0, 3600.0),
    ("JWKS_STALE_SECONDS", "jwks_stale_seconds", 1800.0, 0.0, 86400.0),
    ("JWKS_TIMEOUT_SECONDS", "jwks_timeout_seconds", 2.0, 0.1, 30.0),
]
NUMBER_IDS = [row[0] for row in NUMBERS]
ABOVE_RANGE = "just above the highest value"


@pytest.mark.parametrize(("variable", "field", "default", "low", "high"), NUMBERS, ids=NUMBER_IDS)
def test_numbers_default_when_unset_or_blank(variable: str, field: str, default: float, low: float,
                                             high: float) -> None:
    assert getattr(load(env()), field) == default
    assert getattr(load(env(**{variable: "  "})), field) == default


@pytest.mark.parametrize(("variable", "field", "default", "low", "high"), NUMBERS, ids=NUMBER_IDS)
def test_numbers_accept_their_whole_range(variable: str, field: str, default: float, low: float,
                                          high: float) -> None:
    for text, value in [(f"{low:g}", low), (f" {high:g} ", high), ("2.5", 2.5)]:
        assert getattr(load(env(**{variable: text})), field) == value


@pytest.mark.parametrize(("variable", "field", "default", "low", "high"), NUMBERS, ids=NUMBER_IDS)
@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "1e309", "-1", "abc", "30s", "9" * 30, ABOVE_RANGE])
def test_numbers_refuse_nan_infinite_negative_huge_and_text(variable: str, field: str, default: float,
                                                            low: float, high: float, bad: str) -> None:
    text = f"{high * 1.001:g}" if bad == ABOVE_RANGE else bad
    error = configuration_error(env(**{variable: text}))
    assert error.variable == variable
    assert f"from {low:g} to {high:g}" in str(error)


@pytest.mark.parametrize(("variable", "field", "default", "low", "high"), NUMBERS, ids=NUMBER_IDS)
def test_numbers_refuse_just_below_their_range(variable: str, field: str, default: float, low: float,
                                               high: float) -> None:
    assert configuration_error(env(**{variable: f"{low - 0.01:g}"})).variable == variable


def test_timeout_refuses_zero() -> None:
    # A zero timeout would make every JWKS fetch fail at once.
    assert configuration_error(env(JWKS_TIMEOUT_SECONDS="0")).variable == "JWKS_TIMEOUT_SECONDS"


# --------------------------------------------------------------------------------------------------
# Log level
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("DEBUG", logging.DEBUG), ("debug", logging.DEBUG), ("TRACE", logging.DEBUG),
        ("INFO", logging.INFO), (" info ", logging.INFO),
        ("WARN", logging.WARNING), ("warning", logging.WARNING),
        ("ERROR", logging.ERROR), ("FATAL", logging.CRITICAL), ("CRITICAL", logging.CRITICAL),
    ],
)
@pytest.mark.parametrize("variable", ["AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"])
def test_log_levels(variable: str, text: str, level: int) -> None:
    loaded = load(env(**{variable: text}))
    assert loaded.log_level == level
    assert loaded.warnings == ()


def test_aws_lambda_log_level_wins_over_log_level() -> None:
    assert load(env(AWS_LAMBDA_LOG_LEVEL="ERROR", LOG_LEVEL="DEBUG")).log_level == logging.ERROR
    assert load(env(AWS_LAMBDA_LOG_LEVEL=" ", LOG_LEVEL="DEBUG")).log_level == logging.DEBUG


def test_log_level_is_read_even_with_authorization_off() -> None:
    assert load({"LOG_LEVEL": "DEBUG"}).log_level == logging.DEBUG


@pytest.mark.parametrize("variable", ["AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"])
def test_unknown_log_level_falls_back_to_info_with_a_warning(variable: str) -> None:
    loaded = load(env(**{variable: "LOUD"}))
    assert loaded.log_level == logging.INFO
    assert len(loaded.warnings) == 1
    assert variable in loaded.warnings[0] and "LOUD" in loaded.warnings[0]


def test_warnings_do_not_make_settings_differ() -> None:
    assert load(env(LOG_LEVEL="LOUD")) == load(env())


# --------------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------------

EVERY_ERROR = [
    (env(drop=("ISSUER",)), "ISSUER"),
    (env(drop=("AUDIENCE",)), "AUDIENCE"),
    (env(JWKSPATH="https://issuer.example.test/jwks.json"), "JWKSPATH/SIGNATUREKEYPATH"),
    (env(ISSUER="https://a.example.test/ https://b.example.test/"), "SIGNATUREKEYPATH"),
    (env(drop=("SIGNATUREKEYPATH",), ISSUER="https://a.example.test/ https://b.example.test/",
         JWKSPATH="https://a.example.test/keys"), "ISSUER/JWKSPATH"),
    (env(drop=("SIGNATUREKEYPATH",), ISSUER="https://a.example.test/ https://a.example.test/"), "ISSUER"),
    (env(drop=("SIGNATUREKEYPATH",), ISSUER="http://a.example.test/"), "ISSUER"),
    (env(drop=("SIGNATUREKEYPATH",), ISSUER="https://a.example.test/?q"), "ISSUER"),
    (env(drop=("SIGNATUREKEYPATH",), JWKSPATH="http://issuer.example.test/jwks.json"), "JWKSPATH"),
    (env(ALGORITHMS="HS256"), "ALGORITHMS"),
    (env(ALGORITHMS="XS256"), "ALGORITHMS"),
    (env(REQUIRE='a"b'), "REQUIRE"),
    *[(env(**{row[0]: "nan"}), row[0]) for row in NUMBERS],
]


@pytest.mark.parametrize(("environ", "variable"), EVERY_ERROR, ids=[f"{v}-{i}" for i, (_, v) in enumerate(EVERY_ERROR)])
def test_every_error_names_the_variable_and_the_fix(environ: dict[str, str], variable: str) -> None:
    error = configuration_error(environ)
    assert error.variable == variable
    message = str(error)
    assert message.startswith(f"{variable}: ")
    problem, fix = message.split(". Fix: ")
    assert len(problem) > len(variable) + 2 and len(fix) > 10
    assert isinstance(error, ValueError)


def test_long_values_are_cut_short_in_messages() -> None:
    # A multi-kilobyte value must not flood the log line that reports it.
    message = str(configuration_error(env(LEEWAY="9" * 5000)))
    assert len(message) < 300


# --------------------------------------------------------------------------------------------------
# fingerprint
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", settings.VARIABLES)
def test_fingerprint_changes_when_any_variable_changes(variable: str) -> None:
    before = fingerprint(env())
    assert fingerprint(env(**{variable: "changed"})) != before
    assert fingerprint(env(**{variable: "changed"})) == fingerprint(env(**{variable: "changed"}))


@pytest.mark.parametrize("variable", settings.VARIABLES)
def test_fingerprint_of_os_environ_changes_when_any_variable_changes(
        variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    unset = fingerprint(os.environ)
    monkeypatch.setenv(variable, "one")
    one = fingerprint(os.environ)
    monkeypatch.setenv(variable, "two")
    two = fingerprint(os.environ)
    monkeypatch.delenv(variable)
    assert len({unset, one, two}) == 3
    assert fingerprint(os.environ) == unset


def test_fingerprint_of_os_environ_matches_the_plain_mapping_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path reads os.environ's raw storage; it must see exactly what os.environ.get sees.
    monkeypatch.setenv("REQUIRE", "treasure:read")
    monkeypatch.setenv("LEEWAY", "12")
    fast = fingerprint(os.environ)
    slow = fingerprint(dict(os.environ))
    assert [value is None for value in fast] == [value is None for value in slow]
    assert [os.fsdecode(v) if isinstance(v, bytes) else v for v in fast] == list(slow)


def test_fingerprint_ignores_other_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(os.environ)
    monkeypatch.setenv("LAMBDAONE_UNRELATED_VARIABLE", "x")
    assert fingerprint(os.environ) == before
    assert fingerprint({**env(), "UNRELATED": "x"}) == fingerprint(env())


def test_settings_default_is_authorization_off() -> None:
    assert not Settings().authorization_required


# --------------------------------------------------------------------------------------------------
# Credentials in JWKSPATH: refused, and never repeated in a message
# --------------------------------------------------------------------------------------------------

SECRET = "s3cr3t-pa55"
CREDENTIAL_URLS = [
    f"https://admin:{SECRET}@issuer.example.test/jwks.json",
    f"https://{SECRET}@issuer.example.test/jwks.json",  # a user name alone is a credential too
    f"HTTPS://admin:{SECRET}@issuer.example.test/jwks.json",
    f"http://admin:{SECRET}@127.0.0.1:8080/jwks.json",  # loopback: allowed scheme, still refused
    f"http://admin:{SECRET}@issuer.example.test/jwks.json",  # plain http off loopback
    f"https://admin:{SECRET}@[::1/jwks.json",  # not even a valid URL
    f"admin:{SECRET}@issuer.example.test/jwks.json",  # no scheme
    f"//admin:{SECRET}@issuer.example.test/jwks.json",
    f"https:admin:{SECRET}@issuer.example.test/jwks.json",  # no slashes
    f"https:\\\\admin:{SECRET}@issuer.example.test/jwks.json",  # backslashes
    f"https://admin:{SECRET}/x@issuer.example.test/jwks.json",  # a raw "/" in the password
    f"https://admin:{SECRET}@evil@issuer.example.test/jwks.json",  # two "@"
    f"ftp://admin:{SECRET}@issuer.example.test/jwks.json",
    f"https://admin:{SECRET}@:99999/jwks.json",  # no host, bad port
    f"https://admin:{SECRET}@issuer.example.test:notaport/jwks.json",
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_credentials_in_the_jwks_url_are_refused_and_never_shown(url: str) -> None:
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), JWKSPATH=url))
    assert error.variable == "JWKSPATH"
    assert SECRET not in str(error)
    assert "admin" not in str(error)
    problem, fix = str(error).split(" Fix: ")
    assert problem.endswith("carries credentials (user:password@).")
    assert fix == "a JWKS is public: remove the credentials and use the issuer's https JWKS URL"


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_redact_url_hides_every_form_of_credentials(url: str) -> None:
    shown = settings.redact_url(url)
    assert settings.has_credentials(url)
    assert SECRET not in shown and "admin" not in shown
    assert "***@" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://issuer.example.test/jwks.json", "https://issuer.example.test/jwks.json"),
        ("https://issuer.example.test/jwks.json?tenant=a@b", "https://issuer.example.test/jwks.json?tenant=a@b"),
        ("https://u:p@issuer.example.test/jwks.json", "https://***@issuer.example.test/jwks.json"),
        ("u:p@issuer.example.test/x", "***@issuer.example.test/x"),
        ("https://" + "a" * 200, "https://" + "a" * 92),
    ],
)
def test_redact_url_keeps_everything_else(url: str, shown: str) -> None:
    assert settings.redact_url(url) == shown
    assert settings.has_credentials(url) == ("***@" in shown)


def test_an_at_sign_in_the_query_is_not_a_credential() -> None:
    url = "https://issuer.example.test/jwks.json?login=a@b"
    assert load(env(drop=("SIGNATUREKEYPATH",), JWKSPATH=url)).jwks_url == url


@pytest.mark.parametrize("host", ["localhost", "LocalHost", "127.0.0.1", "127.255.0.9", "::1"])
def test_loopback_hosts(host: str) -> None:
    assert settings.is_loopback_host(host)


@pytest.mark.parametrize("host", ["localhost.example.test", "0.0.0.0",  # noqa: S104 (a host name here, nothing binds)
                                  "10.0.0.1", "::", "example.test", ""])
def test_not_loopback_hosts(host: str) -> None:
    assert not settings.is_loopback_host(host)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://10.0.0.1/jwks.json", "JWKSPATH: 'http://10.0.0.1' is not an https URL."),
        ("issuer.example.test/jwks.json", "JWKSPATH: 'issuer.example.test/jwks.json' is not an https URL."),
        ("https://[::1/jwks.json", "JWKSPATH: 'https://[::1/jwks.json' is not a valid URL."),
    ],
)
def test_a_refused_jwks_url_is_shown_short_and_safe(url: str, problem: str) -> None:
    error = configuration_error(env(drop=("SIGNATUREKEYPATH",), JWKSPATH=url))
    shown, fix = str(error).split(" Fix: ")
    assert shown == problem
    assert fix.startswith("use the issuer's https JWKS URL (plain http is allowed only on loopback")
