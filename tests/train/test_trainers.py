import numpy as np
import pytest
import torch

from tltlib.core.errors import DivergenceError, StepSizeWarning
from tltlib.model import teachers
from tltlib.model.student import PositionOnlyTransformer, positional_encoding
from tltlib.train import reference
from tltlib.train.online import train_online
from tltlib.train.population import train_population


def test_population_trainer_follows_autograd(small_teacher):
    run = train_population(small_teacher, 0.3, 400, record=[400])
    ref = reference.population_gd(small_teacher, 0.3, 400, positional_encoding(8, "random", 0))
    assert torch.allclose(run.student.W_V, ref.W_V, atol=1e-12, rtol=0)
    assert torch.allclose(run.student.W_KQ, ref.W_KQ, atol=1e-10, rtol=0)


def test_online_trainer_follows_autograd(activation):
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation=activation, seed=2)
    P = positional_encoding(6, "dct")
    run = train_online(
        t, 0.2, 150, batch=8, noise=0.3, seed=5, encoding="dct", dtype=torch.float64, record=[150]
    )
    ref = reference.online_gd(t, 0.2, 150, P, batch=8, noise=0.3, seed=5)
    assert torch.allclose(run.student.W_V, ref.W_V, atol=1e-12, rtol=0)
    assert torch.allclose(run.student.W_KQ, ref.W_KQ, atol=1e-10, rtol=0)


def test_scores_do_not_depend_on_the_encoding(small_teacher):
    S = [
        reference.population_gd(small_teacher, 0.3, 200, positional_encoding(8, kind, 1)).scores()
        for kind in ("identity", "random", "dct")
    ]
    assert torch.allclose(S[0], S[1], atol=1e-12) and torch.allclose(S[0], S[2], atol=1e-12)


@pytest.mark.parametrize("kind", ["identity", "random", "dct"])
def test_encodings_are_orthogonal(kind):
    P = positional_encoding(7, kind, seed=2)
    assert torch.allclose(P.T @ P, torch.eye(7, dtype=torch.float64), atol=1e-12)


def test_same_seed_same_history():
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation="relu", seed=0)
    a = train_online(t, 0.2, 300, batch=10, seed=4).history.to_dict()
    b = train_online(t, 0.2, 300, batch=10, seed=4).history.to_dict()
    c = train_online(t, 0.2, 300, batch=10, seed=5).history.to_dict()
    assert a == b
    assert a != c


def test_relu_student_leaves_zero():
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation="relu", seed=0)
    run = train_online(t, 0.2, 50, batch=10, noise=0.0)
    assert run.history.final("cosine") > 0.9


def test_torch_relu_never_leaves_zero():
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation="relu", seed=0)
    s = reference.online_gd(
        t, 0.2, 30, positional_encoding(6, "identity"), batch=10, activation=torch.relu
    )
    assert float(s.W_V.abs().max()) == 0.0 and float(s.W_KQ.abs().max()) == 0.0


def test_population_divergence_names_eta(small_teacher):
    with pytest.raises(DivergenceError, match=r"eta=2\.5.*1/\(M D\^\(5/2\)\).*2/\(E\[sigma'\^2\]"):
        with pytest.warns(StepSizeWarning):
            train_population(small_teacher, 2.5, 1000)


def late_window_scores_norm2(teacher, eta, steps=20000, window=4000):
    """``||S||_F^2`` at each of the last ``window`` steps of exact GD, and the run.

    Recorded at every step: at the edge of stability the value block flips sign from step to
    step and ``||S||_F^2`` fluctuates by a few percent around its average.
    """
    S2 = {"S2": lambda student: float((student.scores() ** 2).sum())}
    run = train_population(
        teacher, eta, steps, record=list(range(steps - window + 1, steps + 1)), extra_metrics=S2
    )
    return np.asarray(run.history["S2"]), run


def window_mean(y):
    """The mean of a window of correlated steps and its standard error, by batch means: the
    largest over 10, 20 and 40 blocks (one block length may fit a period of the oscillation
    and understate the error)."""
    errors = []
    for blocks in (10, 20, 40):
        means = y[: len(y) // blocks * blocks].reshape(blocks, -1).mean(axis=1)
        errors.append(means.std(ddof=1) / np.sqrt(blocks))
    return float(y.mean()), max(errors)


def at_the_edge(y, eta):
    """Whether the window sits where the theory pins it: ``||S||_F^2 = 2/eta`` on average.

    Each step multiplies the value block's distance to its (slowly moving) fixed point by
    ``1 - eta ||S||_F^2``; GD stalls when these factors have geometric-mean modulus 1, i.e.
    ``mean log|eta ||S||_F^2 - 1| = 0``, which puts the time average at ``2/eta`` up to
    ``(eta/2) Var(||S||_F^2)``, second order in the fluctuation. Tolerance: four standard errors
    of the window mean plus that model error, both measured in the same window.
    """
    mean, se = window_mean(y)
    return abs(mean - 2 / eta) <= 4 * se + eta / 2 * float(y.var())


def test_large_eta_stalls_at_the_edge_of_stability(small_teacher):
    # 2K/D = 0.5 bounds the stable step of the value block at the optimum; above it GD
    # stops concentrating the attention where ||S||_F^2 = 2/eta. A single step's value is at
    # the mercy of rounding there (it differs by a few percent between CPUs); the time average
    # over a late window is what the theory pins.
    eta = 1.5
    with pytest.warns(StepSizeWarning, match="exceeds"):
        y, run = late_window_scores_norm2(small_teacher, eta)
    assert y.std() > 1e-3  # at the edge: ||S||_F^2 fluctuates from step to step
    assert at_the_edge(y, eta)
    assert run.history.final("excess_loss") > 1.0
    # the tolerance resolves the edge: 2/eta for a step 1 % larger is out of it
    assert not at_the_edge(y, 1.01 * eta)


def test_stable_eta_is_not_at_the_edge_of_stability(small_teacher):
    # the same measurement at a stable step (0.3 < 2K/D): ||S||_F^2 heads for ||S*||_F^2 = D/K,
    # far below 2/eta, and the excess loss goes to zero
    y, run = late_window_scores_norm2(small_teacher, 0.3)
    assert not at_the_edge(y, 0.3)
    assert run.history.final("excess_loss") < 0.01


def test_online_divergence_names_eta():
    t = teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="relu", seed=0)
    with pytest.raises(DivergenceError, match=r"eta=8"), pytest.warns(StepSizeWarning):
        train_online(t, 8.0, 5000, batch=10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(eta=-1.0), "eta must be a finite number > 0"),
        (dict(eta=float("nan")), "eta must be a finite number > 0"),
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(batch=0), "batch must be an integer >= 1"),
        (dict(noise=-0.1), "noise must be a finite number >= 0"),
        (dict(train_blocks=("keys",)), "train_blocks must be a non-empty subset"),
        (dict(encoding="sine"), "encoding must be one of"),
    ],
)
def test_online_rejects_bad_input(small_teacher, kwargs, match):
    args = dict(eta=0.1, steps=10) | kwargs
    with pytest.raises(ValueError, match=match):
        train_online(small_teacher, **args)


def test_student_rejects_non_orthogonal_encoding():
    with pytest.raises(ValueError, match="orthogonal"):
        PositionOnlyTransformer(torch.zeros(1, 1), torch.zeros(3, 3), 2 * torch.eye(3), "identity")


def test_log_steps_cover_the_run():
    from tltlib.core.history import log_steps

    t = log_steps(1000, per_decade=10)
    assert t[0] == 0 and t[-1] == 1000 and np.all(np.diff(t) > 0) and len(t) < 40
