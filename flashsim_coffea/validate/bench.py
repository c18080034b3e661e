"""Throughput of the full engine: events/s per ODE setting, and the FLOP floor per event.

For each number of steps the engine simulates the same gen chunk (one replica) and the
wall time gives events/s. The FLOP floor is the network multiply-adds actually spent
per event (rows each source's flow integrated, redraws included, x network size x NFE,
plus the efficiency/count networks over their candidates) divided by a matmul rate
measured in the same run: the time the chunk would take if only the networks' matrix
products cost anything. The gap between the two is the price of everything else (feature building, awkward, transforms).

Both are the best of several measurements, taken alike: a short matmul probe before
each engine run and after the last, so that on a shared machine the rate sees the same
quiet and busy moments as the timings (one probe at the start, taken in a busy moment,
once gave a floor below the measured events/s).

Example:
    The shipped models on 20 events of a real Run-2 DY file (the timings, machine-dependent, not shown):

    >>> import uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
    >>> tree = uproot.open(SHARED / "nano_dy.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=[*branch_names(), "run", "luminosityBlock", "event"], entry_stop=20))
    >>> rows = bench(DEFAULT_MODELS, gen, steps=("index", 2, 8), repeats=1)
    >>> [(r["solver"], r["steps"], round(r["flops_per_event"] / 1e6, 2)) for r in rows]  # network MFLOP per event
    [('midpoint', 'index', 19.55), ('midpoint', 2, 7.6), ('midpoint', 8, 23.87)]
    >>> lines(rows)[0]
    'device precision solver   steps  events/s  MFLOP/ev  floor ev/s  GFLOP/s'
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable

import awkward as ak
import numpy as np
import torch

from flashsim_coffea.sim.engine import FlashSim


def matmul_rate(device: str | torch.device = "cpu", n: int = 8192, width: int = 128, repeats: int = 20,
                trials: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Measured multiply-adds per second of ``(n, width) @ (width, width)`` products in ``dtype``.

    The best of ``trials`` timings of ``repeats`` products: on a shared machine a single
    timing can come out at half the rate (40 for 84 GFLOP/s seen on the 2-core VM).
    """
    device = torch.device(device)
    a = torch.randn(n, width, device=device, dtype=dtype)
    w = torch.randn(width, width, device=device, dtype=dtype)
    for _ in range(3):
        a @ w
    best = np.inf
    for _ in range(trials):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            a @ w
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return n * width * width * repeats / best


def flops_per_event(sim: FlashSim, gen: ak.Array, sampled: dict[str, int]) -> float:
    """Network multiply-adds per event: each flow and categories classifier x the rows it drew (``sampled``:
    :attr:`FlashSim.sampled` of the run, redraws outside the acceptance included), selection networks x candidates."""
    from flashsim_coffea.sim import candidates

    n = max(len(gen), 1)
    per = sim.flops_per_object()
    total = sum((per[key]["flow"] + per[key]["context"] + per[key]["categories"]) * rows
                for key, rows in sampled.items()) / n
    for key, m in sim.models.items():
        if m.source.candidates is not None:
            total += per[key]["selection"] * float(ak.sum(ak.num(candidates.select(gen, m.source.candidates)))) / n
        else:
            total += per[key]["selection"]
    return total


def default_precisions(device: str | torch.device) -> tuple[str, ...]:
    """float32, and bfloat16 where ``device`` has it natively (:mod:`flashsim_coffea.sim.precision`)."""
    from flashsim_coffea.sim.precision import native_bfloat16

    return ("float32", "bfloat16") if native_bfloat16(device) else ("float32",)


