"""arXiv 2601.16514 (Arda, Cayci & Eryilmaz): a shallow multi-head transformer trained by
projected gradient descent in the kernel regime.

``model`` (the transformer, its paired initialisation, projected GD), ``transport`` (the
transport-map teacher and its random-feature estimates), ``recurrent`` (the IndRNN baseline on
AR(L) series), ``experiments`` (sweeps over width, sample size and sequence length; the
chapters' parameter checks), ``claims`` (the measured checks), ``figures``, ``linearization``
(the official code's linearisation experiment), ``exponents`` (fitted exponents with 95%
intervals against the theory) and ``band_figures`` (09a's figures with 95% bands). The room uses
:mod:`tltlib.core` and :mod:`tltlib.model` only, never the main paper's trainers or claims.
"""

from . import (
    band_figures,
    claims,
    experiments,
    exponents,
    figures,
    linearization,
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
    "linearization",
    "model",
    "recurrent",
    "transport",
]
