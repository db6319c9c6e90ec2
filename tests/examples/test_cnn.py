import numpy as np
import pytest
import torch

from tltlib.examples import cnn
from tltlib.model import teachers
from tltlib.model.teachers import Teacher


@pytest.mark.parametrize("trial", range(6))
def test_natural_form_equals_bilinear_form_1d(trial):
    rng = np.random.default_rng(trial)
    K = int(rng.integers(1, 5))
    D = K * int(rng.integers(2, 6))
    d, M = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    act = ["identity", "relu", "leaky_relu"][trial % 3]
    conv = cnn.conv_pool_1d(D, K, d, M, act, seed=trial)
    signals = torch.randn(7, 1, D * d, dtype=torch.float64)
    X = cnn.patches(signals, conv.patch)
    assert torch.allclose(conv(signals), conv.as_teacher()(X), atol=1e-10, rtol=0)


def test_natural_form_equals_bilinear_form_2d():
    conv = cnn.ConvPoolTeacher(torch.randn(5, 3, 3, dtype=torch.float64), (6, 6), (3, 3), "relu")
    images = torch.randn(4, 18, 18, dtype=torch.float64)
    X = cnn.patches(images, (3, 3))
    assert X.shape == (4, 9, 36)
    assert torch.allclose(conv(images), conv.as_teacher()(X), atol=1e-10, rtol=0)
    assert torch.equal(cnn.images_from_patches(X, (6, 6), (3, 3)), images)


def test_natural_form_differs_from_a_wrong_teacher():
    conv = cnn.conv_pool_1d(8, 2, 3, 2, "identity", seed=0)
    right = conv.as_teacher()
    shifted = teachers.scores_from_supports([[(i + 1) % 8, (i + 2) % 8] for i in range(8)], 8)
    wrong = Teacher(right.V_star, shifted, right.activation)
    signals = torch.randn(5, 1, 24, dtype=torch.float64)
    X = cnn.patches(signals, conv.patch)
    assert float((conv(signals) - wrong(X)).abs().max()) > 1e-3


def test_conv_pool_rejects_bad_pooling():
    with pytest.raises(ValueError, match="K must be a divisor of D"):
        cnn.conv_pool_1d(10, 3, 2, 2)
    with pytest.raises(ValueError, match="pool"):
        cnn.ConvPoolTeacher(torch.zeros(1, 2, 2), (3, 3), (2, 2), "relu")
