"""``tltlib.core.stored``: a point runs once and is read back; the table is stamped; a missing
table names the command that makes it."""

import pytest

from tltlib.core import stored


def test_cached_row_runs_once_and_resumes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    first = stored.cached_row(tmp_path, ["point", 1], compute)
    again = stored.cached_row(tmp_path, ["point", 1], compute)
    other = stored.cached_row(tmp_path, ["point", 2], compute)
    forced = stored.cached_row(tmp_path, ["point", 1], compute, force=True)
    assert first == again and first["value"] == 1 and "cpu_s" in first
    assert other["value"] == 2 and forced["value"] == 3 and len(calls) == 3


def test_write_and_load_table(tmp_path):
    rows = [{"x": 1, "cpu_s": 0.25}, {"x": 2, "cpu_s": 0.5}]
    out = tmp_path / "data" / "t.json"
    table = stored.write_table(out, "make-it", [__file__], {"n": 3}, rows, extra=[1])
    assert stored.load_table(out, "make-it") == table
    assert list(table)[-2:] == ["extra", "rows"] and table["cpu_s"] == 0.8
    assert {"commit", "dirty", "date"} <= set(table) and table["command"] == "make-it"


def test_missing_table_names_its_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make-it`"):
        stored.load_table(tmp_path / "none.json", "make-it")
