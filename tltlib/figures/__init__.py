"""Every plot of the main paper's chapters; functions take results and return a ``Figure``.

``curves`` (the book's style, score heatmaps, training curves), ``graphs`` (the graphs of the
graph convolution), ``sets`` (Figure 2, the six sets), ``theorems`` (phases, scaling
collapses, step sizes, OOD curves, Figure 1), ``images`` (Figures 4 and 5), ``outside`` (chapter 11) and ``sweep`` (the
plot of ``python -m tltlib sweep``; not imported here, so that the command line loads no torch).
``figures`` draws what it is given and never trains: it imports :mod:`tltlib.model` and
:mod:`tltlib.core` only.
"""

from . import curves, graphs, images, outside, sets, theorems

__all__ = ["curves", "graphs", "images", "outside", "sets", "theorems"]
