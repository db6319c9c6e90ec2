"""The recurrent baseline of Arda, Cayci & Eryilmaz (2026): an IndRNN on an AR(L) series.

The IndRNN has ``m`` independent units, ``h_t = sigma(W_in x_t + u * h_{t-1})`` from
``h_0 = 0``, and reads out ``f = (1/sqrt m) c^T h_T``. Its derivative with respect to the
recurrent weights ``u`` runs back through the sequence; each step multiplies by
``u_i sigma'(.)``, so the worst case over a length-``T`` sequence is ``(|u| L_sigma)^T``,
``1.5^T`` at the paper's ``|u_i| = 1.5`` (``L_sigma = 1`` for tanh). The transformer's
attention reads every token directly, and its constants do not depend on ``T``.

The task: ``x_t = 0.9 x_{t-L} + eps_t`` (``eps_t ~ N(0, 0.1)``); windows of ``T = L + 1``
values plus 16 fixed sin/cos position channels predict the next value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import in_range, positive_float, positive_int
from tltlib.kernel.model import (
    DTYPE,
    ShallowTransformer,
    TrainResult,
    even_width,
    radius,
    smooth_activation,
    train_projected_gd,
)


class IndRNN:
    """Independent recurrent network with the paired initialisation (``f = 0`` at init):
    ``W_in`` entries ``N(0, 1)``, ``u_i = +-u_scale`` with equal probability, ``c``
    Rademacher; units ``i + m/2`` copy ``W_in``, ``u`` and flip ``c``."""

    block_names = ("W_in", "u", "c")

    def __init__(
        self,
        d: int,
        m: int,
        seed: int,
        stream: str = "rnn-init",
        u_scale: float = 1.5,
        activation: str = "tanh",
        dtype: torch.dtype = DTYPE,
    ):
        d, m = positive_int("d", d), even_width(m)
        self.u_scale = positive_float("u_scale", u_scale)
        self.activation = smooth_activation(activation)
        g = generator(seed, stream)
        half = m // 2
        W = torch.randn(half, d, generator=g, dtype=dtype)
        u = (torch.randint(0, 2, (half,), generator=g).to(dtype) * 2 - 1) * self.u_scale
        c = torch.randint(0, 2, (half,), generator=g).to(dtype) * 2 - 1
        init = (torch.cat([W, W]), torch.cat([u, u]), torch.cat([c, -c]))
        self.W0, self.u0, self.c0 = init
        self.W_in, self.u, self.c = (t.clone().requires_grad_(True) for t in init)

    @property
    def m(self) -> int:
        return self.u.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.u.dtype

    def parameters(self) -> list[torch.Tensor]:
        return [self.W_in, self.u, self.c]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        X = X.to(self.dtype)
        drive = torch.einsum("md,bdt->tbm", self.W_in, X)
        h = torch.zeros(X.shape[0], self.m, dtype=self.dtype)
        for t in range(X.shape[-1]):
            h = self.activation(drive[t] + self.u * h)
        return h @ self.c / math.sqrt(self.m)

    @torch.no_grad()
    def loss_and_grads(self, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list]:
        """``mean (f(X_b) - y_b)^2`` and its gradients by hand-written backpropagation through
        time (autograd spends most of its time on bookkeeping for the many small steps)."""
        X, y = X.to(self.dtype), y.to(self.dtype)
        act = self.activation
        r = math.sqrt(self.m)
        drive = torch.einsum("md,bdt->tbm", self.W_in, X).contiguous()
        hs = [torch.zeros(X.shape[0], self.m, dtype=self.dtype)]
        slopes = []  # sigma'(pre_t); for tanh it is 1 - h_t^2, no second tanh needed
        for t in range(X.shape[-1]):
            pre = torch.addcmul(drive[t], self.u, hs[-1])
            hs.append(act(pre))
            slopes.append(1 - hs[-1] ** 2 if act.name == "tanh" else act.derivative(pre))
        resid = hs[-1] @ self.c / r - y
        g_h = (2.0 / len(y)) * resid[:, None] * self.c / r
        g_c = (2.0 / len(y)) * (resid[:, None] * hs[-1]).sum(0) / r
        g_u = torch.zeros_like(self.u)
        g_drive = torch.empty_like(drive)
        for t in range(X.shape[-1] - 1, -1, -1):
            g_pre = g_h * slopes[t]
            g_u += (g_pre * hs[t]).sum(0)
            g_drive[t] = g_pre
            g_h = g_pre * self.u
        g_W = torch.einsum("tbm,bdt->md", g_drive, X)
        return (resid**2).mean(), [g_W, g_u, g_c]

    def jacobian_norms(self, X: torch.Tensor) -> dict[str, np.ndarray]:
        """Per-input ``||d f(X_b) / d u||``, the derivative that runs back through time."""
        X = X.to(self.dtype)
        r = math.sqrt(self.m)

        def single(u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            drive = self.W0 @ x
            h = torch.zeros(self.m, dtype=x.dtype)
            for t in range(x.shape[-1]):
                h = self.activation(drive[:, t] + u * h)
            return h @ self.c0 / r

        grads = torch.func.vmap(torch.func.grad(single), (None, 0))(self.u0, X)
        return {"u": grads.norm(dim=1).numpy()}

    @torch.no_grad()
    def project_(self, rho: float) -> None:
        """Per-unit balls of radius ``rho/sqrt(m)`` around the initial values."""
        r = radius(rho) / math.sqrt(self.m)
        for p, p0 in zip(self.parameters(), (self.W0, self.u0, self.c0), strict=True):
            diff = (p - p0).reshape(self.m, -1)
            scale = (r / diff.norm(dim=1).clamp_min(1e-300)).clamp(max=1.0)
            p.copy_(p0 + (diff * scale[:, None]).reshape(p.shape))


def worst_case_factor(T: int, u: float = 1.5, lipschitz: float = 1.0) -> float:
    """``(|u| L_sigma)^T``: how much a length-``T`` recurrence can amplify a derivative."""
    return (abs(u) * positive_float("lipschitz", lipschitz)) ** positive_int("T", T)


def positional_channels(T: int, pairs: int = 8, base_period: float = 32.0) -> torch.Tensor:
    """``(2 * pairs, T)`` fixed channels ``sin(2 pi t / p_k)``, ``cos(2 pi t / p_k)`` with
    periods ``p_k = base_period * 2^k``."""
    t = torch.arange(positive_int("T", T), dtype=DTYPE)
    omega = 2 * math.pi / (base_period * 2.0 ** torch.arange(positive_int("pairs", pairs)))
    angles = omega[:, None].to(DTYPE) * t[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)])


def ar_windows(
    n: int,
    L: int,
    seed: int,
    stream: str = "ar",
    coefficient: float = 0.9,
    noise_var: float = 0.1,
    burn_in: int = 800,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sliding windows of one AR(L) series ``x_t = coefficient x_{t-L} + eps_t``.

    Each input is ``(17, L + 1)``: the ``L + 1`` values and 16 position channels; the target
    is the next value, standardised over the ``n`` windows. The best possible mean squared
    error is ``1 - coefficient^2`` (the target is ``coefficient x_{t+1-L}`` plus fresh noise,
    and ``x_{t+1-L}`` is the window's second value).
    """
    n, L = positive_int("n", n), positive_int("L", L)
    coefficient = in_range("coefficient", coefficient, -0.999, 0.999)
    noise_var = positive_float("noise_var", noise_var)
    T = L + 1
    g = generator(seed, f"{stream}-L{L}")
    length = burn_in + n + T + L
    eps = torch.randn(length, generator=g, dtype=DTYPE) * math.sqrt(noise_var)
    x = torch.empty(length, dtype=DTYPE)
    x[:L] = torch.randn(L, generator=g, dtype=DTYPE)
    for start in range(L, length, L):  # one lag at a time: x[t] depends on x[t - L] only
        stop = min(start + L, length)
        x[start:stop] = coefficient * x[start - L : stop - L] + eps[start:stop]
    starts = burn_in + torch.arange(n)
    values = x[starts[:, None] + torch.arange(T)]
    y = x[starts + T]
    X = torch.cat([values[:, None, :], positional_channels(T).expand(n, -1, -1)], dim=1)
    return X, (y - y.mean()) / y.std(unbiased=False)


