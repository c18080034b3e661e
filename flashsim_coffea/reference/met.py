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

Example:
    Two Drell-Yan events with 20 PU interactions each (no neutrinos: GenMET is 0, so the
    MET is all resolution):

    >>> from flashsim_coffea.reference.pileup import simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> pu = simulate_pileup(np.array([20, 20]), np.random.default_rng(1))
    >>> met = reconstruct_met(truth, pu, {}, np.random.default_rng(2), rho=np.array([16.8, 13.9]))
    >>> sorted(met)
    ['MET_covXX', 'MET_covXY', 'MET_covYY', 'MET_phi', 'MET_pt', 'MET_significance', 'MET_sumEt']
    >>> met["MET_pt"], met["MET_sumEt"]
    (array([39.45541 , 43.913162], dtype=float32), array([1207.8561, 1096.5312], dtype=float32))

References:
    CMS, "Performance of missing transverse momentum reconstruction in proton-proton
    collisions at sqrt(s) = 13 TeV using the CMS detector", JINST 14 (2019) P07004,
    arXiv:1903.06078.
"""

from __future__ import annotations

import awkward as ak
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
) -> dict[str, np.ndarray]:
    """MET_pt, MET_phi, MET_sumEt, MET_significance, MET_covXX/XY/YY (float32 arrays).

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
    mex += su * rng.standard_normal(n_ev)
    mey += su * rng.standard_normal(n_ev)

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
    return {
        "MET_pt": np.hypot(mex, mey).astype(f32),
        "MET_phi": np.arctan2(mey, mex).astype(f32),
        "MET_sumEt": sumet.astype(f32),
        "MET_significance": sig.astype(f32),
        "MET_covXX": cxx.astype(f32),
        "MET_covXY": cxy.astype(f32),
        "MET_covYY": cyy.astype(f32),
    }
