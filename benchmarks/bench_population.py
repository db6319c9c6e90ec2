"""Exact population GD step: ``tltlib.train.population.train_population`` against the same closed
form written plainly in NumPy (new arrays at every step, as one would write it first)."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from common import Row, interleaved, speed_row

from tltlib.model import teachers
from tltlib.train.population import train_population

TITLE = "exact population GD step"
SIZES = [(36, 4, 10, 8), (81, 9, 9, 16)]
TARGET = 1 / 1.5  # within 1.5x of the plain version, or faster


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
    return rows
