"""What a notebook shows of a result that is text: a Markdown table."""

from __future__ import annotations


class MarkdownTable(str):
    """A string that a notebook renders as Markdown."""

    def _repr_markdown_(self) -> str:
        return str(self)
