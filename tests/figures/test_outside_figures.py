"""Chapter 11's figures draw from histories alone."""

import matplotlib.pyplot as plt
import numpy as np

from tltlib.core.history import History
from tltlib.figures import outside


def _history(**metrics):
    h = History()
    for i, t in enumerate([0, 1, 10, 100]):
        h.append(t, {k: v[i] for k, v in metrics.items()})
    return h


def test_plot_weighted():
    e = [1.0, 0.5, 0.1, 0.01]
    hs = {
        "uniform": _history(excess_direct=e, on_spread=[0, 0, 0, 0]),
        "full": _history(excess_direct=e),
    }
    fig = outside.plot_weighted(hs, (np.array([50, 100]), np.array([0.02, 0.01])), {"uniform": 0.0})
    assert len(fig.axes) == 3
    plt.close(fig)


def test_plot_selection():
    hs = {
        "full": _history(excess_loss=[3.0, 2.0, 1.0, 0.1], subset_mass=[0.3, 0.4, 0.6, 0.9]),
        "blind": _history(task_excess=[4.0, 3.5, 3.4, 3.4]),
    }
    fig = outside.plot_selection(hs, {"full": "excess_loss", "blind": "task_excess"}, 3.3)
    assert len(fig.axes) == 2
    plt.close(fig)
