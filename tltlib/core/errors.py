"""The library's own exceptions and warnings, shared by the trainers of all three papers."""

from __future__ import annotations


class DivergenceError(RuntimeError):
    """Gradient descent diverged; the message names ``eta`` and the bounds from the theory."""


class StepSizeWarning(UserWarning):
    """``eta`` is above :func:`eta_stability_bound`: GD will stall before ``S`` reaches ``S*``."""
