"""AK4 CHS-like reco jets of the reference detector (NanoAOD ``Jet`` collection).

:func:`reconstruct_jets`:

1. PF candidates (:mod:`pflow`) after CHS (PU tracks with abs(dz) > 0.1 mm dropped
   [pu-card]) are clustered with anti-kT R = 0.4 (:func:`jetalgo.cluster`), B/C hadrons
   and partons as ghosts -> ``hadronFlavour`` / ``partonFlavour`` (arXiv:1712.07158).
   Soft PU candidates (pT < 1 GeV) are not clustered but absorbed by the nearest jet
   within R (anti-kT metric dR^2/pT^2): the same result for soft particles, at a
   fraction of the cost. They make the neutral-PU offset ~ rho x area, with its
   fluctuations.
2. Raw jet = constituent sum x a per-jet "unmodelled detector" factor N(1, sigma_x)
   (PF confusion, calorimeter non-uniformity, out-of-cone showering); sigma_x completes
   the emergent resolution to the UL18 CHS JER of the notes (section 7) [derived].
3. JEC: L1 = 1 - rho x area / pT_raw (CMS L1FastJet), then an MC-truth L2L3 factor
   (table ``L2L3``, derived on the reference detector's own ttbar + QCD samples).
   ``rawFactor = 1 - raw/corrected``.
4. Energy fractions, multiplicities, ``jetId`` (UL tight / tightLepVeto), ``puId``
   (Run-2 style, from hidden PU quantities), ``genJetIdx`` (closest GenJet within
   dR < 0.2 = R/2), b-tag scores (:mod:`btag`).
5. The v12 (Run-3) fields, drawn after all of the above (whose values they leave unchanged):
   PNet and RobustParT scores on DeepJet's latents (:func:`btag.run3_scores`); the PNet pT
   regression (:func:`pnet_regression`: an estimator of GenJet pT / raw pT and of the
   neutrinos of hadron decays around the GenJet, with its resolution); ``muonSubtrFactor``
   (:func:`muon_subtr_factor`); the HF shower shapes (:func:`hf_shower_shape`, CMSSW's
   algorithm on the HF towers).

Written: pt > 15 GeV, abs(eta) < 4.7, pT-descending, cast with ``schema.cast("Jet", ...)``.
The lepton links (``muonIdx1/2``, ``electronIdx1/2``, ``nMuons``, ``nElectrons``) need the final
leptons: :func:`add_lepton_links` adds them afterwards (:mod:`flashsim_coffea.nanoaod.jet_links`).
The jets between 10 and 15 GeV corrected pT make ``CorrT1METJet`` (:func:`corr_t1_met_jets`,
in the extras).
``area`` = pi R^2 minus the overlap (lens) with each harder jet closer than 2R, times
a 3% jitter (ghost-area fluctuations) [design; [meas] median area 0.499 in nano_tt_v12].

Example:
    Two Drell-Yan events with 20 PU interactions each. Leptons are PF candidates, so
    they make jets too: the jet of the leading muon of event 1 fails ``tightLepVeto``
    (``jetId`` 2), the jet of the other, a lone muon, fails the tight ID (``jetId`` 0).

    >>> from flashsim_coffea.reference.genlevel import gen_collections
    >>> from flashsim_coffea.reference.pileup import event_quantities, simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> n_pu = np.array([20, 20])
    >>> pu = simulate_pileup(n_pu, np.random.default_rng(1))
    >>> rho = event_quantities(n_pu, n_pu, pu, np.random.default_rng(2), truth=truth)["Rho_fixedGridRhoFastjetAll"]
    >>> jets = reconstruct_jets(truth, pu, gen_collections(truth)["GenJet"], rho, np.random.default_rng(3))
    >>> jets.pt
    <Array [[72.3, 38.4, 35, 18.8, 17.5], [...]] type='2 * var * float32'>
    >>> jets.genJetIdx.tolist(), jets.jetId.tolist()
    ([[0, 2, 1, 3, -1], [0, 1, -1]], [[6, 6, 6, 6, 6], [2, 0, 6]])
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod import jet_defaults, jet_links, schema
from flashsim_coffea.nanoaod.jet_id import jet_id as nanoaod_jet_id
from flashsim_coffea.nanoaod.jet_truth import absorb
from flashsim_coffea.reference import btag, jetalgo, pflow

PARAMS: dict = {
    "R": 0.4,  # AK4 [CMS]
    "cluster_ptmin": 3.0,  # GeV, before soft-PU absorption and JEC [design]
    "soft_pu_pt": 1.0,  # GeV, PU candidates below are absorbed, not clustered [design]
    "ptmin": 15.0,  # NanoAOD Jet pt > 15 [meas]
    "eta_max": 4.7,  # [meas] NanoAOD jets
    "area_jitter": 0.03,  # relative [design, meas spread of Jet_area]
    "genjet_dr": 0.2,  # R/2 [NanoAOD / PAT jet-genjet matching]
    # puId applies below 50 GeV; jets above get 7 [notes section 7]
    "puid_ptmax": 50.0,
    # jetId beyond abs(eta) 3: UL asks > 10 neutral PF candidates [mem]; our HF towers
    # (0.175 x 0.175) are coarser than CMS PF HF clusters, so the count is scaled down [design]
    "jetid_hf_min_neutral": 3,
    # PNet pT regression (pnet_regression): PNetRegPtRawCorr estimates GenJet pT / raw pT ("visible, no
    # neutrinos"), PNetRegPtRawCorrNeutrino the neutrino part relative to it, PNetRegPtRawRes the (q84-q16)/2 of
    # the estimate [code: jetsAK4_Puppi_cff.py]; CMS-DP-2024-064 (PNet regression JES / JER in Run 3) [mem].
    # The estimate is a Gaussian estimator in log space around the JEC, log r = log JEC + mu_u + beta (u - mu_u)
    # + sqrt(beta (1 - beta)) sigma_u z (u = log(GenJet pT / raw pT / JEC), mu_u / sigma_u its median / spread,
    # REG_SIGMA_U; u = mu_u without a GenJet), whose error has variance (1 - beta) sigma_u^2: beta = 1 - 0.72^2
    # [meas] nano_tt_v12 matched central jets, (q84-q16)/2 of pT / GenJet pT 0.207 / 0.189 / 0.145 / 0.110 with
    # the JEC, 0.144 / 0.138 / 0.111 / 0.074 with the regression at GenJet pT 15-30 / 30-60 / 60-120 / > 120 GeV
    "reg_beta": 0.48,
    # Res = res_scale x r x sqrt(1 - beta) sigma_u exp(k_nh (neHEF - 0.15) + k_pu (PU pT fraction - 0.07)) x
    # exp(res_noise z): the error grows with the neutral-hadron (HCAL) and PU content of the jet, which the
    # network sees [derived: the (q84-q16)/2 of (u - mu_u) / sigma_u is 0.85 / 0.91 / 1.08 / 1.13 in the neHEF
    # quartiles, 1.03 / 0.90 / 0.89 / 0.87 in the hard-pT-fraction quartiles, central reference ttbar jets; used
    # in the tracker only]. [meas] pulls (GenJet pT / regressed - 1) / Res have (q84-q16)/2 = 1.19 in
    # nano_tt_v12, Spearman(abs(error), Res) 0.33, and Res / Corr spans 0.027-0.22 (q05-q95) in the tracker
    "reg_res_scale": 0.84,
    "reg_res_noise": 0.3,
    "reg_res_k_nh": 0.66,
    "reg_res_k_pu": 0.5,
    # neutrinos: truth = pT(GenJet + non-prompt neutrinos within dR < nu_dr) / pT(GenJet) - 1 (neutrinos of hadron
    # decays: not isPrompt, not isPromptTauDecayProduct). The estimate is floor + (1 - nu_w) x prior + nu_w x
    # truth, prior = sum over b / c / light of PNet's probability x NU_PRIOR (with or without a soft lepton in
    # the jet) [design], times exp(noise z), noise = a + b (soft lepton). [meas] nano_tt_v12 medians: b jets
    # 1.025 without a lepton, 1.11 with; c 1.02; light 1.007 (the floor); light-jet q05-q16 1.001-1.002
    # without a lepton, 0.99-1.00 with one (the noise)
    "nu_dr": 0.4,
    "reg_nu_w": 0.3,
    "reg_nu_floor": 0.005,
    "reg_nu_noise": (0.003, 0.02),
    # forward model: [meas] CorrNeutrino median 1.002, q01-q99 1.0005-1.005 beyond the tracker
    "reg_nu_fwd": (0.002, 0.4),  # (median of CorrNeutrino - 1, log-normal spread)
    # HF shower shapes (hf_shower_shape), CMSSW's HFJetShowerShape algorithm on the jet's HF PF candidates
    # [code: RecoJets/JetProducers/python/hfJetShowerShape_cfi.py, plugins/HFJetShowerShape.cc]: jets pT > 25,
    # abs(eta) > 2.9 ([meas] exact on nano_tt_v12), candidates' pT minus a PU offset 0.4 GeV per interaction in
    # a R = 0.4 cone, per HF tower area; widths from candidates above 3 GeV, strips from those above 10 GeV
    # (central: dphi <= half a tower, adjacent: up to 1.5 towers). Else -1 / -1 / 0 / 0 [code, meas]. The jet
    # thresholds are NanoAOD's (nanoaod/jet_defaults.py hf_pt_min, hf_eta_min)
    "hf": {"tower": 0.175, "offset_per_pu": 0.4, "width_pt": 3.0, "strip_pt": 10.0},
    # CorrT1METJet (corr_t1_met_jets): the jets below the Jet threshold that Type-1 MET corrects, corrected
    # pT < 15 [code: corrT1METJetPuppiTable cut "pt<15 && abs(eta)<9.9"] and > 10 GeV, MiniAOD's jet floor
    # [code: PatAlgos miniAOD_tools.py selectedPatJetsPuppi.cut "pt > 10"]; [meas] nano_tt_v12 rawPt 9.1-14.1
    # (abs(eta) < 1.3), 5.6-9.0 (> 3): a corrected floor seen through the JEC, not a raw one
    "corr_t1": {"pt_min": 10.0, "pt_max": 15.0, "eta_max": 9.9},
}

# unmodelled part of the resolution: sigma_x(pT) = sqrt(S^2/pT + C^2) per abs(eta) bin,
# derived as the quadrature difference between the UL18 CHS JER (notes section 7, [jrdb])
# and the emergent resolution of the PF simulation [derived: scripts in the lead's README]
JER_X = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "S": (0.50, 0.90, 0.90, 0.0),
    "C": (0.035, 0.035, 0.0, 0.03),
}

# MC-truth L2L3 response R of L1-corrected jets vs pT_L1 (GeV) per abs(eta) bin: median of
# pT_L1 / pT_GenJet in GenJet-pT bins, placed at the median pT_L1 of the bin (CMS MC-truth
# method). The correction is 1/R, interpolated in log pT_L1, flat beyond the ends
# [derived: 1500 ttbar + 1000 QCD events, mu = 36, GenJets matched within dR < 0.2]
L2L3 = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "pt": (
        (14.8, 20.1, 24.9, 32.4, 41.7, 56.6, 79.3, 114.8, 181.1, 301.6, 592.7),
        (14.6, 19.5, 25.0, 32.3, 41.9, 55.4, 79.3, 117.7, 180.8, 304.0, 509.0),
        (12.7, 15.2, 22.1, 29.3, 36.9, 56.9, 72.3, 106.9, 174.8),
        (14.9, 20.3, 25.2, 32.7, 42.5, 52.4, 80.9, 123.5),
    ),
    "R": (
        (0.860, 0.900, 0.906, 0.925, 0.935, 0.954, 0.961, 0.972, 0.974, 0.981, 0.985),
        (0.854, 0.870, 0.905, 0.925, 0.939, 0.952, 0.958, 0.974, 0.976, 0.978, 0.978),
        (0.740, 0.750, 0.790, 0.830, 0.850, 0.900, 0.910, 0.930, 0.956),
        (0.836, 0.890, 0.910, 0.935, 0.945, 0.950, 0.965, 0.975),
    ),
}

# L1: offset = k(eta) x rho x area. For CHS jets only neutral PU (and PU in HF) remains, so
# k < 1 centrally; forward all PU stays in the jet [derived: PU pT inside GenJet-matched
# jets per rho x area on the reference detector; CMS L1FastJet parametrises the same way]
L1 = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "k": (0.33, 0.45, 0.75, 1.0),
}

# u = log(GenJet pT / (raw pT x JEC)) of GenJet-matched jets per abs(eta) bin, at the median corrected pT
# (GeV) of pT bins 15-25-40-70-130-300: its median ``mu`` (the JEC's non-closure, which the regression learns)
# and spread ``sigma`` = (q84-q16)/2 (lightly smoothed forward); interpolated in log pT, flat beyond the ends
# [derived: 800 reference ttbar events, mu 36]
REG_SIGMA_U = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "pt": ((19.5, 32.3, 53.3, 89.9, 165.6), (19.1, 31.6, 52.6, 88.6, 164.1), (20.1, 30.9, 52.2, 87.8), (19.6, 30.5, 52.0)),
    "mu": ((-0.020, -0.004, -0.010, -0.015, -0.017), (-0.087, 0.014, -0.027, -0.020, -0.036),
           (-0.102, -0.057, -0.022, -0.081), (-0.153, -0.106, -0.120)),
    "sigma": ((0.253, 0.173, 0.128, 0.094, 0.076), (0.298, 0.226, 0.156, 0.127, 0.116), (0.347, 0.283, 0.204, 0.140),
              (0.31, 0.27, 0.17)),
}
# the neutrino ratio (pT(GenJet + nu) / pT(GenJet) - 1) the regression learns per class, central GenJet-matched
# jets by hadron flavour, without / with a soft PF lepton: the class mean without a lepton (b 0.034, c 0.013,
# light 0.0004), the class median with one (b 0.147, c 0.117; means 0.23, 0.19) [derived: reference ttbar]
NU_PRIOR = {5: (0.034, 0.147), 4: (0.013, 0.117), 0: (0.0, 0.0)}

_K = pflow.KIND


_absorb = absorb  # moved to flashsim_coffea.nanoaod.jet_truth (FlashSim derives fat-jet flavours with it)


@numba.njit(cache=True)
def _areas(jet_off, jeta, jphi, radius):  # pragma: no cover - numba
    """pi R^2 minus the lens overlap with every harder jet (jets pT-ordered per event)."""
    n = len(jeta)
    out = np.full(n, np.pi * radius * radius)
    for ev in range(len(jet_off) - 1):
        for i in range(jet_off[ev], jet_off[ev + 1]):
            for j in range(jet_off[ev], i):
                de = jeta[i] - jeta[j]
                dp = abs(jphi[i] - jphi[j])
                if dp > np.pi:
                    dp = 2 * np.pi - dp
                d = np.sqrt(de * de + dp * dp)
                if d < 2 * radius:
                    lens = 2 * radius**2 * np.arccos(d / (2 * radius)) - 0.5 * d * np.sqrt(4 * radius**2 - d * d)
                    out[i] -= lens
        for i in range(jet_off[ev], jet_off[ev + 1]):
            out[i] = max(out[i], 0.1 * np.pi * radius * radius)
    return out


@numba.njit(cache=True)
def _match(jet_off, jeta, jphi, gen_off, geta, gphi, dr_max):  # pragma: no cover - numba
    """Per reco jet (in the given order), the event-local index of the closest unused GenJet."""
    out = np.full(len(jeta), -1, np.int64)
    for ev in range(len(jet_off) - 1):
        g0, g1 = gen_off[ev], gen_off[ev + 1]
        used = np.zeros(g1 - g0, np.bool_)
        for i in range(jet_off[ev], jet_off[ev + 1]):
            best = dr_max * dr_max
            for g in range(g0, g1):
                if used[g - g0]:
                    continue
                de = jeta[i] - geta[g]
                dp = abs(jphi[i] - gphi[g])
                if dp > np.pi:
                    dp = 2 * np.pi - dp
                d2 = de * de + dp * dp
                if d2 < best:
                    best = d2
                    out[i] = g - g0
            if out[i] >= 0:
                used[out[i]] = True
    return out


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _binned(table: dict, key: str, aeta: np.ndarray) -> np.ndarray:
    b = np.clip(np.searchsorted(table["eta_edges"], aeta, side="right") - 1, 0, len(table["eta_edges"]) - 2)
    return np.asarray(table[key])[b]


def l2l3_response(pt_l1: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """Tabulated MC-truth response of L1-corrected jets (see ``L2L3``): the L2L3 correction is its inverse.

    Example:
        >>> l2l3_response(np.array([20.0, 100.0, 20.0]), np.array([0.5, 0.5, 3.5]))
        array([0.89934823, 0.96789615, 0.88740029])
    """
    b = np.clip(np.searchsorted(L2L3["eta_edges"], aeta, side="right") - 1, 0, len(L2L3["eta_edges"]) - 2)
    x = np.log(np.maximum(pt_l1, 1.0))
    out = np.empty(len(pt_l1))
    for i in range(len(L2L3["R"])):
        m = b == i
        out[m] = np.interp(x[m], np.log(L2L3["pt"][i]), L2L3["R"][i])
    return out


def _kin(px, py, pz, e):
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, eta, np.arctan2(py, px), mass


def jet_id(aeta, chf, nhf, cemf, nemf, muf, n_const, n_charged, n_neutral) -> np.ndarray:
    """UL (2017/18) PF jet ID: 2 = tight, 6 = tight + tightLepVeto, 0 = fail [mem, notes section 7]
    (:func:`flashsim_coffea.nanoaod.jet_id.jet_id`)."""
    return nanoaod_jet_id(aeta, chf, nhf, cemf, nemf, muf, n_const, n_charged, n_neutral, PARAMS["jetid_hf_min_neutral"])


def reconstruct_jets(
    truth: ak.Array,
    pu: ak.Array,
    genjets: ak.Array | None,
    rho: np.ndarray,
    rng: np.random.Generator,
    *,
    return_extras: bool = False,
):
    """Reco AK4 jets (NanoAOD ``Jet``, see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`).
        genjets: the final ``GenJet`` collection for ``genJetIdx`` (None: all -1).
        rho: ``Rho_fixedGridRhoFastjetAll`` per event (GeV), for the L1 correction.
        rng: the stage's random generator.
        return_extras: also return the hidden per-candidate / per-jet quantities.

    Returns:
        The jagged ``Jet`` records (pT-descending, cast); with ``return_extras`` a tuple
        (jets, extras), extras a dict with ``pf`` and ``pf_counts`` (the PF candidates),
        ``cand_jet``, ``all_jets`` and ``hidden`` (used by :mod:`.met` and for validation) and
        ``CorrT1METJet`` (the NanoAOD collection of the jets below the ``Jet`` threshold).
    """
    R = PARAMS["R"]
    n_ev = len(truth)
    rho = np.asarray(rho, dtype=np.float64)
    f, counts = pflow.build_flat(truth, pu, rng)
    n_c = len(f["pt"])
    cevt = np.repeat(np.arange(n_ev), counts)
    soft_pu = (f["hardFrac"] < 0.5) & (f["pt"] < PARAMS["soft_pu_pt"])
    clus = f["fromPV"] & ~soft_pu
    cidx = np.flatnonzero(clus)
    ccounts = np.bincount(cevt[cidx], minlength=n_ev)
    inputs = ak.unflatten(
        ak.zip({k: f[k][cidx] for k in ("px", "py", "pz", "energy")}, depth_limit=1), ccounts
    )
    cj, index = jetalgo.cluster(inputs, R, PARAMS["cluster_ptmin"], hadrons=truth.hadrons, partons=truth.partons)
    jcounts = np.asarray(ak.num(cj))
    joff = _offsets(jcounts)
    n_j = int(joff[-1])
    # constituent -> global jet id
    cand_jet = np.full(n_c, -1, np.int64)
    coff = _offsets(ccounts)
    nconst = np.asarray(ak.flatten(ak.num(index, axis=2)))
    local = ak.to_numpy(ak.flatten(index, axis=None)).astype(np.int64)
    const_evt = np.repeat(np.repeat(np.arange(n_ev), jcounts), nconst)
    cand_jet[cidx[coff[const_evt] + local]] = np.repeat(np.arange(n_j), nconst)
    jeta0 = ak.to_numpy(ak.flatten(cj.eta))
    jphi0 = ak.to_numpy(ak.flatten(cj.phi))
    jpt0 = ak.to_numpy(ak.flatten(cj.pt))
    # soft PU absorbed by the jets (anti-kT metric); CHS-removed PU tracks in the cone (for beta)
    s_idx = np.flatnonzero(soft_pu & f["fromPV"])
    cand_jet[s_idx] = _absorb(joff, jeta0, jphi0, jpt0, cevt[s_idx], f["eta"][s_idx], f["phi"][s_idx], R, True)
    r_idx = np.flatnonzero(~f["fromPV"])
    rem_jet = _absorb(joff, jeta0, jphi0, jpt0, cevt[r_idx], f["eta"][r_idx], f["phi"][r_idx], R, False)

    # ---- per-jet sums over constituents
    m = cand_jet >= 0
    jid = cand_jet[m]

    def jsum(w):
        return np.bincount(jid, w[m] if isinstance(w, np.ndarray) else None, n_j)

    px, py, pz, e = (jsum(f[k]) for k in ("px", "py", "pz", "energy"))
    kind = f["kind"]
    e_by = {k: jsum(np.where(kind == v, f["energy"], 0.0)) for k, v in _K.items()}
    n_by = {k: jsum((kind == v).astype(np.float64)) for k, v in _K.items()}
    n_const = jsum(np.ones(n_c))
    is_trk = (kind == _K["charged_hadron"]) | (kind == _K["electron"]) | (kind == _K["muon"])
    trk_pt_pv = jsum(np.where(is_trk, f["pt"], 0.0))
    trk_pt_pu = np.bincount(rem_jet[rem_jet >= 0], f["pt"][r_idx][rem_jet >= 0], n_j)
    hard_pt = jsum(f["pt"] * f["hardFrac"])
    sum_pt = jsum(f["pt"])
    disp = is_trk & (f["pt"] > 1.0) & (f["d0sig"] > 3.0)
    n_disp = jsum(disp.astype(np.float64))
    soft_lep = ((kind == _K["muon"]) | (kind == _K["electron"])) & (f["pt"] > 2.0)
    n_softlep = jsum(soft_lep.astype(np.float64))
    is_mu = kind == _K["muon"]
    mu_px, mu_py = jsum(np.where(is_mu, f["px"], 0.0)), jsum(np.where(is_mu, f["py"], 0.0))
    tau_pt = jsum(f["pt"] * f["hardFrac"] * _hadronic_tau_source(truth, f, cevt))
    pt_c, eta_c, phi_c, _ = _kin(px, py, pz, e)
    dr2 = (f["eta"][m] - eta_c[jid]) ** 2 + (np.mod(f["phi"][m] - phi_c[jid] + np.pi, 2 * np.pi) - np.pi) ** 2
    width = np.bincount(jid, f["pt"][m] * dr2, n_j) / np.maximum(sum_pt, 1e-9)

    # ---- raw jet: constituents x unmodelled detector response
    aeta_c = np.abs(eta_c)
    sx = np.sqrt(_binned(JER_X, "S", aeta_c) ** 2 / np.maximum(pt_c, 1.0) + _binned(JER_X, "C", aeta_c) ** 2)
    s = np.maximum(1.0 + sx * rng.standard_normal(n_j), 0.2)
    raw = (px * s, py * s, pz * s, e * s)
    pt_raw, eta, phi, mass_raw = _kin(*raw)
    area = _areas(joff, eta, phi, R) * (1.0 + PARAMS["area_jitter"] * rng.standard_normal(n_j))
    jevt = np.repeat(np.arange(n_ev), jcounts)
    offset = _binned(L1, "k", np.abs(eta)) * rho[jevt] * area
    l1 = np.maximum(1.0 - offset / np.maximum(pt_raw, 1e-9), 1e-4)
    pt_l1 = pt_raw * l1
    corr = l1 / l2l3_response(pt_l1, np.abs(eta))
    pt = pt_raw * corr
    mass = mass_raw * corr

    # ---- selection and final order
    sel = (pt > PARAMS["ptmin"]) & (np.abs(eta) < PARAMS["eta_max"])
    key = jevt * 1e6 - np.minimum(pt, 9.9e5)
    order = np.argsort(key, kind="stable")
    order = order[sel[order]]
    out_counts = np.bincount(jevt[order], minlength=n_ev)
    fl = {k: np.asarray(ak.to_numpy(ak.flatten(cj[k])))[order] for k in ("hadronFlavour", "partonFlavour")}
    o = order
    e_tot = np.maximum(e[o], 1e-9)
    chf, nhf = e_by["charged_hadron"][o] / e_tot, (e_by["neutral_hadron"][o] + e_by["hf"][o]) / e_tot
    cemf, nemf, muf = e_by["electron"][o] / e_tot, e_by["photon"][o] / e_tot, e_by["muon"][o] / e_tot
    n_charged = n_by["charged_hadron"][o] + n_by["electron"][o] + n_by["muon"][o]
    n_neutral = n_by["photon"][o] + n_by["neutral_hadron"][o] + n_by["hf"][o]
    aeta = np.abs(eta[o])
    jetid = jet_id(aeta, chf, nhf, cemf, nemf, muf, n_const[o], n_charged, n_neutral)

    # GenJet matching
    if genjets is not None:
        goff = _offsets(np.asarray(ak.num(genjets)))
        gen_idx = _match(
            _offsets(out_counts),
            eta[o],
            phi[o],
            goff,
            ak.to_numpy(ak.flatten(genjets.eta)).astype(np.float64),
            ak.to_numpy(ak.flatten(genjets.phi)).astype(np.float64),
            PARAMS["genjet_dr"],
        )
    else:
        gen_idx = np.full(len(o), -1)

    beta = trk_pt_pv[o] / np.maximum(trk_pt_pv[o] + trk_pt_pu[o], 1e-9)
    hidden = {
        "pt": pt[o],
        "eta": eta[o],
        "hadronFlavour": fl["hadronFlavour"],
        "partonFlavour": fl["partonFlavour"],
        "n_disp": n_disp[o],
        "n_softlep": n_softlep[o],
        "n_const": n_const[o],
        "width": width[o],
        "beta": beta,
        "hard_frac": hard_pt[o] / np.maximum(sum_pt[o], 1e-9),
        "has_track": n_charged > 0,
    }
    latent: dict = {}
    tags = btag.tag_scores(hidden, rng, hidden, latent=latent)
    puid, hidden["puid_disc"] = pu_id(hidden, rng)
    # ---- Run-3 fields (drawn after every Run-2 field, which keep their values)
    hidden["pt_raw"] = pt_raw[o]
    hidden["tau_frac"] = tau_pt[o] / np.maximum(sum_pt[o], 1e-9)
    run3 = btag.run3_scores(hidden, hidden, latent, rng)
    nu_true = _neutrino_ratio(truth, genjets, jevt[o], gen_idx)
    reg = pnet_regression(
        {
            "pt_raw": pt_raw[o],
            "corr": corr[o],
            "eta": eta[o],
            "t_vis": np.where(gen_idx >= 0, _genjet_pt(genjets, jevt[o], gen_idx) / np.maximum(pt_raw[o], 1e-9), np.nan),
            "nu_true": nu_true,
            "softlep": n_softlep[o] > 0,
            "pnet_pb": latent["pnet_pb"],
            "pnet_pc": latent["pnet_pc"],
            "nhf": nhf,
            "pu_frac": 1.0 - hidden["hard_frac"],
        },
        rng,
    )
    msf_all = muon_subtr_factor(px, py, mu_px, mu_py)
    hfs = hf_shower_shape(f, cand_jet, o, eta[o], phi[o], pt[o], _interactions(pu, n_ev)[jevt[o]])

    cols = {
        "pt": pt[o],
        "eta": eta[o],
        "phi": phi[o],
        "mass": mass[o],
        "area": area[o],
        "rawFactor": 1.0 - 1.0 / corr[o],
        **tags,
        **run3,
        **reg,
        "chHEF": chf,
        "neHEF": nhf,
        "chEmEF": cemf,
        "neEmEF": nemf,
        "muEF": muf,
        "nConstituents": np.minimum(n_const[o], 255),
        "jetId": jetid,
        "puId": puid,
        "hadronFlavour": fl["hadronFlavour"],
        "partonFlavour": fl["partonFlavour"],
        "genJetIdx": gen_idx,
        "muonSubtrFactor": msf_all[o],
        **hfs,
    }
    jets = schema.cast("Jet", ak.unflatten(ak.zip(cols, depth_limit=1), out_counts))
    if not return_extras:
        return jets
    extras = {
        "pf": f,
        "pf_counts": counts,
        "cand_jet": cand_jet,  # global id in the all-jets arrays below (-1 unclustered)
        "all_jets": {
            "evt": jevt,
            "pt_raw": pt_raw,
            "pt_const": pt_c,
            "pt_l1": pt_l1,
            "pt": pt,
            "eta": eta,
            "phi": phi,
            "area": area,
            "pu_pt": sum_pt - hard_pt,
            "em_frac": (e_by["photon"] + e_by["electron"]) / np.maximum(e, 1e-9),
            "mu_frac": e_by["muon"] / np.maximum(e, 1e-9),
            "selected_order": order,
        },
        "hidden": hidden,
        "CorrT1METJet": corr_t1_met_jets(
            {"evt": jevt, "pt": pt, "pt_raw": pt_raw, "eta": eta, "phi": phi, "area": area, "muonSubtrFactor": msf_all},
            n_ev,
        ),
    }
    return jets, extras


PUID = {
    # discriminant = hard-pT fraction (what the PU-ID MVA estimates) smeared, plus the track
    # fraction beta inside the tracker; WPs per region tuned to the Run-2 performance (loose
    # ~99% / tight ~90% hard-jet efficiency in the tracker, JINST 15 (2020) P09018) [derived]
    # WPs = 1%, 5%, 10% quantiles of the GenJet-matched-jet discriminant (tracker) and 5%,
    # 10%, 20% beyond it (pT 15-50 GeV, ttbar, mu 36); they reject ~50/75/80% (tracker)
    # and ~45/60/75% (forward) of unmatched PU jets
    "noise_central": 0.15,
    "noise_forward": 0.30,
    "wp_central": (0.26, 0.42, 0.50),  # loose, medium, tight
    "wp_forward": (0.08, 0.19, 0.32),
}


def pu_id(h: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run-2 ``Jet_puId`` = 4 loose + 2 medium + 1 tight (7 above 50 GeV), and the discriminant."""
    central = np.abs(h["eta"]) < 2.5
    noise = np.where(central, PUID["noise_central"], PUID["noise_forward"])
    d = np.where(central, 0.5 * h["hard_frac"] + 0.5 * h["beta"], h["hard_frac"])
    d = d + noise * rng.standard_normal(len(d))
    wps = np.where(central[:, None], np.asarray(PUID["wp_central"])[None], np.asarray(PUID["wp_forward"])[None])
    passed = d[:, None] > wps
    code = 4 * passed[:, 0] + 2 * passed[:, 1] + 1 * passed[:, 2]
    code = np.where(code == 4, 4, np.where(code == 6, 6, np.where(code == 7, 7, 0)))
    return np.where(h["pt"] >= PARAMS["puid_ptmax"], 7, code).astype(np.int32), d


def _interp_table(table: dict, key: str, pt: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    b = np.clip(np.searchsorted(table["eta_edges"], aeta, side="right") - 1, 0, len(table["eta_edges"]) - 2)
    x = np.log(np.maximum(pt, 1.0))
    out = np.empty(len(pt))
    for i in range(len(table[key])):
        m = b == i
        out[m] = np.interp(x[m], np.log(table["pt"][i]), table[key][i])
    return out


def _hadronic_tau_source(truth: ak.Array, f: dict, cevt: np.ndarray) -> np.ndarray:
    """Per PF candidate: its (leading) source particle is a product of a tau decay other than the e / mu
    of a leptonic one (pions, kaons and the photons of their pi0s)."""
    tp = truth.particles
    poff = _offsets(np.asarray(ak.num(tp)))
    tau = ak.to_numpy(ak.flatten(tp.tauIdx)).astype(np.int64)
    apdg = np.abs(ak.to_numpy(ak.flatten(tp.pdgId)))
    ti = np.asarray(f["truthIdx"], np.int64)
    ok = ti >= 0
    g = np.where(ok, poff[cevt] + np.maximum(ti, 0), 0)
    if len(tau) == 0:
        return np.zeros(len(ti), bool)
    return ok & (tau[g] >= 0) & (apdg[g] != 11) & (apdg[g] != 13)


def _genjet_flat(genjets: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    goff = _offsets(np.asarray(ak.num(genjets)))
    return goff, *(ak.to_numpy(ak.flatten(genjets[k])).astype(np.float64) for k in ("pt", "eta", "phi"))


def _genjet_pt(genjets: ak.Array | None, evt: np.ndarray, gen_idx: np.ndarray) -> np.ndarray:
    """pT of each jet's GenJet (NaN without one)."""
    if genjets is None:
        return np.full(len(evt), np.nan)
    goff, gpt, _, _ = _genjet_flat(genjets)
    k = goff[evt] + np.maximum(gen_idx, 0)
    return np.where(gen_idx >= 0, gpt[np.minimum(k, max(len(gpt) - 1, 0))] if len(gpt) else np.nan, np.nan)


def _neutrino_ratio(truth: ak.Array, genjets: ak.Array | None, evt: np.ndarray, gen_idx: np.ndarray) -> np.ndarray:
    """pT(GenJet + non-prompt neutrinos within ``nu_dr``) / pT(GenJet) - 1 of each jet's GenJet (NaN without).

    Neutrinos of hadron decays (B, C, and their tau / lepton descendants): neither ``isPrompt`` nor
    ``isPromptTauDecayProduct``; each goes to the nearest GenJet within ``nu_dr``.
    """
    out = np.full(len(evt), np.nan)
    if genjets is None or len(evt) == 0:
        return out
    goff, gpt, geta, gphi = _genjet_flat(genjets)
    tp = truth.particles
    a = np.abs(tp.pdgId)
    flags = tp.statusFlags
    nu = ((a == 12) | (a == 14) | (a == 16)) & ((flags & 1) == 0) & (((flags >> 3) & 1) == 0)
    nus = tp[nu]
    n_ev = len(tp)
    nevt = np.repeat(np.arange(n_ev), np.asarray(ak.num(nus)))
    neta, nphi, npt = (ak.to_numpy(ak.flatten(nus[k])).astype(np.float64) for k in ("eta", "phi", "pt"))
    gid = _absorb(goff, geta, gphi, gpt, nevt, neta, nphi, PARAMS["nu_dr"], False)
    m = gid >= 0
    nx = np.bincount(gid[m], npt[m] * np.cos(nphi[m]), len(gpt))
    ny = np.bincount(gid[m], npt[m] * np.sin(nphi[m]), len(gpt))
    ratio = np.hypot(gpt * np.cos(gphi) + nx, gpt * np.sin(gphi) + ny) / np.maximum(gpt, 1e-9) - 1.0
    has = gen_idx >= 0
    out[has] = ratio[goff[evt[has]] + gen_idx[has]]
    return out


def pnet_regression(h: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``PNetRegPtRawCorr``, ``PNetRegPtRawCorrNeutrino``, ``PNetRegPtRawRes`` (see ``PARAMS``).

    Arguments:
        h: flat per-jet arrays: ``pt_raw``, ``corr`` (JEC factor, corrected / raw), ``eta``, ``t_vis``
            (GenJet pT / raw pT, NaN without a GenJet), ``nu_true`` (true neutrino ratio minus 1, NaN
            without a GenJet), ``softlep`` (a soft PF lepton in the jet), ``pnet_pb``, ``pnet_pc`` (PNet's b
            and c probabilities, NaN beyond the tracker), ``nhf`` (neutral-hadron energy fraction) and
            ``pu_frac`` (the PU share of the jet's pT).
        rng: the random generator.

    Returns:
        The three fields (float32); 0 for jets PNet does not run on (raw pT < 15 GeV).

    Example:
        A central b jet with a soft muon (and 15% of neutrino pT), a light jet without a GenJet, a
        forward jet and a jet below PNet's raw-pT floor:

        >>> h = {"pt_raw": np.array([40.0, 30.0, 50.0, 12.0]), "corr": np.array([1.1, 1.1, 1.4, 1.2]),
        ...      "eta": np.array([0.3, -1.0, 3.5, 0.0]), "t_vis": np.array([1.2, np.nan, 1.3, 1.1]),
        ...      "nu_true": np.array([0.15, np.nan, 0.0, 0.0]), "softlep": np.array([True, False, False, False]),
        ...      "pnet_pb": np.array([0.95, 0.01, np.nan, 0.01]), "pnet_pc": np.array([0.03, 0.05, np.nan, 0.1]),
        ...      "nhf": np.array([0.1, 0.3, 0.9, 0.1]), "pu_frac": np.array([0.05, 0.1, 0.3, 0.1])}
        >>> r = pnet_regression(h, np.random.default_rng(1))
        >>> {k: [round(float(x), 3) for x in v] for k, v in r.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'PNetRegPtRawCorr': [1.171, 1.175, 1.305, 0.0], 'PNetRegPtRawCorrNeutrino': [1.16, 1.007, 1.002, 0.0],
         'PNetRegPtRawRes': [0.13, 0.156, 0.114, 0.0]}
    """
    p = PARAMS
    n = len(h["pt_raw"])
    z = rng.standard_normal((4, n))
    pt_raw = np.asarray(h["pt_raw"], np.float64)
    c = np.asarray(h["corr"], np.float64)
    aeta = np.abs(np.asarray(h["eta"], np.float64))
    runs = pt_raw >= jet_defaults.PARAMS["tagger_raw_ptmin"]
    central = aeta < jet_defaults.PARAMS["tagger_eta_max"]
    s_u = _interp_table(REG_SIGMA_U, "sigma", pt_raw * c, aeta)
    t = np.asarray(h["t_vis"], np.float64)
    mu_u = _interp_table(REG_SIGMA_U, "mu", pt_raw * c, aeta)
    u = np.where(np.isfinite(t), np.log(np.maximum(np.nan_to_num(t, nan=1.0), 1e-3)) - np.log(c), mu_u)
    beta = p["reg_beta"]
    corr = c * np.exp(mu_u + beta * (u - mu_u) + np.sqrt(beta * (1 - beta)) * s_u * z[0])
    content = p["reg_res_k_nh"] * (np.asarray(h["nhf"]) - 0.15) + p["reg_res_k_pu"] * (np.asarray(h["pu_frac"]) - 0.07)
    content = np.where(central, content, 0.0)  # derived in the tracker; forward all hadrons are neutral
    res = p["reg_res_scale"] * corr * np.sqrt(1 - beta) * s_u * np.exp(content + p["reg_res_noise"] * z[1])
    lep = np.asarray(h["softlep"], bool)
    pb = np.nan_to_num(np.asarray(h["pnet_pb"], np.float64))
    pc = np.nan_to_num(np.asarray(h["pnet_pc"], np.float64))
    prior = sum(w * np.where(lep, NU_PRIOR[k][1], NU_PRIOR[k][0]) for k, w in ((5, pb), (4, pc), (0, 1 - pb - pc)))
    nu_t = np.asarray(h["nu_true"], np.float64)
    w = p["reg_nu_w"]
    nu_hat = p["reg_nu_floor"] + np.where(np.isfinite(nu_t), (1 - w) * prior + w * np.nan_to_num(nu_t), prior)
    a, b = p["reg_nu_noise"]
    nu_c = (1.0 + nu_hat) * np.exp((a + b * lep) * z[2])
    med, sig = p["reg_nu_fwd"]
    nu_c = np.where(central, nu_c, 1.0 + med * np.exp(sig * z[3]))
    return {
        name: np.where(runs, v, 0.0).astype(np.float32)
        for name, v in (("PNetRegPtRawCorr", corr), ("PNetRegPtRawCorrNeutrino", nu_c), ("PNetRegPtRawRes", res))
    }


def muon_subtr_factor(px: np.ndarray, py: np.ndarray, mu_px: np.ndarray, mu_py: np.ndarray) -> np.ndarray:
    """``muonSubtrFactor`` = 1 - pT(raw jet - its PF muons) / pT(raw jet), as CMSSW's Type-1 MET jet cleaner.

    The doc string of the NanoAOD field, "1-(muon-subtracted raw pt)/(raw pt)", makes it the raw-pT
    fraction *carried by* the muons (0 without a muon; [meas] 0 for 88% of nano_tt_v12 jets, Pearson
    0.99 with ``muEF`` where not 0). The jet's unmodelled response factor multiplies both terms and
    cancels, so the constituent sums are enough.

    Example:
        >>> muon_subtr_factor(np.array([50.0, 30.0]), np.array([0.0, 0.0]), np.array([10.0, 0.0]), np.zeros(2))
        array([0.2, 0. ])
    """
    pt = np.hypot(px, py)
    return np.where(pt > 0, 1.0 - np.hypot(px - mu_px, py - mu_py) / np.maximum(pt, 1e-9), 0.0)


def _interactions(pu: ak.Array | None, n_ev: int) -> np.ndarray:
    """Number of pp interactions per event: the hard one plus each PU vertex (distinct ``vz``)."""
    if pu is None or "vz" not in pu.fields:
        return np.ones(n_ev)
    vz = ak.to_numpy(ak.flatten(pu.vz)).astype(np.float64)
    evt = np.repeat(np.arange(n_ev), np.asarray(ak.num(pu)))
    order = np.lexsort((vz, evt))
    e, v = evt[order], vz[order]
    new = np.ones(len(e), bool)
    new[1:] = (e[1:] != e[:-1]) | (v[1:] != v[:-1])
    return 1.0 + np.bincount(e[new], minlength=n_ev)


def hf_shower_shape(
    f: dict,
    cand_jet: np.ndarray,
    order: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    pt: np.ndarray,
    n_int: np.ndarray,
) -> dict[str, np.ndarray]:
    """``hfsigmaEtaEta``, ``hfsigmaPhiPhi``, ``hfcentralEtaStripSize``, ``hfadjacentEtaStripsSize``.

    CMSSW's ``HFJetShowerShape`` on the jet's HF PF candidates (``PARAMS["hf"]``); CMSSW estimates
    the number of interactions as nPV / 0.7, here it is the simulated one.

    Arguments:
        f: the flat PF candidates (``kind pt eta phi``).
        cand_jet: per candidate, its jet among all clustered jets (-1 none).
        order: the all-jets indices of the written jets, in order.
        eta, phi, pt: the written jets' axes and corrected pT.
        n_int: per written jet, the number of interactions of its event.

    Returns:
        The four fields: float32 widths (-1 where not computed), int32 strip sizes (0).

    Example:
        A 60 GeV jet at eta 3.5 made of three HF towers, and a central jet; 21 interactions subtract
        0.4 / (pi 0.4^2) x 21 x 0.175^2 = 0.5 GeV per tower, which puts the 10 GeV tower (off the
        central phi strip) below the 10 GeV strip threshold:

        >>> f = {"kind": np.array([6, 6, 6, 1]), "pt": np.array([30.0, 20.0, 10.0, 40.0]),
        ...      "eta": np.array([3.5, 3.6, 3.4, 0.0]), "phi": np.array([0.0, 0.0, 0.2, 1.0])}
        >>> out = hf_shower_shape(f, np.array([0, 0, 0, 1]), np.array([0, 1]), np.array([3.5, 0.0]),
        ...                       np.array([0.0, 1.0]), np.array([60.0, 40.0]), np.array([21, 21]))
        >>> {k: v.tolist() for k, v in out.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'hfsigmaEtaEta': [0.07040050625801086, -1.0], 'hfsigmaPhiPhi': [0.08057042211294174, -1.0],
         'hfcentralEtaStripSize': [2, 0], 'hfadjacentEtaStripsSize': [0, 0]}
    """
    hp = PARAMS["hf"]
    n = len(order)
    sel_of = np.full(max(int(cand_jet.max(initial=-1)), int(order.max(initial=-1))) + 1, -1, np.int64)
    sel_of[order] = np.arange(n)
    k = np.flatnonzero((cand_jet >= 0) & (f["kind"] == _K["hf"]))
    js = sel_of[cand_jet[k]] if len(k) else np.zeros(0, np.int64)
    eligible = (pt > jet_defaults.PARAMS["hf_pt_min"]) & (np.abs(eta) > jet_defaults.PARAMS["hf_eta_min"])
    keep = js >= 0
    keep[keep] = eligible[js[keep]]
    k, js = k[keep], js[keep]
    tower = hp["tower"]
    puoff = hp["offset_per_pu"] / (np.pi * PARAMS["R"] ** 2) * n_int[js] * tower**2
    pt_sub = f["pt"][k] - puoff
    deta = np.abs(f["eta"][k] - eta[js])
    dphi = np.abs(np.mod(f["phi"][k] - phi[js] + np.pi, 2 * np.pi) - np.pi)
    wmask = pt_sub >= hp["width_pt"]
    sumpt = np.bincount(js, np.where(wmask, pt_sub, 0.0), n)
    strip = pt_sub >= hp["strip_pt"]
    central = np.bincount(js, (strip & (dphi <= 0.5 * tower)).astype(np.float64), n)
    adjacent = np.bincount(js, (strip & (dphi > 0.5 * tower) & (dphi <= 1.5 * tower)).astype(np.float64), n)
    w = np.where(wmask & (sumpt[js] > 0), pt_sub / np.maximum(sumpt[js], 1e-9), 0.0)
    sw = np.bincount(js, w, n)
    see2 = np.bincount(js, w * deta**2, n)
    spp2 = np.bincount(js, w * dphi**2, n)
    ok = eligible & (sw > 0) & (see2 > 0) & (spp2 > 0)
    return {
        "hfsigmaEtaEta": np.where(ok, np.sqrt(see2 / np.maximum(sw, 1e-12)), -1.0).astype(np.float32),
        "hfsigmaPhiPhi": np.where(ok, np.sqrt(spp2 / np.maximum(sw, 1e-12)), -1.0).astype(np.float32),
        "hfcentralEtaStripSize": np.where(eligible, central, 0).astype(np.int32),
        "hfadjacentEtaStripsSize": np.where(eligible, adjacent, 0).astype(np.int32),
    }


def corr_t1_met_jets(all_jets: dict, n_ev: int) -> ak.Array:
    """NanoAOD ``CorrT1METJet``: the clustered jets with ``PARAMS["corr_t1"]`` corrected pT (below the
    ``Jet`` threshold) that Type-1 MET re-corrections use; ordered by corrected pT like their source.

    Arguments:
        all_jets: flat arrays over all clustered jets: ``evt pt pt_raw eta phi area muonSubtrFactor``.
        n_ev: the number of events.

    Returns:
        Jagged ``rawPt eta phi area muonSubtrFactor`` records, cast to the NanoAOD schema.

    Example:
        >>> aj = {"evt": np.array([0, 0, 0, 1]), "pt": np.array([40.0, 12.0, 11.0, 9.0]),
        ...       "pt_raw": np.array([36.0, 10.1, 9.5, 7.0]), "eta": np.array([0.1, 1.0, -4.9, 0.0]),
        ...       "phi": np.zeros(4), "area": np.full(4, 0.5), "muonSubtrFactor": np.zeros(4)}
        >>> corr_t1_met_jets(aj, 2).rawPt.tolist()
        [[10.100000381469727, 9.5], []]
    """
    c = PARAMS["corr_t1"]
    pt, evt = all_jets["pt"], all_jets["evt"]
    sel = (pt > c["pt_min"]) & (pt < c["pt_max"]) & (np.abs(all_jets["eta"]) < c["eta_max"])
    idx = np.flatnonzero(sel)
    idx = idx[np.lexsort((-pt[idx], evt[idx]))]
    cols = {"rawPt": all_jets["pt_raw"][idx],
            **{f: all_jets[f][idx] for f in ("eta", "phi", "area", "muonSubtrFactor")}}
    counts = np.bincount(evt[idx], minlength=n_ev)
    return schema.cast("CorrT1METJet", ak.unflatten(ak.zip(cols, depth_limit=1), counts))


def add_lepton_links(jets: ak.Array, muons: ak.Array | None, electrons: ak.Array | None) -> ak.Array:
    """The jets with their lepton links (``muonIdx1/2 electronIdx1/2 nMuons nElectrons``).

    Derived from the final lepton collections' ``jetIdx`` by :func:`flashsim_coffea.nanoaod.jet_links.
    jet_lepton_fields` (the flash engine derives them the same way), so ``nMuons`` counts the muons of
    the ``Muon`` collection linked to the jet, as NanoAOD's cross-linker does. Fields in schema order.

    Example:
        >>> jets = ak.Array([[{"pt": 50.0}, {"pt": 20.0}]])
        >>> out = add_lepton_links(jets, ak.Array([[{"jetIdx": 1}]]), None)
        >>> out.muonIdx1.tolist(), out.nMuons.tolist(), out.electronIdx1.tolist()
        ([[-1, 0]], [[0, 1]], [[-1, -1]])
    """
    links = jet_links.jet_lepton_fields(
        jets, None if muons is None else muons.jetIdx, None if electrons is None else electrons.jetIdx
    )
    cols = {**{f: jets[f] for f in jets.fields}, **links}
    ordered = {f: cols[f] for f in schema.SCHEMA["Jet"] if f in cols}
    return schema.cast("Jet", ak.zip(ordered))
