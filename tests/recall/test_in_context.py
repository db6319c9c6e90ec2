"""The in-context recall task, the model family of arXiv 2505.15009 and its trainer."""

import math
import re

import numpy as np
import pytest
import torch

from tltlib.core import dryrun
from tltlib.core.errors import DivergenceError
from tltlib.recall import model as ic
from tltlib.recall import task as rt
from tltlib.recall.task import RecallTask

SMALL = dict(N=20, H=16, Q=3, Y=2)


def onehot_logits(model: ic.RecallTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The official code's forward pass, with dense one-hot embeddings (a yardstick)."""
    N, d = model.task.N, model.d
    E = torch.eye(d, dtype=torch.float64)
    x = E[tokens] + E[N + tokens.roll(1, 1)]
    x[:, 0] = E[tokens[:, 0]]
    W, V, Fm = model.matrices()
    x_H = x[:, -1]
    s = torch.einsum("bi,ij,bhj->bh", x_H, W, x)
    if model.attention == "linear":
        w = s
    elif model.attention == "relu":
        w = torch.relu(s + 1e-8)
    else:
        w = torch.softmax(s, 1)
    a = torch.einsum("bh,bhj->bj", w, x)
    xi = (a @ V.T)[:, :N]
    if Fm is not None:
        xi = xi + ((x_H + model.kappa * a) @ Fm.T)[:, :N]
    return xi


@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("family", ic.FAMILIES)
@pytest.mark.parametrize("attention", ic.ATTENTIONS)
@pytest.mark.parametrize("ff", ic.FF_INPUTS)
def test_forward_matches_dense_one_hot_embeddings(alpha, family, attention, ff):
    task = RecallTask(**SMALL, alpha=alpha)
    model = ic.RecallTransformer(task, family, attention, ff)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    tokens = task.sample(8, 0, "x").tokens
    assert torch.allclose(model.logits(tokens).total, onehot_logits(model, tokens), atol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_sequences_have_the_papers_layout(alpha):
    task = RecallTask(**SMALL, alpha=alpha)
    b = task.sample(4000, 0, "x")
    rows = torch.arange(len(b))
    q = b.tokens[:, -1]
    assert torch.equal(b.tokens[rows, b.positions], q)
    assert torch.equal(b.tokens[rows, b.positions + 1], b.outputs)
    assert int(b.positions.max()) == task.H - 3 and int(b.positions.min()) == 0
    assert set(b.outputs.tolist()) == set(task.outputs)
    is_trigger = b.tokens < task.Q
    assert torch.equal(is_trigger.sum(1), torch.full((len(b),), 3 if task.noisy else 2))
    if task.noisy:
        assert torch.all(q == 0)
        tau_at = (b.tokens == task.tau).nonzero()[:, 1]
        assert torch.all((tau_at - 1 - b.positions).abs() >= 2)
        assert torch.equal(b.tokens[rows, tau_at - 1], q)
        assert abs(b.noise_frequency(task.tau) - alpha) < 4 * math.sqrt(alpha / len(b))
    else:
        assert set(q.tolist()) == set(range(task.Q)) and not (b.tokens == task.tau).any()
        assert torch.equal(b.labels, b.outputs)


def test_unseen_copy_changes_only_the_output():
    task = RecallTask(**SMALL, alpha=0.4)
    b = task.sample(500, 0, "x")
    u = task.with_unseen_outputs(b, 0, "u")
    changed = (u.tokens != b.tokens).nonzero()
    assert torch.equal(changed[:, 1], b.positions[changed[:, 0]] + 1)
    assert set(u.outputs.tolist()) <= set(task.unseen_outputs)
    assert torch.equal(u.labels == task.tau, b.labels == task.tau)
    assert torch.equal(u.labels[b.labels != task.tau], u.outputs[b.labels != task.tau])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(alpha=1.0), "alpha must be a number in [0, 1)"),
        (dict(alpha=-0.1), "alpha must be a number in [0, 1)"),
        (dict(alpha=float("nan")), "alpha must be a number in [0, 1)"),
        (dict(N=6), "N must be an integer >= Q + Y + 2 = 7"),
        (dict(H=2), "H must be an integer >= 3"),
        (dict(H=5, alpha=0.5), "H must be an integer >= 6"),
        (dict(Q=0), "Q must be an integer >= 1"),
    ],
)
def test_bad_task_parameters_raise(kwargs, message):
    args = dict(N=60, H=64, Q=3, Y=2) | kwargs
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        RecallTask(**args)
    assert message.split()[0] in str(e.value)


def test_smallest_tasks_sample():
    RecallTask(N=7, H=3, Q=3, Y=2).sample(50, 0, "x")
    b = RecallTask(N=7, H=6, Q=3, Y=2, alpha=0.5).sample(200, 0, "x")
    assert (b.tokens == 6).sum() == 200


