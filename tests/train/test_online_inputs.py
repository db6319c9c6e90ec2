"""train_online(inputs=...): the Gaussian default is the old stream, other kinds differ."""

import pytest
import torch

from tltlib.model import teachers
from tltlib.model.student import positional_encoding
from tltlib.train import reference
from tltlib.train.online import train_online


def test_gaussian_default_is_the_reference_stream():
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation="relu", seed=2)
    kw = dict(batch=8, noise=0.3, seed=5, encoding="dct", dtype=torch.float64, record=[60])
    a = train_online(t, 0.2, 60, **kw)
    b = train_online(t, 0.2, 60, inputs="gaussian", **kw)
    assert torch.equal(a.student.W_V, b.student.W_V)
    P = positional_encoding(6, "dct")
    ref = reference.online_gd(t, 0.2, 60, P, batch=8, noise=0.3, seed=5)
    assert torch.allclose(a.student.W_V, ref.W_V, atol=1e-10)


def test_other_kinds_change_the_run():
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation="relu", seed=2)
    a = train_online(t, 0.2, 60, batch=8, seed=5, record=[60])
    b = train_online(t, 0.2, 60, batch=8, seed=5, record=[60], inputs="rademacher")
    assert not torch.equal(a.student.W_V, b.student.W_V)


def test_bad_inputs_kind():
    t = teachers.cnn_teacher(D=6, K=2, d=3, M=2, activation="relu", seed=2)
    with pytest.raises(ValueError, match="inputs"):
        train_online(t, 0.2, 10, inputs="cauchy")
