"""Training data from any FullSim NanoAOD (reference detector or real CMS).

For each source of a spec, :func:`tables` returns flat numpy columns:

* ``cond``: conditioning features of every candidate (efficiency inputs);
* ``label``: 1 if the candidate was reconstructed by this source, else 0;
* ``pairs``: for reconstructed candidates, the conditioning, the gen values the
  transforms need (``gen_pt`` ...), and the reco target fields.

Genuine sources match reco to gen by the reco link field (``genPartIdx``,
``genJetIdx``), falling back to ΔR. Reco objects claimed by no genuine source are
fakes: a fake within ΔR of a GenJet (pT > 15) is a ``jetfake`` of that GenJet (one
per GenJet, the leading one), the others are *unattributed*. Jets: a jet no GenJet
claims within ΔR 0.8 of a GenJet is its ``split`` jet (the closest, one per GenJet),
then a jet left within ΔR 0.4 of a b hadron outside every GenJet is its ``bhadron`` jet,
and the unattributed ones left are the ``pileup`` source, modelled per event (count
and properties conditioned on the event); for leptons and photons they are counted and
reported, not simulated.

Example:
    50 events of a real CMS ttbar file (gen and reco):

    >>> from flashsim_coffea.specs import jet
    >>> ev = read([SHARED / "nano_tt_v12.root"], entry_stop=50)
    >>> t = tables(ev, jet.GENUINE)
    >>> len(t["label"]), round(float(t["label"].mean()), 3)  # GenJets, the fraction reconstructed
    (430, 0.798)
    >>> np.round(t["pairs"]["pt"][:3], 1), np.round(t["pairs"]["gen_pt"][:3], 1)  # reco jets and their GenJets
    (array([101.1,  80. ,  63.6]), array([111.6,  76.6,  76.1]))
    >>> tables(ev, jet.PILEUP)["count"][:10]  # reco jets no GenJet claims nor sits beside, per event
    array([0, 0, 1, 0, 3, 1, 1, 0, 2, 2])
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import derived, genevents
from flashsim_coffea.nanoaod import lepton_jet as lj
from flashsim_coffea.sim import candidates, features
from flashsim_coffea.specs import COLLECTIONS, all_sources, fakes
from flashsim_coffea.specs import event as event_spec
from flashsim_coffea.specs import muon as muon_spec
from flashsim_coffea.specs.source import Source
from flashsim_coffea.train import apart, matching

#: the pairs column of the training weights of a source's objects that lie apart from candidates
#: (:attr:`~flashsim_coffea.specs.source.Source.apart_from`, :mod:`flashsim_coffea.train.apart`).
APART_WEIGHT = "weight_apart"

#: event-level reco branches read for the event source.
EVENT_BRANCHES = event_spec.BRANCHES


def nest(arrays: ak.Array, collections: Iterable[str]) -> dict[str, ak.Array]:
    """``{collection: jagged record}`` from flat ``<collection>_<field>`` branches.

    Example:
        >>> nest(ak.Array({"Muon_pt": [[30.0]], "Muon_eta": [[0.5]], "nMuon": [1]}), ["Muon", "Tau"])
        {'Muon': <Array [[{pt: 30, eta: 0.5}]] type='1 * var * {pt: float64, eta: float64}'>}
    """
    out = {}
    for coll in collections:
        fields = [f for f in arrays.fields if f.startswith(coll + "_")]
        if fields:
            out[coll] = ak.zip({f[len(coll) + 1 :]: arrays[f] for f in fields})
    return out


def read(paths: list[str | os.PathLike], entry_stop: int | None = None, entry_start: int | None = None) -> ak.Array:
    """Gen and reco content of FullSim NanoAOD files as one record per event.

    Fields: the gen collections of :mod:`flashsim_coffea.nanoaod.genevents` (checked), the
    reco collections of the specs, and the event-level reco branches.

    Example:
        >>> ev = read([SHARED / "nano_tt_v12.root"], entry_stop=50)
        >>> len(ev), [f for f in ev.fields if "_" not in f]  # doctest: +NORMALIZE_WHITESPACE
        (50, ['GenPart', 'GenJet', 'GenJetAK8', 'SubGenJetAK8', 'GenMET', 'Pileup', 'run', 'luminosityBlock', 'event',
              'genWeight', 'Jet', 'Muon', 'Electron', 'FatJet'])
        >>> ev.MET_pt[:3]  # event-level reco branches stay flat
        <Array [68.8, 77.8, 44.6] type='3 * float32'>
    """
    import uproot

    parts = []
    for path in paths:
        with uproot.open(path) as f:
            tree = f["Events"]
            names = set(tree.keys())
            want = [b for b in names if b.split("_")[0] in (*genevents.GEN_BRANCHES, *COLLECTIONS) or b in EVENT_BRANCHES]
            want += [b for b in ("run", "luminosityBlock", "event", "genWeight") if b in names]
            arrays = tree.arrays(want, entry_start=entry_start, entry_stop=entry_stop)
        gen = genevents.check(genevents.from_branches(arrays, source=str(path)), source=str(path))
        rec = {f: gen[f] for f in gen.fields}
        rec.update(nest(arrays, COLLECTIONS))
        for b in EVENT_BRANCHES:
            if b in arrays.fields:
                rec[b] = arrays[b]
        parts.append(ak.zip(rec, depth_limit=1))
    return ak.concatenate(parts) if len(parts) > 1 else parts[0]


#: flow targets that are not NanoAOD fields but functions of them: the private rest of a field, which the
#: collection's derive step (:mod:`flashsim_coffea.sim.derive`) completes from the flash fields it reads.
#: name -> (the fields read, the function of their flat values)
COMPUTED = {muon_spec.BS_CHI2_REST: (("bsConstrainedChi2", "dxybs", "dxyErr"), lj.bs_chi2_rest)}


def target_columns(objs: ak.Array, targets: Iterable[str]) -> dict[str, np.ndarray]:
    """Flat columns of the ``targets`` the reco objects ``objs`` have: their fields, ``charge`` from ``pdgId``, and the
    :data:`COMPUTED` ones; targets the objects lack are left out (a file without the field).

    Example:
        >>> mu = ak.Array([[{"pdgId": 13, "bsConstrainedChi2": 10.5, "dxybs": 0.003, "dxyErr": 0.0008}]])
        >>> {k: v.round(3).tolist() for k, v in target_columns(mu, ["charge", muon_spec.BS_CHI2_REST, "pt"]).items()}
        {'charge': [-1.0], '_bsConstrainedChi2Rest': [1.5]}
    """
    out = {}
    for t in targets:
        if t in objs.fields:
            out[t] = _flat(objs[t])
        elif t == "charge" and "pdgId" in objs.fields:
            out[t] = _flat(-np.sign(objs.pdgId))
        elif t in COMPUTED and all(f in objs.fields for f in COMPUTED[t][0]):
            fields, fn = COMPUTED[t]
            out[t] = fn(*(_flat(objs[f]).astype(np.float64) for f in fields))
    return out


def _flat(x) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x, axis=None)).astype(np.float64)


def claims(ev: ak.Array, collection: str, shared: dict | None = None) -> dict[str, ak.Array]:
    """Per genuine source of ``collection``, the reco index matched to each candidate.

    Example:
        >>> claims(read([SHARED / "nano_tt_v12.root"], entry_stop=50), "Muon")["genmuon"][:4].tolist()
        [[], [], [1, 2], [0]]
    """
    shared = {} if shared is None else shared
    if ("claims", collection) in shared:
        return shared["claims", collection]
    reco = ev[collection]
    out, by_dr = {}, {}
    for src in COLLECTIONS[collection]:
        if src.link is None or src.candidates is None:
            continue
        if src.link in reco.fields:
            out[src.name] = matching.match(_candidates(ev, src.candidates, shared), reco, link=src.link)
        else:  # no link in the file (SV, FsrPhoton): every such source of the collection by ΔR at once
            by_dr[src.name] = src
    if by_dr:
        out.update(matching.match_dr({n: _candidates(ev, s.candidates, shared) for n, s in by_dr.items()}, reco,
                                     {n: s.match_dr for n, s in by_dr.items()}))
    shared["claims", collection] = {s.name: out[s.name] for s in COLLECTIONS[collection] if s.name in out}
    return shared["claims", collection]


def _candidates(ev: ak.Array, kind: str, shared: dict) -> ak.Array:
    if ("candidates", kind) not in shared:
        shared["candidates", kind] = candidates.select(ev, kind)
    return shared["candidates", kind]


def _features(ev: ak.Array, kind: str, names: list[str], shared: dict) -> dict[str, ak.Array]:
    """Conditioning ``names`` of the candidates ``kind``, each computed once per chunk."""
    done = shared.setdefault(("features", kind), {})
    missing = [n for n in names if n not in done]
    if missing:
        done.update(features.compute(ev, _candidates(ev, kind, shared), missing, shared=shared.setdefault("gen", {})))
    return {n: done[n] for n in names}


def _fake_assignment(ev: ak.Array, src: Source, claimed: dict[str, ak.Array],
                     shared: dict) -> tuple[ak.Array, ak.Array]:
    """Candidates of a source without a gen link (jet fakes, split and bhadron jets, the per-lepton FSR photons)
    and, per candidate, the index of its reco object (-1 if none) among those no genuine source claims and no
    earlier fake source of the collection (:func:`flashsim_coffea.specs.fakes`, in order) takes, matched by ΔR;
    for a source whose parent index is a reco field (``FsrPhoton.electronIdx``), the reco object whose parent
    reco object (its electron) links to the candidate's parent gen index (:func:`_parent_gen`): ΔR within the
    producer's 0.5 gave a photon next to an electron made from a gen photon to any gen photon around, and
    such photons are gen photons themselves. Once per chunk and source: kept in ``shared``."""
    if ("fake", src.key) in shared:
        return shared["fake", src.key]
    reco = ev[src.collection]
    order = fakes(src.collection)
    earlier = order[:order.index(src.key)] if src.key in order else []
    taken = [_fake_assignment(ev, all_sources()[k], claimed, shared)[1] for k in earlier]
    free = matching.unmatched(reco, *claimed.values(), *taken)
    if src.parent is not None and src.parent.index in reco.fields:
        free = free & (reco[src.parent.index] >= 0)
    cand = _candidates(ev, src.candidates, shared)
    free_idx = ak.pad_none(ak.local_index(reco, axis=1)[free], 1)
    if src.parent is not None and src.parent.index in reco.fields:  # through the parent's gen link
        m = matching.match(ak.with_field(cand, cand[src.parent.field], "idx"),
                           ak.with_field(reco[free], _parent_gen(ev, reco[free], src.parent), _PARENT_GEN), _PARENT_GEN)
    else:
        m = matching.match(cand, reco[free], link=None, max_dr=src.match_dr)
    reco_index = ak.fill_none(free_idx[ak.where(m >= 0, m, 0)], -1)
    shared["fake", src.key] = cand, ak.values_astype(ak.where(m >= 0, reco_index, -1), np.int64)
    return shared["fake", src.key]


#: private field of :func:`_fake_assignment`: the gen index of a reco object's parent (-1: no parent or no gen link)
_PARENT_GEN = "_parent_gen"


def _parent_gen(ev: ak.Array, reco: ak.Array, parent) -> ak.Array:
    """Per reco object of a child collection, the gen index its parent reco object links to (``parent.link``
    of ``ev[parent.collection][reco[parent.index]]``; -1 without a parent or a gen link).

    Example:
        Two FSR photons, one linked to the second electron (made from gen particle 7), one to none:

        >>> from flashsim_coffea.specs.source import Parent
        >>> ev = ak.Array({"Electron": [[{"genPartIdx": 3}, {"genPartIdx": 7}]]})
        >>> reco = ak.Array([[{"electronIdx": 1}, {"electronIdx": -1}]])
        >>> _parent_gen(ev, reco, Parent("Electron", "genPartIdx", "idx", "electronIdx")).tolist()
        [[7, -1]]
    """
    pos = reco[parent.index]
    links = ak.pad_none(ev[parent.collection][parent.link], 1)
    got = links[ak.values_astype(ak.where(pos >= 0, pos, 0), np.int64)]
    return ak.values_astype(ak.where(pos >= 0, ak.fill_none(got, -1), -1), np.int64)


def has_parent(ev: ak.Array, cand: ak.Array, src: Source) -> ak.Array:
    """Per candidate of ``src``: its parent gen object (:class:`~flashsim_coffea.specs.source.Parent`)
    has a reco object in the parent collection, one its ``eligible`` rule accepts where it has one (all True
    for a source without a parent).

    Example:
        >>> from flashsim_coffea.specs.source import Parent
        >>> ev = ak.Array({"Muon": [[{"genPartIdx": 4}], []]})
        >>> cand = ak.Array([[{"parent_idx": 4}, {"parent_idx": 9}], [{"parent_idx": 4}]])
        >>> src = Source("FsrPhoton", "muon", candidates="GenPhoton", conditioning=[], targets={},
        ...              parent=Parent("Muon", "genPartIdx"))
        >>> has_parent(ev, cand, src).tolist()
        [[True, False], [False]]

        Only soft muons may have children here:

        >>> ev = ak.Array({"Muon": [[{"genPartIdx": 4, "pt": 30.0}, {"genPartIdx": 9, "pt": 8.0}]]})
        >>> cand = ak.Array([[{"parent_idx": 4}, {"parent_idx": 9}]])
        >>> src = Source("FsrPhoton", "muon", candidates="GenPhoton", conditioning=[], targets={},
        ...              parent=Parent("Muon", "genPartIdx", eligible=lambda mu: mu.pt < 10))
        >>> has_parent(ev, cand, src).tolist()
        [[False, True]]
    """
    if src.parent is None:
        return ak.ones_like(cand.idx if "idx" in cand.fields else cand[cand.fields[0]], dtype=bool)
    want = cand[src.parent.field]
    parents = ev[src.parent.collection]
    links = parents[src.parent.link]
    if src.parent.eligible is not None:
        links = links[src.parent.eligible(parents)]
    return ak.any(want[:, :, None] == links[:, None, :], axis=2) & (want >= 0)


def tables(ev: ak.Array, src: Source, shared: dict | None = None) -> dict:
    """Training columns of one source (see the module docstring).

    ``shared``: a dict the caller keeps across the sources of one chunk: candidates, matches and
    conditioning features common to several sources are then computed once.
    """
    shared = {} if shared is None else shared
    if src.collection == "":
        return _event_tables(ev, src, shared)
    reco = ev[src.collection]
    claimed = claims(ev, src.collection, shared)
    if src.link is not None:
        cand = _candidates(ev, src.candidates, shared)
        idx = claimed[src.name]
    elif src.candidates is not None:
        cand, idx = _fake_assignment(ev, src, claimed, shared)
    else:  # the objects no genuine source claims and no fake source of the collection takes
        taken = [_fake_assignment(ev, all_sources()[k], claimed, shared)[1] for k in fakes(src.collection)]
        return _pileup_tables(ev, src, matching.unmatched(reco, *claimed.values(), *taken), shared)
    cond = _features(ev, src.candidates, src.conditioning, shared)
    if src.parent is not None:  # only the candidates whose parent was reconstructed
        near = has_parent(ev, cand, src)
        cand, idx, cond = cand[near], idx[near], {k: v[near] for k, v in cond.items()}
    label = idx >= 0
    matched = ak.pad_none(reco, 1)[ak.where(label, idx, 0)][label]
    pairs = {f"cond_{k}": _flat(v[label]) for k, v in cond.items()}
    pairs.update({k: _flat(v[label]) for k, v in candidates.gen_columns(cand).items()})
    pairs.update(target_columns(matched, src.targets))
    return {
        "cond": {k: _flat(v) for k, v in cond.items()},
        "label": _flat(label).astype(np.int8),
        "pairs": pairs,
        "n_events": len(ev),
    }


def _pileup_tables(ev: ak.Array, src: Source, free: ak.Array, shared: dict) -> dict:
    """Per-event count of unattributed reco objects and their properties."""
    reco = ev[src.collection]
    cand_jets = _candidates(ev, "GenJetFake", shared)
    near = features.nearest(reco, cand_jets)[0] < 0.4
    pu = free & ~near if src.collection != "Jet" else free
    ctx = features.shared_context(ev, shared.setdefault("gen", {}))
    cond = {k: ak.to_numpy(ctx[k]).astype(np.float64) for k in src.conditioning}
    counts = ak.to_numpy(ak.sum(pu, axis=1))
    objs = reco[pu]
    pairs = {f"cond_{k}": np.repeat(v, counts) for k, v in cond.items()}
    pairs.update(target_columns(objs, src.targets))
    if src.apart_from:  # the density before the exclusion, which the engine applies per event (train/apart.py)
        off = derived.offsets(counts)
        kinds = [(_candidates(ev, kind, shared), dr) for kind, dr in src.apart_from]
        pairs[APART_WEIGHT] = apart.apart_weights(off, _flat(objs.eta), [
            (derived.offsets(ak.to_numpy(ak.num(c, axis=1))), _flat(c.eta), _flat(c.phi), dr) for c, dr in kinds])
    return {"cond": cond, "count": counts.astype(np.int64), "pairs": pairs, "n_events": len(ev)}


def _event_tables(ev: ak.Array, src: Source, shared: dict) -> dict:
    ctx = features.shared_context(ev, shared.setdefault("gen", {}))
    cond = {k: ak.to_numpy(ctx[k]).astype(np.float64) for k in src.conditioning}
    gpt = ak.to_numpy(ev.GenMET.pt).astype(np.float64)
    gphi = ak.to_numpy(ev.GenMET.phi).astype(np.float64)
    residuals = event_spec.to_targets(ev, gpt, gphi)  # MET-like vectors as recoils to GenMET, PUPPI shifts
    pairs = {f"cond_{k}": v for k, v in cond.items()}
    pairs["gen_GenMET_pt"] = gpt
    pairs["gen_GenMET_phi"] = gphi
    for t in src.targets:
        if t in residuals:
            pairs[t] = residuals[t]
        elif t in ev.fields:
            pairs[t] = ak.to_numpy(ev[t]).astype(np.float64)
    return {"cond": cond, "pairs": pairs, "n_events": len(ev)}
