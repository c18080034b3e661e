"""Cache of reference samples keyed by (process, events, seed, pileup, code version).

Tests, training and the analyses ask :func:`sample` for a file; it is generated once
and reused until the reference code changes (the key holds a hash of that code).
The cache lives in ``$FLASHSIM_CACHE`` or ``~/.cache/flashsim-coffea``.

Example:
    Where a 2000-event Drell-Yan sample is cached (:func:`sample` would generate it there
    first, if missing); the name ends with the code version:

    >>> path = sample_path("dy", events=2000, seed=1)
    >>> path.parent == cache_dir(), path.name.startswith("dy_n2000_s1_mu35_")
    (True, True)
    >>> path.stem.rsplit("_", 1)[1] == code_version()
    True
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from flashsim_coffea.reference.code_version import code_version
from flashsim_coffea.reference.generate import PILEUP_MU, generate


def cache_dir() -> Path:
    """The directory holding cached samples: ``$FLASHSIM_CACHE`` or ``~/.cache/flashsim-coffea`` (created on demand)."""
    d = Path(os.environ.get("FLASHSIM_CACHE", Path.home() / ".cache" / "flashsim-coffea"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def sample_path(process: str, events: int, seed: int, pileup_mu: float = PILEUP_MU) -> Path:
    """Where the sample with this key is (or will be) cached: a pure function of the key and
    the code version. Example in the module docstring."""
    return cache_dir() / f"{process}_n{events}_s{seed}_mu{pileup_mu:g}_{code_version()}.root"


def sample(
    process: str,
    events: int,
    seed: int,
    *,
    pileup_mu: float = PILEUP_MU,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Path of a cached reference sample, generating it first if needed.

    Arguments:
        process, events, seed, pileup_mu: the sample (see :func:`.generate.generate`).
        workers: processes for generating (default: the CPU count, at most 4).
        progress: show a progress bar while generating.

    Returns:
        :func:`sample_path` of the key, which exists on return.
    """
    path = sample_path(process, events, seed, pileup_mu)
    if not path.exists():
        workers = workers or min(os.cpu_count() or 1, 4)
        with ProcessPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
            generate(process, events, seed, path, executor=pool, pileup_mu=pileup_mu, progress=progress)
    return path
