"""The noisy in-context recall task of Nguyen & Nguyen-Tang (arXiv 2505.15009) and its theory.

A sequence of ``H`` tokens from the vocabulary ``{0, ..., N-1}`` hides a *trigger pair*
``(q, y)``: a trigger ``q`` (one of ``Q`` trigger tokens ``0..Q-1``) immediately followed by
an output token ``y``. The last token is ``q`` again, and the next token to predict is the
``y`` that followed ``q`` in context (in-context recall, the induction-head task of Bietti et
al. 2023). In the *noisy* version (Chen, Bruna & Bietti 2025) the trigger is always ``q = 0``,
a second pair ``(q, tau)`` with the fixed noise token ``tau = N-1`` is placed elsewhere, and the
label is ``tau`` with probability ``alpha`` (a distributional association, a bigram) and ``y``
otherwise.

Constants and layout follow the official code (``train.py``): background tokens are i.i.d.
uniform on ``{Q, ..., N-2}`` (no trigger, no noise token), training outputs are
``{Q, ..., Q+Y-1}``, and *unseen* outputs ``{Q+Y, ..., N-2}`` are never outputs in training.
Positions are 0-based: the pair sits at ``(p, p+1)`` with ``p`` uniform on ``0..H-3``; the noise
pair at ``(p', p'+1)`` with ``p'`` uniform on the positions of ``0..H-3`` at distance ``>= 2``
from ``p``; the query ``q`` is at ``H-1``.

The closed forms at the end are for the *reparameterised* models of
:mod:`tltlib.recall.model` (derivations in chapter 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch

from tltlib.core.seeding import numpy_rng
from tltlib.core.validate import positive_int


def check_alpha(alpha: object) -> float:
    """``alpha`` as a float if it is a number in ``[0, 1)``, else ``ValueError``."""
    ok = isinstance(alpha, Real) and not isinstance(alpha, bool) and math.isfinite(alpha)
    if not ok or not 0 <= alpha < 1:
        raise ValueError(
            f"alpha must be a number in [0, 1) (the probability of the noise token; 0 is the "
            f"noiseless task), got {alpha!r}"
        )
    return float(alpha)


@dataclass(frozen=True)
class RecallTask:
    """Vocabulary ``N``, sequence length ``H``, ``Q`` triggers, ``Y`` training outputs, noise ``alpha``.

    ``alpha = 0`` is the noiseless task with triggers ``0..Q-1``; ``alpha > 0`` the noisy one,
    with the single trigger ``0`` and the noise token ``N-1``. Invalid values raise
    ``ValueError`` naming the parameter.
    """

    N: int = 60
    H: int = 256
    Q: int = 5
    Y: int = 4
    alpha: float = 0.0

    def __post_init__(self) -> None:
        positive_int("Q", self.Q)
        positive_int("Y", self.Y)
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        need_N = self.Q + self.Y + 2
        if isinstance(self.N, bool) or not isinstance(self.N, Integral) or self.N < need_N:
            raise ValueError(
                f"N must be an integer >= Q + Y + 2 = {need_N} (Q={self.Q} triggers, Y={self.Y} "
                f"outputs, at least one unseen output and the noise token), got {self.N!r}"
            )
        need_H = 6 if self.noisy else 3
        if isinstance(self.H, bool) or not isinstance(self.H, Integral) or self.H < need_H:
            where = (
                "the pair (q, y), the pair (q, tau) at least two positions away and the query"
                if self.noisy
                else "the pair (q, y) before the query"
            )
            raise ValueError(f"H must be an integer >= {need_H} to place {where}, got {self.H!r}")

    @property
    def noisy(self) -> bool:
        return self.alpha > 0

    @property
    def tau(self) -> int:
        """The noise token ``N-1``."""
        return self.N - 1

    @property
    def triggers(self) -> range:
        """Triggers that occur: ``0..Q-1`` (noiseless) or ``0`` alone (noisy)."""
        return range(1) if self.noisy else range(self.Q)

    @property
    def outputs(self) -> range:
        return range(self.Q, self.Q + self.Y)

    @property
    def unseen_outputs(self) -> range:
        return range(self.Q + self.Y, self.N - 1)

    def with_alpha(self, alpha: float) -> RecallTask:
        return RecallTask(self.N, self.H, self.Q, self.Y, alpha)

    def sample(self, n: int, seed: int, stream: str, *, unseen: bool = False) -> RecallBatch:
        """``n`` sequences from the stream ``stream`` of ``seed``; ``unseen=True`` draws the
        outputs from :attr:`unseen_outputs` (the generalisation test set)."""
        return self.sample_with(numpy_rng(seed, stream), n, unseen=unseen)

    def sample_with(self, rng: np.random.Generator, n: int, *, unseen: bool = False) -> RecallBatch:
        """As :meth:`sample`, drawing from ``rng`` (trainers advance one generator)."""
        n = positive_int("n", n)
        N, H, Q = self.N, self.H, self.Q
        tokens = rng.integers(Q, N - 1, size=(n, H))
        rows = np.arange(n)
        q = np.zeros(n, dtype=np.int64) if self.noisy else rng.integers(0, Q, size=n)
        y_range = self.unseen_outputs if unseen else self.outputs
        y = rng.integers(y_range.start, y_range.stop, size=n)
        p = rng.integers(0, H - 2, size=n)
        tokens[:, -1] = q
        tokens[rows, p] = q
        tokens[rows, p + 1] = y
        if self.noisy:
            # p' uniform on {0..H-3} minus {p-1, p, p+1}
            lo, hi = np.maximum(p - 1, 0), np.minimum(p + 1, H - 3)
            r = rng.integers(0, (H - 2) - (hi - lo + 1))
            p2 = np.where(r < lo, r, r + (hi - lo + 1))
            tokens[rows, p2] = q
            tokens[rows, p2 + 1] = self.tau
        is_noise = rng.random(n) < self.alpha
        labels = np.where(is_noise, self.tau, y)
        t = torch.from_numpy
        return RecallBatch(t(tokens), t(labels), t(y), t(p), self.alpha)

    def with_unseen_outputs(self, batch: RecallBatch, seed: int, stream: str) -> RecallBatch:
        """The same sequences with each output ``y`` replaced by an unseen one ``y'`` (in the
        pair and in the label): distributed as :meth:`sample` with ``unseen=True``, since ``y``
        is drawn independently of the rest, and *paired* with ``batch``, so that a difference
        of losses measures the effect of the output's identity alone."""
        rng = numpy_rng(seed, stream)
        u = self.unseen_outputs
        y_new = torch.from_numpy(rng.integers(u.start, u.stop, size=len(batch)))
        tokens = batch.tokens.clone()
        rows = torch.arange(len(batch))
        tokens[rows, batch.positions + 1] = y_new
        labels = torch.where(batch.labels == batch.outputs, y_new, batch.labels)
        return RecallBatch(tokens, labels, y_new, batch.positions.clone(), batch.alpha)


