"""benchmarks/ode_steps.py: the fidelity-vs-steps curve of a source on held-out tables, per time grid."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from flashsim_coffea.train import store

spec = importlib.util.spec_from_file_location(
    "ode_steps", Path(__file__).resolve().parents[1] / "benchmarks" / "ode_steps.py"
)
ode_steps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ode_steps)


def test_curve_converges_and_grids_meet_at_many_steps(tiny_models, tt_sample, tmp_path):
    """Genuine muons of 400 ttbar events: one row per (grid, steps) with the score's figures; at 64
    midpoint steps both grids integrate the same noise to nearly the same samples (W1/σ within 0.01,
    AUC within 0.02), while 1 step lands elsewhere; the cap subsamples the 232 muons to 150; JSON and PNG are written."""
    tables = tmp_path / "tables"
    store.extract([tt_sample], tables, keys=["Muon_genmuon"], progress=False)
    rows = ode_steps.curve(str(tiny_models), str(tables), ["Muon_genmuon"], [1, 64], ["uniform", "late"],
                           "midpoint", max_objects=150, auc_seeds=2)
    assert [(r["grid"], r["steps"], r["nfe"]) for r in rows] == [("uniform", 1, 2), ("uniform", 64, 128),
                                                                 ("late", 1, 2), ("late", 64, 128)]
    fig = {(r["grid"], r["steps"]): r for r in rows}
    assert [(r["held_out_objects"], len(r["auc_seeds"])) for r in rows] == [(150, 2)] * 4
    w1 = {k: r["median_w1_over_sigma"] for k, r in fig.items()}
    assert abs(w1["uniform", 64] - w1["late", 64]) < 0.01
    assert abs(fig["uniform", 64]["auc"] - fig["late", 64]["auc"]) < 0.02
    # a continuous target moves between 1 and 64 steps (the median may sit on a flag's W1, which does not)
    pt = {k: r["w1_over_sigma"]["pt"] for k, r in fig.items()}
    assert abs(pt["uniform", 1] - pt["uniform", 64]) > abs(pt["uniform", 64] - pt["late", 64])
    assert {r["classifier"] for r in rows} == {"hgb"}
    # the samples' distance from the midpoint 100-step ones (150 objects: steps of 1/150): 64 uniform steps
    # within one object of them, 1 step farther
    ks = {k: r["max_ks_to_reference"] for k, r in fig.items()}
    assert ks["uniform", 64] <= 1 / 150 + 1e-9 and ks["uniform", 1] > ks["uniform", 64]
    extra = fig["uniform", 64]["flops"] - fig["uniform", 1]["flops"]  # 126 more velocity evaluations
    assert extra > 0 and extra % 126 == 0 and fig["late", 64]["flops"] == fig["uniform", 64]["flops"]
    out = tmp_path / "curve"
    assert ode_steps.main(["--models", str(tiny_models), "--tables", str(tables), "--sources", "Muon_genmuon",
                           "--steps", "2", "--grids", "late", "--max-objects", "100", "--auc-seeds", "1",
                           "--out", str(out)]) == 0
    saved = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert len(saved) == 1 and saved[0]["grid"] == "late" and out.with_suffix(".png").stat().st_size > 10_000
    assert np.isfinite(saved[0]["auc"])
    # resumed: a second run with one more step count keeps the finished row (its timing too) and adds one
    assert ode_steps.main(["--models", str(tiny_models), "--tables", str(tables), "--sources", "Muon_genmuon",
                           "--steps", "2", "3", "--grids", "late", "--max-objects", "100", "--auc-seeds", "1",
                           "--out", str(out)]) == 0
    again = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["steps"] for r in again] == [2, 3] and again[0] == saved[0]
    with pytest.raises(SystemExit, match="holds a curve of the 'hgb' classifier"):  # one classifier a file
        ode_steps.main(["--models", str(tiny_models), "--tables", str(tables), "--sources", "Muon_genmuon",
                        "--steps", "2", "--grids", "late", "--classifier", "mlp", "--out", str(out)])


def test_apply_writes_the_chosen_steps_into_the_index(tiny_models, tmp_path):
    """--apply: the chosen counts and solvers land in the index as ``source_steps`` and ``source_solvers`` (those
    equal to its ``steps`` and ``solver`` left out), the engine then integrates each flow with its own; flows
    loaded with a solver or steps given all take those."""
    import shutil

    from flashsim_coffea.sim.engine import FlashSim

    d = tmp_path / "models"
    shutil.copytree(tiny_models, d)
    index = ode_steps.apply(str(d), {"Muon_genmuon": ("midpoint", 4), "Jet_genjet": ("ab2", 8)})
    assert index["steps"] == 8 and index["source_steps"] == {"Muon_genmuon": 4}
    assert index["source_solvers"] == {"Jet_genjet": "ab2"}
    on_disk = json.loads((d / "flashsim.json").read_text())
    assert on_disk["source_steps"] == {"Muon_genmuon": 4} and on_disk["source_solvers"] == {"Jet_genjet": "ab2"}
    sim = FlashSim.load(d)
    assert (sim.steps_of("Muon_genmuon"), sim.steps_of("Jet_genjet"), sim.steps_of("Muon_jetfake")) == (4, 8, 8)
    assert (sim.solver_of("Muon_genmuon"), sim.solver_of("Jet_genjet")) == ("midpoint", "ab2")
    flops = sim.flops_per_object()  # ab2: 9 evaluations at 8 steps, midpoint 8 at 4
    per_eval = FlashSim.load(d, steps=1).flops_per_object()
    assert flops["Jet_genjet"]["flow"] == 9 * per_eval["Jet_genjet"]["flow"] // 2
    assert flops["Muon_genmuon"]["flow"] == 8 * per_eval["Muon_genmuon"]["flow"] // 2
    given = FlashSim.load(d, solver="heun")
    assert given.solver_of("Jet_genjet") == "heun" and given.steps_of("Muon_genmuon") == 4
    index = ode_steps.apply(str(d), {"Muon_genmuon": ("midpoint", 8), "Jet_genjet": ("midpoint", 8)})
    assert "source_steps" not in index and "source_solvers" not in index
    index = json.loads((d / "flashsim.json").read_text())
    index["source_solvers"] = {"Jet_genjet": "dopri5"}
    (d / "flashsim.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="unknown ODE solver 'dopri5'"):
        FlashSim.load(d)
