"""The measurements behind chapter 08's checks, on hand-made inputs and score matrices."""

import warnings

import matplotlib
import pytest
import torch

from tltlib.claims import images as image_claims
from tltlib.core.history import History, Run
from tltlib.figures import images as image_plots
from tltlib.model.student import PositionOnlyTransformer
from tltlib.model.teachers import Teacher, pooling_groups_2d, pooling_scores

matplotlib.use("Agg")
S_STAR = pooling_scores(pooling_groups_2d((9, 9), (3, 3)))


def inputs_with_blank_left_edge(n=50):
    X = torch.rand(n, 9, 81, dtype=torch.float64) + 0.1
    X[:, :, ::9] = 0.0  # patches 0, 9, ..., 72: the left column of the 9 x 9 grid
    X[0, 0, 9] = 1.0  # patch 9 has ink in one image out of 50
    return X


def test_zero_fraction_energy_and_blank_patches():
    X = inputs_with_blank_left_edge()
    zero = image_claims.zero_fraction(X)
    assert float(zero[0]) == 1.0 and float(zero[9]) == pytest.approx(0.98) and float(zero[1]) == 0
    assert float(image_claims.energy_share(X).mean()) == pytest.approx(1.0)
    assert image_claims.blank_patches(X, 0.99).sum() == 8
    assert image_claims.blank_patches(X, 0.98).sum() == 9
    with pytest.raises(ValueError, match="blank_threshold: only 0 patches"):
        image_claims.blank_patches(X + 1.0, 0.99, minimum_count=2)
    with pytest.raises(ValueError, match="blank_threshold must be a number in"):
        image_claims.blank_patches(X, 1.5)
    assert "8 blank patches" in image_claims.blank_summary(X, image_claims.blank_patches(X))


def student_scores(gap: float, blank: torch.Tensor) -> torch.Tensor:
    """Logits ``gap`` on the pooling groups, except on blank rows, which all get ``gap / 2``."""
    A = gap * (S_STAR > 0).double()
    A[blank] = gap / 2
    return torch.softmax(A, dim=0)


def test_topk_and_contrast_on_hand_made_scores():
    blank = torch.zeros(81, dtype=torch.bool)
    blank[::9] = True
    S = student_scores(5.0, blank)
    assert image_claims.foreground_topk(S, S_STAR, blank) == 1.0
    # blank rows sit below the group in every column: the full top-K criterion fails on the
    # 27 columns of the three left-hand pooling blocks
    assert image_claims.full_topk(S, S_STAR) == pytest.approx(54 / 81)
    low, high, n = image_claims.group_contrast(S, S_STAR, blank)
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0) and n == 27
    ink_low, _, _ = image_claims.group_contrast(S, S_STAR, ~blank)
    assert ink_low == pytest.approx(torch.e**5)
    uniform = torch.full((81, 81), 1 / 81, dtype=torch.float64)
    assert image_claims.foreground_topk(uniform + 1e-9 * torch.rand(81, 81), S_STAR, blank) < 0.2
    assert image_claims.full_topk(S_STAR, S_STAR) == 1.0


def test_plots_draw_without_warnings():
    X = inputs_with_blank_left_edge()
    for blank in (image_claims.blank_patches(X), torch.zeros(81, dtype=torch.bool)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig = image_plots.plot_scores_with_blank({"a": S_STAR, "b": S_STAR}, blank)
            fig.canvas.draw()
            fig = image_plots.plot_blank_digit(torch.rand(27, 27), blank, 3, 3)
            fig.canvas.draw()
        matplotlib.pyplot.close("all")


def test_contrast_report_reads_the_runs_scores_against_their_teacher():
    blank = torch.zeros(81, dtype=torch.bool)
    blank[::9] = True
    teacher = Teacher(torch.ones(2, 9, dtype=torch.float64), S_STAR, "relu")
    student = PositionOnlyTransformer.for_teacher(teacher)
    student.set_logits(torch.log(student_scores(5.0, blank)))
    run = Run(student, History(), teacher, {})
    lines = image_claims.contrast_report({"relu": run}, blank).splitlines()
    assert lines == [
        "weight on the group / weight elsewhere, per column:",
        "      relu: blank rows 1.000-1.000 (27 columns), rows with ink 148-148",
    ]
