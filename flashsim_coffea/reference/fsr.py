"""Reference-detector FSR photons (NanoAOD ``FsrPhoton``, ``Muon_fsrPhotonIdx``, ``Electron_fsrPhotonIdx``).

NanoAOD v12 runs CMSSW's ``LeptonFSRProducer`` (``CommonTools/RecoUtils/plugins/LeptonFSRProducer.cc``,
configured with its defaults by ``PhysicsTools/NanoAOD/python/fsrPhotons_cff.py`` as
``leptonFSRphotons``) on the MiniAOD PF candidates and the final NanoAOD ``Muon`` and ``Electron``
collections. :func:`reconstruct_fsr` does the same on the reference detector's PF candidates
(:mod:`.pflow`, built once by the jet stage; the PF photons are its ECAL towers):

1. PF photons (pdgId 22) with pT >= 2 GeV and abs(eta) <= 2.5;
2. the closest muon (pT >= 3 GeV, abs(eta) <= 2.4), then a closer electron (pT >= 5 GeV,
   abs(eta) <= 2.5), with 1e-4 < dR < 0.5 and dR / pT^2 < 0.05 GeV^-2 (the cone shrinks to
   0.05 pT^2 below 3.2 GeV). If a muon matches, the photon is the muon's even when an electron is
   closer (``dROverEt2`` then uses the electron's dR), as in CMSSW;
3. ``relIso03`` <= 2: PF charged hadrons (pT > 0.2 GeV) and neutral PF photons / hadrons
   (pT > 0.5 GeV, dR > 0.01) within dR 0.3 of the photon, the photon itself excluded, divided by
   its pT; no charged-hadron subtraction, so pileup tracks count (:func:`rel_iso03`); leptons'
   PF candidates (pdgId 11, 13) never enter, so the lepton's own track is not in the sum;
4. not in an electron's footprint (CMSSW: the PF candidates the electron is made of; here the PF
   photons whose leading particle is in the supercluster of a truth electron that became a reco
   ``Electron``, :func:`electron_footprint`).

Each lepton links (``fsrPhotonIdx``) to its photon of smallest ``dROverEt2`` (-1: none); each photon
links back to one lepton (``muonIdx`` or ``electronIdx``, the other -1). ``FsrPhoton`` is written
pT-descending as every collection of the project (CMSSW keeps the PF-candidate order, which
carries no meaning), the links following that order. The stage draws no random numbers: the
photons' energies are the PF towers' (smeared in the jet stage).

Analyses tighten the selection: CMS H -> ZZ -> 4l (arXiv:1706.09936, JHEP 11 (2017) 047) keeps
photons with abs(eta) < 2.4, relIso03 < 1.8 and dR / ET^2 < 0.012 GeV^-2 (``PARAMS["hzz_*"]``,
:func:`hzz_selection`), recovering FSR in a few percent of Z -> mumu events (``sanity.fsr_recovery``).

Example:
    One event: a 40 GeV muon along (0, 0), a 6 GeV PF photon 0.05 away from it, a 1 GeV neutral
    hadron next to the photon, and a 1.5 GeV photon (below 2 GeV: never a candidate). The 6 GeV
    photon is recovered (dR / pT^2 = 0.05 / 36), its isolation (1 + 1.5) / 6 from the two others:

    >>> import awkward as ak
    >>> pf = {"pt": np.array([6.0, 1.0, 1.5]), "eta": np.array([0.05, 0.1, -0.1]),
    ...       "phi": np.array([0.0, 0.0, 0.0]), "pdgId": np.array([22, 130, 22]), "truthIdx": np.array([-1, -1, -1])}
    >>> mu = ak.Array([[{"pt": 40.0, "eta": 0.0, "phi": 0.0}]])
    >>> el = mu[:, :0]  # no electron
    >>> fsr, mu_idx, el_idx = reconstruct_fsr(pf, np.array([3]), mu, el)
    >>> fsr.pt.tolist(), fsr.muonIdx.tolist(), fsr.electronIdx.tolist(), mu_idx.tolist(), el_idx.tolist()
    ([[6.0]], [[0]], [[-1]], [[0]], [[]])
    >>> round(float(fsr.relIso03[0, 0]), 4), round(float(fsr.dROverEt2[0, 0]), 5)
    (0.4167, 0.00139)
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.nanoaod.fsr_rule import PARAMS, _closest, _flat, _leptons, _offsets
from flashsim_coffea.reference import isolation as iso
from flashsim_coffea.reference.leptons import finish

#: Lepton fields this stage adds to the final collections (absent from :func:`.muons.reconstruct_muons` and
#: :func:`.electrons.reconstruct_electrons` output; :func:`add_links` adds them).
LINK_FIELDS = {"Muon": ("fsrPhotonIdx",), "Electron": ("fsrPhotonIdx",)}


def rel_iso03(pf: dict, pf_counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``relIso03`` of the PF photons ``idx`` (flat PF indices): CMSSW ``computeRelativeIsolation``.

    Sum of the pT of PF charged hadrons (abs(pdgId) 211, pT > 0.2 GeV; pileup tracks included:
    no CHS) and of neutral PF photons and hadrons (pdgId 22, 130; pT > 0.5 GeV, dR > 0.01) within
    dR 0.3 of the photon, itself excluded, over the photon pT. Uses :func:`.isolation.cone_sums`.

    Example:
        A 4 GeV photon with a 1 GeV pion at dR 0.1, a 0.3 GeV neutral (below 0.5) and a 2 GeV
        photon 0.005 away (inside the 0.01 veto):

        >>> pf = {"pt": np.array([4.0, 1.0, 0.3, 2.0]), "eta": np.array([0.0, 0.1, 0.0, 0.005]),
        ...       "phi": np.zeros(4), "pdgId": np.array([22, -211, 130, 22])}
        >>> rel_iso03(pf, np.array([4]), np.array([0]))
        array([0.25])
    """
    n_ev = len(pf_counts)
    evt = np.repeat(np.arange(n_ev), pf_counts)
    pt, apid = np.asarray(pf["pt"], np.float64), np.abs(np.asarray(pf["pdgId"]))
    ch = (apid == 211) & (pt > PARAMS["iso_charged_pt_min"])
    neu = ((apid == 22) | (apid == 130)) & (pt > PARAMS["iso_neutral_pt_min"])
    use = np.flatnonzero(ch | neu)
    cat = np.where(ch[use], iso.CH, iso.PH)
    z = np.zeros(0)
    sets = {
        "hard": {"off": _offsets(np.bincount(evt[use], minlength=n_ev)), "eta": np.asarray(pf["eta"], np.float64)[use],
                 "phi": np.asarray(pf["phi"], np.float64)[use], "pt": pt[use], "cat": cat.astype(np.int64),
                 "src": use.astype(np.int64)},
        "pu": {"off": np.zeros(n_ev + 1, np.int64), "eta": z, "phi": z, "pt": z, "cat": np.zeros(0, np.int64),
               "src": np.zeros(0, np.int64)},
    }
    idx = np.asarray(idx, np.int64)
    s = iso.cone_sums(sets, evt[idx], np.asarray(pf["eta"])[idx], np.asarray(pf["phi"])[idx], idx,
                      PARAMS["iso_cone"], PARAMS["dr_min"], PARAMS["iso_neutral_veto"])
    return (s[:, iso.CH] + s[:, iso.PH]) / pt[idx]