@dataclass
class RecallBatch:
    """Sequences ``tokens`` (n, H), next tokens ``labels`` (n,), the in-context outputs
    ``outputs`` (n,), the positions ``p`` of the pairs ``(q, y)`` (n,) and the noise level
    ``alpha`` they were drawn with.

    ``inputs`` keeps what a model computes from the tokens alone (the previous-token
    coordinates, the query's embedding: :func:`tltlib.recall.model.batch_inputs`), so that a
    fixed evaluation set, evaluated at every recorded step of every model, computes them once.
    The tensors of a batch are not modified in place once it is made.
    """

    tokens: torch.Tensor
    labels: torch.Tensor
    outputs: torch.Tensor
    positions: torch.Tensor
    alpha: float
    inputs: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def __getitem__(self, index) -> RecallBatch:
        return RecallBatch(
            self.tokens[index],
            self.labels[index],
            self.outputs[index],
            self.positions[index],
            self.alpha,
        )

    @property
    def triggers(self) -> torch.Tensor:
        """The trigger ``q`` of each sequence (its last token)."""
        return self.tokens[:, -1]

    def noise_frequency(self, tau: int) -> float:
        """``alpha_hat``: the fraction of labels equal to the noise token ``tau``."""
        return float((self.labels == tau).double().mean())


