"""Input-dependent selection (Remark 2.4; Wang et al. 2024) learnt by the full one-layer
transformer of eq. (2.5).

Every sample is a pair ``(X, g)``: Gaussian tokens ``X`` (``d x D``) and its own uniformly random
``K``-subset ``g``; the label averages the tokens of ``g``, copied to every output position
(:func:`tltlib.examples.selection.select_per_sample`). As in Wang et al.'s sparse token
selection the subset is *in the input*: each token carries one more feature, the indicator
``b_i = 1[i in g]``, so the model reads ``[x_i; b_i]``. The full transformer
(:class:`tltlib.model.full.FullTransformer`, ``Z = [X; b; P]``) can select with finite
weights pointing the indicator of the keys against the positions of the queries: the logit of
key ``i'`` is then ``c b_i' / sqrt(D)``, the same for every query, and as ``c`` grows the
attention tends to ``1_g / K``. The position-only student of eq. (2.4) cannot see ``b`` and
stays at the floor of :func:`tltlib.examples.selection.per_sample_floor`.

Along that direction the loss, as a function of the attention, is the fixed-subset loss with
the subset relabelled per sample (the tokens are i.i.d. and independent of ``g``), so the
rate expected is the fixed task's ``1/T``. :func:`train_full_selection` runs online GD by
autograd in float64 on fresh samples without label noise (the task is realisable, so the
gradient noise vanishes at the optimum and does not put a floor under the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tltlib.core.history import Run, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.examples.selection import random_masks, select_per_sample
from tltlib.model.full import FullTransformer
from tltlib.model.student import positional_encoding
from tltlib.model.teachers import DTYPE

#: the features of a token: ``d`` Gaussian entries, then the indicator of the sample's subset
INDICATOR = "indicator"


def with_indicator(X: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``[X; b]``: the tokens ``X`` (``(n, d, D)``) with the membership ``masks`` (``(n, D)``, 0/1)
    as one more feature row, shape ``(n, d + 1, D)``."""
    if X.ndim != 3 or masks.shape != (X.shape[0], X.shape[2]):
        raise ValueError(
            f"X must be (n, d, D) and masks (n, D); got {tuple(X.shape)}, {tuple(masks.shape)}"
        )
    return torch.cat([X, masks.to(X.dtype)[:, None, :]], dim=1)


def initial_model(D: int, d: int, init_scale: float, seed: int) -> FullTransformer:
    """The full transformer on ``d + 1`` features and ``D`` one-hot positions, ``M = d`` outputs,
    with i.i.d. ``N(0, init_scale^2)`` entries (a small random initialisation, as in chapter 07)."""
    D, d = positive_int("sel_D", D, minimum=2), positive_int("sel_d", d)
    scale = positive_float("sel_init_scale", init_scale)
    n = d + 1 + D
    g = generator(seed, "selection_full_init")
    W_V = scale * torch.randn(d, n, generator=g, dtype=DTYPE)
    W_KQ = scale * torch.randn(n, n, generator=g, dtype=DTYPE)
    return FullTransformer(W_V, W_KQ, positional_encoding(D, "identity"), "identity")


def selection_metrics(
    model: FullTransformer, Z: torch.Tensor, masks: torch.Tensor, Y: torch.Tensor
) -> dict[str, float]:
    """On the fixed evaluation samples: ``excess_loss`` (``1/2 mean ||Y - TF~(Z)||_F^2``, the
    task's excess since the labels carry no noise) and ``excess_stderr`` (its standard error
    over the samples), ``subset_mass`` (the attention's mean mass
    on each sample's subset, 1 at the optimum) and ``C1`` (``||W~_V[:, :d]||_F / sqrt(d)``)."""
    with torch.no_grad():
        S = model.scores(Z)
        d = Y.shape[1]
        per = 0.5 * ((Y - model(Z)) ** 2).sum(dim=(-2, -1))
        return {
            "excess_loss": float(per.mean()),
            "excess_stderr": float(per.std() / per.shape[0] ** 0.5),
            "subset_mass": float((S * masks[:, :, None]).sum(dim=1).mean()),
            "C1": float(torch.linalg.norm(model.W_V[:, :d]) / d**0.5),
        }


