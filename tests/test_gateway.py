"""Analyses through dask-gateway, as at an analysis facility (Fermilab EAF, coffea-casa): a real
``dask-gateway-server`` with its local backend (scheduler and workers as processes of this machine,
TLS and the gateway's proxy as on a facility), a cluster from ``Gateway(address).new_cluster()``
scaled to two workers, and the analysis run through the cluster's client gives the iterative run's
histograms bin by bin."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("coffea")
pytest.importorskip("distributed")
pytest.importorskip("dask_gateway", reason="dask-gateway is not installed (pip install -e .[facility])")
pytest.importorskip("dask_gateway_server", reason="dask-gateway-server is not installed (pip install -e .[facility])")

from test_facility import _fileset, _hists

from analyses.running import run
from analyses.zh_llbb import ZHllbb
from processors.flashsim import FlashSimProcessor

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
c.DaskGateway.address = "127.0.0.1:{api}"
c.Proxy.address = "127.0.0.1:{proxy}"
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.LocalBackend.clusters_directory = {clusters!r}
c.ClusterConfig.scheduler_cmd = [{dask!r}, "scheduler"]
c.ClusterConfig.worker_cmd = [{dask!r}, "worker"]
c.ClusterConfig.worker_cores = 1
c.ClusterConfig.worker_threads = 1
c.ClusterConfig.worker_memory = "4 G"
c.ClusterConfig.environment = {environment!r}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway_address(tmp_path_factory):
    """A ``dask-gateway-server`` (simple authenticator, unsafe local backend: clusters run as this
    user, for testing) on free local ports; yields the address a client connects to (its proxy)."""
    server, dask = shutil.which("dask-gateway-server"), shutil.which("dask")
    if server is None or dask is None:
        pytest.skip("no `dask-gateway-server` or `dask` command on PATH")
    if importlib.util.find_spec("sqlalchemy") is None:  # the local backend's database
        pytest.skip("dask-gateway-server's local backend needs sqlalchemy (pip install dask-gateway-server[local])")
    tmp = tmp_path_factory.mktemp("gateway")
    api, proxy = _free_port(), _free_port()
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    (tmp / "config.py").write_text(CONFIG.format(api=api, proxy=proxy, clusters=str(tmp / "clusters"), dask=dask,
                                                 environment=env))
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([server, "-f", str(tmp / "config.py")], cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{proxy}"
    try:
        from dask_gateway import BasicAuth, Gateway

        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"dask-gateway-server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with Gateway(address, auth=BasicAuth("flashsim")) as gw:
                    gw.list_clusters()
                break
            except Exception:  # not listening yet
                time.sleep(0.2)
        else:
            pytest.fail(f"dask-gateway-server did not answer at {address}")
        yield address
    finally:
        proc.terminate()  # stops the clusters it started
        proc.wait(timeout=60)
        log.close()


# dask_gateway.Gateway.__del__ closes an already closed client again and meets its stopped event loop
# (RuntimeError, ignored at garbage collection): dask-gateway 2026.3 with distributed 2026.8, not this test
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_gateway_cluster_gives_the_iterative_histograms(gateway_address, tt_sample, tiny_models):
    from dask_gateway import BasicAuth, Gateway

    proc = FlashSimProcessor(ZHllbb(dnn_path="/nonexistent/dnn"), models_dir=tiny_models, replicas=2, seed=4)
    ref = run(_fileset(tt_sample), proc, "iterative", chunksize=150)
    with Gateway(gateway_address, auth=BasicAuth("flashsim")) as gateway, gateway.new_cluster() as cluster:
        assert cluster.scheduler_address.startswith("gateway://")
        cluster.scale(2)
        with cluster.get_client() as client:  # closing the cluster shuts it down
            client.wait_for_workers(2, timeout=120)
            out = run(_fileset(tt_sample), proc, "dask", chunksize=150, client=client)
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2 and all(w.startswith("tls://") for w in workers)
            # the chunks ran on the gateway's workers, not in this process
            assert sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values()) >= 3
    a, b = _hists(ref), _hists(out)
    assert a.keys() == b.keys() and len(a) > 5
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0], err_msg=k)
        np.testing.assert_array_equal(a[k][1], b[k][1], err_msg=k)
    assert out["ttbar"]["events"] == 2 * 400