def electron_footprint(pf: dict, pf_counts: np.ndarray, idx: np.ndarray, truth: ak.Array,
                       electrons: ak.Array) -> np.ndarray:
    """Whether each PF candidate ``idx`` is in the footprint of a reco electron.

    CMSSW vetoes the PF candidates an electron is made of (``associatedPackedPFCandidates``: its
    track and the PF photons of its supercluster). Here: the candidate's leading truth particle
    (``truthIdx``) is in the supercluster (:func:`.electrons.superclusters`) of a truth electron
    whose ``GenPart`` is the ``genPartIdx`` of a reco ``Electron`` of the event (electrons without a
    generator match have no footprint).
    """
    from flashsim_coffea.reference.electrons import superclusters
    from flashsim_coffea.reference.leptons import truth_flat

    idx = np.asarray(idx, np.int64)
    out = np.zeros(len(idx), bool)
    n_el = np.asarray(ak.num(electrons), np.int64)
    if len(idx) == 0 or n_el.sum() == 0:
        return out
    t = truth_flat(truth)
    sc = superclusters(t)
    toff = _offsets(np.bincount(t["evt"], minlength=t["n_ev"]))
    # truth electrons that became a reco Electron: (event, GenPart index) pairs
    el_evt = np.repeat(np.arange(len(n_el)), n_el)
    el_gen = _flat(electrons, "genPartIdx", np.int64)
    big = np.int64(1 << 20)
    reco_keys = np.unique(el_evt[el_gen >= 0] * big + el_gen[el_gen >= 0])
    is_e = (np.abs(t["pdgId"]) == 11) & (t["genPartIdx"] >= 0)
    owner_ok = is_e & np.isin(t["evt"] * big + t["genPartIdx"], reco_keys)
    evt = np.repeat(np.arange(len(pf_counts)), pf_counts)[idx]
    src = np.asarray(pf["truthIdx"], np.int64)[idx]
    hard = src >= 0
    flat = toff[evt[hard]] + src[hard]
    owner = sc["owner"][flat]
    out[hard] = (owner >= 0) & owner_ok[np.maximum(owner, 0)]
    return out


