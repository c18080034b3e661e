"""Reference-detector electrons (NanoAOD ``Electron``) and the e/gamma superclustering.

:func:`superclusters` groups the hard-event EM particles (e, gamma) into ECAL
superclusters (SC): a greedy window |d eta| < 0.05, |d phi| < 0.15 (mustache-like,
spread in phi by the field) [mem], electrons seeding first, then photons by energy.
A SC collects FSR/brem photons of an electron and both photons of an energetic pi0.

:func:`reconstruct_electrons` makes

* **genuine electrons** from truth electrons seeding a SC (pT > 5, abs(eta) < 2.5):
  efficiency 95% / 85% barrel / endcap [card] x a low-pT turn-on [mem], halved in the
  EB-EE gap (1.444-1.566); energy = SC energy smeared with the card ECAL resolution
  (notes section 6, scaled to the [meas] prompt sigma68 2.5% / 3.7%) and a low-side
  bremsstrahlung tail growing with the tracker material;
* **conversions**: truth photons seeding a SC, converted early and reconstructed as an
  electron with a probability growing with abs(eta) (5-15%) [mem];
* **hadron fakes**: hard-event pi/K with pT > 5 GeV [mem, rates tuned to the 0.84
  unmatched electrons per ttbar event of [meas] nano_tt_v12].

Shower shapes (sieie, r9, H/E) follow from the SC content and the hadronic activity
behind it; ``cutBased`` applies the Fall17-V2-like cuts [mem] to these variables plus a
hidden track-cluster matching quality; ``mvaIso`` is a smooth function of the same hidden
quantities, its WP80/WP90 cuts calibrated on prompt isolated electrons (80/90%).

Example:
    Two Drell-Yan events (Z -> ee, Z -> mumu), without pileup or jets: both electrons
    of event 0 pass the tight cut-based ID (``cutBased`` 4) and are prompt.

    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> ele = reconstruct_electrons(truth, None, None, np.random.default_rng(1))
    >>> ele.pt
    <Array [[71.3, 25.6], []] type='2 * var * float32'>
    >>> ele.charge.tolist(), ele.genPartFlav.tolist(), ele.cutBased.tolist(), ele.mvaIso_WP90.tolist()
    ([[-1, 1], []], [[1, 1], []], [[4, 4], []], [[True, True], []])
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod.derived import jet_index
from flashsim_coffea.reference import isolation as iso
from flashsim_coffea.reference.leptons import PARAMS as LEPTON_PARAMS
from flashsim_coffea.reference.leptons import finish, gen_flavour, hadron_candidates, impact_parameters, logistic, truth_flat

MASS = 0.000511

PARAMS: dict = {
    "pt_min": 5.0,  # NanoAOD Electron pt>5 (notes section 4)
    "eta_max": 2.5,  # tracker [card]
    "gap": (1.444, 1.566),  # EB-EE transition [mem]
    "gap_eff": 0.5,  # [mem]
    "sc_deta": 0.05,  # SC window [mem]
    "sc_dphi": 0.15,
    "sc_seed_e": 1.0,  # GeV
    "eff_plateau": (0.95, 0.85),  # barrel / endcap [card]
    "eff_pt0": 7.0,  # GeV, logistic turn-on of GSF reconstruction [mem]
    "eff_ptwidth": 1.5,
    # ECAL resolution: card formula (notes section 6) x this factor, tuned to the [meas]
    # nano_tt_v12 prompt sigma68 2.5% (barrel) / 3.7% (endcap) [derived]
    "ecal_scale": 0.8,
    # bremsstrahlung lost from the SC: probability 0.1 -> 0.3 with material, loss ~ Exp(4%) [mem]
    "brem_prob": (0.1, 0.2),
    "brem_loss": 0.03,
    "gap_res": 2.0,  # resolution x2 in the gap [mem]
    "pos_res": 0.0005,  # eta/phi of the GSF track [mem]
    # deltaEtaSC: SC eta is computed from (0,0,0), the electron from the PV (PV_z ~ N(1.46, 3.59) cm
    # [meas] nano_tt_v12); ECAL front: barrel r = 129 cm, endcap z = 315 cm [card geometry]
    "pv_z_cm": (1.46, 3.59),
    "ecal_r_cm": 129.0,
    "ecal_z_cm": 315.0,
    "sc_pos_res": 0.002,
    "ip_scale": 1.3,  # electron tracks (GSF, brem) have worse IP than muons [mem]
    # conversions: P(photon -> reconstructed electron) = a + b min(abs(eta), 2) (material) [mem]
    "conv_a": 0.04,
    "conv_b": 0.04,
    # hadron fakes per pi/K with pT > 5 GeV in the tracker [mem, tuned to [meas] rate]
    "fake_prob": 0.08,
    # ID inputs [mem] typical prompt shapes; [meas] nano_tt_v12 medians: prompt sieie 0.0089,
    # r9 0.93, hoe 0.017; fakes hoe 0.16, sieie 0.0144
    "sieie_ref": (0.0090, 0.0260),  # barrel, endcap
    "sieie_spread": 0.08,
    "match_shift": {"prompt": 0.0, "nonprompt": 0.5, "conversion": 1.0, "fake": 2.5},
    "lost_hits_prompt": 0.06,  # P(lostHits >= 1) [meas] prompt 6%
    # Fall17 V2 cut-based ID (veto, loose, medium, tight) [mem] (cutBasedElectronID-Fall17-94X-V2)
    "cb_sieie": ((0.0126, 0.0112, 0.0106, 0.0104), (0.0457, 0.0425, 0.0387, 0.0353)),
    "cb_hoe_c": ((0.05, 0.05, 0.046, 0.026), (0.05, 0.0441, 0.0275, 0.0188)),
    "cb_hoe_e": ((1.16, 1.16, 1.16, 1.15), (2.54, 2.54, 2.52, 2.06)),
    "cb_hoe_rho": (0.0324, 0.183),
    "cb_iso_c": ((0.198, 0.112, 0.0478, 0.0287), (0.203, 0.108, 0.0658, 0.0445)),
    "cb_iso_pt": (0.506, 0.963),
    "cb_lost": ((2, 1, 1, 1), (3, 1, 1, 1)),
    # hidden track-match quality thresholds per WP, calibrated so that prompt isolated
    # electrons (DY) pass veto/loose/medium/tight at ~95/90/80/70% [derived]
    "cb_match": (2.6, 2.4, 2.2, 2.0),
    # mvaIso = tanh(k (c - badness)); WP thresholds on the score calibrated to 90/80% [derived]
    "mva_k": 1.2,
    "mva_c": 3.0,
    "mva_wp90": 0.29,
    "mva_wp80": 0.81,
}


# ---------------------------------------------------------------------------- superclusters
@numba.njit(cache=True)
def _greedy_sc(off, eta, phi, e, prio, deta, dphi, seed_e):  # pragma: no cover - numba
    n = len(eta)
    owner = np.full(n, -1, np.int64)
    sc_e = np.zeros(n)
    n_ev = len(off) - 1
    for ev in range(n_ev):
        a, b = off[ev], off[ev + 1]
        idx = np.arange(a, b)
        key = -(e[a:b] + prio[a:b] * 1e9)
        order = idx[np.argsort(key)]
        for ii in range(len(order)):
            i = order[ii]
            if owner[i] >= 0 or e[i] < seed_e:
                continue
            owner[i] = i
            tot = e[i]
            for jj in range(ii + 1, len(order)):
                j = order[jj]
                if owner[j] >= 0 or prio[j] > 0:
                    continue
                dp = (phi[j] - phi[i] + np.pi) % (2 * np.pi) - np.pi
                if abs(eta[j] - eta[i]) < deta and abs(dp) < dphi:
                    owner[j] = i
                    tot += e[j]
            sc_e[i] = tot
    return owner, sc_e


def superclusters(t: dict) -> dict[str, np.ndarray]:
    """SCs of the hard-event e/gamma (flat truth dict from :func:`leptons.truth_flat`).

    Returns per truth particle ``sc_e`` (SC energy, GeV, non-zero for seeds) and
    ``owner`` (flat index of the seed whose SC contains it, -1 if none)."""
    a = np.abs(t["pdgId"])
    em = np.flatnonzero(((a == 11) | (a == 22)) & (np.abs(t["eta"]) < 3.0) & (t["pt"] > 0.5))
    off = np.concatenate([[0], np.cumsum(np.bincount(t["evt"][em], minlength=t["n_ev"]))]).astype(np.int64)
    owner, sc_e = _greedy_sc(
        off, t["eta"][em], t["phi"][em], t["energy"][em], (a[em] == 11).astype(np.int64),
        PARAMS["sc_deta"], PARAMS["sc_dphi"], PARAMS["sc_seed_e"],
    )
    n = len(t["pt"])
    out_e, out_o = np.zeros(n), np.full(n, -1, np.int64)
    out_e[em] = sc_e
    out_o[em] = np.where(owner >= 0, em[np.maximum(owner, 0)], -1)
    return {"sc_e": out_e, "owner": out_o}


def ecal_sigma(e: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """ECAL sigma(E) in GeV [card] (notes section 6)."""
    base = np.sqrt((0.008 * e) ** 2 + 0.11**2 * e + 0.40**2)
    return np.where(aeta < 1.5, (1 + 0.64 * aeta**2) * base, (2.16 + 5.6 * (aeta - 2) ** 2) * base)


def delta_eta_sc(eta: np.ndarray, pv_z_cm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """eta_SC (from the origin) - eta (from the PV): z_PV / distance to the ECAL face."""
    aeta = np.abs(eta)
    d = np.where(aeta < 1.479, PARAMS["ecal_r_cm"] * np.cosh(eta), PARAMS["ecal_z_cm"] / np.tanh(np.maximum(aeta, 1e-3)))
    return pv_z_cm / d + PARAMS["sc_pos_res"] * rng.standard_normal(len(eta))


def _wp_index(aeta: np.ndarray) -> np.ndarray:
    return (aeta > 1.479).astype(np.int64)


# ---------------------------------------------------------------------------- electrons
def reconstruct_electrons(
    truth: ak.Array,
    pu: ak.Array | None,
    jets: ak.Array | None,
    rng: np.random.Generator,
    *,
    rho: np.ndarray | None = None,
    pv_z: np.ndarray | None = None,
    iso_cands: dict | None = None,
) -> ak.Array:
    """NanoAOD ``Electron`` collection (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`), or None (no pileup).
        jets: the final reco ``Jet`` collection for ``jetIdx``, or None (``jetIdx`` -1).
        rng: the stage's random generator.
        rho: ``Rho_fixedGridRhoFastjetAll`` (GeV) for the rho x EA isolation correction
            (default from the number of PU vertices, :func:`.isolation.default_rho`).
        pv_z: ``PV_z`` (cm) per event for ``deltaEtaSC`` (default drawn).
        iso_cands: precomputed :func:`.isolation.candidates` (shared with muons/photons).

    Returns:
        The jagged ``Electron`` records, pT-descending, cast to NanoAOD v12 dtypes.
    """
    t = truth_flat(truth)
    n_ev = t["n_ev"]
    cands = iso_cands if iso_cands is not None else iso.candidates(truth, pu)
    rho = iso.default_rho(cands) if rho is None else np.asarray(rho, np.float64)
    if pv_z is None:
        pv_z = rng.normal(*PARAMS["pv_z_cm"], n_ev)
    sc = superclusters(t)
    a = np.abs(t["pdgId"])
    aeta_all = np.abs(t["eta"])
    in_acc = (aeta_all < PARAMS["eta_max"]) & (sc["owner"] == t["idx"])
    sc_pt = sc["sc_e"] / np.cosh(t["eta"])
    gap = (aeta_all > PARAMS["gap"][0]) & (aeta_all < PARAMS["gap"][1])

    # ---- genuine electrons
    g = np.flatnonzero(in_acc & (a == 11) & (t["pt"] > PARAMS["pt_min"] - 1.0))
    ge = np.abs(t["eta"][g])
    eff = np.where(ge < 1.479, *PARAMS["eff_plateau"]) * logistic((t["pt"][g] - PARAMS["eff_pt0"]) / PARAMS["eff_ptwidth"])
    eff = np.where(gap[g], eff * PARAMS["gap_eff"], eff)
    g = g[rng.random(len(g)) < eff]
    # ---- conversions
    c = np.flatnonzero(in_acc & (a == 22) & (sc_pt > PARAMS["pt_min"]))
    p_conv = PARAMS["conv_a"] + PARAMS["conv_b"] * np.minimum(np.abs(t["eta"][c]), 2.0)
    c = c[rng.random(len(c)) < p_conv]
    # ---- hadron fakes
    h = hadron_candidates(t, PARAMS["eta_max"], PARAMS["pt_min"])
    h = h[rng.random(len(h)) < PARAMS["fake_prob"]]

    src = np.concatenate([g, c, h])
    kind = np.concatenate([np.zeros(len(g), np.int64), np.ones(len(c), np.int64), np.full(len(h), 2)])
    n = len(src)
    evt = t["evt"][src]
    eta_t, phi_t = t["eta"][src], t["phi"][src]
    aeta = np.abs(eta_t)
    f_em = np.where(kind == 2, rng.uniform(0.5, 1.0, n), 1.0)
    e_true = np.where(kind == 2, f_em * t["energy"][src], sc["sc_e"][src])

    # ---- energy: ECAL resolution and brem losses
    sig = PARAMS["ecal_scale"] * ecal_sigma(e_true, aeta) * np.where(gap[src], PARAMS["gap_res"], 1.0)
    p_brem = PARAMS["brem_prob"][0] + PARAMS["brem_prob"][1] * np.minimum(aeta / 1.5, 1.0)
    brem = np.where(rng.random(n) < p_brem, np.minimum(rng.exponential(PARAMS["brem_loss"], n), 0.5), 0.0)
    e_reco = np.maximum(e_true * (1.0 - brem) + sig * rng.standard_normal(n), 0.1)
    eta = eta_t + PARAMS["pos_res"] * rng.standard_normal(n)
    phi = (phi_t + PARAMS["pos_res"] * rng.standard_normal(n) + np.pi) % (2 * np.pi) - np.pi
    pt = e_reco / np.cosh(eta)
    keep = pt > PARAMS["pt_min"]
    src, kind, evt, eta, phi, aeta, pt, e_reco, e_true, brem, f_em = (
        x[keep] for x in (src, kind, evt, eta, phi, aeta, pt, e_reco, e_true, brem, f_em)
    )
    n = len(src)
    q_true = t["charge"][src].astype(np.float64)
    charge = np.where(kind == 0, q_true, np.where(rng.random(n) < 0.5, 1.0, -1.0)).astype(np.int64)
    # rare charge mis-assignment from brem (GSF), ~0.1-1% growing with material [mem]
    flip = rng.random(n) < 0.002 + 0.004 * np.minimum(aeta / 1.5, 1.0)
    charge = np.where(flip, -charge, charge)

    # ---- impact parameters (conversions: displaced conversion vertex)
    mom = (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))
    ip_scale = np.where(kind == 1, 5.0 * PARAMS["ip_scale"], PARAMS["ip_scale"])
    ip = impact_parameters(t["vx"][src], t["vy"][src], t["vz"][src], *mom, rng, ip_scale)

    # ---- isolation
    vch, vph = iso.egamma_veto(aeta)
    s3 = iso.cone_sums(cands, evt, eta, phi, src, 0.3, vch, vph)
    s15 = iso.cone_sums(cands, evt, eta, phi, src, 0.15, vch, vph)
    ea = iso.effective_area(aeta, "electron")
    rel03 = iso.rel_iso_rho(s3, pt, rho[evt], ea)
    mini = iso.mini_rel_iso(cands, evt, eta, phi, src, pt, rho[evt], ea, vch, vph)

    # ---- shower shapes and hidden quantities
    ec = _wp_index(aeta)
    hidden = shower_shapes(rng, kind, aeta, e_reco, e_true, brem, f_em, s15, t["energy"][src], sc["sc_e"][src], ec)
    shift = np.asarray([PARAMS["match_shift"][k] for k in ("prompt", "conversion", "fake")])[kind]
    flav_gen = np.where(kind == 2, -1, t["genPartIdx"][src])
    flav = gen_flavour(truth, evt, flav_gen, conversions=True)
    nonprompt = (kind == 0) & ~np.isin(flav, (1, 15))
    shift = shift + np.where(nonprompt, PARAMS["match_shift"]["nonprompt"], 0.0)
    match = np.abs(rng.standard_normal(n)) * np.where(kind == 2, 1.5, 1.0) + shift
    lost = np.where(
        kind == 1,
        rng.poisson(1.2, n),
        np.where(rng.random(n) < np.where(kind == 0, PARAMS["lost_hits_prompt"], 0.2), 1 + rng.poisson(0.2, n), 0),
    )
    conv_veto = np.where(kind == 1, rng.random(n) < 0.3, rng.random(n) < 0.995)
    cut_based = cut_based_id(hidden, rel03, pt, e_reco, rho[evt], lost, conv_veto, match, ec)
    bad = badness(hidden, rel03, lost, conv_veto, match, ec)
    mva = np.tanh(PARAMS["mva_k"] * (PARAMS["mva_c"] - bad))

    cols = {
        "pt": pt, "eta": eta, "phi": phi, "mass": np.full(n, MASS),
        "charge": charge, "pdgId": -11 * charge,
        "deltaEtaSC": delta_eta_sc(eta, pv_z[evt], rng),
        **ip,
        "pfRelIso03_all": rel03, "miniPFRelIso_all": mini,
        "r9": hidden["r9"], "sieie": hidden["sieie"], "hoe": hidden["hoe"],
        "energyErr": PARAMS["ecal_scale"] * ecal_sigma(e_reco, aeta) * np.exp(0.1 * rng.standard_normal(n)),
        "cutBased": cut_based,
        "mvaIso": mva, "mvaIso_WP80": mva > PARAMS["mva_wp80"], "mvaIso_WP90": mva > PARAMS["mva_wp90"],
        "convVeto": conv_veto, "lostHits": np.minimum(lost, 255),
        "genPartIdx": np.where(flav > 0, flav_gen, -1), "genPartFlav": flav,
        "jetIdx": jet_index(jets, evt, eta, phi, LEPTON_PARAMS["jet_dr"]),
        "photonIdx": np.full(n, -1),
    }
    return finish("Electron", cols, evt, n_ev)


def shower_shapes(rng, kind, aeta, e_reco, e_true, brem, f_em, s15, e_own, sc_e, ec) -> dict[str, np.ndarray]:
    """sieie, r9, H/E from the SC content (kind 0 e, 1 conversion / photon, 2 hadron fake).

    H/E: hadronic energy within dR 0.15 (neutral + 0.8 x charged-hadron E_T, incl. PU) over the
    SC energy, plus the fake's own hadronic energy; r9: the energy fraction outside the seed
    core (other SC members, brem, conversion spread); sieie: log-normal around the [mem]
    prompt value, broadened by nearby EM activity and hadronic showers."""
    n = len(kind)
    hcal = (s15[:, iso.NH] + 0.8 * s15[:, iso.CH]) * np.cosh(np.minimum(aeta, 3.0))
    own_h = np.where(kind == 2, e_own * (1.0 - f_em) / np.maximum(f_em, 1e-3), 0.0)
    hoe = (hcal * rng.uniform(0.0, 0.6, n) + own_h * rng.uniform(0.2, 1.0, n)) / np.maximum(e_reco, 1.0)
    hoe = np.where(rng.random(n) < 0.5, 0.0, hoe * 2.0)  # single-tower H/E is often exactly 0 [meas]
    spread = 1.0 - np.clip(e_own / np.maximum(sc_e, 1e-3), 0.0, 1.0)  # energy not in the seed particle
    spread = np.where(kind == 2, rng.uniform(0.2, 0.6, n), spread)
    r9 = 0.97 - 0.8 * spread - 1.5 * brem - rng.exponential(0.025, n) - np.where(kind == 1, rng.exponential(0.08, n), 0.0)
    r9 = np.clip(r9, 0.2, 1.0)
    ref = np.asarray(PARAMS["sieie_ref"])[ec]
    em_near = s15[:, iso.PH] * np.cosh(np.minimum(aeta, 3.0)) / np.maximum(e_reco, 1.0)
    broad = 1.0 + 0.6 * np.minimum(em_near, 1.0) + np.where(kind == 2, rng.uniform(0.2, 0.8, n), 0.0)
    sieie = ref * broad * np.exp(PARAMS["sieie_spread"] * rng.standard_normal(n))
    return {"sieie": sieie, "r9": r9, "hoe": hoe}


def cut_based_id(hidden, rel_iso, pt, e, rho, lost, conv_veto, match, ec) -> np.ndarray:
    """Fall17-V2-like ``cutBased`` 0..4 (fail, veto, loose, medium, tight)."""
    out = np.zeros(len(pt), np.int64)
    for k in range(4):
        sie = np.asarray([PARAMS["cb_sieie"][0][k], PARAMS["cb_sieie"][1][k]])[ec]
        hoe_cut = (
            np.asarray([PARAMS["cb_hoe_c"][0][k], PARAMS["cb_hoe_c"][1][k]])[ec]
            + np.asarray([PARAMS["cb_hoe_e"][0][k], PARAMS["cb_hoe_e"][1][k]])[ec] / e
            + np.asarray(PARAMS["cb_hoe_rho"])[ec] * rho / e
        )
        iso_cut = (
            np.asarray([PARAMS["cb_iso_c"][0][k], PARAMS["cb_iso_c"][1][k]])[ec] + np.asarray(PARAMS["cb_iso_pt"])[ec] / pt
        )
        lost_cut = np.asarray([PARAMS["cb_lost"][0][k], PARAMS["cb_lost"][1][k]])[ec]
        ok = (
            (hidden["sieie"] < sie) & (hidden["hoe"] < hoe_cut) & (rel_iso < iso_cut)
            & (lost <= lost_cut) & conv_veto & (match < PARAMS["cb_match"][k])
        )
        out = np.where(ok, k + 1, out)
    return out


def badness(hidden, rel_iso, lost, conv_veto, match, ec) -> np.ndarray:
    """Hidden 'background-likeness' behind ``mvaIso`` (0 ~ typical prompt electron)."""
    ref = np.asarray(PARAMS["sieie_ref"])[ec]
    return (
        1.0 * match
        + 8.0 * np.maximum(hidden["sieie"] / ref - 1.0, -0.2)
        + 10.0 * hidden["hoe"]
        + 6.0 * np.minimum(rel_iso, 2.0)
        + 1.5 * np.maximum(0.9 - hidden["r9"], 0.0)
        + 1.0 * lost
        + 3.0 * ~conv_veto
    )