@dataclass
class LagResult:
    """One model on one lag: training record and parameter count."""

    model: str
    L: int
    run: TrainResult
    n_parameters: int
    grad_block: str

    def max_grad(self, block: int) -> float:
        """Mean over blocks of ``block`` steps of the per-block maximum gradient norm (the
        paper's "max Jacobian norm" curve, averaged over the run)."""
        return float(self.run.block_max(self.grad_block, block).mean())


def compare_on_lags(
    lags: list[int],
    n: int,
    m: int,
    steps: int,
    lr: float,
    seed: int,
    val_frac: float = 0.2,
    dtype: torch.dtype = torch.float32,
) -> list[LagResult]:
    """Train the transformer and the IndRNN (same width ``m``, same steps and step size, no
    projection, as in the paper's comparison) on AR(L) windows for every lag."""
    val_frac = in_range("val_frac", val_frac, 0.05, 0.5)
    out = []
    for L in lags:
        X, y = ar_windows(n, L, seed)
        X, y = X.to(dtype), y.to(dtype)
        perm = torch.randperm(n, generator=generator(seed, f"ar-split-L{L}"))
        n_val = int(val_frac * n)
        val, tr = perm[:n_val], perm[n_val:]
        d = X.shape[1]
        models = {
            "transformer": (
                ShallowTransformer.paired(d, m, seed, f"ar-tf-L{L}", dtype=dtype),
                "W",
            ),
            "IndRNN": (IndRNN(d, m, seed, f"ar-rnn-L{L}", dtype=dtype), "u"),
        }
        for name, (model, block) in models.items():
            run = train_projected_gd(model, X[tr], y[tr], steps, lr, None, X[val], y[val])
            out.append(LagResult(name, L, run, model.n_parameters(), block))
    return out


