"""FSR photons (NanoAOD ``FsrPhoton``, ``Muon/Electron_fsrPhotonIdx``) from gen photons next to a gen lepton.

NanoAOD's FSR recovery (CMSSW ``LeptonFSRProducer``, :mod:`flashsim_coffea.reference.fsr`) keeps PF
photons near a reco muon or electron. The CMS FlashSim table lists FsrPhoton with source
"GenMuon/RecoMuon" and 6 attributes: a photon exists only next to its lepton. Here:

* candidates (:func:`flashsim_coffea.sim.candidates.fsr_photons`): status-1 gen photons that the
  producer's rule (closest lepton, muons first, with gen-level slack on its cuts) gives to a gen
  muon (source ``FsrPhoton_muon``) or, failing any muon, to a gen electron (``FsrPhoton_electron``);
  their ``parent_idx`` is that lepton's GenPart index. Two sources, not one: a source has one
  parent collection (:class:`~flashsim_coffea.specs.source.Parent`), and the electron's
  footprint veto makes the electron's efficiency a different function;
* parent: the reco lepton of that gen lepton in the same flash event (``Muon`` / ``Electron``,
  made earlier): the efficiency model is P(FsrPhoton | lepton reconstructed), and a photon
  whose lepton was not reconstructed is dropped;
* conditioning: the photon's pT, η, φ, the ΔR, pT ratio and ΔR/pT² to its gen lepton
  (``fsr_lep_*``), its ``statusFlags`` (prompt, from the hard process, from a τ or a hadron
  decay), the nearby gen activity (nearest GenJet, other photon, other lepton: the
  ``relIso03`` sum), pileup (``nPU``, ``nTrueInt``) and the event's hadronic activity;
* learnt: ``pt`` (ratio to the gen photon), ``eta``, ``phi`` (shifts from the gen photon's),
  ``relIso03`` (point mass at 0, logit up to the producer's cut at 2);
* derived (:func:`flashsim_coffea.sim.derive.fsrphoton`): ``dROverEt2``, ``muonIdx``,
  ``electronIdx`` by the producer's own rule on the flash photon and the final flash muons and
  electrons, photons failing the producer's cuts dropped (cuts imported from
  :data:`flashsim_coffea.reference.fsr.PARAMS`), and the leptons' ``fsrPhotonIdx`` (the photon of
  smallest ``dROverEt2``).

Reco FSR photons made by no gen photon (soft photons of π0 decays in the underlying event and pileup, which NanoAOD's
GenPart does not keep) come from three more sources, ``FsrPhoton_nearmuon``, ``FsrPhoton_nearelectron`` and
``FsrPhoton_nearphotonelectron``: per gen muon / electron / photon that gave a reco lepton (candidates ``GenFsrMuon``
/ ``GenFsrElectron`` / ``GenPhoton``, parent: that reco lepton), the probability of such a photon, its pT (log: these
photons' pT hardly follows the lepton's), its η, φ relative to the lepton and its ``relIso03`` (at most one per
lepton), conditioned on the lepton and the gen activity and pileup around it; in training each takes the unclaimed
reco photons whose lepton (``muonIdx`` / ``electronIdx``) links to its candidate
(:func:`flashsim_coffea.train.extract._fake_assignment`). Electrons without a gen link (jet fakes: 303 of vbf_hmumu's
535 electrons with an FSR photon, 238 of zh_llbb's 1618) get none: no candidate names them. Without the electron one,
flash made 57 % of FullSim's FSR photons in ``zh_llbb`` (20k events: 44 % of FullSim's are linked to an electron, 11 %
of flash's; of the electron-linked ones in 5000 events, 65 % sit next to a prompt electron and 16 % only come from a
gen photon). In 1000 reference ``dy_mumu`` events (seed 230, events 2000-2999) 75% of the FSR photons (median pT 3.7
GeV) have no final-state gen photon within ΔR 0.05: 12.7% of the events have an FSR photon, 3.3% one a gen candidate
can give. The two gen-photon sources are matched to the reco photons by ΔR together (``link`` ``genPartIdx``: a
private column, FsrPhoton has no gen link in NanoAOD), and the per-muon source takes the reco photons left.

Example:
    >>> [(s.key, s.candidates, s.parent.collection, s.parent.index) for s in SOURCES]  # doctest: +NORMALIZE_WHITESPACE
    [('FsrPhoton_muon', 'GenFsrPhotonMuon', 'Muon', 'muonIdx'),
     ('FsrPhoton_electron', 'GenFsrPhotonElectron', 'Electron', 'electronIdx'),
     ('FsrPhoton_nearmuon', 'GenFsrMuon', 'Muon', 'muonIdx'),
     ('FsrPhoton_nearelectron', 'GenFsrElectron', 'Electron', 'electronIdx'),
     ('FsrPhoton_nearphotonelectron', 'GenPhoton', 'Electron', 'electronIdx')]
    >>> list(MUON.targets), MUON.constants
    (['pt', 'eta', 'phi', 'relIso03'], {'electronIdx': -1})
    >>> NEARELECTRON.targets["pt"], NEARELECTRON.targets["relIso03"]["then"]
    ({'kind': 'log', 'offset': -1.5}, {'kind': 'logit', 'lo': 0.0, 'hi': 2.0})
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flashsim_coffea.specs._lepton import KINEMATICS
from flashsim_coffea.specs.source import Parent, Source, candidate_dr

CONDITIONING = [
    "log_pt", "eta", "abs_eta", "phi",
    "fsr_lep_logdr", "fsr_lep_ptrel", "fsr_lep_logdret2",
    "flag:isPrompt", "flag:fromHardProcess", "flag:isTauDecayProduct", "flag:isDirectHadronDecayProduct",
    "genjet_logdr", "genjet_ptrel", "pho_logdr", "pho_ptrel", "lepiso03",
    "nPU", "nTrueInt", "HT", "nGenJet",
]
#: ``relIso03`` between 0 and the producer's cut at 2: a point mass at 0, a logit between (a log's blur spilled
#: 1.4 % of the flash photons of zh above 2, where FullSim has none; the log piled the per-lepton sources' at 1.999)
REL_ISO03 = {"kind": "spike", "value": 0.0, "then": {"kind": "logit", "lo": 0.0, "hi": 2.0}}
TARGETS = {**KINEMATICS, "relIso03": REL_ISO03}
#: a reco FSR photon is the PF photon of its gen photon: ΔR 0 up to the PF tower's position
#: (matched photons of the reference dy_mumu sample: ΔR < 0.005)
MATCH_DR = 0.05

MUON = Source(
    collection="FsrPhoton", name="muon", candidates="GenFsrPhotonMuon", conditioning=CONDITIONING,
    targets=TARGETS, constants={"electronIdx": -1}, match_dr=MATCH_DR, link="genPartIdx",
    parent=Parent("Muon", "genPartIdx", "parent_idx", "muonIdx"),
)
ELECTRON = Source(
    collection="FsrPhoton", name="electron", candidates="GenFsrPhotonElectron", conditioning=CONDITIONING,
    targets=TARGETS, constants={"muonIdx": -1}, match_dr=MATCH_DR, link="genPartIdx",
    parent=Parent("Electron", "genPartIdx", "parent_idx", "electronIdx"),
)

#: conditioning of the per-lepton sources: the gen lepton and what is around it (hadronic activity, photons,
#: leptons: the photon's isolation), pileup.
NEAR_CONDITIONING = [
    "log_pt", "eta", "abs_eta", "phi", "flag:isPrompt", "flag:isDirectHadronDecayProduct", "lepiso03",
    "genjet_logdr", "genjet_ptrel", "pho_logdr", "pho_ptrel", "nPU", "nTrueInt", "HT", "nGenJet",
]
def near_lepton(sampled: Mapping[str, np.ndarray], gen: Mapping[str, np.ndarray]) -> np.ndarray:
    """The region of the per-lepton sources (:attr:`~flashsim_coffea.specs.source.Source.region`): the
    photon within the producer's ΔR of its lepton (the candidate) and below its dR/ET² cut
    (:data:`flashsim_coffea.nanoaod.fsr_rule.PARAMS`), which every FullSim FSR photon satisfies.
    Without it the flow's blur across the dR/ET² edge lost 16 % of the electron sources' photons and
    7 % of the muon sources' in the FsrPhoton derive step (zh_llbb, 5000 events).

    Example:
        A 40 GeV lepton and three photons: 0.1 away with 5 GeV (dR/ET² 0.004), 0.4 away with
        2.5 GeV (0.064: beyond 0.05) and 0.6 away (beyond ΔR 0.5):

        >>> gen = {"gen_eta": np.zeros(3), "gen_phi": np.zeros(3)}
        >>> near_lepton({"pt": np.array([5.0, 2.5, 9.0]), "eta": np.array([0.1, 0.0, 0.6]),
        ...              "phi": np.array([0.0, 0.4, 0.0])}, gen).tolist()
        [True, False, False]
    """
    from flashsim_coffea.nanoaod.fsr_rule import PARAMS as p  # awkward and numba: not at import (the CLI's --help)

    dr = candidate_dr(sampled, gen)
    pt = np.asarray(sampled["pt"], np.float64)
    return (dr > p["dr_min"]) & (dr < p["dr_max"]) & (dr < p["dr_over_et2_max"] * pt**2)


#: targets of the per-lepton sources: the photon's own pT (a log above the producer's 2 GeV cut: these photons'
#: pT over their lepton's spans 0.007-3, skewness 6.6, zh_llbb electrons; its log's 0.4), its position relative
#: to the lepton, ``relIso03`` between 0 and the producer's cut at 2 (logit: the log's blur piled the flash
#: photons against the training maximum, 5 % at 1.999). As a pT ratio near electrons came out 20 % high (median
#: 4.2 GeV for FullSim's 3.5; zh 240k W1/sigma 0.41, AUC 0.62)
NEAR_TARGETS = {
    "pt": {"kind": "log", "offset": -1.5},
    "eta": KINEMATICS["eta"],
    "phi": KINEMATICS["phi"],
    "relIso03": REL_ISO03,
}

NEARMUON = Source(
    collection="FsrPhoton", name="nearmuon", candidates="GenFsrMuon", conditioning=NEAR_CONDITIONING,
    targets=NEAR_TARGETS, constants={"electronIdx": -1, "genPartIdx": -1}, match_dr=0.5,  # the producer's dR_max
    parent=Parent("Muon", "genPartIdx", "parent_idx", "muonIdx"), region=near_lepton,
)

NEARELECTRON = Source(
    collection="FsrPhoton", name="nearelectron", candidates="GenFsrElectron", conditioning=NEAR_CONDITIONING,
    targets=NEAR_TARGETS, constants={"muonIdx": -1, "genPartIdx": -1}, match_dr=0.5,
    parent=Parent("Electron", "genPartIdx", "parent_idx", "electronIdx"), region=near_lepton,
)

#: per gen photon that gave a reco electron (``Electron_genphoton``'s candidates: conversions and π0 photons
#: with a track, the electron's ``genPartIdx`` is the photon): the FSR photon next to that electron, mostly the
#: π0's other photon. Its own parent field is the candidate's index (the photon is its electron's gen object).
#: 20k held-out events: 224 of vbf_hmumu's 535 electrons with an FSR photon (158 of zh_llbb's 1618) have a gen
#: photon as their gen object, 22-30 % of such electrons have one (7 % of those from a gen electron); flash, with
#: the two gen-lepton sources only, gave them next to none (vbf 10 of 232).
NEARPHOTONELECTRON = Source(
    collection="FsrPhoton", name="nearphotonelectron", candidates="GenPhoton", conditioning=NEAR_CONDITIONING,
    targets=NEAR_TARGETS, constants={"muonIdx": -1, "genPartIdx": -1}, match_dr=0.5,
    parent=Parent("Electron", "genPartIdx", "idx", "electronIdx"), region=near_lepton,
)

SOURCES = [MUON, ELECTRON, NEARMUON, NEARELECTRON, NEARPHOTONELECTRON]