def train_full_selection(
    D: int,
    K: int,
    d: int,
    eta: float,
    steps: int,
    *,
    batch: int = 32,
    init_scale: float = 0.01,
    seed: int = 0,
    n_eval: int = 500,
    record: int | Sequence[int] = 40,
) -> Run:
    """Online GD by autograd on the per-sample selection task with the subset in the input.

    The run's ``student`` is the trained :class:`~tltlib.model.full.FullTransformer` and its
    ``teacher`` ``None`` (the target changes with every sample). Records
    :func:`selection_metrics` on ``n_eval`` fixed samples at the steps of ``record``.
    """
    D = positive_int("sel_D", D, minimum=3)
    K = positive_int("sel_K", K)
    if not 1 <= K < D:
        raise ValueError(f"sel_K must be an integer in [1, sel_D={D}), got {K}")
    eta = positive_float("sel_eta", eta)
    steps = positive_int("sel_steps", steps)
    batch = positive_int("sel_batch", batch)
    n_eval = positive_int("n_eval", n_eval)
    settings = call_settings("full-selection", locals())
    model = initial_model(D, d, init_scale, seed)
    W_V = model.W_V.clone().requires_grad_(True)
    W_KQ = model.W_KQ.clone().requires_grad_(True)
    g_x, g_s = generator(seed, "selection_inputs"), generator(seed, "selection_subsets")
    g_e = generator(seed, "selection_eval")
    X_eval = torch.randn(n_eval, d, D, generator=g_e, dtype=DTYPE)
    masks_eval = random_masks(n_eval, D, K, g_e)
    Z_eval, Y_eval = with_indicator(X_eval, masks_eval), select_per_sample(X_eval, masks_eval)

    def snapshot() -> dict[str, float]:
        model.W_V, model.W_KQ = W_V.detach().clone(), W_KQ.detach().clone()
        return selection_metrics(model, Z_eval, masks_eval, Y_eval)

    def step(t: int) -> float:
        X = torch.randn(batch, d, D, generator=g_x, dtype=DTYPE)
        masks = random_masks(batch, D, K, g_s)
        model.W_V, model.W_KQ = W_V, W_KQ
        loss = 0.5 * ((select_per_sample(X, masks) - model(with_indicator(X, masks))) ** 2).sum()
        loss = loss / batch
        gV, gK = torch.autograd.grad(loss, (W_V, W_KQ))
        with torch.no_grad():
            W_V.sub_(eta * gV)
            W_KQ.sub_(eta * gK)
        return float(loss.detach())

    def diverged(step: int, loss: float) -> str:
        return f"online GD diverged at step {step} (loss {loss:.3g}) with sel_eta={eta:g}"

    history = run_loop("train_full_selection", steps, record, step, snapshot, diverged)
    model.W_V, model.W_KQ = W_V.detach().clone(), W_KQ.detach().clone()
    return Run(model, history, None, settings)


def selector_weights(model: FullTransformer) -> dict[str, float]:
    """The weights that do the selecting, against the rest of ``W~_KQ``: the mean of the
    indicator-row, position-column block (the constant ``c`` of the module doc), the
    indicator-indicator entry, and the largest entry of every other block in absolute value."""
    d = model.d - 1
    W = model.W_KQ
    selector = W[d, d + 1 :]
    rest = W.clone()
    rest[d, d + 1 :] = 0.0
    rest[d, d] = 0.0
    return {
        "indicator_to_positions": float(selector.mean()),
        "indicator_to_indicator": float(W[d, d]),
        "largest_other": float(rest.abs().max()),
    }
