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


@njit(**_SUMS)
def _column_max(row):
    top = row[0]
    for j in range(1, row.shape[0]):
        top = max(top, row[j])
    return top


@njit(**_SUMS)
def _normalise(row, target):
    """Divide ``row`` by its sum in place; return ``(||row||^2, <row, target>)``."""
    tot = 0.0
    for j in range(row.shape[0]):
        tot += row[j]
    inv = 1.0 / tot
    n2 = 0.0
    c2 = 0.0
    for j in range(row.shape[0]):
        s = row[j] * inv
        row[j] = s
        n2 += s * s
        c2 += s * target[j]
    return n2, c2


@njit(**_OPTS)
def advance(W, At, V, St, lam, eta, n):
    """``n`` steps of gradient descent in place on ``W`` (M, d) and the transposed logits
    ``At`` (D, D), against ``V*`` and ``St = S*^T``; returns the excess loss before the last
    step."""
    M, d = W.shape
    D = At.shape[0]
    kappa = 0.5 * (1.0 + lam * lam)
    r2 = (1.0 - lam) * (1.0 - lam)
    g0 = -0.5 * (1.0 + lam)
    inv2pi = 1.0 / (2.0 * math.pi)
    nv = np.empty(M)
    for m in range(M):
        nv[m] = np.sum(V[m] * V[m])
    nss = np.empty(D)
    for i in range(D):
        nss[i] = np.sum(St[i] * St[i])
    S = np.empty((D, D))
    ns, cs, nw, cw = np.empty(D), np.empty(D), np.empty(M), np.empty(M)
    wa, wb, sa, sb = np.empty(M), np.empty(M), np.empty(D), np.empty(D)
    qw, rw, qs, rs = np.empty(M), np.empty(M), np.empty(D), np.empty(D)
    loss = 0.0
    for _ in range(n):
        for i in range(D):
            top = _column_max(At[i])
            for j in range(D):
                S[i, j] = exp_neg(top - At[i, j])
            ns[i], cs[i] = _normalise(S[i], St[i])
            sa[i] = 0.0
            sb[i] = 0.0
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
        loss = 0.0
        for m in range(M):
            for i in range(D):
                sa2 = nw[m] * ns[i]
                sb2 = nv[m] * nss[i]
                c = cw[m] * cs[i]
                if sa2 > 0.0:
                    ab = qw[m] * qs[i]
                    rho = min(max(rw[m] * rs[i], -1.0), 1.0)
                    sine = math.sqrt(1.0 - rho * rho)
                    turn = math.pi - math.acos(rho)
                    k1 = (ab * sine + turn * c) * inv2pi
                    gs = 0.5 * kappa - r2 * ab * sine / (4.0 * math.pi * sa2)
                    gc = -lam - r2 * turn * inv2pi
                else:
                    k1 = 0.0
                    gs = 0.5 * kappa
                    gc = g0
                loss += 0.5 * (kappa * (sa2 + sb2) - 2.0 * (lam * c + r2 * k1))
                wa[m] += gs * ns[i]
                wb[m] += gc * cs[i]
                sa[i] += gs * nw[m]
                sb[i] += gc * cw[m]
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
            for j in range(D):
                s = S[i, j]
                At[i, j] -= lr * s * (a2 * s + b * St[i, j] - col)
    return loss
