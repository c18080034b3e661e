"""Hadronic taus of the reference detector (NanoAOD ``Tau`` collection, HPS + DeepTau v2.5-like).

:func:`reconstruct_taus` makes two kinds of reco taus:

genuine (``genPartFlav`` 5, ``genPartIdx`` -> **GenVisTau**, NanoAOD convention)
    every GenVisTau is reconstructed with probability ``plateau[gen decay mode] x
    turn-on(visible pT)`` (HPS decay-mode finding); the reco decay mode migrates with
    the matrix ``MIGRATION``; visible pT x response (Gaussian core, DM-dependent width,
    exponential low tail, plus part of the hidden neutral activity inside the signal
    cone); DeepTau VSjet score drawn from the genuine-tau quantile table, pulled down
    by the hidden isolation (truth pT of non-tau particles within dR < 0.5);
    ``dxy``/``dz`` from the truth vertex of the leading charged descendant (tau flight)
    plus track impact-parameter resolution.
jet fakes (``genPartFlav`` 0, ``genPartIdx`` -1)
    reco jets with pT > 20 GeV and abs(eta) < 2.3, away from GenVisTau and prompt
    leptons, fake a tau with a probability depending on flavour (quark > gluon, b), pT
    and the hidden leading-charged-hadron fraction of the jet; the fake's pT is the
    truth charged+photon pT in the jet core (dR < 0.1) x response; the DeepTau score
    is drawn from the fake quantile table, higher for collimated jets.

NanoAOD selection (``finalTaus``): pT > 18 GeV, abs(eta) < 2.3, decay mode in
{0, 1, 2, 10, 11}, ``idDeepTau2018v2p5VSjet`` >= 1 (VVVLoose). ``idDeepTau2018v2p5VSjet``
= number of v2.5 VSjet working points passed (notes section 10). Electrons/muons
faking taus (``genPartFlav`` 1-4) are not simulated. Collection pT-descending,
``jetIdx`` = closest reco jet within dR < 0.4, cast with ``schema.cast("Tau", ...)``.

Example:
    A Z -> tautau event (without pileup) with two hadronic taus, one-prong + pi0 (decay
    mode 1) and three-prong (10): both are reconstructed, genuine (``genPartFlav`` 5),
    linked to their ``GenVisTau`` and to a jet.

    >>> from flashsim_coffea.reference.genlevel import gen_collections
    >>> from flashsim_coffea.reference.jets import reconstruct_jets
    >>> from flashsim_coffea.reference.pileup import simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=23))
    >>> gen = gen_collections(truth)
    >>> pu = simulate_pileup(np.zeros(2, np.int64), np.random.default_rng(0))  # no pileup
    >>> jets = reconstruct_jets(truth, pu, gen["GenJet"], np.full(2, 4.0), np.random.default_rng(1))
    >>> gen["GenVisTau"].pt, gen["GenVisTau"].status.tolist()
    (<Array [[61.8, 19.9], []] type='2 * var * float32'>, [[1, 10], []])
    >>> tau = reconstruct_taus(truth, gen["GenVisTau"], jets, np.random.default_rng(2))
    >>> tau.pt
    <Array [[63.1, 19.3], []] type='2 * var * float32'>
    >>> tau.decayMode.tolist(), tau.genPartFlav.tolist(), tau.genPartIdx.tolist(), tau.jetIdx.tolist()
    ([[1, 10], []], [[5, 5], []], [[0, 1], []], [[0, 2], []])
    >>> tau.idDeepTau2018v2p5VSjet.tolist()  # working points passed, of 8
    [[8, 7], []]

References:
    CMS, "Performance of reconstruction and identification of tau leptons decaying to
    hadrons and nu_tau in pp collisions at sqrt(s) = 13 TeV", JINST 13 (2018) P10005,
    arXiv:1809.02816; CMS, "Identification of hadronic tau lepton decays using a deep
    neural network", JINST 17 (2022) P07023, arXiv:2201.08458.
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np
from scipy.special import ndtr

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.nanoaod.derived import WP_VSJET
from flashsim_coffea.nanoaod.status_flags import BITS
from flashsim_coffea.reference import genlevel

#: statusFlags of a prompt lepton or a direct decay product of a prompt tau (fake-tau veto)
_PROMPT_OR_PROMPT_TAU = (1 << BITS["isPrompt"]) | (1 << BITS["isDirectPromptTauDecayProduct"])

PARAMS: dict = {
    "pt_min": 18.0,  # NanoAOD Tau pt > 18 [notes section 10, nTau doc]
    "eta_max": 2.3,  # CMS tau_h acceptance (tracker, HPS) [mem, TAU-16-003]
    # HPS decay-mode-finding plateau per gen decay mode [mem: CMS TAU-16-003, JINST 13 (2018) P10005];
    # the mode-averaged plateau 0.75 x Medium (0.80 relative) = 0.60 = Delphes tau-tag efficiency [card]
    "plateau": {0: 0.85, 1: 0.80, 2: 0.75, 10: 0.72, 11: 0.62, 15: 0.40},
    "turnon_pt50": 15.0,  # GeV, visible pT at half plateau [design]
    "turnon_width": 5.0,  # GeV, logistic width [design]
    # visible-pT response: Gaussian core width per reco DM [notes section 12: N(1, 0.05-0.1), mem]
    "resp_sigma": {0: 0.05, 1: 0.08, 2: 0.09, 10: 0.05, 11: 0.08},
    "resp_tail_prob": 0.15,  # fraction with a low tail (lost neutrals / tracks) [design]
    "resp_tail_mean": 0.10,  # mean of the exponential tail (relative) [design]
    "resp_core_activity": 0.5,  # fraction of non-tau truth pT in dR<0.1 added to the tau [design]
    "lost_pi0_scale": 0.93,  # response when a gen pi0 is not reconstructed [design]
    "pos_sigma": 0.004,  # eta / phi resolution [design, HPS signal cone constituents]
    "charge_flip": {1: 0.005, 3: 0.02},  # 1-prong / 3-prong [mem: TAU-16-003, ~1% overall]
    "m_pi": 0.13957,  # GeV, DM0 mass = charged pion [PDG]
    "mass_sigma": 0.08,  # relative smearing of the visible mass [design]
    # track impact-parameter resolution sigma = a + b / pT (um) [arXiv 1405.6569: d0 25-90 um at
    # 1-10 GeV, 10 um at 100 GeV; z0 45-150 um, 30 um]
    "d0_res": (10.0, 80.0),
    "z0_res": (30.0, 120.0),
    "iso_dr": 0.5,  # DeepTau isolation region [mem, arXiv 2201.08458]
    "core_dr": 0.1,  # HPS signal cone max (3/pT clipped to 0.05-0.1) [mem]
    "iso_beta": 1.5,  # score shift -beta x (iso_rel - iso_ref), latent Gaussian units [design]
    "iso_ref": 0.1,  # typical iso_rel of Z -> tau tau taus (median 0.095 measured here) [design]
    # jet fakes (NanoAOD VVVLoose-level, before the pT > 18 cut on the tau) [notes section 10/12: Delphes 1%
    # mistag at analysis WP; design: 3-6% of light-quark jets at VVVLoose]
    "fake_jet_pt_min": 20.0,
    "fake_rate": {"quark": 0.06, "gluon": 0.03, "c": 0.04, "b": 0.025},
    "fake_pt_slope": -0.3,  # rate x (pT/30)^slope [design]
    "fake_zlead_ref": 0.25,  # rate x clip(z_lead / ref, 0.1, 3), z_lead = leading charged pT / jet pT [design]
    "fake_zlead_gamma": 1.5,  # score shift gamma x (z_lead - score_ref) [design]
    "fake_score_zref": 0.35,  # [design: tuned so that ~10% of stored fakes pass Medium]
    "fake_veto_dr": 0.4,  # jets near a GenVisTau or prompt e/mu do not make jet fakes
    "fake_lep_pt": 10.0,  # prompt e/mu veto threshold (GeV)
    "fake_resp_sigma": 0.08,  # fake pT = core truth pT x N(1, sigma) [design]
    "fake_pos_sigma": 0.02,  # fake axis vs jet axis [design]
    "jet_dr": 0.4,  # Tau_jetIdx matching cone
    "mantissa_bits": {"eta": 12, "phi": 12, "mass": 10, "dxy": 10, "dz": 14, "rawDeepTau2018v2p5VSjet": 10},
}

#: Quantile tables (score, CDF) of the raw VSjet score. Genuine: CDF at the WPs = 1 - target
#: efficiency 98, 95, 90, 85, 80, 70, 60, 50% [notes section 10, TAU-20-001]. Fakes (given a
#: DMF candidate passing VVVLoose): ~7% pass Medium, ~2% VVTight [design; v2.5 jet misID ~1e-3
#: at Medium vs few 1e-2 at VVVLoose, arXiv 2201.08458 / CMS-PAS-TAU-24-001].
SCORE_CDF = {
    "genuine": (np.r_[0.0, WP_VSJET, 1.0], np.r_[0.0, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 1.0]),
    "fake": (np.r_[0.0, WP_VSJET, 1.0], np.r_[0.0, 0.0, 0.45, 0.70, 0.85, 0.93, 0.955, 0.97, 0.98, 1.0]),
}

#: Reco decay-mode migration P(reco | gen) over (0, 1, 2, 10, 11) [mem: CMS TAU-16-003 fig. 8,
#: DeepTau arXiv 2201.08458; diagonal 65-90%, 1p1pi0 <-> 1p0pi0 ~ 10-15%]. Gen "other" (15)
#: is split by its number of charged hadrons (1 -> "15_1", 3 -> "15_3"; other prong counts are lost).
_DMS = np.array([0, 1, 2, 10, 11])
MIGRATION = {
    0: (0.88, 0.10, 0.01, 0.01, 0.00),
    1: (0.13, 0.75, 0.10, 0.01, 0.01),
    2: (0.04, 0.50, 0.44, 0.00, 0.02),
    10: (0.03, 0.02, 0.00, 0.85, 0.10),
    11: (0.00, 0.05, 0.00, 0.30, 0.65),
    "15_1": (0.20, 0.50, 0.30, 0.00, 0.00),
    "15_3": (0.00, 0.00, 0.00, 0.40, 0.60),
}
#: Fake decay modes by the number of charged hadrons (pT > 1 GeV) in the jet core [design]
FAKE_DM = {1: (0.45, 0.45, 0.10, 0.00, 0.00), 2: (0.30, 0.40, 0.05, 0.20, 0.05), 3: (0.00, 0.15, 0.00, 0.55, 0.30)}
#: Mass templates (mean, sigma, min, max; GeV) per reco DM where no visible mass is known (fakes)
#: [design; PDG rho(770), a1(1260) seen through HPS]
_MASS = {
    1: (0.80, 0.20, 0.30, 1.50),
    2: (0.80, 0.20, 0.30, 1.50),
    10: (1.10, 0.20, 0.80, 1.60),
    11: (1.10, 0.20, 0.80, 1.60),
}


# ---------------------------------------------------------------- numba kernels


@numba.njit(cache=True)
def _cones(obj_off, oeta, ophi, otau, p_off, peta, pphi, ppt, pch, pvis, ptau, core_dr, iso_dr):
    """Per object: truth sums around its axis, skipping particles of its own tau.

    Only particles with ``pvis`` count. Returns core_pt (pT sum within core_dr),
    iso_pt (pT sum within iso_dr), n_ch_core (charged, pT > 1 GeV, within core_dr),
    lead (flat particle index of the hardest charged particle within core_dr, -1),
    q_core (charge sum of charged particles pT > 1 within core_dr).
    """
    n = oeta.shape[0]
    core = np.zeros(n)
    iso = np.zeros(n)
    nch = np.zeros(n, np.int64)
    lead = np.full(n, -1, np.int64)
    qc = np.zeros(n)
    for ev in range(obj_off.shape[0] - 1):
        for o in range(obj_off[ev], obj_off[ev + 1]):
            best = 0.0
            for k in range(p_off[ev], p_off[ev + 1]):
                if not pvis[k] or (otau[o] >= 0 and ptau[k] == otau[o]):
                    continue
                dphi = abs(pphi[k] - ophi[o])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dr2 = (peta[k] - oeta[o]) ** 2 + dphi**2
                if dr2 < iso_dr * iso_dr:
                    iso[o] += ppt[k]
                if dr2 < core_dr * core_dr:
                    core[o] += ppt[k]
                    if pch[k] != 0 and ppt[k] > 1.0:
                        nch[o] += 1
                        qc[o] += pch[k]
                        if ppt[k] > best:
                            best = ppt[k]
                            lead[o] = k
    return core, iso, nch, lead, qc


@numba.njit(cache=True)
def _closest(a_off, aeta, aphi, b_off, beta, bphi, dr_max):
    """Per object of ``a``: local index of the closest ``b`` of its event within dr_max, else -1."""
    out = np.full(aeta.shape[0], -1, np.int64)
    for ev in range(a_off.shape[0] - 1):
        for i in range(a_off[ev], a_off[ev + 1]):
            best = dr_max * dr_max
            for j in range(b_off[ev], b_off[ev + 1]):
                dphi = abs(bphi[j] - aphi[i])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dr2 = (beta[j] - aeta[i]) ** 2 + dphi**2
                if dr2 < best:
                    best = dr2
                    out[i] = j - b_off[ev]
    return out


# ---------------------------------------------------------------- helpers


def _offsets(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])


def _flat(a: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a[field]))


def _choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1): index of the chosen column."""
    c = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * c[:, -1:]
    return np.minimum((u > c).sum(axis=1), probs.shape[1] - 1)


