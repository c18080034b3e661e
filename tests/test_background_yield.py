"""benchmarks/background_yield.py: signal-region statistics of a weighted, filtered background sample."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import uproot

pytest.importorskip("pythia8mc")

spec = importlib.util.spec_from_file_location(
    "background_yield", Path(__file__).resolve().parents[1] / "benchmarks" / "background_yield.py"
)
background_yield = importlib.util.module_from_spec(spec)
spec.loader.exec_module(background_yield)


@pytest.fixture(scope="module")
def zjet():
    from flashsim_coffea.reference import cache

    return cache.sample("dy_mumu_jet_zh", 120, seed=44, workers=1, progress=False)


def test_yields_are_the_weighted_counts_of_the_file(zjet, capsys):
    """The 'all' region holds every kept event, raw and weighted (genWeight x xsec x lumi / sumw summed
    from the file itself); regions shrink along the cutflow; a weighted sample's effective count is
    below its raw count; the CLI prints per-CPU-hour rates."""
    res = background_yield.yields("zh_llbb", [str(zjet)], lumi=300.0)[Path(zjet).stem]
    with uproot.open(zjet) as f:
        gw = f["Events"]["genWeight"].array(library="np").astype(np.float64)
        md = json.loads(str(f["flashsim_metadata"]))
        sumw = float(np.sum(f["Runs"]["genEventSumw"].array(library="np")))
    assert res["process"] == "dy_mumu_jet_zh" and res["kept"] == 120 and res["tried"] == md["events_tried"] > 120
    assert res["raw"]["all"] == 120
    assert res["yield"]["all"] == pytest.approx(gw.sum() * md["xsec_pb"] * 1000 * 300 / sumw, rel=1e-9)
    assert len(np.unique(gw)) > 50  # pT-hat biased: the weights vary event by event
    raws = list(res["raw"].values())
    assert all(a >= b for a, b in zip(raws, raws[1:])) and raws[1] > 0
    presel = np.array([res["yield"]["2mu_os"]]), np.array([res["yield_err"]["2mu_os"] ** 2])
    assert background_yield.effective_events(*presel) < raws[1]
    background_yield.main(["--analysis", "zh_llbb", "--data", str(zjet), "--cpu-seconds", "36"])
    out = capsys.readouterr().out
    assert f"kept 120 of {md['events_tried']}" in out and "per CPU hour" in out and "300 ms CPU per kept event" in out
