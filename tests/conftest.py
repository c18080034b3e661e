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
def tiny_models(tt_sample, tmp_path_factory) -> Path:
    """Every source trained for two epochs on :func:`tt_sample` (plumbing, not fidelity)."""
    from flashsim_coffea.train import sources, store

    tables, out = tmp_path_factory.mktemp("tables"), tmp_path_factory.mktemp("models")
    store.extract([tt_sample], tables, progress=False)
    sources.train_all(tables, out, seed=3, epochs=2, progress=False, skip_sparse=True, min_objects=5, min_steps=0,
                      min_efficiency_steps=0)
    return out
