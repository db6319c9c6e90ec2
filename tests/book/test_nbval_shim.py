"""The conftest.py shim lets ``pytest --nbval`` collect and execute MyST chapters."""

import shutil

import pytest
from myst_text import myst_chapter

from tltlib.core.paths import ROOT

pytest_plugins = ["pytester"]

NOTEBOOK = myst_chapter(
    """# A test chapter

```{{code-cell}} ipython3
x = 2
```

```{{code-cell}} ipython3
assert x == {value}
```
"""
)


@pytest.fixture
def book(pytester):
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    (pytester.path / "chapters").mkdir()
    (pytester.path / "README.md").write_text("# not a notebook\n")
    return pytester


def test_passing_chapter_is_collected_and_run(book):
    (book.path / "chapters" / "00-ok.md").write_text(NOTEBOOK.format(value=2))
    result = book.runpytest("--nbval", "--nbval-current-env", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_failing_assert_fails_its_cell(book):
    (book.path / "chapters" / "00-bad.md").write_text(NOTEBOOK.format(value=3))
    result = book.runpytest("--nbval", "--nbval-current-env", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)


def test_plain_markdown_is_not_collected(book):
    result = book.runpytest("--nbval", "--nbval-current-env", "-p", "no:cacheprovider")
    assert result.ret == 5  # no tests collected: README.md is not a notebook
