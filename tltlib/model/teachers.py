"""The teacher class of the paper (eq. 2.1) and the four examples of Section 2.

A teacher is ``f*(X) = sigma(V* X S*)`` with ``X`` of shape ``d x D`` (columns are tokens),
a value matrix ``V*`` of shape ``M x d`` and a score matrix ``S*`` of shape ``D x D`` whose
every column has exactly ``K`` entries equal to ``1/K`` (the column's *support*) and zeros
elsewhere. The builders below give ``S*`` for a convolution with average pooling
(Example 2.1), a graph convolution on a regular graph (Example 2.2), sparse token
selection (Example 2.3) and the group-sparse linear predictor (Example 2.5), and
:func:`paper_set` gives the paper's six experimental sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.model.activations import Activation, get_activation

DTYPE = torch.float64


@dataclass(frozen=True)
class Teacher:
    """``f*(X) = sigma(V* X S*)`` with a column-uniform sparse ``S*`` (eq. 2.1)."""

    V_star: torch.Tensor
    S_star: torch.Tensor
    activation: Activation
    name: str = "teacher"
    K: int = field(init=False)

    def __post_init__(self) -> None:
        V, S = self.V_star, self.S_star
        if V.ndim != 2:
            raise ValueError(f"V_star must be a matrix of shape (M, d), got shape {tuple(V.shape)}")
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise ValueError(f"S_star must be a square (D, D) matrix, got shape {tuple(S.shape)}")
        if not torch.isfinite(V).all():
            raise ValueError("V_star must be finite")
        object.__setattr__(self, "K", self._support_size(S))
        object.__setattr__(self, "activation", get_activation(self.activation))

    @staticmethod
    def _support_size(S: torch.Tensor) -> int:
        """``K``: the common support size of the columns of ``S*`` (raises if not of the class)."""
        return _column_support_size(S)

    @property
    def M(self) -> int:
        return self.V_star.shape[0]

    @property
    def d(self) -> int:
        return self.V_star.shape[1]

    @property
    def D(self) -> int:
        return self.S_star.shape[0]

    @property
    def support(self) -> torch.Tensor:
        """Boolean ``D x D`` mask of the non-zero entries of ``S*``."""
        return self.S_star != 0

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Teacher output ``sigma(V* X S*)`` for ``X`` of shape ``(..., d, D)``."""
        check_inputs(X, self.d, self.D)
        V = self.V_star.to(X.dtype)
        S = self.S_star.to(X.dtype)
        return self.activation(V @ (X @ S))

    def with_activation(self, activation: str | Activation, leaky_slope: float = 0.1) -> Teacher:
        """The same ``V*`` and ``S*`` with another activation."""
        act = get_activation(activation, leaky_slope)
        return Teacher(self.V_star, self.S_star, act, name=self.name)


def check_inputs(X: torch.Tensor, d: int, D: int) -> None:
    """Raise a ``ValueError`` unless ``X`` has shape ``(..., d, D)``."""
    if X.ndim < 2 or X.shape[-2:] != (d, D):
        raise ValueError(f"X must have shape (..., d, D) = (..., {d}, {D}), got {tuple(X.shape)}")


def _column_support_size(S: torch.Tensor) -> int:
    D = S.shape[0]
    nonzero = S != 0
    counts = nonzero.sum(dim=0)
    K = int(counts[0])
    if not bool((counts == K).all()):
        raise ValueError("every column of S_star must have the same number K of non-zero entries")
    if not 1 <= K < D:
        raise ValueError(f"S_star must have 1 <= K < D non-zeros per column (D > K), got K={K}")
    if not torch.allclose(S[nonzero], torch.full_like(S[nonzero], 1.0 / K), rtol=0, atol=1e-12):
        raise ValueError(f"the non-zero entries of S_star must all equal 1/K = 1/{K}")
    return K


def scores_from_supports(supports: Sequence[Sequence[int]], D: int) -> torch.Tensor:
    """``S*`` whose column ``i`` is ``1/K`` on the rows ``supports[i]`` and zero elsewhere."""
    D = positive_int("D", D, minimum=2)
    if len(supports) != D:
        raise ValueError(f"supports must give one row set per column (D={D}), got {len(supports)}")
    S = torch.zeros(D, D, dtype=DTYPE)
    for i, rows in enumerate(supports):
        rows = sorted(set(int(r) for r in rows))
        if not rows:
            raise ValueError(f"the support of column {i} is empty")
        if rows[0] < 0 or rows[-1] >= D:
            raise ValueError(f"support rows must lie in [0, {D - 1}], column {i} has {rows}")
        S[rows, i] = 1.0 / len(rows)
    _column_support_size(S)
    return S


