"""``flashsim tune``: a resumable Optuna study, trials on dask workers, its report (tiny trials on 400 ttbar events)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("optuna")

from flashsim_coffea.train import store
from flashsim_coffea.validate import tune

KEY = "Muon_genmuon"
#: tiny trials: a few gradient steps, two classifier seeds, one torch thread (two spin against each other on a
#: loaded 2-core machine).
TINY = {"max_steps": 12, "auc_seeds": 2, "threads": 1}


@pytest.fixture(scope="module")
def tables(tt_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune_tables")
    store.extract([tt_sample], out, keys=[KEY], progress=False)
    return out


def _states(study_path) -> dict[str, int]:
    import optuna

    s = optuna.load_study(study_name=KEY, storage=f"sqlite:///{study_path}")
    out: dict[str, int] = {}
    for t in s.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def test_split_holds_out_a_fixed_fifth(tables):
    t = store.source_tables(tables, KEY)
    train, held = tune.split(t)
    for kind in t:
        assert len(train[kind]) + len(held[kind]) == len(t[kind])
        assert not set(train[kind].rows) & set(held[kind].rows)
        assert 0.1 < len(held[kind]) / len(t[kind]) < 0.3
    again = tune.split(t)[1]
    assert np.array_equal(again["pairs"].rows, held["pairs"].rows)  # the same rows whatever the trial
    pt = store.read_table(tables, KEY, "pairs", ["pt"])["pt"]
    assert np.array_equal(held["pairs"].column("pt"), pt[held["pairs"].rows])


def test_an_interrupted_study_resumes_without_repeating_trials(tables, tmp_path):
    import optuna

    study = tmp_path / "study.sqlite"
    r = tune.tune(KEY, tables, study, 3, seed=1, **TINY)
    assert _states(study) == {"COMPLETE": 3}
    assert r["trials"] == {"COMPLETE": 3}
    first = {t["number"]: t["fidelity"] for t in r["pareto"]}
    # an interrupted run: a trial started and never finished
    s = optuna.load_study(study_name=KEY, storage=f"sqlite:///{study}")
    s.ask()
    assert _states(study) == {"COMPLETE": 3, "RUNNING": 1}
    r = tune.tune(KEY, tables, study, 5, seed=1, **TINY)
    assert _states(study) == {"COMPLETE": 5, "FAIL": 1}  # exactly 2 new trials; the stale one failed
    s = optuna.load_study(study_name=KEY, storage=f"sqlite:///{study}")
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    assert sorted(t.number for t in done) == [0, 1, 2, 4, 5]
    for t in done:
        if t.number in first:  # finished trials are kept as they were
            assert t.values[0] == first[t.number]
        assert 0.3 < t.user_attrs["auc"] <= 1.0 and len(t.user_attrs["auc_seeds"]) == 2
        assert t.user_attrs["classifier"] == "hgb"  # the default
        assert t.user_attrs["median_w1_over_sigma"] > 0 and 0 < t.user_attrs["efficiency_logloss"] < 1
        assert t.values[0] == pytest.approx(t.user_attrs["auc"] - 0.5 + t.user_attrs["median_w1_over_sigma"])
    # asking again for 5 runs nothing
    tune.tune(KEY, tables, study, 5, seed=1, **TINY)
    assert _states(study) == {"COMPLETE": 5, "FAIL": 1}
    # a study keeps its classifier: the MLP cannot continue it
    with pytest.raises(ValueError, match="scores with the 'hgb' classifier"):
        tune.tune(KEY, tables, study, 6, seed=1, classifier="mlp", **TINY)
    assert _states(study) == {"COMPLETE": 5, "FAIL": 1}


@pytest.fixture
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_flops_follow_the_network(tables, tmp_path, one_thread):
    t = store.source_tables(tables, KEY)
    train, held = tune.split(t)
    p = {"flow_width": 64, "flow_depth": 2, "lr": 1e-3, "batch_size": 256, "steps": 4, "eff_width": 64, "eff_depth": 1}
    small = tune.evaluate(KEY, train, held, p, tmp_path / "a", auc_seeds=1)
    big = tune.evaluate(KEY, train, held, {**p, "flow_width": 128}, tmp_path / "b", auc_seeds=1)
    # a gated block of width w costs ~3 w^2 multiply-adds per velocity evaluation: 4x from 64 to 128
    assert 3.0 < big["flops"] / small["flops"] < 4.2
    assert small["held_out_objects"] == len(held["pairs"])


def test_validation_processes_are_refused(tables, tmp_path):
    bad = tmp_path / "tables"
    bad.mkdir()
    manifest = json.loads((tables / "manifest.json").read_text())
    manifest["provenance"]["processes"] = ["zh_llbb"]
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="validation process.*zh_llbb"):
        tune.tune(KEY, bad, tmp_path / "s.sqlite", 1, **TINY)


@pytest.mark.dask_client
def test_two_dask_workers_run_the_trials_and_write_the_report(tables, tmp_path, capsys):
    from flashsim_coffea.cli import main

    study = tmp_path / "study.sqlite"
    rc = main(["tune", "--collection", "Muon", "--source", "genmuon", "--tables", str(tables), "--trials", "4",
               "--study", str(study), "--workers", "2", "--max-steps", "12", "--auc-seeds", "2"])
    assert rc == 0
    assert _states(study) == {"COMPLETE": 4}
    report = json.loads(study.with_suffix(".pareto.json").read_text())
    assert report["trials"] == {"COMPLETE": 4} and 1 <= len(report["pareto"]) <= 4
    fid = [t["fidelity"] for t in report["pareto"]]
    flops = [t["flops"] for t in report["pareto"]]
    assert fid == sorted(fid) and flops == sorted(flops, reverse=True)  # a front: better fidelity costs more
    assert set(report["importances"]) == {"fidelity", "flops"}
    assert study.with_suffix(".pareto.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "'flow': {'hidden': [" in out and "best configuration" in out
    assert len(list((tmp_path / "study_trials").glob("trial_*/Muon_genmuon/flow.safetensors"))) == 4


def test_searched_choices_reach_the_trained_models(tables, tmp_path, one_thread):
    """A trial's plain residual blocks, dequantisation width, schedule and time density are what its models
    were trained with: the card's network has no gates, its pipeline the half-width, its training config all
    four; a plain block of width w costs 2 w^2 instead of 3 w^2 per evaluation."""
    from flashsim_coffea.sim import cards

    t = store.source_tables(tables, KEY)
    train, held = tune.split(t)
    p = {"flow_width": 64, "flow_depth": 2, "lr": 1e-3, "batch_size": 256, "steps": 4, "eff_width": 64,
         "eff_depth": 1}
    gated = tune.evaluate(KEY, train, held, p, tmp_path / "a", auc_seeds=1)
    plain = tune.evaluate(KEY, train, held, {**p, "gated": False, "half_width": 0.25, "schedule": "constant",
                                             "alpha": 0.0}, tmp_path / "b", auc_seeds=1)
    card, _ = cards.load(tmp_path / "b" / KEY / "flow.json")
    assert card["network"]["gated"] is False and card["transforms"]["half_width"] == 0.25
    assert {k: card["training"]["config"][k] for k in ("schedule", "alpha", "half_width")} == {
        "schedule": "constant", "alpha": 0.0, "half_width": 0.25}
    assert "half_width" not in cards.load(tmp_path / "a" / KEY / "flow.json")[0]["transforms"]  # the default
    assert plain["flops"] < gated["flops"]


def test_apply_writes_the_best_trial_as_the_sources_training_defaults(tables, tmp_path, monkeypatch):
    """``--apply``: the most faithful Pareto trial within the cost cap becomes the source's tuned config,
    which train_source then uses (its card records it); a cap below every trial is refused by name."""
    from flashsim_coffea.sim import cards
    from flashsim_coffea.specs import all_sources
    from flashsim_coffea.train import sources

    study = tmp_path / "study.sqlite"
    r = tune.tune(KEY, tables, study, 3, seed=2, **TINY)
    monkeypatch.setattr(sources, "TUNED_PATH", tmp_path / "tuned.json")
    entry = tune.apply(study, KEY)
    best = r["pareto"][0]
    assert entry["trial"] == best["number"] and entry["fidelity"] == best["fidelity"]
    assert sources.tuned_config(KEY) == entry and sources.tuned_config("Jet_genjet") == {}
    with pytest.raises(ValueError, match="no finished trial within 1 multiply-adds"):
        tune.apply(study, KEY, max_flops=1)
    sources.train_source(all_sources()[KEY], store.source_tables(tables, KEY), tmp_path / "m", seed=1, epochs=1,
                         progress=False, min_objects=5, config={"min_steps": 3, "min_efficiency_steps": 3})
    card, _ = cards.load(tmp_path / "m" / KEY / "flow.json")
    assert card["network"]["hidden"] == entry["flow"]["hidden"]
    assert card["training"]["config"]["lr"] == entry["lr"] and card["training"]["config"]["min_steps"] == 3


def test_score_samples_from_the_gen_columns_and_puts_the_defaults_back(tables, tiny_models, monkeypatch):
    """The flow's ratio targets are inverted against the gen object's columns, never against the FullSim
    object's own (the held-out tables hold both ``pt`` and ``gen_pt``); jets get NanoAOD's defaults."""
    from flashsim_coffea.sim.engine import load_source
    from flashsim_coffea.specs import all_sources

    m = load_source(tiny_models, all_sources()[KEY])
    _, held = tune.split(store.source_tables(tables, KEY), tune.HELD_OUT, 0)
    seen = {}
    real = tune._sample

    def spy(model, context, gen, *args, **kwargs):
        seen["gen"] = set(gen)
        return real(model, context, gen, *args, **kwargs)

    monkeypatch.setattr(tune, "_sample", spy)
    r = tune.score(m, held, auc_seeds=1)
    assert "gen_pt" in seen["gen"] and all(k.startswith("gen_") for k in seen["gen"]), seen["gen"]
    assert 0.0 < r["auc"] < 1.0 and np.isfinite(r["median_w1_over_sigma"])
    jets = tune.with_defaults("Jet", {"pt": np.array([30.0, 30.0, 30.0]), "eta": np.array([1.0, 2.7, 3.5]),
                                      "rawFactor": np.zeros(3), "btagPNetB": np.full(3, 0.5),
                                      "btagPNetQvG": np.full(3, 0.5)}, {})
    assert jets["btagPNetB"].tolist() == [0.5, -1.0, -1.0] and jets["btagPNetQvG"].tolist() == [0.5] * 3


def test_scored_samples_sit_on_nanoaods_stored_grid(tables, tiny_models):
    """The samples a score compares are rounded as the engine writes them (the FullSim tables are): every
    rounded muon field keeps its stored fraction bits, a full-precision one is left as sampled."""
    from flashsim_coffea.nanoaod.storage_precision import PRECISION, reduce_mantissa
    from flashsim_coffea.sim.engine import load_source
    from flashsim_coffea.specs import all_sources

    m = load_source(tiny_models, all_sources()[KEY])
    _, held = tune.split(store.source_tables(tables, KEY), tune.HELD_OUT, 0)
    pairs = held["pairs"].take(np.arange(len(held["pairs"])))
    flash = tune.flash_columns(m, pairs)
    rounded = [t for t in m.source.targets if t in PRECISION["Muon"]]
    assert {"ptErr", "dxyErr", "softMva"} <= set(rounded)
    for t in rounded:
        x = np.asarray(flash[t], np.float32)
        assert np.array_equal(x, reduce_mantissa(x, PRECISION["Muon"][t]), equal_nan=True), t
    pt = np.asarray(flash["pt"], np.float32)  # not rounded: most samples use more than 10 fraction bits
    assert "pt" not in PRECISION["Muon"] and np.mean(reduce_mantissa(pt, 10) != pt) > 0.9
