"""The 13 variants, their trainer, the per-variant checks (each can fail) and the stored grid."""

import json
import re

import pytest

from tltlib.core.checks import CheckLog
from tltlib.core.paths import CHAPTERS
from tltlib.recall import claims, figures, grid, variants
from tltlib.recall import model as ic
from tltlib.recall.task import RecallTask, bayes_risk, f_input_loss_floor

TASK = RecallTask(N=20, H=16, Q=2, Y=2)
KW = dict(batch=64, n_eval=256, seed=0, record_every=3)


def test_the_registry_holds_the_13_models_of_the_official_code():
    assert len(variants.VARIANTS) == 13
    for name, v in variants.VARIANTS.items():
        assert ic.RecallTransformer(TASK, *v.triple).name == name == v.name
        assert re.fullmatch(r"-m (origin|reparam|reparamW) -a (linear|relu|softmax) -k [01]",
                            v.official_flags)  # fmt: skip
    flags = {v.official_flags for v in variants.VARIANTS.values()}
    assert len(flags) == 13 and "-m reparamW -a linear -k 1" in flags


def test_claims_per_variant():
    assert variants.claims_of("Reparam-ReLU-FA", 0.8) == ("bayes_risk", "unseen_equal")
    assert variants.claims_of("Reparam-Linear-F", 0.0) == ("bayes_risk", "unseen_equal")
    assert variants.claims_of("Reparam-Linear-F", 0.2)[0] == "not_bayes_optimal"
    assert variants.claims_of("Reparam-Softmax-FA", 0.0)[0] == "not_bayes_optimal"
    assert variants.claims_of("Origin-ReLU-F", 0.5) == ("unseen_fails",)
    assert variants.claims_of("Reparam-Linear-W-FA", 0.5) == ("attention_recall",)


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: variants.train(TASK, "Reparam-Relu-FA", 0.0, 0.1, 5), "variant"),
        (lambda: variants.train(TASK, "Origin-ReLU-FA", 1.0, 0.1, 5), "alpha"),
        (lambda: variants.train(TASK, "Origin-ReLU-FA", 0.5, -0.1, 5), "eta"),
        (lambda: variants.check_names("Origin-ReLU-FA"), "variants"),
        (lambda: variants.check_names([]), "variants"),
        (lambda: variants.check_names(["Origin-ReLU-FA"] * 2), "variants"),
        (lambda: grid.run_grid(alphas=[0.3]), "alphas"),
        (lambda: grid.run_grid(etas=[0.2]), "etas"),
        (lambda: claims.claim_checks("reaches", None), "claim"),
    ],
)
def test_bad_input_names_the_parameter_and_what_is_allowed(call, word):
    with pytest.raises(ValueError, match=word) as err:
        call()
    if word == "variant":
        assert "Reparam-ReLU-FA" in str(err.value)  # the allowed names are listed
    if word == "alphas":
        assert "[0.0, 0.2, 0.5, 0.8]" in str(err.value)


def test_train_is_the_population_run_of_the_variant():
    a = variants.train(TASK, "Reparam-ReLU-F", 0.3, 0.2, 20, **KW)
    b = ic.population_runs(TASK.with_alpha(0.3), (("reparam", "relu", "F"),), 0.2, 20, **KW)
    assert a.model.name == "Reparam-ReLU-F" and a.settings == b["Reparam-ReLU-F"].settings
    assert a.history.final("pop/loss") == b["Reparam-ReLU-F"].history.final("pop/loss")


@pytest.fixture(scope="module")
def noisy():
    names = ["Reparam-Linear-FA", "Reparam-Linear-F", "Reparam-Softmax-FA",
             "Reparam-Linear-W-FA", "Origin-Linear-F", "Origin-Linear-FA"]  # fmt: skip
    return variants.population_runs(TASK.with_alpha(0.3), names, 0.2, 150, **KW)


def test_the_f_input_floor_holds_for_F_and_fails_for_FA(noisy):
    task = TASK.with_alpha(0.3)
    assert f_input_loss_floor(task) > bayes_risk(task) + 0.5
    good = claims.f_input_not_optimal(CheckLog("t"), noisy["Reparam-Linear-F"])
    assert good.passed and good.measured - good.expected < 0.05  # it stalls at the floor
    assert not claims.f_input_not_optimal(CheckLog("t"), noisy["Reparam-Linear-FA"]).passed


