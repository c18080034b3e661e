"""The FlashSim engine: gen collections of one chunk -> reco NanoAOD collections, K replicas each.

For every loaded source (:mod:`flashsim_coffea.specs`) the engine

1. selects the gen candidates (:mod:`.candidates`) and computes their conditioning
   (:mod:`.features`) once per gen event;
2. asks the efficiency model for P(reconstructed) once per candidate (zero beyond the gen |η|
   of the farthest candidate reconstructed in training), then, for each of the K
   replicas, keeps the candidate if a counter-based uniform is below it (the subjets of one fat
   jet share it, :attr:`flashsim_coffea.specs.source.Parent.shared_draw`; pileup jets: a
   count model gives how many per replica);
3. samples the targets of every kept object with the flow (:mod:`.flow`, fixed-step ODE),
   starting from counter-based normals, and inverts the preprocessing (:mod:`.transforms`).
   The flow learnt the reco attributes of objects *inside* the acceptance (the largest
   reco |η| and the smallest reco pT of its training data, in the flow card), and the
   efficiency / count models already give the probability to be inside; so an object
   sampled outside is drawn again with fresh normals (the flow density truncated to the
   acceptance), up to :data:`RESAMPLE_ATTEMPTS` times, and dropped after that;
4. merges the sources of each collection, sorts by pT, fills derived fields and
   cross-links (:mod:`.derive`), rounds to NanoAOD's stored float precision
   (:mod:`flashsim_coffea.nanoaod.storage_precision`, the reference detector's table) and casts
   to NanoAOD v12 dtypes (:mod:`flashsim_coffea.nanoaod.schema`). The event-level sources run first (a collection may
   read the PV); after the last collection, :func:`.derive.event` adds what needs every final
   collection: the jets' lepton links, the trigger bits and MET filters.

Every random number is keyed by ``(seed, run/lumi/event, replica, source, gen index or
object number, dimension)`` (:mod:`.random`), so the same seed gives the same output and an
event's objects do not depend on the chunk it sits in. No Python loop runs over events or
objects: each model runs once per chunk on all its objects.

The output is an awkward array, one record per flash event (gen event ``i`` gives flash
events ``i*K .. i*K+K-1``), with fields ``Jet``, ``Muon``, ``Electron``, ``Photon``,
``Tau`` (jagged), the event-level records of :data:`EVENT_RECORDS` (``MET``, ``PuppiMET``, ...,
``PV``, ``Rho``, ``Pileup``, ``HLT``, ``Flag``: those the loaded models give) and ``FlashSim``
(``genEventIdx``, ``replica``, ``replicas``).

Example:
    The shipped models on 50 gen events of a real CMS ttbar file, 4 replicas each:

    >>> import uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=[*branch_names(), "run", "luminosityBlock", "event"], entry_stop=50))
    >>> sim = FlashSim.load(DEFAULT_MODELS, collections=["Jet", "Muon", "MET"])
    >>> flash = sim.simulate(gen, seed=1, replicas=4)
    >>> len(flash), flash.fields[:7]  # the electrons too: the jets' electronIdx1/2 and the HLT emulation read them
    (200, ['Jet', 'Muon', 'Electron', 'MET', 'PuppiMET', 'RawMET', 'ChsMET'])
    >>> flash.fields[7:]
    ['RawPuppiMET', 'PV', 'Rho', 'Pileup', 'HLT', 'Flag', 'FlashSim']
    >>> flash.FlashSim.genEventIdx[:6].tolist(), ak.num(flash.Jet)[:6].tolist()
    ([0, 0, 0, 0, 1, 1], [15, 14, 16, 15, 11, 10])
    >>> flash.Jet.pt[0, :3], flash.Jet.genJetIdx[0, :3].tolist(), gen.GenJet.pt[0, :3]
    (<Array [108, 67.8, 58.9] type='3 * float32'>, [0, 2, 1], <Array [112, 76.6, 76.1] type='3 * float32'>)
    >>> print(flash.Muon.pt[8:12])  # the two gen muons of event 2 (43.6 and 3.30 GeV) in its 4 replicas
    [[44, 3.32], [43.2, 3.31], [44.1, 3.33], [44, 3.31]]

    An event's flash objects do not depend on the chunk it sits in (up to float round-off):

    >>> print(sim.simulate(gen[2:3], seed=1, replicas=4).Muon.pt)  # event 2 alone
    [[44, 3.32], [43.2, 3.31], [44.1, 3.33], [44, 3.31]]
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import awkward as ak
import numpy as np
import torch

from flashsim_coffea.nanoaod import derived, genevents, schema, storage_precision
from flashsim_coffea.sim import candidates, cards, categories, derive, features
from flashsim_coffea.sim import random as rnd
from flashsim_coffea.sim.count import CountModel, build_count, sample_counts
from flashsim_coffea.sim.efficiency import Classifier, build_classifier, predict_proba
from flashsim_coffea.sim.flow import sample
from flashsim_coffea.sim.nets import BATCH_ROWS, VelocityNet, build_velocity
from flashsim_coffea.sim.transforms import Pipeline
from flashsim_coffea.specs import COLLECTIONS, all_sources, fakes
from flashsim_coffea.specs import event as event_spec
from flashsim_coffea.specs.source import POINT, REGION, Source

#: default integration, from the fidelity/speed study (README): on 20k zh_llbb events
#: midpoint 8 improves on midpoint 4 (MET median W1/σ 0.039 -> 0.029); the flows in bfloat16 where the CPU
#: multiplies it natively (``auto``): 1.7x the events/s at the same fidelity (docs/performance.md, 2026-12-07).
DEFAULT_SOLVER, DEFAULT_STEPS, DEFAULT_GRID, DEFAULT_PRECISION = "midpoint", 8, "uniform", "auto"
#: stream tags of the random keys.
_EFF, _FLOW, _COUNT = 1, 2, 3
#: draws an object gets to land inside its source's acceptance before it is dropped.
RESAMPLE_ATTEMPTS = 8
#: redraws integrated in the first batch; the objects still outside get the rest in a second. The same
#: samples as all at once (each attempt has its own normals); a cut that many first draws miss (the pileup
#: jets beside a GenJet: 17 %) costs 2 integrations of those instead of 7 (zh_llbb: the engine 16 % slower
#: with all 7 at once).
FIRST_REDRAWS = 2
#: event-level branches and the record they go in (``HLT``, ``Flag``: derived, ``Pileup``: copied from the gen input).
EVENT_RECORDS = {"MET": "MET_", "PuppiMET": "PuppiMET_", "RawMET": "RawMET_", "ChsMET": "ChsMET_",
                 "RawPuppiMET": "RawPuppiMET_", "PV": "PV_", "Rho": "Rho_", "Pileup": "Pileup_", "HLT": "HLT_",
                 "Flag": "Flag_"}


def event_records(cols: dict[str, np.ndarray]) -> dict[str, ak.Array]:
    """Event-level columns (NanoAOD branch names) as the records of :data:`EVENT_RECORDS`, v12 dtypes.

    Example:
        >>> recs = event_records({"MET_pt": np.array([31.5]), "HLT_IsoMu24": np.array([True])})
        >>> list(recs), recs["MET"].fields, str(recs["MET"].pt.type)
        (['MET', 'HLT'], ['pt'], '1 * float32')
    """
    dt = schema.SCHEMA[""]
    out = {}
    for rec, prefix in EVENT_RECORDS.items():
        names = [k for k in dt if k.startswith(prefix) and k in cols]
        if names:
            out[rec] = ak.zip({k[len(prefix):]: np.asarray(cols[k]).astype(dt[k]) for k in names})
    return out


def source_id(src: Source) -> int:
    """Stable integer of a source in the random keys (CRC-32 of its key).

    Example:
        >>> from flashsim_coffea.specs import muon
        >>> source_id(muon.GENUINE)
        2165633437
    """
    return zlib.crc32(src.key.encode())


@dataclass
class SourceModel:
    """The trained models of one source."""

    source: Source
    flow: VelocityNet
    pipeline: Pipeline
    efficiency: Classifier | None = None
    count: CountModel | None = None
    cards: dict = field(default_factory=dict)
    #: the classifier of the source's categories (:mod:`flashsim_coffea.sim.categories`) and its classes
    categories: CountModel | None = None
    classes: np.ndarray | None = None
    #: the conditioning columns the categories classifier reads (its card's ``inputs``; all when absent)
    category_columns: np.ndarray | None = None

    def category_inputs(self, context: np.ndarray) -> np.ndarray:
        """The categories classifier's input rows: the columns of the conditioning ``context`` it was trained on."""
        context = np.asarray(context, np.float32).reshape(len(context), len(self.source.conditioning))
        return context if self.category_columns is None else context[:, self.category_columns]

    @property
    def noise_dim(self) -> int:
        """Standard normals an object's draw takes: the flow's dimensions, and one for its categories."""
        return self.flow.dim + (self.categories is not None)

    @property
    def categories_first(self) -> bool:
        """Whether the source draws categories, before the flow and given to it (:mod:`flashsim_coffea.sim.categories`)."""
        return self.categories is not None

    @property
    def abs_eta_max(self) -> float | None:
        """The source's reco acceptance: the largest reco |η| in its training data (flow card)."""
        return self.cards.get("flow", {}).get("acceptance", {}).get("abs_eta_max")

    @property
    def pt_min(self) -> float | None:
        """The source's reco pT threshold: the smallest reco pT in its training data (flow card)."""
        return self.cards.get("flow", {}).get("acceptance", {}).get("pt_min")

    @property
    def candidate_abs_eta_max(self) -> float | None:
        """The largest gen |η| of a reconstructed candidate in training (efficiency card)."""
        return self.cards.get("efficiency", {}).get("acceptance", {}).get("abs_eta_max")

    def accepted(self, out: dict[str, np.ndarray], gen: dict[str, np.ndarray] | None = None) -> np.ndarray | None:
        """Which sampled objects lie inside the acceptance and, given their candidates' ``gen`` columns,
        the source's region (:attr:`flashsim_coffea.specs.source.Source.region`); ``None``: no cut."""
        inside = None
        if self.source.region is not None and gen is not None:
            inside = np.asarray(self.source.region(out, gen), bool)
        if self.abs_eta_max is not None and "eta" in out:
            within = np.abs(np.asarray(out["eta"], np.float64)) <= self.abs_eta_max
            inside = within if inside is None else inside & within
        if self.pt_min is not None and "pt" in out:
            above = np.asarray(out["pt"], np.float64) >= self.pt_min
            inside = above if inside is None else inside & above
        return inside