def noise_levels(alpha: float, alphas) -> list[float]:
    """The noise levels of chapter 10's noisy runs: ``alpha`` first, then the other entries of
    ``alphas``; each must lie in ``(0, 1)`` (``alpha = 0``, the noiseless task, always runs)."""
    levels = []
    for name, value in [("alpha", alpha)] + [("alphas", a) for a in alphas]:
        a = check_alpha(value) if name == "alpha" else _check_listed_alpha(value)
        if a == 0:
            raise ValueError(
                f"{name} must be in (0, 1) for the noisy runs (the noiseless task, alpha = 0, "
                f"is always run), got {value!r}"
            )
        if a not in levels:
            levels.append(a)
    return levels


def _check_listed_alpha(value: object) -> float:
    try:
        return check_alpha(value)
    except ValueError:
        raise ValueError(
            f"every entry of alphas must be a number in [0, 1), got {value!r}"
        ) from None


def format_sequence(task: RecallTask, batch: RecallBatch, i: int = 0) -> str:
    """Sequence ``i`` of ``batch`` as text: triggers as ``q0..``, the noise token as ``tau``,
    the pair ``(q, y)`` and the noise pair in brackets, then the label."""
    tokens, p = batch.tokens[i].tolist(), int(batch.positions[i])

    def name(k: int) -> str:
        return "tau" if task.noisy and k == task.tau else (f"q{k}" if k < task.Q else str(k))

    words = [name(k) for k in tokens]
    words[p], words[p + 1] = "[" + words[p], words[p + 1] + "]"
    if task.noisy:
        j = next(h for h in range(task.H - 2) if tokens[h + 1] == task.tau and h != p)
        words[j], words[j + 1] = "[" + words[j], words[j + 1] + "]"
    return " ".join(words) + f"  ->  {name(int(batch.labels[i]))}"


# --- theory -------------------------------------------------------------------------------


def bernoulli_entropy(alpha: float) -> float:
    """``H(alpha) = -alpha log alpha - (1-alpha) log(1-alpha)`` in nats (``H(0) = 0``)."""
    return 0.0 - sum(a * math.log(a) for a in (alpha, 1 - alpha) if a > 0)


def kl_bernoulli(a: float, b: float) -> float:
    """``KL(Ber(a) || Ber(b))`` in nats."""
    if not (0 < b < 1):
        raise ValueError(f"b must be in (0, 1), got {b!r}")
    return sum(x * math.log(x / y) for x, y in ((a, b), (1 - a, 1 - b)) if x > 0)


def log_odds(alpha: float) -> float:
    """``gamma = log(alpha / (1 - alpha))``, the feed-forward logit of the noise token."""
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1) for a log-odds, got {alpha!r}")
    return math.log(alpha / (1 - alpha))


def bayes_risk(task: RecallTask) -> float:
    """The smallest possible expected cross-entropy: 0 noiseless, ``H(alpha)`` noisy."""
    return bernoulli_entropy(task.alpha)


def _attention_weight(strength: np.ndarray, attention: str) -> np.ndarray:
    if attention == "linear":
        return strength
    if attention == "relu":
        return np.maximum(strength, 0.0)
    raise ValueError(f"attention must be 'linear' or 'relu' for the closed form, got {attention!r}")


def reparam_loss(task: RecallTask, strength, attention: str = "linear", alpha_model=None):
    """Expected loss of the reparameterised model on a sequence whose trigger has strength
    ``strength`` (elementwise on arrays).

    Noiseless: the logits are ``sigma(lambda_q) e_y``, so the loss is
    ``log(1 + (N-1) exp(-sigma(lambda_q)))``. Noisy: the logits are ``sigma(Lambda)`` on ``y``
    and ``gamma + sigma(Lambda)`` on ``tau``, with ``gamma`` the log-odds of ``alpha_model``
    (default ``task.alpha``); the expected loss is ``H(alpha) + KL(alpha || alpha_model) +
    log(1 + (1-alpha_model)(N-2) exp(-sigma(Lambda)))``. ``sigma`` is the identity or
    ``max(., 0)``; the ReLU shift of 1e-8 is ignored (see :func:`shift_tolerance`).
    """
    s = _attention_weight(np.asarray(strength, dtype=float), attention)
    N = task.N
    if not task.noisy:
        return np.log1p((N - 1) * np.exp(-s))
    a = task.alpha
    m = a if alpha_model is None else float(alpha_model)
    return bernoulli_entropy(a) + kl_bernoulli(a, m) + np.log1p((1 - m) * (N - 2) * np.exp(-s))


