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


INPUT_KINDS: dict[str, Sampler] = {
    "gaussian": _gaussian,
    "exponential": _exponential,
    # out-of-distribution families of the chapter on Theorem 3.2 (tltlib.claims.ood gives their moments)
    "student_t": _student_t,
    "anisotropic": _anisotropic,
    "mean_shift": _mean_shift,
}


def sample_inputs(
    kind: str, n: int, d: int, D: int, seed: int, stream: str = "inputs", dtype: torch.dtype = DTYPE
) -> torch.Tensor:
    """``n`` input matrices ``X`` of shape ``(d, D)`` from the family ``kind`` (see :data:`INPUT_KINDS`)."""
    kind = one_of("kind", kind, INPUT_KINDS)
    shape = (positive_int("n", n), positive_int("d", d), positive_int("D", D))
    return INPUT_KINDS[kind](shape, generator(seed, stream), dtype)
