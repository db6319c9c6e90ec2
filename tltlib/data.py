"""Input distributions: Gaussian training inputs and out-of-distribution families.

Training inputs have i.i.d. ``N(0, I_d)`` token columns (Section 3). The paper's
out-of-distribution inputs have i.i.d. exponential entries (rate 1): non-centred and
skewed, yet with bounded second moments, so Theorem 3.2 covers them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .seeding import generator
from .teachers import DTYPE
from .validate import one_of, positive_int

Sampler = Callable[[tuple[int, ...], torch.Generator, torch.dtype], torch.Tensor]


def _gaussian(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=dtype)


def _exponential(shape: tuple[int, ...], g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype).exponential_(1.0, generator=g)


INPUT_KINDS: dict[str, Sampler] = {"gaussian": _gaussian, "exponential": _exponential}


def sample_inputs(
    kind: str, n: int, d: int, D: int, seed: int, stream: str = "inputs", dtype: torch.dtype = DTYPE
) -> torch.Tensor:
    """``n`` input matrices ``X`` of shape ``(d, D)`` from the family ``kind`` (see :data:`INPUT_KINDS`)."""
    kind = one_of("kind", kind, INPUT_KINDS)
    shape = (positive_int("n", n), positive_int("d", d), positive_int("D", D))
    return INPUT_KINDS[kind](shape, generator(seed, stream), dtype)
