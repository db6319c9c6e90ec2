"""``python -m tltlib robustness``: its settings, its summary of a sweep, the page's table."""

import json

from tltlib.book import robustness


def _result(seed, passed=True, error=None, names=("a", "b")):
    records = [{"name": n, "passed": passed or n == "a"} for n in names]
    return {"parameters": {"seed": seed}, "records": [] if error else records, "error": error,
            "cpu_s": 10.0 + seed}  # fmt: skip


def test_every_chapter_has_defaults_and_01_to_06_have_two_sizes():
    for path in robustness.chapters():
        rows = robustness.settings(path)
        assert rows[0] == ("defaults", {}, robustness.SEEDS)
        number = path.stem.split("-", 1)[0]
        sizes = [r for r in rows[1:]]
        assert len(sizes) == (2 if number in {"01", "02", "03", "04", "05", "06"} else 0)
        for _, params, seeds in sizes:
            assert seeds == robustness.SIZE_SEEDS and params


def test_summary_counts_seeds_and_names_failures():
    results = [_result(0), _result(1, passed=False), _result(2, error="boom")]
    s = robustness.summarise(results)
    assert s["seeds"] == 3 and s["passed"] == 1
    assert s["failed"] == {"b": [1], "error": [2]}
    assert s["cpu_s_median"] == 11.0


def test_markdown_reads_the_stored_table(tmp_path):
    path = tmp_path / "r.json"
    assert "No robustness data" in robustness.markdown(path)
    row = {"chapter": "01-x", "setting": "defaults", "parameters": {}, "seeds": 20, "passed": 19,
           "failed": {"loss_slope": [7]}, "cpu_s_median": 21.0, "commit": "abc1234",
           "date": "2026-12-02"}  # fmt: skip
    path.write_text(json.dumps({"rows": [row]}))
    md = robustness.markdown(path)
    assert "| 01-x | defaults | 19 / 20 | `loss_slope` (7) | 21 s | `abc1234` (2026-12-02) |" in md


def test_cli_lists_the_command():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "tltlib", "robustness", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "seeds" in out.stdout


def test_the_stored_table_covers_every_chapter_at_its_defaults():
    rows = robustness.load()["rows"]
    defaults = {r["chapter"]: r for r in rows if r["setting"] == "defaults"}
    assert set(defaults) == {p.stem for p in robustness.chapters()}
    assert all(r["seeds"] == robustness.SEEDS and r["commit"] for r in defaults.values())
    assert "not run yet" not in robustness.markdown().split("| defaults |")[1]


def test_defaults_only_and_sizes_only_exclude_each_other():
    import pytest

    with pytest.raises(ValueError, match="exclude each other"):
        robustness.run(["01"], defaults_only=True, sizes_only=True)


def test_the_commit_stamp_ignores_the_table_itself(tmp_path, monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "appendix").mkdir()
    data, chapter = tmp_path / "appendix" / "robustness.json", tmp_path / "chapter.md"
    data.write_text("{}\n")
    chapter.write_text("# A\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(robustness, "ROOT", tmp_path)
    monkeypatch.setattr(robustness, "DATA", data)
    assert not robustness._commit().endswith("+edits")
    data.write_text('{"rows": []}\n')  # a run writing its rows is not an edit
    assert not robustness._commit().endswith("+edits")
    chapter.write_text("# B\n")
    assert robustness._commit().endswith("+edits")
