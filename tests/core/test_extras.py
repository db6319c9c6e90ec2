"""``tltlib.core.extras.require``: an optional package, or an ImportError naming its extra."""

import sys

import pytest

from tltlib.core import extras


def test_an_installed_module_is_returned():
    assert extras.require("json", "book") is sys.modules["json"]
    assert extras.require("os.path", "sweep") is sys.modules["os.path"]


@pytest.mark.parametrize("extra", ["book", "sweep"])
def test_a_missing_module_names_its_extra(extra):
    with pytest.raises(ImportError) as info:
        extras.require("tltlib_no_such_module", extra)
    err = info.value
    assert isinstance(err, extras.MissingExtraError)
    assert err.extra == extra and err.module == "tltlib_no_such_module"
    assert f"pip install 'tltlib[{extra}]'" in str(err)
    assert "tltlib_no_such_module" in str(err)


def test_a_missing_dependency_of_the_module_is_named_too(tmp_path, monkeypatch):
    # the module is there but imports a package that is not: the message names both
    (tmp_path / "tltlib_probe_module.py").write_text("import tltlib_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(extras.MissingExtraError, match=r"tltlib\[book\]") as info:
        extras.require("tltlib_probe_module", "book")
    assert info.value.module == "tltlib_probe_module"
    assert "tltlib_missing_dependency" in str(info.value)


def test_a_blocked_module_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    with pytest.raises(extras.MissingExtraError, match=r"'yaml' is not installed"):
        extras.require("yaml", "book")


def test_an_unknown_extra_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="extra must be one of"):
        extras.require("json", "books")
