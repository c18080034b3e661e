"""benchmarks/flavour_counts.py: flavour classes of the jets without a GenJet, with oversampling-aware errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

spec = importlib.util.spec_from_file_location(
    "flavour_counts", Path(__file__).resolve().parents[1] / "benchmarks" / "flavour_counts.py"
)
fc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fc)


def test_classes_count_only_unmatched_jets_above_threshold():
    jets = ak.Array([[{"pt": 30.0, "eta": -2.7, "genJetIdx": -1, "partonFlavour": -2, "hadronFlavour": 0},
                      {"pt": 10.0, "eta": 0.2, "genJetIdx": -1, "partonFlavour": 21, "hadronFlavour": 0},
                      {"pt": 50.0, "eta": 1.0, "genJetIdx": 1, "partonFlavour": 5, "hadronFlavour": 5}],
                     [{"pt": 25.0, "eta": 1.3, "genJetIdx": -1, "partonFlavour": 5, "hadronFlavour": 5}]])
    c = fc.per_event_counts(jets, 15.0)
    assert c["parton uds"].tolist() == [1, 0] and c["parton b"].tolist() == [0, 1] and c["parton g"].tolist() == [0, 0]
    assert c["hadron 0"].tolist() == [1, 0] and c["hadron b"].tolist() == [0, 1]
    # regions by |eta|, the lower edge inside
    assert c["|eta| 2.5-3"].tolist() == [1, 0] and c["|eta| 1.3-2.5"].tolist() == [0, 1]
    assert c["|eta| 0-1.3"].tolist() == [0, 0] and c["|eta| 3-5"].tolist() == [0, 0]
    assert "parton b, |eta| 1.3-2.5" not in c
    by = fc.per_event_counts(jets, 15.0, by_region=True)
    assert by["parton b, |eta| 1.3-2.5"].tolist() == [0, 1] and by["parton uds, |eta| 2.5-3"].tolist() == [1, 0]
    assert by["parton b, |eta| 0-1.3"].tolist() == [0, 0]  # the matched b jet at 1.0 is not counted
    for name in fc.REGIONS:  # the classes of a field split each region's jets
        assert sum(by[f"{k}, {name}"] for k in fc.CLASSES if k.startswith("parton")).tolist() == by[name].tolist()


def test_flash_errors_sum_the_replicas_of_a_gen_event_before_squaring():
    """Two gen events, K = 4: one gives 4 jets of a class over its replicas (one each), the other 0. The flash
    count is 1 (per-gen-event sums / K) with error sqrt(4^2)/4 = 1, not the naive sqrt(4)/4 = 0.5."""
    full = {k: np.zeros(2, np.int64) for k in fc.CLASSES}
    full["parton g"] = np.array([1, 0])
    flash = {k: np.zeros(2) for k in fc.CLASSES}
    flash["parton g"] = np.array([4.0, 0.0])
    rows = {r["class"]: r for r in fc.compare(full, flash, replicas=4)}
    g = rows["parton g"]
    assert (g["fullsim"], g["flash"], g["flash_err"]) == (1.0, 1.0, 1.0) and g["pull"] == 0.0
    assert rows["parton b"]["pull"] == 0.0 and rows["parton b"]["flash_err"] == 0.0
    flash["parton g"] = np.array([8.0, 4.0])  # 3 per gen event on average vs 1
    g = {r["class"]: r for r in fc.compare(full, flash, replicas=4)}["parton g"]
    assert g["flash"] == 3.0 and g["pull"] == pytest.approx(2.0 / np.hypot(1.0, np.sqrt(80.0) / 4))
