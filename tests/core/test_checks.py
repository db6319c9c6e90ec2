import json
import math

import pytest

from tltlib.core.checks import ENV_VAR, RECORDS_DIR_VAR, CheckLog, load


def test_comparisons():
    log = CheckLog("t")
    assert log.close_to("a", "c", 1.05, 1.0, 0.1).passed
    assert not log.close_to("b", "c", 1.2, 1.0, 0.1).passed
    assert log.at_most("c", "c", 0.0, 0.0).passed
    assert not log.at_least("d", "c", 0.5, 0.9).passed
    assert not log.close_to("e", "c", math.nan, 0.0, 1.0).passed
    assert [r.name for r in log.failures()] == ["b", "d", "e"]


def test_duplicate_names_and_bad_comparison():
    log = CheckLog("t")
    log.at_most("a", "c", 0.0, 1.0)
    with pytest.raises(ValueError, match="already in the log"):
        log.at_most("a", "c", 0.0, 1.0)
    with pytest.raises(ValueError, match="comparison must be one of"):
        log.add("b", "c", 0.0, 0.0, 0.0, "roughly")


def test_assert_all_lists_every_failure():
    log = CheckLog("chap")
    log.at_least("good", "claim", 1.0, 0.0)
    log.at_least("bad1", "claim one", 0.0, 1.0)
    log.close_to("bad2", "claim two", 5.0, 0.0, 1.0)
    with pytest.raises(AssertionError, match=r"2 check\(s\) failed in chap:\n  bad1.*\n  bad2"):
        log.assert_all()


def test_save_to_env_var_and_load(tmp_path, monkeypatch):
    log = CheckLog("chap")
    log.close_to("x", "claim", 1.0, 1.0, 0.1, window=[1, 2], extra_number=3.5)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv(RECORDS_DIR_VAR, str(tmp_path / "records"))
    assert log.save() == tmp_path / "records" / "chap.json"  # the default records directory
    target = tmp_path / "out" / "records.json"
    monkeypatch.setenv(ENV_VAR, str(target))
    assert log.save() == target
    records = load(target)
    assert records == json.loads(log.to_json())
    rec = records[0]
    for key in ("name", "claim", "measured", "expected", "tolerance", "passed"):
        assert key in rec
    assert rec["chapter"] == "chap" and rec["passed"] is True and rec["extra_number"] == 3.5


def test_table_marks_failures():
    log = CheckLog("chap")
    log.at_least("bad", "claim", 0.0, 1.0)
    assert "**NO**" in log._repr_markdown_()
