"""Gen-level candidates of each FlashSim source.

A *candidate* is a gen object that may give a reco object: a GenJet for a jet, a
final-state gen muon for a muon, a gen photon for an electron (conversion), a GenJet
for a fake lepton. :func:`select` returns the candidates of one kind for a chunk,
each carrying ``idx``: its index in the gen collection it comes from, the value a
reco object's ``genPartIdx``/``genJetIdx`` holds when it was made from it.

Example:
    >>> import uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50))
    >>> muons = select(gen, "GenMuon")
    >>> ak.num(muons)[:6].tolist(), muons.idx[:6].tolist()  # per event: how many, their index in gen.GenPart
    ([0, 0, 2, 1, 0, 1], [[], [], [17, 44], [60], [], [66]])
    >>> gen.GenPart.pdgId[muons.idx][:6].tolist()
    [[], [], [13, 13], [13], [], [-13]]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

#: kind -> (gen collection, |pdgId| or None, minimum pT in GeV). Only status-1 GenPart.
KINDS: dict[str, tuple[str, int | None, float]] = {
    "GenJet": ("GenJet", None, 0.0),
    "GenJetFake": ("GenJet", None, 15.0),
    "GenMuon": ("GenPart", 13, 2.0),
    "GenElectron": ("GenPart", 11, 3.0),
    "GenPhoton": ("GenPart", 22, 5.0),
    "GenVisTau": ("GenVisTau", None, 10.0),
    # fat jets: below the reco 170 GeV so that the efficiency model learns the turn-on (GenJetAK8 are written above 100)
    "GenJetAK8": ("GenJetAK8", None, 120.0),
    # soft-drop gen subjets, with ``parent_idx``: their GenJetAK8 (:func:`flashsim_coffea.sim.boosted.with_parent`)
    "SubGenJetAK8": ("SubGenJetAK8", None, 0.0),
    # gen photons next to a gen muon / electron, with ``parent_idx``: that lepton (:func:`fsr_photons`)
    "GenFsrPhotonMuon": ("GenPart", 22, 1.0),
    "GenFsrPhotonElectron": ("GenPart", 22, 1.0),
    # gen muons / electrons with ``parent_idx``: themselves (the FSR photons no gen photon gives, next to the lepton)
    "GenFsrMuon": ("GenPart", 13, 2.0),
    "GenFsrElectron": ("GenPart", 11, 3.0),
    # weakly decaying b and c hadrons (first copies, :func:`flashsim_coffea.sim.features.weak_heavy`): secondary vertices
    "GenHeavyHadron": ("GenPart", None, 2.0),
    # the weakly decaying b hadrons farther than :data:`OUTSIDE_DR` from every GenJet: the b jets without a GenJet
    "GenBHadronOutside": ("GenPart", None, 2.0),
}

#: ΔR from every GenJet beyond which a b hadron is a ``GenBHadronOutside`` candidate (the AK4 radius).
OUTSIDE_DR = 0.4

#: FSR-photon kinds -> |pdgId| of the lepton they are assigned to (:func:`fsr_photons`).
FSR_KINDS: dict[str, int] = {"GenFsrPhotonMuon": 13, "GenFsrPhotonElectron": 11}
#: gen-level slack on the cuts of NanoAOD's FSR recovery (:data:`flashsim_coffea.reference.fsr.PARAMS`)
#: for the FSR candidates: a gen photon a little outside a cut can still give a reco photon passing it
#: (the PF photon's energy is smeared and merges nearby particles; 1 GeV, the kinds' minimum pT, is
#: half the reco cut). Lepton pT cuts times ``lepton_pt``, |eta| cuts plus ``*_eta``, dR / pT^2 times
#: ``dr_over_et2``.
FSR_GEN_SLACK = {"lepton_pt": 0.67, "lepton_eta": 0.1, "photon_eta": 0.1, "dr_over_et2": 2.0}


#: gen collections a kind's conditioning reads besides its own (the fat jets' soft-drop subjet features).
EXTRA_GEN: dict[str, tuple[str, ...]] = {"GenJetAK8": ("SubGenJetAK8",), "SubGenJetAK8": ("GenJetAK8",)}


def gen_collections(kind: str) -> tuple[str, ...]:
    """Gen collections the candidates of ``kind`` and their conditioning need.

    Example:
        >>> gen_collections("GenJetAK8"), gen_collections("GenMuon")
        (('GenJetAK8', 'SubGenJetAK8'), ('GenPart',))
    """
    return (KINDS[kind][0], *EXTRA_GEN.get(kind, ()))


def select(gen: ak.Array, kind: str) -> ak.Array:
    """Candidates of ``kind`` (a key of :data:`KINDS`) with their gen index in field ``idx``.

    Arguments:
        gen: one record per gen event (:mod:`flashsim_coffea.nanoaod.genevents`).
        kind: a key of :data:`KINDS`.

    Returns:
        the candidates, jagged per event: every field of their gen collection plus ``idx``.

    Raises :class:`~flashsim_coffea.nanoaod.genevents.GenInputError` when ``gen`` lacks the gen
    collection of ``kind`` (GenVisTau in some NanoAOD v12 files).

    Example:
        >>> import awkward as ak
        >>> gen = ak.Array({"GenJet": [[{"pt": 40.0, "eta": 0.5}, {"pt": 12.0, "eta": 2.0}]]})
        >>> select(gen, "GenJetFake").tolist()  # GenJets above 15 GeV
        [[{'pt': 40.0, 'eta': 0.5, 'idx': 0}]]
    """
    collection, pdg, ptmin = KINDS[kind]
    if kind in FSR_KINDS:
        return fsr_photons(gen, FSR_KINDS[kind])
    if collection not in gen.fields:
        from flashsim_coffea.nanoaod.genevents import GenInputError

        raise GenInputError(f"missing gen branch {collection}_pt (needed for {kind} candidates)")
    coll = gen[collection]
    fields = {f: coll[f] for f in coll.fields}
    fields["idx"] = ak.local_index(coll.pt, axis=1)
    full = ak.zip(fields)
    mask = full.pt > ptmin
    if pdg is not None:
        mask = mask & (abs(full.pdgId) == pdg) & (full.status == 1)
    if kind in ("GenFsrMuon", "GenFsrElectron"):
        full = ak.with_field(full, full.idx, "parent_idx")
    if kind in ("GenHeavyHadron", "GenBHadronOutside"):
        from flashsim_coffea.sim.features import weak_heavy

        mask = mask & weak_heavy(coll)
    if kind == "GenBHadronOutside":
        return outside_genjets(gen, full[mask])
    if kind == "SubGenJetAK8":  # the GenJetAK8 each belongs to (sim/boosted.py imports this module)
        from flashsim_coffea.sim.boosted import with_parent

        return with_parent(gen, full[mask])
    return full[mask]


def outside_genjets(gen: ak.Array, hadrons: ak.Array) -> ak.Array:
    """The b hadrons among weakly decaying heavy ``hadrons`` that lie farther than :data:`OUTSIDE_DR`
    from every ``GenJet``.

    A b hadron outside every GenJet (its GenJet below the 10 GeV of NanoAOD's GenJet table, or its
    energy spread over several) can still give a reco jet once pileup and the detector add to it:
    FullSim has such b jets without a GenJet (zh_llbb, 5k events: 47 of them beyond ΔR 0.8 of every
    GenJet, 46 with an outside b hadron within 0.4).

    Example:
        A B0 0.2 from a GenJet, a B+ 1.0 away, a D0 1.0 away:

        >>> g = {"pt": [10.0, 8.0, 6.0], "eta": [0.2, 1.0, -1.0], "phi": [0.0, 0.0, 0.0],
        ...      "pdgId": [511, 521, 421], "idx": [0, 1, 2]}
        >>> gen = ak.Array({"GenJet": [[{"pt": 30.0, "eta": 0.0, "phi": 0.0}]]})
        >>> outside_genjets(gen, ak.Array([[dict(zip(g, v)) for v in zip(*g.values())]])).idx.tolist()
        [[1]]
    """
    from flashsim_coffea.sim.features import b_quark_flavour, is_b_hadron, nearest

    b = hadrons[is_b_hadron(hadrons.pdgId)]
    b = b[nearest(b, gen.GenJet)[0] > OUTSIDE_DR]
    return ak.with_field(b, b_quark_flavour(b.pdgId), "partonFlavour")


def fsr_photons(gen: ak.Array, lepton: int) -> ak.Array:
    """Final-state gen photons that NanoAOD's FSR recovery could give to a gen lepton ``lepton``
    (13 or 11), with ``parent_idx``: the ``GenPart`` index of that lepton.

    The producer's rule (``reference/fsr.py``, CMSSW ``LeptonFSRProducer``) at gen level with
    :data:`FSR_GEN_SLACK`: status-1 photons (pT > 1 GeV, |eta| within the photon cut) go to the
    closest status-1 muon with 1e-4 < dR < 0.5 and dR / pT^2 below the cut (the smallest dR / ET^2:
    one photon, one ET); a photon no muon takes goes to the closest electron the same way. The
    muon kind holds the photons a muon takes, the electron kind the others an electron takes.

    Example:
        A 40 GeV muon, a 5 GeV photon 0.1 from it and a 3 GeV photon 0.45 away (dR / pT^2 = 0.05:
        still within the slack), a 1.5 GeV photon far from any lepton:

        >>> g = {"pt": [40.0, 5.0, 3.0, 1.5], "eta": [0.0, 0.1, 0.0, 2.0], "phi": [0.0, 0.0, 0.45, 2.0],
        ...      "pdgId": [13, 22, 22, 22], "status": [1, 1, 1, 1]}
        >>> gen = ak.Array({"GenPart": [[dict(zip(g, v)) for v in zip(*g.values())]]})
        >>> ph = fsr_photons(gen, 13)
        >>> ph.idx.tolist(), ph.parent_idx.tolist(), len(ak.flatten(fsr_photons(gen, 11)))
        ([[1, 2]], [[0, 0]], 0)
    """
    from flashsim_coffea.nanoaod.fsr_rule import PARAMS, _closest

    g = gen.GenPart
    full = ak.zip({**{f: g[f] for f in g.fields}, "idx": ak.local_index(g.pt, axis=1)})
    counts = ak.to_numpy(ak.num(g.pt, axis=1)).astype(np.int64)
    off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = {f: ak.to_numpy(ak.flatten(g[f])) for f in ("pt", "eta", "phi", "pdgId", "status")}
    pt, eta, phi = (np.asarray(flat[f], np.float64) for f in ("pt", "eta", "phi"))
    apdg, final = np.abs(flat["pdgId"]), flat["status"] == 1
    photon = np.flatnonzero(final & (apdg == 22) & (pt > KINDS["GenFsrPhotonMuon"][2])
                            & (np.abs(eta) <= PARAMS["photon_eta_max"] + FSR_GEN_SLACK["photon_eta"]))
    evt = np.repeat(np.arange(len(counts)), counts)[photon]
    cut = (PARAMS["dr_min"], PARAMS["dr_over_et2_max"] * FSR_GEN_SLACK["dr_over_et2"])

    def closest(pdg: int, name: str) -> np.ndarray:
        ok = (final & (apdg == pdg) & (pt >= PARAMS[f"{name}_pt_min"] * FSR_GEN_SLACK["lepton_pt"])
              & (np.abs(eta) <= PARAMS[f"{name}_eta_max"] + FSR_GEN_SLACK["lepton_eta"]))
        start = np.full(len(photon), PARAMS["dr_max"])
        return _closest(evt, eta[photon], phi[photon], pt[photon], start, off, eta, phi, ok, *cut)[0]

    parent = closest(13, "muon")
    if lepton == 11:
        parent = np.where(parent >= 0, -1, closest(11, "electron"))
    elif lepton != 13:
        raise ValueError(f"FSR photons go to muons (13) or electrons (11), not {lepton}")
    parent_all = np.full(int(off[-1]), -1, np.int64)
    parent_all[photon] = parent
    full = ak.with_field(full, ak.unflatten(parent_all, counts), "parent_idx")
    return full[full.parent_idx >= 0]


def gen_charge(cand: ak.Array) -> ak.Array:
    """Electric charge of lepton candidates from their pdgId (e-, mu-: pdgId > 0, charge -1).

    Example:
        >>> gen_charge(ak.Array([[{"pdgId": 13}, {"pdgId": -11}]])).tolist()
        [[-1, 1]]
    """
    return ak.values_astype(-np.sign(cand.pdgId), np.int32)


#: gen fields a transform may refer to (``gen_<name>`` columns).
GEN_FIELDS = ("pt", "eta", "phi", "mass", "charge")


def gen_columns(cand: ak.Array) -> dict[str, ak.Array]:
    """``gen_<field>`` of :data:`GEN_FIELDS` present on the candidates (lepton charge from pdgId).

    Example:
        >>> cand = ak.Array([[{"pt": 40.0, "eta": 0.5, "pdgId": -13}]])
        >>> {k: v.tolist() for k, v in gen_columns(cand).items()}
        {'gen_pt': [[40.0]], 'gen_eta': [[0.5]], 'gen_charge': [[1]]}
    """
    out = {}
    for f in GEN_FIELDS:
        if f == "charge" and "charge" not in cand.fields and "pdgId" in cand.fields:
            out["gen_charge"] = gen_charge(cand)
        elif f in cand.fields:
            out[f"gen_{f}"] = cand[f]
    return out
