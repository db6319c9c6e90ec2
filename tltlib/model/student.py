"""The position-only one-layer transformer of eq. (2.4), the paper's student.

``TF(X) = sigma(W_V X S)`` with ``S = column_softmax(P^T W_KQ P / sqrt(D))``. The value
matrix ``W_V`` (``M x d``) acts on features only, the merged key-query matrix ``W_KQ``
(``D x D``) on the fixed orthogonal positional encodings ``P`` only, so the attention
scores ``S`` do not depend on the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import one_of, positive_int
from tltlib.model.activations import Activation, get_activation
from tltlib.model.teachers import DTYPE, Teacher, check_inputs

ENCODINGS = ("random", "identity", "dct")


#: the student's two trainable blocks: the value matrix and the attention (``W_KQ``)
BLOCKS = ("value", "attention")


def check_blocks(train_blocks: Sequence[str]) -> list[str]:
    """``train_blocks`` as a list, if it is a non-empty subset of :data:`BLOCKS`."""
    if not train_blocks or set(train_blocks) - set(BLOCKS):
        raise ValueError(
            f"train_blocks must be a non-empty subset of {BLOCKS}, got {train_blocks!r}"
        )
    return list(train_blocks)


def column_softmax(A: torch.Tensor) -> torch.Tensor:
    """Softmax of every column of ``A`` (each column of the result sums to one)."""
    return torch.softmax(A, dim=-2)


def column_softmax_backward(
    S: torch.Tensor,
    grad_S: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
    colsum: torch.Tensor | None = None,
) -> torch.Tensor:
    """The gradient with respect to the logits ``A`` of a loss whose gradient with respect to
    ``S = column_softmax(A)`` is ``grad_S``: ``S * (grad_S - 1 1^T (S * grad_S))``.

    ``out`` and ``colsum`` (shapes of ``S`` and of one row), when given, receive the result
    and the column sums, so that a fast trainer allocates nothing; ``out`` must not be
    ``grad_S``.
    """
    if out is None:
        return S * (grad_S - (S * grad_S).sum(dim=-2, keepdim=True))
    torch.mul(S, grad_S, out=out)
    colsum = torch.sum(out, dim=-2, keepdim=True, out=colsum)
    return torch.sub(grad_S, colsum, out=out).mul_(S)


def positional_encoding(D: int, kind: str = "random", seed: int = 0) -> torch.Tensor:
    """A fixed orthogonal ``D x D`` matrix ``P`` whose columns are the positional encodings.

    ``"random"``: a Haar-random orthogonal matrix from the seed; ``"identity"``: one-hot
    positions; ``"dct"``: the orthonormal DCT-II basis (a sine/cosine encoding). Theory and
    training do not depend on the choice (the dynamics of ``S`` are invariant under any
    orthogonal ``P``; chapter 00 checks this).
    """
    D = positive_int("D", D, minimum=2)
    kind = one_of("encoding", kind, ENCODINGS)
    if kind == "identity":
        return torch.eye(D, dtype=DTYPE)
    if kind == "dct":
        n = torch.arange(D, dtype=DTYPE)
        P = torch.cos(math.pi / D * (n[None, :] + 0.5) * n[:, None]) * math.sqrt(2.0 / D)
        P[0] /= math.sqrt(2.0)
        return P.T.contiguous()
    G = torch.randn(D, D, generator=generator(seed, "positional_encoding"), dtype=DTYPE)
    Q, R = torch.linalg.qr(G)
    return Q * torch.sign(torch.diagonal(R))[None, :]


@dataclass
class TransformerWeights:
    """What both one-layer transformers of the paper hold: a value matrix ``W_V``, a key-query
    matrix ``W_KQ``, the ``D`` positional encodings (the columns of ``P``) and the activation.
    The position-only student (eq. 2.4) and the full model (eq. 2.5,
    :class:`tltlib.model.full.FullTransformer`) differ in the shapes and in what the
    attention sees."""

    W_V: torch.Tensor
    W_KQ: torch.Tensor
    P: torch.Tensor
    activation: Activation

    def __post_init__(self) -> None:
        self.activation = get_activation(self.activation)

    @property
    def D(self) -> int:
        return self.P.shape[0]

    def copy(self) -> Self:
        """The same model with cloned tensors."""
        return type(self)(self.W_V.clone(), self.W_KQ.clone(), self.P.clone(), self.activation)


@dataclass
class PositionOnlyTransformer(TransformerWeights):
    """The student ``sigma(W_V X S)``; ``S`` from the positions only (eq. 2.4)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        D = self.D
        if self.P.shape != (D, D) or self.W_KQ.shape != (D, D):
            raise ValueError(
                f"P and W_KQ must both be (D, D); got P {tuple(self.P.shape)}, "
                f"W_KQ {tuple(self.W_KQ.shape)}"
            )
        eye = torch.eye(D, dtype=self.P.dtype)
        if not torch.allclose(self.P.T @ self.P, eye, atol=1e-8):
            raise ValueError("P must be orthogonal (P^T P = I)")
        if self.W_V.ndim != 2:
            raise ValueError(f"W_V must be an (M, d) matrix, got shape {tuple(self.W_V.shape)}")

    @classmethod
    def zeros(
        cls,
        M: int,
        d: int,
        D: int,
        activation: str | Activation = "identity",
        encoding: str = "random",
        seed: int = 0,
        dtype: torch.dtype = DTYPE,
    ) -> PositionOnlyTransformer:
        """The paper's initialisation ``W_V = 0``, ``W_KQ = 0`` (uniform attention ``1/D``)."""
        M, d, D = positive_int("M", M), positive_int("d", d), positive_int("D", D, minimum=2)
        P = positional_encoding(D, encoding, seed).to(dtype)
        return cls(
            torch.zeros(M, d, dtype=dtype),
            torch.zeros(D, D, dtype=dtype),
            P,
            get_activation(activation),
        )

    @classmethod
    def for_teacher(
        cls, teacher: Teacher, encoding: str = "random", seed: int = 0, dtype: torch.dtype = DTYPE
    ) -> PositionOnlyTransformer:
        """A zero-initialised student with the teacher's shapes and activation."""
        return cls.zeros(teacher.M, teacher.d, teacher.D, teacher.activation, encoding, seed, dtype)

    @classmethod
    def random(
        cls, teacher: Teacher, seed: int = 0, logit_scale: float = 1.0, encoding: str = "random"
    ) -> PositionOnlyTransformer:
        """A student away from the optimum: ``W_V`` with i.i.d. ``N(0, 1/d)`` entries and logits
        with i.i.d. ``N(0, logit_scale^2)`` entries (for testing formulas, not for training)."""
        g = generator(seed, "random_student")
        W = torch.randn(teacher.M, teacher.d, generator=g, dtype=DTYPE) / teacher.d**0.5
        A = logit_scale * torch.randn(teacher.D, teacher.D, generator=g, dtype=DTYPE)
        student = cls.for_teacher(teacher, encoding=encoding, seed=seed)
        student.W_V = W
        student.set_logits(A)
        return student

    @property
    def M(self) -> int:
        return self.W_V.shape[0]

    @property
    def d(self) -> int:
        return self.W_V.shape[1]

    def logits(self) -> torch.Tensor:
        """``A = P^T W_KQ P / sqrt(D)``, the attention logits (column ``i`` = query ``i``)."""
        return self.P.T @ self.W_KQ @ self.P / math.sqrt(self.D)

    def scores(self) -> torch.Tensor:
        """``S = column_softmax(A)``; ``S[i', i]`` is the weight of input ``i'`` in output ``i``."""
        return column_softmax(self.logits())

    def set_logits(self, A: torch.Tensor) -> None:
        """Set ``W_KQ`` so that ``logits() == A`` (``W_KQ = sqrt(D) P A P^T``)."""
        self.W_KQ = math.sqrt(self.D) * self.P @ A.to(self.P.dtype) @ self.P.T

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Student output ``sigma(W_V X S)`` for ``X`` of shape ``(..., d, D)``."""
        check_inputs(X, self.d, self.D)
        return self.activation(self.W_V.to(X.dtype) @ (X @ self.scores().to(X.dtype)))
