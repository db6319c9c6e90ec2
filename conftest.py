"""Let nbval collect the book's MyST Markdown chapters (``pytest --nbval chapters/``).

nbval only collects ``.ipynb`` files and reads them with ``nbformat``. Our chapters are
jupytext MyST notebooks (``.md``) and no ``.ipynb`` is committed, so this shim (1) collects
every ``.md`` file whose front matter declares a jupytext kernel, and (2) lets nbval read it
through jupytext. Cells read from text have no stored outputs, so nbval executes every
cell and fails on any error (a failing ``assert`` included) without comparing outputs.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import nbval.plugin


def is_text_notebook(path: Path) -> bool:
    """True for a ``.md`` file whose YAML front matter has a jupytext ``kernelspec``."""
    if path.suffix != ".md":
        return False
    head = path.read_text(encoding="utf-8")[:2000]
    if not head.startswith("---"):
        return False
    front = head.split("---", 2)[1]
    return "jupytext:" in front and "kernelspec:" in front


class _NbformatWithJupytext:
    """``nbformat``, except that ``read`` of a ``.md`` path goes through jupytext."""

    def __getattr__(self, name):
        return getattr(nbformat, name)

    @staticmethod
    def read(fp, as_version=4, **kwargs):
        if str(fp).endswith(".md"):
            return jupytext.read(fp)
        return nbformat.read(fp, as_version=as_version, **kwargs)


nbval.plugin.nbformat = _NbformatWithJupytext()


def pytest_collect_file(file_path: Path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and is_text_notebook(file_path):
        return nbval.plugin.IPyNbFile.from_parent(parent, path=file_path)
    return None
