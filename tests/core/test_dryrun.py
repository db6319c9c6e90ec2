"""The dry-run contract (tltlib.core.dryrun): in a dry run every trainer checks its arguments
and stops before its first step; outside one it trains. The sweep relies on it to reject a bad
grid value before any run, whichever trainer a chapter calls."""

from __future__ import annotations

import pytest
import torch

from tltlib import examples, kernel, model, recall, train
from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError
from tltlib.core.loop import run_loop


def _teacher():
    return model.teachers.cnn_teacher(8, 2, 3, 2, "identity", seed=0)


def _data_inputs():
    return model.data.sample_inputs("gaussian", 20, 3, 8, 0, "dry")


TRAINERS = {
    "train_population": lambda steps: train.population.train_population(_teacher(), 0.1, steps),
    "train_online": lambda steps: train.online.train_online(_teacher(), 0.1, steps, batch=4),
    "train_on_data": lambda steps: train.on_data.train_on_data(
        _teacher(), _data_inputs(), 0.01, steps, batch=4
    ),
    "train_full": lambda steps: train.full.train_full(_teacher(), 0.1, steps, batch=4, n_eval=4),
    "train_reduced": lambda steps: train.reduced.for_teacher(_teacher(), 0.1, steps),
    "population_gd": lambda steps: train.reference.population_gd(
        _teacher(), 0.1, steps, model.student.positional_encoding(8, "identity")
    ),
    "train_selection": lambda steps: examples.selection.train_selection(
        [0, 1], 8, 3, 0.1, steps, batch=4
    ),
    "train_logistic": lambda steps: examples.groupsparse.train_logistic(
        examples.groupsparse.group_sparse_linear(8, 3, 2, seed=0), 0.1, steps, batch=4, n_eval=4
    ),
    "train_projected_gd": lambda steps: kernel.model.train_projected_gd(
        kernel.model.ShallowTransformer.paired(5, 4, seed=0),
        kernel.model.unit_ball_tokens(6, 5, 3, seed=0),
        torch.zeros(6, dtype=torch.float64),
        steps,
        0.1,
        None,
    ),
    "train_fresh": lambda steps: recall.model.train_fresh(
        recall.model.RecallTransformer(
            recall.task.RecallTask(N=20, H=16, Q=3, Y=2), "reparam", "linear"
        ),
        0.3,
        steps,
        batch=8,
    ),
}


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_stops_at_its_checkpoint_in_a_dry_run(name):
    with dryrun.dry_run(), pytest.raises(dryrun.DryRunStop, match=name):
        TRAINERS[name](3)
    assert not dryrun.active()
    TRAINERS[name](2)  # and trains outside one


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_a_dry_run_still_rejects_a_bad_argument(name):
    with dryrun.dry_run(), pytest.raises(ValueError, match="steps"):
        TRAINERS[name](0)


def test_the_stop_is_not_an_exception_a_chapter_would_catch():
    with dryrun.dry_run():
        try:
            run_loop("t", 3, [0, 3], lambda t: 0.0, dict, lambda t, loss: "")
        except Exception:  # pragma: no cover - the point of the test
            pytest.fail("DryRunStop must not be caught by `except Exception`")
        except dryrun.DryRunStop:
            pass


def test_the_loop_records_marks_and_stops_on_divergence():
    losses = iter([1.0, 2.0, float("nan")])
    h = run_loop("t", 2, [0, 2], lambda t: next(losses), lambda: {"x": 1.0}, str)
    assert h.steps == [0, 2]
    losses = iter([1.0, 2.0, float("nan")])
    with pytest.raises(DivergenceError, match="at 2"):
        run_loop("t", 5, [0], lambda t: next(losses), dict, lambda t, loss: f"at {t}")
