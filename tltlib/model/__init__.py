"""The mathematics of the main paper, with no training in it.

``activations`` (identity, ReLU, Leaky ReLU), ``teachers`` (eq. 2.1 and the four examples in
their bilinear form), ``student`` (the position-only transformer of eq. 2.4), ``losses``
(closed-form population losses), ``metrics`` (what the trainers record), ``data`` (Gaussian
inputs and the out-of-distribution families), ``theory`` (the formulas of Theorem 3.1 and
of the reduced dynamics' slow manifold) and ``finite_time`` (what the book predicts at a
finite ``T`` for every activation: the slow manifold, the online noise floor, the slopes the
checks compare with). ``model`` imports only :mod:`tltlib.core`.
"""

from . import activations, data, finite_time, losses, metrics, student, teachers, theory

__all__ = [
    "activations",
    "data",
    "finite_time",
    "losses",
    "metrics",
    "student",
    "teachers",
    "theory",
]
