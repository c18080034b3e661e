"""Fields a flash collection derives instead of learning them, one function per collection.

After the engine has merged the sources of a collection and sorted them by pT, the
function of that collection fills, in place, the fields that follow from the learnt
ones, from the gen record or from the collections already made (cross-links, IDs from
their inputs, ...). They call the same :mod:`flashsim_coffea.nanoaod` functions as the
reference detector, so a derived field means the same on flash and on FullSim events.
Collections are made in the order of :data:`flashsim_coffea.specs.COLLECTIONS`; a
function sees the finished earlier collections in ``chunk.done``. :func:`event` runs
last, on the finished collections (event-level fields such as trigger bits).

Example:
    Muons derive their pdgId, mass and jet link; no jets here, so ``jetIdx`` is -1:

    >>> import awkward as ak
    >>> gen = ak.Array({"GenPart": [[{"pdgId": 13, "statusFlags": 8193, "genPartIdxMother": -1}]]})
    >>> cols = {"pt": np.array([30.0]), "eta": np.array([0.5]), "phi": np.array([0.1]),
    ...         "charge": np.array([-1]), "genPartIdx": np.array([0]), "pfRelIso04_all": np.array([0.1])}
    >>> chunk = Chunk(ev=np.array([0]), flash=np.array([0]), gen=gen, done={}, replicas=1)
    >>> derive("Muon", cols, chunk)
    >>> cols["pdgId"].tolist(), cols["mass"].tolist(), cols["jetIdx"].tolist(), cols["pfIsoId"].tolist()
    ([13], [0.10566], [-1], [4])
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import (
    derived,
    egamma_id,
    fatjet_defaults,
    jet_defaults,
    jet_id,
    jet_links,
    met_filters,
    schema,
    sv_links,
    tau_id,
    tau_links,
    triggers,
)
from flashsim_coffea.nanoaod import ecal_geometry as geo
from flashsim_coffea.nanoaod import jet_truth as jt
from flashsim_coffea.nanoaod import lepton_jet as lj
from flashsim_coffea.nanoaod.angles import delta_r
from flashsim_coffea.sim import random as rnd
from flashsim_coffea.specs import muon as muon_spec
from flashsim_coffea.specs import sv as sv_spec

#: GeV, the charged pion [PDG]: ``Tau_mass`` of decay mode 0 (``reference.taus.PARAMS["m_pi"]``)
PION_MASS = 0.13957


def sip3d(dxy: np.ndarray, dxy_err: np.ndarray, dz: np.ndarray, dz_err: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """A lepton's 3D impact-parameter significance from its written fields, as the reference detector computes it
    (:func:`flashsim_coffea.reference.leptons.impact_parameters`): ``ip3d`` over its error propagated from
    ``dxyErr`` and ``dzErr sin(theta)`` (no correlation), at least the smaller of the two.

    On reference samples the written ``sip3d`` equals this within the fields' stored precision (0.992-1.008,
    ``dy``); in real CMS NanoAOD (full track covariance) within 7 % for 80 % of the leptons (``nano_tt_v12.root``:
    muons 0.93-1.03, electrons 0.95-1.03 from the 10th to the 90th percentile). Learnt beside ``dxy``, ``dz`` and
    the errors, the flow broke the relation: a gradient-boosted classifier on the five fields told 17k held-out
    ``zh_llbb`` electrons from flash ones at AUC 0.78; with this, 0.61 (docs/performance.md).

    Example:
        Transverse only (dz 0): dxy over dxyErr; a track at 45 degrees with dz alone: dz sin / (dzErr sin):

        >>> sip3d(np.array([0.01, 0.0]), np.array([0.002, 0.002]), np.array([0.0, 0.02]), np.array([0.004, 0.004]),
        ...       np.array([0.0, 0.8814])).round(3).tolist()
        [5.0, 5.0]
    """
    sin_t = 1.0 / np.cosh(np.asarray(eta, np.float64))
    dxy, dxy_err = np.asarray(dxy, np.float64), np.asarray(dxy_err, np.float64)
    dz_t, dz_err_t = np.asarray(dz, np.float64) * sin_t, np.asarray(dz_err, np.float64) * sin_t
    ip = np.hypot(dxy, dz_t)
    err = np.hypot(dxy * dxy_err, dz_t * dz_err_t) / np.maximum(ip, 1e-12)
    return ip / np.maximum(err, np.minimum(dxy_err, dz_err_t))


@dataclass(frozen=True)
class Chunk:
    """What a derive function may read besides the collection's own columns.

    Attributes:
        ev: gen event index of each object (sorted as the columns).
        flash: flash event index of each object.
        gen: the gen chunk (one record per gen event).
        done: the collections made so far (name -> jagged awkward array over flash events).
        replicas: K, flash events per gen event.
        seed, keys: the global seed and the per-gen-event random keys (:mod:`flashsim_coffea.sim.random`)
            for the derived fields that draw random numbers (trigger and MET-filter emulation).
    """

    ev: np.ndarray
    flash: np.ndarray
    gen: ak.Array
    done: dict
    replicas: int
    seed: int = 0
    keys: np.ndarray | None = None


#: fields that models trained before a spec grew learnt and the spec derives now: the engine
#: still loads such a model (its card names them), and the derive function keeps the learnt value
#: where the inputs it derives the field from are missing (:func:`flashsim_coffea.sim.engine.load_source`).
DERIVED: dict[str, tuple[str, ...]] = {"Electron": ("cutBased", "ip3d", "sip3d", "mvaIso_WP80", "mvaIso_WP90"),
                                       "Muon": ("ip3d", "sip3d", "bsConstrainedChi2"),
                                       "Photon": ("cutBased", "mvaID_WP80", "mvaID_WP90", "pfRelIso03_chg"),
                                       "SV": ("dxy",),
                                       "Jet": jet_links.FIELDS["Muon"][2:] + jet_links.FIELDS["Electron"][2:]}


def _eta_sc(cols: dict) -> np.ndarray:
    """The supercluster eta of electrons, ``eta + deltaEtaSC`` from the written float32 values, as the reference."""
    return np.asarray(cols["eta"], np.float32) + np.asarray(cols["deltaEtaSC"], np.float32)


def _have(cols: dict, *names: str) -> bool:
    return all(n in cols for n in names)


def _written(cols: dict, coll: str) -> None:
    """Round every column to the dtype NanoAOD writes it with (float32, ...), in place: a derived
    field is then exactly the nanoaod function of the values in the output file."""
    dtypes = schema.SCHEMA[coll]
    for k, v in cols.items():
        if k in dtypes and np.dtype(dtypes[k]) == np.float32:
            cols[k] = np.asarray(v, np.float32).astype(np.float64)


def _f32(a) -> np.ndarray:
    return np.asarray(a, np.float32).astype(np.float64)


def _rho(chunk: Chunk) -> np.ndarray | None:
    """``Rho_fixedGridRhoFastjetAll`` of each object's flash event (float32 as written), or None where the
    event record has none (no event-level model loaded)."""
    rho = chunk.done.get("Rho")
    if rho is None or "fixedGridRhoFastjetAll" not in rho.fields:
        return None
    return _f32(ak.to_numpy(rho.fixedGridRhoFastjetAll))[chunk.flash]


def _jet_link(cols: dict, chunk: Chunk) -> None:
    jets = chunk.done.get("Jet")
    if jets is None:
        cols["jetIdx"] = np.full(len(chunk.flash), -1)
    else:
        cols["jetIdx"] = derived.jet_index(jets, chunk.flash, cols["eta"], cols["phi"])


def _lepton(cols: dict, chunk: Chunk, pdg: int) -> None:
    _jet_link(cols, chunk)
    if _have(cols, "dxy", "dz"):  # a model that learnt it (before the spec derived it): replaced too
        cols["ip3d"] = derived.ip3d(cols["dxy"], cols["dz"], cols["eta"])
    if _have(cols, "dxy", "dxyErr", "dz", "dzErr"):  # likewise (learnt by the model sets before the twentieth)
        cols["sip3d"] = sip3d(cols["dxy"], cols["dxyErr"], cols["dz"], cols["dzErr"], cols["eta"])
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    cols["pdgId"] = (-pdg * np.asarray(cols["charge"])).astype(np.int64)
    cols["mass"] = np.full(len(chunk.flash), derived.MASS[pdg])
    cols["genPartFlav"] = derived.gen_part_flav(chunk.gen.GenPart, chunk.ev, link, conversions=pdg == 11)


def _lepton_jet(cols: dict, chunk: Chunk, iso_no_jet: str, ident: str, mva: dict[str, str]) -> None:
    """The lepton-jet fields of muons and electrons from the final flash jets (NanoAOD definitions,
    :mod:`flashsim_coffea.nanoaod.lepton_jet`, as the reference detector's ``leptons.mva_tth``):
    ``jetNDauCharged`` 0 without a jet, ``jetRelIso``, ``jetPtRelv2`` and the prompt-lepton scores
    ``mva`` (field -> weight set), whose identification input is ``ident``."""
    jets, evt, jet_idx = chunk.done.get("Jet"), chunk.flash, cols["jetIdx"]
    if "jetNDauCharged" in cols:
        cols["jetNDauCharged"] = np.where(jet_idx >= 0, cols["jetNDauCharged"], 0)
    rel, ptrel = lj.lepton_jet_vars(jets, evt, jet_idx, cols["pt"], cols["eta"], cols["phi"], cols["mass"],
                                    cols[iso_no_jet])
    cols["jetRelIso"], cols["jetPtRelv2"] = _f32(rel), _f32(ptrel)
    if not _have(cols, "jetNDauCharged", "miniPFRelIso_chg", ident):
        return
    scores = lj.lepton_scores(cols, jets, evt, cols[ident], tuple(mva.values()))
    for field, weights in mva.items():
        cols[field] = scores[weights]


#: the written fields the jet ID reads, in :func:`flashsim_coffea.nanoaod.jet_id.jet_id_written`'s order
_JET_ID_FIELDS = ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "nConstituents")


def jet(cols: dict, chunk: Chunk) -> None:
    """Jet: NanoAOD's values where the Run-3 taggers, the PNet regression or the HF shower shapes do
    not run (:func:`flashsim_coffea.nanoaod.jet_defaults.apply`, from the jet's pT, raw pT and eta), and
    ``muonSubtrFactor`` 0 in a jet without a PF muon (``muEF`` 0: the same muons make both), ``jetId`` from
    the energy fractions where they decide it (:func:`flashsim_coffea.nanoaod.jet_id.jet_id_written`: learnt
    beside them, 4.8 % of the shipped set's central genuine jets had an ID their fractions contradicted). The
    lepton links need the final leptons: :func:`event` adds them."""
    _written(cols, "Jet")
    jet_defaults.apply(cols)
    if _have(cols, "jetId", *_JET_ID_FIELDS):
        cols["jetId"] = jet_id.jet_id_written(cols["eta"], *(cols[f] for f in _JET_ID_FIELDS), learnt=cols["jetId"])
    if _have(cols, "muonSubtrFactor", "muEF"):
        cols["muonSubtrFactor"] = np.where(cols["muEF"] > 0, cols["muonSubtrFactor"], 0.0)


def muon(cols: dict, chunk: Chunk) -> None:
    """Muon: ``jetIdx``, ``pdgId``, ``mass``, ``genPartFlav``, ``softMva`` -1 unless ``isGlobal`` and ``mvaMuID``
    -99 unless ``looseId`` (NanoAOD's rule), the working-point codes from their
    inputs (``pfIsoId``, ``miniIsoId``, ``tkIsoId``, ``multiIsoId``, ``mediumPromptId``,
    ``mvaMuID_WP``, ``softMvaId``, ``tightCharge``), the lepton-jet fields and scores
    (``jetRelIso``, ``jetPtRelv2``, ``mvaTTH``, ``mvaLowPt``) and ``dxybs``.

    ``dxybs`` moves ``dxy`` from the event's PV to the beam spot: with the PV of ``chunk.done``
    when it is made before the muons and has ``x``/``y``; else from a PV at the beam spot
    (``dxybs = dxy``, :data:`flashsim_coffea.nanoaod.lepton_jet.BEAM_SPOT_CM`). A field whose inputs
    the model lacks (a model trained before the spec grew) is left out.
    """
    _written(cols, "Muon")
    _lepton(cols, chunk, 13)
    cols["pfIsoId"] = derived.pf_iso_id(cols["pfRelIso04_all"])
    if "ptErr" in cols:
        cols["tightCharge"] = lj.muon_tight_charge(cols["pt"], cols["ptErr"])
    if "miniPFRelIso_all" in cols:
        cols["miniIsoId"] = lj.mini_iso_id(cols["miniPFRelIso_all"])
    if _have(cols, "tkRelIso", "tunepRelPt"):
        cols["tkIsoId"] = lj.tk_iso_id(cols["tkRelIso"], cols["tunepRelPt"])
    if _have(cols, "dxy", "dz"):
        if "mediumId" in cols:
            cols["mediumPromptId"] = lj.medium_prompt_id(cols["mediumId"], cols["dxy"], cols["dz"])
        if "mvaMuID" in cols:
            cols["mvaMuID_WP"] = lj.mva_id_wp(cols["mvaMuID"], cols["dxy"], cols["dz"])
        pv = chunk.done.get("PV")
        if pv is not None and {"x", "y"} <= set(pv.fields):
            pv_x, pv_y = (_f32(ak.to_numpy(pv[c]))[chunk.flash] for c in ("x", "y"))
        else:
            pv_x, pv_y = (np.full(len(chunk.flash), c) for c in lj.BEAM_SPOT_CM)
        cols["dxybs"] = lj.dxy_beamspot(cols["dxy"], cols["phi"], pv_x, pv_y)
        if _have(cols, muon_spec.BS_CHI2_REST, "dxyErr"):  # the refit's chi2: its learnt rest and this dxybs's pull
            cols["bsConstrainedChi2"] = lj.bs_chi2(cols.pop(muon_spec.BS_CHI2_REST), _f32(cols["dxybs"]), cols["dxyErr"])
    # the scores NanoAOD writes only for global (softMva) and loose (mvaMuID) muons: -1 and -99 by that rule,
    # exactly, as the reference (the shipped flow learnt them as spikes: 4 and 6 of 9.4k zh muons off the rule)
    if _have(cols, "softMva", "isGlobal"):
        cols["softMva"] = np.where(np.asarray(cols["isGlobal"]) > 0, cols["softMva"], -1.0)
    if _have(cols, "mvaMuID", "looseId"):
        cols["mvaMuID"] = np.where(np.asarray(cols["looseId"]) > 0, cols["mvaMuID"], -99.0)
    if "softMva" in cols:
        cols["softMvaId"] = lj.soft_mva_id(cols["softMva"])
    if _have(cols, "pfRelIso04_all", "sip3d", "dxy", "dz", "miniPFRelIso_all"):
        _lepton_jet(cols, chunk, "pfRelIso04_all", "segmentComp", {"mvaTTH": "muon_tth", "mvaLowPt": "muon_lowpt"})
        cols["multiIsoId"] = lj.multi_iso_id(cols["miniPFRelIso_all"], cols["jetRelIso"], cols["jetPtRelv2"])


def electron(cols: dict, chunk: Chunk) -> None:
    """Electron: ``jetIdx``, ``pdgId``, ``mass``, ``genPartFlav`` (conversions included), ``cutBased``
    and ``cutBased_HEEP`` from the VID bitmaps (the cuts on written fields in ``vidNestedWPBitmap`` from those
    fields: :func:`electron_bitmap`), ``mvaIso_WP80/90`` and ``mvaNoIso_WP80/90`` from the scores, the seed crystal
    (``seediEtaOriX``, ``seediPhiOriY``), the lepton-jet fields and ``mvaTTH``; the ``dr03*`` sums are
    zeroed below 35 GeV (:func:`flashsim_coffea.nanoaod.egamma_id.dr03_written`), the track sums below their least
    track's pT (:func:`flashsim_coffea.nanoaod.egamma_id.track_sum`). A field whose
    inputs the model lacks is left out (``cutBased`` then stays the learnt one)."""
    _written(cols, "Electron")
    _lepton(cols, chunk, 11)
    if _have(cols, "vidNestedWPBitmap", "deltaEtaSC"):
        cols["vidNestedWPBitmap"] = electron_bitmap(cols)
    if _have(cols, "vidNestedWPBitmapHEEP", "deltaEtaSC"):
        cols["vidNestedWPBitmapHEEP"] = heep_bitmap(cols)
    if "vidNestedWPBitmap" in cols:
        cols["cutBased"] = egamma_id.cut_based(cols["vidNestedWPBitmap"], len(egamma_id.ELECTRON_CUTS), 3)
    if "vidNestedWPBitmapHEEP" in cols:
        cols["cutBased_HEEP"] = egamma_id.all_pass(cols["vidNestedWPBitmapHEEP"], len(egamma_id.HEEP_CUTS))
    for k in ("dr03TkSumPt", "dr03TkSumPtHEEP", "dr03EcalRecHitSumEt", "dr03HcalDepth1TowerSumEt"):
        if k in cols:
            cols[k] = egamma_id.dr03_written(cols["pt"], cols[k])
            if k in egamma_id.TRACK_SUM_PT_MIN:
                cols[k] = egamma_id.track_sum(k, cols[k])
    if "deltaEtaSC" in cols:
        eta_sc = _eta_sc(cols)
        for score, tables in (("mvaIso", egamma_id.MVA_ISO_WP), ("mvaNoIso", egamma_id.MVA_NOISO_WP)):
            if score in cols:
                for wp, table in tables.items():
                    cols[f"{score}_{wp}"] = egamma_id.mva_wp(cols[score], cols["pt"], eta_sc, table)
        cols["seediEtaOriX"], cols["seediPhiOriY"] = geo.seed_indices(cols["eta"], cols["deltaEtaSC"], cols["phi"],
                                                                      cols["pt"], cols["charge"])
    if _have(cols, "pfRelIso03_all", "sip3d", "dxy", "dz", "miniPFRelIso_all"):
        _lepton_jet(cols, chunk, "pfRelIso03_all", "mvaNoIso", {"mvaTTH": "electron_tth"})


#: the written fields the electron ID's cuts read (:func:`flashsim_coffea.nanoaod.egamma_id.electron_cut_levels`)
ELECTRON_CUT_FIELDS = {"pt": "pt", "sieie": "sieie", "eip": "eInvMinusPInv", "rel_iso": "pfRelIso03_all",
                       "conv_veto": "convVeto", "lost": "lostHits"}


def electron_bitmap(cols: dict) -> np.ndarray:
    """The learnt ``vidNestedWPBitmap`` with the levels of every cut whose inputs are written fields (pT, the
    supercluster's eta, sieie, 1/E - 1/p, the isolation, the conversion veto, the missing hits) put to what those
    fields pass; the cuts on hidden quantities (dEtaInSeed, dPhiIn, H/E with the supercluster energy) keep their
    learnt levels, moved to the nearest level their cut can reach (``egamma_id.electron_snap_levels``). Learnt alone,
    the levels disagreed with the flash electron's own fields (shipped set, 17k held-out zh electrons: sieie 19 %,
    isolation 10 %, 1/E - 1/p 3.4 %; FullSim 0.1 %, 0, 0), so that a tight flash electron could fail the tight
    isolation cut.

    Example:
        An electron learnt tight (4) on every cut, whose written isolation passes loose only:

        >>> cols = {"vidNestedWPBitmap": egamma_id.pack_vid(np.full((1, 10), 4), 3), "eta": np.array([0.3]),
        ...         "deltaEtaSC": np.array([0.0]), "pt": np.array([40.0]), "pfRelIso03_all": np.array([0.15])}
        >>> egamma_id.unpack_vid(electron_bitmap(cols), 10, 3).tolist()
        [[4, 4, 4, 4, 4, 4, 4, 2, 4, 4]]
    """
    eta_sc = _eta_sc(cols)
    levels = egamma_id.unpack_vid(cols["vidNestedWPBitmap"], len(egamma_id.ELECTRON_CUTS), 3)
    inputs = {k: np.asarray(cols[f]) for k, f in ELECTRON_CUT_FIELDS.items() if f in cols}
    for cut, lv in egamma_id.electron_cut_levels(eta_sc, **inputs).items():
        levels[:, cut] = lv
    return egamma_id.pack_vid(egamma_id.electron_snap_levels(levels, eta_sc), 3)


#: the written fields the HEEP cuts read (:func:`flashsim_coffea.nanoaod.egamma_id.heep_cut_bits`)
HEEP_CUT_FIELDS = {"pt": "pt", "sieie": "sieie", "trk_iso": "dr03TkSumPtHEEP", "dxy": "dxy", "lost": "lostHits"}


def heep_bitmap(cols: dict) -> np.ndarray:
    """The learnt ``vidNestedWPBitmapHEEP`` with the bits of the cuts on written fields (pT, the supercluster eta
    ranges, the endcap sieie, the HEEP track isolation where NanoAOD writes it (above 35 GeV), dxy, the missing
    hits) set as those fields pass; the others (dEtaInSeed, dPhiIn, the shower shape, H/E and the calorimeter
    isolation with the supercluster energy, ECAL seeding) keep their learnt bits. Learnt alone, 2-4 % of the shipped
    set's flash electrons had a bit its own field contradicted (the pT > 35 GeV bit 3.5 %; FullSim 0).

    Example:
        A 50 GeV barrel electron learnt as passing every cut, with a track isolation of 7 GeV:

        >>> cols = {"vidNestedWPBitmapHEEP": np.array([4095]), "eta": np.array([0.3]), "deltaEtaSC": np.array([0.0]),
        ...         "pt": np.array([50.0]), "dr03TkSumPtHEEP": np.array([7.0])}
        >>> egamma_id.unpack_vid(heep_bitmap(cols), 12, 1).tolist()
        [[1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]]
    """
    eta_sc = _eta_sc(cols)
    bits = egamma_id.unpack_vid(cols["vidNestedWPBitmapHEEP"], len(egamma_id.HEEP_CUTS), 1)
    inputs = {k: np.asarray(cols[f]) for k, f in HEEP_CUT_FIELDS.items() if f in cols}
    written = np.asarray(cols["pt"]) > egamma_id.DR03_PT_MIN  # where dr03TkSumPtHEEP is the sum, not 0
    for cut, passed in egamma_id.heep_cut_bits(eta_sc, **inputs).items():
        bits[:, cut] = np.where(written, passed, bits[:, cut]) if cut == 7 else passed
    return egamma_id.pack_vid(bits, 1)


#: the written fields the photon ID's cuts read (:func:`flashsim_coffea.nanoaod.egamma_id.photon_cut_levels`)
PHOTON_CUT_FIELDS = {"pt": "pt", "hoe": "hoe", "sieie": "sieie"}


def photon_bitmap(cols: dict, rho: np.ndarray | None = None) -> np.ndarray:
    """The learnt photon ``vidNestedWPBitmap`` with the levels of the cuts on written fields put to what those
    fields pass: pT, the supercluster eta ranges, H/E, sieie, the charged isolation (``pfRelIso03_chg`` x pT) and,
    given the event's ``rho`` per photon, the photon isolation (``pfPhoIso03`` less rho x EA); the neutral-hadron
    isolation (a sum NanoAOD does not write) keeps its learnt level (see :func:`electron_bitmap`). Learnt alone,
    the shipped set's flash photons had a charged-isolation level their own fields contradicted for 4-8 %, a photon
    one for 2-5 % (1000-3000 photons of 400 ttbar / zh_llbb events x 10 replicas; FullSim 0).

    Example:
        A barrel photon learnt tight (3) on every cut, whose written sieie passes loose only:

        >>> cols = {"vidNestedWPBitmap": egamma_id.pack_vid(np.full((1, 7), 3), 2), "eta": np.array([0.3]),
        ...         "pt": np.array([40.0]), "hoe": np.array([0.01]), "sieie": np.array([0.0103])}
        >>> egamma_id.unpack_vid(photon_bitmap(cols), 7, 2).tolist()
        [[3, 3, 3, 1, 3, 3, 3]]
    """
    levels = egamma_id.unpack_vid(cols["vidNestedWPBitmap"], len(egamma_id.PHOTON_CUTS), 2)
    eb, ee = derived.photon_sc_flags(cols["eta"])
    inputs = {k: np.asarray(cols[f]) for k, f in PHOTON_CUT_FIELDS.items() if f in cols}
    if "pfRelIso03_chg" in cols:
        inputs["ch"] = np.asarray(cols["pfRelIso03_chg"]) * np.asarray(cols["pt"])
    if rho is not None and "pfPhoIso03" in cols:
        inputs["ph"] = egamma_id.photon_iso_corrected(cols["pfPhoIso03"], rho, "ph")
    for cut, lv in egamma_id.photon_cut_levels(np.abs(np.asarray(cols["eta"])), in_sc=eb | ee, **inputs).items():
        levels[:, cut] = lv
    return egamma_id.pack_vid(levels, 2)


def photon(cols: dict, chunk: Chunk) -> None:
    """Photon: ``jetIdx``, the supercluster η flags, ``genPartFlav``, ``pfRelIso03_chg`` from
    ``pfChargedIsoPFPV`` and the event's rho (:func:`flashsim_coffea.nanoaod.egamma_id.photon_charged_rel_iso`;
    where the event record has rho), ``cutBased`` from the VID bitmap (the learnt one for a model without the
    bitmap; the cuts on written fields from those fields: :func:`photon_bitmap`), ``mvaID_WP80/90`` from the
    score."""
    _written(cols, "Photon")
    _jet_link(cols, chunk)
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    cols["isScEtaEB"], cols["isScEtaEE"] = derived.photon_sc_flags(cols["eta"])
    cols["genPartFlav"] = derived.photon_gen_flav(chunk.gen.GenPart, chunk.ev, link)
    rho = _rho(chunk)
    if rho is not None and _have(cols, "pfChargedIsoPFPV"):
        cols["pfRelIso03_chg"] = _f32(egamma_id.photon_charged_rel_iso(cols["pfChargedIsoPFPV"], cols["pt"], rho))
    if "vidNestedWPBitmap" in cols:
        cols["vidNestedWPBitmap"] = photon_bitmap(cols, rho)
        cols["cutBased"] = egamma_id.cut_based(cols["vidNestedWPBitmap"], len(egamma_id.PHOTON_CUTS), 2)
    if "mvaID" in cols:
        for wp, table in egamma_id.MVA_ID_WP.items():
            cols[f"mvaID_{wp}"] = egamma_id.mva_wp(cols["mvaID"], cols["pt"], cols["eta"], table)


def tau(cols: dict, chunk: Chunk) -> None:
    """Tau: ``mass`` of decay mode 0, ``jetIdx``, the DeepTau working points (VSjet, VSe, VSmu) from the
    raw scores, ``rawIso`` from the written sums, ``idDecayModeOldDMs``, ``genPartFlav`` and, from the final
    flash muons and electrons (made before the taus), ``muIdx``, ``eleIdx``, ``idAntiMu``."""
    _written(cols, "Tau")
    # HPS gives a one-prong tau without pi0 the charged pion's mass, exactly; the flow's point mass
    # there is only nearly as exact, and other decay modes keep the learnt mass
    if "mass" in cols:
        cols["mass"] = np.where(cols["decayMode"] == 0, PION_MASS, cols["mass"])
    _jet_link(cols, chunk)
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    for versus in ("jet", "e", "mu"):
        raw = f"rawDeepTau2018v2p5VS{versus}"
        if raw in cols:
            cols[f"idDeepTau2018v2p5VS{versus}"] = tau_id.deeptau_id(cols[raw], versus)
    if _have(cols, "chargedIso", "neutralIso", "puCorr"):
        cols["rawIso"] = tau_id.combined_iso(cols["chargedIso"], cols["neutralIso"], cols["puCorr"])
    cols["idDecayModeOldDMs"] = tau_id.decay_mode_finding_old(cols["decayMode"])
    cols["genPartFlav"] = np.where(link >= 0, 5, 0)
    args = (chunk.flash, cols["pt"], cols["eta"], cols["phi"])
    cols["eleIdx"] = tau_links.lepton_index(chunk.done.get("Electron"), *args)
    cols["muIdx"] = tau_links.lepton_index(chunk.done.get("Muon"), *args)
    cols["idAntiMu"] = tau_links.anti_muon_id(chunk.done.get("Muon"), *args, cols["decayMode"])


#: fat-jet radius: hadrons, leptons and subjets inside (AK8)
AK8_R = 0.8


def _per_flash(objs: ak.Array | None, n_flash: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Offsets over the flash events and flat ``pt``/``eta``/``phi`` of a finished collection (empty if absent)."""
    if objs is None:
        return np.zeros(n_flash + 1, np.int64), {k: np.zeros(0) for k in ("pt", "eta", "phi")}
    return derived.offsets(_counts(objs)), {k: _f32(ak.to_numpy(ak.flatten(objs[k]))) for k in ("pt", "eta", "phi")}


def _fatjet_hadrons(chunk: Chunk, off: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The gen b/c hadrons (:func:`flashsim_coffea.sim.features.heavy_hadrons`) of every flash event and the fat
    jet (flat index, -1 none) that takes each: the nearest within R in the anti-kT metric, as the reference.
    Returns (jet, flash event, eta, phi, flavour) of each hadron (jet first)."""
    from flashsim_coffea.sim.features import heavy_hadrons

    h = heavy_hadrons(chunk.gen)
    nh = ak.to_numpy(ak.num(h.eta, axis=1)).astype(np.int64)
    hoff = derived.offsets(nh)
    K, n_flash = chunk.replicas, len(off) - 1
    fl = np.repeat(np.arange(n_flash), nh[np.arange(n_flash) // K])
    rows = hoff[fl // K] + np.arange(len(fl)) - derived.offsets(nh[np.arange(n_flash) // K])[fl]
    heta, hphi = (_f32(ak.to_numpy(ak.flatten(h[k])))[rows] for k in ("eta", "phi"))
    hflav = ak.to_numpy(ak.flatten(h.flavour)).astype(np.int64)[rows]
    jet = jt.absorb(off, eta, phi, pt, fl, heta, hphi, AK8_R, True)
    return jet, fl, heta, hphi, hflav


def _flavour_fields(cols: dict, n_b: np.ndarray, n_c: np.ndarray) -> None:
    cols["hadronFlavour"] = np.where(n_b > 0, 5, np.where(n_c > 0, 4, 0))
    cols["nBHadrons"], cols["nCHadrons"] = np.minimum(n_b, 255), np.minimum(n_c, 255)


def fatjet(cols: dict, chunk: Chunk) -> None:
    """FatJet: NanoAOD's defaults where PNet, the tracker taggers or soft drop do not run
    (:func:`flashsim_coffea.nanoaod.fatjet_defaults.apply`), ``hadronFlavour``/``nBHadrons``/``nCHadrons``
    from the gen b/c hadrons each jet takes (:func:`_fatjet_hadrons`), ``muonIdx3SJ``/``electronIdx3SJ``: the
    hardest flash muon / electron within 0.8 (the muon when at least as hard as the electron, the reference's
    rule; ``lsf3`` -1 without), ``subJetIdx1/2`` -1 until :func:`subjet` fills them."""
    _written(cols, "FatJet")
    n_flash = len(chunk.gen) * chunk.replicas
    off = derived.offsets(np.bincount(chunk.flash, minlength=n_flash))
    pt_raw = cols["pt"] * (1.0 - np.asarray(cols["rawFactor"], np.float64))
    jet, _, _, _, hflav = _fatjet_hadrons(chunk, off, pt_raw, cols["eta"], cols["phi"])
    n = len(chunk.flash)
    _flavour_fields(cols, np.bincount(jet[(jet >= 0) & (hflav == 5)], minlength=n),
                    np.bincount(jet[(jet >= 0) & (hflav == 4)], minlength=n))
    lep = {}
    for coll in ("Muon", "Electron"):
        loff, lcol = _per_flash(chunk.done.get(coll), n_flash)
        i = jt.lepton_in_jet(chunk.flash, cols["eta"], cols["phi"], loff, lcol["pt"], lcol["eta"], lcol["phi"], AK8_R)
        lpt = lcol["pt"][np.minimum(loff[chunk.flash] + np.maximum(i, 0), max(len(lcol["pt"]) - 1, 0))] \
            if len(lcol["pt"]) else np.zeros(n)
        lep[coll] = (i, np.where(i >= 0, lpt, -1.0))
    (mu_i, mu_pt), (el_i, el_pt) = lep["Muon"], lep["Electron"]
    use_mu = (mu_i >= 0) & (mu_pt >= el_pt)
    use_el = (el_i >= 0) & ~use_mu
    cols["muonIdx3SJ"], cols["electronIdx3SJ"] = np.where(use_mu, mu_i, -1), np.where(use_el, el_i, -1)
    fatjet_defaults.apply(cols, has_lepton=use_mu | use_el)
    cols["subJetIdx1"] = cols["subJetIdx2"] = np.full(n, -1)


def subjet(cols: dict, chunk: Chunk) -> None:
    """SubJet: ``btagDeepB`` -1 beyond the tracker, ``hadronFlavour``/``nBHadrons``/``nCHadrons`` from the
    hadrons of its fat jet that are closer to it than to the jet's other subjet (as the reference), and the
    reverse links ``FatJet.subJetIdx1/2``: the fat jet's two leading subjets (from the private parent position,
    :data:`flashsim_coffea.specs.source.PARENT_COLUMN`, removed here), written into ``chunk.done["FatJet"]``.
    ``FatJet.msoftdrop`` stays the fat jet flow's, learnt as a fraction of the jet's mass
    (:mod:`flashsim_coffea.specs.fatjet`): in the reference it is the two subjets' mass, but the flash subjets'
    mass put the jets that soft drop leaves whole at 0.9-1.2 of the jet mass for FullSim's 1.00-1.015
    (docs/performance.md, "The groomed mass as a fraction of the jet mass"); the subjets' mass approximates it.
    As in NanoAOD a fat jet has at most two soft-drop subjets: subjets beyond the two leading ones of a jet
    and those of a jet without soft drop (raw pT at most
    :data:`flashsim_coffea.nanoaod.fatjet_defaults.PARAMS` ``sd_raw_ptmin``) are dropped, and the collection is
    stored fat jet after fat jet, the harder subjet first (:data:`TAKE_COLUMN`): ``subJetIdx1`` counts the
    subjets of the earlier fat jets and ``subJetIdx2 = subJetIdx1 + 1``, as in NanoAOD, not pT-sorted over the
    event. The two share their efficiency draw (:attr:`flashsim_coffea.specs.source.Parent.shared_draw`), so
    a jet with one subjet alone is rare (zh_llbb, 5000 events: 2.6 % of flash fat jets, FullSim none; one of
    116 in nano_tt_v12), and is kept with ``subJetIdx2 = -1``."""
    from flashsim_coffea.specs.source import PARENT_COLUMN

    _written(cols, "SubJet")
    parent = np.asarray(cols.pop(PARENT_COLUMN), np.int64)
    fatjet_defaults.apply(cols)
    n_flash = len(chunk.gen) * chunk.replicas
    fat = chunk.done["FatJet"]
    foff, fcol = _per_flash(fat, n_flash)
    n_fat, n = int(foff[-1]), len(chunk.flash)
    raw = fcol["pt"] * (1.0 - _f32(ak.to_numpy(ak.flatten(fat.rawFactor))))
    gp = foff[chunk.flash] + parent  # flat index of the parent fat jet
    order = np.argsort(gp, kind="stable")  # pT order kept within a fat jet
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - derived.offsets(np.bincount(gp, minlength=n_fat))[gp[order]]
    keep = (rank < 2) & fatjet_defaults.has_soft_drop(raw[gp]) if n else np.zeros(0, bool)
    kept = np.flatnonzero(keep)
    # stored as NanoAOD stores them: fat jet after fat jet (in the fat jets' order), the harder one first
    take = kept[np.lexsort((rank[kept], gp[kept]))]
    local = np.arange(len(take)) - derived.offsets(np.bincount(chunk.flash[take], minlength=n_flash))[chunk.flash[take]]
    idx = np.full((n_fat, 2), -1, np.int64)
    idx[gp[take], rank[take]] = local
    # hadrons: the fat jet that takes them, then the closer of its two subjets
    jet, _, heta, hphi, hflav = _fatjet_hadrons(chunk, foff, raw, fcol["eta"], fcol["phi"])
    inside = jet >= 0
    sub_of = np.full((n_fat + 1, 2), -1, np.int64)
    sub_of[gp[kept], rank[kept]] = kept
    cand = sub_of[np.where(inside, jet, -1)]  # the (up to) two subjets of each hadron's fat jet
    # a trailing NaN: ``cand`` -1 (no subjet) reads it, also when the chunk has no subjet at all
    eta, phi = (np.append(np.asarray(cols[k], np.float64), np.nan) for k in ("eta", "phi"))
    d = np.where(cand >= 0, delta_r(heta[:, None], hphi[:, None], eta[cand], phi[cand]), np.inf)
    best = cand[np.arange(len(cand)), np.argmin(d, axis=1)] if len(cand) else np.zeros(0, np.int64)
    ok = inside & (best >= 0)
    _flavour_fields(cols, np.bincount(best[ok & (hflav == 5)], minlength=n),
                    np.bincount(best[ok & (hflav == 4)], minlength=n))
    cols[TAKE_COLUMN] = take
    counts = _counts(fat)
    dt = schema.SCHEMA["FatJet"]["subJetIdx1"]
    for k, name in enumerate(("subJetIdx1", "subJetIdx2")):
        fat = ak.with_field(fat, ak.unflatten(idx[:, k].astype(dt), counts), name)
    chunk.done["FatJet"] = fat


def _flash_counts(chunk: Chunk) -> tuple[int, np.ndarray]:
    """The number of flash events and the objects of a collection per flash event (``chunk.flash`` sorted)."""
    n_flash = len(chunk.gen) * chunk.replicas
    return n_flash, np.bincount(np.asarray(chunk.flash, np.int64), minlength=n_flash)


def _with_fields(objs: ak.Array, coll: str, new: dict) -> ak.Array:
    """``objs`` with the fields ``new`` added or replaced, in NanoAOD order and dtypes."""
    dtypes = schema.SCHEMA[coll]
    names = [f for f in dtypes if f in new or f in objs.fields]
    return ak.zip({f: ak.values_astype(new[f] if f in new else objs[f], dtypes[f]) for f in names})


def sv(cols: dict, chunk: Chunk) -> None:
    """SV: the links of the finished jets and leptons to the flash SVs, as the reference
    (:mod:`flashsim_coffea.nanoaod.sv_links`): ``Jet_svIdx1/2``, ``Jet_nSVs`` (ΔR < 0.4, SV order) and
    ``Muon/Electron_svIdx``: the SV made from the b/c hadron whose decay the lepton's gen particle comes
    from (:func:`flashsim_coffea.sim.features.hf_parent`: a D's lepton links to the D's SV, not its B's,
    as the reference's track-to-vertex rule); they replace ``chunk.done["Jet"]``, ``["Muon"]``, ``["Electron"]``.
    The private candidate columns (:data:`flashsim_coffea.specs.sv.PRIVATE`) are removed. The position
    needs the event's random numbers: :func:`event` adds it (:func:`sv_geometry`)."""
    from flashsim_coffea.sim.features import hf_parent

    _written(cols, "SV")
    hadron = np.asarray(cols.pop("genPartIdx", np.full(len(chunk.flash), -1)), np.int64)
    for k in sv_spec.PRIVATE:
        cols.pop(k, None)
    n_flash, counts = _flash_counts(chunk)
    done = chunk.done
    if done.get("Jet") is not None:
        sv_rec = ak.unflatten(ak.zip({"eta": cols["eta"], "phi": cols["phi"]}), counts)
        done["Jet"] = _with_fields(done["Jet"], "Jet", sv_links.jet_fields(done["Jet"], sv_rec))
    local = np.arange(len(chunk.flash)) - derived.offsets(counts)[:-1][chunk.flash]
    mine = hadron >= 0
    table = np.stack([np.asarray(chunk.flash, np.int64)[mine], hadron[mine], local[mine]], axis=1)
    parent = hf_parent(chunk.gen)
    p_off = derived.offsets(ak.to_numpy(ak.num(parent, axis=1)).astype(np.int64))
    p_flat = ak.to_numpy(ak.flatten(parent)).astype(np.int64)

    def up(evt: np.ndarray, idx: np.ndarray) -> np.ndarray:  # the hadron parent of GenPart idx of gen event evt
        ok = (idx >= 0) & (idx < p_off[evt + 1] - p_off[evt])
        return np.where(ok, p_flat[np.where(ok, p_off[evt] + idx, 0)] if len(p_flat) else -1, -1)

    for coll in ("Muon", "Electron"):
        leps = done.get(coll)
        if leps is None or "genPartIdx" not in leps.fields:
            continue
        n = _counts(leps)
        f = np.repeat(np.arange(len(n), dtype=np.int64), n)
        h0 = up(f // chunk.replicas, ak.to_numpy(ak.flatten(leps.genPartIdx)).astype(np.int64))
        done[coll] = _with_fields(leps, coll, {"svIdx": ak.unflatten(sv_links.lepton_index(f, h0, table), n)})


def flight_vector(eta, phi, dlen, p_angle, psi) -> np.ndarray:
    """The flight vector SV − PV (n, 3) of length ``dlen`` at the angle π − ``p_angle`` from the momentum
    direction (``eta``, ``phi``; NanoAOD's ``pAngle`` = acos(p̂ · (PV − SV))), at azimuth ``psi`` around it
    (0: towards larger polar angle θ).

    Example:
        >>> d = flight_vector(np.zeros(2), np.zeros(2), np.ones(2), np.full(2, np.pi - 0.1), np.array([0.0, np.pi / 2]))
        >>> np.round(d, 4).tolist()  # 0.1 rad from the momentum along -z, then along +y
        [[0.995, 0.0, -0.0998], [0.995, 0.0998, 0.0]]
    """
    theta = 2 * np.arctan(np.exp(-np.asarray(eta, np.float64)))
    phi = np.asarray(phi, np.float64)
    ct, st, cp, sp = np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)
    p_hat = np.stack([st * cp, st * sp, ct], axis=1)
    e_theta = np.stack([ct * cp, ct * sp, -st], axis=1)
    e_phi = np.stack([-sp, cp, np.zeros_like(sp)], axis=1)
    alpha = np.pi - np.asarray(p_angle, np.float64)
    psi = np.asarray(psi, np.float64)[:, None]
    d_hat = np.cos(alpha)[:, None] * p_hat + np.sin(alpha)[:, None] * (np.cos(psi) * e_theta + np.sin(psi) * e_phi)
    return np.asarray(dlen, np.float64)[:, None] * d_hat


def sv_geometry(svs: ak.Array, cols: dict, chunk: Chunk) -> ak.Array:
    """The flash SVs with their position ``x, y, z`` = PV + :func:`flight_vector` (its azimuth around the
    momentum a counter-based uniform draw: the reference's vertex-fit error is isotropic across the flight),
    and ``dxy``, ``pAngle`` computed from that vector as the reference computes them. The PV
    is the flash one (``cols`` ``PV_x/y/z``), else the beam spot at z = 0
    (:data:`flashsim_coffea.nanoaod.lepton_jet.BEAM_SPOT_CM`)."""
    counts = _counts(svs)
    flat = {k: _f32(ak.to_numpy(ak.flatten(svs[k]))) for k in ("eta", "phi", "dlen", "pAngle")}
    f = np.repeat(np.asarray(chunk.flash, np.int64), counts)
    if all(f"PV_{c}" in cols for c in "xyz"):
        pv = [_f32(cols[f"PV_{c}"])[f] for c in "xyz"]
    else:
        pv = [np.full(len(f), lj.BEAM_SPOT_CM[0]), np.full(len(f), lj.BEAM_SPOT_CM[1]), np.zeros(len(f))]
    psi = 2 * np.pi * _draws(chunk, _SV, 1, counts)
    d = flight_vector(flat["eta"], flat["phi"], flat["dlen"], flat["pAngle"], psi)
    st = np.sin(2 * np.arctan(np.exp(-flat["eta"])))
    p_hat = np.stack([st * np.cos(flat["phi"]), st * np.sin(flat["phi"]), np.tanh(flat["eta"])], axis=1)
    cos_pd = np.einsum("ij,ij->i", p_hat, d) / np.maximum(flat["dlen"], 1e-30)
    new = {c: ak.unflatten(pv[i] + d[:, i], counts) for i, c in enumerate("xyz")}
    new["dxy"] = ak.unflatten(np.hypot(d[:, 0], d[:, 1]), counts)
    new["pAngle"] = ak.unflatten(np.arccos(np.clip(-cos_pd, -1.0, 1.0)), counts)
    return _with_fields(svs, "SV", new)


#: random streams of the event-level emulations (the place of the source id in the keys of :mod:`.random`).
_HLT, _FLAG, _SV = zlib.crc32(b"HLT"), zlib.crc32(b"Flag"), zlib.crc32(b"SV")
#: Pileup_* fields copied from the gen input when it has them (the generator's pileup summary).
PILEUP_FIELDS = tuple(k[len("Pileup_"):] for k in schema.SCHEMA[""] if k.startswith("Pileup_"))


def _draws(chunk: Chunk, stream: int, what: int, counts: np.ndarray | None = None, width: int | None = None,
           normal: bool = False) -> np.ndarray:
    """Counter-based numbers keyed (seed, gen event, replica, ``stream``, ``what``, object or slot): one per
    object of a jagged collection (``counts`` per flash event, the object's index in its event), or a
    (flash events, ``width``) block. An event's numbers do not depend on its chunk."""
    draw = rnd.normal if normal else rnd.uniform
    K = chunk.replicas
    if counts is not None:
        flash = np.repeat(chunk.flash, counts)
        local = np.arange(len(flash), dtype=np.int64) - np.repeat(derived.offsets(counts)[:-1], counts)
        return draw(chunk.seed, chunk.keys[flash // K], flash % K, stream, what, local)
    f = chunk.flash[:, None]
    return draw(chunk.seed, chunk.keys[f // K], f % K, stream, what, np.arange(width)[None, :])


def _counts(objs: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.num(objs.pt)).astype(np.int64)


def event(cols: dict, chunk: Chunk) -> None:
    """Event level, after every collection (``cols``: the event-level columns by NanoAOD branch name;
    ``chunk.done``: the final collections; ``chunk.flash``: every flash event).

    * ``Jet``: the lepton links ``muonIdx1/2``, ``electronIdx1/2``, ``nMuons``, ``nElectrons`` from the
      final muons' and electrons' ``jetIdx`` (:func:`flashsim_coffea.nanoaod.jet_links.jet_lepton_fields`,
      as the reference detector's ``jets.add_lepton_links``); -1 / 0 for a lepton collection not simulated.
    * ``Pileup_*``: copied from the gen input (the fields of :data:`PILEUP_FIELDS` it has), with the
      event-level models.
    * ``HLT_*``: :func:`flashsim_coffea.nanoaod.triggers.emulate` on the flash muons, electrons, jets and
      MET, when all four are simulated; ``Flag_*``: :func:`flashsim_coffea.nanoaod.met_filters.met_filters`
      on the flash PV and muons, when the PV has ``ndof``, ``x``, ``y``, ``z``; ``SV``: the position
      (:func:`sv_geometry`, from the flash PV). Their random numbers are
      counter-based (:func:`_draws`), so an event's bits do not depend on its chunk, and the same seed
      gives the same bits. The inputs are the values as written (float32).
    """
    done = chunk.done
    if "Jet" in done:
        jets = done["Jet"]
        idx = {c: done[c].jetIdx if c in done else None for c in ("Muon", "Electron")}
        links = jet_links.jet_lepton_fields(jets, idx["Muon"], idx["Electron"])
        dtypes = schema.SCHEMA["Jet"]
        names = [f for f in dtypes if f in links or f in jets.fields]
        done["Jet"] = ak.zip({f: ak.values_astype(links[f] if f in links else jets[f], dtypes[f]) for f in names})
    if "MET_pt" in cols:
        pileup = chunk.gen.Pileup
        for f in PILEUP_FIELDS:
            if f in pileup.fields:
                cols[f"Pileup_{f}"] = ak.to_numpy(pileup[f])[chunk.ev]
    if "MET_pt" in cols and all(c in done for c in ("Muon", "Electron", "Jet")):
        mu, el, jets = done["Muon"], done["Electron"], done["Jet"]
        n_jet = _counts(jets)
        numbers = {
            "muon": _draws(chunk, _HLT, 1, _counts(mu)),
            "electron": _draws(chunk, _HLT, 2, _counts(el)),
            "jet_normal": _draws(chunk, _HLT, 3, n_jet, normal=True),
            "jet_uniform": _draws(chunk, _HLT, 4, n_jet),
            "event": _draws(chunk, _HLT, 5, width=triggers.N_EVENT_DRAWS),
        }
        met = {"pt": _f32(cols["MET_pt"]), "phi": _f32(cols["MET_phi"])}
        cols.update(triggers.emulate(mu, el, jets, met, numbers))
    pv_fields = ("ndof", "x", "y", "z")
    if all(f"PV_{f}" in cols for f in pv_fields) and "Muon" in done:
        mu = done["Muon"]
        numbers = {"muon": _draws(chunk, _FLAG, 1, _counts(mu)),
                   "event": _draws(chunk, _FLAG, 2, width=met_filters.N_GROUPS)}
        cols.update(met_filters.met_filters({f: _f32(cols[f"PV_{f}"]) for f in pv_fields}, mu, numbers))
    if "SV" in done:
        done["SV"] = sv_geometry(done["SV"], cols, chunk)


#: private integer column a derive function may add: the rows the collection keeps, in the order it stores
#: them (flash events ascending); the engine drops and reorders the others before building the collection
#: (FSR photons failing the producer's cuts; subjets stored fat jet after fat jet, as NanoAOD).
TAKE_COLUMN = "_take"


def _fsr_link_columns(keep_flash: np.ndarray, n_flash: int, lep_off: np.ndarray, lep: np.ndarray,
                      dret2: np.ndarray) -> ak.Array:
    """Per lepton (``lep_off``: offsets over flash events), the position in the final FsrPhoton
    collection of its photon of smallest ``dROverEt2`` (-1: none), as the reference's producer."""
    local = np.arange(len(keep_flash)) - derived.offsets(np.bincount(keep_flash, minlength=n_flash))[keep_flash]
    flat = np.full(int(lep_off[-1]), -1, np.int64)
    has = np.flatnonzero(lep >= 0)
    key = lep_off[keep_flash[has]] + lep[has]
    o = np.lexsort((dret2[has], key))
    first = np.ones(len(o), bool)
    first[1:] = key[o][1:] != key[o][:-1]
    flat[key[o][first]] = local[has][o][first]
    return ak.unflatten(flat, np.diff(lep_off))


def fsrphoton(cols: dict, chunk: Chunk) -> None:
    """FsrPhoton: the producer's rule (:func:`flashsim_coffea.reference.fsr.reconstruct_fsr`, CMSSW
    ``LeptonFSRProducer``) on the flash photons and the final flash muons and electrons: each photon goes to
    the closest eligible muon, else a closer electron, within its cuts (``muonIdx``, ``electronIdx``,
    ``dROverEt2`` = that ΔR / pT²); photons failing a cut (no lepton, pT, |η|, ``relIso03``) are dropped
    (:data:`TAKE_COLUMN`), and each lepton's ``fsrPhotonIdx`` (its photon of smallest ``dROverEt2``) is
    added to ``chunk.done["Muon"]`` / ``["Electron"]``. Cuts: :data:`flashsim_coffea.reference.fsr.PARAMS`.

    Example:
        A 40 GeV muon and two flash photons next to it (0.05 and 0.3 away): the 2.2 GeV one fails
        dR / pT^2 < 0.05 and is dropped, the other is the muon's:

        >>> done = {"Muon": ak.Array([[{"pt": 40.0, "eta": 0.0, "phi": 0.0}]])}  # no electrons simulated
        >>> cols = {"pt": np.array([6.0, 2.2]), "eta": np.array([0.05, 0.3]), "phi": np.zeros(2),
        ...         "relIso03": np.array([0.1, 0.2]), "muonIdx": np.array([0, 0]), "electronIdx": np.array([-1, -1])}
        >>> fsrphoton(cols, Chunk(ev=np.array([0, 0]), flash=np.array([0, 0]), gen=None, done=done, replicas=1))
        >>> cols[TAKE_COLUMN].tolist(), cols["muonIdx"].tolist(), round(float(cols["dROverEt2"][0]), 5)
        ([0], [0, -1], 0.00139)
        >>> done["Muon"].fsrPhotonIdx.tolist()
        [[0]]
    """
    from flashsim_coffea.nanoaod import fsr_rule as fsr

    _written(cols, "FsrPhoton")
    cols.pop("genPartIdx", None)  # the gen photon's index (the sources' private link): no FsrPhoton field
    P = fsr.PARAMS
    n_flash = len(next(iter(chunk.done.values())))
    pt, eta, phi = (np.asarray(cols[k], np.float64) for k in ("pt", "eta", "phi"))
    lep = {}
    for coll, name in (("Muon", "muon"), ("Electron", "electron")):
        objs = chunk.done.get(coll)
        if objs is None:
            lep[coll] = (np.zeros(n_flash + 1, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, bool))
        else:
            lep[coll] = fsr._leptons(objs, P[f"{name}_pt_min"], P[f"{name}_eta_max"])
    cut = (P["dr_min"], P["dr_over_et2_max"])
    flash = np.asarray(chunk.flash, np.int64)
    mu_i, dr = fsr._closest(flash, eta, phi, pt, np.full(len(pt), P["dr_max"]), *lep["Muon"], *cut)
    el_i, dr = fsr._closest(flash, eta, phi, pt, dr, *lep["Electron"], *cut)
    keep = (((mu_i >= 0) | (el_i >= 0)) & (pt >= P["photon_pt_min"]) & (np.abs(eta) <= P["photon_eta_max"])
            & (np.asarray(cols["relIso03"]) <= P["rel_iso_max"]))
    cols["muonIdx"] = mu_i
    cols["electronIdx"] = np.where(mu_i >= 0, -1, el_i)
    cols["dROverEt2"] = dr / pt**2
    cols[TAKE_COLUMN] = np.flatnonzero(keep)
    links = {coll: _fsr_link_columns(flash[keep], n_flash, lep[coll][0], cols[f"{name}Idx"][keep],
                                     cols["dROverEt2"][keep])
             for coll, name in (("Muon", "muon"), ("Electron", "electron"))}
    for coll, link in links.items():  # as reference.fsr.add_links: the field in schema order, v12 dtype
        if coll in chunk.done:
            objs = ak.with_field(chunk.done[coll], link, "fsrPhotonIdx")
            chunk.done[coll] = schema.cast(coll, ak.zip({f: objs[f] for f in schema.SCHEMA[coll] if f in objs.fields},
                                                        depth_limit=2))


#: collection -> the other collections its derived fields read (``Event``: the MET, PV, HLT and Flag records):
#: a muon's ``jetIdx``, ``jetRelIso`` and ``mvaTTH`` need the flash jets, its ``dxybs`` the flash PV, a jet's
#: ``muonIdx1`` the flash muons, a fat jet's ``subJetIdx1/2`` its subjets; without them such
#: fields would take their no-object values (``jetIdx`` -1).
#: :meth:`flashsim_coffea.sim.engine.FlashSim.load` loads them with the collections asked for. Links into the
#: other collections (``Muon.svIdx``, ``fsrPhotonIdx``) are left out of a run that does not simulate them.
NEEDS: dict[str, tuple[str, ...]] = {
    "Jet": ("Muon", "Electron"), "Muon": ("Jet", "Event"), "Electron": ("Jet",), "Photon": ("Jet",),
    "Tau": ("Jet", "Muon", "Electron"), "FatJet": ("Muon", "Electron", "SubJet"),
    "SV": ("Jet", "Muon", "Electron", "Event"), "FsrPhoton": ("Muon", "Electron"), "Event": ("Jet", "Muon", "Electron"),
}


def needed(collections: set[str] | list[str]) -> set[str]:
    """``collections`` and every collection their derived fields read, directly or not (:data:`NEEDS`).

    Example:
        >>> sorted(needed({"FsrPhoton"})), sorted(needed({"Photon"}))
        (['Electron', 'Event', 'FsrPhoton', 'Jet', 'Muon'], ['Electron', 'Event', 'Jet', 'Muon', 'Photon'])
    """
    out, todo = set(collections), list(collections)
    while todo:
        for c in NEEDS.get(todo.pop(), ()):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


#: collection -> its derive function.
DERIVE: dict[str, Callable[[dict, Chunk], None]] = {
    "Jet": jet, "Muon": muon, "Electron": electron, "Photon": photon, "Tau": tau,
    "FatJet": fatjet, "SubJet": subjet, "SV": sv,
    "FsrPhoton": fsrphoton,
}


def derive(coll: str, cols: dict, chunk: Chunk) -> None:
    """Fill the derived fields of collection ``coll`` in ``cols`` (in place, after the pT sort)."""
    DERIVE[coll](cols, chunk)
