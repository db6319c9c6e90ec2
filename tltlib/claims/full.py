"""Figure 1's claim: of the full transformer's blocks, only those the position-only student
keeps move (:mod:`tltlib.model.full`, trained by :mod:`tltlib.train.full`)."""

from __future__ import annotations

from tltlib.core.checks import Check, CheckLog
from tltlib.model.full import block_changes, movement_ratios
from tltlib.train.full import FullRun


def position_only_check(
    log: CheckLog, run: FullRun, max_ratio: float, prefix: str = ""
) -> tuple[Check, Check]:
    """Figure 1: the dropped blocks moved by at most ``max_ratio`` of the kept ones, for ``W~_V``
    and for ``W~_KQ`` (:func:`movement_ratios`)."""
    r = movement_ratios(run.model, run.init)
    c = block_changes(run.model, run.init)
    a = log.at_most(
        f"{prefix}value_block_ratio",
        "Figure 1(a): only the left M×d block of W~_V moves (position / feature block change)",
        r["value"],
        max_ratio,
        **{k: v for k, v in c.items() if k.startswith("V:")},
    )
    b = log.at_most(
        f"{prefix}kq_block_ratio",
        "Figure 1(b): only the position-position block of W~_KQ moves (largest other / it)",
        r["kq"],
        max_ratio,
        **{k: v for k, v in c.items() if k.startswith("KQ:")},
    )
    return a, b
