"""flashsim bench: timings per step count, FLOPs per event and the FLOP floor, on a real chunk."""

from __future__ import annotations

import awkward as ak
import uproot

from flashsim_coffea.nanoaod import genevents
from flashsim_coffea.sim.cards import DEFAULT_MODELS
from flashsim_coffea.sim.engine import FlashSim
from flashsim_coffea.validate.bench import bench, flops_per_event, lines, matmul_rate


def _gen(tt_sample, n=300):
    arrays = uproot.open(tt_sample)["Events"].arrays([*genevents.branch_names(), "run", "luminosityBlock", "event"],
                                                     entry_stop=n)
    return genevents.from_branches(arrays, source=str(tt_sample))


def test_rows_and_floor(tiny_models, tt_sample):
    gen = _gen(tt_sample)
    rows = bench(tiny_models, gen, steps=(2, 4), repeats=1)
    assert [(r["steps"], r["events"], r["solver"]) for r in rows] == [(2, 300, "midpoint"), (4, 300, "midpoint")]
    for r in rows:
        assert r["events_per_s"] > 0 and r["matmul_rate"] > 1e8
        assert r["floor_events_per_s"] == r["matmul_rate"] / r["flops_per_event"]
    assert rows[1]["flops_per_event"] > 1.5 * rows[0]["flops_per_event"]  # flows dominate: twice the steps
    table = lines(rows)
    assert len(table) == 3 and table[0].split()[:4] == ["device", "precision", "solver", "steps"]
    assert table[2].split()[:4] == ["cpu", "float32", "midpoint", "4"]


def test_flow_flops_scale_with_the_function_evaluations(tiny_models, tt_sample):
    gen = _gen(tt_sample, 100)
    sim = FlashSim.load(tiny_models, steps=2)
    flash = sim.simulate(gen, seed=1)
    sampled = dict(sim.sampled)
    kept = {c: int(ak.sum(ak.num(flash[c]))) for c in ("Jet", "Muon")}
    # every kept object was integrated, and only the objects drawn again outside the acceptance more than once
    # (two-epoch models: many pileup jets land beside a GenJet and take FIRST_REDRAWS draws more)
    assert kept["Jet"] <= sampled["Jet_genjet"] + sampled["Jet_pileup"] + sampled.get("Jet_split", 0) < 2 * kept["Jet"]
    assert kept["Muon"] <= sum(n for k, n in sampled.items() if k.startswith("Muon_")) and sampled["Event_event"] == 100
    two = sim.flops_per_object()
    f2 = flops_per_event(sim, gen, sampled)
    sim.steps = 4
    four = sim.flops_per_object()
    for key in two:
        assert four[key]["flow"] == 2 * two[key]["flow"] > 0
        assert four[key]["selection"] == two[key]["selection"] and four[key]["categories"] == two[key]["categories"]
    assert two["Jet_pileup"]["categories"] > 0 and two["Jet_genjet"]["categories"] > 0  # flavours; point masses
    assert two["Muon_genmuon"]["categories"] > 0 and two["Muon_jetfake"]["categories"] == 0  # isolations' points; none
    f4 = flops_per_event(sim, gen, sampled)  # the same rows: only the flow part moves, and doubles
    flow2 = f4 - f2
    assert 0 < flow2 < f2  # the rest, the selection networks over the candidates, is positive


def test_matmul_rate_is_the_best_trial(monkeypatch):
    import flashsim_coffea.validate.bench as b

    ticks = iter([0.0, 2.0, 10.0, 11.0, 20.0, 24.0])  # trials of 2 s, 1 s and 4 s
    monkeypatch.setattr(b.time, "perf_counter", lambda: next(ticks))
    assert matmul_rate(n=8, width=4, repeats=10, trials=3) == 8 * 4 * 4 * 10 / 1.0


