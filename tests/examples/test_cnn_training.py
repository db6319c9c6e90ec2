"""The trained CNN teacher: its first layer is a ConvPoolTeacher, rescaling keeps its logits."""

import pytest
import torch

from tltlib.examples import cnn, cnn_training, digits


@pytest.fixture(scope="module")
def small_data():
    return digits.load_images("digits", n_train=400, n_test=200, seed=0)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_first_layer_is_the_teacher_in_both_forms(activation):
    model = cnn_training.init_cnn(cnn_training.PatchCNN(activation=activation), seed=1)
    images = torch.rand(5, 27, 27, dtype=torch.float64)
    conv = model.teacher()
    with torch.no_grad():
        hidden = model.hidden(images)  # (N, M, 3, 3)
    up = hidden.repeat_interleave(3, dim=2).repeat_interleave(3, dim=3).flatten(start_dim=2)
    assert torch.allclose(conv(images), up, atol=1e-12, rtol=0)
    X = cnn.patches(images, (3, 3))
    assert torch.allclose(conv.as_teacher()(X), up, atol=1e-12, rtol=0)
    t = conv.as_teacher()
    assert (t.M, t.d, t.D, t.K) == (16, 9, 81, 9)


def test_rescaling_keeps_every_logit():
    model = cnn_training.init_cnn(cnn_training.PatchCNN(activation="leaky_relu"), seed=2)
    out = cnn_training.rescale_kernels(model, 123.0)
    assert cnn_training.kernel_norm(out) == pytest.approx(123.0, rel=1e-12)
    images = torch.rand(8, 27, 27, dtype=torch.float64)
    assert cnn_training.logit_gap(model, out, images) < 1e-12
    assert cnn_training.kernel_norm(model) != pytest.approx(123.0)  # the original is untouched


def test_training_is_seeded_and_learns(small_data):
    a = cnn_training.train_cnn(small_data, "relu", epochs=4, seed=0)
    b = cnn_training.train_cnn(small_data, "relu", epochs=4, seed=0)
    c = cnn_training.train_cnn(small_data, "relu", epochs=4, seed=1)
    assert torch.equal(a.model.conv.weight, b.model.conv.weight)
    assert not torch.equal(a.model.conv.weight, c.model.conv.weight)
    assert a.epoch_loss[-1] < a.epoch_loss[0]
    untrained = cnn_training.train_cnn(small_data, "relu", epochs=0, seed=0)
    assert untrained.test_accuracy < 0.3 < a.test_accuracy


def test_bad_network_shapes_are_refused():
    with pytest.raises(ValueError, match="patch must divide"):
        cnn_training.PatchCNN(image_size=28, patch=3)
    with pytest.raises(ValueError, match="pool must divide"):
        cnn_training.PatchCNN(image_size=27, patch=3, pool=2)
    with pytest.raises(ValueError, match="activation must be one of"):
        cnn_training.PatchCNN(activation="tanh")
    with pytest.raises(ValueError, match="kernel_norm must be a finite number > 0"):
        cnn_training.rescale_kernels(cnn_training.PatchCNN(), 0.0)


def test_chapter_summaries_of_several_networks():
    images = torch.rand(6, 27, 27, dtype=torch.float64)
    models = {
        a: cnn_training.init_cnn(cnn_training.PatchCNN(activation=a), seed=3)
        for a in ("relu", "leaky_relu")
    }
    cnns = {a: cnn_training.TrainedCNN(m, 0.75, 0.5) for a, m in models.items()}
    report = cnn_training.accuracy_report(cnns).splitlines()
    assert len(report) == 2 and report[1].startswith("leaky_relu: accuracy 0.750 (train)")
    norm = cnn_training.kernel_norm(models["relu"])
    assert report[0] == f"      relu: accuracy 0.750 (train), 0.500 (test); ||V*||_F = {norm:.2f}"
    # rescaled copies keep the logits; a copy whose classifier was not rescaled does not
    scaled = {a: cnn_training.rescale_kernels(m, 50.0) for a, m in models.items()}
    assert cnn_training.largest_logit_gap(cnns, scaled, images) < 1e-12
    with torch.no_grad():
        scaled["leaky_relu"].classifier.weight.copy_(models["leaky_relu"].classifier.weight)
    gap = cnn_training.logit_gap(models["leaky_relu"], scaled["leaky_relu"], images)
    assert gap > 1e-3 and cnn_training.largest_logit_gap(cnns, scaled, images) == gap
    # natural form against the bilinear form: equal for the right teacher, not for another
    convs = {a: m.teacher() for a, m in models.items()}
    teachers = {a: c.as_teacher() for a, c in convs.items()}
    X = cnn.patches(images, (3, 3))
    assert cnn_training.natural_form_gap(convs, teachers, images, X) < 1e-12
    swapped = {"relu": teachers["leaky_relu"], "leaky_relu": teachers["relu"]}
    assert cnn_training.natural_form_gap(convs, swapped, images, X) > 1e-3
