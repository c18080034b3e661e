"""The :class:`Analysis` coffea processor, base of the seed analyses.

An analysis is a subclass that defines its jet cuts, its cumulative cuts and its histogram
ranges; :meth:`Analysis.process` does the rest (weights, histograms, cutflow, DNN score) and
runs unchanged on FullSim and flash events. Flash events carry a ``FlashSim`` record
(``genEventIdx``, ``replicas``); they are filled with
:func:`flashsim_coffea.oversampling.fill_oversampled` grouped by gen event, FullSim events
with one group per event (K = 1), see :func:`analyses.selection.oversampling`.

Example:
    >>> class Demo(Analysis):
    ...     name, cut_names, ranges = "demo", ("2jets", "sr"), {"m_ll": (10, 80.0, 100.0)}
    >>> Demo().regions(), Demo().hist_specs()["m_ll"][1:]
    (['all', '2jets', 'sr'], (10, 80.0, 100.0))
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
from coffea import processor

from analyses import dnn, objects
from analyses.histograms import HIST_REGIONS, HISTS, make_cutflow, make_hist
from analyses.selection import (
    DEFAULT_LUMI_FB,
    dnn_features,
    event_variables,
    event_weight,
    metadata,
    oversampling,
    select_jets,
    select_muons,
)
from flashsim_coffea.oversampling import fill_oversampled
from processors.schema import NanoAODSchema

#: reference files have no cross-reference targets for some links; set at import so workers get it too.
NanoAODSchema.warn_missing_crossrefs = False


class Analysis(processor.ProcessorABC):
    """Base of the seed analyses (a coffea processor).

    Subclasses set ``name``, ``signal``, ``jet_pt``, ``jet_eta``, ``ranges``, ``cut_names``
    (cumulative cuts after ``all``, the last one is the signal region ``sr``) and implement
    :meth:`cuts`. Output per chunk: ``{dataset: {"hists": {name: Hist}, "cutflow": Hist,
    "cutflow_raw": Hist, "events": int, "gen_events": int}}`` (merged by ``processor.accumulate``).
    The DNN is read from ``dnn_path`` (default ``analyses/models/<name>_dnn``); without a model
    there, no DNN score is filled.
    """

    name = "analysis"
    signal = "signal"
    jet_pt = 25.0
    jet_eta = 4.7
    ranges: dict[str, tuple[int, float, float]] = {}
    cut_names: tuple[str, ...] = ("sr",)

    def __init__(self, lumi_fb: float = DEFAULT_LUMI_FB, dnn_path: str | os.PathLike | None = None):
        self.lumi_fb = float(lumi_fb)
        self.dnn_path = os.fspath(dnn_path) if dnn_path is not None else os.fspath(dnn.MODELS_DIR / f"{self.name}_dnn")

    # -- to override
    def cuts(self, var: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One event mask per name in ``cut_names`` (applied cumulatively)."""
        raise NotImplementedError

    def presel(self, var: dict[str, np.ndarray]) -> np.ndarray:
        """Two selected opposite-charge muons and two selected jets."""
        return var["os_dimuon"] & (var["njets"] >= 2)

    # -- shared
    def hist_specs(self) -> dict[str, tuple[str, int, float, float]]:
        """name -> (label, bins, low, high): :data:`analyses.histograms.HISTS` with ``ranges`` applied."""
        return {k: (lab, *self.ranges.get(k, (b, lo, hi))) for k, (lab, b, lo, hi) in HISTS.items()}

    def regions(self) -> list[str]:
        """The cutflow regions: ``all`` and then ``cut_names``."""
        return ["all", *self.cut_names]

    def objects(self, events: ak.Array) -> dict[str, np.ndarray]:
        """Event variables of the selected muons and jets."""
        muons = select_muons(events)
        jets = select_jets(events, muons, self.jet_pt, self.jet_eta)
        return event_variables(muons, jets)

    def dnn_score(self, var: dict[str, np.ndarray]) -> np.ndarray | None:
        """The DNN score per event; ``None`` when no DNN is stored at ``dnn_path``."""
        model = dnn.cached(self.dnn_path)
        return None if model is None else model(dnn_features(var)).astype(np.float64)

    def table(self, events: ak.Array) -> dict:
        """Per-event inputs of the fills: ``gen`` (gen-event id), ``w`` (weight / K, the weight an
        oversampled entry carries), ``var`` (event variables, DNN score), ``cuts`` (cumulative
        cutflow masks, one per region), ``hist_regions`` (``presel`` and ``sr`` masks) and ``objects``
        (per-event object counts of the per-object check, :func:`analyses.objects.object_counts`)."""
        gen, k = oversampling(events)
        w = event_weight(events, self.lumi_fb) / k
        var = self.objects(events)
        score = self.dnn_score(var)
        if score is not None:
            # the DNN output as ln(s / (1 - s)): spreads the peaks at 0 and 1 over the axis
            var["dnn"] = np.log(np.clip(score, 1e-7, None)) - np.log(np.clip(1.0 - score, 1e-7, None))
        mask = np.ones(len(events), bool)
        cuts = {"all": mask}
        for region, cut in zip(self.cut_names, self.cuts(var)):
            mask = mask & np.asarray(cut, bool)
            cuts[region] = mask
        return {"gen": gen, "k": k, "w": w, "var": var, "cuts": cuts,
                "hist_regions": {"presel": self.presel(var), "sr": mask}, "events": len(events),
                "objects": objects.object_counts(events, self.jet_pt, self.jet_eta),
                "gen_events": len(np.unique(gen))}

    def fill(self, parts: list[tuple[dict, float]], naive: bool = False) -> dict:
        """Histograms and cutflows of the tables in ``parts`` (``(table, sign)``), filled with
        :func:`~flashsim_coffea.oversampling.fill_oversampled` grouped by gen event: entries of
        one gen-event id are summed (signs included) before squaring. ``[(flash, 1), (fullsim, -1)]``
        of the same gen events gives flash - FullSim with the paired variance sum_e D_eb^2.
        ``naive``: every entry its own group (per-entry errors, sum of (w/K)^2).
        Returns ``{"hists", "cutflow", "cutflow_raw", "objects"}`` (``objects``: the raw object counts of
        :data:`analyses.objects.STAGES`, where the tables carry them)."""
        def entries(kind: str, region: str, values: str | None = None):
            gen, w, raw, val, offset = [], [], [], [], 0
            for t, sign in parts:
                sel = t[kind][region]
                g = t["gen"][sel]
                gen.append(np.arange(offset, offset + len(g)) if naive else g)
                offset += len(t["gen"])
                w.append(sign * t["w"][sel])
                raw.append(np.full(len(g), sign / t["k"]))
                if values is not None:
                    val.append(t["var"][values][sel])
            cat = np.concatenate
            return cat(gen).astype(np.int64), cat(w), cat(raw), (cat(val) if values is not None else None)

        cutflow = make_cutflow(self.regions())
        raw = make_cutflow(self.regions())
        for region in self.regions():
            gen, w, ones, _ = entries("cuts", region)
            fill_oversampled(cutflow, gen_event=gen, replicas=1, weight=w, region=region)
            fill_oversampled(raw, gen_event=gen, replicas=1, weight=ones, region=region)
        hists = {}
        for name, (label, bins, lo, hi) in self.hist_specs().items():
            h = make_hist(name, label, bins, lo, hi)
            if all(name in t["var"] for t, _ in parts):
                for region in HIST_REGIONS:
                    gen, w, _, val = entries("hist_regions", region, name)
                    fill_oversampled(h, gen_event=gen, replicas=1, weight=w, region=region, **{name: val})
            hists[name] = h
        out = {"hists": hists, "cutflow": cutflow, "cutflow_raw": raw}
        if not naive and all("objects" in t for t, _ in parts):
            out["objects"] = make_cutflow(list(objects.STAGES))
            gen = np.concatenate([t["gen"] for t, _ in parts]).astype(np.int64)
            for stage in objects.STAGES:
                w = np.concatenate([sign / t["k"] * t["objects"][stage] for t, sign in parts])
                fill_oversampled(out["objects"], gen_event=gen, replicas=1, weight=w, region=stage)
        return out

    def process(self, events: ak.Array) -> dict:
        dataset = metadata(events).get("dataset", "unknown")
        t = self.table(events)
        return {dataset: {**self.fill([(t, 1.0)]), "events": t["events"], "gen_events": t["gen_events"]}}

    def postprocess(self, accumulator: dict) -> dict:
        return accumulator

    def training_arrays(self, events: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        """DNN features and weights of the preselected events of one FullSim chunk."""
        var = self.objects(events)
        sel = self.presel(var)
        return dnn_features(var)[sel], event_weight(events, self.lumi_fb)[sel]
