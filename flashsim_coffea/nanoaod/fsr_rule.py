"""CMSSW's ``LeptonFSRProducer`` rule (the photon's closest lepton, its cuts), shared by the
reference detector (:mod:`flashsim_coffea.reference.fsr`) and the flash FSR photons
(:func:`flashsim_coffea.sim.derive.fsrphoton`, :func:`flashsim_coffea.sim.candidates.fsr_photons`).

Example:
    A 5 GeV photon 0.1 from a 40 GeV muon: that muon, dR/ET^2 = 0.004:

    >>> off, eta, phi, ok = _leptons(ak.Array([[{"pt": 40.0, "eta": 0.0, "phi": 0.0}]]), 3.0, 2.4)
    >>> best, dr = _closest(np.array([0]), np.array([0.1]), np.array([0.0]), np.array([5.0]), np.array([0.5]),
    ...                     off, eta, phi, ok, PARAMS["dr_min"], PARAMS["dr_over_et2_max"])
    >>> best.tolist(), round(float(dr[0] / 25.0), 4)
    ([0], 0.004)
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod.jet_truth import delta_r

PARAMS: dict = {
    # LeptonFSRProducer defaults, which NanoAOD's leptonFSRphotons keeps (PhysicsTools/NanoAOD/python/
    # fsrPhotons_cff.py clones it changing only the input collections) [code: cmssw LeptonFSRProducer.cc]
    "photon_pt_min": 2.0,  # GeV, photonPtMin [code: cmssw LeptonFSRProducer.cc]
    "photon_eta_max": 2.5,  # hard-coded abs(eta) > 2.5 veto [code: cmssw LeptonFSRProducer.cc]
    "muon_pt_min": 3.0,  # muonPtMin [code: cmssw LeptonFSRProducer.cc]
    "muon_eta_max": 2.4,  # muonEtaMax [code: cmssw LeptonFSRProducer.cc]
    "electron_pt_min": 5.0,  # elePtMin [code: cmssw LeptonFSRProducer.cc]
    "electron_eta_max": 2.5,  # eleEtaMax [code: cmssw LeptonFSRProducer.cc]
    "dr_max": 0.5,  # initial dRMin of the closest-lepton search [code: cmssw LeptonFSRProducer.cc]
    "dr_min": 1e-4,  # [code: cmssw LeptonFSRProducer.cc]
    "dr_over_et2_max": 0.05,  # GeV^-2, deltaROverEt2Max [code: cmssw LeptonFSRProducer.cc]
    "rel_iso_max": 2.0,  # isolation (relIso03 > 2 rejected) [code: cmssw LeptonFSRProducer.cc]
    # computeRelativeIsolation: cone (1e-4, 0.3); charged (abs(pdgId) 211) pT > 0.2; neutral (22, 130)
    # pT > 0.5 outside dR 0.01 [code: cmssw LeptonFSRProducer.cc]
    "iso_cone": 0.3,
    "iso_charged_pt_min": 0.2,  # GeV [code: cmssw LeptonFSRProducer.cc]
    "iso_neutral_pt_min": 0.5,  # GeV [code: cmssw LeptonFSRProducer.cc]
    "iso_neutral_veto": 0.01,  # [code: cmssw LeptonFSRProducer.cc]
    # CMS H -> ZZ -> 4l FSR selection on top of NanoAOD's [mem] arXiv:1706.09936 (JHEP 11 (2017) 047)
    # section 3: pT > 2 GeV, abs(eta) < 2.4, relative PF isolation < 1.8, dR(l, gamma) / ET^2 < 0.012 GeV^-2
    "hzz_eta_max": 2.4,  # [mem] arXiv:1706.09936
    "hzz_rel_iso_max": 1.8,  # [mem] arXiv:1706.09936
    "hzz_dr_over_et2_max": 0.012,  # GeV^-2 [mem] arXiv:1706.09936
}



def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _flat(a: ak.Array, field: str, dtype=np.float64) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(a[field])), dtype)


@numba.njit(cache=True)
def _closest(p_evt, p_eta, p_phi, p_pt, dr_start, l_off, l_eta, l_phi, l_ok, dr_min, dr_et2_max):  # pragma: no cover
    """Per photon, the first lepton (in collection order) of smallest dR below ``dr_start``."""
    n = len(p_evt)
    best = np.full(n, -1, np.int64)
    best_dr = dr_start.copy()
    for i in range(n):
        e = p_evt[i]
        pt2 = p_pt[i] * p_pt[i]
        for k in range(l_off[e], l_off[e + 1]):
            if not l_ok[k]:
                continue
            dr = delta_r(l_eta[k], l_phi[k], p_eta[i], p_phi[i])
            if dr < best_dr[i] and dr > dr_min and dr / pt2 < dr_et2_max:
                best_dr[i] = dr
                best[i] = k - l_off[e]
    return best, best_dr


def _leptons(coll: ak.Array, pt_min: float, eta_max: float) -> tuple[np.ndarray, ...]:
    off = _offsets(np.asarray(ak.num(coll), np.int64))
    pt, eta, phi = _flat(coll, "pt"), _flat(coll, "eta"), _flat(coll, "phi")
    return off, eta, phi, (pt >= pt_min) & (np.abs(eta) <= eta_max)
