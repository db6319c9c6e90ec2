"""Measured checks of the claims of Nguyen & Nguyen-Tang (arXiv 2505.15009, v1).

Each function measures something on a :class:`~tltlib.recall.model.RecallRun` (trained with
:mod:`tltlib.recall.model`) and records it in a :class:`~tltlib.core.checks.CheckLog` against what
the closed forms of :mod:`tltlib.recall.task` predict. Tolerances come from
:func:`~tltlib.recall.task.shift_tolerance` (the ReLU shift), the batch size (fresh batches)
and the curvature of the closed form; chapter 10 explains each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import SlopeFit
from tltlib.recall import variants as _variants
from tltlib.recall.model import REPARAM_MODELS, RecallRun, model_names, sequence_losses
from tltlib.recall.task import (
    bayes_risk,
    f_input_loss_floor,
    kl_bernoulli,
    reparam_loss,
    reparam_noise_probability,
    reparam_schedule,
    shift_tolerance,
    softmax_loss_floor,
)

EXCESS_WINDOW = (1e-7, 1e-2)
"""Excess losses inside which the rate is fitted: below ``1e-2`` the closed form's local slope
is within 0.5% of its limit; above ``1e-7`` float64 rounding of a loss of order one (1e-16)
stays far below the excess."""


def rounding_tolerance(logit_scale: float) -> float:
    """Float64 rounding of a mean cross-entropy whose logits are of size ``logit_scale``:
    ``log-softmax`` loses about ``eps (1 + |logit|)`` absolute; we allow 16 times that."""
    return 16 * np.finfo(np.float64).eps * (1 + abs(logit_scale))


SEVERAL_NATS = 2.0
"""What "fails by several nats" means in the unseen-output check: ``-log p(y)`` at least 2 nats
higher, i.e. at least ``e^2 ~ 7`` times less probability on the in-context output."""


def _strengths(run: RecallRun) -> np.ndarray:
    """(steps, triggers) array of the recorded strengths of a reparameterised run."""
    h = run.history
    keys = sorted((k for k in h.values if k.startswith("strength/")), key=lambda k: int(k[9:]))
    if not keys:
        raise ValueError(f"{run.model.name} has no trained strengths (not a reparameterised model)")
    return np.stack([h[k] for k in keys], axis=1)


def excess(run: RecallRun, set_name: str = "pop") -> np.ndarray:
    """Recorded loss on the evaluation set ``set_name`` minus the Bayes risk."""
    return run.history[f"{set_name}/loss"] - bayes_risk(run.model.task)


def closed_form_excess(run: RecallRun) -> np.ndarray:
    """The closed-form excess at each recorded step, at the recorded strengths, averaged over
    the triggers of the sequences on which the loss was measured (``run.evals["pop"]``)."""
    task, m, batch = run.model.task, run.model, run.evals["pop"]
    lam = _strengths(run)[:, batch.triggers.numpy()]  # (steps, n)
    loss = reparam_loss(task, lam, m.attention, alpha_model=_alpha_model(run))
    return loss.mean(axis=1) - bayes_risk(task)


def _alpha_model(run: RecallRun) -> float | None:
    g = run.model.gamma
    return None if g is None else 1 / (1 + math.exp(-g))


def closed_form(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Largest relative gap between the measured and the closed-form excess loss, over the
    recorded steps where the closed form lies in :data:`EXCESS_WINDOW` or above."""
    cf, measured = closed_form_excess(run), excess(run)
    keep = cf >= EXCESS_WINDOW[0]
    gap = float(np.max(np.abs(measured[keep] / cf[keep] - 1))) if keep.any() else math.nan
    return log.close_to(
        f"{prefix}closed_form",
        f"{run.model.name}: loss = the closed form at the trained strengths",
        gap,
        0.0,
        shift_tolerance(run.model.task),
        steps_compared=int(keep.sum()),
        **run.settings,
    )


