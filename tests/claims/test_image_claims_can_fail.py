"""Every check of chapter 08 passes on a correct run and fails on a broken student or a wrong
teacher (a smaller version of the chapter's run: 600 digits, 3,000 steps, ReLU)."""

import pytest
import torch

from tltlib.claims import images as image_claims
from tltlib.core.checks import CheckLog
from tltlib.examples import cnn, cnn_training, digits
from tltlib.model import teachers
from tltlib.model.teachers import Teacher
from tltlib.train import on_data as empirical

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


TEACHER_TOLERANCES = dict(min_accuracy=0.5, logit_tolerance=1e-12, form_tolerance=1e-9)
STUDENT_TOLERANCES = dict(loss_factor=0.1, min_cosine=0.9, min_pooling=0.8, blank_tolerance=0.5)


def test_teacher_checks_pass_on_the_trained_network_and_fail_on_broken_ones(setup):
    data, trained, model = setup["data"], setup["trained"], setup["model"]
    images, X = data.train_images, setup["X"]
    chance = float(cnn_training.class_balance(data.test_labels).max())
    cnns, scaled = {"relu": trained}, {"relu": model}
    gap = cnn_training.largest_logit_gap(cnns, scaled, data.test_images)
    natural = cnn_training.natural_form_gap(
        {"relu": model.teacher()}, {"relu": setup["teacher"]}, images, X
    )
    log = CheckLog("t")
    checks = image_claims.teacher_checks(log, cnns, chance, gap, natural, **TEACHER_TOLERANCES)
    assert [c.name for c in checks] == [
        "relu/teacher_accuracy",
        "rescaled_logits",
        "natural_vs_bilinear",
    ]
    assert log.passed, log.table()
    assert checks[0].extra == dict(chance=chance, train_accuracy=trained.train_accuracy)
    # an untrained network, kernels rescaled without the classifier, the wrong pooling
    untrained = cnn_training.train_cnn(data, "relu", epochs=0, seed=0)
    broken = cnn_training.rescale_kernels(trained.model, 300.0)
    with torch.no_grad():
        broken.classifier.weight.copy_(trained.model.classifier.weight)
    bad_gap = cnn_training.largest_logit_gap(cnns, {"relu": broken}, data.test_images)
    bad_natural = cnn_training.natural_form_gap(
        {"relu": model.teacher()}, {"relu": row_pooling(setup["teacher"])}, images, X
    )
    bad = image_claims.teacher_checks(
        CheckLog("t"), {"relu": untrained}, chance, bad_gap, bad_natural, **TEACHER_TOLERANCES
    )
    assert not any(c.passed for c in bad)


def test_student_checks_pass_on_the_run_and_fail_on_a_broken_student(setup):
    run, frozen, blank = setup["run"], setup["frozen"], setup["blank"]
    bound = empirical.data_stability_bound(setup["teacher"], setup["X"])
    log = CheckLog("t")
    checks = image_claims.student_checks(
        log, {"relu": run}, {"relu": frozen}, blank, ETA, {"relu": bound}, **STUDENT_TOLERANCES
    )
    assert [c.name for c in checks] == [
        "relu/eta_below_data_bound",
        "relu/loss",
        "relu/cosine",
        "relu/pooling_groups",
        "relu/blank_rows",
    ]
    assert log.passed, log.table()
    # attention frozen at uniform, and a step size above the data bound
    bad = image_claims.student_checks(
        CheckLog("t"), {"relu": frozen}, {"relu": frozen}, blank, 2 * bound, {"relu": bound},
        **STUDENT_TOLERANCES,
    )  # fmt: skip
    failed = {c.name for c in bad if not c.passed}
    assert {"relu/eta_below_data_bound", "relu/loss", "relu/pooling_groups"} <= failed


def test_single_teacher_and_step_size_checks_fail(setup):
    untrained = cnn_training.train_cnn(setup["data"], "relu", epochs=0, seed=0)
    log = CheckLog("t")
    assert image_claims.teacher_accuracy_check(log, setup["trained"], 0.1, 0.5, "good").passed
    assert not image_claims.teacher_accuracy_check(log, untrained, 0.1, 0.5, "untrained").passed
    bound = empirical.data_stability_bound(setup["teacher"], setup["X"])
    assert image_claims.step_size_check(log, ETA, bound, setup["teacher"], "eta").passed
    check = image_claims.step_size_check(log, 2 * bound, bound, setup["teacher"], "2 bound")
    assert not check.passed and set(check.extra) == {"gaussian_bound", "t_star"}