def test_matmul_probes_interleave_with_the_engine_runs(monkeypatch, nanoaod_dir):
    # the rate and the timings are measured alike: a probe before every engine run and after the last, best of all
    import flashsim_coffea.validate.bench as b

    tree = uproot.open(nanoaod_dir / "nano_dy.root")["Events"]
    gen = genevents.from_branches(tree.arrays([*genevents.branch_names(), "run", "luminosityBlock", "event"],
                                              entry_stop=20))
    calls = []
    rates = iter([5e9, 9e9, 7e9, 8e9, 6e9])
    monkeypatch.setattr(b, "matmul_rate", lambda device="cpu", **kw: calls.append("probe") or next(rates))
    simulate = b.FlashSim.simulate
    monkeypatch.setattr(b.FlashSim, "simulate", lambda self, *a, **kw: calls.append("run") or simulate(self, *a, **kw))
    said = []
    rows = b.bench(DEFAULT_MODELS, gen, steps=(2, 4), repeats=2, progress=said.append)
    assert calls == ["run", *["probe", "run"] * 4, "probe"]  # the warm-up, then 2 steps x 2 repeats
    assert [r["matmul_rate"] for r in rows] == [9e9, 9e9]
    assert [r["floor_events_per_s"] for r in rows] == [9e9 / r["flops_per_event"] for r in rows]
    assert len(said) == 1 + 4 and said[-1].startswith("cpu float32 midpoint   4 steps, run 2/2: ")


def test_each_precision_gets_its_own_rows_and_matmul_rate(monkeypatch, nanoaod_dir):
    """bfloat16 rows (emulated where the CPU lacks it: slower, same plumbing) follow the float32 ones, with a
    floor from a bfloat16 matmul probe; the network FLOPs per event are the precision's business only."""
    import torch

    import flashsim_coffea.validate.bench as b

    tree = uproot.open(nanoaod_dir / "nano_dy.root")["Events"]
    gen = genevents.from_branches(tree.arrays([*genevents.branch_names(), "run", "luminosityBlock", "event"],
                                              entry_stop=20))
    probes = []
    fake = {torch.float32: 4e9, torch.bfloat16: 1e10}
    monkeypatch.setattr(b, "matmul_rate", lambda device="cpu", dtype=torch.float32, **kw: probes.append(dtype)
                        or fake[dtype])
    rows = b.bench(DEFAULT_MODELS, gen, steps=(2,), repeats=1, precisions=("float32", "bfloat16", "float32"))
    assert [(r["precision"], r["matmul_rate"]) for r in rows] == [("float32", 4e9), ("bfloat16", 1e10)]
    assert probes == [torch.float32] * 2 + [torch.bfloat16] * 2
    # the same networks: the rows integrated differ only by the redraws outside the acceptance (other samples)
    assert rows[0]["flops_per_event"] > 0 and abs(rows[1]["flops_per_event"] / rows[0]["flops_per_event"] - 1) < 0.05
    assert b.default_precisions("cpu")[0] == "float32"


def test_workers_time_together_and_sum(tiny_models, tt_sample, tmp_path):
    """Two processes, one thread each, on the same 150 events: one row per setting with the single
    process's FLOPs per event (same events, same seed) and events/s summed; a dying worker is named."""
    import pytest

    from flashsim_coffea.validate.bench import bench_workers, read_gen

    one = bench(tiny_models, read_gen(tt_sample, 150), steps=(2,), repeats=1)
    two = bench_workers(tiny_models, tt_sample, 150, 2, steps=(2,), repeats=1)
    assert [(r["workers"], r["steps"], r["events"]) for r in two] == [(2, 2, 150)]
    assert two[0]["flops_per_event"] == one[0]["flops_per_event"] and two[0]["events_per_s"] > 0
    assert two[0]["floor_events_per_s"] == pytest.approx(two[0]["matmul_rate"] / two[0]["flops_per_event"])
    with pytest.raises(RuntimeError, match="worker process died"):
        bench_workers(tmp_path / "no_models", tt_sample, 10, 2, steps=(2,), repeats=1)
