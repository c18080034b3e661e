"""Comparison statistics of flash and FullSim histograms: paired chi2, pulls, effective statistics.

Flash made from the same gen events as FullSim is correlated with it, so adding both variances
as if independent overestimates the error of the difference (the mean chi2/ndf of the seed
analyses' signal histograms came out at 0.67-0.73). :func:`paired` uses the **per-gen-event
paired differences** instead: the difference histogram is filled with
:meth:`analyses.analysis.Analysis.fill` from ``[(flash, +1), (fullsim, -1)]`` of the same gen
events, so per bin ``b`` its value is ``flash_b - full_b`` and its variance is
``sum_e D_eb**2`` with ``D_eb = H^flash_eb / K - H^full_eb`` the difference of gen event ``e``'s
contributions (the oversampling grouping of arXiv:2402.13684 applied to the difference); that
is the variance of ``flash_b - full_b`` with the correlation included.

The oversampling test (:func:`pulls`) compares flash made from ``N/K`` gen events with ``K``
replicas against FullSim on all ``N``: per bin ``(flash - full) / sqrt(var_flash + var_full)``,
with the grouped (``fill_oversampled``) or the naive per-entry flash variance.
:func:`effective_entries` is the Kish equivalent number of unweighted events,
``sum_b value_b**2 / variance_b``.

Example:
    >>> import hist
    >>> h = hist.Hist(hist.axis.Regular(2, 0, 2, name="x"), storage=hist.storage.Weight())
    >>> full = h.copy().fill(x=[0.5, 0.5, 1.5]); flash = h.copy().fill(x=[0.5, 1.5, 1.5])
    >>> diff = h.copy().fill(x=[0.5, 1.5], weight=[-1.0, 1.0])  # event 1 moved: -1 in bin 0, +1 in bin 1
    >>> c = paired(diff, flash, full)
    >>> c["chi2"], c["ndf"], c["pulls"]
    (2.0, 2, [-1.0, 1.0])
    >>> round(effective_entries(full), 6)
    3.0
"""

from __future__ import annotations

import hist
import numpy as np

#: bins used by the chi2 and the pulls: at least this many equivalent FullSim events (Kish).
MIN_ENTRIES = 20.0


def effective_entries(h: hist.Hist) -> float:
    """Kish equivalent unweighted events, ``sum_b value_b**2 / variance_b`` over bins with variance > 0.

    Example:
        >>> h = hist.Hist(hist.axis.Regular(1, 0, 1, name="x"), storage=hist.storage.Weight())
        >>> effective_entries(h.fill(x=[0.5] * 4, weight=0.5))  # 4 events of weight 1/2: 2^2 / 1
        4.0
    """
    v, var = h.values(), h.variances()
    ok = var > 0
    return float(np.sum(v[ok] ** 2 / var[ok]))


def bin_entries(h: hist.Hist) -> np.ndarray:
    """Per-bin Kish equivalent events ``value**2 / variance`` (0 where empty)."""
    v, var = h.values(), h.variances()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, v**2 / var, 0.0)


def paired(diff: hist.Hist, flash: hist.Hist, full: hist.Hist, min_entries: float = 0.0) -> dict:
    """chi2 of flash vs FullSim on the same gen events from the paired difference histogram ``diff``.

    Bins: where either sample is filled and FullSim holds ``>= min_entries`` equivalent events.
    A bin of zero paired variance has a zero difference and adds 0 (identical inputs: chi2 = 0).
    Returns ``chi2``, ``ndf``, ``chi2_ndf``, ``p_value`` and the per-bin ``pulls`` (None outside
    the bins used).
    """
    from scipy import stats

    d, var = diff.values(), diff.variances()
    used = ((flash.variances() + full.variances()) > 0) & (bin_entries(full) >= min_entries)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(var > 0, d / np.sqrt(var), 0.0)
    chi2 = float(np.sum(pull[used] ** 2))
    ndf = int(used.sum())
    return {"statistic": "paired per-gen-event differences", "chi2": chi2, "ndf": ndf,
            "chi2_ndf": chi2 / ndf if ndf else None, "p_value": float(stats.chi2.sf(chi2, ndf)) if ndf else None,
            "pulls": [float(p) if u else None for p, u in zip(pull, used)]}


def pulls(flash: hist.Hist, full: hist.Hist, flash_variance: np.ndarray | None = None,
          min_entries: float = MIN_ENTRIES) -> np.ndarray:
    """Per-bin ``(flash - full) / sqrt(var_flash + var_full)`` over bins where FullSim holds
    ``>= min_entries`` equivalent events; ``flash_variance`` replaces the flash histogram's own
    (e.g. the naive per-entry one).

    Example:
        >>> h = hist.Hist(hist.axis.Regular(2, 0, 2, name="x"), storage=hist.storage.Weight())
        >>> full = h.copy().fill(x=[0.5] * 30 + [1.5] * 5); flash = h.copy().fill(x=[0.5] * 24)
        >>> pulls(flash, full).round(3).tolist()  # the 5-event bin is left out
        [-0.816]
    """
    fv = flash.variances() if flash_variance is None else np.asarray(flash_variance)
    used = (bin_entries(full) >= min_entries) & ((fv + full.variances()) > 0)
    return ((flash.values() - full.values())[used] / np.sqrt(fv + full.variances())[used]).ravel()


def summarize(p: np.ndarray) -> dict:
    """Mean, width (standard deviation, ddof 1) and their errors of a set of pulls.

    Example:
        >>> s = summarize(np.random.default_rng(1).normal(size=10_000))
        >>> abs(s["mean"]) < 0.03, abs(s["width"] - 1) < 0.02, s["bins"]
        (True, True, 10000)
    """
    p = np.asarray(p, float)
    n = len(p)
    if n < 2:
        return {"bins": n, "mean": float(p.mean()) if n else None, "mean_err": None, "width": None, "width_err": None}
    width = float(p.std(ddof=1))
    return {"bins": n, "mean": float(p.mean()), "mean_err": width / np.sqrt(n), "width": width,
            "width_err": width / np.sqrt(2 * (n - 1))}
