"""What the two seed analyses share: objects, weights, oversampled filling, the processor, running.

An analysis is a subclass of :class:`Analysis` that defines its jet cuts, its cumulative
cuts and its histogram ranges; :class:`Analysis.process` does the rest (weights,
histograms, cutflow, DNN score) and runs unchanged on FullSim and flash events. Flash
events carry a ``FlashSim`` record (``genEventIdx``, ``replicas``); they are filled with
:func:`flashsim_coffea.oversampling.fill_oversampled` grouped by gen event, FullSim
events with one group per event (K = 1), see :func:`oversampling`.

Running (:func:`main`): a fileset (JSON, or the embedded reference samples made by
``flashsim_coffea.reference.cache.sample``) goes through ``coffea.processor.Runner``
(iterative, futures or dask executor; or dask-awkward ``apply_to_fileset``) once as
FullSim and once through ``processors.flashsim.FlashSimProcessor``; then
:func:`write_outputs` writes plots, the yields table and the comparison summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
from coffea import processor
from coffea.nanoevents import NanoAODSchema

from flashsim_coffea.oversampling import fill_oversampled

ANALYSES_DIR = Path(__file__).resolve().parent
MODELS_DIR = ANALYSES_DIR / "models"
DEFAULT_LUMI_FB = 300.0
BACKGROUNDS = ("dy", "ttbar")

#: the DNN inputs (per event; both analyses use the same list).
DNN_INPUTS = ["m_ll", "pt_ll", "m_jj", "deta_jj", "pt_j1", "pt_j2", "eta_j1", "eta_j2", "btag_j1", "btag_j2", "njets"]

#: reference files have no cross-reference targets for some links; set at import so workers get it too.
NanoAODSchema.warn_missing_crossrefs = False
#: events per embedded reference sample when --events is not given.
DEFAULT_EVENTS = 2000
#: offset of the DNN training samples' seed, so the DNN never sees the evaluation samples.
TRAIN_SEED_OFFSET = 1000



# ---------------------------------------------------------------------------- events


def oversampling(events: ak.Array) -> tuple[np.ndarray, int]:
    """(gen-event id per event, K): ``FlashSim.genEventIdx`` and ``replicas`` for flash events,
    ``arange(len(events))`` and 1 for FullSim events."""
    if "FlashSim" in events.fields:
        gen = np.asarray(ak.to_numpy(events.FlashSim.genEventIdx), dtype=np.int64)
        reps = np.asarray(ak.to_numpy(events.FlashSim.replicas))
        return gen, int(reps[0]) if len(reps) else 1
    return np.arange(len(events), dtype=np.int64), 1


def metadata(events: ak.Array) -> dict:
    """``events.metadata`` (flash events keep the metadata of their gen chunk); ``{}`` for plain arrays."""
    try:
        md = events.metadata
    except Exception:  # noqa: BLE001 - plain arrays have no metadata
        md = None
    return dict(md or {})


def event_weight(events: ak.Array, lumi_fb: float) -> np.ndarray:
    """``genWeight * xsec * lumi / sumw`` with ``xsec_pb`` and ``sumw`` from the dataset metadata.

    Without them (a bare file) the weight is ``genWeight`` (or 1) and the result is not normalised.
    """
    md = metadata(events)
    gw = np.asarray(ak.to_numpy(events.genWeight), np.float64) if "genWeight" in events.fields else np.ones(len(events))
    if md.get("xsec_pb") is None or not md.get("sumw"):
        return gw
    return gw * float(md["xsec_pb"]) * 1000.0 * float(lumi_fb) / float(md["sumw"])


def select_muons(events: ak.Array) -> ak.Array:
    """pT > 20 GeV, |eta| < 2.4, pfRelIso04_all < 0.25, mediumId."""
    mu = events.Muon
    return mu[(mu.pt > 20) & (abs(mu.eta) < 2.4) & (mu.pfRelIso04_all < 0.25) & mu.mediumId]


def select_jets(events: ak.Array, muons: ak.Array, pt_min: float, eta_max: float) -> ak.Array:
    """pT > pt_min, |eta| < eta_max, puId > 0 (if the file has it), jetId > 0, dR > 0.4 from every selected muon."""
    jet = events.Jet
    keep = (jet.pt > pt_min) & (abs(jet.eta) < eta_max) & (jet.jetId > 0)
    if "puId" in jet.fields:
        keep = keep & (jet.puId > 0)
    pairs = ak.cartesian([jet, muons], nested=True)
    near = ak.any(pairs["0"].delta_r(pairs["1"]) < 0.4, axis=2)
    return jet[keep & ~near]


def _pad2(coll: ak.Array) -> tuple[ak.Array, ak.Array]:
    padded = ak.pad_none(coll, 2, axis=1)
    return padded[:, 0], padded[:, 1]


def _np(x: Any, fill: float = np.nan) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.fill_none(x, fill)), dtype=np.float64)


def event_variables(muons: ak.Array, jets: ak.Array) -> dict[str, np.ndarray]:
    """Per-event variables of the leading two muons and jets (NaN where missing) and the OS-dimuon flag."""
    m1, m2 = _pad2(muons)
    j1, j2 = _pad2(jets)
    ll = m1 + m2
    jj = j1 + j2
    out = {
        "m_ll": _np(ll.mass), "pt_ll": _np(ll.pt), "m_jj": _np(jj.mass), "deta_jj": _np(abs(j1.eta - j2.eta)),
        "pt_mu1": _np(m1.pt), "eta_mu1": _np(m1.eta), "pt_mu2": _np(m2.pt), "eta_mu2": _np(m2.eta),
        "pt_j1": _np(j1.pt), "eta_j1": _np(j1.eta), "pt_j2": _np(j2.pt), "eta_j2": _np(j2.eta),
        "btag_j1": _np(j1.btagDeepFlavB), "btag_j2": _np(j2.btagDeepFlavB),
        "njets": np.asarray(ak.to_numpy(ak.num(jets, axis=1)), np.float64),
        "nmuons": np.asarray(ak.to_numpy(ak.num(muons, axis=1)), np.float64),
    }
    out["os_dimuon"] = (out["nmuons"] >= 2) & (_np(m1.charge * m2.charge, 0.0) < 0)
    return out


def dnn_features(var: dict[str, np.ndarray]) -> np.ndarray:
    """The ``(N, len(DNN_INPUTS))`` DNN input matrix (NaN -> -1, i.e. a missing object)."""
    x = np.stack([var[name] for name in DNN_INPUTS], axis=1)
    return np.where(np.isfinite(x), x, -1.0).astype(np.float32)


# ---------------------------------------------------------------------------- histograms

#: name -> (axis label, bins, low, high); analyses override ranges via ``Analysis.ranges``.
HISTS: dict[str, tuple[str, int, float, float]] = {
    "m_ll": (r"$m_{\mu\mu}$ [GeV]", 40, 60.0, 180.0),
    "pt_ll": (r"$p_T^{\mu\mu}$ [GeV]", 30, 0.0, 300.0),
    "m_jj": (r"$m_{jj}$ [GeV]", 40, 0.0, 800.0),
    "deta_jj": (r"$|\Delta\eta_{jj}|$", 30, 0.0, 9.0),
    "pt_mu1": (r"leading muon $p_T$ [GeV]", 30, 0.0, 300.0),
    "eta_mu1": (r"leading muon $\eta$", 24, -2.4, 2.4),
    "pt_j1": (r"leading jet $p_T$ [GeV]", 30, 0.0, 450.0),
    "eta_j1": (r"leading jet $\eta$", 30, -4.7, 4.7),
    "pt_j2": (r"second jet $p_T$ [GeV]", 30, 0.0, 300.0),
    "eta_j2": (r"second jet $\eta$", 30, -4.7, 4.7),
    "btag_j1": (r"leading jet DeepFlavB", 20, 0.0, 1.0),
    "btag_j2": (r"second jet DeepFlavB", 20, 0.0, 1.0),
    "njets": (r"jet multiplicity", 10, -0.5, 9.5),
    "dnn": (r"DNN score", 20, 0.0, 1.0),
}
#: regions in which the histograms are filled.
HIST_REGIONS = ("presel", "sr")


def make_hist(name: str, label: str, bins: int, lo: float, hi: float) -> hist.Hist:
    """A Weight-storage histogram with a region category axis."""
    return hist.Hist(
        hist.axis.StrCategory(list(HIST_REGIONS), name="region"),
        hist.axis.Regular(bins, lo, hi, name=name, label=label),
        storage=hist.storage.Weight(),
    )


def make_cutflow(regions: list[str]) -> hist.Hist:
    return hist.Hist(hist.axis.StrCategory(regions, name="region"), storage=hist.storage.Weight())


# ---------------------------------------------------------------------------- the processor


class Analysis(processor.ProcessorABC):
    """Base of the seed analyses (a coffea processor).

    Subclasses set ``name``, ``signal``, ``jet_pt``, ``jet_eta``, ``ranges``, ``cut_names``
    (cumulative cuts after ``all``, the last one is the signal region ``sr``) and implement
    :meth:`cuts`. Output per chunk: ``{dataset: {"hists": {name: Hist}, "cutflow": Hist,
    "cutflow_raw": Hist, "events": int, "gen_events": int}}`` (merged by ``processor.accumulate``).
    """

    name = "analysis"
    signal = "signal"
    jet_pt = 25.0
    jet_eta = 4.7
    ranges: dict[str, tuple[int, float, float]] = {}
    cut_names: tuple[str, ...] = ("sr",)

    def __init__(self, lumi_fb: float = DEFAULT_LUMI_FB, dnn_path: str | os.PathLike | None = None):
        self.lumi_fb = float(lumi_fb)
        self.dnn_path = os.fspath(dnn_path) if dnn_path is not None else os.fspath(MODELS_DIR / f"{self.name}_dnn")

    # -- to override
    def cuts(self, var: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One event mask per name in ``cut_names`` (applied cumulatively)."""
        raise NotImplementedError

    def presel(self, var: dict[str, np.ndarray]) -> np.ndarray:
        """Two selected opposite-charge muons and two selected jets."""
        return var["os_dimuon"] & (var["njets"] >= 2)

    # -- shared
    def hist_specs(self) -> dict[str, tuple[str, int, float, float]]:
        return {k: (lab, *self.ranges.get(k, (b, lo, hi))) for k, (lab, b, lo, hi) in HISTS.items()}

    def regions(self) -> list[str]:
        return ["all", *self.cut_names]

    def objects(self, events: ak.Array) -> dict[str, np.ndarray]:
        muons = select_muons(events)
        jets = select_jets(events, muons, self.jet_pt, self.jet_eta)
        return event_variables(muons, jets)

    def dnn_score(self, var: dict[str, np.ndarray]) -> np.ndarray | None:
        from analyses import dnn

        model = dnn.cached(self.dnn_path)
        return None if model is None else model(dnn_features(var)).astype(np.float64)

    def process(self, events: ak.Array) -> dict:
        md = metadata(events)
        dataset = md.get("dataset", "unknown")
        gen, k = oversampling(events)
        w = event_weight(events, self.lumi_fb)
        var = self.objects(events)
        score = self.dnn_score(var)
        if score is not None:
            var["dnn"] = score

        cutflow = make_cutflow(self.regions())
        raw = make_cutflow(self.regions())
        mask = np.ones(len(events), bool)
        steps = [("all", mask), *zip(self.cut_names, self.cuts(var))]
        for region, cut in steps:
            mask = mask & np.asarray(cut, bool)
            fill_oversampled(cutflow, gen_event=gen[mask], replicas=k, weight=w[mask], region=region)
            fill_oversampled(raw, gen_event=gen[mask], replicas=k, weight=None, region=region)

        hists = {}
        region_masks = {"presel": self.presel(var), "sr": mask}
        for name, (label, bins, lo, hi) in self.hist_specs().items():
            h = make_hist(name, label, bins, lo, hi)
            if name in var:
                for region, sel in region_masks.items():
                    fill_oversampled(h, gen_event=gen[sel], replicas=k, weight=w[sel], region=region, **{name: var[name][sel]})
            hists[name] = h
        n_gen = len(np.unique(gen))
        return {dataset: {"hists": hists, "cutflow": cutflow, "cutflow_raw": raw, "events": len(events), "gen_events": n_gen}}

    def postprocess(self, accumulator: dict) -> dict:
        return accumulator

    def training_arrays(self, events: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        """DNN features and weights of the preselected events of one FullSim chunk."""
        var = self.objects(events)
        sel = self.presel(var)
        return dnn_features(var)[sel], event_weight(events, self.lumi_fb)[sel]


# ---------------------------------------------------------------------------- filesets and running


def sumw_of(path: str | os.PathLike) -> float | None:
    """Sum of generator weights from the ``Runs`` tree (``genEventSumw`` or Run-2 ``genEventSumw_``)."""
    import uproot

    with uproot.open(path) as f:
        if "Runs" not in f:
            return None
        runs = f["Runs"]
        for name in ("genEventSumw", "genEventSumw_"):
            if name in runs.keys():
                return float(np.sum(runs[name].array(library="np")))
    return None


def file_metadata(path: str | os.PathLike) -> dict:
    """xsec (pb), sumw and number of entries of one file (``flashsim_metadata`` when present)."""
    import uproot

    md: dict = {}
    with uproot.open(path) as f:
        if "flashsim_metadata" in f:
            md.update(json.loads(str(f["flashsim_metadata"])))
        md["entries"] = int(f["Events"].num_entries)
    md["sumw"] = sumw_of(path)
    return md


def reference_fileset(signal: str, events: int, seed: int, backgrounds: tuple[str, ...] = BACKGROUNDS) -> dict:
    """The embedded default: cached reference samples of the signal and backgrounds."""
    from flashsim_coffea.reference import cache

    fileset = {}
    for i, proc in enumerate((signal, *backgrounds)):
        print(f"[fileset] reference sample {proc}: {events} events, seed {seed + i}", flush=True)
        path = cache.sample(proc, events, seed + i)
        fileset[proc] = {"files": {os.fspath(path): "Events"}, "metadata": {"process": proc}}
    return fileset


def load_fileset(path: str | os.PathLike) -> dict:
    """A Runner fileset from JSON: ``{dataset: {"files": [...] | {path: "Events"}, "metadata": {...}}}``
    or ``{dataset: [files]}``; ``metadata.process`` defaults to the dataset name."""
    raw = json.loads(Path(path).read_text())
    out = {}
    for ds, spec in raw.items():
        if isinstance(spec, list):
            spec = {"files": spec}
        files = spec["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files}
        out[ds] = {"files": dict(files), "metadata": {"process": ds, **spec.get("metadata", {})}}
    return out


def complete_metadata(fileset: dict, max_events: int | None = None) -> dict:
    """Add ``xsec_pb`` (from file metadata unless given), ``sumw`` and ``entries`` to each dataset.

    With ``max_events`` only the first events of each dataset are run; sumw is scaled by the
    fraction of entries used (exact for unweighted samples).
    """
    out = {}
    for ds, spec in fileset.items():
        md = dict(spec.get("metadata", {}))
        metas = [file_metadata(f) for f in spec["files"]]
        entries = sum(m["entries"] for m in metas)
        if md.get("xsec_pb") is None:
            xs = [m.get("xsec_pb") for m in metas if m.get("xsec_pb") is not None]
            md["xsec_pb"] = float(np.mean(xs)) if xs else None
        if md.get("sumw") is None:
            sw = [m["sumw"] for m in metas]
            md["sumw"] = float(sum(sw)) if all(s is not None for s in sw) else None
        used = min(entries, max_events) if max_events else entries
        if md["sumw"] is not None and entries:
            md["sumw"] *= used / entries
        md["entries"] = used
        if md["xsec_pb"] is None:
            print(f"[fileset] {ds}: no cross-section, weights are genWeight only", file=sys.stderr)
        out[ds] = {"files": spec["files"], "metadata": md}
    return out


def make_executor(kind: str, workers: int):
    """A ``coffea.processor`` executor (``dask`` starts a LocalCluster with 1 thread per worker)."""
    from coffea import processor

    if kind == "iterative":
        return processor.IterativeExecutor()
    if kind == "futures":
        return processor.FuturesExecutor(workers=workers)
    if kind == "dask":
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise SystemExit(f"--executor dask needs dask.distributed ({err}); pip install 'coffea[dask]'") from err
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return processor.DaskExecutor(client=Client(cluster))
    raise SystemExit(f"unknown executor {kind!r}")


def run(fileset: dict, proc: Any, executor: str = "iterative", workers: int = 2, chunksize: int = 50_000,
        max_events: int | None = None) -> dict:
    """Run ``proc`` over ``fileset`` with ``processor.Runner`` (NanoAODSchema) or dask-awkward."""
    if executor == "dask-awkward":
        return _run_dask_awkward(fileset, proc, chunksize, max_events)
    from coffea import processor

    if max_events:
        chunksize = min(chunksize, max_events)
    runner = processor.Runner(
        make_executor(executor, workers), schema=NanoAODSchema, chunksize=chunksize,
        maxchunks=(-(-max_events // chunksize) if max_events else None),
    )
    return runner(fileset, proc, treename="Events")


def _run_dask_awkward(fileset: dict, proc: Any, chunksize: int, max_events: int | None) -> dict:
    """dask-awkward: ``preprocess`` + ``apply_to_fileset``; the (eager) analysis runs per partition
    through ``to_delayed``. For FlashSim the partitions are flash events mapped lazily from the gen
    branches (only those are read); for FullSim every branch of a partition is read."""
    try:
        import dask
        from coffea.dataset_tools import DataGroupSpec, apply_to_fileset, max_chunks, preprocess
        from coffea.nanoevents import NanoAODSchema
    except ImportError as err:
        raise SystemExit(f"--executor dask-awkward needs coffea[dask-awkward] ({err}); use iterative/futures/dask") from err
    if max_events:
        chunksize = min(chunksize, max_events)
    available, _ = preprocess(DataGroupSpec(fileset), step_size=chunksize)
    if max_events:
        available = max_chunks(available, -(-max_events // chunksize))

    flash = getattr(proc, "flash", None)
    analysis = getattr(proc, "analysis", proc)

    def per_dataset(events):
        # FlashSim: the flash events are a lazily mapped dask-awkward collection that reads only
        # gen branches; the (eager) analysis then runs on each computed partition.
        source = flash(events) if flash is not None else events
        parts = [dask.delayed(analysis.process)(p) for p in source.to_delayed()]
        return dask.delayed(processor.accumulate)(parts)

    graphs = apply_to_fileset(per_dataset, available, schemaclass=NanoAODSchema)
    (out,) = dask.compute(graphs)
    return processor.accumulate(out.values())


def flash_processor(analysis: Analysis, replicas: int, seed: int, models_dir: str | None = None):
    """``FlashSimProcessor(analysis)`` (imported lazily); ``None`` with a message if unavailable."""
    try:
        from processors.flashsim import FlashSimProcessor
    except ImportError as err:
        print(f"[flash] FlashSim processor unavailable ({err}); running FullSim only", file=sys.stderr)
        return None
    return FlashSimProcessor(analysis, models_dir=models_dir, replicas=replicas, seed=seed)


# ---------------------------------------------------------------------------- DNN training


def train_dnn(analysis: Analysis, events: int = 5000, seed: int = 1, fileset: dict | None = None) -> Path:
    """Train the analysis DNN on FullSim events of signal vs backgrounds and store it at ``analysis.dnn_path``.

    Default samples: reference samples with seeds ``seed + TRAIN_SEED_OFFSET + i`` (disjoint from
    the evaluation samples of the same ``--seed``). Events are the preselected ones, weighted by
    cross-section; the classes are balanced.
    """
    from coffea.nanoevents import NanoEventsFactory

    from analyses import dnn

    fileset = complete_metadata(fileset or reference_fileset(analysis.signal, events, seed + TRAIN_SEED_OFFSET))
    xs, ys, ws, used = [], [], [], {}
    for ds, spec in fileset.items():
        for path in spec["files"]:
            ev = NanoEventsFactory.from_root({path: "Events"}, mode="virtual", schemaclass=NanoAODSchema,
                                             metadata={"dataset": ds, **spec["metadata"]}).events()
            x, w = analysis.training_arrays(ev)
            label = 1.0 if spec["metadata"].get("process", ds) == analysis.signal else 0.0
            xs.append(x), ws.append(w), ys.append(np.full(len(x), label, np.float32))
            used[ds] = used.get(ds, 0) + len(x)
    print(f"[dnn] training events after preselection: {used}", flush=True)
    start = time.perf_counter()
    model = dnn.train(np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), DNN_INPUTS, seed=seed,
                      info={"analysis": analysis.name, "signal": analysis.signal, "samples": used,
                            "sample_events": events, "source": "flashsim-coffea reference detector (FullSim)"})
    stem = Path(analysis.dnn_path)
    dnn.save(model, stem)
    dnn.cached.cache_clear()
    print(f"[dnn] trained in {time.perf_counter() - start:.1f} s -> {stem}.safetensors/.json", flush=True)
    return stem


# ---------------------------------------------------------------------------- CLI


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--flash", action="store_true", help="run FlashSim on the gen collections")
    p.add_argument("--fullsim", action="store_true", help="run on the reco (FullSim) collections")
    p.add_argument("--fileset", help="JSON fileset {dataset: {files, metadata}}; default: embedded reference samples")
    p.add_argument("--oversample", type=int, default=1, metavar="K", help="flash replicas per gen event")
    p.add_argument("--executor", default="iterative", choices=["iterative", "futures", "dask", "dask-awkward"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--events", type=int, default=None,
                   help=f"events per reference sample (default {DEFAULT_EVENTS}), or at most this many per fileset dataset")
    p.add_argument("--chunksize", type=int, default=50_000)
    p.add_argument("--out", default=None, help="output directory (default: out/<analysis>)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lumi", type=float, default=DEFAULT_LUMI_FB, help="integrated luminosity in fb^-1")
    p.add_argument("--models", default=None, help="FlashSim models directory")
    p.add_argument("--train-dnn", action="store_true", help="(re)train the DNN on reference samples, then run")
    return p


def main(make: Callable[..., Analysis], argv: list[str] | None = None) -> dict:
    """The CLI of one analysis: train (optional), run FullSim and/or flash, write outputs."""
    probe = make()
    args = parser(f"{probe.name}: FlashSim vs reference-detector analysis").parse_args(argv)
    if not (args.flash or args.fullsim):
        args.flash = args.fullsim = True
    analysis = make(lumi_fb=args.lumi)
    if args.train_dnn:
        train_dnn(analysis, args.events or 5000, args.seed, load_fileset(args.fileset) if args.fileset else None)
    if args.fileset:
        fileset = complete_metadata(load_fileset(args.fileset), args.events)
        signal = [ds for ds, s in fileset.items() if s["metadata"].get("process", ds) == analysis.signal]
    else:
        fileset = complete_metadata(reference_fileset(analysis.signal, args.events or DEFAULT_EVENTS, args.seed))
        signal = [analysis.signal]
    out_dir = Path(args.out or Path("out") / analysis.name)
    results: dict[str, dict] = {}
    if args.fullsim:
        start = time.perf_counter()
        print(f"[fullsim] {', '.join(fileset)} with {args.executor}", flush=True)
        results["fullsim"] = run(fileset, analysis, args.executor, args.workers, args.chunksize,
                                 args.events if args.fileset else None)
        print(f"[fullsim] done in {time.perf_counter() - start:.1f} s", flush=True)
    if args.flash:
        proc = flash_processor(analysis, args.oversample, args.seed, args.models)
        if proc is not None:
            start = time.perf_counter()
            print(f"[flash] K={args.oversample} seed={args.seed} with {args.executor}", flush=True)
            results["flash"] = run(fileset, proc, args.executor, args.workers, args.chunksize,
                                   args.events if args.fileset else None)
            print(f"[flash] done in {time.perf_counter() - start:.1f} s", flush=True)
    groups = {"signal": signal, "background": [ds for ds in fileset if ds not in signal]}
    summary = write_outputs(results, groups, out_dir, analysis.name, lumi_fb=args.lumi)
    print(f"[out] {out_dir}", flush=True)
    return summary


# ---------------------------------------------------------------------------- outputs


def _sum(hists: list[hist.Hist]) -> hist.Hist | None:
    out = None
    for h in hists:
        out = h.copy() if out is None else out + h
    return out


def group_hist(result: dict, datasets: list[str], key: str, name: str | None = None) -> hist.Hist | None:
    """Sum of ``result[ds][key]`` (or ``result[ds]["hists"][name]``) over ``datasets`` present."""
    hs = [result[ds]["hists"][name] if name else result[ds][key] for ds in datasets if ds in result]
    return _sum(hs)


def compare(flash: hist.Hist, full: hist.Hist) -> dict:
    """chi2 with both variances over bins where either is filled; KS = max |difference| of the
    normalised binned cumulative distributions (shape only, no flow bins)."""
    from scipy import stats

    fv, fw = flash.values(), flash.variances()
    rv, rw = full.values(), full.variances()
    var = fw + rw
    used = var > 0
    chi2 = float(np.sum((fv[used] - rv[used]) ** 2 / var[used]))
    ndf = int(used.sum())
    ks = None
    if fv.sum() > 0 and rv.sum() > 0:
        ks = float(np.max(np.abs(np.cumsum(fv) / fv.sum() - np.cumsum(rv) / rv.sum())))
    return {"chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf if ndf else None,
            "p_value": float(stats.chi2.sf(chi2, ndf)) if ndf else None, "ks_binned": ks,
            "flash_sum": float(fv.sum()), "fullsim_sum": float(rv.sum())}


def plot_comparison(hs: dict[str, hist.Hist], path: Path, title: str, lumi_fb: float) -> None:
    """Step histograms with ±1σ bands (sqrt of the stored variances) and a flash/FullSim ratio panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    hep.style.use("CMS")
    colors = {"fullsim": "black", "flash": "tab:red"}
    labels = {"fullsim": "reference detector (FullSim)", "flash": "FlashSim"}
    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05},
                                  figsize=(10, 10))
    edges = next(iter(hs.values())).axes[0].edges
    for src, h in hs.items():
        v, e = h.values(), np.sqrt(h.variances())
        hep.histplot(v, edges, ax=ax, color=colors[src], label=labels[src])
        ax.fill_between(edges, np.append(v - e, 0), np.append(v + e, 0), step="post", color=colors[src], alpha=0.25)
    if {"flash", "fullsim"} <= hs.keys():
        fv, fe = hs["flash"].values(), np.sqrt(hs["flash"].variances())
        rv, re_ = hs["fullsim"].values(), np.sqrt(hs["fullsim"].variances())
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rv > 0, fv / rv, np.nan)
            rband = np.where(rv > 0, re_ / rv, np.nan)
            fband = np.where(rv > 0, fe / rv, np.nan)
        rax.fill_between(edges, np.append(1 - rband, 1), np.append(1 + rband, 1), step="post", color="gray", alpha=0.3)
        rax.errorbar(0.5 * (edges[1:] + edges[:-1]), ratio, yerr=fband, fmt="o", color=colors["flash"], ms=4)
    rax.axhline(1.0, color="black", lw=1)
    rax.set_ylim(0.5, 1.5)
    rax.set_ylabel("Flash / Full")
    rax.set_xlabel(next(iter(hs.values())).axes[0].label)
    ax.set_ylabel(f"Events / {lumi_fb:g} fb$^{{-1}}$")
    ax.legend(title=title, fontsize=16, title_fontsize=16)
    try:
        hep.cms.label(data=False, lumi=lumi_fb, com=13.6, ax=ax, fontsize=18)
    except Exception:  # noqa: BLE001 - label API differs between mplhep versions
        ax.set_title("CMS Simulation", loc="left")
    top = max((float(np.max(h.values() + np.sqrt(h.variances()))) for h in hs.values()), default=0.0)
    ax.set_ylim(0, 1.5 * top if top > 0 else 1.0)
    ax.set_xlim(edges[0], edges[-1])
    ax.text(0.03, 0.93, "FlashSim vs reference detector", transform=ax.transAxes, fontsize=14, va="top")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def yields_table(results: dict[str, dict], groups: dict[str, list[str]]) -> list[dict]:
    """Rows (source, sample, region, yield, error, entries) for every dataset and process group."""
    rows = []
    for src, result in results.items():
        names = {ds: [ds] for ds in result} | groups
        for sample, dss in names.items():
            cf, raw = group_hist(result, dss, "cutflow"), group_hist(result, dss, "cutflow_raw")
            if cf is None:
                continue
            for i, region in enumerate(cf.axes[0]):
                rows.append({"source": src, "sample": sample, "region": region, "yield": float(cf.values()[i]),
                             "error": float(np.sqrt(cf.variances()[i])), "entries": float(raw.values()[i])})
    return rows


def write_outputs(results: dict[str, dict], groups: dict[str, list[str]], out_dir: str | os.PathLike, name: str,
                  lumi_fb: float = DEFAULT_LUMI_FB, hists: list[str] | None = None,
                  regions: tuple[str, ...] = HIST_REGIONS) -> dict:
    """Plots (one PNG per histogram, region and process group), ``yields.md``/``yields.csv`` and
    ``summary.json`` (chi2/ndf and binned KS of flash vs FullSim) from ``{"flash"|"fullsim": output}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = yields_table(results, groups)
    with open(out / "yields.csv", "w") as f:
        f.write("source,sample,region,yield,error,entries\n")
        for r in rows:
            f.write(f"{r['source']},{r['sample']},{r['region']},{r['yield']:.6g},{r['error']:.6g},{r['entries']:.6g}\n")
    md = [f"# {name}: yields for {lumi_fb:g} fb^-1 (error: sqrt of the stored variance)", "",
          "| source | sample | region | yield | error | entries/K |", "|---|---|---|---:|---:|---:|"]
    md += [f"| {r['source']} | {r['sample']} | {r['region']} | {r['yield']:.4g} | {r['error']:.3g} | {r['entries']:.4g} |"
           for r in rows]
    (out / "yields.md").write_text("\n".join(md) + "\n")
    print("\n".join(md), flush=True)

    first = next(iter(results.values()), {})
    names = hists if hists is not None else (list(next(iter(first.values()))["hists"]) if first else [])
    summary: dict = {"analysis": name, "lumi_fb": lumi_fb, "groups": groups,
                     "ks": "max |F_flash - F_full| of the normalised binned cumulative distributions",
                     "chi2": "sum over bins of (flash - full)^2 / (var_flash + var_full), bins with var > 0",
                     "comparisons": {}, "plots": []}
    for group, dss in groups.items():
        for hname in names:
            per_src = {src: group_hist(res, dss, "hists", hname) for src, res in results.items()}
            per_src = {k: v for k, v in per_src.items() if v is not None}
            if not per_src:
                continue
            for region in regions:
                hs = {src: h[{"region": region}] for src, h in per_src.items()}
                path = out / "plots" / f"{name}_{group}_{region}_{hname}.png"
                plot_comparison(hs, path, f"{group}, {region}", lumi_fb)
                summary["plots"].append(os.fspath(path.relative_to(out)))
                if {"flash", "fullsim"} <= hs.keys():
                    summary["comparisons"][f"{group}/{region}/{hname}"] = compare(hs["flash"], hs["fullsim"])
    summary["yields"] = rows
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
