"""The book's sources follow the conventions that the report, the captions and the links need.

These read the chapters (no execution): every chapter listed in ``_toc.yml`` has its target
``(ch-NN-slug)=``, saves its checks under its own name (or the reproduction report cannot find
them), and gives every figure a caption and a label (cell metadata ``mystnb.figure``).
"""

import re

import jupytext
import pytest
import yaml

from tltlib.book import report
from tltlib.core.paths import ROOT

CHAPTERS = report.toc_chapters(ROOT)


@pytest.mark.parametrize(("docname", "path"), CHAPTERS, ids=[d for d, _ in CHAPTERS])
def test_chapter_conventions(docname, path):
    stem = path.stem
    text = path.read_text()
    assert f"\n({'ch-' + stem})=\n# " in text, f"{stem}: a target (ch-{stem})= before the title"
    assert f'CheckLog("{stem}")' in text, f"{stem}: the CheckLog must carry the file's name"
    assert "log.save()" in text, f"{stem}: the chapter must save its check records"


@pytest.mark.parametrize(("docname", "path"), CHAPTERS, ids=[d for d, _ in CHAPTERS])
def test_every_figure_has_a_caption_and_a_label(docname, path):
    number = path.stem.split("-", 1)[0]
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code" or "plt.show()" not in cell.source:
            continue
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        first = cell.source.strip().splitlines()[0]
        assert figure.get("caption", "").strip(), f"{path.name}: no caption on the cell {first!r}"
        assert re.fullmatch(rf"fig-{number}-[a-z0-9-]+", figure.get("name", "")), (
            f"{path.name}: the figure of {first!r} needs a name fig-{number}-..."
        )
        assert cell.source.count("plt.show()") == 1, f"{path.name}: one figure per cell"


def test_figure_labels_are_unique():
    names = []
    for _, path in CHAPTERS:
        for cell in jupytext.read(path).cells:
            name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
            if name:
                names.append(name)
    assert len(names) == len(set(names))


def test_book_pages_and_one_repository_setting():
    files = report.toc_files(ROOT / "_toc.yml")
    for page in ("intro", "notation", "reproduction-report", "bibliography"):
        assert page in files and (ROOT / f"{page}.md").is_file()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    assert config["html"]["use_repository_button"] and config["html"]["use_issues_button"]
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    # the repository URL is written once: everything else derives from _config.yml
    for name in ("intro.md", "notation.md", "reproduction-report.md", "_toc.yml"):
        assert url not in (ROOT / name).read_text(), name


def test_every_cited_key_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), re.M))
    sources = [ROOT / "intro.md", ROOT / "notation.md", ROOT / "reproduction-report.md"]
    sources += [path for _, path in CHAPTERS]
    for source in sources:
        for group in re.findall(r"\{cite(?::[tp])?\}`([^`]+)`", source.read_text()):
            for key in group.split(","):
                assert key.strip() in keys, f"{source.name} cites {key.strip()!r}"
