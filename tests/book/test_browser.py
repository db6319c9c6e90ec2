"""The built book in a real browser: headless Chromium on localhost, driven by Playwright.

Needs ``_build/html`` (``jupyter-book build .``; CI runs this after the build), the Python
package ``playwright`` and a system Chromium (Debian's ``chromium``; Playwright's own browser
download is never used). Each missing piece skips the test and says which.
"""

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jupytext
import pytest
from test_binder import binder_url

from tltlib.book import report
from tltlib.book.pdf import CHROMIUM_FLAGS
from tltlib.core.paths import ROOT

pytestmark = pytest.mark.book

HTML = ROOT / "_build" / "html"
# the flags of a closed network, the same as the PDF's (tltlib.book.pdf): without them Chromium
# keeps trying to reach Google's hosts, which this machine's network refuses
CHROMIUM_ARGS = list(CHROMIUM_FLAGS)
CHAPTERS = report.toc_chapters(ROOT)
PAGES = ["intro", "notation", "bibliography", "reproduction-report"]
HEATMAP_CALLS = ("plot_scores(", "imshow(", "matshow(", "pcolormesh(", "heatmap(")


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def figures(path: Path) -> tuple[list[str], list[str]]:
    """The figure names of a chapter's cells, and those of its heatmaps (``plot_scores``)."""
    names, heatmaps = [], []
    for cell in jupytext.read(path).cells:
        name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
        if cell.cell_type == "code" and name:
            names.append(name)
            if any(call in cell.source for call in HEATMAP_CALLS):
                heatmaps.append(name)
    return names, heatmaps


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        pytest.skip("no built book in _build/html: run `jupyter-book build .` first (CI does)")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(HTML))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package playwright is not installed"
    )
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium; .ci/run does)")
    pw = sync_api.sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    yield browser
    browser.close()
    pw.stop()


class Visit:
    """A page loaded in a fresh browser context, with every error it reported."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.problems: list[str] = []
        page = self.page
        page.on(
            "console",
            lambda m: self.problems.append(f"console error: {m.text}") if m.type == "error" else 0,
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on(
            "response",
            lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else 0,
        )
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, url
        # MathJax 3 (on pages with math) typesets asynchronously: wait for its startup promise
        if page.locator('script[src*="mathjax"]').count():
            page.wait_for_function("() => window.MathJax && window.MathJax.startup", timeout=20_000)
            page.evaluate("async () => { await window.MathJax.startup.promise; }")

    def math(self) -> dict:
        return self.page.evaluate(
            """() => {
                const math = [...document.querySelectorAll('main .math')];
                return {
                    total: math.length,
                    typeset: math.filter(m => m.querySelector('mjx-container')).length,
                    errors: document.querySelectorAll('mjx-merror').length,
                };
            }"""
        )

    def images(self) -> list[dict]:
        return self.page.evaluate(
            """() => [...document.querySelectorAll('main article img')].map(img => ({
                src: img.getAttribute('src'), loaded: img.complete, width: img.naturalWidth,
                height: img.naturalHeight, figure: img.closest('figure')?.id || null,
                caption: img.closest('figure')?.querySelector('figcaption')?.innerText || null,
            }))"""
        )

    def colours(self, figure_id: str) -> int:
        """How many distinct colours a sample of the figure's image has (blank: 1)."""
        return self.page.evaluate(
            """(id) => {
                const img = document.getElementById(id).querySelector('img');
                const c = document.createElement('canvas');
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const ctx = c.getContext('2d');
                ctx.drawImage(img, 0, 0);
                const data = ctx.getImageData(0, 0, c.width, c.height).data;
                const seen = new Set();
                for (let i = 0; i < data.length; i += 4 * 97) {
                    seen.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
                }
                return seen.size;
            }""",
            figure_id,
        )

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    opened = []

    def open_page(docname: str) -> Visit:
        v = Visit(browser, f"{site}/{docname}.html")
        opened.append(v)
        return v

    yield open_page
    for v in opened:
        v.close()


@pytest.mark.parametrize(("docname", "path"), CHAPTERS, ids=[d for d, _ in CHAPTERS])
def test_chapter_page(visit, docname, path):
    v = visit(docname)
    assert v.problems == [], f"{docname}: the browser reported errors"

    math = v.math()
    assert math["total"] > 0, f"{docname}: no equation found"
    assert math["typeset"] == math["total"], f"{docname}: MathJax left equations untypeset"
    assert math["errors"] == 0, f"{docname}: MathJax reported TeX errors"

    images = v.images()
    broken = [i["src"] for i in images if not (i["loaded"] and i["width"] > 0 and i["height"] > 0)]
    assert broken == [], f"{docname}: images that did not load"
    bare = [i["src"] for i in images if not (i["figure"] and i["caption"])]
    assert bare == [], f"{docname}: images without a labelled, captioned figure"

    names, heatmaps = figures(path)
    shown = {i["figure"]: i for i in images}
    for name in names:
        assert name in shown, f"{docname}: figure {name} is not on the page"
    for name in heatmaps:
        assert v.colours(name) > 10, f"{docname}: heatmap {name} is blank"

    links = v.page.eval_on_selector_all(
        'a[href*="mybinder.org"]', "els => els.map(e => e.getAttribute('href'))"
    )
    assert links == [binder_url(docname)], f"{docname}: launch button {links}"


@pytest.mark.parametrize("docname", PAGES)
def test_front_and_back_matter(visit, docname):
    v = visit(docname)
    assert v.problems == [], f"{docname}: the browser reported errors"
    math = v.math()
    assert math["typeset"] == math["total"] and math["errors"] == 0
    if docname in ("intro", "notation"):
        assert math["total"] > 10
    if docname == "bibliography":
        entries = v.page.locator("main .citation, main dl.citation > dt").count()
        assert entries >= 5, "the bibliography lists the cited works"


def test_the_book_shows_heatmaps():
    """The paper's Figure 3 is a set of heatmaps; the book draws them in captioned figures."""
    assert any(figures(path)[1] for _, path in CHAPTERS)


def test_report_lists_every_chapter(visit):
    v = visit("reproduction-report")
    rows = v.page.eval_on_selector_all(
        "main table tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))",
    )
    hrefs = set(
        v.page.eval_on_selector_all("main table a", "els => els.map(e => e.getAttribute('href'))")
    )
    for docname, _ in CHAPTERS:
        number = Path(docname).name.split("-", 1)[0]
        assert f"{docname}.html" in hrefs, f"the report does not link {docname}"
        mine = [r for r in rows if r and r[0] == number]
        assert mine, f"the report has no row for {docname}"
        assert all(r[-1] == "pass" for r in mine), (
            f"{docname}: {[r for r in mine if r[-1] != 'pass']}"
        )
    assert len(rows) > 2 * len(CHAPTERS), "a summary row per chapter and a row per check"
    overflow = v.page.eval_on_selector_all(
        "main table", "ts => ts.map(t => t.scrollWidth - t.parentElement.clientWidth)"
    )
    assert max(overflow) <= 1, "the report's tables must fit the page (_static/book.css)"
