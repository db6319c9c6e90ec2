"""The reduced dynamics of Theorem 3.1: exact gradient descent in a handful of scalars.

With the identity activation, Gaussian inputs and the zero initialisation, Lemma D.2 keeps
``W_V = C1 V*`` and the logits ``A = P^T W_KQ P / sqrt(D)`` two-valued: ``C2/sqrt(D)`` on the
support of ``S*`` and ``-C3/sqrt(D)`` off it. The logits of a column also keep summing to zero
(a softmax gradient has zero column sums), so ``K C2 = (D - K) C3`` and the whole state is
``C1`` and the *logit gap* ``g = (C2 + C3)/sqrt(D)``. With ``x = D - K``, ``e = exp(-g)``,
``v = ||V*||_F^2`` and ``delta = C1 - 1``, the attention is ``p = 1/(K + x e)`` on the support
and ``q = e p`` off it, and one step of the matrix GD of :mod:`tltlib.train.population` is exactly

    delta <- delta + eta D [ x e p^2 (1 - e) - s2 delta ],      s2 = p^2 (K + x e^2) = ||S||_F^2 / D
    g     <- g + (eta v / K) C1 p^2 e (C1 D e p - delta)

(both right-hand sides at the old state). They follow from ``grad_{W_V} = ||S||^2 W_V -
<S, S*> V*`` and from the softmax backward pass of ``grad_S = ||W_V||^2 S - <W_V, V*> S*``,
written so that nothing cancels when ``e`` is tiny (``1 - K p = x e p`` and so on). The
excess loss and the distances of Theorem 3.1 are functions of ``(delta, e)``:

    L - L_opt   = (D v / 2) [ p^2 (x e - K delta)^2 / K + C1^2 x e^2 p^2 ]
    ||S - S*||_F = D e p sqrt(x / K),     ||W_V - V*||_F = |delta| sqrt(v).

:func:`train_reduced` runs the map for many settings at once (arrays of ``D``, ``K``,
``eta`` and ``v``) in a compiled loop (numba). The loop over settings is the inner one and
vectorises (SIMD), with an ``exp`` written out so that the compiler can vectorise it too: a
batch of 8-16 settings costs about what one does, 10^7 steps take well under a second.

**The slow manifold** (our derivation, not the paper's). ``delta`` relaxes at rate
``eta D s2`` per step, fast next to the attention, so it sits at its fixed point for the
current ``e``, ``C1 = p / s2``. There ``dg/dt = eta v u / (K (K + x u)^2)`` with ``u = e^2``,
which integrates in closed form; the excess loss is ``D v x u / (2K (K + x u))``. Hence, for
``T -> infinity``,

    T (L - L_opt) -> D (D - K) K / (4 eta),   ||S - S*||_F ~ D sqrt((D-K) / (2 eta v T)),
    ||W_V - V*||_F ~ (D - K) sqrt(K / (2 eta T)),

the same powers of ``T``, ``eta``, ``K`` and ``||V*||_F`` as Theorem 3.1, but ``D^2`` where the
theorem has ``D^4`` (and ``D^{3/2}``, ``D`` where it has ``D^{5/2}``, ``D^2``). These closed
forms, the peak of ``C1``, ``T*`` and the phases of a run are in :mod:`tltlib.model.theory`
(``slow_manifold_time``, ``peak_C1``, ``half_time``, ``asymptotic_*_constant``, ``phases``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError, StepSizeWarning
from tltlib.core.history import History, record_steps
from tltlib.core.validate import one_of, positive_int
from tltlib.model.activations import get_activation
from tltlib.model.teachers import Teacher, random_subset, scores_from_supports, value_matrix
from tltlib.model.theory import eta_theorem_scale, value_norm2

LANES = 16  # settings are padded to a multiple of this (the vectorised loop body)
METRICS = (
    "excess_loss",
    "S_error",
    "WV_error",
    "cosine",
    "norm_ratio",
    "S_on",
    "S_off",
    "S_fro2",
    "C1",
    "C2",
    "C3",
    "gap",
)

# --- the map, written plainly (NumPy); the compiled kernel below repeats it ------------------


def step(
    delta: np.ndarray,
    gap: np.ndarray,
    D: np.ndarray,
    K: np.ndarray,
    eta: np.ndarray,
    v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of gradient descent on ``(delta, gap)`` (arrays broadcast); see the module doc."""
    x = D - K
    e = np.exp(-gap)
    p = 1.0 / (K + x * e)
    pp = p * p
    C1 = 1.0 + delta
    s2 = pp * (K + x * e * e)
    new_gap = gap + (eta * v / K) * C1 * pp * e * (C1 * D * e * p - delta)
    new_delta = delta + eta * D * (x * e * pp * (1.0 - e) - s2 * delta)
    return new_delta, new_gap


