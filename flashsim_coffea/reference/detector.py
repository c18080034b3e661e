"""The reference detector: truth record -> NanoAOD v12 reco (and gen) collections.

This is the project's embedded stand-in for CMS FullSim: a parametric, Delphes-like
CMS detector (parameters and sources in each module's ``PARAMS`` and in the
README's reference-detector table). It sees every final-state particle of the hard
event plus pileup. Stages, each with its own random stream:

1. gen-level collections (:mod:`.genlevel`): GenJet, GenJetAK8, GenMET, GenVisTau,
   GenDressedLepton, GenIsolatedPhoton;
2. pileup particles and event quantities (:mod:`.pileup`): PV, rho and its variants, the
   pileup summary; the PV fit quality once the jets' PF candidates exist;
3. AK4 jets with b-tagging (:mod:`.jets`, :mod:`.btag`, from :mod:`.pflow` candidates); AK8 PUPPI-like
   fat jets and their soft-drop subjets (:mod:`.fatjets`: ``FatJet``, ``SubJet``) once the leptons exist;
4. muons, electrons, photons (:mod:`.muons`, :mod:`.electrons`, :mod:`.photons`); FSR photons of the
   leptons from the PF photons (:mod:`.fsr`: ``FsrPhoton``, ``Muon/Electron_fsrPhotonIdx``; no random draw);
5. hadronic taus (:mod:`.taus`); secondary vertices and their jet/lepton links (:mod:`.vertices`: ``SV``);
6. missing transverse momentum and its flavours (:mod:`.met`);
7. trigger bits and MET filters from the final objects (:mod:`flashsim_coffea.nanoaod.triggers`,
   :mod:`flashsim_coffea.nanoaod.met_filters`: flash events derive them with the same functions).

Jets are final (pT-ordered) before the objects that link to them are built, so every
cross-link (``jetIdx``, ``genJetIdx``, ``genPartIdx``) refers to final orderings.

Example:
    Two Drell-Yan events (Z -> ee, Z -> mumu) without pileup; ``simulate`` returns the
    collections (awkward arrays) and the event-level arrays (numpy):

    >>> import awkward as ak
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> out = simulate(truth, np.zeros(2, np.float32), np.zeros(2, np.int32), np.random.default_rng(1))
    >>> [name for name, v in out.items() if isinstance(v, ak.Array)]  # doctest: +NORMALIZE_WHITESPACE
    ['GenPart', 'GenJet', 'GenJetAK8', 'SubGenJetAK8', 'GenVisTau', 'GenDressedLepton', 'GenIsolatedPhoton',
     'CorrT1METJet', 'Jet', 'Muon', 'Electron', 'Photon', 'Tau', 'FatJet', 'SubJet', 'FsrPhoton', 'SV']
    >>> ak.num(out["Electron"]).tolist(), ak.num(out["Muon"]).tolist(), ak.num(out["Jet"]).tolist()
    ([2, 0], [0, 2], [3, 2])
    >>> out["MET_pt"], out["PV_npvs"]
    (array([8.169667 , 4.1161838], dtype=float32), array([4, 5], dtype=uint8))
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import met_filters, triggers
from flashsim_coffea.reference import (
    electrons,
    fatjets,
    fsr,
    genlevel,
    isolation,
    jets,
    met,
    muons,
    photons,
    pileup,
    taus,
    vertices,
)


def simulate(truth: ak.Array, n_true: np.ndarray, n_pu: np.ndarray, rng: np.random.Generator) -> dict:
    """Run every stage on a block of truth events.

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        n_true: ``Pileup_nTrueInt`` per event.
        n_pu: ``Pileup_nPU`` per event (number of pileup interactions simulated).
        rng: the block's detector random generator (split into one stream per stage).

    Returns:
        collection name -> jagged records, and event-level branch name -> array.
    """
    # r[8:12]: pileup summary + PV fit, MET flavours, triggers, MET filters (r[:8] as spawn(8)); r[12]: fat jets,
    # r[13]: SV, r[14]: FsrPhoton (spawn(n) children are deterministic by index: r[:12] as spawn(12))
    r = rng.spawn(16)
    gen = genlevel.gen_collections(truth)
    pu = pileup.simulate_pileup(n_pu, r[0])
    event = pileup.event_quantities(n_true, n_pu, pu, r[1], truth=truth)
    rho = np.asarray(event["Rho_fixedGridRhoFastjetAll"])
    event.update(pileup.rho_variants(pu, truth))
    event.update(pileup.pileup_summary(n_true, n_pu, pu, event["PV_z"], r[8]))
    jet, jet_extras = jets.reconstruct_jets(truth, pu, gen["GenJet"], rho, r[2], return_extras=True)
    event.update(pileup.vertex_quality(jet_extras["pf"], jet_extras["pf_counts"], jet_extras["cand_jet"], truth, r[8]))
    cands = isolation.candidates(truth, pu)  # built once, shared by the three lepton/photon stages
    pv_z = np.asarray(event["PV_z"]) if "PV_z" in event else None
    muon = muons.reconstruct_muons(truth, pu, jet, r[3], rho=rho, iso_cands=cands, pv_xy=(event["PV_x"], event["PV_y"]))
    electron = electrons.reconstruct_electrons(truth, pu, jet, r[4], rho=rho, pv_z=pv_z, iso_cands=cands)
    photon = photons.reconstruct_photons(truth, pu, jet, r[5], rho=rho, iso_cands=cands)
    fsr_photon, mu_fsr, el_fsr = fsr.reconstruct_fsr(jet_extras["pf"], jet_extras["pf_counts"], muon, electron, truth)
    muon, electron = fsr.add_links(muon, electron, mu_fsr, el_fsr)
    tau = taus.reconstruct_taus(truth, gen["GenVisTau"], jet, r[6], iso_cands=cands, muons=muon, electrons=electron)
    missing = met.reconstruct_met(
        truth,
        pu,
        {"Jet": jet, "Muon": muon, "Electron": electron, "Photon": photon},
        r[7],
        jet_extras=jet_extras,
        genjets=gen["GenJet"],
        n_pv=event["PV_npvsGood"],
        rng_extra=r[9],
    )
    # secondary vertices (SV) and their links (Jet_svIdx1/2, Jet_nSVs, Muon/Electron_svIdx)
    sv, jet, muon, electron = vertices.reconstruct_svs(
        truth, jet, muon, electron, (event["PV_x"], event["PV_y"], event["PV_z"]), r[13]
    )
    jet = jets.add_lepton_links(jet, muon, electron)  # Jet_muonIdx1/2, nMuons, ... from the leptons' final jetIdx
    fatjet, subjet = fatjets.reconstruct_fatjets(
        truth, jet_extras["pf"], jet_extras["pf_counts"], gen, muon, electron, r[12]
    )
    missing["CorrT1METJet"] = jet_extras["CorrT1METJet"]  # the low-pT jets Type-1 MET corrects
    # trigger bits and MET filters, derived from the final objects (the same functions run on flash events)
    event.update(triggers.emulate(muon, electron, jet, {"pt": missing["MET_pt"], "phi": missing["MET_phi"]}, r[10]))
    pv = {"ndof": event["PV_ndof"], "x": event["PV_x"], "y": event["PV_y"], "z": event["PV_z"]}
    event.update(met_filters.met_filters(pv, muon, r[11]))
    return {
        "GenPart": truth.GenPart,
        **gen,
        **event,
        **missing,
        "Jet": jet,
        "Muon": muon,
        "Electron": electron,
        "Photon": photon,
        "Tau": tau,
        "FatJet": fatjet,
        "SubJet": subjet,
        "FsrPhoton": fsr_photon,
        "SV": sv,
    }
