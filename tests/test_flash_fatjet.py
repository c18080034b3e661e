"""Flash FatJet and SubJet (issue 23): tiny models trained on boosted ttbar reference events give the
reference's (= NanoAOD v12's) field set and dtypes, consistent links after the pT sort, reproducible and
chunk-independent output, the derived flavour and lepton fields by the reference's rules, and a clear
skip (with a warning) for a gen input with GenJetAK8 but no SubGenJetAK8."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.sim import derive
from flashsim_coffea.sim.engine import FlashSim

KEYS = ["FatJet_genjetak8", "SubJet_subgenjetak8"]
N_GEN = 40


@pytest.fixture(scope="module")
def boosted():
    from flashsim_coffea.reference import cache

    return cache.sample("ttbar_boosted", 300, seed=21, workers=1, progress=False)


@pytest.fixture(scope="module")
def tree(boosted):
    return uproot.open(boosted)["Events"]


@pytest.fixture(scope="module")
def gen(boosted, read_gen):
    return read_gen(boosted)


@pytest.fixture(scope="module")
def models(boosted, train_tiny):
    return train_tiny(boosted, KEYS, events=200)


@pytest.fixture(scope="module")
def sim(models):
    return FlashSim.load(models, steps=4)  # plumbing: few ODE steps keep the test fast


@pytest.fixture(scope="module")
def flash(sim, gen):
    return sim.simulate(gen[:N_GEN], seed=5, replicas=2)


def test_fields_and_dtypes_are_the_references_and_v12(flash, tree, nanoaod_dir, branch_dtype):
    """FatJet: the 48 fields of nano_tt_v12; SubJet (absent from that file): the fields nano_dy.root has
    (older NanoAOD: no flavour fields) with its dtypes, the rest as the reference writes them."""
    files = {"FatJet": "nano_tt_v12.root", "SubJet": "nano_dy.root"}
    for coll, n in (("FatJet", 48), ("SubJet", 15)):
        real = uproot.open(nanoaod_dir / files[coll])["Events"]
        ref = [k[len(coll) + 1:] for k in tree.keys() if k.startswith(f"{coll}_")]
        have = {k[len(coll) + 1:] for k in real.keys() if k.startswith(f"{coll}_")} & set(ref)
        assert flash[coll].fields == ref == list(schema.SCHEMA[coll]) and len(ref) == n
        assert len(have) == (48 if coll == "FatJet" else 12)
        for f in ref:
            got = str(ak.flatten(flash[coll][f]).layout.dtype)
            assert got == branch_dtype(tree, f"{coll}_{f}"), (coll, f)
            if f in have:
                assert got == branch_dtype(real, f"{coll}_{f}"), (coll, f)


def test_counts_follow_the_reference(flash, tree):
    """Efficiency models: about as many fat jets and subjets per event as the reference (2 epochs: loose)."""
    ref = tree.arrays(filter_name=["nFatJet", "nSubJet"], entry_stop=N_GEN)
    for coll in ("FatJet", "SubJet"):
        got, want = ak.sum(ak.num(flash[coll])) / 2, ak.sum(ref[f"n{coll}"])
        assert want > 1.5 * N_GEN and abs(got / want - 1) < 0.3, (coll, got, want)


def test_links_are_valid_after_sorting(flash, gen):
    fat, sub = flash.FatJet, flash.SubJet
    ev = ak.to_numpy(flash.FlashSim.genEventIdx)
    n_sub, n_gak8 = ak.to_numpy(ak.num(sub)), ak.to_numpy(ak.num(gen.GenJetAK8))[ev]
    linked = two = 0
    for i in range(len(fat)):
        f, s, g = fat[i], sub[i], gen.GenJetAK8[ev[i]]
        assert (np.diff(ak.to_numpy(f.pt)) <= 0).all()
        gidx = ak.to_numpy(f.genJetAK8Idx)
        assert ((gidx >= 0) & (gidx < n_gak8[i])).all() and len(set(gidx)) == len(gidx)  # every flash fat jet has one
        dr_gen = np.hypot(ak.to_numpy(f.eta) - ak.to_numpy(g.eta[gidx]),
                          np.angle(np.exp(1j * (ak.to_numpy(f.phi) - ak.to_numpy(g.phi[gidx])))))
        assert (dr_gen < 0.8).all()
        owners = []
        for j in range(len(f)):
            i1, i2 = int(f.subJetIdx1[j]), int(f.subJetIdx2[j])
            assert -1 <= i1 < n_sub[i] and -1 <= i2 < n_sub[i] and (i2 == -1 or i1 >= 0)
            for k in (i1, i2):
                if k >= 0:
                    dr = np.hypot(f.eta[j] - s.eta[k], np.angle(np.exp(1j * (f.phi[j] - s.phi[k]))))
                    assert dr < 0.8
                    owners.append(k)
                    linked += 1
            if i2 >= 0:
                assert s.pt[i1] >= s.pt[i2]
                # the groomed mass: a fraction of the jet's mass (learnt as its log-ratio to it), never far above
                # it as the subjets' mass made it (FullSim: at most 1.015 of it; the subjets' sum up to 1.2)
                assert 0 <= f.msoftdrop[j] <= 1.05 * f.mass[j] + 1.0
                two += 1
        assert owners == list(range(n_sub[i]))  # every subjet belongs to one fat jet, stored in their order
    assert linked > 2 * N_GEN and two > N_GEN


def nanoaod_subjet_layout(fat: ak.Array, n_sub: np.ndarray) -> dict:
    """Check NanoAOD's SubJet layout (the soft-drop subjets stored fat jet after fat jet, so that ``subJetIdx1``
    counts the subjets of the earlier fat jets of the event and ``subJetIdx2 = subJetIdx1 + 1``) and count the
    fat jets with 0, 1 and 2 subjets, those breaking the layout and the subjets that no fat jet links."""
    i1, i2 = (ak.to_numpy(ak.flatten(fat[k])) for k in ("subJetIdx1", "subJetIdx2"))
    n_fat = ak.to_numpy(ak.num(fat))
    evt = np.repeat(np.arange(len(n_fat)), n_fat)
    n_of = (i1 >= 0).astype(np.int64) + (i2 >= 0)
    first = np.cumsum(n_of) - n_of  # the subjets of the earlier fat jets of the chunk ...
    first -= np.r_[0, np.cumsum(np.bincount(evt, n_of, len(n_fat)).astype(np.int64))][evt]  # ... of the event
    bad = ((n_of > 0) & (i1 != first)) | ((i2 >= 0) & (i2 != i1 + 1)) | ((i1 < 0) & (i2 >= 0))
    return {"none": int(np.sum(n_of == 0)), "one": int(np.sum(n_of == 1)), "two": int(np.sum(n_of == 2)),
            "bad": int(bad.sum()), "unlinked": int(np.sum(n_sub - np.bincount(evt, n_of, len(n_fat))))}


def test_subjets_are_stored_fat_jet_after_fat_jet_as_in_nanoaod(flash, tree):
    """SubJet is not pT-sorted over the event: NanoAOD stores each groomed fat jet's two subjets together, in
    the fat jets' order (nano_tt_v12: [[0, 2], [1, 3]] and, for a second jet groomed first, [[2, 0], [3, 1]]).
    The reference writes that layout; flash follows it after its own pT sort and the drops."""
    ref = tree.arrays(filter_name=["FatJet_subJetIdx1", "FatJet_subJetIdx2", "nSubJet"], entry_stop=N_GEN * 4)
    ref_fat = ak.zip({"subJetIdx1": ref.FatJet_subJetIdx1, "subJetIdx2": ref.FatJet_subJetIdx2})
    got = {"FullSim": nanoaod_subjet_layout(ref_fat, ak.to_numpy(ref.nSubJet)),
           "flash": nanoaod_subjet_layout(flash.FatJet, ak.to_numpy(ak.num(flash.SubJet)))}
    for name, c in got.items():
        assert c["bad"] == 0 and c["two"] > N_GEN / 2, (name, c)
    assert got["FullSim"]["one"] == 0 and got["FullSim"]["unlinked"] == 0
    assert got["flash"]["unlinked"] == 0  # every flash subjet belongs to a fat jet


def test_the_subjets_of_a_fat_jet_share_their_efficiency_draw(sim, gen):
    """With one uniform per fat jet (``Parent.shared_draw``) a fat jet keeps both subjets or none as far as their
    probabilities allow; independent draws (the flag off, same models and seed) leave many with one. The subjets
    kept overall stay within the draws' spread of each other (each subjet's probability is unchanged)."""
    import dataclasses

    key = "SubJet_subgenjetak8"
    m = sim.models[key]
    assert m.source.parent.shared_draw
    indep = FlashSim({**sim.models, key: dataclasses.replace(m, source=dataclasses.replace(
        m.source, parent=dataclasses.replace(m.source.parent, shared_draw=False)))}, steps=4)
    got = {}
    for name, s in (("shared", sim), ("independent", indep)):
        out = s.simulate(gen[:120], seed=11, replicas=4)
        got[name] = {**nanoaod_subjet_layout(out.FatJet, ak.to_numpy(ak.num(out.SubJet))),
                     "subjets": int(ak.sum(ak.num(out.SubJet)))}
    sh, ind = got["shared"], got["independent"]
    assert sh["bad"] == ind["bad"] == 0 and sh["none"] + sh["one"] + sh["two"] == ind["none"] + ind["one"] + ind["two"]
    assert sh["one"] < 0.5 * ind["one"] and ind["one"] > 20, got
    assert abs(sh["subjets"] - ind["subjets"]) < 3 * np.sqrt(ind["subjets"]), got


def test_same_seed_same_output_and_chunk_independence(sim, gen, flash):
    """Each half of the chunk alone gives the same flash events as the whole chunk (same seed); another seed not."""
    half = N_GEN // 2
    parts = [sim.simulate(gen[a:b], seed=5, replicas=2) for a, b in ((0, half), (half, N_GEN))]
    other = sim.simulate(gen[:half], seed=6, replicas=2)
    for coll in ("FatJet", "SubJet"):
        assert ak.to_list(parts[0][coll]) == ak.to_list(flash[coll][:2 * half])
        assert ak.to_list(parts[1][coll]) == ak.to_list(flash[coll][2 * half:])
        assert ak.to_list(other[coll].pt) != ak.to_list(flash[coll][:2 * half].pt)


def test_defaults_follow_the_jet(flash):
    f = {k: ak.to_numpy(ak.flatten(flash.FatJet[k])).astype(np.float64) for k in flash.FatJet.fields}
    raw, aeta = f["pt"] * (1 - f["rawFactor"]), np.abs(f["eta"])
    pnet = (raw > 180) & (aeta < 2.4)
    assert (f["particleNet_XbbVsQCD"][~pnet] == -10).all() and (f["particleNet_XbbVsQCD"][pnet] >= 0).all()
    assert (f["particleNet_massCorr"][~pnet] == 0).all() and (f["particleNet_massCorr"][pnet] > 0).all()
    assert (f["msoftdrop"][raw <= 170] == -1).all() and (f["n2b1"][raw <= 170] == -99968).all()
    assert (f["subJetIdx1"][raw <= 170] == -1).all()  # no soft drop, no subjets (their SubJets dropped)
    assert (f["n3b1"][(raw > 170) & (raw <= 250)] == -1).all() and (f["btagHbb"] == -1000).all()
    no_lep = (f["muonIdx3SJ"] < 0) & (f["electronIdx3SJ"] < 0)
    assert (f["lsf3"][no_lep] == -1).all()  # no flash leptons simulated here
    # b hadrons of boosted tops: most fat jets contain one, as in the reference
    assert 0.4 < (f["hadronFlavour"] == 5).mean() < 0.95 and (f["nBHadrons"][f["hadronFlavour"] == 5] >= 1).all()


def _one_fat_jet_chunk(mu_pt: float, el_pt: float) -> tuple[dict, derive.Chunk]:
    """One gen event: a B+ at ΔR 0.3 of a 400 GeV fat jet, a muon and an electron inside it, and a D0 far away."""
    gp = [{"pt": 50.0, "eta": 0.3, "phi": 0.0, "mass": 5.28, "pdgId": 521, "status": 2, "statusFlags": 0,
           "genPartIdxMother": -1},
          {"pt": 20.0, "eta": -2.0, "phi": 2.0, "mass": 1.86, "pdgId": 421, "status": 2, "statusFlags": 0,
           "genPartIdxMother": -1}]
    gen = ak.Array({"GenPart": [gp]})
    lep = [{"pt": mu_pt, "eta": 0.1, "phi": 0.2}] if mu_pt else []
    ele = [{"pt": el_pt, "eta": -0.1, "phi": -0.2}] if el_pt else []
    done = {"Muon": ak.Array([lep], with_name=None) if lep else ak.zip({k: [[]] for k in ("pt", "eta", "phi")}),
            "Electron": ak.Array([ele]) if ele else ak.zip({k: [[]] for k in ("pt", "eta", "phi")})}
    cols = {"pt": np.array([400.0]), "eta": np.array([0.0]), "phi": np.array([0.0]), "rawFactor": np.array([0.02]),
            "lsf3": np.array([0.3]), "msoftdrop": np.array([170.0]), "n3b1": np.array([1.0]),
            "particleNet_XbbVsQCD": np.array([0.2])}
    return cols, derive.Chunk(ev=np.array([0]), flash=np.array([0]), gen=gen, done=done, replicas=1)


def test_derived_flavour_and_leptons_follow_the_reference_rules():
    cols, chunk = _one_fat_jet_chunk(mu_pt=30.0, el_pt=20.0)
    derive.derive("FatJet", cols, chunk)
    assert (cols["hadronFlavour"][0], cols["nBHadrons"][0], cols["nCHadrons"][0]) == (5, 1, 0)
    assert (cols["muonIdx3SJ"][0], cols["electronIdx3SJ"][0], cols["lsf3"][0]) == (0, -1, np.float32(0.3))
    cols, chunk = _one_fat_jet_chunk(mu_pt=10.0, el_pt=20.0)  # the harder lepton wins
    derive.derive("FatJet", cols, chunk)
    assert (cols["muonIdx3SJ"][0], cols["electronIdx3SJ"][0]) == (-1, 0)
    cols, chunk = _one_fat_jet_chunk(mu_pt=0.0, el_pt=0.0)
    derive.derive("FatJet", cols, chunk)
    assert (cols["muonIdx3SJ"][0], cols["electronIdx3SJ"][0], cols["lsf3"][0]) == (-1, -1, -1.0)


def test_gen_input_without_subjets_or_ak8_jets_skips_the_boosted_collections(sim, gen):
    # NanoAOD before v6 (the 2015 Open Data file) has GenJetAK8 but no SubGenJetAK8
    for lacking in (("SubGenJetAK8",), ("GenJetAK8", "SubGenJetAK8")):
        partial = ak.zip({k: gen[k] for k in gen.fields if k not in lacking}, depth_limit=1)
        first = "SubGenJetAK8" if len(lacking) == 1 else "GenJetAK8"
        with pytest.warns(RuntimeWarning, match=f"no gen branch {first}_pt: FatJet is not simulated"):
            out = sim.simulate(partial[:10], seed=1)
        assert "FatJet" not in out.fields and "SubJet" not in out.fields


def test_coffea_subjets_on_flash_events(models, boosted):
    from coffea.nanoevents import NanoEventsFactory

    from processors.flashsim import flash_events
    from processors.schema import NanoAODSchema

    events = NanoEventsFactory.from_root({str(boosted): "Events"}, schemaclass=NanoAODSchema, mode="eager",
                                         entry_stop=20).events()
    fl = flash_events(events, str(models), seed=2, replicas=2)
    subjets = fl.FatJet.subjets
    assert ak.all(ak.num(subjets, axis=2) == 2)
    first = ak.to_numpy(ak.flatten(ak.fill_none(subjets.pt[:, :, 0], -1.0)))
    idx1 = ak.flatten(fl.FatJet.subJetIdx1)
    want = [float(fl.SubJet.pt[e][i]) if i >= 0 else -1.0
            for e, i in zip(np.repeat(np.arange(len(fl)), ak.num(fl.FatJet)), ak.to_numpy(idx1))]
    assert np.allclose(first, want) and (np.asarray(want) > 0).sum() > 15
    matched = fl.FatJet.matched_gen
    assert ak.all(abs(matched.eta - fl.FatJet.eta) < 0.8)


def test_subjet_training_counts_only_groomed_fat_jets(boosted):
    """The subjets' efficiency is trained on the subjets of fat jets with soft drop (raw pT > 170 GeV) alone:
    the derive step drops the subjets of the other flash fat jets, so counting those as lost in training too
    lost them twice (zh_llbb: 5 % of the subjets). On reference events some FullSim fat jets lack soft drop,
    none of their gen subjets is a candidate, and every groomed fat jet's candidates are."""
    from flashsim_coffea.sim import candidates
    from flashsim_coffea.specs.fatjet import SUBJET, groomed
    from flashsim_coffea.train import extract

    ev = extract.read([boosted])
    fat = ev.FatJet
    g = ak.to_numpy(ak.flatten(groomed(fat)))
    assert 0 < (~g).sum() and g.sum() > 100
    cand = candidates.select(ev, "SubGenJetAK8")
    parent_ok = extract.has_parent(ev, cand, SUBJET)
    want = [[p >= 0 and any(link == p and ok for link, ok in zip(links, oks)) for p in ps]
            for ps, links, oks in zip(cand.parent_idx.tolist(), fat.genJetAK8Idx.tolist(), groomed(fat).tolist())]
    assert parent_ok.tolist() == want
    t = extract.tables(ev, SUBJET)
    assert len(t["label"]) == sum(map(sum, want))