def metrics_from_state(
    delta: np.ndarray, gap: np.ndarray, D: np.ndarray, K: np.ndarray, v: np.ndarray
) -> dict[str, np.ndarray]:
    """Every recorded quantity from the state (arrays broadcast): the metrics of
    :func:`tltlib.model.metrics.measure` plus ``S_on`` (``p``), ``S_off`` (``q``), ``S_fro2``, ``C1-3``."""
    x = D - K
    e = np.exp(-gap)
    p = 1.0 / (K + x * e)
    C1 = 1.0 + delta
    with np.errstate(over="ignore", invalid="ignore"):
        excess = 0.5 * D * v * (p * p * (x * e - K * delta) ** 2 / K + C1 * C1 * x * (e * p) ** 2)
        return {
            "excess_loss": excess,
            "S_error": D * e * p * np.sqrt(x / K),
            "WV_error": np.abs(delta) * np.sqrt(v),
            "cosine": np.sign(C1),
            "norm_ratio": np.abs(C1),
            "S_on": p,
            "S_off": e * p,
            "S_fro2": D * p * p * (K + x * e * e),
            "C1": C1,
            "C2": x * gap / np.sqrt(D),
            "C3": K * gap / np.sqrt(D),
            "gap": gap,
        }


# --- the compiled kernel (tltlib/_reduced_kernel.py, imported on first use) ------------------

_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        try:
            from tltlib.train._reduced_kernel import kernel
        except ImportError as err:  # pragma: no cover - numba is a dependency (pyproject.toml)
            raise ImportError(
                "tltlib.train.reduced needs numba for its compiled loop (pip install numba)"
            ) from err
        _KERNEL = kernel
    return _KERNEL


# --- runs ----------------------------------------------------------------------------------


@dataclass
class ReducedRun:
    """Reduced dynamics for ``n`` settings, recorded at ``steps``: arrays ``(n, len(steps))``.

    ``run["excess_loss"]`` etc. (see :data:`METRICS`); ``run.history(i)`` is setting ``i`` as a
    :class:`~tltlib.core.history.History` (for :func:`tltlib.figures.curves.plot_curves`). ``t_half`` is the first
    step with ``p >= 1/(2K)`` (-1: never), ``C1_max`` / ``t_C1_max`` the peak of ``C1``, and
    ``diverged_at`` the first recorded step whose loss blew up (-1: none).
    """

    steps: np.ndarray
    D: np.ndarray
    K: np.ndarray
    eta: np.ndarray
    v: np.ndarray
    delta: np.ndarray
    gap: np.ndarray
    t_half: np.ndarray
    C1_max: np.ndarray
    t_C1_max: np.ndarray
    diverged_at: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.D)

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "step":
            return self.steps
        if not self._cache:
            col = lambda a: a[:, None]  # noqa: E731
            self._cache.update(
                metrics_from_state(self.delta, self.gap, col(self.D), col(self.K), col(self.v))
            )
        if name not in self._cache:
            raise KeyError(f"no metric {name!r}; recorded: {sorted(self._cache)}")
        return self._cache[name]

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def final(self, name: str) -> np.ndarray:
        """The metric at the last recorded step, one value per setting."""
        return self[name][:, -1]

    def history(self, i: int = 0) -> History:
        """Setting ``i`` as a :class:`History` with every metric of :data:`METRICS`."""
        h = History()
        h.steps = [int(t) for t in self.steps]
        h.values = {m: [float(y) for y in self[m][i]] for m in METRICS}
        return h

    def settings(self, i: int) -> dict[str, float]:
        return dict(D=int(self.D[i]), K=int(self.K[i]), eta=float(self.eta[i]), v=float(self.v[i]))


def _as_settings(D, K, eta, v) -> tuple[np.ndarray, ...]:
    arrays = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=float)) for a in (D, K, eta, v))
    )
    D, K, eta, v = (np.ascontiguousarray(a.ravel()) for a in arrays)
    for name, a in (("D", D), ("K", K)):
        if not (np.all(np.isfinite(a)) and np.all(a == np.round(a)) and np.all(a >= 1)):
            raise ValueError(f"{name} must hold integers >= 1, got {a[:8].tolist()}...")
    if np.any(K >= D):
        bad = int(np.argmax(K >= D))
        raise ValueError(f"K must be smaller than D (D > K), got K={K[bad]:g} with D={D[bad]:g}")
    for name, a in (("eta", eta), ("v", v)):
        if not (np.all(np.isfinite(a)) and np.all(a > 0)):
            raise ValueError(f"{name} must hold finite numbers > 0, got {a[:8].tolist()}...")
    return D, K, eta, v


