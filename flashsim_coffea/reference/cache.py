"""Cache of reference samples keyed by (process, events, seed, pileup, code version).

Tests, training and the analyses ask :func:`sample` for a file; it is generated once
and reused until the reference code changes (the key holds a hash of that code).
The cache lives in ``$FLASHSIM_CACHE`` or ``~/.cache/flashsim-coffea``.

Example:
    >>> path = sample("dy", events=2000, seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from .generate import PILEUP_MU, code_version, generate


def cache_dir() -> Path:
    """The directory holding cached samples (created on demand)."""
    d = Path(os.environ.get("FLASHSIM_CACHE", Path.home() / ".cache" / "flashsim-coffea"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def sample_path(process: str, events: int, seed: int, pileup_mu: float = PILEUP_MU) -> Path:
    """Where the sample with this key is (or will be) cached."""
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
    """Path of a cached reference sample, generating it first if needed."""
    path = sample_path(process, events, seed, pileup_mu)
    if not path.exists():
        generate(
            process,
            events,
            seed,
            path,
            workers=workers or min(os.cpu_count() or 1, 4),
            pileup_mu=pileup_mu,
            progress=progress,
        )
    return path
