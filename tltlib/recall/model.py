"""One-layer transformers for in-context recall (arXiv 2505.15009) and their trainer.

The model family of the official code (``models.py``), written without one-hot tensors:

* fixed one-hot embeddings in width ``d = 2N``: a token ``k`` is ``E(k) = e_k`` and, as the
  previous token, ``Ẽ(k) = e_{N+k}``; position ``h`` carries ``x_h = E(z_h) + Ẽ(z_{h-1})`` (the
  first position only ``E(z_1)``). This stands for a previous-token head already formed by a
  first layer. The code's width 128 > 2N = 120 adds eight coordinates that receive no input
  and no gradient, so ``d = 2N`` gives the same numbers;
* one attention layer read at the last position: scores ``s_h = x_H^T W x_h``, weights
  ``sigma(s_h)`` with ``sigma`` linear (no normalisation), ReLU (``max(s + 1e-8, 0)``, the shift
  gives a nonzero gradient at the zero start) or a softmax over ``h``, and ``a = sum_h
  sigma(s_h) x_h``;
* logits ``xi = xi_A + xi_F`` with ``xi_A = E V a`` (the first ``N`` coordinates) and
  ``xi_F = E F (x_H + kappa a)``: the feed-forward part sees the query only (``"F"``,
  ``kappa = 0``, Chen et al.'s choice) or the stream after attention (``"FA"``, ``kappa = 1``).

Families: ``"origin"`` trains ``W, V, F`` (all ``d x d``) from zero. ``"reparam"`` fixes ``V = I``
and trains one strength per trigger: noiseless ``W = sum_k lambda_k E(k) Ẽ(k)^T`` (logits
``xi_A`` only); noisy ``W = Lambda E(q) (Ẽ(q) - E(tau))^T`` with the feed-forward part fixed at
``F = E(tau) (gamma E(q) + Ẽ(q))^T``, ``gamma = log(alpha/(1-alpha))``. ``"reparamW"`` is the
reparameterised model with ``W`` trained as a full matrix from zero.

Training is *normalised* gradient descent per parameter tensor, ``theta <- theta - eta g/||g||``,
on the cross-entropy of the next token (:func:`train_fresh` on fresh batches, approximating
population GD as the paper does; :func:`train_on_sample` for epochs over a finite sample).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError
from tltlib.core.history import History
from tltlib.core.seeding import numpy_rng
from tltlib.core.validate import one_of, positive_float, positive_int
from tltlib.recall.task import RecallBatch, RecallTask, log_odds

FAMILIES = ("origin", "reparam", "reparamW")
ATTENTIONS = ("linear", "relu", "softmax")
FF_INPUTS = ("F", "FA")
RELU_SHIFT = 1e-8


@dataclass
class Logits:
    """``total = attention + feed_forward``, each of shape (n, N)."""

    total: torch.Tensor
    attention: torch.Tensor
    feed_forward: torch.Tensor


class RecallTransformer:
    """A one-layer transformer of the family ``family`` with ``attention`` and ``ff`` input.

    ``gamma`` (noisy reparameterised models only) defaults to the log-odds of ``task.alpha``;
    the finite-sample runs pass the log-odds of the training frequency ``alpha_hat``.
    """

    def __init__(
        self,
        task: RecallTask,
        family: str,
        attention: str,
        ff: str = "FA",
        *,
        gamma: float | None = None,
        dtype: torch.dtype = torch.float64,
        relu_shift: float = RELU_SHIFT,
    ) -> None:
        self.task = task
        self.family = one_of("family", family, FAMILIES)
        self.attention = one_of("attention", attention, ATTENTIONS)
        self.ff = one_of("ff", ff, FF_INPUTS)
        self.kappa = 1.0 if ff == "FA" else 0.0
        self.dtype = dtype
        self.relu_shift = positive_float("relu_shift", relu_shift, allow_zero=True)
        N, d = task.N, 2 * task.N
        self.d = d
        self.gamma = None
        if family != "origin" and task.noisy:
            self.gamma = log_odds(task.alpha) if gamma is None else float(gamma)
        z = lambda *shape: torch.zeros(*shape, dtype=dtype, requires_grad=True)  # noqa: E731
        if family == "origin":
            self.params = {"W": z(d, d), "V": z(d, d), "F": z(d, d)}
        elif family == "reparamW":
            self.params = {"W": z(d, d)}
        elif task.noisy:
            self.params = {"Lambda": z(1)}
        else:
            self.params = {"lambda": z(task.Q)}
        self._eye = torch.eye(d, dtype=dtype)
        self._F_fixed = None
        if self.gamma is not None:
            q, tau = 0, task.tau
            self._F_fixed = torch.zeros(d, d, dtype=dtype)
            self._F_fixed[tau, q] = self.gamma
            self._F_fixed[tau, N + q] = 1.0

    @property
    def name(self) -> str:
        """The paper's label, e.g. ``Reparam-Linear-FA`` or ``Reparam-Linear-W-FA``."""
        fam = {"origin": "Origin", "reparam": "Reparam", "reparamW": "Reparam"}[self.family]
        att = {"linear": "Linear", "relu": "ReLU", "softmax": "Softmax"}[self.attention]
        w = "-W" if self.family == "reparamW" else ""
        return f"{fam}-{att}{w}-{self.ff}"

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def strength(self) -> torch.Tensor | None:
        """The trained attention strengths ``lambda`` (Q,) or ``Lambda`` (1,), if any."""
        p = self.params.get("lambda", self.params.get("Lambda"))
        return None if p is None else p.detach().clone()

    def matrices(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(W, V, F)``; ``F`` is ``None`` when the logits are ``xi_A`` only."""
        N, d, p = self.task.N, self.d, self.params
        if self.family == "origin":
            return p["W"], p["V"], p["F"]
        if self.family == "reparamW":
            W = p["W"]
        elif self.task.noisy:
            q, tau = 0, self.task.tau
            W = torch.zeros(d, d, dtype=self.dtype).index_put(
                (torch.tensor([q, q]), torch.tensor([N + q, tau])),
                torch.cat([p["Lambda"], -p["Lambda"]]),
            )
        else:
            k = torch.arange(self.task.Q)
            W = torch.zeros(d, d, dtype=self.dtype).index_put((k, N + k), p["lambda"])
        return W, self._eye, self._F_fixed

    def logits(
        self,
        tokens: torch.Tensor,
        *,
        previous: torch.Tensor | None = None,
        query: torch.Tensor | None = None,
    ) -> Logits:
        """Logits at the last position for token sequences ``tokens`` (n, H).

        ``previous`` (:func:`previous_tokens`) and ``query`` (:func:`query_embedding`) depend
        on the tokens only; :func:`batch_inputs` passes them precomputed for a batch that is
        evaluated many times (the numbers are the same).
        """
        tokens = tokens.long()
        n = tokens.shape[0]
        N, d = self.task.N, self.d
        W, V, Fm = self.matrices()
        prev = previous_tokens(tokens, N) if previous is None else previous
        z_H, prev_H = tokens[:, -1], prev[:, -1]
        Wp = F.pad(W, (0, 1))  # a zero column for the slot d
        u = Wp[z_H] + Wp[prev_H]  # x_H^T W, shape (n, d+1)
        scores = u.gather(1, tokens) + u.gather(1, prev)
        if self.attention == "linear":
            weights = scores
        elif self.attention == "relu":
            weights = torch.relu(scores + self.relu_shift)
        else:
            weights = torch.softmax(scores, dim=1)
        a = torch.zeros(n, d + 1, dtype=self.dtype)
        a = a.scatter_add_(1, tokens, weights).scatter_add_(1, prev, weights)[:, :d]
        # V = I (reparameterised models): E^T V a is the first N coordinates of a
        xi_A = a[:, :N] if V is self._eye else a @ V[:N].T
        if Fm is None:
            xi_F = torch.zeros_like(xi_A)
        else:
            x_H = query_embedding(z_H, prev_H, d, self.dtype) if query is None else query
            xi_F = (x_H + self.kappa * a) @ Fm[:N].T
        return Logits(xi_A + xi_F, xi_A, xi_F)

    def batch_logits(self, batch: RecallBatch) -> Logits:
        """:meth:`logits` of ``batch.tokens`` with the inputs kept on the batch
        (:func:`batch_inputs`): for the fixed evaluation sets."""
        tokens, previous = batch_inputs(batch, self.task.N)
        # the query's embedding is read by the feed-forward part, if there is one (F not None)
        reads_query = self.family == "origin" or self._F_fixed is not None
        query = batch_query(batch, self.task.N, self.dtype) if reads_query else None
        return self.logits(tokens, previous=previous, query=query)

    def loss(self, batch: RecallBatch) -> torch.Tensor:
        """Mean cross-entropy of the sampled next tokens (the training objective)."""
        return F.cross_entropy(self.logits(batch.tokens).total, batch.labels)


def previous_tokens(tokens: torch.Tensor, N: int) -> torch.Tensor:
    """The coordinate of each position's previous-token embedding ``Ẽ(z_{h-1}) = e_{N+z_{h-1}}``
    in width ``2N``, shape of ``tokens``; the first position, which has no previous token,
    gets ``2N``, a zero slot that the model cuts off."""
    tokens = tokens.long()
    return (N + tokens.roll(1, dims=1)).index_fill(1, torch.tensor([0]), 2 * N)


def query_embedding(
    z_H: torch.Tensor, prev_H: torch.Tensor, d: int, dtype: torch.dtype
) -> torch.Tensor:
    """``x_H = E(z_H) + Ẽ(z_{H-1})`` (n, d), from the last token ``z_H`` and the coordinate
    ``prev_H`` of its previous token (:func:`previous_tokens`)."""
    x = torch.zeros(len(z_H), d, dtype=dtype)
    rows = torch.arange(len(z_H))
    x[rows, z_H] = 1.0
    x[rows, prev_H] += 1.0
    return x


def batch_inputs(batch: RecallBatch, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, previous_tokens)`` of ``batch`` as the model reads them, computed once per
    batch and vocabulary and kept in ``batch.inputs``. Meant for the fixed evaluation sets,
    which every model reads at every recorded step; the fresh training batches are read by
    :meth:`RecallTransformer.loss` without it, so that nothing is kept per step."""
    key = ("previous", N)
    if key not in batch.inputs:
        tokens = batch.tokens.long()
        batch.inputs[key] = (tokens, previous_tokens(tokens, N))
    return batch.inputs[key]


def batch_query(batch: RecallBatch, N: int, dtype: torch.dtype) -> torch.Tensor:
    """:func:`query_embedding` of ``batch`` in width ``2N``, kept in ``batch.inputs`` as
    :func:`batch_inputs`."""
    key = ("query", N, dtype)
    if key not in batch.inputs:
        tokens, prev = batch_inputs(batch, N)
        batch.inputs[key] = query_embedding(tokens[:, -1], prev[:, -1], 2 * N, dtype)
    return batch.inputs[key]


def expected_loss(logp: torch.Tensor, batch: RecallBatch, tau: int) -> torch.Tensor:
    """Cross-entropy averaged over the label noise exactly: per sequence
    ``-(alpha log p(tau) + (1-alpha) log p(y))``; the label sampling adds no variance."""
    log_py = logp.gather(1, batch.outputs[:, None]).squeeze(1)
    if batch.alpha == 0:
        return -log_py
    return -(batch.alpha * logp[:, tau] + (1 - batch.alpha) * log_py)


@torch.no_grad()
def sequence_losses(model: RecallTransformer, batch: RecallBatch) -> torch.Tensor:
    """The expected cross-entropy of each sequence of ``batch`` (:func:`expected_loss`), (n,)."""
    logp = torch.log_softmax(model.batch_logits(batch).total, dim=1)
    return expected_loss(logp, batch, model.task.tau)


@torch.no_grad()
def evaluate(model: RecallTransformer, batch: RecallBatch) -> dict[str, float]:
    """Loss and the quantities of the paper's figures on a fixed set of sequences.

    ``loss``: expected cross-entropy (:func:`expected_loss`); ``nll_output``: mean
    ``-log p(y)``, the loss on the labels that are the in-context output; ``p_output``,
    ``p_noise``: mean predicted probabilities of ``y`` and ``tau``; ``attn_argmax_output``: fraction of sequences
    whose largest attention logit is at ``y``; ``ff_argmax_noise``: fraction whose largest
    feed-forward logit is at ``tau``; ``xiA_y``, ``xiA_max``, ``xiF_tau``, ``xiF_max``: means
    of those logits (Figures 10-12 of the paper).
    """
    out = model.batch_logits(batch)
    tau = model.task.tau
    logp = torch.log_softmax(out.total, dim=1)
    y = batch.outputs[:, None]
    xiA_y = out.attention.gather(1, y).squeeze(1)
    return {
        "loss": float(expected_loss(logp, batch, tau).mean()),
        "nll_output": float(-logp.gather(1, y).mean()),
        "p_output": float(logp.gather(1, y).exp().mean()),
        "p_noise": float(logp[:, tau].exp().mean()),
        "attn_argmax_output": float((out.attention.argmax(1) == batch.outputs).double().mean()),
        "ff_argmax_noise": float((out.feed_forward.argmax(1) == tau).double().mean()),
        "xiA_y": float(xiA_y.mean()),
        "xiA_max": float(out.attention.max(1).values.mean()),
        "xiF_tau": float(out.feed_forward[:, tau].mean()),
        "xiF_max": float(out.feed_forward.max(1).values.mean()),
    }


def normalised_gd_step(params: list[torch.Tensor], loss: torch.Tensor, eta: float) -> None:
    """``theta <- theta - eta g / ||g||_2`` for each tensor with a nonzero gradient ``g``."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            if g is None:
                continue
            norm = torch.linalg.vector_norm(g)
            if norm > 0:
                p.sub_(eta * g / norm)


def plain_gd_step(params: list[torch.Tensor], loss: torch.Tensor, eta: float) -> None:
    """Plain gradient descent ``theta <- theta - eta g`` (a foil for the normalised step)."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                p.sub_(eta * g)


STEPS = {"normalised": normalised_gd_step, "plain": plain_gd_step}


@dataclass
class RecallRun:
    """A trained model, what was recorded (``history["pop/loss"]`` ...) and the settings."""

    model: RecallTransformer
    history: History
    settings: dict[str, Any] = field(default_factory=dict)
    evals: dict[str, RecallBatch] = field(default_factory=dict)


EVAL_METRICS = (
    "loss", "nll_output", "p_output", "p_noise", "attn_argmax_output", "ff_argmax_noise",
    "xiA_y", "xiA_max", "xiF_tau", "xiF_max",
)  # fmt: skip
"""The metrics of :func:`evaluate`, in its order."""


def _record(model: RecallTransformer, evals: Mapping[str, RecallBatch], extra, skipped=()) -> dict:
    """:func:`evaluate` on each set of ``evals``, ``NaN`` for each metric of the sets named in
    ``skipped`` (not evaluated at this step), then the strengths."""
    row = dict(extra)
    for name, batch in evals.items():
        if name in skipped:
            row.update({f"{name}/{k}": math.nan for k in EVAL_METRICS})
        else:
            row.update({f"{name}/{k}": v for k, v in evaluate(model, batch).items()})
    s = model.strength()
    if s is not None:
        row["strength"] = float(s.mean())
        row.update({f"strength/{k}": float(v) for k, v in enumerate(s)})
    return row


def _check_loss(loss: torch.Tensor, eta: float, step: int) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise DivergenceError(
            f"the loss is {value} at step {step} with eta={eta:g}: the logits overflowed; "
            f"use a smaller eta or fewer steps"
        )


def default_record(steps: int, points: int = 50) -> np.ndarray:
    """``points + 1`` evenly spaced steps from 0 to ``steps`` (the rate is linear in ``t``)."""
    return np.unique(np.linspace(0, steps, points + 1).round().astype(np.int64))


TRAIN_STREAM = "recall-train"
"""The seed stream of the fresh training batches (:func:`train_fresh`, :func:`fresh_batches`)."""


def _token_dtype(N: int) -> torch.dtype:
    return torch.uint8 if N <= 256 else torch.int16 if N <= 2**15 else torch.int64


@dataclass(frozen=True)
class FreshBatches:
    """The fresh batches that :func:`train_fresh` draws for ``task``, ``seed`` and batch size
    ``size``, drawn once (:func:`fresh_batches`) so that every model trained from the same seed
    reads them without drawing them again. ``self[t]`` is the batch of step ``t``; the tokens
    are kept in the smallest integer type that holds the vocabulary (one byte for ``N <= 256``)
    and returned as ``int64``."""

    task: RecallTask
    seed: int
    size: int
    batches: tuple[RecallBatch, ...]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, t: int) -> RecallBatch:
        b = self.batches[t]
        return RecallBatch(b.tokens.long(), b.labels, b.outputs, b.positions, b.alpha)


