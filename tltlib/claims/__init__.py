"""The paper's claims as measurements, each recorded in a :class:`~tltlib.core.CheckLog`.

By theme: ``training`` (rates, recovery of both blocks, Lemma D.2, the overshoot and its
height), ``full`` (Figure 1: which blocks of the full transformer move), ``scaling`` (scaling laws on the reduced
dynamics), ``ood`` (Theorem 3.2), ``ood_scaling`` (its ``T_eps``: the powers, ReLU and Leaky
ReLU), ``sets`` (the six experimental sets of Figure 2), ``images`` (the MNIST experiment) and
``outside`` (outside the assumptions: non-Gaussian inputs, K close to D, non-uniform S*,
subsets given in the input). Built on
:mod:`tltlib.model`, :mod:`tltlib.train`, :mod:`tltlib.examples` and :mod:`tltlib.core`.
"""

from . import full, images, ood, ood_scaling, outside, scaling, sets, training

__all__ = ["full", "images", "ood", "ood_scaling", "outside", "scaling", "sets", "training"]
