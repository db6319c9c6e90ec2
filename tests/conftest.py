"""Shared fixtures: small teachers so that unit tests run in seconds."""

import pytest
import torch

from tltlib.model import teachers

torch.set_num_threads(1)


@pytest.fixture(params=["identity", "relu", "leaky_relu"])
def activation(request):
    return request.param


@pytest.fixture
def small_teacher():
    """A pooling teacher with D=8, K=2, d=3, M=2 (identity)."""
    return teachers.cnn_teacher(D=8, K=2, d=3, M=2, activation="identity", seed=1)
