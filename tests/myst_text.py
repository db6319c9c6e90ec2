"""MyST chapter sources written by the tests (the nbval shim, the report, the sweep)."""

FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def myst_chapter(body: str) -> str:
    """A jupytext MyST notebook: the front matter of every chapter, then ``body``."""
    return FRONT_MATTER + "\n" + body
