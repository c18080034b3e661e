"""Validation figures: efficiency curves, W1/σ with its floor, two-sample AUC, the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flashsim_coffea.specs.source import Source
from flashsim_coffea.validate import report as v
from flashsim_coffea.validate import sample


def test_efficiency_curve_counts_more_than_127_passing_candidates_per_bin():
    # labels come as int8 from the extraction: they must not wrap around when summed
    x = np.full(1000, 30.0)
    label = (np.arange(1000) < 700).astype(np.int8)
    s = sample.summarise({"cond": {"log_pt": np.log(x)}, "label": label, "pairs": {}})
    eff, err = sample.efficiency_curve(s["eff"]["pt"])
    b = np.searchsorted(sample.PT_EDGES, 30.0, side="right") - 1
    assert eff[b] == pytest.approx(0.7)
    assert err[b] == pytest.approx(np.sqrt(0.7 * 0.3 / 1000))


def test_wasserstein_over_sigma_of_a_shift_is_the_shift_in_sigmas():
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 2, 200_000)
    assert v.wasserstein_over_sigma(ref + 0.2, ref) == pytest.approx(0.1, rel=0.01)


def _src(key: str, targets: tuple[str, ...]) -> Source:
    coll, name = key.split("_")
    return Source(collection=coll, name=name, candidates=None, conditioning=[], targets={t: {} for t in targets})


def test_pooled_w1_pools_sources_and_its_floor_is_the_sampling_noise():
    rng = np.random.default_rng(2)
    a, b = _src("Muon_a", ("pt",)), _src("Muon_b", ("pt",))
    n = 20_000
    # source a perfect, source b shifted by one sigma of the pooled distribution: half the objects off
    ra, fa = rng.normal(0, 1, n), rng.normal(0, 1, n)
    rb, fb = rng.normal(5, 1, n), rng.normal(5, 1, n) + 5.1
    tables = {"Muon_a": ({"pairs": {"pt": ra}}, {"pairs": {"pt": fa}}),
              "Muon_b": ({"pairs": {"pt": rb}}, {"pairs": {"pt": fb}})}
    out = v.pooled_w1([a, b], tables, seed=0)
    sigma = np.std(np.concatenate([ra, rb]))
    assert out["median_w1_over_sigma"] == pytest.approx(0.5 * 5.1 / sigma, rel=0.03)
    # two same-distribution samples of 40k objects: W1/σ of order 1/sqrt(n)
    assert 0.001 < out["w1_floor"] < 0.02
    perfect = {k: (t[0], {"pairs": {"pt": t[0]["pairs"]["pt"][::-1].copy()}}) for k, t in tables.items()}
    assert v.pooled_w1([a, b], perfect)["median_w1_over_sigma"] == pytest.approx(0.0, abs=1e-12)


def test_pooled_w1_floor_shrinks_with_the_flash_replicas_as_sqrt_of_one_plus_one_over_k():
    rng = np.random.default_rng(5)
    src = _src("Tau_a", ("pt",))
    tables = {"Tau_a": ({"pairs": {"pt": rng.normal(0, 1, 4000)}}, {"pairs": {"pt": rng.normal(0, 1, 16_000)}})}
    one, four = v.pooled_w1([src], tables, seed=0), v.pooled_w1([src], tables, seed=0, replicas=4)
    assert four["w1_floor"] / one["w1_floor"] == pytest.approx(np.sqrt((1 + 1 / 4) / 2), rel=1e-9)
    # the figure itself does not depend on K (same tables)
    assert four["median_w1_over_sigma"] == one["median_w1_over_sigma"]


def test_two_sample_auc_is_one_half_for_the_same_distribution_and_phi_of_the_shift_otherwise():
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    ref = rng.normal(size=(20_000, 2))
    same = rng.normal(size=(20_000, 2))
    shifted = rng.normal(size=(20_000, 2)) + np.array([1.0, 0.0])
    assert v.two_sample_auc(same, ref, seed=1) == pytest.approx(0.5, abs=0.02)
    assert v.two_sample_auc(shifted, ref, seed=1) == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.02)


def test_a_gen_objects_flash_and_fullsim_rows_stay_in_one_half():
    """Flash drawn from the very distribution of FullSim, on the same gen conditioning (replicas included): split
    row by row, the gradient-boosted classifier learns a training row's conditioning and calls its twin in the
    held-out half by that row's label (AUC far below 0.5); kept together by :func:`twins`, 0.5."""
    rng = np.random.default_rng(1)
    c = rng.normal(size=(800, 3))
    ref = np.c_[c, c[:, 0] + 0.1 * rng.normal(size=800)]
    cf = np.repeat(c, 2, axis=0)  # two replicas of each gen object
    flash = np.c_[cf, cf[:, 0] + 0.1 * rng.normal(size=1600)]
    groups = v.twins(flash[:, :3], ref[:, :3])
    assert groups[0].tolist()[:4] == [groups[1][0]] * 2 + [groups[1][1]] * 2 and len(set(groups[1])) == 800
    rowwise = np.mean([v.hgb_auc(flash, ref, s) for s in range(3)])
    grouped = np.mean([v.hgb_auc(flash, ref, s, groups) for s in range(3)])
    assert rowwise < 0.45 and abs(grouped - 0.5) < 0.03, (rowwise, grouped)
    x, y, tr, te = v.balanced_halves(flash, ref, 0, groups=groups)
    assert not set(map(tuple, x[tr, :3].tolist())) & set(map(tuple, x[te, :3].tolist()))
    assert abs(len(tr) - len(te)) < 0.15 * len(x)
    assert v.twins(np.zeros((3, 0)), np.zeros((2, 0))) is None


