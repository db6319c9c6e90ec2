"""The optional parts of the install: a module that needs an extra asks for it by name.

``pip install tltlib`` brings what a chapter's code needs (``[project] dependencies`` in
``pyproject.toml``). The rest comes with an *extra*: ``book`` (building the book, ``tltlib run``
and ``report``: Jupyter Book, jupytext, papermill, ipykernel, PyYAML), ``sweep`` (``tltlib
sweep``: the book's tools, tqdm, Dask), ``test``, ``dev`` and ``all``. A module of ``tltlib``
imports an optional package only through :func:`require`, at the moment it needs it, so that a
missing package is an :class:`ImportError` that says which extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: the extras of ``pyproject.toml`` (``pip install 'tltlib[NAME]'``)
EXTRAS = ("book", "sweep", "test", "dev", "all")


class MissingExtraError(ImportError):
    """An optional package is missing; :attr:`extra` names the extra that installs it."""

    def __init__(self, module: str, extra: str, reason: str | None = None) -> None:
        self.module = module
        self.extra = extra
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"{module!r} is not installed{why}: it comes with the {extra!r} extra, "
            f"`pip install 'tltlib[{extra}]'` (in a checkout of the book: "
            "`pip install -r requirements.txt`)",
            name=module,
        )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (a dotted name) and return it.

    Raises :class:`MissingExtraError` (an :class:`ImportError`) naming ``extra`` when the
    module, or a package it imports, is missing; :class:`ValueError` for an unknown ``extra``.
    """
    if extra not in EXTRAS:
        raise ValueError(f"extra must be one of {', '.join(EXTRAS)}; got {extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = getattr(err, "name", None)
        reason = f"no module named {missing!r}" if missing and missing != module else None
        raise MissingExtraError(module, extra, reason) from err
