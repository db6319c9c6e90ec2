"""Example 2.2 in its natural form: a Kipf-Welling graph convolution, built with networkx.

A graph convolution layer (Kipf and Welling) maps node features ``H`` (one row per node) to
``sigma(A_hat H Theta)`` with the *renormalised* adjacency
``A_hat = D~^-1/2 (A + I) D~^-1/2`` (``D~`` the degrees of ``A + I``) and a weight matrix
``Theta`` of shape ``d x M``. With the nodes as the columns of ``X = H^T`` this is
``sigma(V* X A_hat)`` with ``V* = Theta^T`` (``A_hat`` is symmetric): the teacher form
``sigma(V* X S*)`` with ``S* = A_hat``. It is *in the teacher class* only when every column
of ``A_hat`` has ``K`` equal non-zero entries, that is when the graph is ``(K-1)``-regular;
then ``A_hat = (A + I)/K``.

For other graphs :meth:`GraphConv.as_target` still gives the map in bilinear form, as an
:class:`OutsideTarget`, which the trainers accept but the theorem does not cover.
:func:`best_attainable` computes how close the position-only student can get to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from tltlib.core.checks import Check, CheckLog
from tltlib.core.fits import SlopeFit, loglog_slope
from tltlib.core.history import Run
from tltlib.core.seeding import stream_seed
from tltlib.core.validate import in_range, one_of, positive_int
from tltlib.model.activations import Activation, get_activation
from tltlib.model.teachers import DTYPE, Teacher, check_inputs, graph_scores, value_matrix

GRAPHS = ("cycle", "random_regular", "erdos_renyi", "path", "star")
IRREGULAR_GRAPHS = ("erdos_renyi", "path", "star")


def make_graph(kind: str, D: int, K: int, seed: int = 0) -> nx.Graph:
    """A graph on the nodes ``0 .. D-1`` made by networkx.

    ``"cycle"``: the cycle graph (2-regular, so ``K = 3``; the paper's sets 3-4);
    ``"random_regular"``: a uniformly random ``(K-1)``-regular graph (needs ``K < D`` and
    ``(K-1) D`` even); ``"erdos_renyi"``: ``G(D, p)`` with mean degree ``K-1``
    (``p = (K-1)/(D-1)``), not regular in general; ``"path"`` and ``"star"``: two non-regular
    graphs (``K`` is ignored). Random graphs draw from the seed's ``"graph"`` stream.
    """
    kind = one_of("graph", kind, GRAPHS)
    D = positive_int("D", D, minimum=4)
    K = positive_int("K", K)
    rng_seed = stream_seed(seed, "graph")
    if kind == "cycle":
        if K != 3:
            raise ValueError(
                f"K must be 3 for graph='cycle' (every node of a cycle has 2 neighbours, "
                f"so each column of A + I has 3 non-zeros), got K={K}"
            )
        return nx.cycle_graph(D)
    if kind == "random_regular":
        if K >= D:
            raise ValueError(
                f"K must be smaller than D for graph='random_regular' (a (K-1)-regular graph on "
                f"D nodes needs K-1 < D, and the teacher class needs K < D), got K={K}, D={D}"
            )
        if (K - 1) * D % 2:
            raise ValueError(
                f"K does not fit D for graph='random_regular': no ({K - 1})-regular graph exists "
                f"on D={D} nodes, because (K-1)*D = {(K - 1) * D} is odd (the degrees of a graph "
                f"sum to twice its number of edges); use an odd K or an even D"
            )
        return nx.random_regular_graph(K - 1, D, seed=rng_seed)
    if kind == "erdos_renyi":
        if K > D:
            raise ValueError(f"K must be at most D for graph='erdos_renyi', got K={K}, D={D}")
        return nx.gnp_random_graph(D, (K - 1) / (D - 1), seed=rng_seed)
    if kind == "path":
        return nx.path_graph(D)
    return nx.star_graph(D - 1)


def is_regular(graph: nx.Graph) -> bool:
    """True if every node has the same degree."""
    return len({deg for _, deg in graph.degree()}) == 1


def normalized_adjacency(graph: nx.Graph) -> torch.Tensor:
    """Kipf and Welling's ``D~^-1/2 (A + I) D~^-1/2``, from networkx.

    networkx's symmetric normalised Laplacian of the graph with a self-loop at every node is
    ``I - D~^-1/2 (A + I) D~^-1/2`` (its degrees are those of ``A + I``), so the renormalised
    adjacency is ``I`` minus it. Nodes are in sorted order, as in
    :func:`tltlib.model.teachers.graph_scores`.
    """
    looped = nx.Graph(graph)
    looped.add_edges_from((n, n) for n in looped.nodes)
    nodes = sorted(looped.nodes)
    L = nx.normalized_laplacian_matrix(looped, nodelist=nodes).toarray()
    return torch.eye(len(nodes), dtype=DTYPE) - torch.as_tensor(L, dtype=DTYPE)


@dataclass(frozen=True)
class OutsideTarget(Teacher):
    """``sigma(V* X S)`` for a score matrix ``S`` that need not be in the teacher class.

    It has the teacher's interface, so the trainers and the exact losses (which never use the
    column structure of ``S*``) run on it; Theorem 3.1 and its checks do not apply. ``K`` is the
    largest number of non-zeros in a column.
    """

    @staticmethod
    def _support_size(S: torch.Tensor) -> int:
        return int((S != 0).sum(dim=0).max())

    def with_activation(self, activation: str | Activation, leaky_slope: float = 0.1) -> Teacher:
        act = get_activation(activation, leaky_slope)
        return OutsideTarget(self.V_star, self.S_star, act, name=self.name)


@dataclass(frozen=True)
class GraphConv:
    """One Kipf-Welling layer ``H -> sigma(A_hat H Theta)`` on a fixed graph (no bias)."""

    graph: nx.Graph
    weight: torch.Tensor  # Theta, shape (d, M)
    activation: Activation

    def __post_init__(self) -> None:
        if self.weight.ndim != 2:
            raise ValueError(f"weight must have shape (d, M), got {tuple(self.weight.shape)}")
        if sorted(self.graph.nodes) != list(range(self.graph.number_of_nodes())):
            raise ValueError("graph must have the nodes 0, 1, ..., D-1")
        object.__setattr__(self, "activation", get_activation(self.activation))

    @property
    def D(self) -> int:
        return self.graph.number_of_nodes()

    @property
    def regular(self) -> bool:
        return is_regular(self.graph)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Node features ``X`` of shape ``(..., d, D)`` (columns = nodes) to ``(..., M, D)``.

        Computed the graph-network way: ``H = X^T`` has one row per node, the layer gives
        ``sigma(A_hat H Theta)`` with one row per node, transposed back to columns.
        """
        check_inputs(X, self.weight.shape[0], self.D)
        A_hat = normalized_adjacency(self.graph).to(X.dtype)
        H = X.transpose(-1, -2)
        return self.activation(A_hat @ H @ self.weight.to(X.dtype)).transpose(-1, -2)

    def as_teacher(self) -> Teacher:
        """The bilinear form ``sigma(V* X S*)`` with ``S* = (A + I)/K``; regular graphs only."""
        if not self.regular:
            degrees = sorted({deg + 1 for _, deg in self.graph.degree()})
            raise ValueError(
                f"graph must be regular for the graph convolution to be a teacher of "
                f"Theorem 3.1: entry (i, j) of its normalised adjacency is 1/sqrt(d_i d_j) "
                f"with node degrees {degrees} (self-loops counted), so its columns are not "
                f"1/K on K rows each. Use graph='cycle' or 'random_regular', or "
                f"GraphConv.as_target() to train outside the theorem"
            )
        return Teacher(
            self.weight.T.contiguous(), graph_scores(self.graph), self.activation, name="gcn"
        )

    def as_target(self) -> OutsideTarget:
        """The same map as ``sigma(V* X A_hat)`` for any graph (outside the class if irregular)."""
        V = self.weight.T.contiguous()
        return OutsideTarget(V, normalized_adjacency(self.graph), self.activation, name="gcn")


