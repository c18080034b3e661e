"""benchmarks/thread_policy.py: each configuration runs the engine in fresh processes and cleans up."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "thread_policy", Path(__file__).resolve().parents[1] / "benchmarks" / "thread_policy.py"
)
thread_policy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(thread_policy)


def _children() -> set[int]:
    """pids of this process' live children (Linux /proc)."""
    me, out = os.getpid(), set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == me and stat[0] != "Z":
                out.add(int(p.name))
    return out


def test_two_processes_beside_a_neighbour_run_and_leave_nothing_behind(tiny_models, tt_sample):
    """Two engine processes (PASSIVE wait policy) beside a spinning neighbour: a positive summed rate, and
    no child process left once the configuration is measured."""
    before = _children()
    cfg = {"name": "t", "threads": 1, "policy": "PASSIVE", "processes": 2, "neighbour": True}
    rate = thread_policy.run_one(cfg, str(tt_sample), 120, str(tiny_models), "float32")
    assert rate > 0
    assert _children() <= before
    names = [c["name"] for c in thread_policy.configurations(cores=4)]
    assert len(names) == 10 and "4 threads PASSIVE + neighbour" in names
    # the dask worker's environment with the allocator fitted: the child runs fit_for_flows and measures
    fitted = next(c for c in thread_policy.configurations(cores=4) if c["name"] == "1 thread, dask worker env, fitted")
    assert fitted["dask_env"] and fitted["fit"]
    assert thread_policy.run_one(fitted, str(tt_sample), 120, str(tiny_models), "float32") > 0