def fresh_batches(task: RecallTask, steps: int, batch: int, seed: int = 0) -> FreshBatches:
    """The ``steps + 1`` batches of ``batch`` sequences that :func:`train_fresh` draws for
    ``steps`` steps from ``seed`` (one per step, and the last for the final training loss):
    the same numbers, drawn once. Their tokens take ``(steps + 1) batch H`` bytes for
    ``N <= 256``."""
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    rng = numpy_rng(seed, TRAIN_STREAM)
    dtype = _token_dtype(task.N)
    out = []
    for _ in range(steps + 1):
        b = task.sample_with(rng, batch)
        out.append(RecallBatch(b.tokens.to(dtype), b.labels, b.outputs, b.positions, b.alpha))
    return FreshBatches(task, seed, batch, tuple(out))


def _check_batches(batches: FreshBatches, model: RecallTransformer, steps, batch, seed) -> None:
    if not isinstance(batches, FreshBatches):
        raise ValueError(f"batches must come from fresh_batches, got {type(batches).__name__}")
    drawn = dict(task=batches.task, seed=batches.seed, batch=batches.size)
    wanted = dict(task=model.task, seed=seed, batch=batch)
    for key, value in drawn.items():
        if value != wanted[key]:
            raise ValueError(
                f"batches were drawn with {key}={value!r}, but the run has {key}={wanted[key]!r}"
            )
    if len(batches) < steps + 1:
        raise ValueError(
            f"batches holds {len(batches)} batches, fewer than the steps + 1 = {steps + 1} "
            f"that {steps} steps read"
        )


