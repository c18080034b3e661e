"""The FlashSim coffea processor: gen chunk -> flash reco events -> any analysis processor.

:class:`FlashSimProcessor` wraps an analysis processor. For each chunk it oversamples
every gen event K times, runs the engine (:class:`flashsim_coffea.sim.engine.FlashSim`) and builds
flash events: the simulated collections with coffea's NanoAOD behaviours and working
``matched_gen``, the gen collections of the replicated events, event ids,
``genWeight``, and a ``FlashSim`` record (``genEventIdx``, ``replica``, ``replicas``).
It then calls the analysis's ``process`` on them. The analysis runs unchanged on
FullSim events.

One typetracer-safe per-chunk function, :func:`flash_events`, serves every mode:
eager and virtual (``processor.Runner`` with Iterative/Futures/Dask executors) call it
directly; dask-awkward (``apply_to_fileset``) calls it through
``coffea.util.maybe_map_partitions``, and since it only touches the gen branches the
models read, dask reads only those.

Randomness comes from (seed, run, luminosityBlock, event, replica), so retries and
re-chunking reproduce the same flash events.

In a coffea job the processor goes where the analysis would:
``processor.Runner(processor.IterativeExecutor(), schema=NanoAODSchema)(fileset, FlashSimProcessor(analysis))``
(:class:`processors.schema.NanoAODSchema` reads NanoAOD v9 files too without warning about their photon branches).

Example:
    A toy analysis on 50 events of a real CMS ttbar file, 4 flash events per gen event:

    >>> from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
    >>> class Jets(processor.ProcessorABC):  # any analysis: flash events look like FullSim ones
    ...     def process(self, events):
    ...         return {"events": len(events), "jets": int(ak.sum(ak.num(events.Jet))),
    ...                 "leading": (round(float(events.Jet.pt[0, 0]), 1), round(float(events.Jet.matched_gen.pt[0, 0]), 1))}
    ...     def postprocess(self, accumulator):
    ...         return accumulator
    >>> events = NanoEventsFactory.from_root({str(SHARED / "nano_tt_v12.root"): "Events"}, schemaclass=NanoAODSchema,
    ...                                      mode="virtual", entry_stop=50).events()
    >>> FlashSimProcessor(Jets(), replicas=4, seed=1, collections=("Jet",)).process(events)
    {'events': 200, 'jets': 2196, 'leading': (108.2, 111.6)}
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
from coffea import processor
from coffea.nanoevents.methods import nanoaod
from coffea.util import maybe_map_partitions

from flashsim_coffea.nanoaod import genevents
from flashsim_coffea.sim.cards import DEFAULT_MODELS
from flashsim_coffea.sim.engine import FlashSim
from flashsim_coffea.sim.precision import resolve
from flashsim_coffea.simulate import worker_engine

#: coffea behaviour name of each flash collection and record.
BEHAVIOUR = {"Jet": "Jet", "Muon": "Muon", "Electron": "Electron", "Photon": "Photon", "Tau": "Tau",
             "FatJet": "FatJet", "SubJet": "PtEtaPhiMCollection", "SV": "SecondaryVertex", "FsrPhoton": "FsrPhoton"}
RECORDS = {"MET": "MissingET", "PV": None, "Rho": None}  # PV: no x, y simulated (coffea's Vertex needs them)
#: fields coffea's NanoAODSchema adds (constant 0) so that the candidate behaviours work.
ZERO_FIELDS = {"Jet": ("charge",), "Photon": ("mass", "charge"), "FatJet": ("charge",), "FsrPhoton": ("mass", "charge")}
#: link field -> gen collection it indexes (coffea's cross-references).
LINKS = {"genPartIdx": "GenPart", "genJetIdx": "GenJet", "genJetAK8Idx": "GenJetAK8"}
#: (collection, coffea's link name) -> (flash collection it indexes, the NanoAOD link fields): ``FatJet.subjets``
#: (nested: two fields), ``Muon.matched_fsrPhoton``, ``FsrPhoton.matched_muon`` (one field each)
FLASH_LINKS = {("FatJet", "subJetIdx"): ("SubJet", ("subJetIdx1", "subJetIdx2")),
               ("Muon", "fsrPhotonIdx"): ("FsrPhoton", ("fsrPhotonIdx",)),
               ("Electron", "fsrPhotonIdx"): ("FsrPhoton", ("fsrPhotonIdx",)),
               ("FsrPhoton", "muonIdx"): ("Muon", ("muonIdx",))}
#: gen-level content carried into the flash events (replicated) and the event ids.
GEN_CARRIED, EVENT_IDS = genevents.CARRIED, genevents.EVENT_IDS


def _gen_input(events: ak.Array, engine: FlashSim) -> ak.Array:
    """The gen fields the engine reads, as one record (touches only those branches)."""
    parts = {}
    for coll, fields in engine.gen_branches().items():
        if coll not in events.fields:
            continue  # the engine names a missing required collection; optional ones drop their reco collection
        extra = [f for f in genevents.OPTIONAL_FIELDS.get(coll, ()) if f in events[coll].fields]  # copied to flash
        parts[coll] = events[coll][[*fields, *extra]]
    for name in ("run", "luminosityBlock", "event"):
        parts[name] = events[name]
    return ak.zip(parts, depth_limit=1)


def _file_dtypes(events: ak.Array) -> dict[str, dict[str, str]]:
    """``{collection: {field: dtype}}`` of the reco collections the input file itself holds (from
    the form only: nothing is read), so that flash fields take the file's NanoAOD version dtypes."""
    form = events.layout.form
    out: dict[str, dict[str, str]] = {}
    for name in (*BEHAVIOUR, *RECORDS):
        if name not in form.fields:
            continue
        f = form.content(name)
        while not isinstance(f, ak.forms.RecordForm) and hasattr(f, "content"):
            f = f.content  # through list/option layers
        if not isinstance(f, ak.forms.RecordForm):
            continue
        out[name] = {k: f.content(k).primitive for k in f.fields if isinstance(f.content(k), ak.forms.NumpyForm)}
    return out


