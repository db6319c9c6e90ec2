"""The compiled loop of :mod:`tltlib.train.reduced` (numba; imported only when a run starts).

One step of the reduced map for every setting, the settings in the inner loop so that the
compiler vectorises it (SIMD). ``exp`` is written out because libm's does not vectorise:
``exp(-g) = 2^-k exp(-r)`` with ``|r| <= ln 2 / 2``, a degree-13 Taylor polynomial (error
below one ulp) and ``2^-k`` built from its bits. ``error_model="numpy"`` drops the
division-by-zero branch that would block vectorisation; ``contract`` allows fused
multiply-adds. Compiled code is cached next to this file (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_ROUND = 6755399441055744.0  # 1.5 * 2^52: (y + _ROUND) - _ROUND rounds y to an integer
_C = [1.0 / math.factorial(i) for i in range(14)]
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = _C[2:]
_OPTS = dict(error_model="numpy", fastmath={"contract"}, cache=True)


@intrinsic
def _as_float64(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(inline="always", **_OPTS)
def exp_neg(g):
    """``exp(-g)`` for ``|g| <= 700`` (clamped), vectorisable."""
    g = min(max(g, -700.0), 700.0)
    kf = (g * _INV_LN2 + _ROUND) - _ROUND
    y = (kf * _LN2_HI - g) + kf * _LN2_LO
    s = _C12 + y * _C13
    s = _C11 + y * s
    s = _C10 + y * s
    s = _C9 + y * s
    s = _C8 + y * s
    s = _C7 + y * s
    s = _C6 + y * s
    s = _C5 + y * s
    s = _C4 + y * s
    s = _C3 + y * s
    s = _C2 + y * s
    s = 1.0 + y * s
    s = 1.0 + y * s
    return s * _as_float64((1023 - np.int64(kf)) << 52)


@njit(**_OPTS)
def kernel(D, K, eta, v, record, half):
    """Run every setting from zero to each step of ``record``; returns the state there and the
    trackers (first step with ``p >= half``, peak of ``C1`` and its step)."""
    n = D.shape[0]
    R = record.shape[0]
    x = D - K
    a = eta * D
    b = eta * v / K
    delta = np.full(n, -1.0)
    gap = np.zeros(n)
    out_delta = np.empty((n, R))
    out_gap = np.empty((n, R))
    t_half = np.full(n, -1)
    c1_max = np.zeros(n)
    t_c1_max = np.zeros(n, dtype=np.int64)
    t = 0
    for r in range(R):
        while t < record[r]:
            for i in range(n):
                d = delta[i]
                e = exp_neg(gap[i])
                p = 1.0 / (K[i] + x[i] * e)
                pp = p * p
                C1 = 1.0 + d
                s2 = pp * (K[i] + x[i] * e * e)
                t_half[i] = t if (t_half[i] < 0 and p >= half[i]) else t_half[i]
                up = C1 > c1_max[i]
                c1_max[i] = C1 if up else c1_max[i]
                t_c1_max[i] = t if up else t_c1_max[i]
                gap[i] = gap[i] + b[i] * C1 * pp * e * (C1 * D[i] * e * p - d)
                delta[i] = d + a[i] * (x[i] * e * pp * (1.0 - e) - s2 * d)
            t += 1
        for i in range(n):
            out_delta[i, r] = delta[i]
            out_gap[i, r] = gap[i]
    return out_delta, out_gap, t_half, c1_max, t_c1_max
