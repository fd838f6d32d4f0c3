"""Checks for notebook 06 (mocking PyJWKClient): a context manager that patches every reference and restores them."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import jwt
import jwt.jwks_client

from workbook.checking import Case, check, shown
from workbook.exercises import jwks_via_attribute, jwks_via_from_import, jwks_via_submodule
from workbook.tokens import KeyPair

# Captured when this module is first imported, before any exercise runs: the class every name must point to again.
REAL_CLIENT: type = jwt.jwks_client.PyJWKClient

STYLES: dict[str, ModuleType] = {
    "jwt.PyJWKClient": jwks_via_attribute,
    "jwt.jwks_client.PyJWKClient": jwks_via_submodule,
    "from jwt import PyJWKClient": jwks_via_from_import,
}

# Never fetched: the fake answers inside the block, and the real client is stopped before it reaches the network.
JWKS_URL = "https://issuer.example.test/.well-known/jwks.json"


class RealClientUsed(Exception):  # noqa: N818 (an outcome the check reports, not an error of its own)
    """Raised instead of a network request when the real PyJWKClient tries to fetch the JWKS."""


class Boom(Exception):  # noqa: N818
    """Raised inside the block to see whether the context manager restores and re-raises."""


def fake_client_class(issuer: KeyPair) -> type:
    """A PyJWKClient stand-in that hands out the issuer's key and records the URL of every instance."""

    class FakeClient:
        uris: list[str] = []

        def __init__(self, uri: str, *args: Any, **kwargs: Any) -> None:
            FakeClient.uris.append(uri)

        def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
            return jwt.PyJWK(issuer.jwk())

    return FakeClient


@contextlib.contextmanager
def real_client_cannot_fetch() -> Iterator[None]:
    """Make the real class raise instead of fetching (it is patched on the class itself, which no exercise touches)."""

    def refuse(self: Any) -> None:
        raise RealClientUsed("the real PyJWKClient tried to fetch the JWKS")

    with mock.patch.object(REAL_CLIENT, "fetch_data", refuse):
        yield


def who_serves(module: ModuleType, token: str, fake: type) -> str:
    """Which client ``module.verify`` used: the fake, the real one, or something else."""
    fake.uris.clear()
    try:
        with real_client_cannot_fetch():
            claims = module.verify(token, JWKS_URL)
    except RealClientUsed:
        return "the real PyJWKClient"
    if fake.uris == [JWKS_URL] and claims.get("sub"):
        return "the fake"
    return f"something else (fake instances: {len(fake.uris)})"


def bindings(module: ModuleType, fake: type | None = None) -> dict[str, str]:
    """What each name of PyJWKClient points to: 'real', 'the fake', or the repr of whatever replaced it."""
    names = {"jwt.PyJWKClient": jwt.PyJWKClient, "jwt.jwks_client.PyJWKClient": jwt.jwks_client.PyJWKClient}
    if hasattr(module, "PyJWKClient"):
        names[f"{module.__name__.rsplit('.', 1)[1]}.PyJWKClient"] = module.PyJWKClient
    return {name: "real" if value is REAL_CLIENT else "the fake" if value is fake else shown(value)
            for name, value in names.items()}


def restore_everything() -> None:
    """Whatever the exercise did, every name points to the real class again and the modules are reloaded."""
    jwt.PyJWKClient = REAL_CLIENT
    jwt.jwks_client.PyJWKClient = REAL_CLIENT  # type: ignore[attr-defined]
    for module in STYLES.values():
        importlib.reload(module)


def check_patched_pyjwkclient(patched_pyjwkclient: Callable[[ModuleType, type], Any]) -> None:
    """``patched_pyjwkclient(module, fake)``: a context manager; inside, ``module`` uses ``fake``."""
    issuer = KeyPair.generate("RS256", kid="check-06")
    token = issuer.token(scope="treasure:read")
    fake = fake_client_class(issuer)

    def inside(module: ModuleType) -> Callable[[], str]:
        def run() -> str:
            with patched_pyjwkclient(module, fake):
                return who_serves(module, token, fake)
        return run

    def names_after(module: ModuleType) -> Callable[[], dict[str, str]]:
        def run() -> dict[str, str]:
            with patched_pyjwkclient(module, fake):
                pass
            return bindings(module, fake)
        return run

    def served_after(module: ModuleType) -> Callable[[], str]:
        def run() -> str:
            with patched_pyjwkclient(module, fake):
                pass
            return who_serves(module, token, fake)
        return run

    def raises_inside() -> tuple[bool, dict[str, str]]:
        module = jwks_via_from_import
        propagated = False
        try:
            with patched_pyjwkclient(module, fake):
                raise Boom
        except Boom:
            propagated = True
        return propagated, bindings(module, fake)

    restore_everything()  # start from a clean state, whatever earlier cells left behind
    cases: list[Case] = []
    for style, module in STYLES.items():
        expected_names = dict.fromkeys(bindings(module), "real")
        cases += [
            Case(f"{style}: inside the block, verify uses the fake", inside(module), "the fake",
                 hint="patch both jwt.PyJWKClient and jwt.jwks_client.PyJWKClient, then importlib.reload(module) "
                      "while the patches are active"),
            Case(f"{style}: after the block, every name is the real class", names_after(module), expected_names,
                 hint="after the patches are undone, reload the module again so that it copies the real class back"),
            Case(f"{style}: after the block, verify uses the real client", served_after(module),
                 "the real PyJWKClient",
                 hint="the second reload must run after the `with mock.patch(...)` block has ended"),
        ]
    cases.append(Case(
        "an exception in the block propagates and everything is restored (propagated, names)", raises_inside,
        (True, dict.fromkeys(bindings(jwks_via_from_import), "real")),
        hint="put the yield in try: and the restoring reload in finally:; do not catch the exception"))

    try:
        check("patched_pyjwkclient", cases)
    finally:
        restore_everything()
