"""The transport-map teacher of Arda, Cayci & Eryilmaz (2026) and its random-feature estimates.

One head with parameters ``phi = (c, U, W)`` computes ``psi(X; phi) = c sigma(U^T a(X; W))``.
Its gradient has three blocks, the *features* at ``X``:

    d psi / d c = sigma(s),   d psi / d U = c sigma'(s) a,   d psi / d W = c sigma'(s) Cov_alpha(X) U x_T^T

with ``s = U^T a`` and ``Cov_alpha(X) = sum_t alpha_t x_t x_t^T - a a^T`` (the covariance of the
tokens under the attention weights). A *transport map* ``v(phi)`` moves each random head; the
infinite-width linearised model is

    f~(X) = E_phi [ <grad_phi psi(X; phi), v(phi)> ]      (phi drawn from the initialisation).

The teacher's ``v`` mixes the features at ``R`` anchor inputs ``X_r`` with weights
``sum_r |alpha_r| = 1``: ``v_c = nu sum_r alpha_r sigma(s_r)``, ``v_U = c nu sum_r alpha_r
sigma'(s_r) a_r`` and ``v_W = c sum_r alpha_r clip_nu(sigma'(s_r) Cov_r U x_T^r^T)`` (Frobenius
clip, no factor ``nu``: as in the official code), so every block of ``v`` has norm ``<= nu``.
Then ``f~(X) = sum_r alpha_r [nu (K_c + K_U) + K_W](X, X_r)`` up to the clip, with ``K_c``,
``K_U``, ``K_W`` the three blocks of the neural tangent kernel. The expectation is estimated with ``M``
random features; a network of width ``m`` moved by ``Delta_i = v(phi_i)/sqrt(m)`` from its
initialisation has the linearisation ``<grad f(phi_0), Delta> = (1/m) sum_i <grad psi(X; phi_i),
v(phi_i)>``, the same estimate with its own ``m`` heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.kernel.model import (
    DTYPE,
    ShallowTransformer,
    SmoothActivation,
    query_vectors,
    smooth_activation,
)


@dataclass
class Features:
    """Gradient features of ``k`` random heads at ``B`` inputs (``vec`` is ``sigma' Cov U``;
    the ``W`` block is the rank-one matrix ``vec x_T^T``)."""

    phi_c: torch.Tensor  # (B, k)
    phi_u: torch.Tensor  # (B, k, d)
    vec: torch.Tensor  # (B, k, d)
    x_last: torch.Tensor  # (B, d)


def head_features(
    X: torch.Tensor, U: torch.Tensor, W: torch.Tensor, activation: SmoothActivation
) -> Features:
    """The three gradient blocks of ``psi`` (without the factor ``c``) for heads ``(U, W)``."""
    X = X.contiguous()
    Xt = X.transpose(1, 2).contiguous()
    alpha = torch.softmax(torch.bmm(query_vectors(X, W), X), dim=-1)
    a = torch.bmm(alpha, Xt)
    s = (a * U).sum(-1)
    ds = activation.derivative(s)
    xu = (Xt @ U.T).transpose(1, 2)  # (B, k, T): x_t . U_k
    cov_u = torch.bmm(alpha * xu, Xt) - a * s[..., None]  # a . U = s
    return Features(activation(s), ds[..., None] * a, ds[..., None] * cov_u, X[..., -1])


@dataclass
class Transport:
    """``v(phi_k)`` for ``k`` heads, without the sign ``c_k`` of the ``U`` and ``W`` blocks
    (it cancels: ``<grad psi, v>`` has ``c_k^2 = 1``)."""

    v_c: torch.Tensor  # (k,)
    v_u: torch.Tensor  # (k, d)
    v_w: torch.Tensor  # (k, d, d)

    def block_norms(self) -> torch.Tensor:
        """``(3, k)``: ``|v_c|``, ``||v_U||``, ``||v_W||_F`` per head (each ``<= nu``)."""
        k = self.v_c.shape[0]
        return torch.stack(
            [self.v_c.abs(), self.v_u.norm(dim=1), self.v_w.reshape(k, -1).norm(dim=1)]
        )


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@dataclass
class TransportTeacher:
    """``f~(X) = E_phi <grad psi(X; phi), v(phi)>`` with anchor inputs ``anchors`` ``(R, d, T)``,
    mixing weights ``alpha`` (``sum |alpha_r| = 1``), norm bound ``nu``, estimated with the ``M``
    random heads ``(U, W)`` drawn from the initialisation distribution."""

    anchors: torch.Tensor
    alpha: torch.Tensor
    nu: float
    activation: SmoothActivation
    U: torch.Tensor
    W: torch.Tensor
    transport_: Transport
    chunk: int = 256

    @classmethod
    def from_inputs(
        cls,
        X: torch.Tensor,
        n_anchors: int,
        nu: float,
        M: int,
        seed: int,
        activation: str | SmoothActivation = "tanh",
    ) -> TransportTeacher:
        """A teacher whose ``n_anchors`` anchors are random inputs of ``X``; ``alpha`` Gaussian
        rescaled to ``sum |alpha_r| = 1``; ``M`` random features (all from ``seed``'s streams)."""
        R = positive_int("n_anchors", n_anchors)
        if R > X.shape[0]:
            raise ValueError(f"n_anchors must be <= the number of inputs {X.shape[0]}, got {R}")
        nu, M = positive_float("nu", nu), positive_int("M", M)
        idx = torch.randperm(X.shape[0], generator=generator(seed, "teacher-anchors"))[:R]
        a = torch.randn(R, generator=generator(seed, "teacher-alpha"), dtype=DTYPE)
        d = X.shape[1]
        g = generator(seed, "teacher-features")
        W = torch.randn(M, d, d, generator=g, dtype=DTYPE)
        U = torch.randn(M, d, generator=g, dtype=DTYPE)
        anchors = X[idx].to(DTYPE).clone()
        act = smooth_activation(activation)
        alpha = a / a.abs().sum()
        return cls(anchors, alpha, nu, act, U, W, transport(anchors, alpha, nu, act, U, W))

    @property
    def M(self) -> int:
        return self.U.shape[0]

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """The teacher's labels ``f~(X)`` (its ``M``-feature estimate), shape ``(B,)``."""
        return feature_estimate(X, self.U, self.W, self.transport_, self.activation, self.chunk)

    def displacement(self, model: ShallowTransformer) -> tuple[torch.Tensor, ...]:
        """``Delta_i = v(phi_i(0)) / sqrt(m)`` for the heads of ``model`` (with the sign ``c_i``):
        the point of the projection set whose linearisation estimates ``f~`` with ``m`` heads."""
        U, W, c = (t.to(DTYPE) for t in (model.U0, model.W0, model.c0))
        v = transport(self.anchors, self.alpha, self.nu, self.activation, U, W)
        r = math.sqrt(model.m)
        return v.v_w * c[:, None, None] / r, v.v_u * c[:, None] / r, v.v_c / r

    def width_estimate(self, model: ShallowTransformer, X: torch.Tensor) -> torch.Tensor:
        """``<grad f(X; phi_0), Delta>`` for the transported ``model``: the ``m``-feature
        estimate of ``f~`` that the width-``m`` network carries (paired heads count twice)."""
        U, W = model.U0.to(DTYPE), model.W0.to(DTYPE)
        v = transport(self.anchors, self.alpha, self.nu, self.activation, U, W)
        return feature_estimate(X, U, W, v, self.activation, self.chunk)


def transport(
    anchors: torch.Tensor,
    alpha: torch.Tensor,
    nu: float,
    activation: SmoothActivation,
    U: torch.Tensor,
    W: torch.Tensor,
    chunk: int = 512,
) -> Transport:
    """The transport map at the heads ``(U, W)`` (see the module docstring)."""
    parts = []
    for sl in _chunks(U.shape[0], chunk):
        f = head_features(anchors, U[sl], W[sl], activation)
        v_c = nu * torch.einsum("r,rk->k", alpha, f.phi_c)
        v_u = nu * torch.einsum("r,rkd->kd", alpha, f.phi_u)
        fro = f.vec.norm(dim=-1) * f.x_last.norm(dim=-1)[:, None]  # ||vec x_T^T||_F, (R, k)
        clip = (nu / fro.clamp_min(1e-300)).clamp(max=1.0)
        v_w = torch.einsum("r,rk,rki,rj->kij", alpha, clip, f.vec, f.x_last)
        parts.append((v_c, v_u, v_w))
    return Transport(*(torch.cat(p) for p in zip(*parts, strict=True)))


def feature_estimate(
    X: torch.Tensor,
    U: torch.Tensor,
    W: torch.Tensor,
    v: Transport,
    activation: SmoothActivation,
    chunk: int = 256,
    batch: int = 128,
) -> torch.Tensor:
    """``(1/k) sum_k <grad psi(X; phi_k), v(phi_k)>`` over the heads ``(U, W)``, ``batch``
    inputs and ``chunk`` heads at a time. Each input's sum over the heads does not depend on
    ``batch``; 128 inputs keep the ``(batch, chunk, T)`` tensors in cache (a fifth to a quarter less
    time than 1024 for 4000 inputs and 2048 heads at ``T = 16``, the same result to the bit)."""
    X = X.to(DTYPE)
    out = torch.zeros(X.shape[0], dtype=DTYPE)
    for bs in _chunks(X.shape[0], batch):
        for ks in _chunks(U.shape[0], chunk):
            f = head_features(X[bs], U[ks], W[ks], activation)
            out[bs] += f.phi_c @ v.v_c[ks]
            out[bs] += torch.einsum("bkd,kd->b", f.phi_u, v.v_u[ks])
            out[bs] += torch.einsum("bki,kij,bj->b", f.vec, v.v_w[ks], f.x_last)
    return out / U.shape[0]


def approximation_errors(
    teacher: TransportTeacher,
    X: torch.Tensor,
    widths: list[int],
    seeds: int,
    seed: int,
    labels: torch.Tensor | None = None,
) -> np.ndarray:
    """``sup_j |f_lin,m(X_j) - f~(X_j)|`` for each width (rows) and initialisation (columns):
    the random-feature error of a transported width-``m`` network, uniformly over ``X``."""
    y = teacher(X) if labels is None else labels
    out = np.empty((len(widths), positive_int("seeds", seeds)))
    for i, m in enumerate(widths):
        for j in range(seeds):
            model = ShallowTransformer.paired(
                X.shape[1], m, seed, f"approx-init-{m}-{j}", teacher.activation
            )
            out[i, j] = float((teacher.width_estimate(model, X) - y).abs().max())
    return out


def running_sup_errors(
    teacher: TransportTeacher,
    X: torch.Tensor,
    m: int,
    sizes: list[int],
    seeds: int,
    seed: int,
    labels: torch.Tensor | None = None,
) -> np.ndarray:
    """``max_{j < n} |f_lin,m(X_j) - f~(X_j)|`` for each ``n`` in ``sizes`` (columns) and
    initialisation (rows): how the uniform error over ``n`` inputs grows with ``n``."""
    sizes = [positive_int("n", n) for n in sizes]
    if max(sizes) > X.shape[0]:
        raise ValueError(f"sizes must be <= the number of inputs {X.shape[0]}, got {max(sizes)}")
    y = teacher(X) if labels is None else labels
    out = np.empty((positive_int("seeds", seeds), len(sizes)))
    for j in range(seeds):
        model = ShallowTransformer.paired(X.shape[1], m, seed, f"logn-init-{j}", teacher.activation)
        err = (teacher.width_estimate(model, X) - y).abs()
        running = torch.cummax(err, dim=0).values
        out[j] = [float(running[n - 1]) for n in sizes]
    return out