def reconstruct_fsr(pf: dict, pf_counts: np.ndarray, muons: ak.Array, electrons: ak.Array,
                    truth: ak.Array | None = None) -> tuple[ak.Array, ak.Array, ak.Array]:
    """NanoAOD ``FsrPhoton`` and the lepton links (see the module docstring).

    Arguments:
        pf: flat PF candidates of the block (:func:`.pflow.build_flat`: ``pt eta phi pdgId truthIdx``).
        pf_counts: PF candidates per event.
        muons, electrons: the final (pT-ordered) ``Muon`` and ``Electron`` collections.
        truth: the truth record, for the electrons' footprint (:func:`electron_footprint`); None
            only when there is no electron with a ``genPartIdx`` (no footprint to veto).

    Returns:
        ``(FsrPhoton, Muon_fsrPhotonIdx, Electron_fsrPhotonIdx)``: the jagged records (pT-descending,
        v12 dtypes) and the jagged int16 links shaped like the muons and the electrons.
        Example in the module docstring.
    """
    pf_counts = np.asarray(pf_counts, np.int64)
    n_ev = len(pf_counts)
    if len(muons) != n_ev or len(electrons) != n_ev:
        raise ValueError(f"FsrPhoton: {n_ev} events of PF candidates but {len(muons)} of Muon, {len(electrons)} of Electron")
    evt_all = np.repeat(np.arange(n_ev), pf_counts)
    pt, eta, phi = (np.asarray(pf[k], np.float64) for k in ("pt", "eta", "phi"))
    cand = np.flatnonzero((np.abs(np.asarray(pf["pdgId"])) == 22) & (pt >= PARAMS["photon_pt_min"])
                          & (np.abs(eta) <= PARAMS["photon_eta_max"]))
    c_evt, c_eta, c_phi, c_pt = evt_all[cand], eta[cand], phi[cand], pt[cand]
    args = (PARAMS["dr_min"], PARAMS["dr_over_et2_max"])
    mu_off, *mu = _leptons(muons, PARAMS["muon_pt_min"], PARAMS["muon_eta_max"])
    el_off, *el = _leptons(electrons, PARAMS["electron_pt_min"], PARAMS["electron_eta_max"])
    start = np.full(len(cand), PARAMS["dr_max"])
    mu_i, dr = _closest(c_evt, c_eta, c_phi, c_pt, start, mu_off, *mu, *args)
    el_i, dr = _closest(c_evt, c_eta, c_phi, c_pt, dr, el_off, *el, *args)
    m = (mu_i >= 0) | (el_i >= 0)
    sel = cand[m]
    rel = rel_iso03(pf, pf_counts, sel)
    keep = rel <= PARAMS["rel_iso_max"]
    if truth is not None:
        keep &= ~electron_footprint(pf, pf_counts, sel, truth, electrons)
    elif "genPartIdx" in electrons.fields and np.any(_flat(electrons, "genPartIdx", np.int64) >= 0):
        raise ValueError("FsrPhoton: electrons with a genPartIdx need the truth record for their footprint")
    sel = sel[keep]
    evt = evt_all[sel]
    mu_idx = np.where(mu_i[m][keep] >= 0, mu_i[m][keep], -1)
    el_idx = np.where(mu_idx >= 0, -1, el_i[m][keep])
    dret2 = dr[m][keep] / pt[sel] ** 2
    order = np.lexsort((-pt[sel], evt))
    cols = {"pt": pt[sel], "eta": eta[sel], "phi": phi[sel], "relIso03": rel[keep], "dROverEt2": dret2,
            "muonIdx": mu_idx, "electronIdx": el_idx}
    cols = {k: v[order] for k, v in cols.items()}
    evt = evt[order]
    local = np.arange(len(evt)) - _offsets(np.bincount(evt, minlength=n_ev))[evt]
    fsr = finish("FsrPhoton", cols, evt, n_ev)
    links = []
    for coll, off, lep in (("Muon", mu_off, cols["muonIdx"]), ("Electron", el_off, cols["electronIdx"])):
        flat = np.full(int(off[-1]), -1, np.int64)
        has = np.flatnonzero(lep >= 0)
        # smallest dROverEt2 per lepton: the first of each lepton after sorting by it
        key = off[evt[has]] + lep[has]
        o = np.lexsort((cols["dROverEt2"][has], key))
        first = np.ones(len(o), bool)
        first[1:] = key[o][1:] != key[o][:-1]
        flat[key[o][first]] = local[has][o][first]
        links.append(ak.unflatten(flat.astype(schema.SCHEMA[coll]["fsrPhotonIdx"]), np.diff(off)))
    return fsr, links[0], links[1]


