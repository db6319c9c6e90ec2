"""The compiled loop of :mod:`tltlib.train.population` for ReLU and Leaky ReLU (numba).

Gradient descent on the closed-form population loss of :mod:`tltlib.model.losses`, written
per entry ``(m, i)`` of the output. With ``sa2 = ||w_m||^2 ||s_i||^2``, ``sb2 =
||v_m||^2 ||s*_i||^2``, ``c = <w_m, v_m> <s_i, s*_i>``, ``rho = c / sqrt(sa2 sb2) = cos
theta`` and ``lam`` the negative slope, the entry's excess loss is

    f = 1/2 [kappa (sa2 + sb2) - 2 (lam c + (1 - lam)^2 k1)],   kappa = (1 + lam^2) / 2,
    k1 = E[relu(a) relu(b)] = (sqrt(sa2 sb2 - c^2) + (pi - theta) c) / (2 pi),

and its two partial derivatives are short:

    df/dsa2 = kappa / 2 - (1 - lam)^2 sqrt(sa2 sb2 - c^2) / (4 pi sa2),
    df/dc   = -lam - (1 - lam)^2 (pi - theta) / (2 pi).

The chain rule through ``sa2`` and ``c`` gives ``grad_{w_m} = 2 w_m sum_i df/dsa2 ||s_i||^2 +
v_m sum_i df/dc <s_i, s*_i>`` and the same for ``s_i`` with the roles swapped; the column
softmax's backward step then gives the logits' gradient. Where ``sa2 = 0`` (a zero row of
``W_V``, as at the start) the derivatives are those of the derivative convention
``sigma'(0) = 1`` of :mod:`tltlib.model.activations`: the student's output is zero, so
``df/dsa2 = kappa / 2`` and ``df/dc = -E[sigma'(b)] = -(1 + lam) / 2`` (Stein's lemma), which
is the mean of the online trainer's first step. Each step costs ``O(M d + M D + D^2)``.

The loop works on the transposed logits ``At = A^T`` (a column of ``S`` is a contiguous row)
and lets the compiler reassociate sums (``fastmath`` ``reassoc``), so that the softmax's
reductions vectorise: the sums' rounding, not their value, depends on the CPU's vector width.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tltlib.train._reduced_kernel import exp_neg

_OPTS = dict(error_model="numpy", fastmath={"contract"}, cache=True)
# sums may be reassociated (so that they vectorise); exp_neg's rounding trick may not
_SUMS = dict(error_model="numpy", fastmath={"contract", "reassoc", "nsz"}, cache=True)
# a maximum is exact in any order; without NaNs (a diverged run is caught by the loss) it vectorises
_MAX = dict(error_model="numpy", fastmath={"reassoc", "nsz", "nnan"}, cache=True)


# fdlibm's rational approximation of asin on [0, 1/2]: asin(s) = s + s R(s^2), under 1 ulp
_PS = (
    1.66666666666666657415e-01,
    -3.25565818622400915405e-01,
    2.01212532134862925881e-01,
    -4.00555345006794114027e-02,
    7.91534994289814532176e-04,
    3.47933107596021167570e-05,
)
_QS = (
    -2.40339491173441421878e00,
    2.02094576023350569471e00,
    -6.88283971605453293030e-01,
    7.70381505559019352791e-02,
)
_PS0, _PS1, _PS2, _PS3, _PS4, _PS5 = _PS
_QS1, _QS2, _QS3, _QS4 = _QS


@njit(inline="always", **_OPTS)
def acos(x):
    """``acos(x)`` for ``x`` in ``[-1, 1]``, without branches (so that a loop of it vectorises,
    which libm's does not): ``pi/2 - asin(x)`` for ``|x| <= 1/2``, ``2 asin(sqrt((1 - |x|)/2))``
    (reflected for ``x < 0``) above; within a few ulp of ``math.acos``."""
    t = abs(x)
    big = t > 0.5
    half = 0.5 * (1.0 - t)
    root = math.sqrt(half)  # computed either way: every branch below is a select
    z = half if big else t * t
    s = root if big else t
    p = z * (_PS0 + z * (_PS1 + z * (_PS2 + z * (_PS3 + z * (_PS4 + z * _PS5)))))
    q = 1.0 + z * (_QS1 + z * (_QS2 + z * (_QS3 + z * _QS4)))
    a = s + s * (p / q)  # asin(s)
    small = 0.5 * math.pi - (a if x >= 0.0 else -a)
    large = 2.0 * a if x >= 0.0 else math.pi - 2.0 * a
    return large if big else small


@njit(**_MAX)
def _column_maxima(At, tops):
    """``tops[i] = max_j At[i, j]``: the largest logit of each column of ``A``."""
    D = At.shape[0]
    for i in range(D):
        top = At[i, 0]
        for j in range(1, D):
            top = max(top, At[i, j])
        tops[i] = top


@njit(**_SUMS)
def _column_sums(E, St, inv, ns, cs):
    """For the unnormalised exponentials ``E`` (a column of the softmax per row), in one pass:
    ``inv[i] = 1 / sum_j E[i, j]``, and ``ns[i] = ||s_i||^2``, ``cs[i] = <s_i, s*_i>`` of the
    normalised column ``s_i = inv[i] E[i]``."""
    D = E.shape[0]
    for i in range(D):
        tot = 0.0
        n2 = 0.0
        c2 = 0.0
        for j in range(D):
            e = E[i, j]
            tot += e
            n2 += e * e
            c2 += e * St[i, j]
        k = 1.0 / tot
        inv[i] = k
        ns[i] = n2 * k * k
        cs[i] = c2 * k


@njit(**_SUMS)
def _entries(nw, cw, qw, rw, ns, cs, qs, rs, nv, nss, lam, wa, wb, sa, sb):
    """The ``M x D`` output entries: accumulate ``sum_i df/dsa2 ||s_i||^2`` (``wa``),
    ``sum_i df/dc <s_i, s*_i>`` (``wb``) and their column counterparts (``sa``, ``sb``); return
    the excess loss. Row ``m`` of ``W_V`` is either zero (the derivative convention, the same
    for every ``i``) or not, so the inner loop has no branch and vectorises."""
    M, D = nw.shape[0], ns.shape[0]
    kappa = 0.5 * (1.0 + lam * lam)
    r2 = (1.0 - lam) * (1.0 - lam)
    g0 = -0.5 * (1.0 + lam)
    inv2pi = 1.0 / (2.0 * math.pi)
    loss = 0.0
    for m in range(M):
        wam = 0.0
        wbm = 0.0
        if nw[m] > 0.0:
            # ab sine / sa2 = (qw / nw) (qs / ns) sine: no division per entry
            row = r2 * qw[m] / (4.0 * math.pi * nw[m])
            for i in range(D):
                sa2 = nw[m] * ns[i]
                sb2 = nv[m] * nss[i]
                c = cw[m] * cs[i]
                ab = qw[m] * qs[i]
                rho = min(max(rw[m] * rs[i], -1.0), 1.0)
                sine = math.sqrt(1.0 - rho * rho)
                turn = math.pi - acos(rho)
                k1 = (ab * sine + turn * c) * inv2pi
                gs = 0.5 * kappa - row * (qs[i] / ns[i]) * sine
                gc = -lam - r2 * turn * inv2pi
                loss += 0.5 * (kappa * (sa2 + sb2) - 2.0 * (lam * c + r2 * k1))
                wam += gs * ns[i]
                wbm += gc * cs[i]
                sa[i] += gs * nw[m]
                sb[i] += gc * cw[m]
        else:
            for i in range(D):
                sb2 = nv[m] * nss[i]
                loss += 0.5 * kappa * sb2
                wam += 0.5 * kappa * ns[i]
                wbm += g0 * cs[i]
                sb[i] += g0 * cw[m]
        wa[m] = wam
        wb[m] = wbm
    return loss


@njit(**_OPTS)
def advance(W, At, V, St, lam, eta, n):
    """``n`` steps of gradient descent in place on ``W`` (M, d) and the transposed logits
    ``At`` (D, D), against ``V*`` and ``St = S*^T``; returns the excess loss before the last
    step."""
    M, d = W.shape
    D = At.shape[0]
    nv = np.empty(M)
    for m in range(M):
        nv[m] = np.sum(V[m] * V[m])
    nss = np.empty(D)
    for i in range(D):
        nss[i] = np.sum(St[i] * St[i])
    S = np.empty((D, D))  # the softmax's exponentials, each row (a column of S) unnormalised
    ns, cs, nw, cw = np.empty(D), np.empty(D), np.empty(M), np.empty(M)
    wa, wb, sa, sb = np.empty(M), np.empty(M), np.empty(D), np.empty(D)
    qw, rw, qs, rs = np.empty(M), np.empty(M), np.empty(D), np.empty(D)
    tops, inv = np.empty(D), np.empty(D)
    loss = 0.0
    for _ in range(n):
        _column_maxima(At, tops)
        for i in range(D):
            top = tops[i]
            for j in range(D):
                S[i, j] = exp_neg(top - At[i, j])
            sa[i] = 0.0
            sb[i] = 0.0
        _column_sums(S, St, inv, ns, cs)
        for m in range(M):
            n2 = 0.0
            c2 = 0.0
            for k in range(d):
                n2 += W[m, k] * W[m, k]
                c2 += W[m, k] * V[m, k]
            nw[m] = n2
            cw[m] = c2
            wa[m] = 0.0
            wb[m] = 0.0
        # sqrt(sa2 sb2) and rho factor into a part of row m and a part of column i
        for m in range(M):
            qw[m] = math.sqrt(nw[m] * nv[m])
            rw[m] = cw[m] / qw[m] if qw[m] > 0.0 else 0.0
        for i in range(D):
            qs[i] = math.sqrt(ns[i] * nss[i])
            rs[i] = cs[i] / qs[i]
        loss = _entries(nw, cw, qw, rw, ns, cs, qs, rs, nv, nss, lam, wa, wb, sa, sb)
        for m in range(M):
            a2 = 2.0 * wa[m]
            b = wb[m]
            for k in range(d):
                W[m, k] -= eta * (a2 * W[m, k] + b * V[m, k])
        lr = eta / D
        for i in range(D):
            a2 = 2.0 * sa[i]
            b = sb[i]
            col = a2 * ns[i] + b * cs[i]
            k = inv[i]
            for j in range(D):
                s = S[i, j] * k
                At[i, j] -= lr * s * (a2 * s + b * St[i, j] - col)
    return loss