def _check_card(c: dict, path: Path, src: Source, kind: str) -> None:
    if c.get("kind") != kind:
        raise cards.ModelCardError(f"{path}: card kind {c.get('kind')!r}, expected {kind!r}")
    if c.get("source") != src.key:
        raise cards.ModelCardError(f"{path}: card is for source {c.get('source')!r}, expected {src.key!r}")
    if list(c.get("conditioning", [])) != list(src.conditioning):
        raise cards.ModelCardError(f"{path}: conditioning {c.get('conditioning')} differs from the flow card of "
                                   f"{src.key} ({src.conditioning})")


def _load_selection(path: Path, src: Source, kind: str, make) -> tuple:
    """The efficiency or count network of ``src`` from its card (checked) and weights."""
    c, tensors = cards.load(path)
    _check_card(c, path, src, kind)
    net = make(c["network"])
    net.load_state_dict(tensors)
    return net.eval(), c


def as_trained(src: Source, targets: list[str], conditioning: list[str], categories: list[str] = ()) -> Source:
    """The spec of ``src`` as its model was trained: with the card's ``targets`` and ``conditioning``, and the
    ``categories`` its categories card draws.

    A model set made before a spec changed still loads and runs as it was trained: it
    sees the conditioning its card names and writes the fields its card learnt; a field
    the spec now learns but also gives a constant for (the value models without it wrote)
    keeps that constant, and one the spec now copies from the candidate but the card learnt stays learnt.
    Retraining brings the spec's new fields.

    Example:
        >>> from flashsim_coffea.specs import jet
        >>> old = as_trained(jet.PILEUP, ["pt", "eta", "phi"], ["nPU", "HT"])
        >>> list(old.targets), old.conditioning, old.constants["genJetIdx"], old.constants["hadronFlavour"]
        (['pt', 'eta', 'phi'], ['nPU', 'HT'], -1, 0)
        >>> new = as_trained(jet.PILEUP, ["pt"], ["nPU"], ["hadronFlavour", "partonFlavour"])
        >>> list(new.targets), new.categories, sorted(new.constants)
        (['pt', 'hadronFlavour', 'partonFlavour'], ('hadronFlavour', 'partonFlavour'), ['genJetIdx'])
        >>> before = replace(jet.BHADRON, targets={**jet.BHADRON.targets, **jet._FLAVOURS})  # as load_source adds
        >>> bh = as_trained(before, ["pt", "hadronFlavour", "partonFlavour"], ["log_pt"])  # them from the card
        >>> bh.copy, sorted(bh.constants), sorted(as_trained(jet.BHADRON, ["pt"], ["log_pt"]).copy)
        ({}, ['genJetIdx'], ['partonFlavour'])
    """
    learnt = [*targets, *(c for c in categories if not c.endswith((REGION, POINT)))]
    return replace(src, targets={k: src.targets[k] for k in learnt}, conditioning=list(conditioning),
                   categories=tuple(categories),
                   categories_conditioning=tuple(k for k in src.categories_conditioning if k in conditioning)
                   if categories else (),
                   constants={k: v for k, v in src.constants.items() if k not in learnt},
                   copy={k: v for k, v in src.copy.items() if k not in learnt},
                   oversample={k: v for k, v in src.oversample.items() if k in conditioning},
                   efficiency_bins=tuple(k for k in src.efficiency_bins if k in conditioning))