def graph_conv(
    graph: str,
    D: int,
    K: int,
    d: int,
    M: int,
    activation: str = "relu",
    seed: int = 0,
    leaky_slope: float = 0.1,
) -> GraphConv:
    """A graph convolution on the graph ``graph`` (see :func:`make_graph`) whose weights are
    the value matrix of :func:`tltlib.model.teachers.gcn_teacher` with the same seed."""
    V = value_matrix(M, d, seed)
    return GraphConv(make_graph(graph, D, K, seed), V.T, get_activation(activation, leaky_slope))


def outside_graph_conv(kind: str, D: int, K: int, d: int, M: int, seed: int = 0) -> GraphConv:
    """A graph convolution (identity activation) on a *non-regular* graph ``kind`` (one of
    :data:`IRREGULAR_GRAPHS`), outside the teacher class; same weights as :func:`graph_conv`."""
    kind = one_of("outside_graph", kind, IRREGULAR_GRAPHS)
    conv = graph_conv(kind, D, K, d, M, "identity", seed=seed)
    if conv.regular:
        raise ValueError(
            f"outside_graph={kind!r} drew a regular graph for seed={seed}, which is inside the "
            f"teacher class; use another seed or graph"
        )
    return conv


# --- how far the position-only student gets outside the class --------------------------