# --- Example 2.1: convolution + average pooling ---------------------------------------


def pooling_groups(D: int, K: int) -> list[list[int]]:
    """The partition of ``[D]`` into ``D/K`` groups of ``K`` consecutive patches (1-d pooling)."""
    D = positive_int("D", D, minimum=2)
    K = positive_int("K", K)
    if D % K or K == D:
        raise ValueError(
            f"K must be a divisor of D smaller than D (pooling groups partition the D patches), "
            f"got K={K} with D={D}; allowed: {[k for k in range(1, D) if D % k == 0]}"
        )
    return [list(range(j, j + K)) for j in range(0, D, K)]


def pooling_groups_2d(grid: tuple[int, int], pool: tuple[int, int]) -> list[list[int]]:
    """Pooling groups of ``pool``-sized blocks on a ``grid`` of patches, in row-major order."""
    gh, gw = (positive_int("grid", g) for g in grid)
    ph, pw = (positive_int("pool", p) for p in pool)
    if gh % ph or gw % pw:
        raise ValueError(f"pool {pool} must tile the patch grid {grid} exactly")
    groups = []
    for bi in range(0, gh, ph):
        for bj in range(0, gw, pw):
            groups.append([(bi + a) * gw + (bj + b) for a in range(ph) for b in range(pw)])
    return groups


