"""How high ``C1 = ||W_V||_F / ||V*||_F`` overshoots in exact gradient descent (identity).

By Lemma D.2, ``S`` takes the value ``p`` on the support of ``S*`` and ``p e`` off it, with
``p = 1/(K + (D-K) e)``. For such an ``S`` the value block's optimum is
``W_V = V* <S, S*>/||S||_F^2``, that is

    C1*(e) = (K + (D-K) e) / (K + (D-K) e^2),

which is 1 at uniform attention (``e = 1``) and at convergence (``e -> 0``) and larger in
between. The value block relaxes much faster than the attention moves, so ``C1(t)`` follows
``C1*(e(t))`` as ``e`` falls from 1 to 0, and its peak is the maximum of ``C1*``, reached at
``e = (sqrt(K D) - K)/(D - K)``:

    max_t C1(t) ~ (1 + sqrt(D/K)) / 2,

the golden ratio for ``D/K = 5``. Small ``K/D`` (few relevant tokens) means a large overshoot.
"""

from __future__ import annotations

import math

from tltlib.core.checks import Check, CheckLog
from tltlib.core.history import Run
from tltlib.core.validate import positive_int


def c1_peak(D: int, K: int) -> float:
    """``(1 + sqrt(D/K)) / 2``: the maximum over the attention of the best value scale ``C1*``."""
    D, K = positive_int("D", D, minimum=2), positive_int("K", K)
    if K >= D:
        raise ValueError(f"K must be smaller than D, got K={K} with D={D}")
    return (1.0 + math.sqrt(D / K)) / 2.0


def overshoot_peak(
    log: CheckLog, run: Run, tolerance: float = 0.03, name: str = "C1_peak"
) -> Check:
    """``max_t C1(t)`` against :func:`c1_peak` (ratio 1 within ``tolerance``, for an exact run
    of an identity teacher, which records ``norm_ratio``)."""
    peak = float(run.history["norm_ratio"].max())
    predicted = c1_peak(run.teacher.D, run.teacher.K)
    return log.close_to(
        name,
        "Lemma D.2: C1 follows its optimum, so max_t C1 = (1 + √(D/K))/2 (measured / predicted)",
        peak / predicted,
        1.0,
        tolerance,
        peak=peak,
        predicted=predicted,
    )