def common_fields(coll: str, parts: list[dict]) -> list[str]:
    """The fields of a collection's sources' outputs that go into the collection: the ones every source gives.

    A field only some give must be one the spec derives now (:data:`derive.DERIVED`): a source
    retrained after the spec stopped learning it sits beside others that still do, and the derive step
    writes it for all. Any other difference is an error.

    Example:
        >>> common_fields("Muon", [{"pt": 1, "dxy": 2, "ip3d": 3}, {"pt": 1, "dxy": 2}])  # ip3d: derived now
        ['pt', 'dxy']
        >>> common_fields("Muon", [{"pt": 1, "dxy": 2}, {"pt": 1}])
        Traceback (most recent call last):
        ...
        RuntimeError: Muon: sources give different fields: ['dxy']
    """
    common = set.intersection(*(set(p) for p in parts))
    odd = set.union(*(set(p) for p in parts)) - common
    if odd - set(derive.DERIVED.get(coll, ())):
        raise RuntimeError(f"{coll}: sources give different fields: {sorted(odd)}")
    return [k for k in parts[0] if k in common]


def load_source(directory: str | os.PathLike, spec: Source) -> SourceModel:
    """Load the models of source ``spec`` from ``directory/<spec.key>/`` (cards checked, safetensors only).

    The model runs as its cards say it was trained (:func:`as_trained`).
    """
    path = cards.card_path(directory, spec.key, "flow")
    c, tensors = cards.load(path)
    pipe = Pipeline.from_dict(c["transforms"])
    names = [n for n, _ in pipe.columns]
    unknown = [n for n in names if n not in spec.targets]
    # learnt by this model, derived / copied / constant by the spec now: the model writes it (derive keeps it);
    # an event residual the spec now learns in another form (raw MET as a recoil): read back as learnt
    now_ruled = [n for n in unknown if n in derive.DERIVED.get(spec.collection, ()) or n in spec.copy
                 or n in spec.constants or (spec.key == event_spec.EVENT.key and n in event_spec.RESIDUALS)]
    unknown = [n for n in unknown if n not in now_ruled]
    if unknown:
        raise cards.ModelCardError(f"{path}: targets {unknown} are not in the spec of {spec.key}")
    if now_ruled:
        learnt = dict(c["transforms"]["columns"])
        spec = replace(spec, targets={**spec.targets, **{n: learnt[n] for n in now_ruled}})
    cat_path = cards.card_path(directory, spec.key, "categories")
    fields = list(c.get("categories", []))
    if fields and not Path(cat_path).is_file():
        raise cards.ModelCardError(f"{path}: trained with a categories model for {fields}, which {cat_path} "
                                   "should hold: copy the source's folder whole, or retrain it")
    if fields and not c.get("categories_first"):
        raise cards.ModelCardError(f"{path}: trained with its categories {fields} drawn after the flow (model sets "
                                   "before the twentieth), which this version no longer samples: retrain the source")
    src = as_trained(spec, names, c.get("conditioning", []), fields)
    _check_card(c, path, src, "flow")
    net = build_velocity(c["network"])
    try:
        net.load_state_dict(tensors)
    except RuntimeError as err:
        raise cards.ModelCardError(f"{path}: weights do not fit the network of the card ({err})") from None
    net.eval()
    out = SourceModel(src, net, pipe, cards={"flow": c})
    if fields:
        out.categories, out.cards["categories"] = _load_selection(Path(cat_path), src, "categories", build_count)
        out.classes = np.asarray(out.cards["categories"]["classes"], np.int64)
        inputs = out.cards["categories"].get("inputs")
        if inputs is not None:
            unknown = [n for n in inputs if n not in src.conditioning]
            if unknown or len(inputs) != out.categories.config["input_dim"]:
                raise cards.ModelCardError(f"{cat_path}: inputs {inputs} are not {out.categories.config['input_dim']} "
                                           f"of the conditioning {src.conditioning}")
            out.category_columns = np.array([src.conditioning.index(n) for n in inputs], np.int64)
        if list(out.cards["categories"].get("fields", [])) != fields or out.classes.shape != (
                out.categories.n_max + 1, len(fields)):
            raise cards.ModelCardError(f"{cat_path}: its fields and classes do not fit {path} and its weights")
    if src.candidates is not None:
        path = cards.card_path(directory, src.key, "efficiency")
        out.efficiency, out.cards["efficiency"] = _load_selection(path, src, "efficiency",
                                                                  build_classifier)
    elif src.collection:
        path = cards.card_path(directory, src.key, "count")
        out.count, out.cards["count"] = _load_selection(path, src, "count", build_count)
        if src.apart_from:  # only from the candidates of the sources its training left out (its count card)
            excludes = out.cards["count"].get("excludes") or []
            taker = {s.candidates: s.key for s in COLLECTIONS.get(src.collection, [])}
            out.source = replace(src, apart_from=tuple(p for p in src.apart_from if taker.get(p[0]) in excludes))
    return out


