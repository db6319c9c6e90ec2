"""``python -m tltlib pdf``: the whole book as one PDF, printed offline by the system Chromium.

Jupyter Book's own PDF builders download a browser (``pdfhtml``) or need LaTeX
(``pdflatex``); this machine has neither, but it has Chromium (Debian's ``chromium``, which the
browser test drives too). So:

1. :func:`build_singlehtml` builds the book with Sphinx's ``singlehtml`` builder
   (``jupyter-book build . --builder singlehtml``): every page of ``_toc.yml`` in order in one
   document, cross-references turned into links inside it, MathJax served from ``_static``
   (no network). The notebooks come from the execution cache of the HTML build (see
   :mod:`tltlib.book.sphinx`), so after ``jupyter-book build .`` this executes nothing;
2. :func:`printable` writes ``print.html`` beside it: the same document with a title page, a
   table of contents (one entry per page of the book, linked to it), each page starting on a
   new sheet, and the web page's navigation hidden;
3. :func:`print_pdf` has headless Chromium load it, let MathJax typeset (the virtual-time
   budget lets every script and font finish before printing) and print it to
   ``_build/pdf/book.pdf`` with the PDF's outline (bookmarks) made from the headings.

No number or title is written here: the titles come from the built pages.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tltlib.core.extras import require
from tltlib.core.paths import ROOT

#: where the PDF goes, under the book's root
PDF_PATH = Path("_build") / "pdf" / "book.pdf"
#: the output of the ``singlehtml`` builder, under the book's root
SINGLEHTML = Path("_build") / "singlehtml"
#: Chromium's flags for a closed network (no update, sync or Google hosts), as the browser test
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

#: print style: the web page's chrome hidden, every page of the book on a new sheet
PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm; }
.bd-header, .bd-header-article, .header-article, .bd-sidebar-primary, .bd-sidebar-secondary,
.prev-next-area, .bd-footer, .bd-footer-article, .bd-footer-content, footer, .headerlink,
#pst-back-to-top, .skip-link, .sidebar-toggle, .search-button, .theme-switch-button,
.article-header-buttons, #jb-print-docs-body, .navbar-brand { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article { max-width: none !important;
  width: 100% !important; margin: 0 !important; padding: 0 !important; }
.bd-page-width { max-width: none !important; }
/* page breaks do not work inside flex boxes: lay the page out as plain blocks */
.bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container, .bd-article,
.bd-page-width { display: block !important; }
/* the theme's print style hides the first <h1> of every section: here each is a page title */
.bd-main .bd-content .bd-article h1:first-of-type { display: block !important; }
body { font-size: 10.5pt; }
.tlt-title-page { break-after: page; text-align: center; padding-top: 30vh; }
.tlt-title-page .tlt-title { font-size: 2.6em; font-weight: bold; }
.tlt-toc { break-after: page; }
.tlt-toc ol { list-style: none; padding-left: 0; }
.tlt-toc li { margin: 0.3em 0; }
.tlt-toc li.tlt-part { font-weight: bold; margin-top: 0.9em; }
span[id^="document-"] + section, .tlt-chapter { break-before: page; }
img, figure, .cell_output, table, mjx-container[display="true"] { break-inside: avoid; }
img { max-width: 100% !important; height: auto !important; }
div.cell div.cell_input { break-inside: avoid; }
"""

_DOC_ANCHOR = re.compile(r'<span id="document-([^"]+)"></span>')
_HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1>", re.S)
_HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")
_TAGS = re.compile(r"<[^>]+>")
_HEADERLINK = re.compile(r'<a class="headerlink"[^>]*>.*?</a>', re.S)
_SECTION_ID = re.compile(r'<section\b[^>]*\bid="([^"]+)"')