def test_noise_levels():
    assert rt.noise_levels(0.5, [0.2, 0.5, 0.8]) == [0.5, 0.2, 0.8]
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        rt.noise_levels(0.0, [0.2])
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\)"):
        rt.noise_levels(1.5, [0.2])
    with pytest.raises(ValueError, match="every entry of alphas"):
        rt.noise_levels(0.5, [1.0])
    with pytest.raises(ValueError, match=r"alphas must be in \(0, 1\)"):
        rt.noise_levels(0.5, [0])


def test_bad_model_arguments_raise():
    task = RecallTask(**SMALL)
    with pytest.raises(ValueError, match="family must be one of"):
        ic.RecallTransformer(task, "reparamV", "linear")
    with pytest.raises(ValueError, match="attention must be one of"):
        ic.RecallTransformer(task, "reparam", "tanh")
    with pytest.raises(ValueError, match="ff must be one of"):
        ic.RecallTransformer(task, "reparam", "linear", "A")
    with pytest.raises(ValueError, match="eta must be a finite number > 0"):
        ic.train_fresh(ic.RecallTransformer(task, "reparam", "linear"), -1.0, 10)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("attention", ["linear", "relu"])
def test_closed_form_of_the_reparameterised_model(alpha, attention):
    task = RecallTask(**SMALL, alpha=alpha)
    model = ic.RecallTransformer(task, "reparam", attention)
    strengths = torch.linspace(0.5, 3.0, len(task.triggers), dtype=torch.float64)
    with torch.no_grad():
        model.parameters()[0].copy_(strengths)
    b = task.sample(3000, 0, "x")
    measured = ic.evaluate(model, b)["loss"]
    cf = rt.reparam_loss(task, strengths.numpy()[b.triggers.numpy()], attention).mean()
    assert measured == pytest.approx(cf, rel=1e-6)
    if task.noisy:
        p = rt.reparam_noise_probability(task, float(strengths[0]))
        assert ic.evaluate(model, b)["p_noise"] == pytest.approx(p, rel=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_softmax_floor_holds_for_any_attention_matrix(alpha):
    task = RecallTask(**SMALL, alpha=alpha)
    b = task.sample(500, 0, "x")
    for seed in range(3):
        model = ic.RecallTransformer(task, "reparamW", "softmax")
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            model.params["W"].copy_(20 * torch.randn(model.d, model.d, generator=g))
        out = model.logits(b.tokens)
        logp = torch.log_softmax(out.total, 1)
        per_seq = ic.expected_loss(logp, b, task.tau)
        assert float(per_seq.detach().min()) >= rt.softmax_loss_floor(task) - 1e-12


def test_normalised_gd_moves_each_tensor_by_eta():
    task = RecallTask(**SMALL, alpha=0.4)
    run = ic.train_fresh(ic.RecallTransformer(task, "reparam", "linear"), 0.3, 40, batch=32)
    assert run.history.final("strength") == pytest.approx(0.3 * 40, rel=1e-13)
    origin = ic.RecallTransformer(task, "origin", "linear")
    before = [p.detach().clone() for p in origin.parameters()]
    ic.normalised_gd_step(origin.parameters(), origin.loss(task.sample(32, 0, "x")), 0.3)
    after = origin.parameters()
    moved = [float(torch.linalg.norm(p.detach() - b)) for p, b in zip(after, before, strict=True)]
    # at zero only F has a gradient (W and V see a = 0 and V = 0)
    assert moved == pytest.approx([0.0, 0.0, 0.3])


def test_relu_needs_its_shift_to_leave_zero():
    task = RecallTask(**SMALL)
    stuck = ic.train_fresh(
        ic.RecallTransformer(task, "reparam", "relu", relu_shift=0.0), 0.2, 20, batch=32
    )
    assert stuck.history.final("strength") == 0.0
    moving = ic.train_fresh(ic.RecallTransformer(task, "reparam", "relu"), 0.2, 20, batch=32)
    assert moving.history.final("strength") > 1.0


def test_runs_are_deterministic():
    task = RecallTask(**SMALL, alpha=0.5)
    a = ic.population_runs(task, ic.FIGURE1_MODELS[3:4], 0.1, 20, batch=16, n_eval=32, seed=3)
    b = ic.population_runs(task, ic.FIGURE1_MODELS[3:4], 0.1, 20, batch=16, n_eval=32, seed=3)
    name = "Origin-Linear-FA"
    assert np.array_equal(a[name].history["pop/loss"], b[name].history["pop/loss"])


def test_divergence_names_eta():
    task = RecallTask(**SMALL)
    # normalised steps keep every matrix at norm <= eta t, so the logits (products of two
    # matrices) overflow float64 only for eta above ~1e154
    with pytest.raises(DivergenceError, match="eta=1e\\+160"):
        ic.train_fresh(ic.RecallTransformer(task, "origin", "linear"), 1e160, 6, batch=8)


def test_trainers_check_their_arguments_then_stop_a_dry_run():
    task = RecallTask(**SMALL, alpha=0.5)
    model = ic.RecallTransformer(task, "origin", "linear")
    before = [p.detach().clone() for p in model.parameters()]
    sample = task.sample(16, 0, "dry")
    with dryrun.dry_run():
        with pytest.raises(ValueError, match="eta must be a finite number > 0"):
            ic.train_fresh(model, -0.1, 5, batch=8)
        with pytest.raises(dryrun.DryRunStop, match="train_fresh"):
            ic.train_fresh(model, 0.1, 5, batch=8)
        with pytest.raises(ValueError, match="batch must be <= the sample size 16"):
            ic.train_on_sample(model, sample, 0.1, 2, batch=32)
        with pytest.raises(dryrun.DryRunStop, match="train_on_sample"):
            ic.train_on_sample(model, sample, 0.1, 2, batch=8)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert ic.train_fresh(model, 0.1, 2, batch=8).history.steps[-1] == 2  # outside: a real run


def test_finite_sample_needs_both_labels():
    task = RecallTask(**SMALL, alpha=0.05)
    with pytest.raises(ValueError, match="n_train=1 is too small"):
        ic.finite_sample_runs(task, ic.REPARAM_MODELS, 1, 0.1, 1, batch=1, seed=0)


def test_kl_and_entropy():
    assert rt.bernoulli_entropy(0.0) == 0.0 and not math.copysign(1, rt.bernoulli_entropy(0.0)) < 0
    assert rt.bernoulli_entropy(0.5) == pytest.approx(math.log(2))
    assert rt.kl_bernoulli(0.3, 0.3) == 0.0
    assert rt.kl_bernoulli(0.5, 0.52) == pytest.approx(0.02**2 / (2 * 0.25), rel=0.01)


# --- less work for the same numbers: pre-drawn batches, final-only records, cached inputs ---


def _same_history(a, b) -> None:
    assert a.steps == b.steps and list(a.values) == list(b.values)
    for k in a.values:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_previous_tokens_and_cached_inputs_give_the_same_logits():
    task = RecallTask(**SMALL, alpha=0.5)
    b = task.sample(6, 0, "x")
    prev = ic.previous_tokens(b.tokens, task.N)
    assert prev[:, 0].eq(2 * task.N).all()
    assert torch.equal(prev[:, 1:], task.N + b.tokens[:, :-1])
    for family in ic.FAMILIES:
        model = ic.RecallTransformer(task, family, "relu")
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        for _ in range(2):  # the second call reads the inputs kept on the batch
            x, y = model.logits(b.tokens), model.batch_logits(b)
            for k in ("total", "attention", "feed_forward"):
                assert torch.equal(getattr(x, k), getattr(y, k))
    assert ("previous", task.N) in b.inputs


@pytest.mark.parametrize("alpha", [0.0, 0.4])
@pytest.mark.parametrize("family", ic.FAMILIES)
def test_pre_drawn_batches_give_the_same_run(alpha, family):
    task = RecallTask(**SMALL, alpha=alpha)
    evals = ic.evaluation_sets(task, 32, 1)
    kw = dict(batch=16, seed=5, evals=evals, record_every=4)
    fresh = ic.fresh_batches(task, 12, 16, seed=5)
    assert len(fresh) == 13 and fresh[0].tokens.dtype == torch.int64
    assert torch.equal(fresh[3].tokens, fresh.batches[3].tokens.long())
    a = ic.train_fresh(ic.RecallTransformer(task, family, "linear"), 0.2, 12, **kw)
    b = ic.train_fresh(ic.RecallTransformer(task, family, "linear"), 0.2, 12, batches=fresh, **kw)
    _same_history(a.history, b.history)
    assert a.settings == b.settings
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # a longer draw starts with the same batches
    c = ic.train_fresh(ic.RecallTransformer(task, family, "linear"), 0.2, 8, **kw)
    d = ic.train_fresh(ic.RecallTransformer(task, family, "linear"), 0.2, 8, batches=fresh, **kw)
    _same_history(c.history, d.history)


def test_pre_drawn_batches_must_be_those_of_the_run():
    task = RecallTask(**SMALL)
    fresh = ic.fresh_batches(task, 5, 8, seed=0)
    model = ic.RecallTransformer(task, "reparam", "linear")
    for kw, what in [
        (dict(seed=1), "seed=0"),
        (dict(batch=16), "batch=8"),
        (dict(steps=6), "fewer than the steps"),
    ]:
        args = dict(batch=8, seed=0, steps=5) | kw
        with pytest.raises(ValueError, match=re.escape(what)):
            ic.train_fresh(model, 0.1, args.pop("steps"), batches=fresh, **args)
    other = ic.RecallTransformer(task.with_alpha(0.5), "reparam", "linear")
    with pytest.raises(ValueError, match="batches were drawn with task="):
        ic.train_fresh(other, 0.1, 5, batch=8, batches=fresh)
    with pytest.raises(ValueError, match="batches must come from fresh_batches"):
        ic.train_fresh(model, 0.1, 5, batch=8, batches=[task.sample(8, 0, "x")] * 6)


@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_final_only_and_final_evals_record_the_same_last_step(alpha):
    task = RecallTask(**SMALL, alpha=alpha)
    pop, unseen = ic.evaluation_sets(task, 32, 0).values()
    kw = dict(batch=16, seed=2, record_every=3)
    full = ic.train_fresh(
        ic.RecallTransformer(task, "origin", "softmax"),
        0.2,
        10,
        evals={"pop": pop, "unseen": unseen},
        **kw,
    )
    last = ic.train_fresh(
        ic.RecallTransformer(task, "origin", "softmax"), 0.2, 10, evals={"pop": pop, "unseen": unseen},
        final_only=True, **kw,
    )  # fmt: skip
    assert last.history.steps == [10] and list(last.history.values) == list(full.history.values)
    for k in full.history.values:
        assert last.history.final(k) == full.history.final(k), k
    split = ic.train_fresh(
        ic.RecallTransformer(task, "origin", "softmax"), 0.2, 10, evals={"pop": pop},
        final_evals={"unseen": unseen}, **kw,
    )  # fmt: skip
    assert split.history.steps == full.history.steps and set(split.evals) == {"pop", "unseen"}
    for k in full.history.values:
        if k.startswith("unseen/"):
            assert np.isnan(split.history[k][:-1]).all() and split.history.final(
                k
            ) == full.history.final(k)
        else:
            assert np.array_equal(split.history[k], full.history[k]), k
    with pytest.raises(ValueError, match="must not share a name"):
        ic.train_fresh(ic.RecallTransformer(task, "reparam", "linear"), 0.2, 4, evals={"pop": pop},
                       final_evals={"pop": pop})  # fmt: skip


def test_train_on_sample_final_only_gives_the_last_epoch():
    task = RecallTask(**SMALL, alpha=0.5)
    full, ah = ic.finite_sample_runs(task, ic.REPARAM_MODELS, 64, 0.2, 4, batch=16, n_eval=32)
    last, ah2 = ic.finite_sample_runs(
        task, ic.REPARAM_MODELS, 64, 0.2, 4, batch=16, n_eval=32, final_only=True
    )
    assert ah == ah2
    for name, run in full.items():
        h = last[name].history
        # (the full run's epoch 0 has no train_loss, so its keys come in another order)
        assert h.steps == [4] and set(h.values) == set(run.history.values)
        for k in run.history.values:
            assert h.final(k) == run.history.final(k), k


def test_population_runs_unseen_curves_only_where_asked():
    task = RecallTask(**SMALL, alpha=0.5)
    models = ic.FIGURE1_MODELS[:1] + ic.FIGURE1_MODELS[3:4] + ic.REPARAM_MODELS[1:]
    kw = dict(batch=16, n_eval=32, seed=1, record_every=5)
    full = ic.population_runs(task, models, 0.1, 15, **kw)
    part = ic.population_runs(task, models, 0.1, 15, **kw, unseen_curves=("Origin-Linear-FA",))
    assert list(part) == list(full)
    for name in full:
        a, b = full[name].history, part[name].history
        for k in a.values:
            if k.startswith("unseen/") and name != "Origin-Linear-FA":
                assert np.isnan(b[k][:-1]).all() and b.final(k) == a.final(k)
            else:
                assert np.array_equal(a[k], b[k]), (name, k)
    # each model alone (its own batches, drawn while training) gives the same numbers
    for m in models:
        alone = ic.population_runs(task, (m,), 0.1, 15, **kw)
        (name,) = alone
        _same_history(alone[name].history, full[name].history)
    with pytest.raises(ValueError, match="unseen_curves must name models"):
        ic.population_runs(task, models, 0.1, 15, **kw, unseen_curves=("Origin-ReLU-F",))


def test_query_embedding_is_the_sum_of_two_one_hot_vectors():
    task = RecallTask(**SMALL)
    tokens = task.sample(9, 0, "x").tokens
    prev = ic.previous_tokens(tokens, task.N)
    x = ic.query_embedding(tokens[:, -1], prev[:, -1], 2 * task.N, torch.float64)
    d = 2 * task.N
    one_hot = torch.nn.functional.one_hot
    assert torch.equal(x, one_hot(tokens[:, -1], d).double() + one_hot(prev[:, -1], d).double())
