"""Reference detector: the Tau fields of issue 22 (isolation, strips, leading track, DeepTau VSe/VSmu,
anti-muon discriminator, lepton links) on real Pythia DY and ttbar events with pileup."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from scipy.stats import spearmanr

from flashsim_coffea.nanoaod import schema, tau_id, tau_links
from flashsim_coffea.reference import electrons, genlevel, isolation, jets, muons, pileup, pythia, taus, truth

N_EVENTS = {"dy": 300, "ttbar": 150}
SEED = 2207
#: tau reconstructions per sample (different detector draws on the same events) for the score statistics
REPLICAS = 6
#: the fields the reference Tau collection wrote before issue 22
OLD = ["pt", "eta", "phi", "mass", "charge", "dxy", "dz", "decayMode", "idDecayModeNewDMs", "rawDeepTau2018v2p5VSjet",
       "idDeepTau2018v2p5VSjet", "genPartIdx", "genPartFlav", "jetIdx"]


def _np(a) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a)).astype(np.float64)


@pytest.fixture(scope="module")
def samples() -> dict:
    out = {}
    for k, process in enumerate(N_EVENTS):
        tr = truth.make_truth(pythia.generate_block(process, N_EVENTS[process], SEED + k))
        gen = genlevel.gen_collections(tr)
        rng = np.random.default_rng(SEED + 10 + k)
        n_pu = rng.poisson(35.0, len(tr))
        pu = pileup.simulate_pileup(n_pu, rng)
        ev = pileup.event_quantities(n_pu.astype(np.float32), n_pu, pu, rng, truth=tr)
        rho = np.asarray(ev["Rho_fixedGridRhoFastjetAll"])
        jet = jets.reconstruct_jets(tr, pu, gen["GenJet"], rho, rng)
        cands = isolation.candidates(tr, pu)
        mu = muons.reconstruct_muons(tr, pu, jet, rng, rho=rho, iso_cands=cands)
        el = electrons.reconstruct_electrons(tr, pu, jet, rng, rho=rho, iso_cands=cands)
        kw = {"iso_cands": cands, "muons": mu, "electrons": el}
        reps = [taus.reconstruct_taus(tr, gen["GenVisTau"], jet, np.random.default_rng(100 * k + r), **kw)
                for r in range(REPLICAS)]
        out[process] = {"truth": tr, "gen": gen, "jets": jet, "pu": pu, "n_pu": n_pu, "Muon": mu, "Electron": el,
                        "kw": kw, "tau": reps[0], "reps": ak.concatenate(reps)}
    return out


def test_fields_dtypes_and_count(samples):
    for s in samples.values():
        tau = s["tau"]
        assert set(tau.fields) == set(schema.SCHEMA["Tau"])
        assert len(tau.fields) >= 27  # the CMS FlashSim table simulates 27 Tau fields
        for f, dt in schema.SCHEMA["Tau"].items():
            assert ak.flatten(tau[f]).layout.dtype == np.dtype(dt), f


def test_new_fields_leave_the_old_ones_unchanged(samples):
    """The new draws come after the old ones: without pileup/lepton inputs the old fields are identical."""
    for k, s in enumerate(samples.values()):
        bare = taus.reconstruct_taus(s["truth"], s["gen"]["GenVisTau"], s["jets"], np.random.default_rng(100 * k))
        for f in OLD:
            assert ak.array_equal(bare[f], s["tau"][f]), f
        # without pileup there is no PU correction, and with no leptons no link
        assert np.all(_np(bare.puCorr) == 0) and np.all(_np(bare.muIdx) == -1) and np.all(_np(bare.idAntiMu) == 2)
        again = taus.reconstruct_taus(s["truth"], s["gen"]["GenVisTau"], s["jets"], np.random.default_rng(100 * k),
                                      **s["kw"])
        assert ak.array_equal(again, s["tau"])


def test_ids_are_their_raw_scores_at_fixed_thresholds(samples):
    for s in samples.values():
        t = s["reps"]
        for versus in ("e", "mu", "jet"):
            raw, wp = _np(t[f"rawDeepTau2018v2p5VS{versus}"]), _np(t[f"idDeepTau2018v2p5VS{versus}"])
            assert np.array_equal(wp, np.sum(raw[:, None] >= tau_id.WP[versus][None, :], axis=1))
            assert raw.min() >= 0 and raw.max() <= 1
        assert np.array_equal(_np(t.idDecayModeOldDMs), np.isin(_np(t.decayMode), (0, 1, 2, 10)))
        assert np.all(_np(t.idDecayModeOldDMs)[_np(t.decayMode) != 11])
        # rawIso is exactly the delta-beta combination of the stored sums
        ch, ne, pu = _np(t.chargedIso), _np(t.neutralIso), _np(t.puCorr)
        assert np.allclose(_np(t.rawIso), tau_id.combined_iso(ch, ne, pu), rtol=2e-3, atol=0)
        assert np.all(_np(t.rawIso) >= ch * (1 - 1e-3)) and np.all(_np(t.rawIsodR03) >= 0)


def test_lepton_links_and_anti_muon_are_consistent_after_sorting(samples):
    linked = 0
    for s in samples.values():
        t = s["tau"]
        n = ak.num(t)
        evt = np.repeat(np.arange(len(t)), n)
        pt, eta, phi = _np(t.pt), _np(t.eta), _np(t.phi)
        for field, coll in (("eleIdx", "Electron"), ("muIdx", "Muon")):
            idx = ak.to_numpy(ak.flatten(t[field]))
            lep = s[coll]
            assert np.array_equal(idx, tau_links.lepton_index(lep, evt, pt, eta, phi))
            ok = idx >= 0
            linked += ok.sum()
            assert np.all(idx[ok] < ak.to_numpy(ak.num(lep))[evt[ok]])
            # the linked lepton sits in the tau's signal cone, and no lepton is linked twice in an event
            off = np.concatenate([[0], np.cumsum(ak.num(lep))])[evt[ok]] + idx[ok]
            leta, lphi = _np(lep.eta)[off], _np(lep.phi)[off]
            dr = np.hypot(leta - eta[ok], (lphi - phi[ok] + np.pi) % (2 * np.pi) - np.pi)
            assert np.all(dr < tau_links.signal_cone(pt[ok]))
            assert len(np.unique(off)) == len(off)
        am = ak.to_numpy(ak.flatten(t.idAntiMu))
        assert np.array_equal(am, tau_links.anti_muon_id(s["Muon"], evt, pt, eta, phi, _np(t.decayMode)))
        # a tau whose muon is a signal constituent (decay mode 0) fails both working points
        mu_in = (ak.to_numpy(ak.flatten(t.muIdx)) >= 0) & (_np(t.decayMode) == 0)
        assert np.all(am[mu_in] == 0)
    assert linked > 0


def test_leading_track(samples):
    t = samples["dy"]["reps"]
    r, deta, dphi = _np(t.leadTkPtOverTauPt), _np(t.leadTkDeltaEta), _np(t.leadTkDeltaPhi)
    dm, out, pt = _np(t.decayMode), _np(t.photonsOutsideSignalCone), _np(t.pt)
    bare = (dm == 0) & (out == 0)
    assert bare.sum() > 20
    # an HPS decay-mode-0 tau is its track: 1 up to float16 pT storage, the int16 eta/phi grid of MiniAOD
    assert np.all(np.abs(r[bare] - 1) <= 2**-10)
    assert np.all(np.abs(deta[bare]) < 1e-4) and np.all(np.abs(dphi[bare]) < 6e-5)
    # ... plus its strip photons outside the cone (as in the real files: pT = track + photons)
    dressed = (dm == 0) & (out > 0)
    assert np.allclose(r[dressed], 1 - out[dressed] / pt[dressed], atol=2e-3)
    multi = dm != 0
    assert np.all(r[multi] <= 1) and np.median(r[multi]) < 0.8
    assert np.all(np.abs(deta) < 0.3) and np.all(np.abs(dphi) < 0.3)
    # three-prong taus spread their tracks: larger angles than one-prong + pi0
    assert np.median(np.abs(deta[dm == 10])) > np.median(np.abs(deta[bare]))


def test_isolation_from_the_cones(samples):
    dy, tt = samples["dy"], samples["ttbar"]
    t = dy["tau"]
    gen = t[t.genPartFlav == 5]
    # genuine Z -> tau tau taus are isolated: most pass the loose combined isolation (rawIso < 2.5 GeV)
    assert np.mean(_np(gen.rawIso) < 2.5) > 0.6
    assert np.mean(_np(gen.chargedIso) == 0) > 0.3  # often no charged hadron above 1 GeV in the cone
    # the PU correction counts the charged pileup in 0.8: ~0.5-1.2 GeV per PU vertex at mu = 35
    n_pu = np.repeat(dy["n_pu"], ak.num(t))
    pu = _np(t.puCorr)
    assert 0.4 < np.median(pu / np.maximum(n_pu, 1)) < 1.3
    assert spearmanr(pu, n_pu).correlation > 0.2
    # jet fakes carry the jet's other particles: far less isolated than genuine taus
    fakes = tt["reps"][tt["reps"].genPartFlav == 0]
    gens = ak.concatenate([dy["reps"][dy["reps"].genPartFlav == 5], tt["reps"][tt["reps"].genPartFlav == 5]])
    assert len(_np(fakes.pt)) > 30
    assert np.median(_np(fakes.chargedIso)) > np.median(_np(gens.chargedIso)) + 2.0
    assert np.median(_np(fakes.rawIsodR03)) > np.median(_np(gens.rawIsodR03)) + 1.0
    # the isolation the DeepTau VSjet score saw (its hidden-isolation shift) is the one now written
    both = ak.concatenate([dy["tau"], tt["tau"]])
    assert spearmanr(_np(both.rawIso), _np(both.rawDeepTau2018v2p5VSjet)).correlation < -0.3
    # strip photons beyond the cone: never for most taus, a few GeV when present
    out = _np(gens.photonsOutsideSignalCone)
    assert 0.4 < np.mean(out == 0) < 0.95 and np.median(out[out > 0]) < 8.0


def test_deeptau_vse_vsmu(samples):
    t = ak.concatenate([samples["dy"]["reps"], samples["ttbar"]["reps"]])
    gen = t[t.genPartFlav == 5]
    assert len(_np(gen.pt)) > 150
    e, m = _np(gen.idDeepTau2018v2p5VSe), _np(gen.idDeepTau2018v2p5VSmu)
    # genuine-tau efficiencies near the WP targets (VSe VVLoose 99%, Medium 90%, VVTight 60%; VSmu Tight 98%)
    assert np.mean(e >= 2) > 0.95
    assert 0.80 < np.mean(e >= 5) < 0.96
    assert 0.45 < np.mean(e >= 8) < 0.72
    assert np.mean(m >= 4) > 0.88
    # one-prong taus look more like electrons than three-prong ones
    dm = _np(gen.decayMode)
    assert np.mean(e[dm >= 10] >= 6) > np.mean(e[dm < 10] >= 6)
    # the three discriminants move together (one softmax)
    assert spearmanr(_np(gen.rawDeepTau2018v2p5VSjet), _np(gen.rawDeepTau2018v2p5VSe)).correlation > 0.1
    # a reco muon among the signal constituents drags VSmu down
    mu = ak.to_numpy(ak.flatten(t.muIdx)) >= 0
    if mu.sum() >= 5:
        raw = _np(t.rawDeepTau2018v2p5VSmu)
        assert np.median(raw[mu]) < np.median(raw[~mu])
