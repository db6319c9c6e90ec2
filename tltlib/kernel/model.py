"""A shallow multi-head transformer in the kernel regime (Arda, Cayci & Eryilmaz 2026).

Each of the ``m`` heads attends from the **last token** ``x_T`` of ``X = [x_1, ..., x_T]``
(shape ``(d, T)``, tokens are columns, as everywhere in :mod:`tltlib`):

    a(X; W_i) = X softmax(X^T W_i x_T)        (a convex combination of the tokens)
    f(X)      = (1/sqrt(m)) sum_i c_i sigma(U_i^T a(X; W_i))

All of ``W_i`` (``d x d``), ``U_i`` (``d``) and ``c_i`` are trained by projected gradient
descent on the mean squared error, each head's three blocks projected onto balls of radius
``rho / sqrt(m)`` around their initial values. The initialisation is *paired*: the second
half of the heads copies ``W`` and ``U`` of the first half and flips ``c``, so ``f = 0`` at
initialisation (which needs an even ``m``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError
from tltlib.core.seeding import generator
from tltlib.core.validate import one_of, positive_float, positive_int

DTYPE = torch.float64


@dataclass(frozen=True)
class SmoothActivation:
    """A bounded activation with bounded derivative: ``sup|sigma|`` and ``sup|sigma'|`` enter
    the T-free constants of the analysis."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]
    sup: float
    sup_derivative: float

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)


def _erf(z: torch.Tensor) -> torch.Tensor:
    return torch.erf(z / math.sqrt(2.0))


def _erf_derivative(z: torch.Tensor) -> torch.Tensor:
    return math.sqrt(2.0 / math.pi) * torch.exp(-0.5 * z * z)


SMOOTH_ACTIVATIONS = {
    "tanh": SmoothActivation("tanh", torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2, 1.0, 1.0),
    "erf": SmoothActivation("erf", _erf, _erf_derivative, 1.0, math.sqrt(2.0 / math.pi)),
}


def smooth_activation(name: str | SmoothActivation) -> SmoothActivation:
    """``tanh`` (the paper's choice) or ``erf`` (``erf(z / sqrt 2)``, also in the official code)."""
    if isinstance(name, SmoothActivation):
        return name
    return SMOOTH_ACTIVATIONS[one_of("activation", name, SMOOTH_ACTIVATIONS)]


def even_width(m: object) -> int:
    """``m`` as an int if it is even and ``>= 2`` (the paired initialisation needs it)."""
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 2 or m % 2:
        raise ValueError(
            f"m must be an even integer >= 2 (the paired initialisation copies the first "
            f"m/2 heads and flips their c), got {m!r}"
        )
    return int(m)


def radius(rho: object, name: str = "rho") -> float:
    """A projection radius: a finite number ``> 0``."""
    return positive_float(name, rho)


def unit_ball_tokens(
    n: int, d: int, T: int, seed: int, stream: str = "tokens", dtype: torch.dtype = DTYPE
) -> torch.Tensor:
    """``n`` inputs of shape ``(d, T)``: i.i.d. ``N(0, I_d)`` tokens, each divided by
    ``max(1, ||x_t||)`` so that every token lies in the unit ball (the paper's assumption)."""
    shape = (positive_int("n", n), positive_int("d", d), positive_int("T", T))
    X = torch.randn(shape, generator=generator(seed, stream), dtype=dtype)
    return X / X.norm(dim=-2, keepdim=True).clamp_min(1.0)


def softmax_attention(z: torch.Tensor) -> torch.Tensor:
    """Attention weights over the last axis (tokens): a probability vector per head."""
    return torch.softmax(z, dim=-1)