def test_validate_writes_a_report_of_every_collection(tiny_models, tt_sample, tmp_path):
    report = v.validate(tiny_models, [tt_sample], tmp_path, seed=4, plots=False, progress=False, steps=2, field_seeds=0)
    assert report["steps"] == 2 and report["events"] == 400
    written = json.loads((tmp_path / "validation.json").read_text())
    assert set(written["collections"]) == set(report["collections"]) >= {"Jet", "Muon", "Event"}
    jet = report["sources"]["Jet_genjet"]
    assert 0.3 < jet["efficiency"]["fullsim"] < 1.0
    # the AUC: the mean over the default five classifier seeds, which differ
    assert report["auc_seeds"] == 5 and len(jet["auc_seeds"]) == 5 and len(set(jet["auc_seeds"])) > 1
    assert jet["auc"] == pytest.approx(np.mean(jet["auc_seeds"]))
    assert jet["auc_sd"] == pytest.approx(np.std(jet["auc_seeds"], ddof=1))
    assert all(0 <= e <= 1 for e in jet["eff_vs_pt"]["fullsim"] if np.isfinite(e))
    for coll, r in report["collections"].items():
        assert r["median_w1_over_sigma"] >= 0 and r["w1_floor"] >= 0, coll
    lines = v.summary_lines(report)
    assert lines[0].split()[:2] == ["collection", "AUC"] and any(line.startswith("Jet") for line in lines)


def test_replicas_repeat_each_gen_event_with_its_own_flash_collections(tiny_models, tt_sample, tmp_path):
    import awkward as ak

    from flashsim_coffea.sim.engine import FlashSim
    from flashsim_coffea.train import extract

    data = extract.read([tt_sample], entry_stop=50)
    flash = v.flash_like_fullsim(data, FlashSim.load(tiny_models, steps=2), seed=3, replicas=3)
    assert len(flash) == 3 * len(data)
    # flash event i carries the gen content of gen event i // 3
    assert ak.all(flash["GenJet", "pt"][7] == data["GenJet", "pt"][2])
    assert ak.all(flash["event"][::3] == data["event"]) and ak.all(flash["event"][2::3] == data["event"])
    # the replicas of one gen event differ in their reco content
    assert not ak.all(ak.num(flash["Jet"][0::3]) == ak.num(flash["Jet"][1::3])) or \
        not ak.all(ak.flatten(flash["Jet", "pt"][0::3]) == ak.flatten(flash["Jet", "pt"][1::3]))

    report = v.validate(tiny_models, [tt_sample], None, seed=4, plots=False, progress=False, steps=2, field_seeds=0,
                        auc_seeds=1, replicas=3)
    jet = report["sources"]["Jet_genjet"]
    assert report["replicas"] == 3
    assert 2.7 < jet["objects"]["flash"] / jet["objects"]["fullsim"] < 3.3


