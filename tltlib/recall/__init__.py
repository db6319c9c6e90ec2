"""arXiv 2505.15009 (Nguyen & Nguyen-Tang): one-layer transformers are Bayes-optimal for noisy
in-context recall.

``task`` (the recall task and its theory: Bayes risk, the reparameterised losses), ``model``
(the model family of the official code and its trainers), ``variants`` (the 13 models of the
official code and what the paper claims for each), ``claims`` (the measured checks),
``figures`` (the paper's figures, the chapter's tables and the stored grid) and ``grid``
(``python -m tltlib.recall.grid``: every variant at every official noise level and step size;
not imported here, so that it runs as a script). The room uses
:mod:`tltlib.core` and :mod:`tltlib.model` only, never the main paper's trainers or claims.
"""

from . import claims, figures, model, task, variants

__all__ = ["claims", "figures", "model", "task", "variants"]