def _score(rng: np.random.Generator, kind: str, shift: np.ndarray) -> np.ndarray:
    """Raw VSjet score: quantile table of ``kind`` at u = Phi(N(0,1) + shift)."""
    x, cdf = SCORE_CDF[kind]
    u = ndtr(rng.standard_normal(len(shift)) + shift)
    return np.interp(u, cdf, x)


def _ip(rng: np.random.Generator, idx: np.ndarray, part: dict) -> tuple[np.ndarray, np.ndarray]:
    """(dxy, dz) in cm of the charged particle ``idx`` (flat, -1 = none) w.r.t. (0, 0, 0), smeared."""
    ok = idx >= 0
    i = np.maximum(idx, 0)
    vx, vy, vz = part["vx"][i], part["vy"][i], part["vz"][i]  # mm
    px, py, pz = part["px"][i], part["py"][i], part["pz"][i]
    pt = np.maximum(np.hypot(px, py), 1e-6)
    dxy = np.where(ok, (-vx * py + vy * px) / pt, 0.0)
    dz = np.where(ok, vz - (vx * px + vy * py) / pt * pz / pt, 0.0)
    lead_pt = np.where(ok, pt, 5.0)
    a, b = PARAMS["d0_res"]
    az, bz = PARAMS["z0_res"]
    n = len(idx)
    dxy = dxy + rng.standard_normal(n) * (a + b / lead_pt) * 1e-3  # um -> mm
    dz = dz + rng.standard_normal(n) * (az + bz / lead_pt) * 1e-3
    return dxy / 10.0, dz / 10.0  # mm -> cm


