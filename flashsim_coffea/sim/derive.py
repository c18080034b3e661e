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
    jet_defaults,
    jet_links,
    met_filters,
    schema,
    tau_id,
    tau_links,
    triggers,
)
from flashsim_coffea.nanoaod import ecal_geometry as geo
from flashsim_coffea.nanoaod import lepton_jet as lj
from flashsim_coffea.sim import random as rnd


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
DERIVED: dict[str, tuple[str, ...]] = {"Electron": ("cutBased",), "Photon": ("cutBased",),
                                       "Jet": jet_links.FIELDS["Muon"][2:] + jet_links.FIELDS["Electron"][2:]}


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


def _jet_link(cols: dict, chunk: Chunk) -> None:
    jets = chunk.done.get("Jet")
    if jets is None:
        cols["jetIdx"] = np.full(len(chunk.flash), -1)
    else:
        cols["jetIdx"] = derived.jet_index(jets, chunk.flash, cols["eta"], cols["phi"])


def _lepton(cols: dict, chunk: Chunk, pdg: int) -> None:
    _jet_link(cols, chunk)
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
    f = lj.mva_features(cols["pt"], cols["eta"], cols["jetNDauCharged"], cols["miniPFRelIso_chg"],
                        cols["miniPFRelIso_all"], cols["jetPtRelv2"], cols["jetRelIso"],
                        lj.linked(jets, "btagDeepFlavB", evt, jet_idx), cols["sip3d"], cols["dxy"], cols["dz"],
                        cols[ident])
    for field, weights in mva.items():
        cols[field] = lj.lepton_mva(weights, f)


def jet(cols: dict, chunk: Chunk) -> None:
    """Jet: NanoAOD's values where the Run-3 taggers, the PNet regression or the HF shower shapes do
    not run (:func:`flashsim_coffea.nanoaod.jet_defaults.apply`, from the jet's pT, raw pT and eta), and
    ``muonSubtrFactor`` 0 in a jet without a PF muon (``muEF`` 0: the same muons make both). The lepton
    links need the final leptons: :func:`event` adds them."""
    _written(cols, "Jet")
    jet_defaults.apply(cols)
    if _have(cols, "muonSubtrFactor", "muEF"):
        cols["muonSubtrFactor"] = np.where(cols["muEF"] > 0, cols["muonSubtrFactor"], 0.0)


def muon(cols: dict, chunk: Chunk) -> None:
    """Muon: ``jetIdx``, ``pdgId``, ``mass``, ``genPartFlav``, the working-point codes from their
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
    if "softMva" in cols:
        cols["softMvaId"] = lj.soft_mva_id(cols["softMva"])
    if _have(cols, "pfRelIso04_all", "sip3d", "dxy", "dz", "miniPFRelIso_all"):
        _lepton_jet(cols, chunk, "pfRelIso04_all", "segmentComp", {"mvaTTH": "muon_tth", "mvaLowPt": "muon_lowpt"})
        cols["multiIsoId"] = lj.multi_iso_id(cols["miniPFRelIso_all"], cols["jetRelIso"], cols["jetPtRelv2"])


def electron(cols: dict, chunk: Chunk) -> None:
    """Electron: ``jetIdx``, ``pdgId``, ``mass``, ``genPartFlav`` (conversions included), ``cutBased``
    and ``cutBased_HEEP`` from the VID bitmaps, ``mvaNoIso_WP80/90`` from the score, the seed crystal
    (``seediEtaOriX``, ``seediPhiOriY``), the lepton-jet fields and ``mvaTTH``; the ``dr03*`` sums are
    zeroed below 35 GeV (:func:`flashsim_coffea.nanoaod.egamma_id.dr03_written`). A field whose
    inputs the model lacks is left out (``cutBased`` then stays the learnt one)."""
    _written(cols, "Electron")
    _lepton(cols, chunk, 11)
    if "vidNestedWPBitmap" in cols:
        cols["cutBased"] = egamma_id.cut_based(cols["vidNestedWPBitmap"], len(egamma_id.ELECTRON_CUTS), 3)
    if "vidNestedWPBitmapHEEP" in cols:
        cols["cutBased_HEEP"] = egamma_id.all_pass(cols["vidNestedWPBitmapHEEP"], len(egamma_id.HEEP_CUTS))
    for k in ("dr03TkSumPt", "dr03TkSumPtHEEP", "dr03EcalRecHitSumEt", "dr03HcalDepth1TowerSumEt"):
        if k in cols:
            cols[k] = egamma_id.dr03_written(cols["pt"], cols[k])
    if "deltaEtaSC" in cols:
        eta_sc = np.asarray(cols["eta"], np.float32) + np.asarray(cols["deltaEtaSC"], np.float32)  # as the reference
        if "mvaNoIso" in cols:
            for wp, table in egamma_id.MVA_NOISO_WP.items():
                cols[f"mvaNoIso_{wp}"] = egamma_id.mva_wp(cols["mvaNoIso"], cols["pt"], eta_sc, table)
        cols["seediEtaOriX"], cols["seediPhiOriY"] = geo.seed_indices(cols["eta"], cols["deltaEtaSC"], cols["phi"],
                                                                      cols["pt"], cols["charge"])
    if _have(cols, "pfRelIso03_all", "sip3d", "dxy", "dz", "miniPFRelIso_all"):
        _lepton_jet(cols, chunk, "pfRelIso03_all", "mvaNoIso", {"mvaTTH": "electron_tth"})


def photon(cols: dict, chunk: Chunk) -> None:
    """Photon: ``jetIdx``, the supercluster η flags, ``genPartFlav``, ``cutBased`` from the VID bitmap
    (the learnt one for a model without the bitmap)."""
    _written(cols, "Photon")
    _jet_link(cols, chunk)
    link = cols.get("genPartIdx", np.full(len(chunk.flash), -1))
    cols["isScEtaEB"], cols["isScEtaEE"] = derived.photon_sc_flags(cols["eta"])
    cols["genPartFlav"] = derived.photon_gen_flav(chunk.gen.GenPart, chunk.ev, link)
    if "vidNestedWPBitmap" in cols:
        cols["cutBased"] = egamma_id.cut_based(cols["vidNestedWPBitmap"], len(egamma_id.PHOTON_CUTS), 2)


def tau(cols: dict, chunk: Chunk) -> None:
    """Tau: ``jetIdx``, the DeepTau working points (VSjet, VSe, VSmu) from the raw scores, ``rawIso``
    from the written sums, ``idDecayModeOldDMs``, ``genPartFlav`` and, from the final flash muons and
    electrons (made before the taus), ``muIdx``, ``eleIdx``, ``idAntiMu``."""
    _written(cols, "Tau")
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


#: random streams of the event-level emulations (the place of the source id in the keys of :mod:`.random`).
_HLT, _FLAG = zlib.crc32(b"HLT"), zlib.crc32(b"Flag")
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
      on the flash PV and muons, when the PV has ``ndof``, ``x``, ``y``, ``z``. Their random numbers are
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


#: collection -> its derive function.
DERIVE: dict[str, Callable[[dict, Chunk], None]] = {
    "Jet": jet, "Muon": muon, "Electron": electron, "Photon": photon, "Tau": tau,
}


def derive(coll: str, cols: dict, chunk: Chunk) -> None:
    """Fill the derived fields of collection ``coll`` in ``cols`` (in place, after the pT sort)."""
    DERIVE[coll](cols, chunk)
