"""Where the book is, inside a checkout and after a plain install."""

from pathlib import Path

from tltlib.core import paths


def _book(folder: Path) -> Path:
    (folder / "chapters").mkdir(parents=True)
    (folder / "_config.yml").write_text("title: t\n")
    return folder


def test_the_checkout_is_the_root():
    assert paths.in_checkout() and paths.ROOT == paths.PACKAGE.parent


def test_a_plain_install_finds_the_book_at_or_above_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PACKAGE", tmp_path / "site-packages" / "tltlib")
    book = _book(tmp_path / "book")
    (book / "chapters" / "sub").mkdir()
    monkeypatch.chdir(book / "chapters" / "sub")
    assert paths._find_root() == book.resolve()


def test_without_a_book_the_root_is_the_current_folder_not_site_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PACKAGE", tmp_path / "site-packages" / "tltlib")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert paths._find_root() == (tmp_path / "work").resolve()
