"""The engine on a real reference chunk: types, links, determinism, chunk independence, bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import genevents, schema
from flashsim_coffea.sim import cards
from flashsim_coffea.sim import random as rnd
from flashsim_coffea.sim.engine import FlashSim, tile
from flashsim_coffea.specs import all_sources


@pytest.fixture(scope="module")
def flash(tiny_sim, tt_gen):
    return tiny_sim.simulate(tt_gen, seed=5, replicas=3)


def test_tile_orders_replicas_of_each_event_together():
    rows, flash = tile(np.array([2, 0, 1]), 2)
    assert rows.tolist() == [0, 1, 0, 1, 2, 2]
    assert flash.tolist() == [0, 0, 1, 1, 4, 5]


def test_a_source_drawn_with_anothers_uniforms_fires_beside_it(tiny_sim, tt_gen, monkeypatch):
    """``Electron_jetfake2`` reuses ``Electron_jetfake``'s efficiency uniforms (``Source.draw_with``): given the
    first source's networks (the same probabilities), it fires on exactly the candidates that one fired on, in
    every replica; with uniforms of its own, on others. The flow draws are left out (every object inside)."""
    first = tiny_sim.models["Electron_jetfake"]
    second = dataclasses.replace(first, source=dataclasses.replace(first.source, name="jetfake2", draw_with="jetfake"))
    apart = dataclasses.replace(second, source=dataclasses.replace(second.source, draw_with=None))
    monkeypatch.setattr(tiny_sim, "_sample_inside", lambda m, ctx, *a: ({"row": np.arange(len(ctx))},
                                                                      np.ones(len(ctx), bool)))
    gen = tt_gen[:200]
    keys = rnd.event_keys(*(ak.to_numpy(gen[f]) for f in ("run", "luminosityBlock", "event")))
    fired = [tiny_sim._candidate_source(m, gen, keys, 4, 3, {"features": {}}, {})[1] for m in (first, second, apart)]
    assert 30 < len(fired[0]) < 0.5 * 3 * ak.sum(ak.num(gen.GenJet))
    assert np.array_equal(fired[0], fired[1])
    # apart: 165 of the 294 flash events with a first fake get a second (seed 4)
    assert len(np.intersect1d(fired[0], fired[2])) < 0.75 * len(np.unique(fired[0]))
    assert all_sources()["Electron_jetfake2"].draw_with == "jetfake"


def test_replicas_and_flashsim_record(flash, tt_gen):
    assert len(flash) == 3 * len(tt_gen)
    assert flash.FlashSim.genEventIdx.tolist()[:6] == [0, 0, 0, 1, 1, 1]
    assert flash.FlashSim.replica.tolist()[:6] == [0, 1, 2, 0, 1, 2]
    assert set(flash.FlashSim.replicas.tolist()) == {3}
    # replicas of one gen event differ (independent draws)
    assert not ak.all(flash.MET.pt[0::3] == flash.MET.pt[1::3])


def test_names_and_dtypes_are_nanoaod_v12(flash, v12_file):
    tree = uproot.open(v12_file)["Events"]
    checked = 0
    for coll in ("Jet", "Muon", "Electron", "Photon", "Tau"):
        if coll not in flash.fields:
            continue
        for f in flash[coll].fields:
            want = schema.SCHEMA[coll][f]
            got = str(ak.flatten(flash[coll][f]).layout.dtype)
            assert got == want, (coll, f)
            name = f"{coll}_{f}"
            if name in tree:
                assert str(tree[name].interpretation.content.to_dtype.newbyteorder("=")) == got, name
                checked += 1
    for rec in ("MET", "PV", "Rho"):
        for f in flash[rec].fields:
            name = f"{rec}_{f}"
            assert str(flash[rec][f].layout.dtype) == schema.SCHEMA[""][name]
    assert checked > 60


def test_pt_order_and_links(flash, tt_gen):
    for coll in ("Jet", "Muon", "Electron"):
        pt = flash[coll].pt
        assert ak.all(pt[:, 1:] <= pt[:, :-1])
    g = tt_gen[flash.FlashSim.genEventIdx]
    jets = flash.Jet[flash.Jet.genJetIdx >= 0]
    linked = g.GenJet[ak.values_astype(jets.genJetIdx, np.int64)]
    dr = np.hypot(jets.eta - linked.eta, (jets.phi - linked.phi + np.pi) % (2 * np.pi) - np.pi)
    assert ak.mean(dr < 0.4) > 0.9
    mu = flash.Muon[flash.Muon.genPartIdx >= 0]
    gp = g.GenPart[ak.values_astype(mu.genPartIdx, np.int64)]
    assert ak.all(abs(gp.pdgId) == 13)
    assert ak.all(flash.Muon.pdgId == -13 * flash.Muon.charge)
    # a lepton's jetIdx points at a flash jet within 0.4
    mj = flash.Muon[flash.Muon.jetIdx >= 0]
    if ak.sum(ak.num(mj)):
        j = flash.Jet[ak.values_astype(mj.jetIdx, np.int64)]
        assert ak.all(np.hypot(mj.eta - j.eta, (mj.phi - j.phi + np.pi) % (2 * np.pi) - np.pi) < 0.4 + 1e-6)


def test_same_seed_same_output_other_seed_differs(tiny_sim, tt_gen, flash):
    again = tiny_sim.simulate(tt_gen, seed=5, replicas=3)
    for coll in ("Jet", "Muon", "MET"):
        for f in flash[coll].fields:
            assert ak.all(flash[coll][f] == again[coll][f], axis=None), (coll, f)
    other = tiny_sim.simulate(tt_gen, seed=6, replicas=3)
    assert not ak.all(other.MET.pt == flash.MET.pt)


def test_event_does_not_depend_on_its_chunk(tiny_sim, tt_gen, flash):
    cut = len(tt_gen) // 3
    a = tiny_sim.simulate(tt_gen[:cut], seed=5, replicas=3)
    b = tiny_sim.simulate(tt_gen[cut:], seed=5, replicas=3)
    for coll in ("Jet", "Muon", "Electron", "MET"):
        joined = ak.concatenate([a[coll], b[coll]])
        for f in flash[coll].fields:
            x, y = ak.flatten(joined[f], axis=None), ak.flatten(flash[coll][f], axis=None)
            assert len(x) == len(y), (coll, f)
            if x.layout.dtype.kind == "f":
                np.testing.assert_allclose(ak.to_numpy(x), ak.to_numpy(y), rtol=1e-5, atol=1e-6)
            else:
                assert ak.all(x == y), (coll, f)


def test_empty_chunk_gives_empty_collections_of_the_same_type(tiny_sim, tt_gen, flash):
    empty = tiny_sim.simulate(tt_gen[:0], seed=5, replicas=3)
    assert len(empty) == 0
    assert str(empty.type.content) == str(flash.type.content)


def test_missing_gen_branch_is_named(tiny_sim, tt_gen):
    broken = ak.zip({**{f: tt_gen[f] for f in tt_gen.fields if f != "GenJet"},
                     "GenJet": ak.zip({f: tt_gen.GenJet[f] for f in tt_gen.GenJet.fields if f != "hadronFlavour"})},
                    depth_limit=1)
    with pytest.raises(genevents.GenInputError, match="GenJet_hadronFlavour"):
        tiny_sim.simulate(broken, seed=1)
    no_met = ak.zip({f: tt_gen[f] for f in tt_gen.fields if f != "GenMET"}, depth_limit=1)
    with pytest.raises(genevents.GenInputError, match="GenMET"):
        tiny_sim.simulate(no_met, seed=1)


def test_nan_in_gen_field_is_named(tiny_sim, tt_gen):
    pt = ak.to_numpy(ak.flatten(tt_gen.GenJet.pt)).copy()
    pt[3] = np.nan
    bad_jets = ak.with_field(tt_gen.GenJet, ak.unflatten(pt, ak.num(tt_gen.GenJet)), "pt")
    bad = ak.with_field(tt_gen, bad_jets, "GenJet")
    with pytest.raises(genevents.GenInputError, match="GenJet_pt"):
        tiny_sim.simulate(bad, seed=1)


def _copy_models(tiny_models, tmp_path):
    d = tmp_path / "models"
    shutil.copytree(tiny_models, d)
    return d


def test_corrupt_weights_refused(tiny_models, tmp_path):
    d = _copy_models(tiny_models, tmp_path)
    w = d / "Jet_genjet" / "flow.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(cards.ModelCardError, match="sha256.*Jet_genjet|Jet_genjet.*sha256"):
        FlashSim.load(d)


def test_shape_mismatch_refused(tiny_models, tmp_path):
    d = _copy_models(tiny_models, tmp_path)
    path = d / "Muon_genmuon" / "flow.json"
    c = json.loads(path.read_text())
    name = next(iter(c["weights"]["shapes"]))
    c["weights"]["shapes"][name] = [c["weights"]["shapes"][name][0] + 1, *c["weights"]["shapes"][name][1:]]
    path.write_text(json.dumps(c))
    with pytest.raises(cards.ModelCardError, match="shape"):
        FlashSim.load(d)


def test_unknown_card_or_index_version_refused(tiny_models, tmp_path):
    d = _copy_models(tiny_models, tmp_path)
    path = d / "Jet_genjet" / "efficiency.json"
    c = json.loads(path.read_text())
    c["schema_version"] = 99
    path.write_text(json.dumps(c))
    with pytest.raises(cards.ModelCardError, match="schema version 99"):
        FlashSim.load(d)
    d2 = _copy_models(tiny_models, tmp_path / "b")
    index = json.loads((d2 / "flashsim.json").read_text())
    index["schema_version"] = 7
    (d2 / "flashsim.json").write_text(json.dumps(index))
    with pytest.raises(cards.ModelCardError, match="schema version 7"):
        FlashSim.load(d2)


def test_time_grid_comes_from_the_index_and_is_kept_by_later_training(tiny_models, tmp_path, tt_gen):
    """An index's ``grid`` reaches the ODE integration (other muons than equal steps, same count);
    adding a source keeps it; an unknown grid is refused at load, naming it."""
    d = _copy_models(tiny_models, tmp_path)
    assert FlashSim.load(d).grid == "uniform"  # an index without grid: equal steps
    uniform = FlashSim.load(d, collections=("Muon",)).simulate(tt_gen[:40], seed=3)
    index = json.loads((d / "flashsim.json").read_text())
    (d / "flashsim.json").write_text(json.dumps({**index, "grid": "late"}))
    late_sim = FlashSim.load(d, collections=("Muon",))
    late = late_sim.simulate(tt_gen[:40], seed=3)
    assert late_sim.grid == "late" and FlashSim.load(d, grid="uniform").grid == "uniform"
    assert ak.num(late.Muon).tolist() == ak.num(uniform.Muon).tolist()  # efficiency draws do not see the grid
    assert not np.allclose(ak.flatten(late.Muon.pt).to_numpy(), ak.flatten(uniform.Muon.pt).to_numpy())
    cards.write_index(d, ["Muon_genmuon"], list(all_sources()), "midpoint", 8)
    assert json.loads((d / "flashsim.json").read_text())["grid"] == "late"
    with pytest.raises(ValueError, match="unknown time grid 'cosine'"):
        FlashSim.load(d, grid="cosine")


def test_steps_per_source_come_from_the_index(tiny_models, tmp_path, tt_gen):
    """An index's ``source_steps`` integrates those sources' flows with their own count, the others with
    ``steps``; an explicit ``steps`` overrides both; retraining a source drops its entry (not measured);
    a bad entry is refused at load, naming it."""
    d = _copy_models(tiny_models, tmp_path)
    index = json.loads((d / "flashsim.json").read_text())
    gen = tt_gen[:40]
    every2 = FlashSim.load(d, steps=2).simulate(gen, seed=3)
    every8 = FlashSim.load(d, steps=8).simulate(gen, seed=3)
    muons = {k: 2 for k in index["sources"] if k.startswith("Muon_")}  # genuine, jet fakes, apart from the jets
    (d / "flashsim.json").write_text(json.dumps({**index, "steps": 8, "source_steps": muons}))
    sim = FlashSim.load(d)
    assert (sim.steps_of("Muon_genmuon"), sim.steps_of("Jet_genjet")) == (2, 8)
    mixed = sim.simulate(gen, seed=3)
    muon_pt = [ak.flatten(f.Muon.pt).to_numpy() for f in (mixed, every2, every8)]
    jet_pt = [ak.flatten(f.Jet.pt).to_numpy() for f in (mixed, every2, every8)]
    assert len(muon_pt[0]) > 10 and np.array_equal(muon_pt[0], muon_pt[1])
    assert not np.allclose(muon_pt[1], muon_pt[2])  # the step count matters for these flows
    assert np.array_equal(jet_pt[0], jet_pt[2]) and not np.array_equal(jet_pt[1], jet_pt[2])
    flops = sim.flops_per_object()
    assert flops["Muon_genmuon"]["flow"] * 4 == FlashSim.load(d, steps=8).flops_per_object()["Muon_genmuon"]["flow"]
    assert FlashSim.load(d, steps=4).source_steps == {}
    cards.write_index(d, ["Muon_jetfake"], list(all_sources()), "midpoint", 8)
    assert json.loads((d / "flashsim.json").read_text())["source_steps"] == {k: 2 for k in muons if k != "Muon_jetfake"}
    for bad, match in (({"Muon_genmuon": 0}, "source_steps\\['Muon_genmuon'\\] = 0"),
                       ({"Muon_genmuon": 2.5}, "= 2.5 is not a positive whole number"),
                       ({"Jet_bogus": 4}, "names 'Jet_bogus', which is not one of its sources")):
        (d / "flashsim.json").write_text(json.dumps({**index, "source_steps": bad}))
        with pytest.raises(cards.ModelCardError, match=match):
            FlashSim.load(d)


def test_solvers_per_source_come_from_the_index(tiny_models, tmp_path, tt_gen):
    """An index's ``source_solvers`` integrates those sources' flows with their own solver (the muons' samples
    are ab2's, the jets' midpoint's, as with one solver for all); retraining a source drops its entry; an
    entry naming another source or a non-string is refused at load."""
    d = _copy_models(tiny_models, tmp_path)
    index = json.loads((d / "flashsim.json").read_text())
    gen = tt_gen[:40]
    ab2 = FlashSim.load(d, solver="ab2", steps=8).simulate(gen, seed=3)
    mid = FlashSim.load(d, solver="midpoint", steps=8).simulate(gen, seed=3)
    muons = {k: "ab2" for k in index["sources"] if k.startswith("Muon_")}  # every muon source
    (d / "flashsim.json").write_text(json.dumps({**index, "solver": "midpoint", "steps": 8, "source_solvers": muons}))
    mixed = FlashSim.load(d).simulate(gen, seed=3)
    muon_pt = [ak.flatten(f.Muon.pt).to_numpy() for f in (mixed, ab2, mid)]
    jet_pt = [ak.flatten(f.Jet.pt).to_numpy() for f in (mixed, ab2, mid)]
    assert len(muon_pt[0]) > 10 and np.array_equal(muon_pt[0], muon_pt[1]) and not np.allclose(muon_pt[1], muon_pt[2])
    assert np.array_equal(jet_pt[0], jet_pt[2]) and not np.array_equal(jet_pt[1], jet_pt[2])
    cards.write_index(d, ["Muon_jetfake"], list(all_sources()), "midpoint", 8)
    assert json.loads((d / "flashsim.json").read_text())["source_solvers"] == {
        k: "ab2" for k in muons if k != "Muon_jetfake"}
    for bad, match in (({"Jet_bogus": "ab2"}, "source_solvers names 'Jet_bogus'"),
                       ({"Muon_genmuon": 2}, "source_solvers\\['Muon_genmuon'\\] = 2 is not the name")):
        (d / "flashsim.json").write_text(json.dumps({**index, "source_solvers": bad}))
        with pytest.raises(cards.ModelCardError, match=match):
            FlashSim.load(d)


def test_collection_selection(tiny_models, tt_gen):
    sim = FlashSim.load(tiny_models, collections=("Muon",))
    out = sim.simulate(tt_gen[:20], seed=1)
    # with the jets, electrons and PV its derived fields read (derive.NEEDS), nothing else
    assert {"Muon", "Jet", "Electron", "PV"} <= set(out.fields) and not {"Photon", "Tau", "SV"} & set(out.fields)
    assert "GenVisTau" not in sim.gen_branches()


def _genuine(flash: ak.Array) -> ak.Array:
    return flash.Jet[flash.Jet.genJetIdx >= 0]


def test_acceptance_comes_from_the_training_data(tiny_models, tt_gen):
    m = FlashSim.load(tiny_models).models["Jet_genjet"]
    # the flow card holds the largest reco |η| and the smallest reco pT of the training jets
    assert m.abs_eta_max is not None and 2.0 < m.abs_eta_max <= 5.2
    assert m.pt_min is not None and 15.0 <= m.pt_min < 16.0
    assert m.accepted({"eta": np.array([0.0, 0.0, 5.3]), "pt": np.array([30.0, 14.0, 30.0])}).tolist() == [
        True, False, False]


def test_objects_sampled_outside_the_acceptance_are_drawn_again(tiny_models, tt_gen, monkeypatch):
    from flashsim_coffea.sim import engine

    sim = FlashSim.load(tiny_models)
    before = _genuine(sim.simulate(tt_gen, seed=5, replicas=1))
    assert ak.all(abs(before.eta) <= sim.models["Jet_genjet"].abs_eta_max)
    assert ak.all(before.pt >= sim.models["Jet_genjet"].pt_min)
    sim.models["Jet_genjet"].cards["flow"]["acceptance"].update(abs_eta_max=1.0, pt_min=25.0)
    after = _genuine(sim.simulate(tt_gen, seed=5, replicas=1))
    assert ak.all(abs(after.eta) <= 1.0) and ak.all(after.pt >= 25.0)
    # (the acceptance compares the draws before NanoAOD's rounding: a draw at 24.995 is stored as 25.0)
    inside = before[(abs(before.eta) < 0.99) & (before.pt > 25.1)]
    # first draws that landed inside are unchanged ...
    assert set(ak.flatten(inside.pt).tolist()) <= set(ak.flatten(after.pt).tolist())
    # ... and the others were drawn again: many of them land inside on a later draw
    n_inside, n_after = int(ak.sum(ak.num(inside))), int(ak.sum(ak.num(after)))
    assert n_after > n_inside + 20
    # with a single draw the objects outside are only dropped
    monkeypatch.setattr(engine, "RESAMPLE_ATTEMPTS", 1)
    acc = sim.models["Jet_genjet"].cards["flow"]["acceptance"]
    acc.pop("pt_min")
    first = _genuine(sim.simulate(tt_gen, seed=5, replicas=1))
    acc.update(pt_min=25.0)
    dropped = _genuine(sim.simulate(tt_gen, seed=5, replicas=1))
    assert int(ak.sum(ak.num(dropped))) < n_after
    kept = set(ak.flatten(dropped.pt).tolist())  # the first draws inside, the rounding's edge aside
    assert kept <= set(ak.flatten(first[(abs(first.eta) <= 1.0) & (first.pt >= 25.0)].pt).tolist())
    assert set(ak.flatten(first[(abs(first.eta) < 0.99) & (first.pt > 25.1)].pt).tolist()) <= kept


def test_redraws_in_one_batch_keep_each_objects_first_draw_inside(tiny_models, tt_gen, monkeypatch):
    """The further draws of the objects outside are integrated together; each object must still
    get the draw of its first attempt inside, as drawing attempt after attempt would give."""
    from flashsim_coffea.sim import engine

    sim = FlashSim.load(tiny_models)
    m = sim.models["Jet_genjet"]
    m.cards["flow"]["acceptance"].update(abs_eta_max=1.0, pt_min=25.0)  # many first draws outside
    calls = []
    batched = FlashSim._sample_inside

    def spy(self, model, context, g, seed, key, replica, sid, obj, apart=None):
        result = batched(self, model, context, g, seed, key, replica, sid, obj, apart)
        if model is m:
            calls.append(((context, g, seed, key, replica, sid, obj), result))
        return result

    monkeypatch.setattr(FlashSim, "_sample_inside", spy)
    sim.simulate(tt_gen, seed=5, replicas=1)
    (context, g, seed, key, replica, sid, obj), (out, inside) = calls[0]
    # one attempt after the other, each with its own normals
    first = sim._flow(m, context, sim._noise(seed, key, replica, sid, obj, m.noise_dim), g)
    ref = {k: np.array(v) for k, v in first.items()}
    ok = m.accepted(first)
    redrawn = int((~ok).sum())
    for attempt in range(1, engine.RESAMPLE_ATTEMPTS):
        redo = np.flatnonzero(~ok)
        again = sim._flow(m, context[redo], sim._noise(seed, key[redo], replica[redo], sid, obj[redo],
                                                       m.noise_dim, attempt), {k: v[redo] for k, v in g.items()})
        for k, v in again.items():
            ref[k][redo] = v
        ok[redo] = m.accepted(again)
    assert redrawn > 50 and int(ok.sum()) > len(ok) - redrawn + 20
    np.testing.assert_array_equal(inside, ok)
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k][ok], rtol=1e-5, atol=1e-6)


def test_candidates_beyond_the_efficiency_acceptance_are_never_reconstructed(tiny_models, tt_gen):
    sim = FlashSim.load(tiny_models)
    m = sim.models["Jet_genjet"]
    assert m.candidate_abs_eta_max is not None and m.candidate_abs_eta_max >= m.abs_eta_max - 0.5
    m.cards["efficiency"]["acceptance"]["abs_eta_max"] = 1.5
    flash = sim.simulate(tt_gen, seed=5, replicas=2)
    jets = flash.Jet[flash.Jet.genJetIdx >= 0]
    gen_eta = tt_gen.GenJet.eta[flash.FlashSim.genEventIdx][jets.genJetIdx]
    assert ak.sum(ak.num(jets)) > 0
    assert ak.all(abs(gen_eta) <= 1.5)


def test_shipped_taus_have_nanoaod_decay_modes_and_pion_mass(tt_gen):
    """The shipped tau models (one-hot decay modes) write only HPS decay modes, and mode 0 at the pion mass."""
    sim = FlashSim.load(cards.DEFAULT_MODELS, collections=["Tau"])
    taus = sim.simulate(tt_gen, seed=2, replicas=8).Tau
    dm = ak.to_numpy(ak.flatten(taus.decayMode)).astype(int)
    mass = ak.to_numpy(ak.flatten(taus.mass))
    assert len(dm) > 100
    assert set(np.unique(dm)) <= {0, 1, 2, 10, 11} and {0, 1, 10} <= set(np.unique(dm))
    pion = np.abs(mass - 0.13957) < 2e-4
    assert pion[dm == 0].all()
    assert pion[dm != 0].mean() < 0.01


def test_models_made_before_a_spec_grew_write_what_they_learnt(tmp_path, legacy_models):
    """A card naming a subset of the spec's targets loads and writes those fields (plus the
    spec's constants for a target it lacks) from the conditioning it was trained with; a
    target the spec does not know is refused."""
    from flashsim_coffea.sim.engine import load_source
    from flashsim_coffea.specs import jet
    from flashsim_coffea.specs.source import Source

    shutil.copytree(legacy_models / "Jet_pileup", tmp_path / "Jet_pileup")
    grown = Source(**{**jet.PILEUP.__dict__, "targets": {**jet.PILEUP.targets, "partonFlavour": {"kind": "integer"}},
                      "conditioning": [*jet.PILEUP.conditioning, "nGenJet30"], "categories": (),
                      "categories_conditioning": ()})
    m = load_source(tmp_path, grown)
    card = json.loads((tmp_path / "Jet_pileup" / "flow.json").read_text())
    learnt = card["targets"]
    assert list(m.source.targets) == learnt and set(learnt) < set(jet.PILEUP.targets) | {"nMuons", "nElectrons"}
    assert m.source.conditioning == card["conditioning"]
    assert m.source.constants["partonFlavour"] == 0
    shrunk = Source(**{**jet.PILEUP.__dict__, "targets": {k: v for k, v in jet.PILEUP.targets.items() if k != "puId"}})
    with pytest.raises(cards.ModelCardError, match=r"targets \['puId'\] are not in the spec of Jet_pileup"):
        load_source(tmp_path, shrunk)
    card = json.loads((tmp_path / "Jet_pileup" / "flow.json").read_text())
    assert "partonFlavour" not in card["targets"]


def test_a_collection_loads_with_what_its_derived_fields_read(tt_gen):
    """Muons alone bring the jets, electrons and PV their ``jetIdx``, ``jetRelIso``, ``mvaTTH`` and ``dxybs``
    are derived from, fat jets their subjets (``derive.NEEDS``): every field equals the full run's; only the
    links into collections left out (SV, FSR photons) are absent."""
    from flashsim_coffea.sim import derive

    gen = tt_gen[:60]
    full = FlashSim.load(cards.DEFAULT_MODELS).simulate(gen, seed=5, replicas=2)
    alone = FlashSim.load(cards.DEFAULT_MODELS, collections=["Muon"])
    assert alone.collections == ["Jet", "Muon", "Electron"] and "Event_event" in alone.models
    assert derive.needed({"Muon"}) == {"Muon", "Jet", "Electron", "Event"}
    muons = alone.simulate(gen, seed=5, replicas=2).Muon
    assert ak.sum(ak.num(muons)) > 20 and ak.sum(muons.jetIdx >= 0) > 10
    assert set(full.Muon.fields) - set(muons.fields) == {"svIdx", "fsrPhotonIdx"}
    for f in muons.fields:
        assert ak.all(ak.flatten(muons[f]) == ak.flatten(full.Muon[f])), f
    fat = FlashSim.load(cards.DEFAULT_MODELS, collections=["FatJet"]).simulate(gen, seed=5, replicas=2).FatJet
    assert fat.fields == full.FatJet.fields and ak.sum(ak.num(fat)) > 0
    for f in ("msoftdrop", "subJetIdx1", "subJetIdx2", "muonIdx3SJ"):
        assert ak.all(ak.flatten(fat[f]) == ak.flatten(full.FatJet[f])), f
