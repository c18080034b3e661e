"""Target blocks shared by the lepton and photon specs."""

from __future__ import annotations

KINEMATICS = {
    "pt": {"kind": "ratio", "gen": "pt"},
    "eta": {"kind": "diff", "gen": "eta"},
    "phi": {"kind": "dphi", "gen": "phi"},
}
FLAG = {"kind": "flag"}
INTEGER = {"kind": "integer"}
#: relative isolation: zero-inflated, long tail
ISOLATION = {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 1e-3}}
#: NanoAOD's ``*_all`` relative isolations: the charged part plus the neutral part less its pileup share,
#: clipped at 0 (``all >= chg`` always, ``all == chg > 0`` for 15-23 % of the leptons of the real
#: ``nano_tt_v12.root``): learnt as the excess over the charged target, a spike at 0 for the clip
#: (:class:`flashsim_coffea.sim.transforms.Excess`).
ISO_ALL_03 = {"kind": "excess", "over": "pfRelIso03_chg", "then": ISOLATION}
ISO_ALL_MINI = {"kind": "excess", "over": "miniPFRelIso_chg", "then": ISOLATION}
#: impact parameters (cm): signed, heavy tails
IMPACT = {"kind": "asinh", "scale": 0.002}
#: a target Gaussianised by its quantiles (:mod:`flashsim_coffea.sim.transforms`)
QUANTILE = {"kind": "quantile"}
POSITIVE = {"kind": "log", "offset": 1e-6}
#: an MVA score in [-1, 1], Gaussianised by its quantiles: a point mass at exactly -1 where it saturates (67 % of the
#: jet-fake electrons, 12 % of the genuine ones), a comb of float32 values just above it (12 % of the fakes), the rest
#: continuous. As a spike and a logit (eps 1e-6) the comb fell on one flow-space point and flash never wrote it:
#: 6k steps, same tables, held-out zh, noise seeds 1 / 2, gradient-boosted AUC of mvaNoIso / the three scores:
#: jet fakes (11k) 0.582 / 0.598 -> 0.512 / 0.529, comb 0 % -> 12.5 % (FullSim 11.9 %); genuine (17k) 0.531 /
#: 0.872 -> 0.528 / 0.786, every field 0.944 -> 0.925 (docs/performance.md)
MVA = {"kind": "quantile"}
#: reflections whose mirror images augment the training of the electron, photon and tau
#: sources (:mod:`flashsim_coffea.train.mirror`): a few thousand fake taus and photons are too few
#: for a flow to learn that the response is symmetric, and the electrons' impact parameters
#: come out lopsided without them.
MIRROR = ("phi", "eta")
#: charge relative to the gen charge (+1 kept, -1 flipped)
CHARGE = {"kind": "sign", "gen": "charge"}
#: an absolute isolation sum (GeV): zero-inflated, long tail
ISO_SUM = {"kind": "spike", "value": 0.0, "then": {"kind": "log", "offset": 0.01}}
#: a score in (0, 1) (bounds fitted: the training range + 1%)
SCORE = {"kind": "logit"}
#: ``r9`` of electrons and photons: the reference detector's lies in [0.2, 0.97], densest at 0.97 (a shower's
#: leakage falls exponentially to none) and clipped to 0.2 for 0.36 %. The logit's bounds are fitted a hair outside
#: the continuous part (pad 0.05 % of its range: half a stored step above 0.97), so that the cliff at the top is a
#: tail in flow space and nothing maps above it; the 1 % pad had the flow spill 1.9 % of the flash electrons of zh
#: over 0.97, clipped onto it (FullSim 0.07 %). The floor at 0.2 is a spike (absent from real NanoAOD: then empty).
R9 = {"kind": "spike", "value": 0.2, "atol": 1e-4, "then": {"kind": "logit", "pad": 0.0005}}


def apart_kinematics(pt_offset: float, eta_edges: list[float]) -> dict:
    """Absolute kinematics and charge of a lepton count source (no gen object): pT as log(pT + ``pt_offset``), not
    clipped (a draw outside the training acceptance is drawn again); eta as its detector region among ``eta_edges``
    (drawn as the category :data:`APART_CATEGORIES`) and the position inside it (its normal quantile), phi a point in
    the plane: learnt plain, both came out under-dispersed (``Muon_uefake``, 6k steps: eta std 1.29 for 1.37, 8 % at
    abs(eta) > 2 for 15 %; with the regions 1.38, 16 %; docs/performance.md). A region category needs the source
    unmirrored in eta (an image lies in another region)."""
    return {"pt": {"kind": "log", "offset": pt_offset, "clip": False},
            "eta": {"kind": "regions", "edges": eta_edges, "position": "probit"},
            "phi": {"kind": "circle"}, "charge": {"kind": "sign", "gen": None}}


#: the categories of a lepton count source: the region of its eta (:func:`apart_kinematics`)
APART_CATEGORIES = ("eta:region",)


#: a working-point code or a small count (0, 1, 2, ...)
CODE = INTEGER
#: ``seedGain``: the MGPA gain of the seed crystal, a category (12 for all but the hardest showers)
SEED_GAIN = {"kind": "onehot", "values": [1, 6, 12]}
#: the charged part of an isolation and the lepton-jet counts, learnt by every lepton source
#: (``jetNDauCharged``: the jet's charged daughters near the lepton; set to 0 after sampling
#: where the flash lepton has no jet, as NanoAOD writes it)
LEPTON_ISO_TARGETS = {
    "pfRelIso03_chg": ISOLATION,
    "miniPFRelIso_chg": ISOLATION,
    "jetNDauCharged": INTEGER,
}

#: conditioning of every gen-lepton/photon source. ``anc_*`` carry the displacement
#: (impact parameters), ``lepiso03`` the leptons inside the isolation cone, ``nPU`` the
#: pileup actually overlaid (isolation sums).
GEN_CONDITIONING = [
    "log_pt", "eta", "abs_eta", "phi", "charge",
    "flag:isPrompt", "flag:isDirectHadronDecayProduct", "flag:isTauDecayProduct", "flag:fromHardProcess",
    "anc_ctau", "anc_flight", "lepiso03",
    "genjet_logdr", "genjet_ptrel", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel", "nu_logdr", "nu_ptrel",
    "nTrueInt", "nPU", "HT", "nGenJet",
]
#: conditioning of the electron and photon sources: the nearest other gen photon (NanoAOD
#: keeps photons above 10 GeV or prompt): both photons of a π0 and an FSR photon next to
#: its electron end up in one supercluster.
EGAMMA_CONDITIONING = [*GEN_CONDITIONING, "pho_logdr", "pho_ptrel"]
#: conditioning of every jet-fake source (candidate: a GenJet). The nearest gen muon and
#: electron with their pT over the jet's tell a GenJet that *is* a prompt lepton (ptrel ≈ 1,
#: no fake) from a heavy-flavour jet with a soft lepton inside. Quark, gluon and parton-less
#: jets fake at different rates; the parton's charge sets the fake's (its leading track).
#: ``hf_flight`` (the b and c hadrons' flight inside the jet) sets the fake's impact
#: parameters: without it a c-jet fake tau came out with twice the FullSim dxy width.
JET_CONDITIONING = [
    "log_pt", "eta", "abs_eta", "phi", "mass", "is_b", "is_c", "parton_g", "parton_none", "parton_charge",
    "hf_flight", "other_logdr", "mu_logdr", "mu_ptrel", "ele_logdr", "ele_ptrel", "nTrueInt", "nPU", "HT",
]