def draw(m: SourceModel, context: np.ndarray, noise: np.ndarray, gen: dict[str, np.ndarray], **solver) -> dict:
    """The targets of one draw per row of ``context``: the flow integrated from the first ``m.flow.dim`` columns of
    ``noise`` (``solver``: :func:`flashsim_coffea.sim.flow.sample`'s settings), mapped back by the source's
    transforms (``gen``: the candidates' gen columns), and its categories (:mod:`flashsim_coffea.sim.categories`)
    from the last column. ``noise``: ``m.noise_dim`` standard normals a row."""
    if m.categories_first:  # the combination from the conditioning, then the flow given it
        index = categories.pick(m.categories, m.category_inputs(context), noise[:, m.flow.dim])
        width = m.flow.context_dim - len(m.classes)  # kept when there are no rows
        flow_context = categories.with_class(np.asarray(context, np.float32).reshape(len(context), width), index,
                                             len(m.classes))
    else:
        flow_context = context
    with torch.inference_mode():
        y = sample(m.flow, flow_context, noise=noise[:, :m.flow.dim], **solver)
    if not m.categories_first:
        return m.pipeline.inverse(y, gen=gen)
    # a drawn region moves its target there, a drawn point mass puts it on it
    regions, points, rest = categories.split(categories.decode(m.classes, index, list(m.source.categories)))
    return {**m.pipeline.inverse(y, gen=gen, regions=regions, points=points), **rest}


def apart_from(others: ak.Array, event: np.ndarray, dr: float) -> Callable[[dict, np.ndarray], np.ndarray]:
    """The cut of :attr:`~flashsim_coffea.specs.source.Source.apart_from`: given sampled objects (``eta``,
    ``phi``) and their rows, which lie farther than ``dr`` from every object of ``others`` (jagged, one list
    per gen event) in their gen event ``event[row]``.

    Example:
        >>> genjets = ak.Array([[{"eta": 0.0, "phi": 0.0, "pt": 50.0}], []])
        >>> cut = apart_from(genjets, np.array([0, 0, 1]), 0.8)
        >>> cut({"eta": np.array([0.5, 1.0, 0.0]), "phi": np.array([0.0, 0.0, 0.0])}, np.array([0, 1, 2])).tolist()
        [False, True, True]
    """
    off = derived.offsets(ak.to_numpy(ak.num(others, axis=1)))
    o_eta, o_phi = (np.asarray(_flat(others[f]), np.float64) for f in ("eta", "phi"))

    def cut(out: dict, rows: np.ndarray) -> np.ndarray:
        ev = event[rows]
        order = np.argsort(ev, kind="stable")
        a_off = derived.offsets(np.bincount(ev, minlength=len(off) - 1))
        eta, phi = (np.asarray(out[f], np.float64)[order] for f in ("eta", "phi"))
        near = features.nearest_dr(a_off, eta, phi, off, o_eta, o_phi)
        away = np.empty(len(rows), bool)
        away[order] = near > dr
        return away

    return cut


def check_excludes(models: dict[str, SourceModel], where: str | os.PathLike = "models") -> None:
    """Refuse a count source (pileup jets) beside fake sources other than those its training left out.

    The pileup jets' training objects are the jets no other source of the collection takes
    (:func:`flashsim_coffea.specs.fakes`); its count card names those sources (``excludes``; none in a card
    from before). Beside a split-jet model it was not trained without, the split jets would come twice;
    without the split model it was trained beside, not at all.

    Example:
        >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
        >>> from flashsim_coffea.specs import jet
        >>> models = {"Jet_pileup": load_source(DEFAULT_MODELS, jet.PILEUP)}
        >>> models["Jet_pileup"].cards["count"]["excludes"] = []  # as a card from before the split jets
        >>> check_excludes(models)
        >>> models["Jet_split"] = replace(models["Jet_pileup"], source=jet.SPLIT, count=None)
        >>> check_excludes(models)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        flashsim_coffea.sim.cards.ModelCardError: models: Jet_pileup was trained with the objects of ['Jet_split'] ...
    """
    for key, m in models.items():
        if m.count is None:
            continue
        trained = list(m.cards.get("count", {}).get("excludes", []))
        loaded = [k for k in fakes(m.source.collection) if k in models]
        if sorted(trained) != sorted(loaded):
            beside = sorted(set(loaded) - set(trained))
            raise cards.ModelCardError(
                f"{where}: {key} was trained with the objects of {beside} among its own (its count card excludes "
                f"{trained}): load it with the models it was trained beside, or retrain it" if beside else
                f"{where}: {key} was trained without the objects of {sorted(set(trained) - set(loaded))}, whose "
                f"models are not loaded: load them too, or retrain it")


def _flat(x) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x, axis=None))


def matrix(cols: dict[str, np.ndarray], names: list[str], n: int | None = None) -> np.ndarray:
    """float32 ``(n, len(names))`` matrix of the columns ``names`` (``n`` rows when there are none).

    Example:
        >>> matrix({"eta": np.array([0.5, -1.0]), "log_pt": np.array([3.0, 4.0])}, ["log_pt", "eta"])
        array([[ 3. ,  0.5],
               [ 4. , -1. ]], dtype=float32)
        >>> matrix({}, [], 3).shape
        (3, 0)
    """
    if n is None:
        n = len(next(iter(cols.values()))) if cols else 0
    if not names:
        return np.zeros((n, 0), np.float32)
    return np.stack([np.asarray(cols[k], np.float64) for k in names], axis=1).astype(np.float32)


