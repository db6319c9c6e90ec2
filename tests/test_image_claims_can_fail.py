"""Every check of chapter 08 passes on a correct run and fails on a broken student or a wrong
teacher (a smaller version of the chapter's run: 600 digits, 3,000 steps, ReLU)."""

import pytest
import torch

from tltlib import cnn, cnn_training, digits, empirical, image_claims, teachers
from tltlib.checks import CheckLog
from tltlib.teachers import Teacher

ETA, STEPS, BATCH = 0.015, 3000, 20


@pytest.fixture(scope="module")
def setup():
    data = digits.load_images("digits", n_train=600, n_test=200, seed=0)
    trained = cnn_training.train_cnn(data, "relu", epochs=8, seed=0)
    model = cnn_training.rescale_kernels(trained.model, 300.0)
    teacher = model.teacher().as_teacher()
    X = cnn.patches(data.train_images, (3, 3))
    blank = image_claims.blank_patches(X, 0.99)
    run = empirical.train_on_data(teacher, X, ETA, STEPS, batch=BATCH)
    frozen = empirical.train_on_data(teacher, X, ETA, 300, batch=BATCH, train_blocks=("value",))
    return dict(
        data=data,
        trained=trained,
        model=model,
        teacher=teacher,
        X=X,
        blank=blank,
        run=run,
        frozen=frozen,
    )


def row_pooling(teacher: Teacher) -> Teacher:
    """A wrong teacher: the same kernels, pooling over rows of 9 patches instead of 3 x 3 blocks."""
    S = teachers.pooling_scores(teachers.pooling_groups_2d((9, 9), (1, 9)))
    return Teacher(teacher.V_star, S, teacher.activation)


def other_kernels(setup) -> Teacher:
    """A wrong teacher: the kernels of a CNN trained from another seed."""
    other = cnn_training.train_cnn(setup["data"], "relu", epochs=8, seed=7)
    V = cnn_training.rescale_kernels(other.model, 300.0).teacher().as_teacher().V_star
    return Teacher(V, setup["teacher"].S_star, setup["teacher"].activation)


def student_checks(log, student, teacher, blank):
    return [
        image_claims.cosine_check(log, student, teacher, 0.9, "cosine"),
        image_claims.pooling_check(log, student, teacher, blank, 0.8, "pooling"),
        image_claims.blank_rows_check(log, student, teacher, blank, 0.5, "blank_rows"),
    ]


def test_the_digits_have_blank_border_patches(setup):
    blank = setup["blank"]
    assert 5 <= int(blank.sum()) <= 20
    cols = torch.nonzero(blank).flatten() % 9
    assert set(cols.tolist()) <= {0, 8}  # the left and right edges


def test_every_check_passes_on_the_run(setup):
    log = CheckLog("t")
    student_checks(log, setup["run"].student, setup["teacher"], setup["blank"])
    image_claims.loss_check(log, setup["run"], setup["frozen"], 0.1, "loss")
    log.at_least("accuracy", "c", setup["trained"].test_accuracy, 0.5)
    log.at_most("eta", "c", ETA, empirical.data_stability_bound(setup["teacher"], setup["X"]))
    assert log.passed, log.table()


def test_checks_fail_on_a_wrong_teacher(setup):
    run, blank = setup["run"], setup["blank"]
    log = CheckLog("t")
    image_claims.pooling_check(log, run.student, row_pooling(setup["teacher"]), blank, 0.8, "p")
    image_claims.cosine_check(log, run.student, other_kernels(setup), 0.9, "c")
    assert not any(r.passed for r in log.records), log.table()


def test_checks_fail_on_a_broken_student(setup):
    teacher, X, blank = setup["teacher"], setup["X"], setup["blank"]
    # attention frozen at uniform: no pooling pattern, and the loss stays where it started
    frozen = setup["frozen"]
    log = CheckLog("t")
    image_claims.pooling_check(log, frozen.student, teacher, blank, 0.8, "pooling")
    image_claims.loss_check(log, frozen, frozen, 0.1, "loss")
    assert not any(r.passed for r in log.records), log.table()
    # value block frozen at zero: the attention alone cannot align W_V with V*
    no_value = empirical.train_on_data(teacher, X, ETA, 200, train_blocks=("attention",))
    bad = CheckLog("t")
    assert not image_claims.cosine_check(bad, no_value.student, teacher, 0.9, "cosine").passed


def test_blank_rows_check_tells_learned_rows_from_unlearned_ones(setup):
    teacher, blank, student = setup["teacher"], setup["blank"], setup["run"].student
    # a student that did learn the blank rows (logits +10 on every pooling group)
    oracle = student.copy()
    oracle.set_logits(10.0 * (teacher.S_star > 0).double())
    assert not image_claims.blank_rows_check(CheckLog("t"), oracle, teacher, blank, 0.5, "b").passed
    # the explanation is specific to blank patches: rows with ink, taken for blank, fail it
    ink_rows = ~blank & (torch.arange(81) % 9 == 4)  # the middle column of patches
    assert not image_claims.blank_rows_check(
        CheckLog("t"), student, teacher, ink_rows, 0.5, "b"
    ).passed
    with pytest.raises(ValueError, match="blank_threshold"):
        image_claims.blank_rows_check(
            CheckLog("t"), student, teacher, torch.zeros(81, dtype=torch.bool), 0.5, "b"
        )


def test_teacher_checks_fail_on_an_untrained_or_mis_scaled_network(setup):
    untrained = cnn_training.train_cnn(setup["data"], "relu", epochs=0, seed=0)
    assert not CheckLog("t").at_least("a", "c", untrained.test_accuracy, 0.5).passed
    # rescaling the kernels without the classifier changes the classifier
    broken = cnn_training.rescale_kernels(setup["trained"].model, 300.0)
    with torch.no_grad():
        broken.classifier.weight.copy_(setup["trained"].model.classifier.weight)
    gap = cnn_training.logit_gap(setup["trained"].model, broken, setup["data"].test_images)
    assert not CheckLog("t").at_most("r", "c", gap, 1e-12).passed
    # the natural form of the network against a teacher with the wrong pooling
    images = setup["data"].train_images[:50]
    natural = setup["model"].teacher()(images)
    wrong = row_pooling(setup["teacher"])(cnn.patches(images, (3, 3)))
    right = setup["teacher"](cnn.patches(images, (3, 3)))
    assert CheckLog("t").close_to("n", "c", float((natural - right).abs().max()), 0, 1e-9).passed
    assert (
        not CheckLog("t").close_to("n", "c", float((natural - wrong).abs().max()), 0, 1e-9).passed
    )


def test_step_size_check_fails_above_the_data_bound(setup):
    bound = empirical.data_stability_bound(setup["teacher"], setup["X"])
    assert not CheckLog("t").at_most("eta", "c", 2 * bound, bound).passed
