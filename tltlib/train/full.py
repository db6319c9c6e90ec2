"""Training the full one-layer transformer of eq. (2.5) (:mod:`tltlib.model.full`).

Online gradient descent by autograd (fresh Gaussian batches, as in the paper's experiments),
in float64: the model is small, and the inactive blocks move by little, so their motion must
not drown in rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tltlib.core.history import History, call_settings
from tltlib.core.loop import run_loop
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.full import FullTransformer, block_changes
from tltlib.model.teachers import DTYPE, Teacher
from tltlib.model.theory import diverged


@dataclass
class FullRun:
    model: FullTransformer
    init: FullTransformer
    history: History
    teacher: Teacher
    settings: dict


def train_full(
    teacher: Teacher,
    eta: float,
    steps: int,
    *,
    batch: int = 100,
    noise: float = 0.1,
    init_scale: float = 0.01,
    seed: int = 0,
    encoding: str = "identity",
    n_eval: int = 500,
    record: int | Sequence[int] = 10,
) -> FullRun:
    """Online GD by autograd on the full model from :meth:`FullTransformer.random`.

    Records at the steps of ``record`` (:func:`~tltlib.core.history.record_steps`) the excess loss on a fixed batch of ``n_eval`` Gaussian inputs
    (``1/2 mean ||f*(X) - TF~(X)||^2``) and the change of every block since initialisation.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    noise = positive_float("noise", noise, allow_zero=True)
    settings = call_settings("full", locals())
    model = FullTransformer.random(teacher, init_scale, seed, encoding)
    init = model.copy()
    W_V = model.W_V.clone().requires_grad_(True)
    W_KQ = model.W_KQ.clone().requires_grad_(True)
    g_x, g_e = generator(seed, "full_inputs"), generator(seed, "full_noise")
    X_eval = torch.randn(
        n_eval, teacher.d, teacher.D, generator=generator(seed, "full_eval"), dtype=DTYPE
    )
    Y_eval = teacher(X_eval)

    def snapshot() -> dict[str, float]:
        model.W_V, model.W_KQ = W_V.detach().clone(), W_KQ.detach().clone()
        with torch.no_grad():
            excess = 0.5 * float(((Y_eval - model(X_eval)) ** 2).sum(dim=(-2, -1)).mean())
        return {"excess_loss": excess, **block_changes(model, init)}

    def step(t: int) -> float:
        X = torch.randn(batch, teacher.d, teacher.D, generator=g_x, dtype=DTYPE)
        Y = teacher(X) + noise * torch.randn(
            batch, teacher.M, teacher.D, generator=g_e, dtype=DTYPE
        )
        model.W_V, model.W_KQ = W_V, W_KQ
        loss = 0.5 * ((Y - model(X)) ** 2).sum() / batch
        gV, gK = torch.autograd.grad(loss, (W_V, W_KQ))
        with torch.no_grad():
            W_V.sub_(eta * gV)
            W_KQ.sub_(eta * gK)
        return float(loss.detach())

    history = run_loop("train_full", steps, record, step, snapshot, diverged(teacher, eta))
    model.W_V, model.W_KQ = W_V.detach().clone(), W_KQ.detach().clone()
    return FullRun(model, init, history, teacher, settings)
