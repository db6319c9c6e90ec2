"""arXiv 2505.15009 (Nguyen & Nguyen-Tang): one-layer transformers are Bayes-optimal for noisy
in-context recall.

``task`` (the recall task and its theory: Bayes risk, the reparameterised losses), ``model``
(the model family of the official code and its trainers), ``claims`` (the measured checks)
and ``figures`` (the paper's figures and the chapter's tables). The room uses
:mod:`tltlib.core` and :mod:`tltlib.model` only, never the main paper's trainers or claims.
"""

from . import claims, figures, model, task

__all__ = ["claims", "figures", "model", "task"]