def tile(counts: np.ndarray, replicas: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (into per-gen-event flat arrays) and flash event of every object of K replicas.

    Gen event ``i`` with ``counts[i]`` objects becomes flash events ``i*K .. i*K+K-1``,
    each holding the same rows.

    Example:
        >>> rows, flash = tile([2, 1], 2)  # gen event 0 has 2 objects, event 1 has 1; K = 2
        >>> rows.tolist(), flash.tolist()
        ([0, 1, 0, 1, 2, 2], [0, 0, 1, 1, 2, 3])
    """
    counts = np.asarray(counts, np.int64)
    fc = np.repeat(counts, replicas)
    fs = np.repeat(derived.offsets(counts)[:-1], replicas)
    flash = np.repeat(np.arange(len(fc), dtype=np.int64), fc)
    local = np.arange(int(fc.sum()), dtype=np.int64) - np.repeat(derived.offsets(fc)[:-1], fc)
    return fs[flash] + local, flash


def parent_positions(parents: ak.Array, link: str, flash: np.ndarray, gen_idx: np.ndarray) -> np.ndarray:
    """Position in ``parents`` (a jagged collection over flash events) of the object of flash
    event ``flash[i]`` whose ``link`` is ``gen_idx[i]``; -1 where there is none (the first,
    highest-pT one where several share the gen object).

    Example:
        >>> muons = ak.Array([[{"genPartIdx": 4}, {"genPartIdx": 7}], [{"genPartIdx": 7}]])
        >>> parent_positions(muons, "genPartIdx", np.array([0, 0, 1, 1]), np.array([7, 5, 7, -1])).tolist()
        [1, -1, 0, -1]
    """
    counts = ak.to_numpy(ak.num(parents, axis=1)).astype(np.int64)
    links = ak.to_numpy(ak.flatten(parents[link], axis=None)).astype(np.int64)
    local = np.arange(len(links), dtype=np.int64) - np.repeat(derived.offsets(counts)[:-1], counts)
    key = (np.repeat(np.arange(len(counts), dtype=np.int64), counts) << 32) + links
    ok = links >= 0
    key, local = key[ok], local[ok]
    order = np.lexsort((local, key))
    key, first = np.unique(key[order], return_index=True)
    local = local[order][first]
    gen_idx = np.asarray(gen_idx, np.int64)
    want = (np.asarray(flash, np.int64) << 32) + gen_idx
    at = np.minimum(np.searchsorted(key, want), max(len(key) - 1, 0))
    found = (gen_idx >= 0) & (len(key) > 0) & (key[at] == want) if len(key) else np.zeros(len(want), bool)
    return np.where(found, local[at] if len(key) else -1, -1)


class FlashSim:
    """Trained FlashSim models and the sampling loop over a chunk (see the module doc).

    Arguments:
        models: source key -> :class:`SourceModel`.
        solver, steps, grid: ODE integration of every flow (:func:`flashsim_coffea.sim.ode.solve`).
        source_steps: source key -> its own step count, where it differs from ``steps`` (the models index's
            ``source_steps``, chosen per source from the steps-vs-fidelity curve, ``benchmarks/ode_steps.py``).
        source_solvers: source key -> its own solver, where it differs from ``solver`` (the index's
            ``source_solvers``, chosen with its steps from the curves of several solvers).
        precision: of the flows' velocity networks (:mod:`flashsim_coffea.sim.precision`: ``float32``,
            ``bfloat16``, ``auto``: bfloat16 where the CPU has it natively, the default).
        batch_size: objects integrated at once (:data:`~flashsim_coffea.sim.nets.BATCH_ROWS` keeps the activations in
            cache).
    """

    def __init__(self, models: dict[str, SourceModel], solver: str = DEFAULT_SOLVER, steps: int = DEFAULT_STEPS,
                 batch_size: int = BATCH_ROWS, grid: str = DEFAULT_GRID, precision: str = DEFAULT_PRECISION,
                 source_steps: dict[str, int] | None = None, source_solvers: dict[str, str] | None = None):
        from flashsim_coffea.sim.ode import SOLVERS, time_grid
        from flashsim_coffea.sim.precision import resolve

        time_grid(1, grid)  # an unknown grid or precision fails here, not at the first chunk
        resolve(precision, "cpu")
        self.models = models
        self.solver, self.steps, self.batch_size, self.grid = solver, int(steps), int(batch_size), grid
        self.precision = precision
        self.source_steps = {k: int(v) for k, v in (source_steps or {}).items()}
        self.source_solvers = dict(source_solvers or {})
        for name in {solver, *self.source_solvers.values()}:  # an unknown solver fails here too
            if name not in SOLVERS:
                raise ValueError(f"unknown ODE solver {name!r} (known: {sorted(SOLVERS)})")
        #: rows each source's flow integrated (redraws outside the acceptance included) since the engine was made
        #: or this was last cleared: the network cost a run spent (``flashsim bench``'s FLOP count)
        self.sampled: dict[str, int] = {}
        self.device = torch.device("cpu")

    def steps_of(self, key: str) -> int:
        """ODE steps of source ``key``'s flow: its own count (``source_steps``) or ``steps``."""
        return self.source_steps.get(key, self.steps)

    def solver_of(self, key: str) -> str:
        """ODE solver of source ``key``'s flow: its own (``source_solvers``) or ``solver``."""
        return self.source_solvers.get(key, self.solver)

    def to(self, device: str | torch.device) -> FlashSim:
        """Move every network to ``device`` (``cuda`` for a GPU); returns ``self``."""
        self.device = torch.device(device)
        for m in self.models.values():
            for net in (m.flow, m.efficiency, m.count):
                if net is not None:
                    net.to(self.device)
        return self

    def flops_per_object(self) -> dict[str, dict[str, int]]:
        """Multiply-adds per object of each source: flow (its products of the state and time, x NFE of the
        solver), the flow's context products (``context``: once per drawn row, :func:`~.nets.context_flops`), its
        categories classifier (per drawn row, as the flow) and efficiency/count."""
        from flashsim_coffea.sim.nets import context_flops, count_flops
        from flashsim_coffea.sim.ode import nfe

        out = {}
        for key, m in self.models.items():
            other = m.efficiency if m.efficiency is not None else m.count
            once = context_flops(m.flow)
            out[key] = {"flow": (count_flops(m.flow) - once) * nfe(self.solver_of(key), self.steps_of(key)),
                        "context": once,
                        "categories": count_flops(m.categories) if m.categories is not None else 0,
                        "selection": count_flops(other) if other is not None else 0}
        return out

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, models_dir: str | os.PathLike, collections: tuple[str, ...] | list[str] | None = None,
             solver: str | None = None, steps: int | None = None, grid: str | None = None,
             precision: str | None = None) -> FlashSim:
        """Load the models listed in ``models_dir/flashsim.json`` (only ``collections`` if given;
        the event-level models load whenever ``MET``/``PV``/``Rho`` or no selection is asked). With
        ``collections``, the collections their derived fields read (:data:`~flashsim_coffea.sim.derive.NEEDS`:
        a muon's ``jetIdx`` needs the jets) load too where the folder has them, so that every field written
        is the one a full run writes.

        Arguments:
            models_dir: a models folder (:data:`flashsim_coffea.sim.cards.DEFAULT_MODELS`: the shipped one).
            collections: reco collections to load (``Jet``, ``Muon``, ..., ``MET``); ``None``: all.
            solver, steps, grid: ODE integration, instead of the models index's (an index without
                ``grid`` has equal steps). ``steps`` given: every flow takes it; otherwise each source its
                index's ``source_steps`` entry, or the index's ``steps``. ``solver`` or ``steps`` given: every
                flow takes the solver (``solver``, else the index's); otherwise each source its index's
                ``source_solvers`` entry, or the index's ``solver`` (a source's steps and solver were chosen together).
            precision: of the flows (:mod:`flashsim_coffea.sim.precision`), instead of the index's
                (float32 if it names none).

        Raises :class:`~flashsim_coffea.sim.cards.ModelCardError` for an unknown source, a card or
        weights that cannot be trusted, or a collection without models.

        Example:
            >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
            >>> sim = FlashSim.load(DEFAULT_MODELS, collections=["Muon"], steps=4)
            >>> sim.collections, sim.solver, sim.steps
            (['Jet', 'Muon', 'Electron'], 'midpoint', 4)
            >>> sorted(k for k in sim.models if k.startswith("Muon")), "Event_event" in sim.models
            (['Muon_genmuon', 'Muon_jetfake', 'Muon_uefake'], True)
        """
        models_dir = Path(models_dir)
        path = models_dir / cards.INDEX
        index = cards.read_index(models_dir)
        known = all_sources()
        want = None if collections is None else set(collections)
        while want is not None:  # a collection needs its sources' parent collections (SubJet: FatJet)
            more = {s.parent.collection for s in known.values() if s.parent is not None and s.collection in want}
            if more <= want:
                break
            want |= more
        use = None if want is None else derive.needed({"Event" if c in EVENT_RECORDS else c for c in want})
        models = {}
        for key in index["sources"]:
            if key not in known:
                raise cards.ModelCardError(f"{path}: unknown source {key!r} (known: {sorted(known)})")
            src = known[key]
            coll = src.collection or "Event"
            if use is not None and coll not in use:
                continue
            models[key] = load_source(models_dir, src)
        check_excludes(models, path)
        if want is not None:
            have = {m.source.collection or "Event" for m in models.values()}
            missing = {c for c in want if c not in have and not (c in EVENT_RECORDS and "Event" in have)}
            if missing:
                raise cards.ModelCardError(f"{models_dir}: no models for collection(s) {sorted(missing)}")
        return cls(models, solver or index.get("solver", DEFAULT_SOLVER), steps or index.get("steps", DEFAULT_STEPS),
                   grid=grid or index.get("grid", DEFAULT_GRID),
                   precision=precision or index.get("precision", DEFAULT_PRECISION),
                   source_steps=None if steps else {k: v for k, v in index.get("source_steps", {}).items()
                                                    if k in models},
                   source_solvers=None if (solver or steps) else {k: v for k, v in index.get("source_solvers", {}).items()
                                                                  if k in models})

    def gen_branches(self) -> dict[str, tuple[str, ...]]:
        """Gen collection -> fields read by the loaded models (an optional one, :data:`genevents.OPTIONAL`, only
        with models of its candidates: GenVisTau with tau models, the AK8 gen jets with FatJet/SubJet models,
        whose conditioning reads both)."""
        need = {candidates.KINDS[m.source.candidates][0] for m in self.models.values() if m.source.candidates}
        if need & {"GenJetAK8", "SubGenJetAK8"}:
            need |= {"GenJetAK8", "SubGenJetAK8"}
        return {c: f for c, f in genevents.GEN_BRANCHES.items() if c not in genevents.OPTIONAL or c in need}

    @property
    def collections(self) -> list[str]:
        """Reco collections these models simulate, in output order."""
        have = {m.source.collection for m in self.models.values()}
        return [c for c in COLLECTIONS if c in have]

    def simulable(self, gen: ak.Array, source: str = "gen chunk") -> list[str]:
        """Collections that can be simulated from ``gen``: a collection whose sources need an
        optional gen collection the input lacks (GenVisTau for Tau, SubGenJetAK8 for FatJet in
        older NanoAOD) is left out, with a warning."""
        out = []
        for coll in self.collections:
            need = {c for m in self.models.values()
                    if m.source.collection == coll and m.source.candidates is not None and not m.source.optional
                    for c in candidates.gen_collections(m.source.candidates)}
            lacking = sorted(c for c in need if c not in gen.fields)
            if lacking:
                import warnings

                warnings.warn(f"{source}: no gen branch {lacking[0]}_pt: {coll} is not simulated", RuntimeWarning,
                              stacklevel=3)
                continue
            out.append(coll)
        return out

    @staticmethod
    def _has_input(src: Source, gen: ak.Array, source: str) -> bool:
        """Whether ``gen`` has the gen collections of ``src`` (an optional source without them is skipped, warned)."""
        if src.candidates is None:
            return True
        lacking = [c for c in candidates.gen_collections(src.candidates) if c not in gen.fields]
        if lacking and src.optional:
            import warnings

            warnings.warn(f"{source}: no gen branch {lacking[0]}_pt: {src.key} is left out of {src.collection}",
                          RuntimeWarning, stacklevel=4)
        return not lacking

    # ------------------------------------------------------------------ sampling
    def _flow(self, m: SourceModel, context: np.ndarray, noise: np.ndarray, gen: dict) -> dict[str, np.ndarray]:
        self.sampled[m.source.key] = self.sampled.get(m.source.key, 0) + len(context)
        return draw(m, context, noise, gen, steps=self.steps_of(m.source.key), solver=self.solver_of(m.source.key),
                    batch_size=self.batch_size, device=self.device, grid=self.grid, precision=self.precision)

    def _noise(self, seed: int, key: np.ndarray, replica: np.ndarray, sid: int, obj: np.ndarray, dim: int,
               attempt: int = 0) -> np.ndarray:
        d = np.arange(attempt * dim, (attempt + 1) * dim, dtype=np.uint64)[None, :]
        return rnd.normal(seed, key[:, None], replica[:, None], sid, _FLOW, obj[:, None], d).astype(np.float32)

    def _sample_inside(self, m: SourceModel, context: np.ndarray, gen: dict[str, np.ndarray], seed: int,
                       key: np.ndarray, replica: np.ndarray, sid: int, obj: np.ndarray,
                       apart: Callable[[dict, np.ndarray], np.ndarray] | None = None,
                       ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Flow samples of the objects (rows of ``context``), each drawn again with fresh normals
        while it falls outside the source's acceptance, :data:`RESAMPLE_ATTEMPTS` draws at most.

        An object keeps its first draw inside. The objects outside after the first draw get
        their next :data:`FIRST_REDRAWS` draws in one integration, those still outside the rest in a
        second: two calls of the flow per source at most instead of one per attempt, whose fixed cost
        dominated on so few rows (shipped models on ttbar: 0.7% of the genuine jets, 2-3% of the fake
        leptons outside), and not all ``RESAMPLE_ATTEMPTS - 1`` draws of every object outside where many
        are (17 % of the pileup jets land beside a GenJet).

        ``apart(samples, rows)``: a further cut, given the objects' rows (:attr:`Source.apart_from`).

        Returns the samples of the objects that ended inside, and which those are (a mask).
        """

        def accepted(out: dict, gen: dict, rows: np.ndarray) -> np.ndarray | None:
            inside = m.accepted(out, gen)
            if apart is None:
                return inside
            away = apart(out, rows)
            return away if inside is None else inside & away

        out = self._flow(m, context, self._noise(seed, key, replica, sid, obj, m.noise_dim), gen)
        inside = accepted(out, gen, np.arange(len(context)))
        if inside is None:
            return out, np.ones(len(context), bool)
        redo = np.flatnonzero(~inside)
        if RESAMPLE_ATTEMPTS < 2 or not len(redo):
            return {k: np.asarray(v)[inside] for k, v in out.items()}, inside
        out = {k: np.array(v) for k, v in out.items()}
        for first, stop in ((1, min(FIRST_REDRAWS + 1, RESAMPLE_ATTEMPTS)), (FIRST_REDRAWS + 1, RESAMPLE_ATTEMPTS)):
            if first >= stop or not len(redo):
                continue
            attempts = np.arange(first, stop)
            rows = np.tile(redo, len(attempts))  # attempt-major: rows [a * n, (a + 1) * n) are attempt first + a
            noise = np.concatenate([self._noise(seed, key[redo], replica[redo], sid, obj[redo], m.noise_dim, a)
                                    for a in attempts])
            gen_again = {k: v[rows] for k, v in gen.items()}
            again = self._flow(m, context[rows], noise, gen_again)
            ok = accepted(again, gen_again, rows).reshape(len(attempts), len(redo))
            hit = ok.any(0)
            pick = (ok.argmax(0) * len(redo) + np.arange(len(redo)))[hit]  # first attempt inside
            for k, v in again.items():
                out[k][redo[hit]] = np.asarray(v)[pick]
            inside[redo[hit]] = True
            redo = redo[~hit]
        return {k: v[inside] for k, v in out.items()}, inside

    @staticmethod
    def _select(gen: ak.Array, kind: str, cache: dict) -> tuple[ak.Array, dict[str, np.ndarray], dict]:
        """The candidates of ``kind``, their gen columns flat, and their fields flattened so far: one selection
        per kind and chunk, kept in ``cache``."""
        if ("candidates", kind) not in cache:
            cand = candidates.select(gen, kind)
            gencols = {k: _flat(v).astype(np.float64) for k, v in candidates.gen_columns(cand).items()}
            cache["candidates", kind] = (cand, gencols, {})
        return cache["candidates", kind]

    def _candidate_source(self, m: SourceModel, gen: ak.Array, keys: np.ndarray, seed: int, K: int,
                          cache: dict, done: dict) -> tuple[dict[str, np.ndarray], np.ndarray]:
        src = m.source
        ck = (src.candidates, tuple(src.conditioning))
        if ck not in cache:
            cand = self._select(gen, src.candidates, cache)[0]
            flat = features.compute_flat(gen, cand, src.conditioning, shared=cache.setdefault("features", {}))
            counts = ak.to_numpy(ak.num(cand, axis=1)).astype(np.int64)
            cache[ck] = (counts, matrix(flat, src.conditioning, int(counts.sum())))
        counts, X = cache[ck]
        cand, gencols, flat_fields = cache["candidates", src.candidates]

        def cand_field(name: str) -> np.ndarray:  # flattened once per kind and chunk, when a source asks for it
            if name not in flat_fields:
                flat_fields[name] = _flat(cand[name])
            return flat_fields[name]

        sid = source_id(src)
        # a source drawn with another's uniforms fires, where its probability is lower, only where that one fired
        eff_id = zlib.crc32(src.efficiency_key.encode())
        p = predict_proba(m.efficiency, X) if len(X) else np.zeros(0)
        if m.candidate_abs_eta_max is not None:
            p = np.where(np.abs(cand_field("eta")) <= m.candidate_abs_eta_max, p, 0.0)
        rows, flash = tile(counts, K)
        ev, rep = flash // K, flash % K
        gidx = cand_field("idx")[rows].astype(np.int64)
        shared = src.parent is not None and src.parent.shared_draw  # one uniform per parent (both subjets or none)
        u = rnd.uniform(seed, keys[ev], rep, eff_id, _EFF, cand_field(src.parent.field)[rows].astype(np.int64)
                        if shared else gidx)
        keep = u < p[rows]
        rows, flash, ev, rep, gidx = rows[keep], flash[keep], ev[keep], rep[keep], gidx[keep]
        if src.parent is not None:  # only next to the parent object of the same flash event
            pos = parent_positions(done[src.parent.collection], src.parent.link, flash,
                                   cand_field(src.parent.field)[rows])
            has = pos >= 0
            rows, flash, ev, rep, gidx, pos = rows[has], flash[has], ev[has], rep[has], gidx[has], pos[has]
        out, inside = self._sample_inside(m, X[rows], {k: v[rows] for k, v in gencols.items()}, seed, keys[ev], rep,
                                          sid, gidx)
        rows, flash, gidx = rows[inside], flash[inside], gidx[inside]
        for reco_field, gen_field in src.copy.items():
            out[reco_field] = cand_field(gen_field)[rows]
        if src.link is not None:
            out[src.link] = gidx
        if src.parent is not None:
            out[src.parent.column] = pos[inside]
        for k, v in src.constants.items():
            out[k] = np.full(len(rows), v)
        return out, flash

    def _count_source(self, m: SourceModel, ctx: dict, gen: ak.Array, keys: np.ndarray, seed: int, K: int,
                      cache: dict) -> tuple[dict, np.ndarray]:
        src = m.source
        n_ev = len(keys)
        C = matrix(ctx, src.conditioning, n_ev)
        sid = source_id(src)
        f = np.arange(n_ev * K, dtype=np.int64)
        ev, rep = f // K, f % K
        n = sample_counts(m.count, C[ev], rnd.uniform(seed, keys[ev], rep, sid, _COUNT)) if n_ev else np.zeros(0, np.int64)
        flash = np.repeat(f, n)
        j = np.arange(len(flash), dtype=np.int64) - np.repeat(derived.offsets(n)[:-1], n)
        ev, rep = flash // K, flash % K
        cuts = [apart_from(self._select(gen, kind, cache)[0], ev, dr) for kind, dr in src.apart_from]
        apart = (lambda out, rows: np.logical_and.reduce([c(out, rows) for c in cuts])) if cuts else None
        out, inside = self._sample_inside(m, C[ev], {}, seed, keys[ev], rep, sid, j, apart)
        flash = flash[inside]
        for k, v in src.constants.items():
            out[k] = np.full(len(flash), v)
        return out, flash

    def _event_source(self, m: SourceModel, ctx: dict, gen: ak.Array, keys: np.ndarray, seed: int, K: int) -> dict:
        n_ev = len(keys)
        C = matrix(ctx, m.source.conditioning, n_ev)
        f = np.arange(n_ev * K, dtype=np.int64)
        ev, rep = f // K, f % K
        noise = self._noise(seed, keys[ev], rep, source_id(m.source), np.zeros(len(f), np.int64), m.noise_dim)
        out = self._flow(m, C[ev], noise, {})
        g_pt = ak.to_numpy(gen.GenMET.pt).astype(np.float64)[ev]
        g_phi = ak.to_numpy(gen.GenMET.phi).astype(np.float64)[ev]
        return event_spec.from_targets(out, g_pt, g_phi)

    def simulate(self, gen: ak.Array, seed: int, replicas: int = 1, source: str = "gen chunk") -> ak.Array:
        """Flash reco events of a gen chunk (see the module doc).

        Arguments:
            gen: one record per gen event with the collections of :meth:`gen_branches`
                and ``run``, ``luminosityBlock``, ``event``.
            seed: the global seed.
            replicas: K flash events per gen event.
            source: name used in error messages (a file name).

        Raises:
            GenInputError: a missing gen branch or a NaN/inf gen value (named).
        """
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        K = int(replicas)
        for name in ("run", "luminosityBlock", "event"):
            if name not in gen.fields:
                raise genevents.GenInputError(f"{source}: missing branch {name} (needed for the random-number keys)")
        for coll, fields in self.gen_branches().items():
            if coll not in gen.fields and coll not in genevents.OPTIONAL:
                raise genevents.GenInputError(f"{source}: missing gen branch {coll}_{fields[0]}")
        genevents.check(gen, source=source)
        n_ev = len(gen)
        keys = rnd.event_keys(ak.to_numpy(gen.run), ak.to_numpy(gen.luminosityBlock), ak.to_numpy(gen.event))
        cache: dict = {"features": {}}  # once per chunk: the event context, neighbours, ... the sources share
        ctx = {k: ak.to_numpy(v).astype(np.float64) for k, v in features.shared_context(gen, cache["features"]).items()}
        n_flash = n_ev * K
        ev_of_flash = np.arange(n_flash, dtype=np.int64) // K
        event_cols: dict[str, np.ndarray] = {}
        for m in self.models.values():  # event level first: the collections' derive functions may read the PV, rho
            if m.source.collection == "":
                event_cols.update(self._event_source(m, ctx, gen, keys, seed, K))
        out: dict[str, ak.Array] = {k: v for k, v in event_records(event_cols).items() if k in ("PV", "Rho")}
        for coll in self.simulable(gen, source):
            parts, flashes = [], []
            for src in COLLECTIONS[coll]:
                m = self.models.get(src.key)
                if m is None or not self._has_input(src, gen, source):
                    continue
                if src.candidates is not None:
                    cols, flash = self._candidate_source(m, gen, keys, seed, K, cache, out)
                else:
                    cols, flash = self._count_source(m, ctx, gen, keys, seed, K, cache)
                parts.append(cols)
                flashes.append(flash)
            out[coll] = self._assemble(coll, parts, flashes, gen, out, n_flash, K)
        # after every collection: the jets' lepton links, trigger bits and MET filters from the final objects
        derive.event(event_cols, derive.Chunk(ev=ev_of_flash, flash=np.arange(n_flash, dtype=np.int64), gen=gen,
                                              done=out, replicas=K, seed=seed, keys=keys))
        # NanoAOD's stored float precision, on the final collections (derive functions may fill earlier ones)
        out = storage_precision.round_branches({**{c: out[c] for c in COLLECTIONS if c in out}, **event_cols})
        out = {**{c: out[c] for c in COLLECTIONS if c in out}, **event_records(out)}
        out["FlashSim"] = ak.zip({
            "genEventIdx": ev_of_flash,
            "replica": (np.arange(n_flash) % K).astype(np.int32),
            "replicas": np.full(n_flash, K, np.int32),
        })
        return ak.zip(out, depth_limit=1)

    def _assemble(self, coll: str, parts: list[dict], flashes: list[np.ndarray], gen: ak.Array, done: dict,
                  n_flash: int, K: int) -> ak.Array:
        names = common_fields(coll, parts)
        flash = np.concatenate(flashes)
        cols = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in names}
        order = np.lexsort((-np.asarray(cols["pt"], np.float64), flash))
        flash = flash[order]
        # stored precision first, so that derived fields are functions of the written values (rounded again at the end)
        cols = storage_precision.round_columns(coll, {k: v[order] for k, v in cols.items()})
        derive.derive(coll, cols, derive.Chunk(ev=flash // K, flash=flash, gen=gen, done=done, replicas=K))
        take = cols.pop(derive.TAKE_COLUMN, None)
        if take is not None:  # the derive function drops or reorders objects (FSR photons, subjets)
            if np.any(np.diff(flash[take]) < 0):
                raise RuntimeError(f"{coll}: the derive step's {derive.TAKE_COLUMN} mixes flash events")
            flash, cols = flash[take], {k: np.asarray(v)[take] for k, v in cols.items()}
        counts = np.bincount(flash, minlength=n_flash)
        fields = schema.SCHEMA[coll]
        unknown = [k for k in cols if k not in fields]
        if unknown:
            raise RuntimeError(f"{coll}: fields not in the NanoAOD v12 schema: {unknown}")
        rec = ak.zip({k: cols[k].astype(fields[k]) for k in fields if k in cols})
        return ak.unflatten(rec, counts)
