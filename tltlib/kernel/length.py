"""Chapter 09b's comparison of attention and recurrence against the lag ``L`` of the AR(L)
task, repeated over seeds, and the memory each model holds.

:func:`lag_sweep` trains the transformer and the IndRNN of :mod:`tltlib.kernel.recurrent` on
the AR(L) windows for every lag and repetition (repetition ``j`` draws its series, split and
initialisations from its own streams, so adding repetitions leaves the earlier ones unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import in_range, positive_int
from tltlib.kernel.model import ShallowTransformer, train_projected_gd
from tltlib.kernel.recurrent import IndRNN, ar_windows, positional_channels

MODELS = ("transformer", "IndRNN")
#: the AR(L) token: the value and its sin/cos position channels
AR_TOKEN_DIM = 1 + positional_channels(1).shape[0]
GRADIENT_BLOCK = {"transformer": "W", "IndRNN": "u"}
Builder = Callable[[int, int, int, str, torch.dtype], object]


def _transformer(d: int, m: int, seed: int, stream: str, dtype: torch.dtype) -> ShallowTransformer:
    return ShallowTransformer.paired(d, m, seed, stream, dtype=dtype)


def _indrnn(d: int, m: int, seed: int, stream: str, dtype: torch.dtype) -> IndRNN:
    return IndRNN(d, m, seed, stream, dtype=dtype)


BUILDERS: dict[str, Builder] = {"transformer": _transformer, "IndRNN": _indrnn}


def check_lags(lags: object) -> list[int]:
    """The lags of the AR(L) sweep: a list of 3 or more distinct integers ``>= 1`` (a slope
    is fitted through them); raises ``ValueError`` naming ``ar_lags`` otherwise."""
    if not isinstance(lags, list | tuple) or len(set(lags)) < 3:
        raise ValueError(f"ar_lags must be a list of 3 or more distinct lags, got {lags!r}")
    return [positive_int("ar_lags entry", L) for L in lags]


def parameter_counts(m: int, d: int = AR_TOKEN_DIM) -> dict[str, int]:
    """Trained parameters of each model at width ``m`` on ``d``-dimensional tokens."""
    return {name: BUILDERS[name](d, m, 0, "count", torch.float64).n_parameters() for name in MODELS}


def lag_sweep(
    lags: list[int],
    n: int,
    m: int,
    steps: int,
    lr: float,
    seeds: int,
    seed: int,
    grad_block: int = 50,
    val_frac: float = 0.2,
    dtype: torch.dtype = torch.float32,
    builders: Mapping[str, Builder] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Both models on AR(L) windows, same width ``m``, steps and step size ``lr``, no
    projection (the paper's comparison), for every lag (rows) and repetition (columns).

    Returns ``{model: {"min_train", "min_val", "max_grad"}}``: the minimum training and
    validation MSE over the run and the paper's gradient measure (the largest norm of the
    ``W`` block, transformer, or ``u`` block, IndRNN, within each block of ``grad_block``
    steps, averaged over the blocks); plus ``"L"``. ``builders`` replaces the models'
    constructors ``(d, m, seed, stream, dtype) -> model`` (the tests build broken ones).
    """
    builders = {**BUILDERS, **(builders or {})}
    val_frac = in_range("val_frac", val_frac, 0.05, 0.5)
    shape = (len(lags), positive_int("seeds", seeds))
    grad_block = positive_int("grad_block", grad_block)
    out = {k: {q: np.empty(shape) for q in ("min_train", "min_val", "max_grad")} for k in MODELS}
    for i, L in enumerate(lags):
        for j in range(seeds):
            X, y = ar_windows(n, L, seed, f"ar-{j}")
            X, y = X.to(dtype), y.to(dtype)
            perm = torch.randperm(n, generator=generator(seed, f"ar-split-L{L}-{j}"))
            n_val = int(val_frac * n)
            val, tr = perm[:n_val], perm[n_val:]
            d = X.shape[1]
            for name in MODELS:
                model = builders[name](d, m, seed, f"ar-{name}-L{L}-{j}", dtype)
                run = train_projected_gd(model, X[tr], y[tr], steps, lr, None, X[val], y[val])
                row = out[name]
                row["min_train"][i, j] = run.min_train
                row["min_val"][i, j] = run.min_val
                row["max_grad"][i, j] = run.block_max(GRADIENT_BLOCK[name], grad_block).mean()
    out["L"] = np.asarray(lags)
    return out