def _project_columns_to_simplex(Y: np.ndarray, total: float) -> np.ndarray:
    """Euclidean projection of every column of ``Y`` onto ``{b >= 0, sum b = total}``."""
    D = Y.shape[0]
    U = -np.sort(-Y, axis=0)
    css = np.cumsum(U, axis=0) - total
    ks = np.arange(1, D + 1)[:, None]
    cond = U - css / ks > 0
    rho = D - 1 - np.argmax(cond[::-1], axis=0)
    tau = css[rho, np.arange(Y.shape[1])] / (rho + 1)
    return np.maximum(Y - tau[None, :], 0.0)


@dataclass(frozen=True)
class Attainable:
    """The best the position-only student can do on an identity-activation target."""

    scores: torch.Tensor  # the best column-stochastic S, the limit of the student's attention
    value_scale: float  # the best W_V is value_scale * V*
    floor: float  # infimum of the excess loss over all students
    baseline: float  # excess loss of the zero student, 1/2 ||V*||^2 ||S_target||^2

    @property
    def explained(self) -> float:
        """Share of the target's output energy the best student reproduces, ``1 - floor/baseline``."""
        return 1.0 - self.floor / self.baseline

    def stable_step(self, fraction: float) -> float:
        """``fraction`` of the value block's stability bound at the limit, ``2/||S_best||_F^2``
        (for a teacher of the class, ``||S*||_F^2 = D/K`` and this is
        :func:`tltlib.model.theory.stable_step`). An irregular graph with isolated nodes has
        columns of ``S_best`` near one-hot, a larger ``||S_best||_F^2`` and a smaller bound than
        the teacher's: with the teacher's step the value block would stall at the edge of
        stability instead of converging."""
        fraction = in_range("eta_fraction", fraction, 0.0, 1.0)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"eta_fraction must be in (0, 1), got {fraction!r}")
        return fraction * 2.0 / float((self.scores.double() ** 2).sum())


