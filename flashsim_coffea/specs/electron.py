"""Electrons: from gen electrons, from gen photons (conversions), fakes from jets (one, and a second one near
the same GenJet) and from the underlying event apart from the jets.

Every field of the reference detector's ``Electron`` (53) is learnt, constant or derived:

* learnt: kinematics, ``charge``, ``deltaEtaSC``, ``dxy``, ``dz`` and their errors (with ``sip3d``, written
  derived), isolations (PF: ``pfRelIso03_all`` and ``miniPFRelIso_all`` as their excess over the charged parts; the
  ``dr03*`` detector sums), shower shapes, the MVA scores (``mvaIso``, ``mvaNoIso``,
  ``mvaHZZIso``: the isolated two as their residuals to a relation with ``mvaNoIso`` and the isolation),
  ``eInvMinusPInv``, ``scEtOverPt``, ``convVeto``,
  ``lostHits``, ``isPFcand``, ``seedGain``, ``tightCharge`` (three charge estimates, not written),
  ``jetNDauCharged`` and the two VID bitmaps (``vidNestedWPBitmap``: ten cut levels of 0-4,
  ``vidNestedWPBitmapHEEP``: twelve pass bits; one dequantised level per cut, transform ``vid``);
* constant: ``photonIdx`` -1 (the reference detector writes no electron-photon link);
* derived after sampling (:func:`flashsim_coffea.sim.derive.electron`): ``pdgId``, ``mass``,
  ``genPartFlav``, ``jetIdx``, ``cutBased`` (minimum over the bitmap), ``cutBased_HEEP``,
  ``mvaIso_WP80/90`` and ``mvaNoIso_WP80/90`` (cuts on the scores), ``seediEtaOriX``/``seediPhiOriY`` (seed
  crystal), ``jetRelIso``, ``jetPtRelv2``, ``mvaTTH``, ``ip3d`` (:func:`flashsim_coffea.nanoaod.derived.ip3d`), ``sip3d``
  (:func:`flashsim_coffea.sim.derive.sip3d`); the ``dr03*``
  sums are zeroed below 35 GeV and ``jetNDauCharged`` without a jet, as NanoAOD writes them.

Example:
    >>> [(s.key, s.candidates) for s in SOURCES]  # doctest: +NORMALIZE_WHITESPACE
    [('Electron_genelectron', 'GenElectron'), ('Electron_genphoton', 'GenPhoton'), ('Electron_jetfake', 'GenJetFake'),
     ('Electron_jetfake2', 'GenJetFake'), ('Electron_uefake', None)]
    >>> FROM_PHOTON.mirror, FROM_PHOTON.constants  # trained on mirror images too
    (('phi', 'eta'), {'photonIdx': -1})
    >>> len(FROM_ELECTRON.targets), FROM_ELECTRON.targets["vidNestedWPBitmap"]
    (35, {'kind': 'vid', 'cuts': 10, 'bits': 3})
"""

from __future__ import annotations

from dataclasses import replace

from flashsim_coffea.specs._lepton import (
    APART_CATEGORIES,
    CHARGE,
    EGAMMA_CONDITIONING,
    FLAG,
    INTEGER,
    ISO_ALL_03,
    ISO_ALL_MINI,
    ISO_SUM,
    ISOLATION,
    JET_CONDITIONING,
    KINEMATICS,
    LEPTON_ISO_TARGETS,
    MIRROR,
    MVA,
    POSITIVE,
    QUANTILE,
    R9,
    SEED_GAIN,
    apart_kinematics,
)
from flashsim_coffea.specs.source import COUNT_CONDITIONING, Source

#: an isolated MVA score learnt relative to the score without isolation and the isolation (see ``mvaIso`` below)
MVA_RELATION = {"kind": "relation", "link": "atanh", "then": MVA,
                "terms": [{"of": "mvaNoIso", "link": "atanh"}, {"of": "pfRelIso03_all", "max": 2.0}]}

