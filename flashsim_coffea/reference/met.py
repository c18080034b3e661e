"""Type-1 PF missing transverse momentum of the reference detector (NanoAOD ``MET_*``).

Raw PF MET = -(vector sum of *all* PF candidates, PU tracks included, as CMS PF MET);
``MET_sumEt`` = their scalar pT sum. Type-1: every jet with corrected pT > 15 GeV and EM
fraction < 0.9 replaces its L1-corrected constituent sum by its fully corrected momentum
(so leptons and photons enter once, through their PF candidates: no double counting with
the ``Muon``/``Electron``/``Photon`` objects). The unclustered part (candidates not in
such jets) gets an extra Gaussian smearing a sqrt(sumEt_uncl) per component (PF confusion,
calorimeter noise, unmodelled response), tuned so that the ttbar resolution per component
vs GenMET is ~30 GeV at <sumEt> ~2100 ([meas] 29.7 GeV at 2167, notes section 9).

Covariance (MET significance method, arXiv:1903.06078 [abs]): jets pT > 15 contribute their
JER along and their angular resolution across their direction; the unclustered part
b^2 sumEt_uncl on the diagonal. ``MET_significance = MET^T C^-1 MET``.

The other MET flavours of NanoAOD v12 come from the same PF candidates and the same unclustered
smearing (its two normal draws, scaled by the square root of each flavour's unclustered scalar sum):

* ``RawMET``: before Type-1 (-sum of all PF candidates); ``ChsMET``: without the charged PU
  candidates CHS removes; ``MET_sumPtUnclustered``: the unclustered scalar sum the covariance uses;
  ``MET_MetUnclustEnUpDeltaX/Y``: the MET shift when every unclustered candidate (PF leptons aside)
  moves up by its CMS energy uncertainty (charged: tracker; photons: ECAL; neutral hadrons: HCAL;
  HF), the ``ShiftedParticleProducer`` formulas of CMSSW ``runMETCorrectionsAndUncertainties``;
* ``PuppiMET`` / ``RawPuppiMET``: PUPPI (arXiv:1407.6013; CMS JINST 15 (2020) P09018) weights of the
  PF candidates as CMSSW ``PuppiProducer`` computes them (Run-3 tune): charged candidates 1 (PV) or
  0 (PU), neutrals from alpha = log sum (pT_j / dR_ij)^2 over the charged PV candidates (abs(eta)
  < 3.5) or all candidates (beyond), compared with the median / RMS of the charged-PU alphas; then
  the neutral pT cut A + B nPV and the high-pT neutral protection. Type-1: PUPPI jets (the PF jets'
  constituents weighted, same detector factor) with the MC-truth L2L3 response, no L1.
  ``ptJESUp/Down``: Type-1 jets moved by their JES uncertainty; ``ptJERUp/Down``: GenJet-matched jets'
  mismeasurement scaled by 1 +- dSF, unmatched ones smeared (up only); ``ptUnclusteredUp/Down``:
  the unclustered PUPPI candidates moved by their energy uncertainty.
* ``MET_fiducialGenPt/Phi``: Rivet ``MissingMomentum`` of the CMSSW ParticleLevelProducer:
  -(vector sum of the visible final-state particles with abs(eta) < 5).

Example:
    Two Drell-Yan events with 20 PU interactions each (no neutrinos: GenMET is 0, so the
    MET is all resolution):

    >>> from flashsim_coffea.reference.pileup import simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> pu = simulate_pileup(np.array([20, 20]), np.random.default_rng(1))
    >>> met = reconstruct_met(truth, pu, {}, np.random.default_rng(2), rho=np.array([16.8, 13.9]))
    >>> sorted(k for k in met if k.startswith("MET_"))  # doctest: +NORMALIZE_WHITESPACE
    ['MET_MetUnclustEnUpDeltaX', 'MET_MetUnclustEnUpDeltaY', 'MET_covXX', 'MET_covXY', 'MET_covYY',
     'MET_fiducialGenPhi', 'MET_fiducialGenPt', 'MET_phi', 'MET_pt', 'MET_significance', 'MET_sumEt',
     'MET_sumPtUnclustered']
    >>> met["MET_pt"], met["MET_sumEt"]
    (array([36.096455, 45.66456 ], dtype=float32), array([1207.8561, 1096.5312], dtype=float32))

    PUPPI removes most of the pileup's scalar sum:

    >>> met["PuppiMET_sumEt"], met["ChsMET_sumEt"]
    (array([357.19684, 193.9089 ], dtype=float32), array([1009.2623 ,  814.55975], dtype=float32))

References:
    CMS, "Performance of missing transverse momentum reconstruction in proton-proton
    collisions at sqrt(s) = 13 TeV using the CMS detector", JINST 14 (2019) P07004,
    arXiv:1903.06078.
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

PARAMS: dict = {
    "jet_ptmin": 15.0,  # Type-1 jets [CMS]
    "jet_emf_max": 0.9,  # Type-1 jets [CMS]
    # extra unclustered smearing per component: a * sqrt(sumEt_uncl) [derived, tuned to
    # 29.7 GeV resolution at sumEt 2167 in ttbar, notes section 9]
    "uncl_a": 0.36,
    # covariance: unclustered b^2 sumEt_uncl [derived: <covXX> ~1080 at sumEt 2167, meas]
    "cov_uncl_b": 0.62,
    "jet_phi_res": 0.05,  # rad x pT, angular jet resolution [mem]
    # ---- fiducial GenMET (CMSSW GeneratorInterface/RivetInterface particleLevel: particleMaxEta 5) [code]
    "fiducial_eta_max": 5.0,
    # ---- PUPPI (CMSSW CommonTools/PileupAlgos Puppi_cff, Run-3 tune) [code]: cone, alpha = log sum
    # (pT/dR)^2 for dR in (0.01, 0.4); median/RMS from charged PU with abs(eta) < 2.0 and pT > rmsPtMin;
    # regions abs(eta) < 2.5 / 2.5-3.5 (charged-PV neighbours) / > 3.5 (all neighbours, median x 0.75)
    "puppi_cone": 0.4,
    "puppi_eta_extrap": 2.0,
    "puppi_rms_ptmin": (0.1, 0.5),  # central, forward algorithm
    "puppi_eta_edges": (2.5, 3.5),
    "puppi_med_sf_forward": 0.75,
    "puppi_neutral_ptmin": (0.2, 0.2, 2.0),  # A of the neutral cut w pT > A + B nPV, per region
    "puppi_neutral_slope": (0.015, 0.030, 0.08),  # B
    "puppi_ptmax_neutral": (20.0, 200.0),  # high-pT neutral protection: w >= (pT - 20) / 180
    "puppi_min_weight": 0.01,
    # ---- PUPPI MET variations
    # JES uncertainty of AK4 PUPPI jets, sqrt(c^2 + (n/pT)^2) x (1 + f for abs(eta) > 2.5): ~1% above
    # 100 GeV, ~4% at 20 GeV central (CMS JES, JINST 12 (2017) P02014 [mem]), 5x beyond the tracker; c, n, f
    # tuned to the median / 90% shifts of nano_tt_v12 PuppiMET_ptJES* - PuppiMET_pt (2.7 / 7.8 GeV) [derived]
    "jes_unc_c": 0.008,
    "jes_unc_n": 0.7,
    "jes_unc_forward": 4.0,
    # JER scale-factor variation dSF (matched jets: pT_gen + (1 +- dSF)(pT - pT_gen)); unmatched jets get
    # sqrt((1 + dSF)^2 - 1) x JER extra smearing for Up [derived: nano_tt_v12 PuppiMET_ptJER* - PuppiMET_pt]
    "jer_dsf": (0.15, 0.20, 0.25, 0.25),  # abs(eta) < 1.3, 2.5, 3.0, beyond
    "jer_match_nsigma": 3.0,  # matched: abs(pT - pT_gen) < 3 sigma_JER pT [CMS JER hybrid method]
}

def _jer(pt: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """Relative jet pT resolution used in the covariance: UL18 CHS-like [jrdb], notes section 7."""
    s = np.where(aeta < 1.3, 0.85, np.where(aeta < 2.5, 1.3, 1.0))
    return np.sqrt((s / np.sqrt(np.maximum(pt, 1.0))) ** 2 + 0.045**2 + (2.0 / np.maximum(pt, 1.0)) ** 2)


def reconstruct_met(
    truth: ak.Array,
    pu: ak.Array,
    objects: dict,
    rng: np.random.Generator,
    *,
    jet_extras: dict | None = None,
    rho: np.ndarray | None = None,
    genjets: ak.Array | None = None,
    n_pv: np.ndarray | None = None,
    rng_extra: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """MET_pt, MET_phi, MET_sumEt, MET_significance, MET_covXX/XY/YY and the other MET flavours
    (float32 arrays; module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`).
        objects: the reco collections (``Jet``, ``Muon``, ``Electron``, ``Photon``); not
            read: leptons and photons enter through their PF candidates.
        rng: the stage's random generator.
        jet_extras: the second return value of ``jets.reconstruct_jets(..., return_extras=True)``
            (same PF candidates as the jets). Without it the PF candidates and jets are
            rebuilt, with independent random draws.
        rho: ``Rho_fixedGridRhoFastjetAll`` for the rebuilt jets (else recomputed from
            ``pu`` and ``truth``); unused with ``jet_extras``.
        genjets: the ``GenJet`` collection (JER variations of PUPPI MET; None: all jets unmatched).
        n_pv: ``PV_npvsGood`` per event (PUPPI neutral cut; None: ``ak.num(pu)`` scaled like PV counting).
        rng_extra: random generator for the JER variations (None: ``rng``, after its own draws).

    Returns:
        Event-level float32 arrays by NanoAOD branch name. Example in the module docstring.
    """
    n_ev = len(truth)
    if jet_extras is None:
        from flashsim_coffea.reference import jets as _jets
        from flashsim_coffea.reference import pileup as _pileup

        if rho is None:
            n_pu = np.asarray(ak.num(pu)) * 0
            rho = _pileup.event_quantities(n_pu, n_pu, pu, rng, truth=truth)["Rho_fixedGridRhoFastjetAll"]
        _, jet_extras = _jets.reconstruct_jets(truth, pu, None, rho, rng, return_extras=True)
    f = jet_extras["pf"]
    counts = jet_extras["pf_counts"]
    cevt = np.repeat(np.arange(n_ev), counts)
    mex = -np.bincount(cevt, f["px"], n_ev)
    mey = -np.bincount(cevt, f["py"], n_ev)
    sumet = np.bincount(cevt, f["pt"], n_ev)

    aj = jet_extras["all_jets"]
    t1 = (aj["pt"] > PARAMS["jet_ptmin"]) & (aj["em_frac"] < PARAMS["jet_emf_max"])
    jevt = aj["evt"][t1]
    # corrected minus (constituents - L1 offset); offset = pt_raw - pt_l1
    delta = aj["pt"][t1] - aj["pt_const"][t1] + (aj["pt_raw"][t1] - aj["pt_l1"][t1])
    cphi, sphi = np.cos(aj["phi"][t1]), np.sin(aj["phi"][t1])
    mex -= np.bincount(jevt, delta * cphi, n_ev)
    mey -= np.bincount(jevt, delta * sphi, n_ev)

    # unclustered: candidates outside Type-1 jets
    t1_ids = np.flatnonzero(t1)
    in_jet = np.isin(jet_extras["cand_jet"], t1_ids)
    sumet_uncl = np.bincount(cevt[~in_jet], f["pt"][~in_jet], n_ev)
    su = PARAMS["uncl_a"] * np.sqrt(sumet_uncl)
    zx = rng.standard_normal(n_ev)
    mex += su * zx
    zy = rng.standard_normal(n_ev)
    mey += su * zy

    # covariance
    jpt = aj["pt"][t1]
    sl = _jer(jpt, np.abs(aj["eta"][t1])) * jpt
    sp = PARAMS["jet_phi_res"] * jpt
    cxx = np.bincount(jevt, sl**2 * cphi**2 + sp**2 * sphi**2, n_ev)
    cyy = np.bincount(jevt, sl**2 * sphi**2 + sp**2 * cphi**2, n_ev)
    cxy = np.bincount(jevt, (sl**2 - sp**2) * cphi * sphi, n_ev)
    cu = PARAMS["cov_uncl_b"] ** 2 * sumet_uncl
    cxx += cu
    cyy += cu
    det = cxx * cyy - cxy**2
    sig = (mex**2 * cyy - 2 * mex * mey * cxy + mey**2 * cxx) / np.maximum(det, 1e-9)
    f32 = np.float32
    out = {
        "MET_pt": np.hypot(mex, mey).astype(f32),
        "MET_phi": np.arctan2(mey, mex).astype(f32),
        "MET_sumEt": sumet.astype(f32),
        "MET_significance": sig.astype(f32),
        "MET_covXX": cxx.astype(f32),
        "MET_covXY": cxy.astype(f32),
        "MET_covYY": cyy.astype(f32),
    }
    if n_pv is None:
        from flashsim_coffea.reference import pileup as _pileup

        n_pv = _pileup.PARAMS["vtx_eff"] * _interactions(pu) + _pileup.PARAMS["vtx_fake_mean"]
    ctx = {"cevt": cevt, "in_t1": in_jet, "sumet_uncl": sumet_uncl, "zx": zx, "zy": zy, "n_ev": n_ev}
    if objects.get("Jet") is not None and "genJetIdx" in objects["Jet"].fields:
        ctx["genJetIdx"] = ak.to_numpy(ak.flatten(objects["Jet"].genJetIdx)).astype(np.int64)
    out.update(_flavours(truth, f, counts, aj, jet_extras["cand_jet"], ctx, genjets, np.asarray(n_pv), rng_extra or rng))
    return out


def _interactions(pu: ak.Array) -> np.ndarray:
    """Number of PU interactions per event (distinct PU vertex positions)."""
    vz = ak.to_numpy(ak.flatten(pu.vz))
    evt = np.repeat(np.arange(len(pu)), np.asarray(ak.num(pu)))
    pairs = np.unique(np.stack([evt.astype(np.float64), vz]), axis=1)
    return np.bincount(pairs[0].astype(np.int64), minlength=len(pu)).astype(np.float64)


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32)


def energy_uncertainty(f: dict[str, np.ndarray]) -> np.ndarray:
    """Relative energy uncertainty of PF candidates for the unclustered-energy MET variation.

    CMSSW ``runMETCorrectionsAndUncertainties`` (``ShiftedParticleProducer`` binning): charged
    sqrt((9e-5 pT)^2 + (0.0085/sqrt(sin theta))^2); photons sqrt(0.0009/E + 1e-6); neutral hadrons
    min(0.25, sqrt(0.64/E + 0.0025)) (abs(eta) < 1.3) else min(0.30, sqrt(1/E + 0.0016)); HF
    sqrt(1/E + 0.0025).

    Example:
        >>> f = {"pt": np.array([10.0, 10.0, 10.0, 10.0]), "eta": np.zeros(4), "energy": np.full(4, 10.0),
        ...      "charge": np.array([1.0, 0, 0, 0]), "pdgId": np.array([211, 22, 130, 1])}
        >>> energy_uncertainty(f).round(4)
        array([0.0085, 0.0095, 0.25  , 0.3202])
    """
    e = np.maximum(f["energy"], 1e-3)
    apid = np.abs(f["pdgId"])
    sin_t = 1.0 / np.cosh(f["eta"])
    charged = np.sqrt((9e-5 * f["pt"]) ** 2 + (0.0085 / np.sqrt(sin_t)) ** 2)
    photon = np.sqrt(0.0009 / e + 1e-6)
    nh = np.where(
        np.abs(f["eta"]) < 1.3, np.minimum(0.25, np.sqrt(0.64 / e + 0.0025)), np.minimum(0.30, np.sqrt(1.0 / e + 0.0016))
    )
    hf = np.sqrt(1.0 / e + 0.0025)
    return np.select([f["charge"] != 0, apid == 22, apid == 130, (apid == 1) | (apid == 2)], [charged, photon, nh, hf], 0.0)


@numba.njit(cache=True)
def _cell_lists(o0, m, eta, phi, use, radius, n_ec, n_pc):  # pragma: no cover - numba
    """Counting sort of the ``use`` candidates of one event into (eta, phi) cells of size >= radius."""
    w_pc = 2 * np.pi / n_pc
    cell = np.full(m, -1, np.int64)
    start = np.zeros(n_ec * n_pc + 1, np.int64)
    for k in range(m):
        ie = min(max(int((eta[o0 + k] + 5.0) / radius), 0), n_ec - 1)
        ip = min(max(int((phi[o0 + k] + np.pi) / w_pc), 0), n_pc - 1)
        cell[k] = ie * n_pc + ip
        if use[o0 + k]:
            start[cell[k] + 1] += 1
    for c in range(n_ec * n_pc):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(start[-1], np.int64)
    for k in range(m):
        if use[o0 + k]:
            order[fill[cell[k]]] = k
            fill[cell[k]] += 1
    return cell, start, order


@numba.njit(cache=True)
def _cone_sum(i, o0, ck, eta, phi, pt, start, order, radius, n_ec, n_pc):  # pragma: no cover - numba
    """sum (pT_j/dR)^2 over the listed candidates j != i with 0.01 < dR < radius."""
    r2 = radius * radius
    ie = ck // n_pc
    ip = ck % n_pc
    s = 0.0
    for de in range(-1, 2):
        je = ie + de
        if je < 0 or je >= n_ec:
            continue
        for dp in range(-1, 2):
            c = je * n_pc + (ip + dp) % n_pc
            for q in range(start[c], start[c + 1]):
                j = o0 + order[q]
                if j == i:
                    continue
                d_eta = eta[i] - eta[j]
                if abs(d_eta) >= radius:
                    continue
                d_phi = abs(phi[i] - phi[j])
                if d_phi > np.pi:
                    d_phi = 2 * np.pi - d_phi
                dr2 = d_eta * d_eta + d_phi * d_phi
                if dr2 < r2 and dr2 > 0.0001:
                    s += pt[j] * pt[j] / dr2
    return s


@numba.njit(cache=True)
def _puppi_alphas(offsets, eta, phi, pt, charged_pv, need_c, need_f, radius):  # pragma: no cover - numba
    """Per candidate, log sum (pT_j/dR)^2 over neighbours with 0.01 < dR < radius: among the charged
    PV candidates (first output, where ``need_c``) and among all candidates (second, where ``need_f``);
    0 without neighbours or where not needed."""
    n = len(eta)
    a_c = np.zeros(n)
    a_f = np.zeros(n)
    n_pc = int(2 * np.pi / radius)
    n_ec = int(10.0 / radius) + 2
    everyone = np.ones(n, np.bool_)
    for ev in range(len(offsets) - 1):
        o0 = offsets[ev]
        m = offsets[ev + 1] - o0
        cell, start_c, order_c = _cell_lists(o0, m, eta, phi, charged_pv, radius, n_ec, n_pc)
        _, start_a, order_a = _cell_lists(o0, m, eta, phi, everyone, radius, n_ec, n_pc)
        for k in range(m):
            i = o0 + k
            if need_c[i]:
                sc = _cone_sum(i, o0, cell[k], eta, phi, pt, start_c, order_c, radius, n_ec, n_pc)
                if sc > 0:
                    a_c[i] = np.log(sc)
            if need_f[i]:
                sf = _cone_sum(i, o0, cell[k], eta, phi, pt, start_a, order_a, radius, n_ec, n_pc)
                if sf > 0:
                    a_f[i] = np.log(sf)
    return a_c, a_f


@numba.njit(cache=True)
def _puppi_med_rms(offsets, alpha, ref_pu, ref_pv):  # pragma: no cover - numba
    """Per event: median and (below-median) RMS of ``alpha`` over the ``ref_pu`` candidates as CMSSW
    ``PuppiAlgo::computeMedRMS`` (zeros skipped), their count, and the ``ref_pv`` alphas <= median."""
    n_ev = len(offsets) - 1
    med = np.zeros(n_ev)
    rms = np.zeros(n_ev)
    count = np.zeros(n_ev, np.int64)
    n_pv_below = np.zeros(n_ev, np.int64)
    for ev in range(n_ev):
        o0, o1 = offsets[ev], offsets[ev + 1]
        vals = np.sort(alpha[o0:o1][ref_pu[o0:o1]])
        nv = len(vals)
        count[ev] = nv
        if nv == 0:
            continue
        num0 = 0
        for i in range(nv):
            if vals[i] == 0:
                num0 = i
        m = vals[num0 + int((nv - num0) * 0.5)]
        s = 0.0
        ns = 0
        for i in range(nv):
            if vals[i] == 0 or vals[i] > m:
                continue
            s += (vals[i] - m) ** 2
            ns += 1
        r = np.sqrt(s / ns) if ns > 0 else 0.0
        med[ev] = m
        rms[ev] = r if r > 0 else 1e-5
        pv = alpha[o0:o1][ref_pv[o0:o1]]
        n_pv_below[ev] = np.sum(pv <= m)
    return med, rms, count, n_pv_below


def puppi_weights(f: dict[str, np.ndarray], counts: np.ndarray, n_pv: np.ndarray) -> np.ndarray:
    """PUPPI weight of every PF candidate (module docstring; CMSSW ``PuppiContainer::puppiWeights``).

    Arguments:
        f: flat PF candidates (:func:`.pflow.build_flat`): pt eta phi charge fromPV.
        counts: candidates per event.
        n_pv: good primary vertices per event (neutral pT cut).

    Returns:
        float64 weights in [0, 1].
    """
    from scipy.special import erf, ndtri

    p = PARAMS
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    evt = np.repeat(np.arange(len(counts)), counts)
    charged = f["charge"] != 0
    cpv = charged & f["fromPV"]
    cpu = charged & ~f["fromPV"]
    eta, pt = f["eta"], f["pt"]
    aeta = np.abs(eta)
    central_ref = aeta < p["puppi_eta_extrap"]
    fwd = aeta >= p["puppi_eta_edges"][1]
    need_c = (~charged & ~fwd) | (charged & central_ref & (pt >= p["puppi_rms_ptmin"][0]))
    need_f = (~charged & fwd) | (charged & central_ref & (pt >= p["puppi_rms_ptmin"][1]))
    f64 = np.float64
    a_c, a_f = _puppi_alphas(
        offsets, eta.astype(f64), f["phi"].astype(f64), pt.astype(f64), cpv, need_c, need_f, p["puppi_cone"]
    )
    meds, rmss, ncount = [], [], []
    for alpha, ptmin in ((a_c, p["puppi_rms_ptmin"][0]), (a_f, p["puppi_rms_ptmin"][1])):
        ok = central_ref & (pt >= ptmin)
        med, rms, cnt, npv_below = _puppi_med_rms(offsets, alpha, ok & cpu, ok & cpv)
        adjust = npv_below / np.maximum(npv_below + 0.5 * cnt, 1e-9)
        shift = np.where(adjust > 0, np.sqrt(ndtri(np.clip((1.0 + adjust) / 2.0, 0.5, 1 - 1e-12)) ** 2 * rms), 0.0)
        meds.append(med - shift)
        rmss.append(rms - shift)
        ncount.append(cnt)
    alpha = np.where(fwd, a_f, a_c)
    med = np.where(fwd, p["puppi_med_sf_forward"] * meds[1][evt], meds[0][evt])
    rms = np.where(fwd, rmss[1][evt], rmss[0][evt])
    no_pu = np.where(fwd, ncount[1][evt], ncount[0][evt]) == 0
    val = np.where(alpha == 0, med, alpha)
    d = val - med
    chi2 = d * np.abs(d) / np.maximum(rms, 1e-9) ** 2
    w = np.where(chi2 > 0, erf(np.sqrt(np.maximum(chi2, 0.0) / 2.0)), 0.0)
    w = np.where(no_pu, 1.0, w)
    region = np.searchsorted(p["puppi_eta_edges"], aeta, side="right")
    cut = np.asarray(p["puppi_neutral_ptmin"])[region] + np.asarray(p["puppi_neutral_slope"])[region] * np.asarray(n_pv)[evt]
    w = np.where(w * pt < cut, 0.0, w)
    lo, hi = p["puppi_ptmax_neutral"]
    w = np.minimum(np.maximum((pt - lo) / (hi - lo), w), 1.0)
    w = np.where(charged, cpv.astype(np.float64), w)
    return np.where(w < p["puppi_min_weight"], 0.0, w)


def _jes_unc(pt: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    p = PARAMS
    base = np.sqrt(p["jes_unc_c"] ** 2 + (p["jes_unc_n"] / np.maximum(pt, 1.0)) ** 2)
    return base * (1.0 + p["jes_unc_forward"] * (aeta > 2.5))


def _flavours(truth, f, counts, aj, cand_jet, ctx, genjets, n_pv, rng) -> dict[str, np.ndarray]:
    """RawMET, ChsMET, PuppiMET (+ variations), RawPuppiMET and the extra MET_* fields."""
    from flashsim_coffea.reference.jets import l2l3_response

    n_ev, cevt, zx, zy = ctx["n_ev"], ctx["cevt"], ctx["zx"], ctx["zy"]
    out = {}

    def put(name, x, y, sumet=None):
        out[f"{name}_pt"] = _f32(np.hypot(x, y))
        out[f"{name}_phi"] = _f32(np.arctan2(y, x))
        if sumet is not None:
            out[f"{name}_sumEt"] = _f32(sumet)

    def smear(s_flav):
        a = PARAMS["uncl_a"] * np.sqrt(s_flav)
        return a * zx, a * zy

    px, py, pt = f["px"], f["py"], f["pt"]
    uncl = ~ctx["in_t1"]
    # raw PF MET: all candidates + the unclustered smearing
    sx, sy = smear(ctx["sumet_uncl"])
    put("RawMET", -np.bincount(cevt, px, n_ev) + sx, -np.bincount(cevt, py, n_ev) + sy, np.bincount(cevt, pt, n_ev))
    # CHS MET: without the charged PU candidates CHS removes
    chs = f["fromPV"]
    sx, sy = smear(np.bincount(cevt[chs & uncl], pt[chs & uncl], n_ev))
    put(
        "ChsMET",
        -np.bincount(cevt[chs], px[chs], n_ev) + sx,
        -np.bincount(cevt[chs], py[chs], n_ev) + sy,
        np.bincount(cevt[chs], pt[chs], n_ev),
    )
    # unclustered-energy shift of the PF MET, unclustered scalar sum
    from flashsim_coffea.reference.pflow import KIND

    lep = (f["kind"] == KIND["electron"]) | (f["kind"] == KIND["muon"])
    sig = energy_uncertainty(f)
    us = uncl & ~lep
    out["MET_MetUnclustEnUpDeltaX"] = _f32(-np.bincount(cevt[us], sig[us] * px[us], n_ev))
    out["MET_MetUnclustEnUpDeltaY"] = _f32(-np.bincount(cevt[us], sig[us] * py[us], n_ev))
    out["MET_sumPtUnclustered"] = _f32(ctx["sumet_uncl"])

    # fiducial GenMET: -(visible final-state particles, abs(eta) < 5)
    tp = truth.particles
    apid = abs(tp.pdgId)
    vis = (apid != 12) & (apid != 14) & (apid != 16) & (abs(tp.eta) < PARAMS["fiducial_eta_max"])
    gx = -np.asarray(ak.sum(tp.px[vis], axis=1), np.float64)
    gy = -np.asarray(ak.sum(tp.py[vis], axis=1), np.float64)
    out["MET_fiducialGenPt"] = _f32(np.hypot(gx, gy))
    out["MET_fiducialGenPhi"] = _f32(np.arctan2(gy, gx))

    # PUPPI
    w = puppi_weights(f, counts, n_pv)
    wpx, wpy, wpt = w * px, w * py, w * pt
    raw_x, raw_y = -np.bincount(cevt, wpx, n_ev), -np.bincount(cevt, wpy, n_ev)
    raw_sumet = np.bincount(cevt, wpt, n_ev)
    n_all = len(aj["pt"])
    m = cand_jet >= 0
    jid = cand_jet[m]
    jx, jy = np.bincount(jid, wpx[m], n_all), np.bincount(jid, wpy[m], n_all)
    det = aj["pt_raw"] / np.maximum(aj["pt_const"], 1e-9)  # the jet's unmodelled detector factor
    jraw = np.hypot(jx, jy) * det
    jphi = np.arctan2(jy, jx)
    aeta = np.abs(aj["eta"])
    jpt = jraw / l2l3_response(jraw, aeta)
    t1 = (jpt > PARAMS["jet_ptmin"]) & (aj["em_frac"] < PARAMS["jet_emf_max"])
    je = aj["evt"][t1]
    cph, sph = np.cos(jphi[t1]), np.sin(jphi[t1])
    dpt = (jpt - jraw)[t1]
    in_t1 = np.isin(cand_jet, np.flatnonzero(t1))
    s_uncl = np.bincount(cevt[~in_t1], wpt[~in_t1], n_ev)
    sx, sy = smear(s_uncl)
    rx, ry = raw_x + sx, raw_y + sy
    put("RawPuppiMET", rx, ry, raw_sumet)
    tx = rx - np.bincount(je, dpt * cph, n_ev)
    ty = ry - np.bincount(je, dpt * sph, n_ev)
    put("PuppiMET", tx, ty, raw_sumet + np.bincount(je, dpt, n_ev))
    # JES: Type-1 jets moved by their uncertainty
    jv = _jes_unc(jpt[t1], aeta[t1]) * jpt[t1]
    for sign, tag in ((1.0, "Up"), (-1.0, "Down")):
        put_var = (tx - sign * np.bincount(je, jv * cph, n_ev), ty - sign * np.bincount(je, jv * sph, n_ev))
        out[f"PuppiMET_ptJES{tag}"] = _f32(np.hypot(*put_var))
        out[f"PuppiMET_phiJES{tag}"] = _f32(np.arctan2(put_var[1], put_var[0]))
    # JER: matched jets' mismeasurement scaled by 1 +- dSF; unmatched jets smeared (Up only)
    gpt = np.full(n_all, -1.0)
    if genjets is not None and "selected_order" in aj:
        sel = aj["selected_order"]
        gj_off = np.concatenate([[0], np.cumsum(np.asarray(ak.num(genjets)))])
        gj_pt = ak.to_numpy(ak.flatten(genjets.pt)).astype(np.float64)
        gidx = ctx.get("genJetIdx")
        if gidx is not None and len(gidx) == len(sel):
            ok = gidx >= 0
            gpt[sel[ok]] = gj_pt[gj_off[aj["evt"][sel[ok]]] + gidx[ok]]
    res = _jer(jpt, aeta)  # the relative JER the covariance uses
    matched = (gpt > 0) & (np.abs(jpt - gpt) < PARAMS["jer_match_nsigma"] * res * jpt)
    dsf = np.asarray(PARAMS["jer_dsf"])[np.searchsorted([1.3, 2.5, 3.0], aeta, side="right")]
    z = rng.standard_normal(n_all)
    for sign, tag in ((1.0, "Up"), (-1.0, "Down")):
        new = np.where(matched, gpt + (1.0 + sign * dsf) * (jpt - gpt), jpt)
        if sign > 0:
            new = np.where(matched, new, jpt * (1.0 + res * np.sqrt((1.0 + dsf) ** 2 - 1.0) * z))
        d = (np.maximum(new, 0.0) - jpt)[t1]
        vx, vy = tx - np.bincount(je, d * cph, n_ev), ty - np.bincount(je, d * sph, n_ev)
        out[f"PuppiMET_ptJER{tag}"] = _f32(np.hypot(vx, vy))
        out[f"PuppiMET_phiJER{tag}"] = _f32(np.arctan2(vy, vx))
    # unclustered: the PUPPI candidates outside Type-1 jets moved by their energy uncertainty
    us = ~in_t1 & ~lep
    ux = np.bincount(cevt[us], sig[us] * wpx[us], n_ev)
    uy = np.bincount(cevt[us], sig[us] * wpy[us], n_ev)
    for sign, tag in ((1.0, "Up"), (-1.0, "Down")):
        vx, vy = tx - sign * ux, ty - sign * uy
        out[f"PuppiMET_ptUnclustered{tag}"] = _f32(np.hypot(vx, vy))
        out[f"PuppiMET_phiUnclustered{tag}"] = _f32(np.arctan2(vy, vx))
    return out
