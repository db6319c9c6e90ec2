"""Chapter 09b's checks of attention against recurrence on the AR(L) task and of the memory
each model holds, into a :class:`tltlib.core.checks.CheckLog`.

The fitted exponents are reported with their 95% intervals over seeds: one log-log slope of
the minimum training loss against the lag per repetition, and the Student-t interval of their
mean (:func:`tltlib.core.fits.mean_interval`). The checks compare the interval with the
theory: the transformer's optimisation error does not grow with the length (its interval is not
above 0), a recurrent network's can grow with it (its interval lies above 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import Interval, mean_interval, seed_slopes, seed_slopes_interval
from tltlib.kernel.claims import SOURCE
from tltlib.kernel.length import MODELS
from tltlib.kernel.memory import per_token


def _interval_extra(interval: Interval, x: Sequence[float], values: np.ndarray) -> dict:
    return dict(
        low=interval.low,
        high=interval.high,
        seeds=interval.n,
        level=interval.level,
        L=[int(v) for v in x],
        mean=np.asarray(values, dtype=float).mean(axis=1).tolist(),
    )


def not_growing(
    log: CheckLog, name: str, claim: str, x: Sequence[float], values: np.ndarray
) -> Check:
    """No detectable growth with ``x``: the lower end of the slope's interval is at most 0 (the
    interval contains 0 or lies below it; a length-free bound allows a falling loss)."""
    interval = seed_slopes_interval(x, values)
    extra = _interval_extra(interval, x, values)
    del extra["low"]
    return log.at_most(name, claim, interval.low, 0.0, estimate=interval.estimate, **extra)


def growing(log: CheckLog, name: str, claim: str, x: Sequence[float], values: np.ndarray) -> Check:
    """Growth with ``x``: the lower end of the slope's interval is at least 0."""
    interval = seed_slopes_interval(x, values)
    extra = _interval_extra(interval, x, values)
    del extra["low"]
    return log.at_least(name, claim, interval.low, 0.0, estimate=interval.estimate, **extra)


def lag_slopes(sweep: Mapping[str, Mapping[str, np.ndarray]], key: str = "min_train") -> dict:
    """The 95% intervals of the exponent of ``key`` against ``L`` over the seeds: one per model
    and the paired difference IndRNN minus transformer (same seed, same series)."""
    L = sweep["L"]
    tf = seed_slopes(L, sweep["transformer"][key])
    rnn = seed_slopes(L, sweep["IndRNN"][key])
    return {
        "transformer": mean_interval(tf),
        "IndRNN": mean_interval(rnn),
        "difference": mean_interval(rnn - tf),
    }


def lag_checks(log: CheckLog, sweep: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """On :func:`tltlib.kernel.length.lag_sweep` (lags x seeds), the exponent ``a`` of the
    minimum training loss ``~ L^a`` fitted per seed, with its 95% interval over the seeds: the
    transformer's shows no growth (lower end <= 0) and the IndRNN's lies above 0."""
    L = sweep["L"]
    not_growing(
        log,
        "transformer_loss_L_slope",
        f"{SOURCE}: transformer's min training loss ~ L^a: 95% interval (over seeds) not above 0",
        L,
        sweep["transformer"]["min_train"],
    )
    growing(
        log,
        "indrnn_loss_L_slope",
        f"{SOURCE}: IndRNN's min training loss ~ L^a: 95% interval (over seeds) above 0",
        L,
        sweep["IndRNN"]["min_train"],
    )


def table_sweep(row: Mapping[str, Sequence], lags: Sequence[int]) -> dict:
    """One seed of the stored table of :mod:`tltlib.kernel.lag_grid` as the ``sweep`` that
    :func:`lag_slopes` and :func:`lag_checks` read."""
    return {"L": np.asarray(lags), **{k: {"min_train": np.asarray(row[k])} for k in MODELS}}


def stored_slopes(table: Mapping) -> dict[int, dict]:
    """:func:`lag_slopes` of every chapter seed of the stored larger comparison
    (:func:`tltlib.kernel.figures.load_lags`): seed -> model (and ``"difference"``) -> interval."""
    lags = table["settings"]["lags"]
    return {int(row["seed"]): lag_slopes(table_sweep(row, lags)) for row in table["rows"]}


def stored_lag_checks(log: CheckLog, table: Mapping) -> None:
    """On the stored larger comparison, for every chapter seed: the IndRNN's exponent ``a`` of
    the minimum training loss ``~ L^a`` has its 95% interval above 0, and so has the paired
    difference IndRNN minus transformer (same series)."""
    lags = [int(v) for v in table["settings"]["lags"]]
    for seed, slopes in stored_slopes(table).items():
        for key, claim in (
            ("IndRNN", "IndRNN's min training loss ~ L^a: 95% interval above 0"),
            ("difference", "IndRNN's exponent minus the transformer's: 95% interval above 0"),
        ):
            interval = slopes[key]
            log.at_least(
                f"stored/seed={seed}/{key}_L_slope",
                f"{SOURCE}, larger size: {claim}",
                interval.low,
                0.0,
                estimate=interval.estimate,
                high=interval.high,
                seeds=interval.n,
                L=lags,
            )


def memory_checks(log: CheckLog, memory: Mapping[str, np.ndarray], tolerance: float = 1e-6) -> None:
    """On :func:`tltlib.kernel.memory.memory_by_length`: the streamed networks give the batch
    forward's value; the floats held at inference grow by ``d + m`` per token for the
    transformer (every token kept, then scored by every head) and by 0 for the IndRNN (its
    state). The counts are exact; ``tolerance`` covers the rounding of the line fit."""
    T = memory["T"]
    d, m = int(memory["d"]), int(memory["m"])
    log.at_most(
        "memory_stream_is_the_model",
        "the streamed networks give the batch forward's f (largest gap)",
        float(memory["gap"]),
        1e-10,
    )
    for key, model, expected in (
        ("tf_inference", "transformer", d + m),
        ("rnn_inference", "IndRNN", 0),
    ):
        slope, residual = per_token(T, memory[key])
        log.close_to(
            f"memory_{key}_per_token",
            f"{SOURCE}: {model}'s inference memory grows by {expected} floats per token",
            slope,
            float(expected),
            tolerance,
            affine_residual=residual,
            T=[int(t) for t in T],
            floats=memory[key].tolist(),
        )
