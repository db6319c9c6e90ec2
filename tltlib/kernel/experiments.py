"""The experiments of the kernel-regime chapters: sweeps over the width ``m``, the number of
inputs ``n`` and the sequence length ``T`` (the AR(L) comparison is in :mod:`tltlib.kernel.recurrent`).

Every sweep draws its random objects from named streams of one ``seed``; repetition ``j``
uses its own streams, so adding repetitions leaves the earlier ones unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tltlib.core.validate import in_range, positive_int
from tltlib.kernel.claims import optimisation_term
from tltlib.kernel.model import (
    ShallowTransformer,
    even_width,
    linearisation_error,
    radius,
    step_size,
    train_projected_gd,
    unit_ball_tokens,
)
from tltlib.kernel.transport import TransportTeacher

TRAIN_DTYPE = torch.float32


def linearisation_errors(
    d: int, T: int, widths: list[int], n: int, seeds: int, rho: float, seed: int
) -> np.ndarray:
    """Mean ``|f - f_lin|`` at the adversarial boundary point, widths x repetitions."""
    X = unit_ball_tokens(n, d, T, seed, "linearisation-inputs")
    out = np.empty((len(widths), positive_int("seeds", seeds)))
    for i, m in enumerate(widths):
        for j in range(seeds):
            model = ShallowTransformer.paired(d, m, seed, f"linearisation-init-{m}-{j}")
            out[i, j] = linearisation_error(model, X, rho)
    return out


def check_width_parameters(
    rho: object, nu: object, widths: list, train_widths: list
) -> tuple[float, float, list[int], list[int]]:
    """Chapter 09a's parameters, checked and returned: the radii ``rho`` and ``nu`` (finite
    numbers ``> 0``) and every entry of ``widths`` and ``train_widths`` (an even integer
    ``>= 2``); raises ``ValueError`` naming the first one that is not allowed."""
    return (
        radius(rho),
        radius(nu, "nu"),
        [even_width(m) for m in widths],
        [even_width(m) for m in train_widths],
    )


def check_length_parameters(
    rho: object, nu: object, m: object, ar_m: object, T_values: list, lags: list
) -> tuple[float, float, int, int, list[int], list[int]]:
    """Chapter 09b's parameters, checked and returned: the radii ``rho`` and ``nu`` (finite
    numbers ``> 0``), the widths ``m`` and ``ar_m`` (even integers ``>= 2``), every sequence
    length ``T`` of ``T_values`` and every lag ``L`` of ``lags`` (integers ``>= 1``); raises
    ``ValueError`` naming the first one that is not allowed."""
    return (
        radius(rho),
        radius(nu, "nu"),
        even_width(m),
        even_width(ar_m),
        [positive_int("T", T) for T in T_values],
        [positive_int("L", L) for L in lags],
    )


@dataclass
class Split:
    """Inputs and teacher labels, split into a training and a validation part."""

    X: torch.Tensor
    y: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor

    @property
    def train_var(self) -> float:
        return float(self.y.var(unbiased=False))

    @property
    def val_var(self) -> float:
        return float(self.y_val.var(unbiased=False))


def split_data(X: torch.Tensor, y: torch.Tensor, val_frac: float = 0.2) -> Split:
    """The first ``1 - val_frac`` of the inputs for training, the rest for validation
    (inputs are i.i.d., so no shuffling is needed), in the training precision."""
    val_frac = in_range("val_frac", val_frac, 0.0, 0.5)
    n_train = len(y) - int(val_frac * len(y))
    return Split(*(t.to(TRAIN_DTYPE) for t in (X[:n_train], y[:n_train], X[n_train:], y[n_train:])))


def teacher_data(
    n: int,
    d: int,
    T: int,
    teacher: TransportTeacher | None,
    seed: int,
    stream: str,
    val_frac: float = 0.2,
    n_anchors: int = 16,
    nu: float = 3.0,
    M: int = 2048,
    activation: str = "tanh",
) -> tuple[TransportTeacher, Split]:
    """``n`` unit-ball inputs labelled by ``teacher`` (a new one from these inputs if None)."""
    X = unit_ball_tokens(n, d, T, seed, stream)
    if teacher is None:
        teacher = TransportTeacher.from_inputs(X, n_anchors, nu, M, seed, activation)
    return teacher, split_data(X, teacher(X), val_frac)


def width_sweep(
    data: Split,
    widths: list[int],
    steps: int,
    eta_scale: float,
    rho: float,
    seeds: int,
    seed: int,
    activation: str = "tanh",
) -> dict[str, np.ndarray]:
    """Projected GD for every width and repetition: minimum training and validation losses,
    each divided by the variance of its labels (``rel_train``, ``rel_val``: widths x seeds)."""
    eta = step_size(steps, eta_scale)
    rel_train = np.empty((len(widths), positive_int("seeds", seeds)))
    rel_val = np.empty_like(rel_train)
    d = data.X.shape[1]
    for i, m in enumerate(widths):
        for j in range(seeds):
            model = ShallowTransformer.paired(
                d, m, seed, f"width-init-{m}-{j}", activation, TRAIN_DTYPE
            )
            run = train_projected_gd(model, data.X, data.y, steps, eta, rho, data.X_val, data.y_val)
            rel_train[i, j] = run.min_train / data.train_var
            rel_val[i, j] = run.min_val / data.val_var
    return {"widths": np.asarray(widths), "rel_train": rel_train, "rel_val": rel_val}


def sequence_length_sweep(
    T_values: list[int],
    d: int,
    m: int,
    n: int,
    steps: int,
    eta_scale: float,
    rho: float,
    nu: float,
    M: int,
    n_anchors: int,
    seeds: int,
    seed: int,
    activation: str = "tanh",
) -> dict[str, np.ndarray]:
    """For each ``T`` (rows) and repetition (columns): a new teacher and data set, projected GD.

    Records the minimum training loss (absolute, ``min_train``, and over the label variance,
    ``rel_train``), the largest per-input Jacobian norm at the init (``J_init``) and at the end
    (``J_end``), the analytic T-free bound on it (``J_bound``), the linearised loss of the
    transport point (``approx_loss``), the T-free optimisation term and ``eta * beta`` with
    ``beta = 2 max_j ||grad f(X_j)||^2`` (the step is admissible if ``<= 1``).
    """
    radius(rho)
    eta = step_size(steps, eta_scale)
    shape = (len(T_values), positive_int("seeds", seeds))
    keys = ("min_train", "rel_train", "J_init", "J_end", "J_bound", "approx_loss", "eta_beta")
    out = {k: np.empty(shape) for k in keys}
    for i, T in enumerate(T_values):
        for j in range(seeds):
            teacher, data = teacher_data(
                n, d, T, None, seed, f"T{T}-{j}", 0.0, n_anchors, nu, M, activation
            )
            model = ShallowTransformer.paired(
                d, m, seed, f"T-init-{T}-{j}", activation, TRAIN_DTYPE
            )
            J0 = float(model.jacobian_norms(data.X)["total"].max())
            run = train_projected_gd(model, data.X, data.y, steps, eta, rho)
            lin = teacher.width_estimate(model, data.X.double())
            out["min_train"][i, j] = run.min_train
            out["rel_train"][i, j] = run.min_train / data.train_var
            out["J_init"][i, j] = J0
            out["J_end"][i, j] = float(model.jacobian_norms(data.X)["total"].max())
            out["J_bound"][i, j] = model.jacobian_bound(rho)
            out["approx_loss"][i, j] = float(((lin - data.y.double()) ** 2).mean())
            out["eta_beta"][i, j] = eta * 2 * J0**2
    out["T"] = np.asarray(T_values)
    out["opt_term"] = np.full(shape, optimisation_term(nu, eta, steps))
    return out
