import networkx as nx
import pytest
import torch

from tltlib.model import teachers
from tltlib.model.teachers import Teacher


def test_pooling_scores_are_block_diagonal():
    S = teachers.pooling_scores(teachers.pooling_groups(6, 2))
    expected = torch.block_diag(*[torch.full((2, 2), 0.5, dtype=torch.float64)] * 3)
    assert torch.equal(S, expected)


def test_pooling_groups_2d_row_major():
    groups = teachers.pooling_groups_2d((4, 4), (2, 2))
    assert groups[0] == [0, 1, 4, 5]
    assert groups[-1] == [10, 11, 14, 15]


@pytest.mark.parametrize("number", range(1, 7))
def test_paper_sets(number):
    t = teachers.paper_set(number, seed=0)
    _label, spec = teachers.PAPER_SETS[number]
    assert t.D == spec["D"] and t.K == spec["K"] and t.activation.name == spec["activation"]
    assert torch.allclose(t.S_star.sum(0), torch.ones(t.D, dtype=torch.float64))


def test_cycle_scores_tridiagonal():
    S = teachers.cycle_scores(6)
    assert S[5, 0] == S[0, 0] == S[1, 0] == pytest.approx(1 / 3)
    assert S[2, 0] == 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: teachers.pooling_groups(36, 5), "K must be a divisor of D"),
        (lambda: teachers.pooling_groups(0, 1), "D must be an integer"),
        (lambda: teachers.random_subset(4, 4, 0), "K must be smaller than D"),
        (lambda: teachers.gslp_teacher(D=5, i_star=5), "i_star must be an integer in"),
        (lambda: teachers.graph_scores(nx.star_graph(4)), "graph must be regular"),
        (lambda: teachers.cnn_teacher(activation="tanh"), "activation must be one of"),
        (lambda: teachers.paper_set(7), "number must be one of"),
        (lambda: teachers.scores_from_supports([[0], []], 2), "support of column 1 is empty"),
        (lambda: teachers.value_matrix(2, 3, 0, fro_norm=-1.0), "fro_norm must be"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_teacher_rejects_non_uniform_columns():
    S = torch.eye(3, dtype=torch.float64)
    S[0, 1] = 0.5
    with pytest.raises(ValueError, match="same number K"):
        Teacher(torch.ones(1, 1, dtype=torch.float64), S, "identity")


def test_teacher_rejects_wrong_input_shape(small_teacher):
    with pytest.raises(ValueError, match=r"X must have shape \(\.\.\., d, D\)"):
        small_teacher(torch.zeros(4, 3, 7, dtype=torch.float64))


def test_value_matrix_norm_and_streams():
    V = teachers.value_matrix(4, 5, seed=3, fro_norm=2.0)
    assert float(torch.linalg.norm(V)) == pytest.approx(2.0)
    assert torch.equal(teachers.value_matrix(4, 5, 3), teachers.value_matrix(4, 5, 3))
    assert not torch.equal(teachers.value_matrix(4, 5, 3), teachers.value_matrix(4, 5, 4))
