"""Shared fixtures: the real CMS NanoAOD files and small cached reference samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    # cores // xdist workers torch threads each: torch's all-core OpenMP pools in two workers
    # on two cores spin against each other (the engine tests ran 40x slower)
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


#: ../shared/data/nanoaod beside the repository (override with FLASHSIM_SHARED_NANOAOD).
NANOAOD_DIR = Path(
    os.environ.get("FLASHSIM_SHARED_NANOAOD", Path(__file__).resolve().parents[2] / "shared" / "data" / "nanoaod")
)


@pytest.fixture(scope="session")
def nanoaod_dir() -> Path:
    if not NANOAOD_DIR.is_dir():
        pytest.fail(f"real NanoAOD samples not found at {NANOAOD_DIR} (set FLASHSIM_SHARED_NANOAOD)")
    return NANOAOD_DIR


@pytest.fixture(scope="session")
def v12_file(nanoaod_dir: Path) -> Path:
    return nanoaod_dir / "nano_tt_v12.root"


@pytest.fixture(scope="session")
def tt_sample() -> Path:
    """A small cached ttbar reference sample (shared by engine and processor tests)."""
    from flashsim_coffea.reference import cache

    return cache.sample("ttbar", 400, seed=11, workers=1, progress=False)


@pytest.fixture(scope="session")
def tt_gen(tt_sample):
    """The gen-level events of :func:`tt_sample` (every gen branch the engine reads, with the event ids)."""
    import uproot

    from flashsim_coffea.nanoaod import genevents

    arrays = uproot.open(tt_sample)["Events"].arrays([*genevents.branch_names(), "run", "luminosityBlock", "event"])
    return genevents.from_branches(arrays, source=str(tt_sample))


@pytest.fixture(scope="module")
def tiny_sim(tiny_models):
    """An engine of :func:`tiny_models` (one per test module: tests may change its settings)."""
    from flashsim_coffea.sim.engine import FlashSim

    return FlashSim.load(tiny_models)


@pytest.fixture(scope="session")
def reference_block():
    """``make(process, n, seed)``: ``n`` Pythia events of ``process`` through the reference detector's
    pileup, jets (with their PF extras), isolation inputs; ``rng`` holds the seed's six child generators,
    of which 0-3 are used here and 4, 5 are left for the muons and the electrons."""
    import numpy as np

    from flashsim_coffea.reference import genlevel, isolation, jets, pileup, pythia, truth

    def make(process: str, n: int, seed: int) -> dict:
        tr = truth.make_truth(pythia.generate_block(process, n, seed))
        r = np.random.default_rng(seed).spawn(6)
        n_pu = r[0].poisson(35.0, n)
        pu = pileup.simulate_pileup(n_pu, r[1])
        ev = pileup.event_quantities(n_pu, n_pu, pu, r[2], truth=tr)
        rho = np.asarray(ev["Rho_fixedGridRhoFastjetAll"])
        jet, extras = jets.reconstruct_jets(tr, pu, genlevel.gen_collections(tr)["GenJet"], rho, r[3],
                                            return_extras=True)
        return {"truth": tr, "pu": pu, "ev": ev, "rho": rho, "jets": jet, "extras": extras,
                "cands": isolation.candidates(tr, pu), "pv_xy": (np.asarray(ev["PV_x"]), np.asarray(ev["PV_y"])),
                "rng": r}

    return make


@pytest.fixture(scope="session")
def legacy_models() -> Path:
    """Three sources of the twelfth shipped set (2026-11, before the spec grew to NanoAOD v12's depth:
    ``cutBased`` learnt, pileup-jet flavours constant), kept to test that older model sets still load."""
    return Path(__file__).parent / "legacy_models"


@pytest.fixture(scope="session")
def tiny_models(tt_sample, train_tiny) -> Path:
    """Every source trained for two epochs on :func:`tt_sample` (plumbing, not fidelity)."""
    return train_tiny(tt_sample)


@pytest.fixture(scope="session")
def train_tiny(tmp_path_factory):
    """``train(sample, keys=None, events=None)``: models of ``keys`` (default: every source; sparse ones
    skipped) trained for two epochs without a step floor on the first ``events`` events of ``sample``;
    returns the models folder (plumbing, not fidelity)."""

    def train(sample: Path, keys: list[str] | None = None, events: int | None = None) -> Path:
        from flashsim_coffea.train import sources, store

        tables, out = tmp_path_factory.mktemp("tables"), tmp_path_factory.mktemp("models")
        store.extract([sample], tables, keys=keys, events=events, progress=False)
        sources.train_all(tables, out, seed=3, keys=keys, epochs=2, progress=False, skip_sparse=True, min_objects=5,
                          min_steps=0, min_efficiency_steps=0)
        return out

    return train


@pytest.fixture(scope="session")
def read_gen():
    """``read(path)``: the gen-level events of a NanoAOD file (every gen branch the engine reads, optional
    ones included, with the event ids)."""

    def read(path: Path):
        import uproot

        from flashsim_coffea.nanoaod import genevents

        arrays = uproot.open(path)["Events"].arrays(
            filter_name=[*genevents.branch_names(optional=True), "run", "luminosityBlock", "event"])
        return genevents.from_branches(arrays, source=str(path))

    return read


@pytest.fixture(scope="session")
def branch_dtype():
    """``dtype(tree, name)``: the numpy dtype name of an uproot branch's values (of its items when jagged),
    in native byte order: what awkward reports for the same field read back."""

    def dtype(tree, name: str) -> str:
        interp = tree[name].interpretation
        dt = interp.content.to_dtype if hasattr(interp, "content") else interp.to_dtype
        return str(dt.newbyteorder("="))

    return dtype