def _flash_links(name: str, fields: dict, sim: ak.Array) -> None:
    """Global indices (``<link>G``, and coffea's nested ``subJetIdxG``) of links between flash collections
    (:data:`FLASH_LINKS`), in place: the flash events hold their own SubJet, as a file does."""
    for (coll, nested), (target, links) in FLASH_LINKS.items():
        if coll != name or target not in sim.fields or not all(f in fields for f in links):
            continue
        counts = np.asarray(ak.num(sim[target], axis=1))
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        glob = []
        for f in links:
            local = ak.values_astype(fields[f], np.int64)
            fields[f"{f}G"] = ak.where(local >= 0, local + start, -1)
            glob.append(fields[f"{f}G"][:, :, None])
        if nested not in links:
            fields[f"{nested}G"] = ak.concatenate(glob, axis=2)


def _build(events: ak.Array, engine: FlashSim, seed: int, replicas: int) -> ak.Array:
    gen = _gen_input(events, engine)
    sim = engine.simulate(gen, seed=seed, replicas=replicas)
    rep = np.asarray(sim["FlashSim"]["genEventIdx"])
    dtypes = _file_dtypes(events)
    out: dict[str, ak.Array] = {}
    for coll in GEN_CARRIED:
        if coll in events.fields:
            out[coll] = events[coll][rep]
    for name in EVENT_IDS:
        if name in events.fields:
            out[name] = events[name][rep]
    offsets = {}
    for name in sim.fields:
        value = sim[name]
        if name in BEHAVIOUR or name in RECORDS:
            want = dtypes.get(name, {})
            fields = {f: (ak.values_astype(value[f], want[f]) if f in want else value[f]) for f in value.fields}
            for f in ZERO_FIELDS.get(name, ()):
                fields[f] = ak.values_astype(ak.zeros_like(value["pt"]), want.get(f, "float32"))
        if name in BEHAVIOUR:
            for link, target in LINKS.items():
                if link in fields and target in events.fields:
                    if target not in offsets:
                        counts = np.asarray(ak.num(events[target], axis=1))
                        offsets[target] = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
                    local = ak.values_astype(fields[link], np.int64)
                    glob = local + offsets[target][rep]
                    fields[f"{link}G"] = ak.where(local >= 0, glob, -1)
            _flash_links(name, fields, sim)  # a nested link (subJetIdxG) is a list per object: zip to the objects
            value = ak.zip(fields, with_name=BEHAVIOUR[name], behavior=nanoaod.behavior, depth_limit=2)
        elif name in RECORDS:
            value = ak.zip(fields, with_name=RECORDS[name], behavior=nanoaod.behavior)
        out[name] = value
    flash = ak.zip(out, depth_limit=1, with_name="NanoEvents", behavior=nanoaod.behavior, attrs=events.attrs)
    md = events.layout.purelist_parameter("metadata")
    flash = ak.with_parameter(flash, "metadata", md) if md is not None else flash
    # coffea resolves cross-references in the events `_events()` returns: the flash events themselves, so
    # that links between flash collections (Muon.matched_fsrPhoton) find them; a replicated gen collection
    # keeps the input's content, which the gen links (<link>G above) index
    flash.attrs["@original_array"] = flash
    return flash