def pooling_scores(groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """``S*`` of average pooling: column ``i`` is ``1_{g(i)}/K``, ``g(i)`` the group of patch ``i``."""
    D = sum(len(g) for g in groups)
    owner: dict[int, Sequence[int]] = {}
    for g in groups:
        for i in g:
            if i in owner:
                raise ValueError(f"pooling groups must be disjoint; patch {i} is in two groups")
            owner[i] = g
    if sorted(owner) != list(range(D)):
        raise ValueError(f"pooling groups must partition range({D})")
    return scores_from_supports([owner[i] for i in range(D)], D)


# --- Example 2.2: graph convolution on a regular graph --------------------------------


def graph_scores(graph: nx.Graph) -> torch.Tensor:
    """``S* = D^-1/2 (A + I) D^-1/2 = (A + I)/K`` of a ``(K-1)``-regular graph (Kipf-Welling).

    Regularity is what puts the graph convolution in the teacher class: only then are
    all non-zero entries of the normalised adjacency equal (to ``1/K``).
    """
    degrees = {deg for _, deg in graph.degree()}
    if len(degrees) != 1:
        raise ValueError(
            "graph must be regular (all degrees equal) for S* = (A + I)/K to be in the teacher "
            f"class; its degrees are {sorted(degrees)}"
        )
    D = graph.number_of_nodes()
    A = torch.as_tensor(nx.to_numpy_array(graph, nodelist=sorted(graph.nodes)), dtype=DTYPE)
    K = degrees.pop() + 1
    return (A + torch.eye(D, dtype=DTYPE)) / K


def cycle_scores(D: int) -> torch.Tensor:
    """``S*`` of the cycle graph on ``D`` nodes (``K = 3``): rows ``i-1, i, i+1`` of column ``i``."""
    D = positive_int("D", D, minimum=4)
    return graph_scores(nx.cycle_graph(D))


# --- Examples 2.3 and 2.5: sparse token selection, group-sparse linear predictor -------


def selection_scores(D: int, subset: Sequence[int]) -> torch.Tensor:
    """``S* = 1_g 1^T / K``: every column averages the same target rows ``g`` (Example 2.3)."""
    D = positive_int("D", D, minimum=2)
    subset = list(subset)
    return scores_from_supports([subset] * D, D)


def random_subset(D: int, K: int, seed: int, stream: str = "subset") -> list[int]:
    """A uniformly random ``K``-subset of ``range(D)``, sorted, from the seed's ``stream``."""
    D = positive_int("D", D, minimum=2)
    K = positive_int("K", K)
    if K >= D:
        raise ValueError(f"K must be smaller than D, got K={K} with D={D}")
    perm = torch.randperm(D, generator=generator(seed, stream))
    return sorted(int(i) for i in perm[:K])


def value_matrix(
    M: int, d: int, seed: int, fro_norm: float | None = None, stream: str = "V_star"
) -> torch.Tensor:
    """A random ``M x d`` value matrix with i.i.d. ``N(0, 1/d)`` entries.

    With ``fro_norm`` it is rescaled to that exact Frobenius norm (used by sweeps over
    ``||V*||_F``, which enters every rate of Theorem 3.1).
    """
    M, d = positive_int("M", M), positive_int("d", d)
    V = torch.randn(M, d, generator=generator(seed, stream), dtype=DTYPE) / d**0.5
    if fro_norm is not None:
        V = V * (positive_float("fro_norm", fro_norm) / torch.linalg.matrix_norm(V))
    return V


def cnn_teacher(
    D: int = 36,
    K: int = 4,
    d: int = 10,
    M: int = 8,
    activation: str = "relu",
    seed: int = 0,
    leaky_slope: float = 0.1,
) -> Teacher:
    """Example 2.1: ``M`` kernels over ``D`` patches, average pooling over ``K`` neighbours."""
    S = pooling_scores(pooling_groups(D, K))
    V = value_matrix(M, d, seed)
    return Teacher(V, S, get_activation(activation, leaky_slope), name="cnn")


def gcn_teacher(
    D: int = 20,
    d: int = 10,
    M: int = 8,
    activation: str = "relu",
    seed: int = 0,
    leaky_slope: float = 0.1,
) -> Teacher:
    """Example 2.2 on the cycle graph (``K = 3``)."""
    return Teacher(
        value_matrix(M, d, seed),
        cycle_scores(D),
        get_activation(activation, leaky_slope),
        name="gcn",
    )


def sts_teacher(D: int = 20, K: int = 4, d: int = 10, seed: int = 0) -> Teacher:
    """Example 2.3: average of a fixed random ``K``-subset of tokens, ``V* = I_d``, identity."""
    d = positive_int("d", d)
    S = selection_scores(D, random_subset(D, K, seed))
    return Teacher(torch.eye(d, dtype=DTYPE), S, get_activation("identity"), name="sts")


def gslp_teacher(D: int = 20, d: int = 10, seed: int = 0, i_star: int | None = None) -> Teacher:
    """Example 2.5: ``<v*, x_{i*}>``, ``M = 1``, ``K = 1``, identity activation."""
    D = positive_int("D", D, minimum=2)
    if i_star is None:
        i_star = random_subset(D, 1, seed, stream="i_star")[0]
    if isinstance(i_star, bool) or not isinstance(i_star, int) or not 0 <= i_star < D:
        raise ValueError(f"i_star must be an integer in [0, {D - 1}], got {i_star!r}")
    S = selection_scores(D, [i_star])
    return Teacher(value_matrix(1, d, seed), S, get_activation("identity"), name="gslp")


PAPER_SETS = {
    1: ("CNN-ReLU", dict(kind="cnn", D=36, K=4, activation="relu")),
    2: ("CNN-Leaky", dict(kind="cnn", D=36, K=4, activation="leaky_relu")),
    3: ("GCN-ReLU", dict(kind="gcn", D=20, K=3, activation="relu")),
    4: ("GCN-Leaky", dict(kind="gcn", D=20, K=3, activation="leaky_relu")),
    5: ("STS", dict(kind="sts", D=20, K=4, activation="identity")),
    6: ("GSLP", dict(kind="gslp", D=20, K=1, activation="identity")),
}


def paper_set(
    number: int, seed: int = 0, d: int = 10, M: int = 8, leaky_slope: float = 0.1
) -> Teacher:
    """The teacher of the paper's experimental set ``number`` (1-6, Section 4.1).

    ``d`` and ``M`` are not given in the paper; 10 and 8 are our defaults (STS uses
    ``M = d``, GSLP ``M = 1``, as their definitions require).
    """
    if number not in PAPER_SETS:
        raise ValueError(f"number must be one of {sorted(PAPER_SETS)}, got {number!r}")
    label, spec = PAPER_SETS[number]
    kind = spec["kind"]
    if kind == "cnn":
        t = cnn_teacher(spec["D"], spec["K"], d, M, spec["activation"], seed, leaky_slope)
    elif kind == "gcn":
        t = gcn_teacher(spec["D"], d, M, spec["activation"], seed, leaky_slope)
    elif kind == "sts":
        t = sts_teacher(spec["D"], spec["K"], d, seed)
    else:
        t = gslp_teacher(spec["D"], d, seed)
    return Teacher(t.V_star, t.S_star, t.activation, name=label)