def _mass(rng: np.random.Generator, dm: np.ndarray, m_vis: np.ndarray | None) -> np.ndarray:
    """HPS-like mass: m_pi for DM0, smeared visible mass (genuine) or a template (fakes)."""
    n = len(dm)
    out = np.full(n, PARAMS["m_pi"])
    for mode, (mu, sig, lo, hi) in _MASS.items():
        sel = dm == mode
        out[sel] = np.clip(rng.normal(mu, sig, sel.sum()), lo, hi)
    if m_vis is not None:
        use = (dm != 0) & (m_vis > PARAMS["m_pi"])
        smeared = m_vis * (1 + PARAMS["mass_sigma"] * rng.standard_normal(n))
        out = np.where(use, np.maximum(smeared, PARAMS["m_pi"]), out)
    return out


# ---------------------------------------------------------------- main


def reconstruct_taus(truth: ak.Array, genvistau: ak.Array, jets: ak.Array, rng: np.random.Generator) -> ak.Array:
    """NanoAOD ``Tau`` collection (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        genvistau: the final (pT-ordered) ``GenVisTau`` collection (:func:`.genlevel.gen_collections`).
        jets: the final reco ``Jet`` collection (pT-ordered).
        rng: the stage's random generator.

    Returns:
        The jagged ``Tau`` records, pT-descending, cast to NanoAOD v12 dtypes. Example in
        the module docstring.
    """
    P = PARAMS
    n_ev = len(truth)
    p = truth.particles
    p_counts = np.asarray(ak.num(p), dtype=np.int64)
    p_off = _offsets(p_counts)
    part = {k: _flat(p, k) for k in ("pt", "eta", "phi", "px", "py", "pz", "vx", "vy", "vz", "charge", "pdgId",
                                     "tauIdx", "statusFlags")}
    apid = np.abs(part["pdgId"])
    pvis = ~((apid == 12) | (apid == 14) | (apid == 16))
    pch = part["charge"].astype(np.float64)
    ptau = part["tauIdx"].astype(np.int64)

    # ---- genuine taus
    g_counts = np.asarray(ak.num(genvistau), dtype=np.int64)
    g_off = _offsets(g_counts)
    g_evt = np.repeat(np.arange(n_ev), g_counts)
    g_local = np.arange(len(g_evt)) - g_off[g_evt]
    g = {k: _flat(genvistau, k).astype(np.float64) for k in ("pt", "eta", "phi", "mass", "charge")}
    g_status = _flat(genvistau, "status").astype(np.int64)
    g_mother = _flat(genvistau, "genPartIdxMother").astype(np.int64)
    # the decay record of each GenVisTau (prong count for "other", leading charged track)
    d = genlevel.tau_decays(truth)
    m = int(max(d["genPartIdx"].max(initial=0), g_mother.max(initial=0))) + 1
    dkey = d["event"] * m + d["genPartIdx"]
    row = np.searchsorted(dkey, g_evt * m + g_mother)
    row = np.minimum(row, max(len(dkey) - 1, 0))
    n_ch = d["n_charged"][row] if len(dkey) else np.zeros(0, np.int64)
    lead = d["lead"][row] if len(dkey) else np.zeros(0, np.int64)
    _, g_iso, _, _, _ = _cones(g_off, g["eta"], g["phi"], g_mother, p_off, part["eta"], part["phi"], part["pt"],
                               pch, pvis, ptau, P["core_dr"], P["iso_dr"])
    g_core, _, _, _, _ = _cones(g_off, g["eta"], g["phi"], g_mother, p_off, part["eta"], part["phi"], part["pt"],
                                pch * 0, pvis & (pch == 0), ptau, P["core_dr"], P["core_dr"])

    ng = len(g_evt)
    plateau = np.array([P["plateau"].get(s, 0.0) for s in range(16)])[np.minimum(g_status, 15)]
    plateau = np.where((g_status == 15) & (n_ch != 1) & (n_ch != 3), 0.0, plateau)
    turnon = 1.0 / (1.0 + np.exp(-(g["pt"] - P["turnon_pt50"]) / P["turnon_width"]))
    found = rng.random(ng) < plateau * turnon
    mig_keys = [0, 1, 2, 10, 11]
    probs = np.zeros((ng, 5))
    for k in mig_keys:
        probs[g_status == k] = MIGRATION[k]
    probs[(g_status == 15) & (n_ch == 1)] = MIGRATION["15_1"]
    probs[(g_status == 15) & (n_ch != 1)] = MIGRATION["15_3"]
    dm = _DMS[_choice(rng, probs)]
    sigma = np.select([dm == k for k in mig_keys], [P["resp_sigma"][k] for k in mig_keys])
    tail = np.where(rng.random(ng) < P["resp_tail_prob"], rng.exponential(P["resp_tail_mean"], ng), 0.0)
    resp = 1.0 + sigma * rng.standard_normal(ng) - tail
    lost_pi0 = ((g_status == 1) | (g_status == 2) | (g_status == 11)) & ((dm == 0) | (dm == 10))
    resp = np.where(lost_pi0, resp * P["lost_pi0_scale"], resp)
    gt_pt = np.maximum(g["pt"] * resp + P["resp_core_activity"] * g_core, 0.1)
    gt_eta = g["eta"] + P["pos_sigma"] * rng.standard_normal(ng)
    gt_phi = g["phi"] + P["pos_sigma"] * rng.standard_normal(ng)
    prongs = np.where(dm >= 10, 3, 1)
    flip = rng.random(ng) < np.where(prongs == 3, P["charge_flip"][3], P["charge_flip"][1])
    gt_q = np.where(flip, -g["charge"], g["charge"])
    gt_q = np.where(gt_q == 0, np.where(rng.random(ng) < 0.5, 1, -1), np.sign(gt_q))
    gt_mass = _mass(rng, dm, g["mass"])
    gt_raw = _score(rng, "genuine", -P["iso_beta"] * (g_iso / np.maximum(g["pt"], 1.0) - P["iso_ref"]))
    gt_dxy, gt_dz = _ip(rng, lead, part)

    # ---- jet fakes
    j_counts = np.asarray(ak.num(jets), dtype=np.int64)
    j_off = _offsets(j_counts)
    j_evt = np.repeat(np.arange(n_ev), j_counts)
    j = {k: _flat(jets, k).astype(np.float64) for k in ("pt", "eta", "phi")}
    j_hf = _flat(jets, "hadronFlavour").astype(np.int64)
    j_pf = np.abs(_flat(jets, "partonFlavour").astype(np.int64))
    nj = len(j_evt)
    no_tau = np.full(nj, -2, np.int64)
    j_core, _, j_nch, j_lead, j_q = _cones(j_off, j["eta"], j["phi"], no_tau, p_off, part["eta"], part["phi"],
                                           part["pt"], pch, pvis & ((pch != 0) | (apid == 22)), ptau,
                                           P["core_dr"], P["core_dr"])
    lead_pt = np.where(j_lead >= 0, part["pt"][np.maximum(j_lead, 0)], 0.0)
    z_lead = lead_pt / np.maximum(j["pt"], 1.0)
    # vetoes: GenVisTau and prompt (or prompt-tau) e/mu near the jet
    veto = _closest(j_off, j["eta"], j["phi"], g_off, g["eta"], g["phi"], P["fake_veto_dr"]) >= 0
    flags = part["statusFlags"].astype(np.int64)
    lep = ((apid == 11) | (apid == 13)) & ((flags & _PROMPT_OR_PROMPT_TAU) != 0) & (part["pt"] > P["fake_lep_pt"])
    l_counts = np.bincount(np.repeat(np.arange(n_ev), p_counts)[lep], minlength=n_ev)
    veto |= _closest(j_off, j["eta"], j["phi"], _offsets(l_counts), part["eta"][lep], part["phi"][lep],
                     P["fake_veto_dr"]) >= 0
    rate = np.select(
        [j_hf == 5, j_hf == 4, (j_pf == 21) | (j_pf == 0)],
        [P["fake_rate"]["b"], P["fake_rate"]["c"], P["fake_rate"]["gluon"]],
        P["fake_rate"]["quark"],
    )
    rate = rate * (j["pt"] / 30.0) ** P["fake_pt_slope"] * np.clip(z_lead / P["fake_zlead_ref"], 0.1, 3.0)
    cand = (j["pt"] > P["fake_jet_pt_min"]) & (np.abs(j["eta"]) < P["eta_max"]) & ~veto & (j_nch > 0)
    fake = cand & (rng.random(nj) < np.minimum(rate, 0.5))
    fprobs = np.array([FAKE_DM[1], FAKE_DM[1], FAKE_DM[2], FAKE_DM[3]])[np.clip(j_nch, 0, 3)]
    f_dm = _DMS[_choice(rng, fprobs)]
    f_pt = j_core * (1.0 + P["fake_resp_sigma"] * rng.standard_normal(nj))
    f_eta = j["eta"] + P["fake_pos_sigma"] * rng.standard_normal(nj)
    f_phi = j["phi"] + P["fake_pos_sigma"] * rng.standard_normal(nj)
    f_q = np.where(j_q != 0, np.sign(j_q), np.where(rng.random(nj) < 0.5, 1.0, -1.0))
    f_mass = _mass(rng, f_dm, None)
    f_raw = _score(rng, "fake", P["fake_zlead_gamma"] * (z_lead - P["fake_score_zref"]))
    f_dxy, f_dz = _ip(rng, j_lead, part)

    # ---- merge, select, sort
    def cat(a, b):
        return np.concatenate([a[found], b[fake]])

    t = {
        "evt": cat(g_evt, j_evt),
        "pt": cat(gt_pt, f_pt),
        "eta": cat(gt_eta, f_eta),
        "phi": cat(gt_phi, f_phi),
        "mass": cat(gt_mass, f_mass),
        "charge": cat(gt_q, f_q),
        "dxy": cat(gt_dxy, f_dxy),
        "dz": cat(gt_dz, f_dz),
        "decayMode": cat(dm, f_dm),
        "rawDeepTau2018v2p5VSjet": cat(gt_raw, f_raw),
        "genPartIdx": cat(g_local, np.full(nj, -1)),
        "genPartFlav": cat(np.full(ng, 5), np.zeros(nj, np.int64)),
    }
    t["phi"] = np.arctan2(np.sin(t["phi"]), np.cos(t["phi"]))
    for f, bits in P["mantissa_bits"].items():
        t[f] = genlevel.round_mantissa(t[f], bits)
    t["idDeepTau2018v2p5VSjet"] = np.searchsorted(WP_VSJET, t["rawDeepTau2018v2p5VSjet"], side="right")
    keep = (t["pt"] > P["pt_min"]) & (np.abs(t["eta"]) < P["eta_max"]) & (t["idDeepTau2018v2p5VSjet"] >= 1)
    t = {k: v[keep] for k, v in t.items()}
    order = np.lexsort((-t["pt"], t["evt"]))
    t = {k: v[order] for k, v in t.items()}
    counts = np.bincount(t.pop("evt"), minlength=n_ev)
    t_off = _offsets(counts)
    t["jetIdx"] = _closest(t_off, t["eta"], t["phi"], j_off, j["eta"], j["phi"], P["jet_dr"])
    t["idDecayModeNewDMs"] = np.ones(len(t["pt"]), bool)
    return ak.to_packed(schema.cast("Tau", ak.unflatten(ak.zip(t, depth_limit=1), counts)))