def lag_table(results: list[LagResult], block: int) -> dict[str, dict[str, np.ndarray]]:
    """``{model: {"L", "min_val", "max_grad", "n_parameters"}}`` arrays over the lags."""
    table: dict[str, dict[str, list]] = {}
    for r in results:
        row = table.setdefault(
            r.model, {"L": [], "min_val": [], "max_grad": [], "n_parameters": []}
        )
        row["L"].append(r.L)
        row["min_val"].append(r.run.min_val)
        row["max_grad"].append(r.max_grad(block))
        row["n_parameters"].append(r.n_parameters)
    return {k: {c: np.asarray(v) for c, v in row.items()} for k, row in table.items()}


def jacobians_by_lag(
    lags: list[int], n: int, m: int, seeds: int, seed: int
) -> dict[str, np.ndarray]:
    """Per-window derivative norms at the initialisation, lags (rows) x repetitions (columns):
    the transformer's ``W`` block (mean and max over ``n`` windows), its total norm's max and
    its analytic bound with the windows' largest token norm ``B`` (T-free), and the IndRNN's
    ``u`` block (mean and max), with the recurrence's worst case ``(|u| L_sigma)^(L+1)``."""
    shape = (len(lags), positive_int("seeds", seeds))
    keys = ("tf_W_mean", "tf_W_max", "tf_max", "tf_bound", "rnn_u_mean", "rnn_u_max")
    out = {k: np.empty(shape) for k in keys}
    for i, L in enumerate(lags):
        for j in range(seeds):
            X, _ = ar_windows(n, L, seed, f"ar-jacobian-{j}")
            d = X.shape[1]
            tf = ShallowTransformer.paired(d, m, seed, f"ar-jacobian-tf-{L}-{j}")
            J = tf.jacobian_norms(X)
            B = float(X.norm(dim=1).max())
            rnn = IndRNN(d, m, seed, f"ar-jacobian-rnn-{L}-{j}")
            Jr = rnn.jacobian_norms(X)["u"]
            row = {
                "tf_W_mean": J["W"].mean(),
                "tf_W_max": J["W"].max(),
                "tf_max": J["total"].max(),
                "tf_bound": tf.jacobian_bound(0.0, B),
                "rnn_u_mean": Jr.mean(),
                "rnn_u_max": Jr.max(),
            }
            for k, v in row.items():
                out[k][i, j] = v
    out["L"] = np.asarray(lags)
    out["rnn_worst_case"] = np.array([worst_case_factor(L + 1) for L in lags])
    return out
