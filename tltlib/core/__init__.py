"""The ground floor: what every other room uses and nothing of the book's mathematics.

``validate`` (argument checks), ``seeding`` (named random streams), ``fits`` (log-log slopes
with their standard errors), ``checks`` (:class:`CheckLog`, the records of a chapter's
**Check** section), ``history`` (:class:`History`, :class:`Run`, :func:`log_steps`),
``loop`` (the one training loop), ``dryrun`` (the contract that stops every trainer in a dry
run), ``errors`` (:class:`DivergenceError`, :class:`StepSizeWarning`), ``paths`` (where the book
is), ``fingerprint`` (hashes of code cells and of the library; the commit), ``stored`` (the
cached, stamped tables of long sweeps in ``chapters/data``), ``display`` (a Markdown table a
notebook renders) and ``extras`` (:func:`~tltlib.core.extras.require`: an optional package, or an
:class:`ImportError` naming the extra that installs it). ``core`` imports nothing else of ``tltlib``.
"""

from . import (
    checks,
    display,
    dryrun,
    errors,
    extras,
    fingerprint,
    fits,
    history,
    loop,
    paths,
    seeding,
    stored,
    validate,
)
from .checks import CheckLog
from .errors import DivergenceError, StepSizeWarning
from .history import History, Run

__all__ = [
    "CheckLog",
    "DivergenceError",
    "History",
    "Run",
    "StepSizeWarning",
    "checks",
    "display",
    "dryrun",
    "errors",
    "extras",
    "fingerprint",
    "fits",
    "history",
    "loop",
    "paths",
    "seeding",
    "stored",
    "validate",
]