def resolved_steps(run: RecallRun) -> np.ndarray:
    """Recorded steps up to the last one whose excess loss is at least ``EXCESS_WINDOW[0]``.

    Below that the gradient of the strengths (``-sum`` of the small probabilities) sinks into
    the float64 rounding of ``softmax - one_hot``; at about ``1e-16`` it is exactly zero or has
    a random sign, and training stops (``Lambda ~ 39``; ``~ 19`` in float32, the code's
    precision). Nothing about the rate can be measured beyond this point.
    """
    t, e = run.history["step"], excess(run)
    ok = np.nonzero(e >= EXCESS_WINDOW[0])[0]
    return t[: ok[-1] + 1] if len(ok) else t[:1]


def strength_schedule(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Mean strength against ``eta t / sqrt(Q)`` (noiseless) or ``eta t`` (noisy), relative, at
    the last of the :func:`resolved_steps`. Fresh batches tilt each step away from the
    symmetric direction, which costs a fraction ``(Q-1)/(2 batch)`` of its length on average;
    we allow twice that. A noisy model has one strength and moves by exactly ``eta`` per step
    (1e-12, rounding)."""
    task, s = run.model.task, run.settings
    resolved = resolved_steps(run)
    t = int(resolved[-1])
    predicted = float(reparam_schedule(task, s["eta"], t))
    tol = 1e-12 if task.noisy else (task.Q - 1) / s["batch"]
    measured = float(_strengths(run)[len(resolved) - 1].mean())
    return log.close_to(
        f"{prefix}strength_schedule",
        f"{run.model.name}: normalised GD gives lambda_t = eta t{'' if task.noisy else '/sqrt(Q)'}",
        measured / predicted if predicted > 0 else math.nan,
        1.0,
        tol,
        at_step=t,
        strength=measured,
        predicted=predicted,
        **s,
    )


def rate_fit(run: RecallRun) -> SlopeFit:
    """Least-squares slope of ``log(excess)`` against ``t`` over :data:`EXCESS_WINDOW`."""
    t, e = run.history["step"], excess(run)
    keep = (e >= EXCESS_WINDOW[0]) & (e <= EXCESS_WINDOW[1])
    if keep.sum() < 3:
        raise ValueError(
            f"{run.model.name}: fewer than 3 recorded steps have an excess loss in "
            f"{EXCESS_WINDOW}; train longer (steps) or with a larger eta"
        )
    x, y = t[keep].astype(float), np.log(e[keep])
    A = np.stack([x, np.ones_like(x)], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ np.array([slope, intercept])
    stderr = float(np.sqrt(resid @ resid / max(len(x) - 2, 1) / ((x - x.mean()) ** 2).sum()))
    return SlopeFit(float(slope), float(intercept), stderr, len(x), float(x.min()), float(x.max()))


def linear_rate(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """The excess loss falls like ``exp(-c t)``: the fitted ``c`` against the closed form's
    ``eta / sqrt(Q)`` (noiseless) or ``eta`` (noisy), relative. Allowed: 1% for the curvature
    of the closed form in the window, plus ``(Q-1)/batch`` for fresh batches (noiseless)."""
    task, s = run.model.task, run.settings
    predicted = -float(reparam_schedule(task, s["eta"], 1))
    try:
        fit = rate_fit(run)
        measured, extra = fit.slope, dict(stderr=fit.stderr, window=[fit.x_min, fit.x_max])
    except ValueError as err:
        measured, extra = math.nan, dict(error=str(err))
    tol = 0.01 + (0.0 if task.noisy else (task.Q - 1) / s["batch"])
    return log.close_to(
        f"{prefix}linear_rate",
        f"{run.model.name}: log excess falls linearly in t at the closed-form rate",
        measured / predicted,
        1.0,
        tol,
        slope=measured,
        predicted_slope=predicted,
        **extra,
        **s,
    )


def reaches_bayes_risk(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Excess loss at the last step, at most the closed form at the slowest schedule that
    :func:`strength_schedule` accepts (plus :func:`shift_tolerance`, relative, and
    :func:`rounding_tolerance`, absolute: the excess can be far below 1e-10)."""
    task, s = run.model.task, run.settings
    T = int(run.history["step"][-1])
    slack = 1e-12 if task.noisy else (task.Q - 1) / s["batch"]
    lam = float(reparam_schedule(task, s["eta"], T)) * (1 - slack)
    bound = float(reparam_loss(task, lam, run.model.attention)) - bayes_risk(task)
    logits = float(_strengths(run)[-1].max()) + abs(run.model.gamma or 0.0)
    return log.at_most(
        f"{prefix}reaches_bayes_risk",
        f"{run.model.name}: excess over the Bayes risk at T, at most the closed form",
        float(excess(run)[-1]),
        bound * (1 + shift_tolerance(task)) + rounding_tolerance(logits),
        closed_form_bound=bound,
        bayes_risk=bayes_risk(task),
        **s,
    )


def noise_probability(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Mean predicted ``p(tau)`` at the last step against ``alpha``; allowed: the closed-form
    gap at the trained ``Lambda`` plus :func:`shift_tolerance`."""
    task = run.model.task
    h = run.history
    Lam = float(_strengths(run)[-1, 0])
    gap = abs(task.alpha - float(reparam_noise_probability(task, Lam)))
    return log.close_to(
        f"{prefix}p_noise",
        f"{run.model.name}: p(tau) -> alpha",
        h.final("pop/p_noise"),
        task.alpha,
        gap + shift_tolerance(task),
        closed_form_gap=gap,
        **run.settings,
    )


def attention_recall(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Fraction of sequences whose largest attention logit is at ``y``, at the last step; the
    claim is: all of them."""
    return log.at_least(
        f"{prefix}attention_argmax_y",
        f"{run.model.name}: attention's largest logit is the in-context output y",
        run.history.final("pop/attn_argmax_output"),
        1.0,
        **run.settings,
    )


def division_of_labour(log: CheckLog, run: RecallRun, prefix: str = "") -> list[Check]:
    """:func:`attention_recall`, and the fraction of sequences whose largest feed-forward logit
    is at ``tau``, at the last step; the claim is: all of them.

    For the reparameterised models both hold *by construction* once ``sigma(Lambda) > 0`` and
    ``gamma + sigma(Lambda) > 0``: their attention logits are ``sigma(Lambda) e_y`` and their
    feed-forward logits ``(gamma + sigma(Lambda)) e_tau``. The split is learned only where
    ``W`` (Reparam-W) or ``W, V, F`` (Origin) are trained."""
    return [
        attention_recall(log, run, prefix),
        log.at_least(
            f"{prefix}ff_argmax_tau",
            f"{run.model.name}: the feed-forward part's largest logit is the noise token tau",
            run.history.final("pop/ff_argmax_noise"),
            1.0,
            **run.settings,
        ),
    ]


def unseen_gap(run: RecallRun, metric: str = "loss") -> float:
    """``metric`` (``loss``, or ``nll_output``: ``-log p(y)``) on unseen outputs minus the same
    on training outputs (same sequences), at the end."""
    h = run.history
    return h.final(f"unseen/{metric}") - h.final(f"pop/{metric}")


UNSEEN_STANDARD_ERRORS = 4.0
"""How many standard errors of the paired mean the unseen-output gap may deviate from zero:
a false failure has probability ``6e-5`` per check (normal approximation)."""


def paired_unseen_gap(run: RecallRun) -> tuple[float, float]:
    """Mean and standard error, over the evaluation sequences, of the unseen-output loss minus
    the in-distribution loss of the same sequence, for the final model."""
    pop, unseen = run.evals["pop"], run.evals["unseen"]
    d = (sequence_losses(run.model, unseen) - sequence_losses(run.model, pop)).double()
    return float(d.mean()), float(d.std() / math.sqrt(len(d)))


def unseen_matches(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Unseen-output loss minus in-distribution loss, on paired sequences: zero for a
    reparameterised model. Relabelling the outputs is a symmetry of its distribution, so the
    mean gap is zero; with linear or ReLU attention it is zero on every sequence (up to
    :func:`shift_tolerance`, nats), with softmax only in expectation, so we also allow
    :data:`UNSEEN_STANDARD_ERRORS` standard errors of the paired mean."""
    mean, se = paired_unseen_gap(run)
    return log.close_to(
        f"{prefix}unseen_equals_population",
        f"{run.model.name}: unseen-output loss = in-distribution loss",
        mean,
        0.0,
        shift_tolerance(run.model.task) + UNSEEN_STANDARD_ERRORS * se,
        stderr=se,
        pop_loss=run.history.final("pop/loss"),
        **run.settings,
    )


def unseen_fails(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """``-log p(y)`` on unseen outputs minus the same on training outputs, at least
    :data:`SEVERAL_NATS`. (With noise only a fraction ``1 - alpha`` of the labels is ``y``,
    so the gap of the loss itself is ``1 - alpha`` times smaller; it is recorded too.)"""
    return log.at_least(
        f"{prefix}unseen_fails",
        f"{run.model.name}: -log p(y) is several nats higher on unseen outputs",
        unseen_gap(run, "nll_output"),
        SEVERAL_NATS,
        loss_gap=unseen_gap(run),
        pop_nll_output=run.history.final("pop/nll_output"),
        **run.settings,
    )


def softmax_not_optimal(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Final loss of a softmax model with ``V = I`` against
    :func:`~tltlib.recall.task.softmax_loss_floor`, which lies above the Bayes risk (less
    :func:`rounding_tolerance`: the trained loss approaches the noiseless floor from above)."""
    task = run.model.task
    floor = softmax_loss_floor(task)
    return log.at_least(
        f"{prefix}softmax_not_bayes_optimal",
        f"{run.model.name}: loss stays above log(1+(N-1)/e)-type floor > Bayes risk",
        run.history.final("pop/loss"),
        floor - rounding_tolerance(1.0),
        floor=floor,
        bayes_risk=bayes_risk(task),
        floor_minus_bayes=floor - bayes_risk(task),
        **run.settings,
    )


def f_input_not_optimal(log: CheckLog, run: RecallRun, prefix: str = "") -> Check:
    """Final loss of a noisy reparameterised linear or ReLU model whose feed-forward part sees
    the query only (``F``), against :func:`~tltlib.recall.task.f_input_loss_floor`, which lies
    above the Bayes risk; allowed below it: :func:`shift_tolerance` (nats, the ReLU shift) and
    :func:`rounding_tolerance`."""
    task = run.model.task
    floor = f_input_loss_floor(task, run.model.gamma)
    return log.at_least(
        f"{prefix}f_input_not_bayes_optimal",
        f"{run.model.name}: loss stays above the floor of the F input > Bayes risk",
        run.history.final("pop/loss"),
        floor - shift_tolerance(task) - rounding_tolerance(1.0),
        floor=floor,
        bayes_risk=bayes_risk(task),
        floor_minus_bayes=floor - bayes_risk(task),
        **run.settings,
    )


def finite_sample_excess(
    log: CheckLog, run: RecallRun, alpha_hat: float, prefix: str = ""
) -> Check:
    """Population excess of a reparameterised model trained on a finite sample, against
    ``KL(alpha || alpha_hat)`` plus the closed-form tail at the trained ``Lambda``; allowed:
    :func:`shift_tolerance` (nats)."""
    task = run.model.task
    Lam = float(_strengths(run)[-1, 0])
    kl = kl_bernoulli(task.alpha, alpha_hat)
    predicted = float(reparam_loss(task, Lam, run.model.attention, alpha_model=alpha_hat))
    predicted -= bayes_risk(task)
    tol = shift_tolerance(task)
    return log.close_to(
        f"{prefix}finite_sample_kl",
        f"{run.model.name}: excess over the Bayes risk = KL(alpha || alpha_hat)",
        float(excess(run)[-1]),
        predicted,
        tol,
        kl=kl,
        tail=predicted - kl,
        kl_over_tolerance=kl / tol,
        **run.settings,
    )


def reparam_checks(log: CheckLog, run: RecallRun, prefix: str = "") -> list[Check]:
    """All the checks of a reparameterised linear or ReLU run: closed form, schedule, linear
    rate, Bayes risk reached, unseen outputs; with noise also ``p(tau)`` and the split."""
    checks = [
        closed_form(log, run, prefix),
        strength_schedule(log, run, prefix),
        linear_rate(log, run, prefix),
        reaches_bayes_risk(log, run, prefix),
        unseen_matches(log, run, prefix),
    ]
    if run.model.task.noisy:
        checks.append(noise_probability(log, run, prefix))
        checks.extend(division_of_labour(log, run, prefix))
    return checks


ORIGIN_MODELS = ("Origin-Linear-FA", "Origin-Softmax-F")
"""The models trained from scratch in the paper's Figure 1 (checked to fail on unseen outputs)."""


def population_checks(
    log: CheckLog, runs: Mapping[float, Mapping[str, RecallRun]], alpha: float
) -> list[Check]:
    """The checks of the population runs ``runs`` (noise level -> model name -> run): the
    Figure 1 models at the levels 0 and ``alpha``, the reparameterised ones at every level.

    In this order: :func:`reparam_checks` of both reparameterised models at every level; at 0
    and ``alpha``, :func:`unseen_fails` of the :data:`ORIGIN_MODELS` and
    :func:`softmax_not_optimal` of Reparam-Softmax-FA; :func:`division_of_labour` of
    Reparam-Linear-W-FA at ``alpha``. Names are prefixed ``alpha={level}/{model}/``."""
    checks = []
    for a, by_name in runs.items():
        task = next(iter(by_name.values())).model.task
        for name in model_names(task, REPARAM_MODELS):
            checks += reparam_checks(log, by_name[name], prefix=f"alpha={a:g}/{name}/")
    for a in (0.0, alpha):
        for name in ORIGIN_MODELS:
            checks.append(unseen_fails(log, runs[a][name], prefix=f"alpha={a:g}/{name}/"))
        name = "Reparam-Softmax-FA"
        checks.append(softmax_not_optimal(log, runs[a][name], prefix=f"alpha={a:g}/{name}/"))
    checks += division_of_labour(
        log, runs[alpha]["Reparam-Linear-W-FA"], prefix=f"alpha={alpha:g}/Reparam-Linear-W-FA/"
    )
    return checks


def finite_sample_checks(
    log: CheckLog, runs: Mapping[float, tuple[RecallRun, float]]
) -> list[Check]:
    """:func:`finite_sample_excess` of each finite-sample run, ``runs`` mapping the noise level
    to ``(run, alpha_hat)``; names are prefixed ``finite/alpha={level}/``."""
    return [
        finite_sample_excess(log, run, alpha_hat, prefix=f"finite/alpha={a:g}/")
        for a, (run, alpha_hat) in runs.items()
    ]


def claim_checks(claim: str, run: RecallRun) -> list[tuple[str, object]]:
    """The checks of one claim of :data:`tltlib.recall.variants.CLAIMS` on ``run``, as
    ``(name suffix, check function)`` pairs (each function takes ``(log, run, prefix)``)."""
    if claim not in _variants.CLAIMS:
        raise ValueError(f"claim must be one of {list(_variants.CLAIMS)}, got {claim!r}")
    if claim == "bayes_risk":
        return [("reaches_bayes_risk", reaches_bayes_risk), ("linear_rate", linear_rate)]
    if claim == "not_bayes_optimal":
        if run.model.attention == "softmax":
            return [("softmax_not_bayes_optimal", softmax_not_optimal)]
        return [("f_input_not_bayes_optimal", f_input_not_optimal)]
    if claim == "unseen_equal":
        return [("unseen_equals_population", unseen_matches)]
    if claim == "unseen_fails":
        return [("unseen_fails", unseen_fails)]
    return [("attention_argmax_y", attention_recall)]


def variant_checks(
    log: CheckLog, runs: Mapping[float, Mapping[str, RecallRun]], names, levels
) -> list[Check]:
    """The checks of what the paper claims for each variant of ``names`` at each noise level
    of ``levels`` (:func:`tltlib.recall.variants.claims_of`, checked by :func:`claim_checks`),
    named ``alpha={level}/{variant}/{check}`` as in :func:`population_checks`; a check that
    is already in ``log`` (from :func:`population_checks`) is not repeated."""
    have = {r.name for r in log.records}
    checks = []
    for a in levels:
        for name in _variants.check_names(names):
            run, prefix = runs[a][name], f"alpha={a:g}/{name}/"
            for claim in _variants.claims_of(name, a):
                for suffix, fn in claim_checks(claim, run):
                    if prefix + suffix not in have:
                        checks.append(fn(log, run, prefix))
    return checks