def train_fresh(
    model: RecallTransformer,
    eta: float,
    steps: int,
    *,
    batch: int = 512,
    seed: int = 0,
    evals: Mapping[str, RecallBatch] | None = None,
    record: np.ndarray | None = None,
    record_every: int | None = None,
    rule: str = "normalised",
    batches: FreshBatches | None = None,
    final_evals: Mapping[str, RecallBatch] | None = None,
    final_only: bool = False,
) -> RecallRun:
    """``steps`` steps of normalised GD, each on a fresh batch of ``batch`` sequences of
    ``model.task`` (the paper's approximation of population GD). Records :func:`evaluate`
    on each set of ``evals`` at the steps ``record`` (or every ``record_every`` steps; by
    default :func:`default_record`), as ``"<set>/<metric>"``, plus ``train_loss`` (the loss
    on the step's batch, before the step) and the strengths of reparameterised
    models (``strength``, their mean, and ``strength/k``). ``rule="plain"`` takes plain GD
    steps instead (a foil). Raises :class:`DivergenceError` if the loss is not finite.

    Less work for the same numbers: ``batches`` (:func:`fresh_batches` of ``model.task``,
    ``steps``, ``batch`` and ``seed``) are the same batches drawn beforehand; the sets of
    ``final_evals`` are evaluated at the last step only (``NaN`` at the other recorded steps;
    the run's ``evals`` hold both); ``final_only=True`` records the last step only.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    step_fn = STEPS[one_of("rule", rule, STEPS)]
    evals = dict(evals or {})
    final_evals = dict(final_evals or {})
    both = set(evals) & set(final_evals)
    if both:
        raise ValueError(f"evals and final_evals must not share a name, both have {sorted(both)}")
    if batches is not None:
        _check_batches(batches, model, steps, batch, seed)
    if final_only:
        record = [steps]
    elif record_every is not None:
        every = positive_int("record_every", record_every)
        record = np.append(np.arange(0, steps + 1, every), steps)
    elif record is None:
        record = default_record(steps)
    record = set(np.asarray(record).tolist())
    rng = numpy_rng(seed, TRAIN_STREAM) if batches is None else None
    params = model.parameters()
    history = History()
    all_evals = {**evals, **final_evals}
    dryrun.checkpoint("train_fresh")
    for t in range(steps + 1):
        step_batch = model.task.sample_with(rng, batch) if batches is None else batches[t]
        loss = model.loss(step_batch)
        _check_loss(loss, eta, t)
        if t in record:
            skipped = () if t == steps else final_evals
            extra = {"train_loss": float(loss.detach())}
            history.append(t, _record(model, all_evals, extra, skipped))
        if t < steps:
            step_fn(params, loss, eta)
    settings = dict(
        model=model.name, eta=eta, steps=steps, batch=batch, seed=seed, rule=rule,
        N=model.task.N, H=model.task.H, Q=model.task.Q, Y=model.task.Y, alpha=model.task.alpha,
    )  # fmt: skip
    return RecallRun(model, history, settings, all_evals)


def train_on_sample(
    model: RecallTransformer,
    sample: RecallBatch,
    eta: float,
    epochs: int,
    *,
    batch: int = 512,
    seed: int = 0,
    evals: Mapping[str, RecallBatch] | None = None,
    final_only: bool = False,
) -> RecallRun:
    """``epochs`` passes of normalised GD over the finite ``sample`` in shuffled minibatches of
    ``batch`` (the paper's finite-sample runs), recording :func:`evaluate` on ``evals``
    after every epoch (step = epoch); ``final_only=True`` records after the last epoch only
    (the same numbers there)."""
    eta = positive_float("eta", eta)
    epochs = positive_int("epochs", epochs)
    batch = positive_int("batch", batch)
    if batch > len(sample):
        raise ValueError(f"batch must be <= the sample size {len(sample)}, got {batch}")
    evals = dict(evals or {})
    rng = numpy_rng(seed, "recall-shuffle")
    params = model.parameters()
    history = History()
    dryrun.checkpoint("train_on_sample")
    if not final_only:
        history.append(0, _record(model, evals, {}))
    n = len(sample)
    for epoch in range(1, epochs + 1):
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for i, start in enumerate(range(0, n - batch + 1, batch)):
            loss = model.loss(sample[order[start : start + batch]])
            _check_loss(loss, eta, (epoch - 1) * (n // batch) + i)
            normalised_gd_step(params, loss, eta)
            total += float(loss.detach())
        if epoch == epochs or not final_only:
            history.append(epoch, _record(model, evals, {"train_loss": total / (n // batch)}))
    settings = dict(
        model=model.name, eta=eta, epochs=epochs, batch=batch, seed=seed, n=n,
        alpha_hat=sample.noise_frequency(model.task.tau), gamma=model.gamma,
        N=model.task.N, H=model.task.H, alpha=model.task.alpha,
    )  # fmt: skip
    return RecallRun(model, history, settings, evals)


# --- the paper's experiments ----------------------------------------------------------------

FIGURE1_MODELS = (
    ("reparam", "linear", "FA"),
    ("reparam", "softmax", "FA"),
    ("reparamW", "linear", "FA"),
    ("origin", "linear", "FA"),
    ("origin", "softmax", "F"),
)
"""The five models of the paper's Figure 1 (population runs), as (family, attention, ff)."""

FIGURE2_MODELS = (("reparam", "relu", "FA"), ("reparamW", "relu", "FA"), ("origin", "relu", "FA"))
"""The three models of the paper's Figure 2 (finite sample, ReLU attention)."""

REPARAM_MODELS = (("reparam", "linear", "FA"), ("reparam", "relu", "FA"))
"""The two models that the theory covers (linear and ReLU attention)."""


def model_names(task: RecallTask, models) -> tuple[str, ...]:
    """The paper's labels of ``models`` (``(family, attention, ff)`` triples)."""
    return tuple(RecallTransformer(task, *m).name for m in models)


def evaluation_sets(task: RecallTask, n: int, seed: int) -> dict[str, RecallBatch]:
    """``pop``: ``n`` fresh sequences (the population loss); ``unseen``: the same sequences
    with unseen outputs (:meth:`RecallTask.with_unseen_outputs`, the paper's test set)."""
    n = positive_int("n_eval", n)
    pop = task.sample(n, seed, f"recall-eval-{task.alpha}")
    return {
        "pop": pop,
        "unseen": task.with_unseen_outputs(pop, seed, f"recall-unseen-{task.alpha}"),
    }


def population_runs(
    task: RecallTask,
    models,
    eta: float,
    steps: int,
    *,
    batch: int = 512,
    n_eval: int = 512,
    seed: int = 0,
    record_every: int | None = None,
    unseen_curves=True,
) -> dict[str, RecallRun]:
    """Train each ``(family, attention, ff)`` of ``models`` with :func:`train_fresh` from the
    same seed (so all see the same batches, drawn once by :func:`fresh_batches`), keyed by the
    model's name; ``record_every`` as there.

    ``unseen_curves``: the names of the models whose metrics on the unseen outputs are recorded
    at every recorded step (the curves of the paper's Figure 1); the others are evaluated on
    them at the last step only (``NaN`` before, :func:`train_fresh`'s ``final_evals``).
    ``True`` (the default) records them for every model. The other numbers do not change.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    names = model_names(task, models)
    if unseen_curves is True:
        curves = set(names)
    else:
        curves = set(unseen_curves)
        unknown = sorted(curves - set(names))
        if unknown:
            raise ValueError(
                f"unseen_curves must name models of models {list(names)}, got {unknown}"
            )
    evals = evaluation_sets(task, n_eval, seed)
    # drawn once for all the models; a dry run stops in train_fresh before any is read
    shared = len(models) > 1 and not dryrun.active()
    batches = fresh_batches(task, steps, batch, seed) if shared else None
    runs = {}
    for (family, attention, ff), name in zip(models, names, strict=True):
        model = RecallTransformer(task, family, attention, ff)
        if name in curves:
            sets, final_sets = evals, {}
        else:
            sets, final_sets = {"pop": evals["pop"]}, {"unseen": evals["unseen"]}
        runs[name] = train_fresh(
            model, eta, steps, batch=batch, seed=seed, evals=sets, record_every=record_every,
            batches=batches, final_evals=final_sets,
        )  # fmt: skip
    return runs


def finite_sample_runs(
    task: RecallTask,
    models,
    n_train: int,
    eta: float,
    epochs: int,
    *,
    batch: int = 512,
    n_eval: int = 512,
    seed: int = 0,
    final_only: bool = False,
) -> tuple[dict[str, RecallRun], float]:
    """Train each model of ``models`` for ``epochs`` over one sample of ``n_train`` sequences
    (:func:`train_on_sample`); reparameterised models take ``gamma`` from the sample's noise
    frequency ``alpha_hat``, which is returned with the runs. ``final_only=True`` records the
    last epoch only (:func:`train_on_sample`)."""
    n_train = positive_int("n_train", n_train)
    sample = task.sample(n_train, seed, f"recall-finite-{task.alpha}")
    alpha_hat = sample.noise_frequency(task.tau)
    gamma = None
    if task.noisy:
        if not 0 < alpha_hat < 1:
            raise ValueError(
                f"n_train={n_train} is too small: the sample's noise frequency is {alpha_hat}, "
                f"so gamma = log(alpha_hat / (1 - alpha_hat)) is infinite"
            )
        gamma = log_odds(alpha_hat)
    evals = evaluation_sets(task, n_eval, seed)
    runs = {}
    for family, attention, ff in models:
        model = RecallTransformer(task, family, attention, ff, gamma=gamma)
        runs[model.name] = train_on_sample(
            model, sample, eta, epochs, batch=batch, seed=seed, evals=evals,
            final_only=final_only,
        )  # fmt: skip
    return runs, alpha_hat
