"""What the transformer and the IndRNN must hold in memory, counted from the tensors themselves.

* **Inference** (:func:`streaming_state`): the tokens of one sequence arrive one at a time and
  each model keeps what it needs to give ``f`` after the last one. The IndRNN keeps its state
  ``h_t`` (``m`` floats, whatever the length). The transformer's heads attend *from the last
  token*, which is not known before the end, so it must keep every token (``d`` floats each) and
  then score each of them in every head (``m`` more floats per token). The count is the number
  of floats in the tensors the stream holds; the value it returns is compared with the batch
  forward pass, so what is counted is the model that is trained.
* **Training** (:func:`saved_for_backward`): the floats autograd saves for the backward pass of
  one sequence, counted with ``torch.autograd.graph.saved_tensors_hooks``. Backpropagation
  through time keeps every ``h_t``, so here the IndRNN's memory grows with the length too.

Both counts are exact and machine-independent (no timing, no process memory).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tltlib.core.seeding import generator
from tltlib.core.validate import positive_int
from tltlib.kernel.model import ShallowTransformer
from tltlib.kernel.recurrent import IndRNN


def _transformer_stream(model: ShallowTransformer, x: torch.Tensor) -> tuple[float, list[int]]:
    held, context = [], x[:, :0]
    for t in range(x.shape[1]):
        context = torch.cat([context, x[:, t : t + 1]], dim=1)  # every token is kept
        held.append(context.numel())
    query = torch.einsum("mde,e->md", model.W, context[:, -1])  # known only at the end
    scores = query @ context  # (m, T): one score per head and token
    alpha = model.attention(scores)
    s = ((alpha @ context.T) * model.U).sum(-1)
    held[-1] += scores.numel()
    return float(model.activation(s) @ model.c / math.sqrt(model.m)), held


def _rnn_stream(model: IndRNN, x: torch.Tensor) -> tuple[float, list[int]]:
    held, h = [], torch.zeros(model.m, dtype=model.dtype)
    for t in range(x.shape[1]):
        h = model.activation(model.W_in @ x[:, t] + model.u * h)  # the token is then dropped
        held.append(h.numel())
    return float(h @ model.c / math.sqrt(model.m)), held


@torch.no_grad()
def streaming_state(model: ShallowTransformer | IndRNN, x: torch.Tensor) -> dict[str, object]:
    """Feed the tokens of one sequence ``x`` ``(d, T)`` one at a time; return the floats the
    model holds after each token (``held``, the last entry includes the transformer's
    ``m x T`` attention scores), their maximum (``peak``) and ``|f_stream - f_batch|``
    (``gap``, zero up to rounding: the stream computes the same network)."""
    if isinstance(model, ShallowTransformer):
        value, held = _transformer_stream(model, x.to(model.dtype))
    elif isinstance(model, IndRNN):
        value, held = _rnn_stream(model, x.to(model.dtype))
    else:
        raise ValueError(f"model must be a ShallowTransformer or an IndRNN, got {type(model)}")
    x = x.to(model.dtype)
    batch = float(model(x[None])[0])
    return {"held": np.asarray(held), "peak": int(max(held)), "gap": abs(value - batch)}


def saved_for_backward(model: ShallowTransformer | IndRNN, x: torch.Tensor) -> int:
    """Floats autograd saves for the backward pass of ``f`` on one sequence ``x`` ``(d, T)``
    (each saved tensor counted once, parameters excluded: they are held anyway)."""
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
        if t.data_ptr() not in params:
            seen[key] = t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x.to(model.dtype)[None])
    return int(sum(seen.values()))


def memory_by_length(
    lengths: list[int], d: int, m: int, seed: int, pairs: int = 8
) -> dict[str, np.ndarray]:
    """For each sequence length ``T`` (a random ``(d, T)`` sequence): each model's peak
    streaming state (``tf_inference``, ``rnn_inference``), the floats saved for backward
    (``tf_training``, ``rnn_training``) and the largest stream-against-batch gap (``gap``).
    Both models are moved from their paired initialisation (where ``f = 0`` and the gap would
    be trivially zero) by a random step."""
    d, m = positive_int("d", d), positive_int("m", m)
    tf = ShallowTransformer.paired(d, m, seed, "memory-tf")
    rnn = IndRNN(d, m, seed, "memory-rnn")
    g = generator(seed, "memory-step")
    with torch.no_grad():
        for p in tf.parameters() + rnn.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    keys = ("tf_inference", "rnn_inference", "tf_training", "rnn_training")
    out = {k: np.empty(len(lengths)) for k in keys}
    gap = 0.0
    for i, T in enumerate(lengths):
        g = generator(seed, f"memory-{T}")
        x = torch.randn(d, positive_int("T", T), generator=g, dtype=tf.dtype)
        for name, model in (("tf", tf), ("rnn", rnn)):
            stream = streaming_state(model, x)
            out[f"{name}_inference"][i] = stream["peak"]
            out[f"{name}_training"][i] = saved_for_backward(model, x)
            gap = max(gap, stream["gap"])
    out["T"] = np.asarray(lengths)
    out["gap"] = np.asarray(gap)
    out["d"], out["m"] = np.asarray(d), np.asarray(m)
    return out


def per_token(lengths: np.ndarray, floats: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``floats = intercept + slope * T``: ``(slope, largest residual)``
    (the counts are exact, so an affine count has residual 0 up to rounding; the slope is
    rounded to 9 decimals)."""
    T, y = np.asarray(lengths, dtype=float), np.asarray(floats, dtype=float)
    A = np.stack([T, np.ones_like(T)], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    slope = float(np.round(coef[0], 9)) + 0.0  # exact counts: drop the fit's rounding (and -0)
    return slope, float(np.max(np.abs(A @ coef - y)))