def stability_bound(D, K) -> np.ndarray:
    """``2K/D``: above it the value block is unstable at the optimum (see :mod:`tltlib.model.theory`)."""
    return 2.0 * np.asarray(K, dtype=float) / np.asarray(D, dtype=float)


def train_reduced(
    D,
    K,
    eta,
    v,
    steps: int,
    *,
    record: int | Sequence[int] = 20,
    on_divergence: str = "raise",
    warn: bool = True,
) -> ReducedRun:
    """Exact GD from zero for every setting ``(D, K, eta, v = ||V*||_F^2)`` (arrays broadcast).

    Records at the steps of ``record`` (:func:`~tltlib.core.history.record_steps`). A setting whose loss exceeds
    ``10^6 (||V*||^2 ||S*||^2 + 1)`` at a recorded step has diverged: with
    ``on_divergence="raise"`` that raises :class:`DivergenceError` naming its ``eta``; with
    ``"mark"`` its values from then on are NaN and ``run.diverged_at`` says when. Warns
    (:class:`StepSizeWarning`) when some ``eta`` exceeds ``2K/D``, unless ``warn=False``.
    """
    D, K, eta, v = _as_settings(D, K, eta, v)
    steps = positive_int("steps", steps)
    on_divergence = one_of("on_divergence", on_divergence, ("raise", "mark"))
    record = record_steps(steps, record)
    bound = stability_bound(D, K)
    if warn and np.any(eta > bound):
        i = int(np.argmax(eta / bound))
        warnings.warn(
            f"eta={eta[i]:g} exceeds 2K/D = {bound[i]:.3g} (D={D[i]:g}, K={K[i]:g}): gradient descent "
            f"cannot reach S* (it stalls where ||S||_F^2 = 2/eta, or diverges)",
            StepSizeWarning,
            stacklevel=2,
        )
    n = len(D)
    pad = (-n) % LANES
    padded = [np.concatenate([a, np.repeat(a[-1:], pad)]) for a in (D, K, eta, v)]
    half = 1.0 / (2.0 * padded[1])
    dryrun.checkpoint("train_reduced")
    delta, gap, t_half, c1_max, t_c1 = _kernel()(*padded, np.ascontiguousarray(record), half)
    delta, gap = delta[:n], gap[:n]
    loss = metrics_from_state(delta, gap, D[:, None], K[:, None], v[:, None])["excess_loss"]
    limit = 1e6 * (v * D / K + 1.0)
    bad = ~(loss < limit[:, None])
    diverged_at = np.where(bad.any(axis=1), record[np.argmax(bad, axis=1)], -1)
    if on_divergence == "raise" and np.any(diverged_at >= 0):
        i = int(np.argmax(diverged_at >= 0))
        raise DivergenceError(
            f"gradient descent diverged by step {diverged_at[i]} with eta={eta[i]:g} (D={D[i]:g}, "
            f"K={K[i]:g}). Theorem 3.1 assumes eta <= O(1/(M D^(5/2))) (1/D^(5/2) = "
            f"{eta_theorem_scale(1, int(D[i])):.2g} for M = 1); near the optimum the value block "
            f"is stable only for eta < 2K/D = {bound[i]:.3g}, and from the uniform start only for "
            f"eta < 2. Use a smaller eta."
        )
    if np.any(bad):
        later = np.maximum.accumulate(bad, axis=1)
        delta = np.where(later, np.nan, delta)
        gap = np.where(later, np.nan, gap)
    return ReducedRun(
        record.copy(),
        D,
        K,
        eta,
        v,
        delta,
        gap,
        t_half[:n],
        c1_max[:n],
        t_c1[:n],
        diverged_at,
    )


def random_teacher(D: int, K: int, d: int, M: int, seed: int) -> Teacher:
    """An identity teacher whose column ``i`` averages its own random ``K``-subset of tokens.

    Any ``K < D`` works (pooling needs ``K | D``): the reduced dynamics see only ``D``, ``K``
    and ``||V*||_F``, whatever the supports are.
    """
    supports = [random_subset(D, K, seed, stream=f"support-{i}") for i in range(D)]
    return Teacher(
        value_matrix(M, d, seed),
        scores_from_supports(supports, D),
        get_activation("identity"),
        name="random supports",
    )


def for_teacher(teacher: Teacher, eta: float, steps: int, **kwargs) -> ReducedRun:
    """:func:`train_reduced` for one teacher (identity activation: Lemma D.2 needs it)."""
    if not teacher.activation.is_identity:
        raise ValueError(
            f"the reduced dynamics need the identity activation, got "
            f"activation={teacher.activation.name!r}"
        )
    return train_reduced(teacher.D, teacher.K, eta, value_norm2(teacher), steps, **kwargs)
