"""Lambda SnapStart: keys fetched during init are frozen into the snapshot and restored much later.

With ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` (Python 3.12+), :func:`register_after_restore`
registers a hook with AWS's ``snapshot_restore_py`` (part of the Lambda runtime; the
``snapshot-restore-py`` package elsewhere), imported only when it is there: it is never a
requirement. The hook (``jwt_key.after_restore``) treats every cached key set as stale and fetches
fresh keys before the first request after the restore.

The hook is the fast path, not the guarantee: ``jwt_key`` measures key age on the wall clock as
well as the monotonic one (which does not count the time spent in a snapshot), so even without
the hook a restored snapshot never trusts keys older than their lifetime.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"
MODULE = "snapshot_restore_py"

_registered: set[Callable[[], object]] = set()


def is_snap_start(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this init phase runs for a SnapStart snapshot."""
    return environ.get(INITIALIZATION_TYPE, "") == SNAP_START


def register_after_restore(hook: Callable[[], object], environ: Mapping[str, str] = os.environ) -> bool:
    """Register ``hook`` to run after each restore; True when it is registered (now or before).

    Does nothing outside SnapStart or without ``snapshot_restore_py``; any failure is logged, never
    raised (a cold start never fails for it: key age still counts wall-clock time). Registers a
    hook once per process, however often the init code runs.
    """
    if hook in _registered:
        return True
    if not is_snap_start(environ):
        return False
    try:
        module = importlib.import_module(MODULE)
    except ImportError:
        logger.warning("SnapStart without snapshot_restore_py: keys are refreshed by age only",
                       extra={"fields": {"module": MODULE}})
        return False
    try:
        module.register_after_restore(_guarded(hook))
    except Exception as error:  # an unexpected runtime: refresh by age only
        logger.warning("cannot register the SnapStart after-restore hook: keys are refreshed by age only",
                       extra={"fields": {"errorType": type(error).__name__}})
        return False
    _registered.add(hook)
    return True


def _guarded(hook: Callable[[], object]) -> Callable[[], None]:
    """``hook``, with any exception logged and swallowed: a failed restore hook fails the restore."""

    def after_restore() -> None:
        try:
            hook()
        except Exception as error:
            logger.error("SnapStart after-restore refresh failed: keys are refreshed by age only",
                         extra={"fields": {"errorType": type(error).__name__}})
        else:
            logger.info("SnapStart restore: signing keys refreshed")

    return after_restore


def forget_registrations() -> None:
    """For tests: as in a fresh process, nothing registered."""
    _registered.clear()
