"""The PDF of the whole book (``python -m tltlib pdf``): titles, figures, equations, links.

:func:`test_the_pdf_holds_every_chapter_with_its_figures` needs the built book
(``jupyter-book build .``, whose execution cache the PDF's ``singlehtml`` build reuses), a
system Chromium and poppler's ``pdftotext`` and ``pdfimages``; each missing piece skips it
and says which. The other tests check the readers on PDFs that lack what the book must hold,
so that the main test can fail.
"""

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import jupytext
import pytest

from tltlib.book import pdf, report
from tltlib.core.paths import ROOT

pytestmark = pytest.mark.book

#: TeX that MathJax should have typeset: any of these in the PDF's text is a raw equation
RAW_TEX = ("$$", "\\mathbf", "\\frac", "\\begin{", "\\mathcal", "\\sigma")


def need_tools() -> None:
    if pdf.find_chromium() is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium, or set $CHROMIUM)")
    for tool in ("pdftotext", "pdfimages"):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool} (Debian: apt-get install poppler-utils)")


def normal(text: str) -> str:
    """Text compared as words: ligatures undone, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def page_texts(path: Path) -> list[str]:
    """The text of every page of the PDF (``pdftotext``; pages end with a form feed)."""
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
    out.check_returncode()
    return [normal(page) for page in out.stdout.split("\f")]


def images_per_page(path: Path) -> dict[int, int]:
    """``page -> number of images drawn on it`` (``pdfimages -list``; soft masks left out)."""
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True)
    out.check_returncode()
    counts: dict[int, int] = {}
    for line in out.stdout.splitlines()[2:]:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "image":
            counts[int(fields[0])] = counts.get(int(fields[0]), 0) + 1
    return counts


def raw_tex(texts: list[str]) -> list[str]:
    """The raw TeX fragments that the text of the PDF still holds."""
    return [tex for tex in RAW_TEX if any(tex in text for text in texts)]


def link_targets(path: Path) -> tuple[int, int]:
    """``(internal links, links to a local file)`` among the PDF's link annotations."""
    data = path.read_bytes()
    internal = len(re.findall(rb"/Dest\s*[(/\[]", data))
    to_files = len(re.findall(rb"/URI\s*\(file:", data))
    return internal, to_files


def figure_count(path: Path) -> int:
    """The figures of a chapter: its code cells that name a MyST-NB figure."""
    cells = jupytext.read(path).cells
    return sum(
        1
        for cell in cells
        if cell.cell_type == "code"
        and cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
    )


def chapter_pages(texts: list[str], titles: list[str]) -> list[int | None]:
    """The page (1-based) on which each title opens a page, after the contents; in order."""
    out: list[int | None] = []
    start = 2
    for title in titles:
        found = None
        for number in range(start, len(texts)):
            if texts[number].startswith(normal(title)):
                found = number + 1
                start = number + 1
                break
        out.append(found)
    return out


@pytest.fixture(scope="module")
def book_pdf() -> Path:
    need_tools()
    html = ROOT / "_build" / "html" / "index.html"
    if not html.is_file():
        pytest.skip("the book is not built: run `jupyter-book build .` first")
    made = ROOT / pdf.PDF_PATH
    if made.is_file() and made.stat().st_mtime > html.stat().st_mtime:
        return made  # `python -m tltlib pdf` after the last build (CI)
    return pdf.build_pdf(ROOT)


def test_the_pdf_holds_every_chapter_with_its_figures(book_pdf):
    texts = page_texts(book_pdf)
    chapters = report.toc_chapters(ROOT)
    titles = [report.chapter_title(path) for _, path in chapters]
    contents = texts[1]
    assert contents.startswith("Contents")
    missing = [t for t in titles if normal(t) not in contents]
    assert not missing, f"not in the table of contents: {missing}"

    starts = chapter_pages(texts, titles)
    assert None not in starts, f"no page opens with {titles[starts.index(None)]!r}"
    ends = [*starts[1:], len(texts)]
    images = images_per_page(book_pdf)
    for (_, path), first, end in zip(chapters, starts, ends, strict=True):
        drawn = sum(images.get(page, 0) for page in range(first, end))
        assert drawn >= figure_count(path), f"{path.stem}: {drawn} images in the PDF"
    assert not raw_tex(texts), f"equations left as TeX: {raw_tex(texts)}"
    internal, to_files = link_targets(book_pdf)
    assert to_files == 0, "cross-references point to HTML files instead of into the PDF"
    assert internal >= len(titles), f"only {internal} internal links (the contents alone has more)"
    assert b"/Outlines" in book_pdf.read_bytes(), "the PDF has no outline (bookmarks)"


SINGLE = """<html><head><title>t</title></head><body><div class="sidebar"><h1>Site</h1></div>
<article class="bd-article"><section id="root-title"><h1>Root title</h1><p>{math}</p>
<span id="document-chapters/01-a"></span><section id="first-chapter"><h3>First chapter</h3>
<p>See <a href="intro.html#second">the second</a>.</p><section id="sub"><h4>Sub</h4></section>
</section>
<span id="document-chapters/02-b"></span><section id="second"><h3>Second</h3>{image}</section>
</section></article></body></html>
"""


def tiny_book(tmp_path: Path, math: str, image: str) -> Path:
    root = tmp_path / "book"
    html_dir = root / pdf.SINGLEHTML
    html_dir.mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Part one\n    chapters:\n"
        "      - file: chapters/01-a\n      - file: chapters/02-b\n"
    )
    (html_dir / "intro.html").write_text(SINGLE.format(math=math, image=image))
    return root


def test_printable_page_has_contents_titles_as_h1_and_local_links(tmp_path):
    root = tiny_book(tmp_path, "x", "")
    page = pdf.printable(pdf.single_document(root), root).read_text()
    assert '<li class="tlt-part">Part one</li>' in page
    assert '<a href="#first-chapter">First chapter</a>' in page
    assert "<h1>First chapter</h1>" in page and "<h2>Sub</h2>" in page
    assert 'href="#second"' in page and "intro.html#" not in page
    assert page.count('<span id="document-') == 2


def test_the_readers_see_raw_tex_missing_images_and_links(tmp_path):
    """A page without MathJax and without its figure: the main test's checks would fail."""
    need_tools()
    root = tiny_book(tmp_path, "$$\\mathbf{W}_V = \\frac{1}{2}$$", "")
    out = pdf.print_pdf(pdf.printable(pdf.single_document(root), root), root / pdf.PDF_PATH)
    texts = page_texts(out)
    assert raw_tex(texts) == ["$$", "\\mathbf", "\\frac"]
    assert images_per_page(out) == {}
    assert chapter_pages(texts, ["First chapter", "Second", "Third"]) == [4, 5, None]
    internal, to_files = link_targets(out)
    assert internal >= 2 and to_files == 0

    from PIL import Image

    png = tmp_path / "figure.png"
    Image.new("RGB", (40, 30), "red").save(png)
    root2 = tiny_book(tmp_path / "with-image", "x", f'<img src="{png.as_uri()}">')
    out2 = pdf.print_pdf(pdf.printable(pdf.single_document(root2), root2), root2 / pdf.PDF_PATH)
    texts2 = page_texts(out2)
    second = chapter_pages(texts2, ["First chapter", "Second"])[1]
    assert images_per_page(out2).get(second) == 1
