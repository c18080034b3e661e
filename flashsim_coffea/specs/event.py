"""Event-level quantities: MET, primary vertices and rho, from GenMET, pileup and gen activity.

MET is learnt as the recoil-like residual to GenMET in the GenMET frame
(``MET_upar`` along GenMET minus |GenMET|, ``MET_uperp`` across it); the engine turns
them back into ``MET_pt``/``MET_phi``. The conditioning adds the GenJets' share of the
MET covariance at a nominal jet resolution (lab frame and GenMET frame,
:func:`flashsim_coffea.sim.features.event_context`), the muons beyond the muon acceptance
(reco MET that GenMET does not have), and ``nPU`` with the soft GenJet counts, which
drive rho (grid median of the pileup and underlying-event pT density), the vertex
counts and the unclustered share of the covariance.

Example:
    >>> EVENT.key, EVENT.candidates, list(EVENT.targets)[:4]
    ('Event_event', None, ['MET_upar', 'MET_uperp', 'MET_sumEt', 'MET_significance'])
"""

from __future__ import annotations

from flashsim_coffea.specs.source import Source

EVENT = Source(
    collection="",
    name="event",
    candidates=None,
    conditioning=[
        "nTrueInt", "nPU", "nGenJet10", "nGenJet10_central", "HT", "nGenJet", "GenMET_pt",
        "jet_cxx", "jet_cxy", "jet_cyy", "jet_cpar", "jet_cperp", "hadjet_cxx", "hadjet_cxy", "hadjet_cyy",
        "fwdmu_par", "fwdmu_perp",
    ],
    targets={
        "MET_upar": {"kind": "plain"},
        "MET_uperp": {"kind": "plain"},
        "MET_sumEt": {"kind": "log", "offset": 0.0},
        "MET_significance": {"kind": "log", "offset": 1e-3},
        "MET_covXX": {"kind": "log", "offset": 0.0},
        "MET_covXY": {"kind": "asinh", "scale": 10.0},
        "MET_covYY": {"kind": "log", "offset": 0.0},
        "PV_npvs": {"kind": "integer"},
        "PV_npvsGood": {"kind": "integer"},
        "PV_z": {"kind": "plain"},
        "Rho_fixedGridRhoFastjetAll": {"kind": "plain"},
        "Rho_fixedGridRhoFastjetCentral": {"kind": "plain"},
    },
)

SOURCES = [EVENT]