def find_chromium() -> str | None:
    """``$CHROMIUM``, else ``chromium`` (or ``chromium-browser``) on the path, else ``None``."""
    for candidate in (
        os.environ.get("CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def build_singlehtml(root: Path = ROOT) -> Path:
    """``jupyter-book build ROOT --builder singlehtml``; return its :func:`single_document`.

    Raises ``RuntimeError`` with the build's last lines when the build fails.
    """
    cmd = [
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build",
        str(root),
        "--builder",
        "singlehtml",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-30:])
        raise RuntimeError(f"the singlehtml build failed:\n{tail}")
    index = single_document(root)
    if not index.is_file():
        raise RuntimeError(f"the singlehtml build wrote no {index}")
    return index


def single_document(root: Path = ROOT) -> Path:
    """The one HTML file of the ``singlehtml`` build: named after ``_toc.yml``'s root page
    (``index.html`` is only a redirect to it)."""
    from tltlib.book.report import toc_files

    return root / SINGLEHTML / f"{toc_files(root / '_toc.yml')[0]}.html"


def _text(fragment: str) -> str:
    fragment = _HEADERLINK.sub("", fragment)
    return html.unescape(_TAGS.sub("", fragment)).strip()


def part_captions(root: Path = ROOT) -> dict[str, str]:
    """``docname -> caption`` for the first page of each part of ``_toc.yml``."""
    yaml = require("yaml", "book")
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    out = {}
    for part in toc.get("parts") or []:
        chapters = part.get("chapters") or []
        if part.get("caption") and chapters and isinstance(chapters[0].get("file"), str):
            out[str(Path(chapters[0]["file"]).with_suffix(""))] = part["caption"]
    return out


def pages(document: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The single document with each page's headings renumbered, and its pages' entries.

    The ``singlehtml`` builder opens each page with ``<span id="document-DOCNAME">`` and nests
    its headings under the root page's (a chapter's title is an ``<h3>``); here each page's
    title becomes an ``<h1>`` and its sections follow, so the PDF's outline has one top entry
    per page. The entries are ``(docname, anchor, title)`` in the book's order, the anchor being
    the ``<section>`` that holds the title.
    """
    entries = []
    marks = list(_DOC_ANCHOR.finditer(document))
    starts = [0] + [m.end() for m in marks]
    names = ["(root)"] + [m.group(1) for m in marks]
    ends = [m.start() for m in marks] + [len(document)]
    chunks = [document[a:b] for a, b in zip(starts, ends, strict=True)]
    # the root page's title is the first heading of the article (not the sidebar's)
    article = re.search(r'<article[^>]*class="[^"]*bd-article', chunks[0])
    offsets = [article.start() if article else 0] + [0] * len(marks)
    out = []
    for i, (name, chunk, offset) in enumerate(zip(names, chunks, offsets, strict=True)):
        if i:
            out.append(marks[i - 1].group(0))
        heading = _HEADING.search(chunk, offset)
        if heading is None:
            out.append(chunk)
            continue
        shift = int(heading.group(1)) - 1
        if shift:
            chunk = _HEADING_TAG.sub(
                lambda m, k=shift: f"<{m.group(1)}h{max(1, int(m.group(2)) - k)}", chunk
            )
            heading = _HEADING.search(chunk, offset)
        section = _SECTION_ID.search(chunk, offset)
        anchor = section.group(1) if section and section.start() < heading.start() else ""
        entries.append((name, anchor, _text(heading.group(2))))
        out.append(chunk)
    return "".join(out), entries


def printable(index: Path, root: Path = ROOT, title: str | None = None) -> Path:
    """Write ``print.html`` beside ``index``: title page, table of contents (with the parts
    of ``root/_toc.yml``), print style."""
    document, entries = pages(index.read_text(encoding="utf-8"))
    # cross-references point into the single page by its file name: keep them in this file
    document = document.replace(f'href="{index.name}#', 'href="#')
    if not entries:
        raise RuntimeError(f"{index} holds no page with a title")
    book_title = title or entries[0][2]
    captions = part_captions(root)
    items = []
    for name, anchor, text in entries:
        if name in captions:
            items.append(f'<li class="tlt-part">{html.escape(captions[name])}</li>')
        link = f'<a href="#{html.escape(anchor)}">{html.escape(text)}</a>' if anchor else text
        items.append(f"<li>{link}</li>")
    items = "\n".join(items)
    front = (
        f'<div class="tlt-title-page"><p class="tlt-title">{html.escape(book_title)}</p></div>\n'
        f'<nav class="tlt-toc"><h2>Contents</h2><ol>\n{items}\n</ol></nav>\n'
    )
    # the front matter goes at the start of the article, before the root page
    marker = re.search(r'<article[^>]*class="[^"]*bd-article[^"]*"[^>]*>', document)
    if marker is None:
        marker = re.search(r"<body[^>]*>", document)
    if marker is None:
        raise RuntimeError(f"{index} has no <body>")
    document = document[: marker.end()] + front + document[marker.end() :]
    style = f'<style media="all">{PRINT_CSS}</style>\n</head>'
    document = document.replace("</head>", style, 1)
    target = index.with_name("print.html")
    target.write_text(document, encoding="utf-8")
    return target


def print_pdf(
    page: Path,
    output: Path,
    chromium: str | None = None,
    budget_ms: int = 120_000,
    timeout: float = 900.0,
) -> Path:
    """Print ``page`` (a local HTML file) to ``output`` with headless Chromium.

    ``budget_ms`` of virtual time lets MathJax load its fonts and typeset every equation
    before the page is printed. Raises ``RuntimeError`` if Chromium is missing or fails.
    """
    if budget_ms <= 0:
        raise ValueError(f"budget_ms must be positive, got {budget_ms}")
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError(
            "no Chromium: install the system's (Debian: apt-get install chromium) or set $CHROMIUM"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".partial.pdf")
    tmp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--allow-file-access-from-files",
            "--run-all-compositor-stages-before-draw",
            f"--virtual-time-budget={budget_ms}",
            "--no-pdf-header-footer",
            "--generate-pdf-document-outline",
            f"--print-to-pdf={tmp}",
            page.resolve().as_uri(),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tail = "\n".join(out.stderr.splitlines()[-20:])
        raise RuntimeError(f"Chromium printed no PDF (exit {out.returncode}):\n{tail}")
    tmp.replace(output)
    return output


def build_pdf(root: Path = ROOT, *, build: bool = True, budget_ms: int = 120_000) -> Path:
    """The book as ``root/_build/pdf/book.pdf``: singlehtml build (unless ``build`` is false
    and one exists), the printable page, Chromium's print."""
    index = single_document(root)
    if build or not index.is_file():
        index = build_singlehtml(root)
    return print_pdf(printable(index, root), root / PDF_PATH, budget_ms=budget_ms)


def main(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve() if args.root else ROOT
    try:
        path = build_pdf(root, build=not args.no_build, budget_ms=args.budget)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


#: ``python -m tltlib pdf``: its line in ``python -m tltlib --help``
HELP = "the whole book as one PDF (_build/pdf/book.pdf), printed by the system Chromium"
#: and the text of ``python -m tltlib pdf --help``
DESCRIPTION = """\
Build the book with the singlehtml builder (the notebooks come from the build's
execution cache), add a title page and a table of contents, and print it to
_build/pdf/book.pdf with headless Chromium (offline; MathJax from _static). Needs a
system Chromium ($CHROMIUM or chromium on the path).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m tltlib pdf``."""
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="print the existing _build/singlehtml instead of building it first",
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=120_000,
        help="virtual time (ms) Chromium gives the page to typeset before printing",
    )
    parser.add_argument("--root", help=argparse.SUPPRESS)