def test_unseen_equality_with_its_standard_error(noisy):
    for name in ("Reparam-Linear-FA", "Reparam-Linear-F", "Reparam-Softmax-FA"):
        assert claims.unseen_matches(CheckLog("t"), noisy[name]).passed, name
    # a learned W treats seen and unseen outputs differently, far beyond the standard error
    for name in ("Reparam-Linear-W-FA", "Origin-Linear-FA"):
        assert not claims.unseen_matches(CheckLog("t"), noisy[name]).passed, name


def test_attention_recall_fails_where_attention_does_not_recall(noisy):
    assert claims.attention_recall(CheckLog("t"), noisy["Reparam-Linear-W-FA"]).passed
    assert not claims.attention_recall(CheckLog("t"), noisy["Origin-Linear-F"]).passed


def test_variant_checks_skip_what_population_checks_did_and_fail_on_a_wrong_model(noisy):
    runs = {0.3: noisy}
    log = CheckLog("t")
    claims.reparam_checks(log, noisy["Reparam-Linear-FA"], prefix="alpha=0.3/Reparam-Linear-FA/")
    before = len(log.records)
    names = ["Reparam-Linear-FA", "Reparam-Linear-F", "Origin-Linear-FA"]
    added = claims.variant_checks(log, runs, names, [0.3])
    assert [c.name for c in added] == [
        "alpha=0.3/Reparam-Linear-F/f_input_not_bayes_optimal",
        "alpha=0.3/Reparam-Linear-F/unseen_equals_population",
        "alpha=0.3/Origin-Linear-FA/unseen_fails",
    ]
    assert len(log.records) == before + 3 and log.passed
    # the F model in place of the FA one fails the Bayes-risk claim
    swapped = {0.3: {**noisy, "Reparam-Linear-FA": noisy["Reparam-Linear-F"]}}
    bad = claims.variant_checks(CheckLog("t"), swapped, ["Reparam-Linear-FA"], [0.3])
    assert not next(c for c in bad if c.name.endswith("reaches_bayes_risk")).passed


# --- the stored grid -----------------------------------------------------------------------


def test_the_stored_grid_is_complete():
    table = figures.load_grid()
    keys = [(r["variant"], r["alpha"], r["eta"]) for r in table["rows"]]
    expected = [
        (n, a, e) for n in variants.VARIANTS for a in variants.ALPHAS for e in variants.ETAS
    ]
    assert sorted(keys) == sorted(expected) and len(keys) == 104
    assert table["command"] == figures.COMMAND == "python -m tltlib.recall.grid"
    assert re.fullmatch(r"[0-9a-f]{7,}", table["commit"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", table["date"])
    for r in table["rows"]:
        assert r["claims"] == list(variants.claims_of(r["variant"], r["alpha"]))
        assert r["checks"], r  # every run checked something


def test_the_chapter_shows_the_stored_grid_and_its_tables_come_from_the_file(tmp_path):
    source = (CHAPTERS / "10-in-context-reasoning.md").read_text()
    assert "grid = recall.figures.load_grid()" in source
    assert "recall.figures.grid_table(grid, " in source
    assert "recall.figures.grid_claims_table(grid)" in source
    assert figures.COMMAND in source
    table = figures.load_grid()
    row = next(r for r in table["rows"] if r["variant"] == "Origin-ReLU-F" and r["alpha"] == 0.2)
    row["excess"], row["checks"][0]["passed"] = 123456.0, False
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(table))
    changed = figures.load_grid(path)
    assert "1.2e+05" in figures.grid_table(changed, "excess")
    assert "1.2e+05" not in figures.grid_table(figures.load_grid(), "excess")
    assert f"{row['checks'][0]['name']} (a=0.2" in figures.grid_claims_table(changed)
    with pytest.raises(FileNotFoundError, match=re.escape(figures.COMMAND)):
        figures.load_grid(tmp_path / "missing.json")


def test_the_grid_command_writes_resumes_from_its_cache(tmp_path, monkeypatch):
    out, cache = tmp_path / "g.json", tmp_path / "cache"
    argv = ["--variants", "Reparam-Linear-FA", "--alphas", "0.5", "--etas", "0.5",
            "--steps", "40", "-o", str(out), "--cache", str(cache), "-q"]  # fmt: skip
    assert grid.main(argv) == 0
    first = json.loads(out.read_text())
    assert len(first["rows"]) == 1 and first["settings"]["steps"] == 40

    def no_training(*args, **kwargs):
        raise AssertionError("a cached point was trained again")

    monkeypatch.setattr(grid, "run_point", no_training)
    assert grid.main(argv) == 0
    assert json.loads(out.read_text())["rows"] == first["rows"]
    with pytest.raises(SystemExit):
        grid.main([*argv[:-1], "--alphas", "0.3"])