_TARGETS = {
    "deltaEtaSC": {"kind": "plain"},
    # Gaussianised by their quantiles: through asinh at 20 um the flash core came out narrow (17k held-out zh
    # electrons, gradient-boosted, single field: dxy 0.543 / 0.546 -> 0.531 / 0.539, dz 0.556 / 0.551 -> 0.527 / 0.514)
    "dxy": QUANTILE,
    "dxyErr": POSITIVE,
    "dz": QUANTILE,
    "dzErr": POSITIVE,
    # learnt beside dxy and its error, though the written sip3d is derived from them (sim/derive.sip3d): without it the
    # flow's dxy core came out narrow (17k held-out zh electrons, 6k steps, noise seeds 1 / 2: dxy 0.574 / 0.575 ->
    # 0.522 / 0.529, the five impact fields 0.633 / 0.633 -> 0.585 / 0.589; docs/performance.md)
    "sip3d": POSITIVE,
    "pfRelIso03_all": ISO_ALL_03,
    "miniPFRelIso_all": ISO_ALL_MINI,
    "r9": R9,
    "sieie": POSITIVE,
    "hoe": ISOLATION,
    "energyErr": POSITIVE,
    # the isolated scores as their residuals to a linear relation in atanh with the score without isolation and the
    # isolation (transforms.Relation: exact in the reference detector, 0.986 correlation in CMS's nano_tt_v12); learnt
    # side by side, a classifier told flash from FullSim on the three scores at AUC 0.78 (each alone 0.53). Measured
    # on 17k held-out zh electrons, 6k steps, noise seeds 1 / 2: the three 0.778 / 0.775 -> 0.577 / 0.568, with
    # pfRelIso03_all 0.847 / 0.852 -> 0.633 / 0.632, each alone unchanged (docs/performance.md)
    "mvaIso": MVA_RELATION,
    "convVeto": FLAG,
    "lostHits": INTEGER,
    "vidNestedWPBitmap": {"kind": "vid", "cuts": 10, "bits": 3},
    "vidNestedWPBitmapHEEP": {"kind": "vid", "cuts": 12, "bits": 1},
    "mvaNoIso": MVA,
    "mvaHZZIso": MVA_RELATION,  # a residual interquartile range 0.24 for its atanh's 12.6 (zh training electrons)
    # 1/E - 1/p (1/GeV): a core at 0 as narrow as 1/pT (a quarter of zh_llbb's within 2e-4), a long low tail
    # (bremsstrahlung) to -2: Gaussianised by its quantiles; through asinh at 0.01 the core was a spike the flow
    # widened (FullSim 2.5 % of the electrons in (-1.7e-4, -1e-4), flash 1.5 %; single-field AUC 0.56)
    "eInvMinusPInv": {"kind": "quantile"},
    "scEtOverPt": {"kind": "asinh", "scale": 0.05},
    "dr03TkSumPt": ISO_SUM,
    # the same tracks in the same cone as dr03TkSumPt with HEEP's vetoes: equal for 87 % of the genuine zh_llbb electrons,
    # larger for 2.5 %, smaller for 11 %; learnt on its own, flash had 75 % equal (9 % larger) and a gradient-boosted
    # classifier given both sums told the electrons apart at 0.604 (benchmarks/field_greedy.py, zh 20k:
    # vidNestedWPBitmap 0.536, + dr03TkSumPtHEEP 0.549, + dr03TkSumPt): learnt as the signed difference, never below 0
    "dr03TkSumPtHEEP": {"kind": "excess", "over": "dr03TkSumPt", "signed": True, "floor": 0.0, "then": QUANTILE},
    "dr03EcalRecHitSumEt": ISO_SUM,
    "dr03HcalDepth1TowerSumEt": ISO_SUM,
    "isPFcand": FLAG,
    "seedGain": SEED_GAIN,
    **LEPTON_ISO_TARGETS,
    # two charge-consistency flags summed: 0 or 2 for most, 1 rare (2 % of the photon conversions, between 49 %
    # at 0 and 49 % at 2): one-hot, as a dequantised integer the flow filled the 1 from both sides (zh 20k: 20 %)
    "tightCharge": {"kind": "onehot", "values": [0, 1, 2]},
}
_CONST = {"photonIdx": -1}
#: the isolations' and shower sums' point masses (a sum of 0, an ``*_all`` on its charged part) drawn first as
#: categories (:data:`~flashsim_coffea.specs.source.POINT`): learnt by the flow, ``miniPFRelIso_all``'s tie came out at
#: 0.92 of FullSim's share, ``miniPFRelIso_chg`` = 0 at 0.93 (benchmarks/point_shares.py, 8000 steps, tables of ttbar,
#: dy, wjets; docs/performance.md "Point masses drawn first")
POINTS = tuple(f"{f}:point" for f in ("pfRelIso03_chg", "miniPFRelIso_chg", "pfRelIso03_all", "miniPFRelIso_all",
                                     "dr03TkSumPt", "hoe", "dr03EcalRecHitSumEt", "dr03HcalDepth1TowerSumEt"))

FROM_ELECTRON = Source(
    collection="Electron", name="genelectron", candidates="GenElectron", link="genPartIdx",
    conditioning=EGAMMA_CONDITIONING, targets={**KINEMATICS, "charge": CHARGE, **_TARGETS},
    constants=_CONST, match_dr=0.3, mirror=MIRROR, categories=POINTS,
)
FROM_PHOTON = Source(
    collection="Electron", name="genphoton", candidates="GenPhoton", link="genPartIdx",
    conditioning=EGAMMA_CONDITIONING, targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},
    constants=_CONST, match_dr=0.3, mirror=MIRROR,
)
JETFAKE = Source(
    collection="Electron", name="jetfake", candidates="GenJetFake",
    conditioning=JET_CONDITIONING, targets={**KINEMATICS, "charge": {"kind": "sign", "gen": None}, **_TARGETS},
    constants={**_CONST, "genPartIdx": -1}, mirror=MIRROR,
)

#: a second fake electron near the same GenJet (a source makes one object per candidate): 540 of the 6367 fake
#: electrons of zh_llbb (20k events; 60 of 3113 fake muons), mostly the other leg of a conversion in the jet. Its
#: objects are the fakes left within 0.4 of a GenJet once the first source took one (sources of a collection
#: take their objects in order), its efficiency the chance of one more, given the GenJet, drawn with the first
#: source's uniforms so that it comes beside a first one (drawn apart: 141 seconds for FullSim's 540)
JETFAKE2 = replace(JETFAKE, name="jetfake2", draw_with="jetfake")
#: fakes apart from every GenJet above 15 GeV: 162 of zh's 6367 (a count source, as ``Muon_uefake``)
UEFAKE = Source(
    collection="Electron", name="uefake", candidates=None,
    # regions: ECAL barrel, the barrel-endcap gap, the endcap inside and beyond the tracker's full coverage (2.0)
    conditioning=COUNT_CONDITIONING, targets={**apart_kinematics(-4.5, [-2.0, -1.566, -1.444, 1.444, 1.566, 2.0]),
                                              **_TARGETS},
    constants={**_CONST, "genPartIdx": -1}, mirror=("phi",),  # not in eta: its region is a category
    apart_from=(("GenJetFake", JETFAKE.match_dr),), categories=APART_CATEGORIES,
)

SOURCES = [FROM_ELECTRON, FROM_PHOTON, JETFAKE, JETFAKE2, UEFAKE]