def reparam_population_loss(task: RecallTask, strengths, attention: str = "linear") -> float:
    """Population loss of the reparameterised model: :func:`reparam_loss` averaged over the
    uniform trigger (``strengths`` has one entry per trigger that occurs)."""
    return float(np.mean(reparam_loss(task, np.asarray(strengths, dtype=float), attention)))


def reparam_schedule(task: RecallTask, eta: float, t) -> np.ndarray:
    """Strengths under normalised population GD from zero: every step moves the parameter
    vector by exactly ``eta`` along a gradient whose entries are equal by symmetry, so
    ``lambda_q(t) = eta t / sqrt(Q)`` (noiseless) and ``Lambda(t) = eta t`` (noisy)."""
    per = 1.0 if task.noisy else 1.0 / math.sqrt(task.Q)
    return eta * per * np.asarray(t, dtype=float)


def shift_tolerance(task: RecallTask, relu_shift: float = 1e-8) -> float:
    """``2 H shift``: a bound on how far the ReLU shift (the code's ``1e-8``) moves the
    quantities we compare with the closed forms.

    The shift gives every position the weight ``1e-8``, so each logit moves by at most
    ``H 1e-8``; a probability moves by at most twice that (relative), and so does the excess
    loss (relative), since its first-order change is weighted by probability gaps of the size
    of the excess itself.
    """
    return 2 * task.H * relu_shift


def reparam_noise_probability(task: RecallTask, strength, alpha_model=None):
    """``p(tau)`` of the noisy reparameterised model (linear attention): ``m / (1 + c)``,
    ``c = (1-m)(N-2) exp(-Lambda)``, with ``m = alpha_model`` (default ``task.alpha``)."""
    m = task.alpha if alpha_model is None else float(alpha_model)
    c = (1 - m) * (task.N - 2) * np.exp(-np.asarray(strength, dtype=float))
    return m / (1 + c)


def softmax_loss_floor(task: RecallTask) -> float:
    """A lower bound on the expected loss of *any* softmax-attention model with ``V = I`` and
    the reparameterised feed-forward part.

    Attention weights are a probability vector, so the attention logits are ``>= 0`` and sum
    to 1: ``xi_y <= 1`` while every other token except ``tau`` has a logit ``>= 0``. Noiseless,
    that gives ``p(y) <= e / (e + N - 1)``, a loss ``>= log(1 + (N-1)/e)``. Noisy, with ``p(tau)``
    free, the best is ``p(tau) = alpha`` and the loss is ``>= H(alpha) + (1-alpha) log(1 + (N-2)/e)``.
    """
    if not task.noisy:
        return math.log1p((task.N - 1) / math.e)
    a = task.alpha
    return bernoulli_entropy(a) + (1 - a) * math.log1p((task.N - 2) / math.e)


def f_input_loss_floor(task: RecallTask, gamma: float | None = None) -> float:
    """The smallest expected loss of the noisy reparameterised model whose feed-forward part
    sees the query only (``F``, ``kappa = 0``), over every strength ``Lambda``.

    Its logits are ``s = sigma(Lambda)`` on ``y``, ``gamma`` on ``tau`` and ``0`` on the other
    ``N - 2`` tokens: the logit of ``tau`` no longer grows with the attention. The loss
    ``log(e^s + e^gamma + N - 2) - (1-alpha) s - alpha gamma`` is smallest where
    ``p(y) = 1 - alpha``, at ``H(alpha) + alpha log(1 + (N-2) e^{-gamma})``, above the Bayes risk
    for every ``gamma`` (``gamma`` defaults to the log-odds of ``task.alpha``). ReLU attention
    restricts ``s >= 0``, which can only raise the minimum.
    """
    if not task.noisy:
        raise ValueError("the F-input floor is for the noisy task (alpha > 0)")
    g = log_odds(task.alpha) if gamma is None else float(gamma)
    return bernoulli_entropy(task.alpha) + task.alpha * math.log1p((task.N - 2) * math.exp(-g))
