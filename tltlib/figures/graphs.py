"""The graphs of the graph-convolution chapter (:mod:`tltlib.examples.gcn` builds them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx


def plot_graphs(graphs: dict[str, nx.Graph]) -> plt.Figure:
    """The graphs side by side, nodes on a circle in the order ``0 .. D-1``."""
    fig, axes = plt.subplots(
        1, len(graphs), figsize=(3.0 * len(graphs), 3.0), squeeze=False, layout="constrained"
    )
    for ax, (label, G) in zip(axes[0], graphs.items(), strict=True):
        pos = nx.circular_layout(sorted(G.nodes))
        nx.draw_networkx(G, pos, ax=ax, node_size=120, font_size=6, node_color="C0", font_color="w")
        ax.set_title(label)
        ax.set_axis_off()
    return fig
