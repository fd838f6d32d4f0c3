"""The Lambda's configuration for one notebook: start clean, set the notebook's variables, restore the learner's.

A learner's kernel may already hold Lambda variables (a ``.env`` copied from ``.env.example``, an earlier
notebook, a shell that exported ``SIGNATUREKEYPATH``). A notebook that only *adds* its own variables then runs
with a mixture, and answers ``configuration_error`` where the text promises 200. So each notebook's setup cell
calls :func:`start` with exactly the variables it needs, and its cleanup cell calls :func:`restore`::

    from workbook import environment
    environment.start({"REQUIRE": "treasure:read", "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "JWKSPATH": url})
    ...
    environment.restore()   # the learner's own values are back, the notebook's are gone

Running the setup cell again keeps the first snapshot: the values saved are the learner's, never the notebook's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from lambdaone import settings


def variables() -> tuple[str, ...]:
    """Every variable the Lambda reads (read each time: the Lambda's list may grow)."""
    return tuple(settings.VARIABLES)


class LambdaEnvironment:
    """Saves the Lambda's variables once, clears them, sets a notebook's values; :meth:`restore` puts them back."""

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._saved: dict[str, str | None] | None = None

    @property
    def active(self) -> bool:
        """True between :meth:`start` and :meth:`restore`."""
        return self._saved is not None

    def start(self, values: Mapping[str, str] | None = None) -> None:
        """Remember the current values (only the first time), clear every Lambda variable, then set ``values``."""
        unknown = sorted(set(values or {}) - set(variables()))
        if unknown:
            raise KeyError(f"not a variable the Lambda reads: {', '.join(unknown)}")
        if self._saved is None:
            self._saved = {name: self._environ.get(name) for name in variables()}
        for name in variables():
            self._environ.pop(name, None)
        self._environ.update({name: str(value) for name, value in (values or {}).items()})

    def restore(self) -> None:
        """Put back the values saved by the first :meth:`start`; names that were unset are unset again."""
        if self._saved is None:
            return
        for name in variables():
            self._environ.pop(name, None)
        self._environ.update({name: value for name, value in self._saved.items() if value is not None})
        self._saved = None

    @contextmanager
    def using(self, values: Mapping[str, str] | None = None) -> Iterator[None]:
        """:meth:`start` for the block, :meth:`restore` after it, even when the block raises."""
        self.start(values)
        try:
            yield
        finally:
            self.restore()


#: The kernel's one handle: the notebooks' setup and cleanup cells use it through the functions below.
_KERNEL = LambdaEnvironment()


def start(values: Mapping[str, str] | None = None) -> None:
    """This notebook's configuration, and nothing else: see :meth:`LambdaEnvironment.start`."""
    _KERNEL.start(values)


def restore() -> None:
    """The learner's configuration again: see :meth:`LambdaEnvironment.restore`."""
    _KERNEL.restore()


#: What a learner's kernel may hold before a notebook starts: both key sources at once, and values that no
#: configuration accepts. Every notebook must run the same with these set (``solutions/conftest.py`` starts the
#: kernels of the solution notebooks' nbval run with them), which it does only when it starts clean.
HOSTILE = {
    "REQUIRE": "admin:everything",
    "AUDIENCE": "https://hostile.example.test/",
    "ISSUER": "https://hostile.example.test/",
    "JWKSPATH": "https://hostile.example.test/.well-known/jwks.json",
    "SIGNATUREKEYPATH": "/nonexistent/hostile-public.pem",
    "ALGORITHMS": "HS256,none",
    "LEEWAY": "forever",
    "JWKS_CACHE_SECONDS": "-1",
    "JWKS_COOLDOWN_SECONDS": "soon",
    "JWKS_STALE_SECONDS": "nan",
    "JWKS_TIMEOUT_SECONDS": "0",
    "TOKEN_CACHE_SIZE": "all of them",
    "AWS_LAMBDA_LOG_LEVEL": "LOUD",
    "LOG_LEVEL": "garbage",
}
