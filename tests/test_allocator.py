"""The allocator policy of worker processes (flashsim_coffea/sim/allocator.py), measured in page faults."""

import os
import subprocess
import sys

import pytest

from flashsim_coffea.sim import allocator

PROBE = """
import resource, sys
import numpy as np
from flashsim_coffea.sim.allocator import fit_for_flows
changed = fit_for_flows() if sys.argv[1] == "fit" else False
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):  # a flow batch's activations: blocks of 4 MiB made, filled and freed
    a = np.ones(1 << 19)
    del a
print(changed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env: dict) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, check=True)
    changed, faults = out.stdout.split()
    return changed, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_fixed_threshold_as_in_a_dask_worker_is_lifted():
    """With dask's MALLOC_TRIM_THRESHOLD_ every 4 MiB block is a fresh mmap (hundreds of page faults each: 102800
    for the 200 here); after fit_for_flows the heap reuses them; without the variable nothing changes and glibc
    reuses them already."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    dask_env = {**base, "MALLOC_TRIM_THRESHOLD_": "65536"}
    changed, fixed = _faults("plain", dask_env)
    assert changed == "False" and fixed > 200 * 200
    changed, fitted = _faults("fit", dask_env)
    assert changed == "True" and fitted * 20 < fixed
    changed, dynamic = _faults("fit", base)
    assert changed == "False" and dynamic * 20 < fixed


def test_users_own_mmap_threshold_is_kept():
    assert not allocator.fit_for_flows({"MALLOC_TRIM_THRESHOLD_": "65536", "MALLOC_MMAP_THRESHOLD_": "1048576"})
    assert not allocator.fit_for_flows({"OMP_NUM_THREADS": "1"})
