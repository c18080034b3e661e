"""benchmarks/scaling.py: one axis moved at a time, parameters and rows as asked, resumable."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from flashsim_coffea.train import store

spec = importlib.util.spec_from_file_location(
    "scaling", Path(__file__).resolve().parents[1] / "benchmarks" / "scaling.py"
)
scaling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scaling)


def test_points_parameters_rows_and_resume(tt_sample, tmp_path):
    """Muons of 400 ttbar events, tiny budgets: the params axis grows the flow as width^2, the events axis
    trains on the asked share of the training split (nested subsamples), the steps axis on the asked
    steps; a rerun does no point twice."""
    tables = tmp_path / "tables"
    store.extract([tt_sample], tables, keys=["Muon_genmuon"], progress=False)
    out = str(tmp_path / "s")
    args = ["--tables", str(tables), "--source", "Muon_genmuon", "--base-steps", "20", "--base-width", "16",
            "--depth", "2", "--base-events", "0.5", "--widths", "16", "32", "--steps", "2", "--events", "2",
            "--auc-seeds", "2", "--out", out]
    scaling.main(args)
    rows = json.loads(Path(out + ".json").read_text())["points"]
    assert [(r["axis"], r["value"]) for r in rows] == [("params", 16), ("params", 32), ("steps", 2.0), ("events", 2.0)]
    p16, p32, st, ev = rows
    # two gated blocks of width w: two w x w layers each (4 w^2), the rest linear in w
    linear = p32["parameters"] - p16["parameters"] - 4 * (32**2 - 16**2)
    assert linear > 0 and linear % 16 == 0
    assert st["steps"] == 40 and p16["steps"] == 20 and st["parameters"] == p16["parameters"]
    assert abs(ev["train_rows"] - 2 * p16["train_rows"]) <= 1
    assert all(0.0 <= r["auc"] <= 1.0 and r["train_seconds"] > 0 for r in rows)
    assert Path(out + ".png").stat().st_size > 10_000
    scaling.main(args)  # resumed: nothing left to do
    assert json.loads(Path(out + ".json").read_text())["points"] == rows