def flash_events(events: ak.Array, models_dir: str | None, seed: int, replicas: int,
                 collections: tuple[str, ...] | None = None, precision: str | None = None) -> ak.Array:
    """Flash events of one chunk (typetracer-safe: on a typetracer it touches only gen inputs).

    ``models_dir`` None: the shipped models of the process that runs the chunk (:data:`DEFAULT_MODELS`
    found on the worker, wherever its package is installed). ``precision``: of the flows
    (:mod:`flashsim_coffea.sim.precision`; default: the models index's).

    Example:
        >>> from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
        >>> events = NanoEventsFactory.from_root({str(SHARED / "nano_tt_v12.root"): "Events"}, schemaclass=NanoAODSchema,
        ...                                      mode="virtual", entry_stop=50).events()
        >>> flash = flash_events(events, DEFAULT_MODELS, seed=1, replicas=4, collections=("Jet",))
        >>> len(flash), flash.FlashSim.genEventIdx[:6].tolist()
        (200, [0, 0, 0, 0, 1, 1])
        >>> print(flash.Jet.pt[0, :3], flash.Jet.matched_gen.pt[0, :3])  # coffea's cross-reference to the GenJets
        [108, 67.8, 58.9] [112, 76.1, 76.6]
    """
    engine = worker_engine(os.fspath(DEFAULT_MODELS if models_dir is None else models_dir), collections, precision)
    if ak.backend(events) == "typetracer":
        # run the same code on a length-zero stand-in holding only gen content and event ids
        wanted = dict.fromkeys([*GEN_CARRIED, *engine.gen_branches(), *EVENT_IDS])  # carried and engine inputs
        carried = [c for c in wanted if c in events.fields]
        stand_in = ak.typetracer.length_zero_if_typetracer(ak.zip({c: events[c] for c in carried}, depth_limit=1))
        concrete = _build(ak.Array(stand_in, behavior=nanoaod.behavior, attrs=events.attrs), engine, seed, replicas)
        return ak.Array(concrete.layout.to_typetracer(forget_length=True), behavior=concrete.behavior, attrs=events.attrs)
    return _build(events, engine, seed, replicas)


class FlashSimProcessor(processor.ProcessorABC):
    """Run FlashSim on gen chunks and hand the flash events to ``analysis``.

    Arguments:
        analysis: any coffea processor (its ``process`` gets flash events).
        models_dir: directory of trained models; default (None): the shipped ``flashsim_coffea/models/``,
            looked up by each worker in its own installation (the client's path may not exist there).
        replicas: K, the number of flash events per gen event.
        seed: the global seed (the same seed gives identical results).
        collections: simulate only these reco collections (default: all models).
        precision: of the flows, ``float32``, ``bfloat16`` or ``auto`` (bfloat16 where the worker's CPU has
            it natively: :mod:`flashsim_coffea.sim.precision`); default: the models index's, else ``auto``.
    """

    def __init__(self, analysis: processor.ProcessorABC, models_dir: str | os.PathLike | None = None, replicas: int = 1,
                 seed: int = 1, collections: tuple[str, ...] | None = None, precision: str | None = None):
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        self.analysis = analysis
        self.models_dir = os.fspath(models_dir) if models_dir is not None else None
        self.replicas = int(replicas)
        self.seed = int(seed)
        self.collections = tuple(collections) if collections else None
        if precision is not None:
            resolve(precision, "cpu")  # an unknown precision fails here, not on a worker
        self.precision = precision

    def flash(self, events):
        """Flash events of ``events`` (eager, virtual or a dask-awkward collection, lazily mapped)."""
        return maybe_map_partitions(
            flash_events,
            events,
            self.models_dir,
            self.seed,
            self.replicas,
            self.collections,
            self.precision,
            label="flashsim",
        )

    def process(self, events):
        return self.analysis.process(self.flash(events))

    def postprocess(self, accumulator):
        return self.analysis.postprocess(accumulator)


