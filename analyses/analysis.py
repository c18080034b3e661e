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

from analyses import dnn
from analyses.histograms import HISTS, make_cutflow, make_hist
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
                    fill_oversampled(h, gen_event=gen[sel], replicas=k, weight=w[sel], region=region,
                                     **{name: var[name][sel]})
            hists[name] = h
        n_gen = len(np.unique(gen))
        return {dataset: {"hists": hists, "cutflow": cutflow, "cutflow_raw": raw, "events": len(events),
                          "gen_events": n_gen}}

    def postprocess(self, accumulator: dict) -> dict:
        return accumulator

    def training_arrays(self, events: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        """DNN features and weights of the preselected events of one FullSim chunk."""
        var = self.objects(events)
        sel = self.presel(var)
        return dnn_features(var)[sel], event_weight(events, self.lumi_fb)[sel]
