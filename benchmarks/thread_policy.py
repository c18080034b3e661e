"""Thread policy of the flash engine on a shared CPU: torch threads, OpenMP wait policy, processes, a neighbour.

Each configuration runs the full engine (every shipped collection, one replica) over the same gen
events in a fresh Python process with its environment set before torch starts: ``threads`` torch
threads (``OMP_NUM_THREADS`` and ``torch.set_num_threads``), OpenMP's wait policy (``ACTIVE``: the
default, idle threads spin; ``PASSIVE``: they sleep), ``processes`` such processes side by side
(the Futures/Dask executors' layout; events/s summed), and optionally one CPU-bound neighbour
process (a spinning Python loop: what another user's job does to an analysis-facility node); and one
thread in a dask worker's environment (``MALLOC_TRIM_THRESHOLD_=65536``, which a dask nanny sets), without and
with :func:`flashsim_coffea.sim.allocator.fit_for_flows` (what the processor's workers call).
Configurations are interleaved round by round, so that the machine's drift falls on all of them;
each figure is the best of ``--repeat`` rounds.

Usage::

    python benchmarks/thread_policy.py --data zh_llbb_a.root --events 2000 --repeat 3 --out thread_policy.json

Example (the configurations a 2-core run measures):
    >>> [c["name"] for c in configurations(cores=2)][:4]
    ['1 thread', '2 threads', '2 threads PASSIVE', '2 processes x 1 thread']
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the child: load, warm up, time one pass over the events, print events/s
_CHILD = """
import sys, time, torch, uproot
torch.set_num_threads(int(sys.argv[4]))
from flashsim_coffea.nanoaod import genevents
from flashsim_coffea.sim.cards import DEFAULT_MODELS
from flashsim_coffea.sim.engine import FlashSim
arrays = uproot.open(sys.argv[1])["Events"].arrays(
    filter_name=[*genevents.branch_names(optional=True), "run", "luminosityBlock", "event"], entry_stop=int(sys.argv[2]))
gen = genevents.from_branches(arrays, source=sys.argv[1])
sim = FlashSim.load(sys.argv[3] or DEFAULT_MODELS, precision=sys.argv[5])
if sys.argv[6] == "fit":
    from flashsim_coffea.sim.allocator import fit_for_flows
    fit_for_flows()
sim.simulate(gen[:200], seed=1)
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
t = time.perf_counter(); sim.simulate(gen, seed=2); dt = time.perf_counter() - t
print(len(gen) / dt)
"""

_SPIN = "import time\nt = time.time()\nwhile time.time() - t < 3600: pass\n"


def configurations(cores: int) -> list[dict]:
    """The configurations: (threads, wait policy, processes), each alone and beside one spinning neighbour."""
    base = [
        {"name": "1 thread", "threads": 1, "policy": None, "processes": 1},
        {"name": f"{cores} threads", "threads": cores, "policy": None, "processes": 1},
        {"name": f"{cores} threads PASSIVE", "threads": cores, "policy": "PASSIVE", "processes": 1},
        {"name": f"{cores} processes x 1 thread", "threads": 1, "policy": None, "processes": cores},
    ]
    dask = [{"name": "1 thread, dask worker env", "threads": 1, "policy": None, "processes": 1, "dask_env": True},
            {"name": "1 thread, dask worker env, fitted", "threads": 1, "policy": None, "processes": 1, "dask_env": True,
             "fit": True}]
    return base + [{**c, "name": c["name"] + " + neighbour", "neighbour": True} for c in base] + dask


def run_one(cfg: dict, data: str, events: int, models: str, precision: str) -> float:
    """events/s of one configuration (summed over its processes, started together once all are loaded)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"]), "MKL_NUM_THREADS": str(cfg["threads"])}
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    if cfg.get("dask_env"):
        env["MALLOC_TRIM_THRESHOLD_"] = "65536"
    if cfg["policy"]:
        env["OMP_WAIT_POLICY"] = cfg["policy"]
    else:
        env.pop("OMP_WAIT_POLICY", None)
    neighbour = subprocess.Popen([sys.executable, "-c", _SPIN]) if cfg.get("neighbour") else None
    try:
        kids = [subprocess.Popen([sys.executable, "-c", _CHILD, data, str(events), models, str(cfg["threads"]), precision,
                                  "fit" if cfg.get("fit") else ""],
                                 env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for _ in range(cfg["processes"])]
        for k in kids:
            if k.stdout.readline().strip() != "ready":
                raise RuntimeError(f"{cfg['name']}: a child failed to start (exit {k.wait()})")
        for k in kids:
            k.stdin.write("go\n")
            k.stdin.flush()
        rates = [float(k.communicate()[0].strip().splitlines()[-1]) for k in kids]
        return float(sum(rates))
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a NanoAOD file with gen collections")
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--models", default="", help="models folder (default: the shipped set)")
    ap.add_argument("--precision", default="auto", choices=["float32", "bfloat16", "auto"],
                    help="of the flows (default: auto, the engine's: bfloat16 where the CPU has it natively)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    ap.add_argument("--out", help="JSON file for the figures")
    args = ap.parse_args(argv)
    from flashsim_coffea.sim.precision import resolve  # after the path set-up above, as the children's imports

    args.precision = resolve(args.precision, "cpu")
    cfgs = [c for c in configurations(args.cores) if not args.only or c["name"] in args.only]
    best: dict[str, float] = {}
    for r in range(args.repeat):
        for c in cfgs:
            t = time.perf_counter()
            rate = run_one(c, args.data, args.events, args.models, args.precision)
            best[c["name"]] = max(best.get(c["name"], 0.0), rate)
            print(f"round {r + 1}: {c['name']:36s} {rate:7.0f} events/s ({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"\nbest of {args.repeat} ({args.events} events, {args.precision}, {args.cores} cores):")
    ref = best.get("1 thread")
    for name, rate in best.items():
        print(f"  {name:36s} {rate:7.0f} events/s" + (f"  {rate / ref:.2f}x one thread" if ref else ""))
    if args.out:
        Path(args.out).write_text(json.dumps({"events": args.events, "precision": args.precision,
                                              "cores": args.cores, "repeat": args.repeat, "best": best}, indent=1))


if __name__ == "__main__":
    main()