def add_links(muons: ak.Array, electrons: ak.Array, mu_idx: ak.Array, el_idx: ak.Array) -> tuple[ak.Array, ak.Array]:
    """``muons`` and ``electrons`` with their ``fsrPhotonIdx`` field (cast to the v12 dtype), fields in
    schema order (whatever other link fields the collections already carry).

    Example:
        >>> mu = ak.Array([[{"pt": 40.0}], []])
        >>> m, _ = add_links(mu, mu, ak.Array([[0], []]), ak.Array([[-1], []]))
        >>> print(m.fsrPhotonIdx.type)
        2 * var * int16
    """
    out = []
    for coll, arr, idx in (("Muon", muons, mu_idx), ("Electron", electrons, el_idx)):
        arr = ak.with_field(arr, idx, "fsrPhotonIdx")
        arr = ak.zip({f: arr[f] for f in schema.SCHEMA[coll] if f in arr.fields}, depth_limit=2)
        out.append(schema.cast(coll, arr))
    return out[0], out[1]


def hzz_selection(fsr: ak.Array) -> ak.Array:
    """Mask of the FSR photons passing the CMS H -> ZZ -> 4l cuts (``PARAMS["hzz_*"]``).

    Example:
        >>> fsr = ak.Array([[{"eta": 0.5, "relIso03": 0.3, "dROverEt2": 0.004},
        ...                  {"eta": 0.5, "relIso03": 0.3, "dROverEt2": 0.03}]])
        >>> hzz_selection(fsr).tolist()
        [[True, False]]
    """
    return ((abs(fsr.eta) < PARAMS["hzz_eta_max"]) & (fsr.relIso03 < PARAMS["hzz_rel_iso_max"])
            & (fsr.dROverEt2 < PARAMS["hzz_dr_over_et2_max"]))
