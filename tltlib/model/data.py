"""Input distributions: Gaussian training inputs and out-of-distribution families.

Training inputs have i.i.d. ``N(0, I_d)`` token columns (Section 3). The paper's
out-of-distribution inputs have i.i.d. exponential entries (rate 1): non-centred and
skewed, yet with bounded second moments, so Theorem 3.2 covers them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import one_of, positive_int
from tltlib.model.teachers import DTYPE

Sampler = Callable[[tuple[int, ...], torch.Generator, torch.dtype], torch.Tensor]


def _gaussian(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=dtype)


def _exponential(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype).exponential_(1.0, generator=g)


STUDENT_T_DF = 5  # degrees of freedom: heavy tails, yet finite fourth moments (Monte Carlo)
ANISOTROPY = 16.0  # ratio of the largest to the smallest variance of the anisotropic family
MEAN_SHIFT = 2.0  # length of the mean of the shifted family


def _student_t(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    z = torch.randn(shape, generator=g, dtype=dtype)
    chi2 = (torch.randn((*shape, STUDENT_T_DF), generator=g, dtype=dtype) ** 2).sum(-1)
    return z / torch.sqrt(chi2 / STUDENT_T_DF)


def anisotropic_variances(d: int) -> torch.Tensor:
    """Per-coordinate variances of the ``anisotropic`` kind: geometric from ``ANISOTROPY^-1/2``
    to ``ANISOTROPY^1/2`` (mean of the logs zero)."""
    return ANISOTROPY ** torch.linspace(-0.5, 0.5, d, dtype=DTYPE)


def _anisotropic(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    std = anisotropic_variances(shape[-2]).sqrt().to(dtype)
    return torch.randn(shape, generator=g, dtype=dtype) * std[:, None]


def _mean_shift(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=dtype) + MEAN_SHIFT / shape[-2] ** 0.5


EULER_GAMMA = 0.5772156649015329  # the mean of a standard Gumbel variable


def _student_t_unit(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Student-t with ``STUDENT_T_DF`` degrees of freedom rescaled to unit variance
    (its variance is ``df / (df - 2)``)."""
    return _student_t(shape, g, dtype) * ((STUDENT_T_DF - 2) / STUDENT_T_DF) ** 0.5


def _gumbel(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Standard Gumbel, centred (mean ``EULER_GAMMA``) and scaled to unit variance (``pi^2/6``)."""
    u = torch.rand(shape, generator=g, dtype=dtype).clamp_(min=torch.finfo(dtype).tiny)
    return (-torch.log(-torch.log(u)) - EULER_GAMMA) * (6.0**0.5 / torch.pi)


def _rademacher(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=g).to(dtype).mul_(2.0).sub_(1.0)


def _centred_exponential(
    shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    return _exponential(shape, g, dtype).sub_(1.0)


#: fourth moments ``E x^4`` of one entry of the unit-variance, zero-mean training kinds
#: (Gaussian 3; Student-t(5) rescaled 3 (df-2)/(df-4) = 9; Gumbel 3 + 12/5; Rademacher 1;
#: centred exponential 9)
FOURTH_MOMENTS: dict[str, float] = {
    "gaussian": 3.0,
    "student_t_unit": 3.0 * (STUDENT_T_DF - 2) / (STUDENT_T_DF - 4),
    "gumbel": 3.0 + 12.0 / 5.0,
    "rademacher": 1.0,
    "centred_exponential": 9.0,
}

#: the training-input kinds of chapter 11: zero mean, unit variance, independent entries
TRAINING_KINDS = tuple(FOURTH_MOMENTS)

INPUT_KINDS: dict[str, Sampler] = {
    "gaussian": _gaussian,
    "exponential": _exponential,
    # out-of-distribution families of the chapter on Theorem 3.2 (tltlib.claims.ood gives their moments)
    "student_t": _student_t,
    "anisotropic": _anisotropic,
    "mean_shift": _mean_shift,
    # zero-mean, unit-variance training families of the chapter outside the assumptions
    "student_t_unit": _student_t_unit,
    "gumbel": _gumbel,
    "rademacher": _rademacher,
    "centred_exponential": _centred_exponential,
}


def sample_inputs(
    kind: str, n: int, d: int, D: int, seed: int, stream: str = "inputs", dtype: torch.dtype = DTYPE
) -> torch.Tensor:
    """``n`` input matrices ``X`` of shape ``(d, D)`` from the family ``kind`` (see :data:`INPUT_KINDS`)."""
    kind = one_of("kind", kind, INPUT_KINDS)
    shape = (positive_int("n", n), positive_int("d", d), positive_int("D", D))
    return INPUT_KINDS[kind](shape, generator(seed, stream), dtype)
