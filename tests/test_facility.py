"""Analyses on an existing dask scheduler, as on an analysis facility: a scheduler and two worker
processes started with the ``dask scheduler`` / ``dask worker`` commands, reached by address
(the CLI's ``--scheduler``, the Python API's ``client``), give the iterative run's histograms."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("coffea")

from analyses.running import file_metadata, run
from analyses.zh_llbb import ZHllbb
from processors.flashsim import FlashSimProcessor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A scheduler and two single-threaded workers in their own processes; yields the address."""
    dask = shutil.which("dask")
    if dask is None:
        pytest.skip("no `dask` command")
    tmp = tmp_path_factory.mktemp("dask")
    sfile = tmp / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([dask, "scheduler", "--scheduler-file", str(sfile), "--port", "0",
                               "--dashboard-address", ":0", "--no-show"], cwd=tmp, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            if sfile.exists() and sfile.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sfile.read_text())["address"]
        procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                    "--no-dashboard", "--local-directory", str(tmp / f"w{i}")], cwd=tmp, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def _fileset(path):
    return {"ttbar": {"files": {str(path): "Events"}, "metadata": file_metadata(path)}}


def _hists(out):
    return {k: (h.values(flow=True), h.variances(flow=True)) for k, h in out["ttbar"]["hists"].items()}


def test_a_client_on_a_running_scheduler_gives_the_iterative_histograms(scheduler, tt_sample, tiny_models):
    from distributed import Client

    proc = FlashSimProcessor(ZHllbb(dnn_path="/nonexistent/dnn"), models_dir=tiny_models, replicas=2, seed=4)
    ref = run(_fileset(tt_sample), proc, "iterative", chunksize=150)
    with Client(scheduler) as client:
        out = run(_fileset(tt_sample), proc, "dask", chunksize=150, client=client)
        assert len(client.scheduler_info()["workers"]) == 2
    a, b = _hists(ref), _hists(out)
    assert a.keys() == b.keys() and len(a) > 5
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0], err_msg=k)
        np.testing.assert_array_equal(a[k][1], b[k][1], err_msg=k)
    assert out["ttbar"]["events"] == 2 * 400


def test_the_cli_runs_both_passes_on_the_scheduler(scheduler, tt_sample, tiny_models, tmp_path):
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"ttbar": {"files": {str(tt_sample): "Events"}}}))
    outputs = {}
    for name, extra in (("iterative", []), ("cluster", ["--scheduler", scheduler])):
        cmd = [sys.executable, str(ROOT / "analyses" / "zh_llbb.py"), "--fileset", str(fileset), "--models",
               str(tiny_models), "--chunksize", "150", "--out", str(tmp_path / name), *extra]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        if extra:
            assert f"with dask on {scheduler}" in done.stdout
        outputs[name] = json.loads((tmp_path / name / "summary.json").read_text())
    assert outputs["iterative"] == outputs["cluster"]


def test_the_cli_refuses_a_scheduler_with_the_futures_executor(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "analyses" / "zh_llbb.py"), "--executor", "futures",
                           "--scheduler", "tcp://127.0.0.1:1"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "--scheduler" in done.stderr and "Traceback" not in done.stderr


def test_reference_generation_runs_its_blocks_on_the_scheduler(scheduler, tmp_path, monkeypatch):
    import awkward as ak
    import uproot

    from flashsim_coffea import cluster
    from flashsim_coffea.reference import generate as gen_mod

    monkeypatch.setattr(gen_mod, "BLOCK", 10)  # three blocks, event ids passed with each task
    a, b = tmp_path / "local.root", tmp_path / "cluster.root"
    gen_mod.generate("dy", 25, 5, a, progress=False)
    with cluster.executor(scheduler=scheduler) as ex:
        gen_mod.generate("dy", 25, 5, b, executor=ex, progress=False)
    ea, eb = (uproot.open(p)["Events"].arrays() for p in (a, b))
    assert ea.fields == eb.fields and len(eb) == 25
    for name in ea.fields:
        assert ak.array_equal(ea[name], eb[name], equal_nan=True), name


def test_the_local_cluster_keeps_a_worker_that_misses_its_heartbeats():
    """A worker busy in compiled code that holds the GIL (a Pythia block on a shared core) cannot send
    heartbeats; the local scheduler must not restart it after dask's ``worker-ttl`` (5 minutes) and
    throw its block away."""
    from flashsim_coffea import cluster

    with cluster.client(workers=1) as c:
        assert c.run_on_scheduler(lambda dask_scheduler: dask_scheduler.worker_ttl) == cluster.WORKER_TTL_S == 86400
        assert c.submit(sum, [1, 2]).result() == 3
