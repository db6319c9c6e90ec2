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

    def logits(self, tokens: torch.Tensor) -> Logits:
        """Logits at the last position for token sequences ``tokens`` (n, H)."""
        tokens = tokens.long()
        n = tokens.shape[0]
        N, d = self.task.N, self.d
        W, V, Fm = self.matrices()
        # index d is a zero slot: the first position has no previous token
        prev = (N + tokens.roll(1, dims=1)).index_fill(1, torch.tensor([0]), d)
        z_H, prev_H = tokens[:, -1], prev[:, -1]
        u = F.pad(W[z_H] + W[prev_H], (0, 1))  # x_H^T W, shape (n, d+1)
        scores = u.gather(1, tokens) + u.gather(1, prev)
        if self.attention == "linear":
            weights = scores
        elif self.attention == "relu":
            weights = torch.relu(scores + self.relu_shift)
        else:
            weights = torch.softmax(scores, dim=1)
        a = torch.zeros(n, d + 1, dtype=self.dtype)
        a = a.scatter_add(1, tokens, weights).scatter_add(1, prev, weights)[:, :d]
        xi_A = a @ V[:N].T
        if Fm is None:
            xi_F = torch.zeros_like(xi_A)
        else:
            x_H = F.one_hot(z_H, d).to(self.dtype) + F.one_hot(prev_H, d).to(self.dtype)
            xi_F = (x_H + self.kappa * a) @ Fm[:N].T
        return Logits(xi_A + xi_F, xi_A, xi_F)

    def loss(self, batch: RecallBatch) -> torch.Tensor:
        """Mean cross-entropy of the sampled next tokens (the training objective)."""
        return F.cross_entropy(self.logits(batch.tokens).total, batch.labels)


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
    logp = torch.log_softmax(model.logits(batch.tokens).total, dim=1)
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
    out = model.logits(batch.tokens)
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


def _record(model: RecallTransformer, evals: Mapping[str, RecallBatch], extra) -> dict:
    row = dict(extra)
    for name, batch in evals.items():
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
) -> RecallRun:
    """``steps`` steps of normalised GD, each on a fresh batch of ``batch`` sequences of
    ``model.task`` (the paper's approximation of population GD). Records :func:`evaluate`
    on each set of ``evals`` at the steps ``record`` (or every ``record_every`` steps; by
    default :func:`default_record`), as ``"<set>/<metric>"``, plus ``train_loss`` (the loss
    on the step's batch, before the step) and the strengths of reparameterised
    models (``strength``, their mean, and ``strength/k``). ``rule="plain"`` takes plain GD
    steps instead (a foil). Raises :class:`DivergenceError` if the loss is not finite.
    """
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    batch = positive_int("batch", batch)
    step_fn = STEPS[one_of("rule", rule, STEPS)]
    evals = dict(evals or {})
    if record_every is not None:
        every = positive_int("record_every", record_every)
        record = np.append(np.arange(0, steps + 1, every), steps)
    elif record is None:
        record = default_record(steps)
    record = set(np.asarray(record).tolist())
    rng = numpy_rng(seed, "recall-train")
    params = model.parameters()
    history = History()
    dryrun.checkpoint("train_fresh")
    for t in range(steps + 1):
        loss = model.loss(model.task.sample_with(rng, batch))
        _check_loss(loss, eta, t)
        if t in record:
            history.append(t, _record(model, evals, {"train_loss": float(loss.detach())}))
        if t < steps:
            step_fn(params, loss, eta)
    settings = dict(
        model=model.name, eta=eta, steps=steps, batch=batch, seed=seed, rule=rule,
        N=model.task.N, H=model.task.H, Q=model.task.Q, Y=model.task.Y, alpha=model.task.alpha,
    )  # fmt: skip
    return RecallRun(model, history, settings, evals)


def train_on_sample(
    model: RecallTransformer,
    sample: RecallBatch,
    eta: float,
    epochs: int,
    *,
    batch: int = 512,
    seed: int = 0,
    evals: Mapping[str, RecallBatch] | None = None,
) -> RecallRun:
    """``epochs`` passes of normalised GD over the finite ``sample`` in shuffled minibatches of
    ``batch`` (the paper's finite-sample runs), recording :func:`evaluate` on ``evals``
    after every epoch (step = epoch)."""
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
) -> dict[str, RecallRun]:
    """Train each ``(family, attention, ff)`` of ``models`` with :func:`train_fresh` from the
    same seed (so all see the same batches), keyed by the model's name; ``record_every`` as
    there."""
    evals = evaluation_sets(task, n_eval, seed)
    runs = {}
    for family, attention, ff in models:
        model = RecallTransformer(task, family, attention, ff)
        runs[model.name] = train_fresh(
            model, eta, steps, batch=batch, seed=seed, evals=evals, record_every=record_every
        )
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
) -> tuple[dict[str, RecallRun], float]:
    """Train each model of ``models`` for ``epochs`` over one sample of ``n_train`` sequences
    (:func:`train_on_sample`); reparameterised models take ``gamma`` from the sample's noise
    frequency ``alpha_hat``, which is returned with the runs."""
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
            model, sample, eta, epochs, batch=batch, seed=seed, evals=evals
        )
    return runs, alpha_hat
