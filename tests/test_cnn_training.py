"""The trained CNN teacher: its first layer is a ConvPoolTeacher, rescaling keeps its logits."""

import pytest
import torch

from tltlib import cnn, cnn_training, digits


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
