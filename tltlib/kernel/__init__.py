"""arXiv 2601.16514 (Arda, Cayci & Eryilmaz): a shallow multi-head transformer trained by
projected gradient descent in the kernel regime.

``model`` (the transformer, its paired initialisation, projected GD), ``transport`` (the
transport-map teacher and its random-feature estimates), ``recurrent`` (the IndRNN baseline on
AR(L) series), ``experiments`` (sweeps over width, sample size and sequence length; the
chapters' parameter checks), ``claims`` (the measured checks) and ``figures`` (every plot of
both chapters, with 95% bands over seeds); for chapter 09a, ``linearization`` (the official
code's linearisation experiment) and ``exponents`` (fitted exponents with 95% intervals against
the theory); for chapter 09b, ``length`` (the AR(L) comparison over seeds), ``lag_grid``
(``python -m tltlib.kernel.lag_grid``: the same comparison at a larger size over chapter seeds,
stored as data; not imported here, so that it runs as a script), ``memory`` (the
floats each model holds) and ``length_claims`` (their checks). The room uses
:mod:`tltlib.core` and :mod:`tltlib.model` only, never the main paper's trainers or claims.
"""

from . import (
    claims,
    experiments,
    exponents,
    figures,
    length,
    length_claims,
    linearization,
    memory,
    model,
    recurrent,
    transport,
)

__all__ = [
    "claims",
    "experiments",
    "exponents",
    "figures",
    "length",
    "length_claims",
    "linearization",
    "memory",
    "model",
    "recurrent",
    "transport",
]
