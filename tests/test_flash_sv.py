"""Flash secondary vertices (issue 23): the SV sources (b/c hadrons, taus, fakes in jets), the derived
position and the Jet/Muon/Electron links, on tiny models trained on the cached reference ttbar sample."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import schema, sv_links
from flashsim_coffea.sim import derive
from flashsim_coffea.sim.engine import FlashSim
from flashsim_coffea.specs import sv as sv_spec

#: the sources the SV and its links need (the PV for the position, the jets and leptons for the links)
KEYS = [s.key for s in sv_spec.SOURCES] + ["Jet_genjet", "Muon_genmuon", "Electron_genelectron", "Event_event"]
LINKS = {"Jet": ("svIdx1", "svIdx2", "nSVs"), "Muon": ("svIdx",), "Electron": ("svIdx",)}


@pytest.fixture(scope="module")
def sv_models(tt_sample, train_tiny):
    return train_tiny(tt_sample, KEYS, events=250)


@pytest.fixture(scope="module")
def gen(tt_sample, read_gen):
    return read_gen(tt_sample)


@pytest.fixture(scope="module")
def sim(sv_models):
    return FlashSim.load(sv_models)


@pytest.fixture(scope="module")
def flash(sim, gen):
    return sim.simulate(gen[:150], seed=4, replicas=2)


def test_sv_fields_and_links_have_the_v12_names_and_dtypes(flash, nanoaod_dir, tt_sample, branch_dtype):
    """The reference's 16 SV fields in NanoAOD order with the dtypes of the real files: nano_tt_v12 has the
    links but no SV table, nano_dy.root has 14 of the SV fields (not ntracks, charge: the schema's)."""
    v12, dy = uproot.open(nanoaod_dir / "nano_tt_v12.root")["Events"], uproot.open(nanoaod_dir / "nano_dy.root")["Events"]
    ref = {k[3:] for k in uproot.open(tt_sample)["Events"].keys() if k.startswith("SV_")}
    assert flash.SV.fields == list(schema.SCHEMA["SV"]) and set(flash.SV.fields) == ref and len(ref) == 16
    real = {k[3:] for k in dy.keys() if k.startswith("SV_")}
    assert real == ref - {"ntracks", "charge"}
    for f in flash.SV.fields:
        got = str(ak.flatten(flash.SV[f]).layout.dtype)
        assert got == schema.SCHEMA["SV"][f] and (f not in real or got == branch_dtype(dy, f"SV_{f}")), f
    for coll, names in LINKS.items():
        for f in names:
            assert str(ak.flatten(flash[coll][f]).layout.dtype) == branch_dtype(v12, f"{coll}_{f}"), (coll, f)
    assert ak.sum(ak.num(flash.SV)) > 100


def test_sv_position_is_consistent_with_the_flash_pv(flash):
    """dlen, dxy and pAngle of every flash SV are those of its position relative to the flash PV, as the
    reference computes them; the learnt significances respect the IVF / NanoAOD cuts."""
    sv = flash.SV
    n = ak.num(sv)
    f = {k: ak.to_numpy(ak.flatten(sv[k])).astype(np.float64) for k in sv.fields}
    pv = {c: np.repeat(ak.to_numpy(flash.PV[c]).astype(np.float64), n) for c in "xyz"}
    d = np.stack([f[c] - pv[c] for c in "xyz"], axis=1)
    # to the stored precision: x, y, dlen, dxy 10 bits (5e-4 relative), z 14 bits, the PV's x, y 10 bits
    assert np.allclose(np.linalg.norm(d, axis=1), f["dlen"], rtol=2e-3, atol=5e-4)
    assert np.allclose(np.hypot(d[:, 0], d[:, 1]), f["dxy"], rtol=2e-3, atol=5e-4)
    p = np.stack([np.cos(f["phi"]) / np.cosh(f["eta"]), np.sin(f["phi"]) / np.cosh(f["eta"]), np.tanh(f["eta"])], 1)
    angle = np.arccos(np.clip(-np.einsum("ij,ij->i", p, d) / np.linalg.norm(d, axis=1), -1, 1))
    # the angle to the stored precision: 2e-3 plus the stored positions' ~1e-4 cm (the PV's x, y at 10 bits)
    # over the flight length (a 0.35 mm flight turns it by 3e-3)
    assert (np.abs(angle - f["pAngle"]) < 2e-3 + 1e-4 / np.linalg.norm(d, axis=1)).all()
    assert (f["dlenSig"] > 3).all() and (f["dxySig"] >= 2.5).all() and (f["ntracks"] >= 2).all()
    assert (f["dxy"] <= f["dlen"] * (1 + 1e-5)).all()
    # the flight lies on both sides of the momentum (uniform azimuth around it), about half each
    side = np.sign(np.sin(np.arctan2(d[:, 1], d[:, 0]) - f["phi"]))
    assert 0.3 < (side > 0).mean() < 0.7


def test_jet_and_lepton_links_follow_the_reference_rule(flash):
    jets, sv = flash.Jet, flash.SV
    want = sv_links.jet_fields(jets, sv)
    for k in LINKS["Jet"]:
        assert ak.to_list(jets[k]) == ak.to_list(want[k]), k
    assert ak.sum(jets.nSVs) > 50
    for coll in ("Muon", "Electron"):
        idx = flash[coll].svIdx
        assert ak.all((idx >= -1) & (idx < ak.num(sv)[:, None] * ak.ones_like(idx)))
    # ttbar: b -> mu, b -> c -> mu give linked muons, prompt W muons none
    mu = flash.Muon
    assert ak.sum(mu.svIdx >= 0) >= 1


def test_same_seed_same_svs_and_chunk_independence(sim, gen, flash):
    again = sim.simulate(gen[:150], seed=4, replicas=2)
    other = sim.simulate(gen[:150], seed=5, replicas=2)
    for f in flash.SV.fields:
        assert ak.to_list(again.SV[f]) == ak.to_list(flash.SV[f]), f
    assert ak.to_list(other.SV.x) != ak.to_list(flash.SV.x)
    part = sim.simulate(gen[30:40], seed=4, replicas=2)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(part.SV.pt)), ak.to_numpy(ak.flatten(flash.SV.pt[60:80])),
                               rtol=1e-5)
    assert ak.to_list(ak.num(part.SV)) == ak.to_list(ak.num(flash.SV[60:80]))
    assert ak.to_list(part.Jet.nSVs) == ak.to_list(flash.Jet.nSVs[60:80])
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(part.SV.x)), ak.to_numpy(ak.flatten(flash.SV.x[60:80])),
                               rtol=1e-4, atol=1e-5)


