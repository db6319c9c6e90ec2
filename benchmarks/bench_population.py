"""Exact population GD step: ``tltlib.train.population.train_population``.

Identity: against the same closed form written plainly in NumPy (new arrays at every step, as
one would write it first). ReLU and Leaky ReLU (the compiled loop of
``tltlib.train._population_kernel``): against the online step of ``train_online`` at the same
size (what the paper runs; N = 100, float32), against autograd on the same closed form
(``tltlib.model.losses.excess_loss_from``, float64), and the time of 10^6 steps."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from common import Row, interleaved, speed_row

from tltlib.model import teachers
from tltlib.model.losses import excess_loss_from
from tltlib.train.online import train_online
from tltlib.train.population import train_population

TITLE = "exact population GD step"
SIZES = [(36, 4, 10, 8), (81, 9, 9, 16)]
TARGET = 1 / 1.5  # within 1.5x of the plain version, or faster
PIECEWISE_TARGET = (
    100  # times faster than the online step (issue: exact dynamics for every activation)
)
MILLION_BUDGET = 60.0  # seconds for 10^6 steps of one setting


def plain_numpy(V: np.ndarray, Ss: np.ndarray, eta: float, steps: int):
    D = Ss.shape[0]
    W, A = np.zeros_like(V), np.zeros((D, D))
    for _ in range(steps):
        E = np.exp(A - A.max(axis=0, keepdims=True))
        S = E / E.sum(axis=0, keepdims=True)
        fS, iS = np.sum(S * S), np.sum(S * Ss)
        fW, iW = np.sum(W * W), np.sum(W * V)
        gS = fW * S - iW * Ss
        gA = S * (gS - np.sum(S * gS, axis=0, keepdims=True))
        W = W - eta * (fS * W - iS * V)
        A = A - (eta / D) * gA
    return W, A


def plain_autograd(teacher, eta: float, steps: int):
    """GD on the closed form by autograd, from a small non-zero start (autograd's gradient of
    the arc-cosine kernel vanishes at ``W_V = 0``)."""
    W = torch.full((teacher.M, teacher.d), 1e-3, dtype=torch.float64, requires_grad=True)
    A = torch.zeros(teacher.D, teacher.D, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        loss = excess_loss_from(W, torch.softmax(A, dim=0), teacher)
        gW, gA = torch.autograd.grad(loss, (W, A))
        with torch.no_grad():
            W -= eta * gW
            A -= (eta / teacher.D) * gA
    return W, A


def piecewise_rows(quick: bool, repeats: int) -> list[Row]:
    """The compiled ReLU / Leaky ReLU loop against the online step and autograd."""
    rows = []
    D, K, d, M = SIZES[0]
    steps = 2000 if quick else 20000
    online_steps = 20 if quick else 100
    eta = 0.2
    for act in ("relu", "leaky_relu"):
        t = teachers.cnn_teacher(D=D, K=K, d=d, M=M, activation=act, seed=0)
        size = f"D={D} K={K} d={d} M={M} ({act})"
        times = interleaved(
            {"tltlib": partial(train_population, t, eta, steps, record=[steps])}, steps, repeats
        )
        base = interleaved(
            {
                "online": partial(train_online, t, eta, online_steps, record=[online_steps]),
                "autograd": partial(plain_autograd, t, eta, online_steps),
            },
            online_steps,
            repeats,
        )
        row = speed_row(
            "exact population GD step, ReLU family",
            size,
            times["tltlib"],
            base["online"],
            PIECEWISE_TARGET,
            " [online step, float32, N = 100]",
        )
        rows.append(row)
        rows.append(
            speed_row(
                "exact population GD step, ReLU family",
                size,
                times["tltlib"],
                base["autograd"],
                1.0,
                " [autograd on the same closed form, float64]",
            )
        )
        million = times["tltlib"].cpu * 1e6
        rows.append(
            Row(
                "exact population GD, ReLU family: 1e+06 steps",
                size,
                f"{million:.1f} s CPU (from the step above)",
                "budget",
                None,
                None,
                f"< {MILLION_BUDGET:g} s",
                million < MILLION_BUDGET,
            )
        )
    return rows


def run(quick: bool, repeats: int) -> list[Row]:
    torch.set_num_threads(1)
    steps = 500 if quick else 3000
    rows = []
    for D, K, d, M in SIZES:
        t = teachers.cnn_teacher(D=D, K=K, d=d, M=M, activation="identity", seed=0)
        V, Ss = t.V_star.numpy(), t.S_star.numpy()
        eta = 0.1
        times = interleaved(
            {
                "tltlib": partial(train_population, t, eta, steps, record=[steps]),
                "plain": partial(plain_numpy, V, Ss, eta, steps),
            },
            steps,
            repeats,
        )
        row = speed_row(TITLE, f"D={D} K={K} d={d} M={M}", times["tltlib"], times["plain"], TARGET)
        row.target = "within 1.5x (ratio >= 0.67)"
        rows.append(row)
    return rows + piecewise_rows(quick, repeats)