def best_attainable(target: Teacher, iterations: int = 200) -> Attainable:
    """Infimum of the exact excess loss of the position-only student (identity activation).

    For a fixed ``S`` the best value matrix is ``W_V = V* <S, S_t>/||S||^2``, which leaves
    ``1/2 ||V*||^2 min_c ||c S - S_t||_F^2``. The student's ``S`` ranges over the
    column-stochastic matrices (the closure of the softmax image), so ``c S`` ranges over the
    convex cone of non-negative matrices whose columns all have the same sum, and the infimum is
    ``1/2 ||V*||^2`` times the squared distance from ``S_t`` to that cone. For each column sum
    ``c`` the columns are projected onto a scaled simplex; the distance is convex in ``c``, which
    a golden-section search finds. It is zero exactly when ``S_t`` is column-stochastic and
    non-negative up to a scale, as every teacher of the class is.
    """
    if not target.activation.is_identity:
        raise ValueError(
            f"best_attainable needs the identity activation (the loss is then bilinear), got "
            f"activation={target.activation.name!r}"
        )
    St = target.S_star.numpy()

    def dist2(c: float) -> float:
        return float(((_project_columns_to_simplex(St, c) - St) ** 2).sum())

    lo, hi = 0.0, 2.0 * float(max(St.sum(axis=0).max(), 1e-12))
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = dist2(a), dist2(b)
    for _ in range(positive_int("iterations", iterations)):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = dist2(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = dist2(b)
    c = (lo + hi) / 2.0
    S = _project_columns_to_simplex(St, c) / c
    V2 = float((target.V_star**2).sum())
    return Attainable(
        scores=torch.as_tensor(S, dtype=DTYPE),
        value_scale=float((S * St).sum() / (S * S).sum()),
        floor=0.5 * V2 * dist2(c),
        baseline=0.5 * V2 * float((St**2).sum()),
    )


def limit_metrics(best: Attainable) -> dict:
    """Metric for the trainers: ``limit_gap``, the distance ``||S - S_limit||_F``."""
    return {"limit_gap": lambda student: float(torch.linalg.norm(student.scores() - best.scores))}


def fit_asymptote(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y = a + b/t``: the level ``a`` that ``y`` approaches, and ``b``."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    if len(t) < 3:
        raise ValueError(f"fitting an asymptote needs at least 3 points, got {len(t)}")
    A = np.stack([np.ones_like(t), 1.0 / t], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(a), float(b)


def floor_gap_slope(run: Run, best: Attainable) -> SlopeFit:
    """Log-log slope of ``excess_loss - floor`` over ``[T/4, T]`` (about -1 when the student
    closes the gap to the floor like ``1/t``, as it closes the excess loss inside the class)."""
    t, e = run.history.window("excess_loss", max(1, run.history.steps[-1] // 4))
    return loglog_slope(t, e - best.floor)


def outside_checks(
    log: CheckLog,
    run: Run,
    best: Attainable,
    *,
    max_floor_gap_slope: float = -0.85,
    max_gap_slope: float = -0.4,
    prefix: str = "outside/",
) -> list[Check]:
    """Outside the teacher class (identity activation): the student stops at the floor that
    :func:`best_attainable` predicts, and nowhere better.

    No recorded excess loss may be below the floor. Over ``[T/4, T]`` the gap
    ``excess - floor`` must close at least like ``t^max_floor_gap_slope`` (inside the class the
    excess loss closes like ``1/t``; with a floor that is too low the gap levels off and its slope
    flattens). ``W_V`` stays proportional to ``V*`` (``1 - cos <= 1e-8``), and
    ``||S - S_limit||_F`` falls at least as fast as ``t^max_gap_slope`` (needs the ``limit_gap``
    metric of :func:`limit_metrics`). The level of an ``a + b/t`` fit is recorded for reference.
    """
    h = run.history
    start = max(1, h.steps[-1] // 4)
    t, e = h.window("excess_loss", start)
    level, _ = fit_asymptote(t, e)
    try:
        fit = floor_gap_slope(run, best)
        gap_slope, gap_stderr = fit.slope, fit.stderr
    except ValueError:  # the loss went below the given floor: no gap to fit
        gap_slope, gap_stderr = float("nan"), float("nan")
    checks = [
        log.at_least(
            f"{prefix}floor_lower_bound",
            "beyond the theorem: no recorded student beats the floor (min_t excess / floor)",
            float(h["excess_loss"].min() / best.floor) if best.floor > 0 else float("nan"),
            1.0,
            floor=best.floor,
            baseline=best.baseline,
            explained=best.explained,
        ),
        log.at_most(
            f"{prefix}floor_gap_slope",
            "beyond the theorem: the loss closes in on the floor like 1/t (slope of excess − floor)",
            gap_slope,
            max_floor_gap_slope,
            stderr=gap_stderr,
            excess_loss_final=h.final("excess_loss"),
            floor=best.floor,
            fitted_level_over_floor=level / best.floor if best.floor > 0 else float("nan"),
            window=[int(t[0]), int(t[-1])],
            steps=run.settings["steps"],
            eta=run.settings["eta"],
        ),
        log.close_to(
            f"{prefix}value_alignment",
            "beyond the theorem: W_V stays proportional to V* (1 - cos)",
            1.0 - float(h["cosine"][h["step"] >= 1].min()),
            0.0,
            1e-8,
        ),
    ]
    fit = loglog_slope(*h.window("limit_gap", start))
    checks.append(
        log.at_most(
            f"{prefix}limit_gap_slope",
            "beyond the theorem: S approaches the best column-stochastic S (slope of the gap)",
            fit.slope,
            max_gap_slope,
            stderr=fit.stderr,
        )
    )
    return checks
