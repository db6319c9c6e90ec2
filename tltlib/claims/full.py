"""Figure 1's claim: of the full transformer's blocks, only those the position-only student
keeps move (:mod:`tltlib.model.full`, trained by :mod:`tltlib.train.full`)."""

from __future__ import annotations

from tltlib.core.checks import Check, CheckLog
from tltlib.model.full import block_changes, effective_scores, movement_ratios
from tltlib.model.metrics import cosine, support_fraction
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


def learned_teacher_check(
    log: CheckLog, run: FullRun, min_cosine: float = 0.99, prefix: str = ""
) -> tuple[Check, Check]:
    """What the kept blocks learned: the feature block of ``W~_V`` aligns with ``V*``
    (cosine at least ``min_cosine``), and in every column of the position-position block's
    attention alone (:func:`~tltlib.model.full.effective_scores`) the ``K`` largest entries are
    the support of ``S*``."""
    teacher = run.teacher
    features = run.model.value_blocks()["features"]
    a = log.at_least(
        f"{prefix}value_alignment",
        "Figure 1(a): the feature block of W~_V learned V* (cosine)",
        cosine(features, teacher.V_star.to(features.dtype)),
        min_cosine,
    )
    b = log.at_least(
        f"{prefix}support_topK",
        "Figure 1(b): the position-position block attends to the support of S* (top-K rows)",
        support_fraction(effective_scores(run.model), teacher.support),
        1.0,
    )
    return a, b
