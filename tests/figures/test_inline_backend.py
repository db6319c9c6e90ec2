"""The book's figures appear whatever matplotlib backend the environment sets.

ipykernel puts a kernel on the inline backend only when ``MPLBACKEND`` is unset; with
``MPLBACKEND=Agg`` a cell's ``plt.show()`` displays nothing, and a figure cell of the book
(``mystnb: figure: name: ...``) then has no image and its label is undefined. The chapters call
``figures.curves.use_book_style()``, which selects the inline backend in a kernel.
"""

import base64

import matplotlib
import nbformat
from nbclient import NotebookClient

from tltlib.figures import curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CELLS = [
    # before the book's style: what the environment's backend does by itself
    "import matplotlib\nimport matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()",
    "from tltlib import figures\nfigures.curves.use_book_style()\nprint(matplotlib.get_backend())",
    # a chapter's figure cell: the figure, then plt.show()
    'figures.curves.plot_scores({"$S^*$": [[0.5, 0.5], [0.5, 0.5]]})\nplt.show()',
    # a figure kept in a variable and never shown: flushed at the end of the cell, as inline does
    'fig = figures.curves.plot_scores({"$S$": [[1.0, 0.0], [0.0, 1.0]]})\nx = 1',
]


def execute(tmp_path, monkeypatch, backend):
    """Run :data:`CELLS` in a fresh kernel whose environment has ``MPLBACKEND=backend``
    (unset for ``None``); the PNG images of each cell."""
    if backend is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", backend)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    images = []
    for cell in nb.cells:
        pngs = [
            base64.b64decode(out["data"]["image/png"])
            for out in cell.outputs
            if "image/png" in out.get("data", {})
        ]
        assert all(p.startswith(PNG_MAGIC) for p in pngs)
        images.append(pngs)
    return nb, images


def test_figures_are_displayed_under_agg_as_under_the_default_backend(tmp_path, monkeypatch):
    nb_agg, agg = execute(tmp_path, monkeypatch, "Agg")
    # the environment does reproduce the problem: on Agg, plt.show() displays nothing
    assert agg[0] == []
    assert "inline" in nb_agg.cells[1].outputs[0]["text"]
    # after use_book_style, each figure cell displays its one figure
    assert len(agg[2]) == 1 and len(agg[3]) == 1

    _, default = execute(tmp_path, monkeypatch, None)
    assert len(default[0]) == 1
    # the same images, byte for byte, whatever the environment's backend
    assert agg[2:] == default[2:]


def test_outside_a_kernel_the_backend_is_left_alone():
    before = matplotlib.get_backend()
    assert curves.use_inline_backend() is False
    assert matplotlib.get_backend() == before