def test_update_cards_records_the_figures_under_the_process(tiny_models, tt_sample, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    report = v.validate(models, [tt_sample], None, seed=4, plots=False, progress=False, steps=2, field_seeds=0, auc_seeds=1,
                        update_cards=True)
    card = json.loads((models / "Muon_genmuon" / "flow.json").read_text())
    assert card["validation"]["ttbar"]["median_w1_over_sigma"] == report["sources"]["Muon_genmuon"]["median_w1_over_sigma"]
    # the cards still load (weights unchanged, card valid)
    from flashsim_coffea.sim.engine import FlashSim

    assert "Muon_genmuon" in FlashSim.load(models).models


def test_validating_some_collections_replaces_only_their_entries(tiny_models, tt_sample, tmp_path):
    full = v.validate(tiny_models, [tt_sample], tmp_path, seed=4, plots=False, progress=False, steps=2, field_seeds=0,
                      auc_seeds=1, entry_stop=300)
    # mark the written entries: the partial run must overwrite Muon's and keep Jet's
    path = tmp_path / "validation.json"
    written = json.loads(path.read_text())
    for key in ("Jet_genjet", "Muon_genmuon"):
        written["sources"][key]["median_w1_over_sigma"] = -1.0
    path.write_text(json.dumps(written))
    part = v.validate(tiny_models, [tt_sample], tmp_path, seed=4, plots=False, progress=False, steps=2, field_seeds=0,
                      auc_seeds=1, entry_stop=300,
                      collections=["Muon"])
    assert set(part["collections"]) == {"Muon"} and all(k.startswith("Muon_") for k in part["sources"])
    written = json.loads(path.read_text())
    assert set(written["collections"]) == set(full["collections"])
    assert written["sources"]["Jet_genjet"]["median_w1_over_sigma"] == -1.0
    assert written["sources"]["Muon_genmuon"]["median_w1_over_sigma"] == part["sources"]["Muon_genmuon"][
        "median_w1_over_sigma"] >= 0
    with pytest.raises(ValueError, match="replicas=1, this run has replicas=2"):
        v.validate(tiny_models, [tt_sample], tmp_path, seed=4, plots=False, progress=False, steps=2, field_seeds=0,
                   auc_seeds=1, entry_stop=300,
                   collections=["Muon"], replicas=2)


def test_chunked_validation_gives_the_figures_of_one_chunk(tiny_models, tt_sample, tmp_path):
    kw = dict(seed=4, plots=False, progress=False, steps=2, field_seeds=0,
              auc_seeds=1, replicas=2, collections=["Jet", "Muon", "Event"])
    whole = v.validate(tiny_models, [tt_sample], step=400, **kw)
    chunked = v.validate(tiny_models, [tt_sample], step=70, **kw)  # 6 chunks, the last of 50 events
    assert chunked["events"] == whole["events"] == 400
    assert json.dumps(chunked["sources"], sort_keys=True) == json.dumps(whole["sources"], sort_keys=True)
    assert json.dumps(chunked["collections"], sort_keys=True) == json.dumps(whole["collections"], sort_keys=True)


def test_a_capped_sample_keeps_exact_counts_and_a_uniform_subsample(tiny_models, tt_sample):
    kw = dict(seed=4, plots=False, progress=False, steps=2, field_seeds=0, auc_seeds=1, collections=["Jet"], step=100)
    full = v.validate(tiny_models, [tt_sample], **kw)["sources"]["Jet_genjet"]
    capped = v.validate(tiny_models, [tt_sample], cap=500, **kw)["sources"]["Jet_genjet"]
    assert capped["objects"] == full["objects"] and full["objects"]["fullsim"] > 2000
    assert capped["efficiency"] == full["efficiency"]
    for k in ("fullsim", "flash", "fullsim_err", "flash_err"):
        np.testing.assert_array_equal(capped["eff_vs_pt"][k], full["eff_vs_pt"][k])
    assert full["subsample"] == {"fullsim": 1.0, "flash": 1.0}
    assert capped["subsample"]["fullsim"] == pytest.approx(500 / full["objects"]["fullsim"], rel=0.15)
    # a 500-object subsample is a draw of the same distribution: pT's W1/σ stays close to the full one's
    assert capped["variables"]["pt"]["w1_over_sigma"] < full["variables"]["pt"]["w1_over_sigma"] + 0.15


def test_subsample_keys_keep_the_pool_uniform():
    rng = np.random.default_rng(3)
    big, small = sample.empty(cap=1000), sample.empty(cap=1000)
    for _ in range(10):
        sample.add(big, {"pairs": {"x": rng.normal(0, 1, 2000)}}, rng)  # 20000 objects, 1000 kept
    sample.add(small, {"pairs": {"x": rng.normal(10, 1, 500)}}, rng)  # all 500 kept
    pool = sample.pooled([big, small], "x")
    # the union holds 500 / 20500 of objects near 10; the pool must too (not 500 / 1500)
    assert (pool > 5).mean() == pytest.approx(500 / 20500, abs=0.015)
    assert big["objects"] == 20000 and len(big["pairs"]["x"]) == 1000


def test_per_source_gradient_boosted_auc_beside_the_mlp(tt_sample):
    """With ``hgb`` a source's report also gets the gradient-boosted classifier's AUC, per classifier seed
    and their mean, on the same rows as the MLP's (shipped Jet models, 400 ttbar events, K = 2)."""
    from flashsim_coffea.sim.cards import DEFAULT_MODELS
    from flashsim_coffea.sim.engine import FlashSim
    from flashsim_coffea.specs import jet
    from flashsim_coffea.train import extract

    data = extract.read([tt_sample])
    flash = v.flash_like_fullsim(data, FlashSim.load(DEFAULT_MODELS, collections=["Jet"]), seed=1, replicas=2)
    ref, fl = (sample.summarise(extract.tables(ev, jet.GENUINE)) for ev in (data, flash))
    r = v.compare_source(jet.GENUINE, ref, fl, auc_seeds=2, hgb=True)
    assert min(r["objects"].values()) >= v.MIN_AUC_OBJECTS
    assert len(r["auc_hgb_seeds"]) == 2 and r["auc_hgb"] == pytest.approx(np.mean(r["auc_hgb_seeds"]))
    assert all(0.3 < a < 1.0 for a in r["auc_hgb_seeds"]) and r["auc_hgb_seeds"][0] != r["auc_hgb_seeds"][1]
    plain = v.compare_source(jet.GENUINE, ref, fl, auc_seeds=2)
    assert "auc_hgb" not in plain and plain["auc_seeds"] == r["auc_seeds"]
    assert "(HGB " in "\n".join(v.summary_lines({"collections": {}, "sources": {"Jet_genjet": r}}))
