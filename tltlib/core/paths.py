"""Where the book is: the one place that knows the layout of a checkout.

``tltlib`` is installed in editable mode from a checkout of the book, so the book's root is
the folder above the package. After a plain install (``pip install .``) the package lives in
``site-packages``: :data:`ROOT` is then the nearest folder at or above the current one that
holds a book, else the current folder (so that runs and records never land in
``site-packages``), and :func:`in_checkout` says whether it holds a book.
"""

from __future__ import annotations

from pathlib import Path

#: the package's own folder (``tltlib/``)
PACKAGE = Path(__file__).resolve().parent.parent


def _is_book(folder: Path) -> bool:
    return (folder / "_config.yml").is_file() and (folder / "chapters").is_dir()


def _find_root() -> Path:
    if _is_book(PACKAGE.parent):
        return PACKAGE.parent
    here = Path.cwd().resolve()
    return next((f for f in (here, *here.parents) if _is_book(f)), here)


#: the book's root: ``_config.yml``, ``_toc.yml``, ``chapters/``
ROOT = _find_root()
#: the chapters, one MyST Markdown notebook each
CHAPTERS = ROOT / "chapters"
#: executed notebooks of ``python -m tltlib run`` and ``sweep`` (git-ignored)
RUNS = ROOT / "runs"
#: the book build's output; the default-parameter check records go to ``BUILD / "checks"``
BUILD = ROOT / "_build"


def in_checkout() -> bool:
    """True if :data:`ROOT` is a checkout of the book (``_config.yml`` and ``chapters/``)."""
    return _is_book(ROOT)
