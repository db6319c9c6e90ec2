"""The 13 model variants of the official code (``train.py``) and what the paper claims for each.

The official script trains one model per call, chosen by three flags: ``-m`` the family
(``origin``, ``reparam``, ``reparamW``), ``-a`` the attention (``linear``, ``softmax``,
``relu``) and ``-k`` the feed-forward input (``kappa`` 0: the query only, label ``F``; 1: the
stream after attention, label ``FA``). Its README speaks of 13 models: the two families
``origin`` and ``reparam`` with each attention and each ``kappa`` (12), plus
``Reparam-Linear-W-FA``, the reparameterised model with a free attention matrix (the only
``reparamW`` model its figure code labels). Each is a :class:`Variant`: its name is the
paper's label, as :attr:`~tltlib.recall.model.RecallTransformer.name` spells it.

What the paper claims for each variant (v1 and the v3 abstract; the statements themselves
could not be read, see chapter 10) is the list :func:`claims_of`; the check of each claim is
in :func:`tltlib.recall.claims.variant_checks`:

* ``bayes_risk``: reaches the Bayes risk at the linear rate (the reparameterised linear and
  ReLU models; with the ``F`` input only without noise, where the feed-forward part is unused);
* ``not_bayes_optimal``: cannot reach it, its loss stays above a floor (softmax attention with
  ``V = I``; the ``F`` input with noise);
* ``unseen_equal``: the loss on unseen outputs equals the in-distribution loss (every
  reparameterised model: relabelling the outputs is a symmetry);
* ``unseen_fails``: ``-log p(y)`` several nats higher on unseen outputs (the models trained from
  scratch, v3's "without proper parameterization ... fail to generalize");
* ``attention_recall``: the *learned* attention puts its largest logit on the in-context
  output (``Reparam-Linear-W-FA``, Chen et al.'s division of labour).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tltlib.core.validate import positive_float
from tltlib.recall import model as _model
from tltlib.recall.task import RecallTask, check_alpha

ALPHAS = (0.0, 0.2, 0.5, 0.8)
"""The noise levels of the official runs (``0`` is the noiseless task)."""

ETAS = (0.1, 0.5)
"""The step sizes of the official runs (its README)."""

CLAIMS = ("bayes_risk", "not_bayes_optimal", "unseen_equal", "unseen_fails", "attention_recall")
"""Every claim a variant can carry (:func:`claims_of`)."""


@dataclass(frozen=True)
class Variant:
    """One model of the official code: ``family``, ``attention``, ``ff`` (``"F"``/``"FA"``)."""

    family: str
    attention: str
    ff: str

    @property
    def name(self) -> str:
        """The paper's label, e.g. ``Origin-Softmax-F`` or ``Reparam-Linear-W-FA``."""
        fam = "Origin" if self.family == "origin" else "Reparam"
        att = {"linear": "Linear", "relu": "ReLU", "softmax": "Softmax"}[self.attention]
        return f"{fam}-{att}{'-W' if self.family == 'reparamW' else ''}-{self.ff}"

    @property
    def triple(self) -> tuple[str, str, str]:
        """``(family, attention, ff)``, the form :mod:`tltlib.recall.model` takes."""
        return (self.family, self.attention, self.ff)

    @property
    def official_flags(self) -> str:
        """The flags of the official ``train.py`` that train this model."""
        return f"-m {self.family} -a {self.attention} -k {1 if self.ff == 'FA' else 0}"

    @property
    def trained(self) -> str:
        """What training moves, in words."""
        if self.family == "origin":
            return "W, V, F (full matrices)"
        if self.family == "reparamW":
            return "W (full matrix); V = I, F fixed (noisy) or unused"
        return "one strength per trigger; V = I, F fixed (noisy) or unused"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant(family, attention, ff)
        for family in ("origin", "reparam")
        for attention in ("linear", "relu", "softmax")
        for ff in ("F", "FA")
    ]
    + [Variant("reparamW", "linear", "FA")]
}
"""The 13 variants by name, the origin ones first."""


def get(name: object, parameter: str = "variant") -> Variant:
    """The variant called ``name``; ``ValueError`` naming ``parameter`` and the 13 names."""
    if not isinstance(name, str) or name not in VARIANTS:
        raise ValueError(f"{parameter} must be one of {list(VARIANTS)}, got {name!r}")
    return VARIANTS[name]


def check_names(names: object, parameter: str = "variants") -> tuple[str, ...]:
    """``names`` (a non-empty list of distinct variant names) as a tuple, else ``ValueError``."""
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ValueError(
            f"{parameter} must be a list of names from {list(VARIANTS)}, got {names!r}"
        )
    out = tuple(get(n, f"every entry of {parameter}").name for n in names)
    if not out or len(set(out)) < len(out):
        raise ValueError(f"{parameter} must be a non-empty list of distinct names, got {names!r}")
    return out


def check_grid_value(parameter: str, value: object, allowed: Sequence[float]) -> float:
    """``value`` if it is one of ``allowed`` (the official grid), else ``ValueError``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or float(value) not in allowed:
        raise ValueError(f"{parameter} must be one of {list(allowed)}, got {value!r}")
    return float(value)


def claims_of(variant: str | Variant, alpha: float) -> tuple[str, ...]:
    """What the paper claims for ``variant`` at the noise level ``alpha`` (see the module)."""
    v = variant if isinstance(variant, Variant) else get(variant)
    alpha = check_alpha(alpha)
    if v.family == "origin":
        return ("unseen_fails",)
    if v.family == "reparamW":
        return ("attention_recall",)
    optimal = v.attention != "softmax" and (v.ff == "FA" or alpha == 0)
    return ("bayes_risk" if optimal else "not_bayes_optimal", "unseen_equal")


def train(
    task: RecallTask,
    variant: str,
    alpha: float,
    eta: float,
    steps: int,
    *,
    batch: int = 512,
    n_eval: int = 512,
    seed: int = 0,
    record_every: int | None = None,
) -> _model.RecallRun:
    """Train ``variant`` on ``task`` at the noise level ``alpha`` with step size ``eta`` (fresh
    batches, :func:`tltlib.recall.model.train_fresh`, evaluated on
    :func:`~tltlib.recall.model.evaluation_sets`). ``ValueError`` names a wrong ``variant``
    (and the 13 names), ``alpha`` (must be in ``[0, 1)``) or ``eta`` (``> 0``)."""
    v = get(variant)
    task = task.with_alpha(check_alpha(alpha))
    eta = positive_float("eta", eta)
    return population_runs(
        task, (v.name,), eta, steps, batch=batch, n_eval=n_eval, seed=seed,
        record_every=record_every,
    )[v.name]  # fmt: skip


def population_runs(
    task: RecallTask, names: Iterable[str], eta: float, steps: int, **kwargs
) -> dict[str, _model.RecallRun]:
    """:func:`tltlib.recall.model.population_runs` of the variants ``names`` (checked by
    :func:`check_names`), keyed by name; ``kwargs`` as there."""
    return _model.population_runs(task, triples(names), eta, steps, **kwargs)


def triples(names: Iterable[str]) -> tuple[tuple[str, str, str], ...]:
    """The ``(family, attention, ff)`` of each name of ``names`` (checked)."""
    return tuple(VARIANTS[n].triple for n in check_names(names))
