"""arXiv 2601.16514 (Arda, Cayci & Eryilmaz): a shallow multi-head transformer trained by
projected gradient descent in the kernel regime.

``model`` (the transformer, its paired initialisation, projected GD), ``transport`` (the
transport-map teacher and its random-feature estimates), ``recurrent`` (the IndRNN baseline on
AR(L) series), ``experiments`` (sweeps over width, sample size and sequence length; the
chapters' parameter checks), ``claims`` (the measured checks) and ``figures``; for chapter 09a,
``linearization`` (the official code's linearisation experiment), ``exponents`` (fitted
exponents with 95% intervals against the theory) and ``band_figures`` (its figures with 95%
bands); for chapter 09b, ``length`` (the AR(L) comparison over seeds), ``memory`` (the floats
each model holds), ``length_claims`` and ``length_figures``. The room uses
:mod:`tltlib.core` and :mod:`tltlib.model` only, never the main paper's trainers or claims.
"""

from . import (
    band_figures,
    claims,
    experiments,
    exponents,
    figures,
    length,
    length_claims,
    length_figures,
    linearization,
    memory,
    model,
    recurrent,
    transport,
)

__all__ = [
    "band_figures",
    "claims",
    "experiments",
    "exponents",
    "figures",
    "length",
    "length_claims",
    "length_figures",
    "linearization",
    "memory",
    "model",
    "recurrent",
    "transport",
]