def bench(models_dir: str | os.PathLike, gen: ak.Array, steps=("index", 4, 8, 20, 100), solver: str | None = None,
          device: str = "cpu", repeats: int = 3, seed: int = 1,
          progress: Callable[[str], None] | None = None, precisions: tuple[str, ...] = ("float32",),
          ready: Callable[[], object] | None = None) -> list[dict]:
    """events/s and the FLOP floor for each precision and step count on ``device``; one dict per setting.

    A step count applies to every flow; ``"index"`` times the models index's own (its ``steps`` and
    per-source ``source_steps`` and ``source_solvers``: the default solver).

    events/s is the best of ``repeats`` timings of the whole chunk (the machine's best: other
    load on a shared machine only slows a timing down). The matmul rate, in the precision of the
    row, is the best of the probes interleaved with those timings (:func:`matmul_rate` before every
    engine run and after the last), the same for every row of a precision. ``progress``, when given,
    gets a line per run; ``ready``, when given, is called after the warm-up (:func:`bench_workers`
    starts the timings of its processes together with it).
    """
    from flashsim_coffea.sim.precision import resolve

    say = progress or (lambda line: None)
    sim = FlashSim.load(models_dir, solver=solver).to(device)
    index_steps = (sim.steps, dict(sim.source_steps), dict(sim.source_solvers))
    say(f"{device}: warm-up on {min(len(gen), 200)} events")
    sim.simulate(gen[: min(len(gen), 200)], seed=seed)  # warm-up (numba, torch)
    if ready is not None:
        ready()
    rows = []
    for precision in dict.fromkeys(resolve(p, device) for p in precisions):
        sim.precision = precision
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
        rate, first = 0.0, len(rows)
        for s in steps:
            sim.steps, sim.source_steps, sim.source_solvers = ((index_steps[0], dict(index_steps[1]), dict(index_steps[2]))
                                                               if s == "index" else (int(s), {}, {}))
            best = np.inf
            for i in range(repeats):
                rate = max(rate, matmul_rate(device, trials=2, dtype=dtype))
                sim.sampled.clear()
                start = time.perf_counter()
                sim.simulate(gen, seed=seed)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                took = time.perf_counter() - start
                best = min(best, took)
                say(f"{device} {precision} {sim.solver} {s:>3} steps, run {i + 1}/{repeats}: {took:.2f} s, "
                    f"{len(gen) / took:.0f} events/s (matmul best {rate / 1e9:.1f} GFLOP/s)")
            rows.append({"device": device, "precision": precision, "solver": sim.solver, "steps": s,
                         "events": len(gen), "events_per_s": len(gen) / best,
                         "flops_per_event": flops_per_event(sim, gen, sim.sampled)})
        rate = max(rate, matmul_rate(device, trials=2, dtype=dtype))
        for r in rows[first:]:
            fpe = r["flops_per_event"]
            r.update(matmul_rate=rate, floor_events_per_s=rate / fpe if fpe else float("inf"))
    return rows


def read_gen(path: str | os.PathLike, events: int) -> ak.Array:
    """The first ``events`` gen events of the NanoAOD file ``path`` (checked: :func:`genevents.check`)."""
    import uproot

    from flashsim_coffea.nanoaod import genevents

    arrays = uproot.open(path)["Events"].arrays([*genevents.branch_names(), "run", "luminosityBlock", "event"],
                                                entry_stop=events)
    return genevents.check(genevents.from_branches(arrays, source=str(path)), source=str(path))


def _worker(models_dir: str, path: str, events: int, kw: dict, barrier, out) -> None:
    torch.set_num_threads(1)
    out.put(bench(models_dir, read_gen(path, events), ready=barrier.wait, **kw))


def bench_workers(models_dir: str | os.PathLike, path: str | os.PathLike, events: int, workers: int,
                  **kw) -> list[dict]:
    """:func:`bench` in ``workers`` processes at once, one torch thread each (the layout of the
    Futures/Dask executors: docs/performance.md "Thread policy"), each on the same ``events`` events of
    ``path``; the timings start together once every process has warmed up. Per setting, events/s, the
    matmul rate and the FLOP floor are summed over the processes (``workers`` in each row).

    Raises:
        RuntimeError: if a process dies (its exit code named).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(os.fspath(models_dir), os.fspath(path), events, kw, barrier, out))
             for _ in range(workers)]
    for p in procs:
        p.start()
    results: list[list[dict]] = []
    try:
        while len(results) < workers:
            try:
                results.append(out.get(timeout=5))
            except queue.Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"bench: a worker process died (exit code {dead[0]})") from None
    finally:
        for p in procs:
            if p.is_alive() and len(results) < workers:
                p.terminate()
            p.join()
    rows = []
    for same in zip(*results):
        r = dict(same[0], workers=workers)
        for k in ("events_per_s", "matmul_rate", "floor_events_per_s"):
            r[k] = float(sum(x[k] for x in same))
        rows.append(r)
    return rows


def lines(rows: list[dict]) -> list[str]:
    """Printable table."""
    out = [f"{'device':<6} {'precision':<9} {'solver':<8} {'steps':>5} {'events/s':>9} {'MFLOP/ev':>9} "
           f"{'floor ev/s':>11} {'GFLOP/s':>8}"]
    for r in rows:
        out.append(f"{r['device']:<6} {r['precision']:<9} {r['solver']:<8} {r['steps']:>5} {r['events_per_s']:>9.0f} "
                   f"{r['flops_per_event'] / 1e6:>9.2f} {r['floor_events_per_s']:>11.0f} {r['matmul_rate'] / 1e9:>8.1f}")
    return out