def test_a_muon_from_a_b_to_d_cascade_links_to_the_d_vertex():
    """GenPart: b quark, B+ (1), D0 (2) from it, mu (3) from the D, a prompt mu (4). Two SVs, from the B and
    from the D: the D's muon links to the D's vertex (its track starts there), the prompt one to none."""
    parts = [(5, -1, 50.0), (521, 0, 40.0), (421, 1, 20.0), (13, 2, 5.0), (13, -1, 30.0)]
    gen = ak.Array({"GenPart": [[{"pdgId": p, "genPartIdxMother": m, "pt": pt} for p, m, pt in parts]]})
    muons = ak.Array([[{"pt": 30.0, "eta": 0.0, "phi": 1.0, "genPartIdx": 4},
                       {"pt": 5.0, "eta": 0.5, "phi": 0.1, "genPartIdx": 3}]])
    jets = ak.Array([[{"pt": 40.0, "eta": 0.5, "phi": 0.0}]])
    cols = {"pt": np.array([25.0, 15.0]), "eta": np.array([0.45, 0.5]), "phi": np.array([0.05, 0.1]),
            "genPartIdx": np.array([1, 2]), "genVisTauIdx": np.array([-1, -1])}
    done = {"Jet": jets, "Muon": muons}
    derive.sv(cols, derive.Chunk(ev=np.array([0, 0]), flash=np.array([0, 0]), gen=gen, done=done, replicas=1))
    assert "genPartIdx" not in cols and "genVisTauIdx" not in cols
    assert done["Muon"].svIdx.tolist() == [[-1, 1]]
    assert done["Jet"].nSVs.tolist() == [[2]] and done["Jet"].svIdx1.tolist() == [[0]]
    assert done["Jet"].svIdx2.tolist() == [[1]]


def test_input_without_genvistau_gives_svs_without_the_tau_source(sim, gen):
    """A NanoAOD v12 file without GenVisTau: SV still comes, from hadrons and jets, with a warning."""
    no_tau = ak.zip({k: gen[k] for k in gen.fields if k != "GenVisTau"}, depth_limit=1)
    with pytest.warns(RuntimeWarning, match="no gen branch GenVisTau_pt: SV_tau is left out of SV"):
        out = sim.simulate(no_tau[:150], seed=4, replicas=2)
    with_tau = sim.simulate(gen[:150], seed=4, replicas=2)
    n_without, n_with = int(ak.sum(ak.num(out.SV))), int(ak.sum(ak.num(with_tau.SV)))
    assert 0 < n_without <= n_with


def test_ndof_stays_just_under_twice_the_tracks_less_three(flash, tt_sample):
    """ndof = 2 sum(w) - 3 over the tracks' fit weights: every reference SV lies 0-1 under 2 ntracks - 3, and
    so does every flash SV (learnt as that shortfall, it never rises above it)."""
    ref = uproot.open(tt_sample)["Events"].arrays(["SV_ndof", "SV_ntracks"])
    for ndof, ntracks in ((ref.SV_ndof, ref.SV_ntracks), (flash.SV.ndof, flash.SV.ntracks)):
        gap = 2.0 * ak.to_numpy(ak.flatten(ntracks)) - 3.0 - ak.to_numpy(ak.flatten(ndof))
        assert len(gap) > 100 and gap.min() >= 0.0 and gap.max() < 1.5
