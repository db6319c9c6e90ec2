"""Online GD step: ``tltlib.train.online.train_online`` against a plain autograd loop.

The plain loop is the obvious one (as :func:`tltlib.train.reference.online_gd`): a fresh Gaussian
batch, the ReLU teacher's labels plus noise, the student's loss, ``loss.backward()``, an SGD
step on ``W_V`` and ``W_KQ``. Two floors are timed beside them: sampling alone (two
``torch.randn`` calls per step, nothing else), and tltlib's arithmetic alone (its step on one
batch drawn in advance), with the rate of its products against that of a large matrix
product on the same core. A step costs at least the sum of the two floors.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from common import Row, fmt_time, interleaved, speed_row

from tltlib.model import teachers
from tltlib.model.student import positional_encoding
from tltlib.train import online
from tltlib.train.online import train_online

TITLE = "online GD step"
SIZES = [(36, 4, 10, 8), (81, 9, 9, 16)]  # (D, K, d, M), the paper's; batch N = 100
# No-regression lines: the ratios measured when the 5x target was retired (floors of sampling
# and of PyTorch's products cap the step near 2x; see README.md), less 15% for shared machines.
TARGETS = {
    "float32": 1.55,
    "float32 vs float64 plain": 3.7,
    "float64": 1.2,
}


def plain_loop(teacher, eta: float, steps: int, P: torch.Tensor, dtype: torch.dtype, N=100):
    """The plain autograd loop (ReLU with the book's sigma'(0) = 1, so that it trains)."""
    act = teacher.activation
    M, d, D = teacher.M, teacher.d, teacher.D
    V, Ss, P = teacher.V_star.to(dtype), teacher.S_star.to(dtype), P.to(dtype)
    W = torch.zeros(M, d, dtype=dtype, requires_grad=True)
    WKQ = torch.zeros(D, D, dtype=dtype, requires_grad=True)
    g_x, g_e = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    for _ in range(steps):
        X = torch.randn(N, d, D, generator=g_x, dtype=dtype)
        Y = act(V @ X @ Ss) + torch.randn(N, M, D, generator=g_e, dtype=dtype)
        S = torch.softmax(P.T @ WKQ @ P / math.sqrt(D), dim=0)
        loss = 0.5 * ((Y - act(W @ X @ S)) ** 2).sum() / N
        W.grad = WKQ.grad = None
        loss.backward()
        with torch.no_grad():
            W -= eta * W.grad
            WKQ -= eta * WKQ.grad


def sampling_only(teacher, steps: int, dtype: torch.dtype, N=100) -> None:
    g = torch.Generator().manual_seed(3)
    for _ in range(steps):
        torch.randn(N, teacher.d, teacher.D, generator=g, dtype=dtype)
        torch.randn(N, teacher.M, teacher.D, generator=g, dtype=dtype)


def arithmetic_only(teacher, eta: float, steps: int, dtype: torch.dtype, N=100) -> int:
    """tltlib's step (the same code as ``train_online``'s) on one batch drawn in advance;
    returns the flops of its matrix products per step."""
    M, d, D = teacher.M, teacher.d, teacher.D
    V, Ss = teacher.V_star.to(dtype), teacher.S_star.to(dtype)
    work = online._OnlineStep(V, Ss, N, teacher.activation, 1.0)
    g = torch.Generator().manual_seed(4)
    X = torch.randn(d, N, D, generator=g, dtype=dtype)
    E = torch.randn(M, N, D, generator=g, dtype=dtype)
    for _ in range(steps):
        work.residual(X, E)
        work.update(-eta / N, -eta / (D * N))
    return work.flops


def large_product_rate(repeats: int, n: int = 512) -> float:
    """Flops per second of a float32 ``n x n`` matrix product: what this core can sustain."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    times = interleaved({"mm": partial(torch.mm, a, b, out=c)}, 1, max(5, repeats))
    return 2 * n**3 / times["mm"].cpu


def run(quick: bool, repeats: int) -> list[Row]:
    torch.set_num_threads(1)
    steps = 50 if quick else 200
    rows = []
    for D, K, d, M in SIZES:
        t = teachers.cnn_teacher(D=D, K=K, d=d, M=M, activation="relu", seed=0)
        P = positional_encoding(D, "random", 0)
        eta = 0.5 / (M * D)  # small enough for every size; the value does not change the cost
        f32, f64 = torch.float32, torch.float64
        times = interleaved(
            {
                "tltlib32": partial(train_online, t, eta, steps, record=[steps]),
                "tltlib64": partial(train_online, t, eta, steps, record=[steps], dtype=f64),
                "plain32": partial(plain_loop, t, eta, steps, P, f32),
                "plain64": partial(plain_loop, t, eta, steps, P, f64),
                "randn32": partial(sampling_only, t, steps, f32),
                "arith32": partial(arithmetic_only, t, eta, steps, f32),
            },
            steps,
            repeats,
        )
        size = f"D={D} K={K} d={d} M={M} N=100"
        rows.append(
            speed_row(
                TITLE + ", float32", size, times["tltlib32"], times["plain32"], TARGETS["float32"]
            )
        )
        rows.append(
            speed_row(
                TITLE + ", float32 vs float64 plain",
                size,
                times["tltlib32"],
                times["plain64"],
                TARGETS["float32 vs float64 plain"],
                " [float64, reference.online_gd's default]",
            )
        )
        rows.append(
            speed_row(
                TITLE + ", float64", size, times["tltlib64"], times["plain64"], TARGETS["float64"]
            )
        )
        plain = times["plain32"].cpu
        floor, arith = times["randn32"], times["arith32"]
        step = times["tltlib32"].cpu
        rows.append(
            Row(
                "sampling floor, float32 (two torch.randn per step)",
                size,
                f"{fmt_time(floor.cpu)} ({100 * floor.cpu / step:.0f}% of the step)",
                fmt_time(plain),
                plain / floor.cpu,
                times["plain32"].wall / floor.wall,
                "the best ratio with free arithmetic",
                None,
            )
        )
        flops = arithmetic_only(t, eta, 1, f32)
        rate, peak = flops / arith.cpu, large_product_rate(repeats)
        rows.append(
            Row(
                "arithmetic floor, float32 (tltlib's step on a batch drawn in advance)",
                size,
                f"{fmt_time(arith.cpu)} ({100 * arith.cpu / step:.0f}% of the step; "
                f"{rate / 1e9:.0f} GFLOP/s, a 512x512 product {peak / 1e9:.0f} GFLOP/s)",
                fmt_time(plain),
                plain / arith.cpu,
                times["plain32"].wall / arith.wall,
                "the best ratio with free sampling",
                None,
            )
        )
        both = floor.cpu + arith.cpu
        rows.append(
            Row(
                "both floors, float32 (sampling + arithmetic)",
                size,
                f"{fmt_time(both)} ({100 * both / step:.0f}% of the step)",
                fmt_time(plain),
                plain / both,
                None,
                "the best ratio with PyTorch's sampler and products",
                None,
            )
        )
    return rows
