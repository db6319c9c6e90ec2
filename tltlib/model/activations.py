"""The three activations of the paper: identity, ReLU and Leaky ReLU.

All three are ``z -> z`` for ``z >= 0`` and ``z -> alpha * z`` for ``z < 0`` with
``alpha = 1`` (identity), ``0`` (ReLU) or a small slope (Leaky ReLU), so one class
covers them, with the derivative convention ``sigma'(0) = 1`` (the right derivative).

Why the convention matters: the student starts from ``W_V = 0``, so every
pre-activation is exactly zero at step 0. PyTorch's autograd uses ``relu'(0) = 0``,
which makes every gradient vanish there: gradient descent from zero never moves.
The paper's analysis needs the first step to be non-zero; ``sigma'(0) = 1`` gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tltlib.core.validate import in_range, one_of

ACTIVATIONS = ("identity", "relu", "leaky_relu")


@dataclass(frozen=True)
class Activation:
    """A piecewise-linear activation with slope 1 on ``z >= 0`` and ``negative_slope`` below."""

    name: str
    negative_slope: float

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        if self.negative_slope == 1.0:
            return z
        if self.negative_slope == 0.0:
            return torch.clamp_min(z, 0.0)
        return torch.where(z >= 0, z, self.negative_slope * z)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        """``sigma'(z)``, with ``sigma'(0) = 1``."""
        if self.negative_slope == 1.0:
            return torch.ones_like(z)
        slope = torch.tensor(self.negative_slope, dtype=z.dtype)
        return torch.where(z >= 0, torch.ones((), dtype=z.dtype), slope)

    @property
    def is_identity(self) -> bool:
        return self.negative_slope == 1.0


def get_activation(name: str | Activation, leaky_slope: float = 0.1) -> Activation:
    """The activation called ``name`` (one of :data:`ACTIVATIONS`).

    ``leaky_slope`` is the slope of Leaky ReLU on negative inputs (the paper does not
    state it; we use 0.1 so that Leaky ReLU and ReLU differ visibly).
    """
    if isinstance(name, Activation):
        return name
    name = one_of("activation", name, ACTIVATIONS)
    if name == "identity":
        return Activation("identity", 1.0)
    if name == "relu":
        return Activation("relu", 0.0)
    slope = in_range("leaky_slope", leaky_slope, 0.0, 1.0)
    if slope in (0.0, 1.0):
        raise ValueError(f"leaky_slope must be strictly between 0 and 1, got {leaky_slope!r}")
    return Activation("leaky_relu", slope)
