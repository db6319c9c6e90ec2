import networkx as nx
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from tltlib.examples import gcn
from tltlib.model import teachers
from tltlib.model.losses import excess_loss_from
from tltlib.model.student import PositionOnlyTransformer


def random_regular_shape(rng):
    """A random (D, K) for which a (K-1)-regular graph on D nodes exists, K < D."""
    D = int(rng.integers(4, 13))
    K = int(rng.integers(1, D))
    if (K - 1) * D % 2:
        K = K + 1 if K + 1 < D else K - 1
    return D, K


@pytest.mark.parametrize("trial", range(12))
def test_natural_form_equals_bilinear_form(trial):
    rng = np.random.default_rng(100 + trial)
    D, K = random_regular_shape(rng)
    d, M = int(rng.integers(1, 8)), int(rng.integers(1, 6))
    act = ["identity", "relu", "leaky_relu"][trial % 3]
    conv = gcn.graph_conv("random_regular", D, K, d, M, act, seed=trial)
    teacher = conv.as_teacher()
    assert teacher.K == K and teacher.D == D
    X = torch.randn(9, d, D, dtype=torch.float64, generator=torch.Generator().manual_seed(trial))
    assert torch.allclose(conv(X), teacher(X), atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", ["erdos_renyi", "path", "star", "cycle"])
def test_outside_target_is_the_layer_on_any_graph(kind):
    conv = gcn.graph_conv(kind, 11, 3, 4, 3, "relu", seed=2)
    X = torch.randn(6, 4, 11, dtype=torch.float64)
    assert torch.allclose(conv(X), conv.as_target()(X), atol=1e-10, rtol=0)


def test_normalized_adjacency_is_kipf_welling():
    G = nx.gnp_random_graph(9, 0.3, seed=4)
    A = nx.to_numpy_array(G, nodelist=range(9)) + np.eye(9)
    deg = A.sum(axis=1)
    expected = A / np.sqrt(np.outer(deg, deg))
    assert np.allclose(gcn.normalized_adjacency(G).numpy(), expected, atol=1e-14)
    # regular graph: (A + I)/K, the teacher's S*
    C = nx.cycle_graph(7)
    assert torch.allclose(gcn.normalized_adjacency(C), teachers.graph_scores(C), atol=1e-14)


def test_cycle_is_the_paper_teacher():
    conv = gcn.graph_conv("cycle", 20, 3, 10, 8, "relu", seed=0)
    paper = teachers.paper_set(3, seed=0)
    t = conv.as_teacher()
    assert torch.equal(t.S_star, paper.S_star) and torch.equal(t.V_star, paper.V_star)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gcn.make_graph("cycle", 10, 4), "K must be 3 for graph='cycle'"),
        (lambda: gcn.make_graph("random_regular", 9, 4, 0), r"K does not fit D.*\(K-1\)\*D = 27"),
        (lambda: gcn.make_graph("random_regular", 9, 4, 0), r"no \(3\)-regular graph exists"),
        (lambda: gcn.make_graph("random_regular", 6, 6, 0), "K must be smaller than D"),
        (lambda: gcn.make_graph("random_regular", 6, 0, 0), "K must be an integer >= 1"),
        (lambda: gcn.make_graph("grid", 6, 3, 0), "graph must be one of"),
        (lambda: gcn.make_graph("cycle", 3, 3, 0), "D must be an integer >= 4"),
        (lambda: gcn.graph_conv("star", 8, 3, 2, 2).as_teacher(), "graph must be regular"),
        (lambda: gcn.outside_graph_conv("cycle", 8, 3, 2, 2), "outside_graph must be one of"),
        (lambda: gcn.best_attainable(teachers.paper_set(3)), "identity activation"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_odd_degree_regular_graph_on_odd_nodes_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="degrees of a graph sum to twice its number of edges"):
        gcn.make_graph("random_regular", 21, 4, 0)


def test_non_regular_error_says_why():
    conv = gcn.outside_graph_conv("erdos_renyi", 20, 3, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"1/sqrt\(d_i d_j\).*not\s+1/K on K rows"):
        conv.as_teacher()


def test_best_attainable_is_zero_inside_the_class():
    t = gcn.graph_conv("random_regular", 10, 4, 3, 2, "identity", seed=1).as_teacher()
    best = gcn.best_attainable(t)
    assert best.floor < 1e-12
    assert torch.allclose(best.scores, t.S_star, atol=1e-8)
    assert best.value_scale == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("kind", ["erdos_renyi", "star", "path"])
def test_best_attainable_matches_a_numerical_optimum(kind):
    """The floor equals the minimum of the exact loss over (W_V, logits), found by L-BFGS."""
    target = gcn.outside_graph_conv(kind, 8, 3, 3, 2, seed=3).as_target()
    best = gcn.best_attainable(target)
    assert best.floor > 1e-4
    M, d, D = target.M, target.d, target.D

    def f(theta):
        p = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        W = p[: M * d].reshape(M, d)
        S = torch.softmax(p[M * d :].reshape(D, D), dim=0)
        loss = excess_loss_from(W, S, target)
        (g,) = torch.autograd.grad(loss, p)
        return float(loss.detach()), g.numpy()

    # start from the predicted optimum, softened (the limit has zeros a softmax cannot reach)
    logits = torch.log(best.scores + 1e-6).flatten()
    W0 = (best.value_scale * target.V_star).flatten()
    x0 = torch.cat([W0 + 0.1, logits]).numpy()
    res = minimize(f, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-12})
    assert res.fun >= best.floor * (1 - 1e-9)
    assert res.fun == pytest.approx(best.floor, rel=2e-3)


def test_floor_is_a_lower_bound_for_random_students():
    target = gcn.outside_graph_conv("erdos_renyi", 10, 3, 3, 2, seed=0).as_target()
    best = gcn.best_attainable(target)
    for seed in range(20):
        student = PositionOnlyTransformer.random(target, seed=seed, logit_scale=3.0)
        loss = float(excess_loss_from(student.W_V, student.scores(), target))
        assert loss >= best.floor


def test_projection_onto_scaled_simplex():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(6, 5))
    B = gcn._project_columns_to_simplex(Y, 2.0)
    assert np.allclose(B.sum(axis=0), 2.0) and (B >= 0).all()
    # optimality: no random feasible point of the simplex is closer
    for _ in range(200):
        Z = rng.dirichlet(np.ones(6), size=5).T * 2.0
        assert ((Z - Y) ** 2).sum(axis=0).min() >= ((B - Y) ** 2).sum(axis=0).min() - 1e-12