def query_vectors(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``W_i x_T`` for every input and head, ``(B, m, d)`` (one matrix product, contiguous:
    ``einsum`` would hand strided operands to ``bmm``, which then loops over the batch)."""
    m, d, _ = W.shape
    return (X[..., -1] @ W.reshape(m * d, d).T).reshape(X.shape[0], m, d)


def head_outputs(
    X: torch.Tensor,
    W: torch.Tensor,
    U: torch.Tensor,
    attention: Callable[[torch.Tensor], torch.Tensor] = softmax_attention,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(s, a, alpha)`` for inputs ``X`` ``(B, d, T)``: the pre-activations ``s = U_i^T a``
    ``(B, m)``, the attended vectors ``a`` ``(B, m, d)`` and the weights ``alpha`` ``(B, m, T)``."""
    X = X.contiguous()
    alpha = attention(torch.bmm(query_vectors(X, W), X))
    a = torch.bmm(alpha, X.transpose(1, 2).contiguous())
    s = (a * U).sum(-1)
    return s, a, alpha


def shallow_forward(
    X: torch.Tensor,
    W: torch.Tensor,
    U: torch.Tensor,
    c: torch.Tensor,
    activation: SmoothActivation,
    attention: Callable[[torch.Tensor], torch.Tensor] = softmax_attention,
) -> torch.Tensor:
    """``f(X) = (1/sqrt m) sum_i c_i sigma(U_i^T a(X; W_i))`` for a batch ``X`` ``(B, d, T)``."""
    s, _, _ = head_outputs(X, W, U, attention)
    return activation(s) @ c / math.sqrt(c.shape[0])


def check_inputs(X: torch.Tensor, d: int) -> torch.Tensor:
    """A batch ``(B, d, T)`` (a single ``(d, T)`` input is promoted) with ``T >= 1``."""
    if not isinstance(X, torch.Tensor) or X.dim() not in (2, 3):
        raise ValueError(f"X must be a tensor of shape (B, d, T) or (d, T), got {type(X)}")
    X = X.unsqueeze(0) if X.dim() == 2 else X
    if X.shape[1] != d:
        raise ValueError(f"X must have d={d} rows (features), got shape {tuple(X.shape)}")
    positive_int("T", X.shape[2])
    return X


class ShallowTransformer:
    """The ``m``-head model with its initial point (the centre of the projection balls).

    ``W`` ``(m, d, d)``, ``U`` ``(m, d)`` and ``c`` ``(m,)`` are leaf tensors that require
    gradients; ``W0``, ``U0``, ``c0`` are their values at initialisation. ``attention`` maps
    scores ``(B, m, T)`` to weights; the model of the paper uses the softmax (a subclass or
    another function here is how the tests build broken models).
    """

    attention: Callable[[torch.Tensor], torch.Tensor] = staticmethod(softmax_attention)

    def __init__(
        self,
        W: torch.Tensor,
        U: torch.Tensor,
        c: torch.Tensor,
        activation: str | SmoothActivation = "tanh",
    ):
        m, d = U.shape
        if W.shape != (m, d, d) or c.shape != (m,):
            raise ValueError(
                f"W, U, c must have shapes (m, d, d), (m, d), (m,), got "
                f"{tuple(W.shape)}, {tuple(U.shape)}, {tuple(c.shape)}"
            )
        self.activation = smooth_activation(activation)
        self.W0, self.U0, self.c0 = (t.detach().clone() for t in (W, U, c))
        self.W, self.U, self.c = (t.detach().clone().requires_grad_(True) for t in (W, U, c))

    @classmethod
    def paired(
        cls,
        d: int,
        m: int,
        seed: int,
        stream: str = "init",
        activation: str | SmoothActivation = "tanh",
        dtype: torch.dtype = DTYPE,
    ) -> ShallowTransformer:
        """The paper's initialisation: for ``i <= m/2``, ``W_i`` entries and ``U_i`` i.i.d.
        ``N(0, 1)``, ``c_i`` Rademacher; heads ``i + m/2`` copy ``W_i, U_i`` and take ``-c_i``."""
        d, m = positive_int("d", d), even_width(m)
        g = generator(seed, stream)
        half = m // 2
        W = torch.randn(half, d, d, generator=g, dtype=dtype)
        U = torch.randn(half, d, generator=g, dtype=dtype)
        c = torch.randint(0, 2, (half,), generator=g).to(dtype) * 2 - 1
        return cls(torch.cat([W, W]), torch.cat([U, U]), torch.cat([c, -c]), activation)

    @property
    def m(self) -> int:
        return self.U.shape[0]

    @property
    def d(self) -> int:
        return self.U.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.U.dtype

    def parameters(self) -> list[torch.Tensor]:
        return [self.W, self.U, self.c]

    def initial(self) -> list[torch.Tensor]:
        return [self.W0, self.U0, self.c0]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        X = check_inputs(X, self.d).to(self.dtype)
        return shallow_forward(X, self.W, self.U, self.c, self.activation, self.attention)

    @torch.no_grad()
    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``f(X)`` without recording gradients."""
        return self(X)

    def function(self, X: torch.Tensor) -> Callable[..., torch.Tensor]:
        """``(W, U, c) -> f(X)`` as a pure function (for ``torch.func``)."""
        X = check_inputs(X, self.d).to(self.dtype)
        return lambda W, U, c: shallow_forward(X, W, U, c, self.activation, self.attention)

    @torch.no_grad()
    def project_(self, rho: float) -> None:
        """Project each head's ``W_i``, ``U_i``, ``c_i`` onto its ball of radius ``rho/sqrt(m)``
        around the initial value (Frobenius, Euclidean and absolute value)."""
        r = radius(rho) / math.sqrt(self.m)
        for p, p0 in zip(self.parameters(), self.initial(), strict=True):
            diff = (p - p0).reshape(self.m, -1)
            scale = (r / diff.norm(dim=1).clamp_min(1e-300)).clamp(max=1.0)
            p.copy_(p0 + (diff * scale[:, None]).reshape(p.shape))

    @torch.no_grad()
    def head_distances(self) -> torch.Tensor:
        """``(3, m)``: ``||W_i - W_i(0)||_F``, ``||U_i - U_i(0)||``, ``|c_i - c_i(0)|``."""
        return torch.stack(
            [
                (p - p0).reshape(self.m, -1).norm(dim=1)
                for p, p0 in zip(self.parameters(), self.initial(), strict=True)
            ]
        )

    def in_ball(self, rho: float, rtol: float = 1e-9) -> bool:
        """True if every head's three blocks lie within ``rho/sqrt(m)`` of their initial values."""
        limit = radius(rho) / math.sqrt(self.m) * (1 + rtol)
        return bool((self.head_distances() <= limit).all())

    @torch.no_grad()
    def set_parameters(self, W: torch.Tensor, U: torch.Tensor, c: torch.Tensor) -> None:
        for p, v in zip(self.parameters(), (W, U, c), strict=True):
            p.copy_(v)

    @torch.no_grad()
    def reset(self) -> None:
        """Back to the initial point."""
        self.set_parameters(*self.initial())

    def linearised(self, X: torch.Tensor, delta: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``f(X; phi_0) + <grad f(X; phi_0), delta>`` (a forward-mode derivative at the init)."""
        f0, df = torch.func.jvp(
            self.function(X), tuple(self.initial()), tuple(t.to(self.dtype) for t in delta)
        )
        return (f0 + df).detach()

    def per_sample_gradients(self, X: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``grad_phi f(X_b; phi)`` for each input: ``(B, m, d, d)``, ``(B, m, d)``, ``(B, m)``."""
        X = check_inputs(X, self.d).to(self.dtype)

        def single(W, U, c, x):
            return shallow_forward(x[None], W, U, c, self.activation, self.attention)[0]

        params = tuple(p.detach() for p in self.parameters())
        grads = torch.func.vmap(torch.func.grad(single, argnums=(0, 1, 2)), (None, None, None, 0))
        return grads(*params, X)

    def jacobian_norms(self, X: torch.Tensor, chunk: int = 256) -> dict[str, np.ndarray]:
        """Per-input ``||grad f(X_b)||`` in total and by block (``W``, ``U``, ``c``)."""
        out: dict[str, list[np.ndarray]] = {"total": [], "W": [], "U": [], "c": []}
        X = check_inputs(X, self.d)
        for start in range(0, X.shape[0], chunk):
            gW, gU, gc = self.per_sample_gradients(X[start : start + chunk])
            sq = {
                k: g.reshape(g.shape[0], -1).pow(2).sum(1)
                for k, g in zip("WUc", (gW, gU, gc), strict=True)
            }
            out["total"].append((sq["W"] + sq["U"] + sq["c"]).sqrt().numpy())
            for k in "WUc":
                out[k].append(sq[k].sqrt().numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

    def jacobian_bound(self, rho: float = 0.0, token_norm: float = 1.0) -> float:
        """An upper bound on ``||grad_phi f(X; phi)||`` over every ``phi`` in the projection set
        and every input whose tokens have norm ``<= token_norm``. It does not depend on ``T``.

        Per head, ``|d f/d c_i| <= sup|sigma| / sqrt m``, ``||d f/d U_i|| <= |c_i| sup|sigma'|
        ||a|| / sqrt m`` and ``||d f/d W_i||_F <= |c_i| sup|sigma'| ||Cov_alpha(X) U_i|| ||x_T|| /
        sqrt m``; ``a`` is a convex combination of tokens (``||a|| <= B``) and ``Cov_alpha(X)``
        is the covariance of the tokens under the attention weights (operator norm ``<= B^2``).
        ``rho = 0`` gives the bound at the initial point.
        """
        r = positive_float("rho", rho, allow_zero=True) / math.sqrt(self.m)
        B = positive_float("token_norm", token_norm)
        act = self.activation
        c_max = self.c0.abs() + r
        U_max = self.U0.norm(dim=1) + r
        per_head = act.sup**2 + c_max**2 * act.sup_derivative**2 * (B**2 + B**6 * U_max**2)
        return float(per_head.mean().sqrt())


def step_size(steps: int, scale: float = 1.75) -> float:
    """The paper's constant step size ``scale / sqrt(K)`` for ``K`` steps."""
    return positive_float("eta_scale", scale) / math.sqrt(positive_int("steps", steps))


def adversarial_displacement(
    model: ShallowTransformer, X: torch.Tensor, rho: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A displacement on the boundary of the projection set that the linearisation handles
    worst: ``Delta c_i = rho/sqrt m`` and ``Delta U_i``, ``Delta W_i`` of norm ``rho/sqrt m``
    along ``grad_{U_i, W_i} sum_b h_i(X_b)``, so that every head's output moves up."""
    X = check_inputs(X, model.d).to(model.dtype)
    r = radius(rho) / math.sqrt(model.m)
    W0, U0 = (t.detach().clone().requires_grad_(True) for t in (model.W0, model.U0))
    s, _, _ = head_outputs(X, W0, U0, model.attention)
    gW, gU = torch.autograd.grad(model.activation(s).sum(), (W0, U0))

    def on_sphere(g: torch.Tensor) -> torch.Tensor:
        flat = g.reshape(model.m, -1)
        return (r * flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-300)).reshape(g.shape)

    return on_sphere(gW), on_sphere(gU), torch.full_like(model.c0, r)


def linearisation_error(model: ShallowTransformer, X: torch.Tensor, rho: float) -> float:
    """Mean over inputs of ``|f(phi_0 + Delta) - f_lin(phi_0 + Delta)|`` for the adversarial
    ``Delta`` of :func:`adversarial_displacement` (the model is left at its initial point)."""
    delta = adversarial_displacement(model, X, rho)
    lin = model.linearised(X, delta)
    model.set_parameters(*(p0 + dp for p0, dp in zip(model.initial(), delta, strict=True)))
    with torch.no_grad():
        moved = model(X)
    model.reset()
    return float((moved - lin).abs().mean())


@dataclass
class TrainResult:
    """Losses and gradient norms along a full-batch (projected) gradient-descent run."""

    train_loss: np.ndarray
    val_loss: np.ndarray
    grad_norms: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def min_train(self) -> float:
        """The paper's metric: the minimum training loss over the run."""
        return float(np.min(self.train_loss))

    @property
    def min_val(self) -> float:
        return float(np.min(self.val_loss)) if len(self.val_loss) else float("nan")

    def block_max(self, name: str, block: int) -> np.ndarray:
        """Maximum of the gradient norm of ``name`` within consecutive blocks of ``block`` steps."""
        g = self.grad_norms[name]
        n = len(g) // block * block or len(g)
        return g[:n].reshape(-1, min(block, n)).max(axis=1)


def train_projected_gd(
    model,
    X: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    eta: float,
    rho: float | None,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    divergence_limit: float = 1e6,
) -> TrainResult:
    """Full-batch gradient descent on ``mean (f(X_j) - y_j)^2`` (no 1/2, as in the paper),
    each step followed by ``model.project_(rho)`` (``rho=None``: plain gradient descent).

    ``model`` is a :class:`ShallowTransformer` or a :class:`tltlib.kernel.recurrent.IndRNN`: it has
    ``parameters()``, ``project_`` and optionally ``block_names`` and ``loss_and_grads``
    (hand-written gradients, used instead of autograd when present). Records the training loss before
    each step, the validation loss and the norm of the loss gradient of every block.
    """
    steps = positive_int("steps", steps)
    eta = positive_float("eta", eta)
    if rho is not None:
        radius(rho)
    params = model.parameters()
    names = getattr(model, "block_names", ("W", "U", "c"))
    y = y.to(model.dtype)
    train, val = np.empty(steps), []
    grads = {k: np.empty(steps) for k in names}
    dryrun.checkpoint("train_projected_gd")
    for k in range(steps):
        if hasattr(model, "loss_and_grads"):
            loss, gs = model.loss_and_grads(X, y)
        else:
            loss = F.mse_loss(model(X), y)
            gs = torch.autograd.grad(loss, params)
        value = float(loss.detach())
        if not (value < divergence_limit):
            raise DivergenceError(
                f"gradient descent diverged at step {k} (loss {value:.3g}) with eta={eta:g}; "
                f"use a smaller eta (the paper's rule is eta = 1.75/sqrt(steps))"
            )
        train[k] = value
        for name, g in zip(names, gs, strict=True):
            grads[name][k] = float(g.norm())
        with torch.no_grad():
            for p, g in zip(params, gs, strict=True):
                p.sub_(eta * g)
            if rho is not None:
                model.project_(rho)
            if X_val is not None:
                val.append(float(F.mse_loss(model(X_val), y_val.to(model.dtype))))
    settings = {"steps": steps, "eta": eta, "rho": rho, "n": len(y)}
    return TrainResult(train, np.asarray(val), grads, settings)
