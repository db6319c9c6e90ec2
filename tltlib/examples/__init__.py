"""The paper's teachers in their natural form, and the variants around them.

``cnn`` (convolution with average pooling, Example 2.1), ``gcn`` (graph convolution,
Example 2.2), ``selection`` (sparse token selection, Example 2.3 and Remark 2.4), ``selection_full`` (its
per-sample subsets given in the input, learnt by the full transformer),
``groupsparse`` (group-sparse linear predictor, Example 2.5, and its logistic version),
``digits`` (handwritten digits, offline) and ``cnn_training`` (the trained CNN teacher of
Section 4.2). Built on :mod:`tltlib.model`, :mod:`tltlib.train` and :mod:`tltlib.core`.
"""

from . import cnn, cnn_training, digits, gcn, groupsparse, selection, selection_full

__all__ = [
    "cnn",
    "cnn_training",
    "digits",
    "gcn",
    "groupsparse",
    "selection",
    "selection_full",
]
