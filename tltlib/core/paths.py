"""Where the book is: the one place that knows the layout of a checkout.

``tltlib`` is installed in editable mode from a checkout of the book, so the book's root is
the folder above the package. Outside a checkout (a plain install) :data:`ROOT` still names
that folder, and :func:`in_checkout` says that it holds no book.
"""

from __future__ import annotations

from pathlib import Path

#: the package's own folder (``tltlib/``)
PACKAGE = Path(__file__).resolve().parent.parent
#: the book's root: ``_config.yml``, ``_toc.yml``, ``chapters/``
ROOT = PACKAGE.parent
#: the chapters, one MyST Markdown notebook each
CHAPTERS = ROOT / "chapters"
#: executed notebooks of ``python -m tltlib run`` and ``sweep`` (git-ignored)
RUNS = ROOT / "runs"
#: the book build's output; the default-parameter check records go to ``BUILD / "checks"``
BUILD = ROOT / "_build"


def in_checkout() -> bool:
    """True if :data:`ROOT` is a checkout of the book (``_config.yml`` and ``chapters/``)."""
    return (ROOT / "_config.yml").is_file() and CHAPTERS.is_dir()
