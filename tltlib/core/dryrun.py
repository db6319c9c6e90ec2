"""The dry-run contract: how a caller asks every trainer to check its arguments and stop.

``python -m tltlib sweep`` validates each grid point before any real run by executing the
chapter's cells with ``$TLTLIB_DRY_RUN`` set. Every trainer of the library validates its
arguments first and then calls :func:`checkpoint` (the shared training loop,
:func:`tltlib.core.loop.run_loop`, does so for the trainers built on it), which raises
:class:`DryRunStop` in a dry run. So a value that a chapter or a trainer rejects shows as a
``ValueError`` and a valid one costs no training, whichever trainer the chapter calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: set to ``1`` to make every trainer stop after checking its arguments
ENV_VAR = "TLTLIB_DRY_RUN"


class DryRunStop(BaseException):
    """Raised by :func:`checkpoint` in a dry run. A ``BaseException``, so that a chapter's
    ``except Exception`` does not take it for an error of its own."""


def active() -> bool:
    """True inside a dry run (``$TLTLIB_DRY_RUN`` is ``1``)."""
    return os.environ.get(ENV_VAR) == "1"


def checkpoint(trainer: str) -> None:
    """Called by a trainer once its arguments are checked: stops a dry run there."""
    if active():
        raise DryRunStop(f"dry run: {trainer} accepted its arguments")


@contextmanager
def dry_run() -> Iterator[None]:
    """Within the block every trainer stops at its :func:`checkpoint`."""
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[ENV_VAR]
        else:
            os.environ[ENV_VAR] = old
