"""The training loop of the book: one skeleton that every gradient-descent trainer runs.

A trainer validates its arguments, builds its state and hands :func:`run_loop` two
functions: ``step(t)``, one gradient step that returns the loss it saw (or ``None`` when it
did not compute one), and ``snapshot()``, the metrics of the current state. The loop records
the snapshots at the marked steps into a :class:`~tltlib.core.history.History`, stops a dry
run before the first step (:mod:`tltlib.core.dryrun`), and raises
:class:`~tltlib.core.errors.DivergenceError`, with the trainer's own message, when a loss is
not finite or exceeds ``limit`` (by default ``1e6 (loss_0 + 1)``, ``loss_0`` the first loss
seen). What a step computes, and how fast, is the trainer's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError
from tltlib.core.history import History, record_steps

#: the default divergence threshold, relative to the first loss: ``1e6 (loss_0 + 1)``
LIMIT_FACTOR = 1e6


def run_loop(
    trainer: str,
    steps: int,
    record: int | Iterable[int],
    step: Callable[..., float | None],
    snapshot: Callable[[], dict[str, float]],
    diverged: Callable[[int, float], str],
    *,
    limit: float | None = None,
    spans: bool = False,
) -> History:
    """``steps`` calls of ``step(0), ..., step(steps - 1)``, with ``snapshot()`` recorded before
    the step of each mark of ``record`` (see :func:`~tltlib.core.history.record_steps`; a mark
    ``steps`` records the final state).

    ``diverged(t, loss)`` gives the message of the :class:`DivergenceError` raised when the
    loss returned at step ``t`` is not below ``limit``. With ``spans=True`` the trainer takes
    the steps between two marks at once (a compiled loop): ``step(t0, t1)`` takes the steps
    ``t0, ..., t1 - 1`` and returns the loss it saw last, which is checked at ``t1 - 1``.
    """
    marks = record_steps(steps, record)
    history = History()
    dryrun.checkpoint(trainer)
    keep = set(marks.tolist())
    if spans:
        stops = sorted((keep | {steps}) - {0})
        pairs = [(t0, t1, t1 - 1) for t0, t1 in zip([0, *stops[:-1]], stops, strict=True)]
    else:
        pairs = ((t, t + 1, t) for t in range(steps))
    if 0 in keep:
        history.append(0, snapshot())
    for t0, t1, last in pairs:
        loss = step(t0, t1) if spans else step(t0)
        if loss is not None:
            if limit is None:
                limit = LIMIT_FACTOR * (loss + 1.0)
            if not loss < limit:  # also catches nan
                raise DivergenceError(diverged(last, loss))
        if t1 in keep:
            history.append(t1, snapshot())
    return history
