"""Histograms of oversampled flash events with correlated-bin statistical errors.

FlashSim simulates each generator-level event ``K`` times (``replicas``). The ``K`` flash
events of one gen event are not independent, so per-entry errors (``sum w**2``) are wrong.
Following the CMS FlashSim ``OversampledTH`` (arXiv:2402.13684), each gen event ``e`` is
one "super-event" of weight ``w_e`` spread over bins. Per bin ``b``, with ``H_eb`` the
summed weight of gen event ``e``'s entries in ``b``::

    value_b    = sum_e H_eb / K
    variance_b = sum_e (H_eb / K) ** 2

For ``K = 1`` and one entry per gen event this is ordinary Weight filling (``sum w``,
``sum w**2``). Replicas of one gen event in different bins are treated as uncorrelated
(the bin-to-bin covariance ``sum_e H_ea H_eb / K**2`` is not stored).

The variance is additive over disjoint sets of gen events, so histograms filled per chunk
and added (``h1 + h2``, which ``coffea.processor.accumulate`` uses) are exact, as are
repeated fills of one histogram, **provided all entries of a gen event are in the same
call**. FlashSim oversamples inside each chunk, so this holds per chunk.

This module is pure numpy/hist: it imports neither coffea nor dask (awkward lazily).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boost_histogram as bh
import numpy as np

__all__ = ["fill_oversampled"]

_CATEGORY_AXES = (bh.axis.StrCategory, bh.axis.IntCategory)


def _is_awkward(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "awkward"


def _is_scalar(x: Any) -> bool:
    if _is_awkward(x):
        return False
    return isinstance(x, (str, bytes)) or np.ndim(x) == 0


def _flatten_awkward(arrays: dict[str, Any]) -> dict[str, Any]:
    """Broadcast awkward/numpy arrays against each other (jagged allowed) and flatten them.

    Entries where any broadcast array is None are dropped. Scalars are left alone.
    """
    import awkward as ak

    keys = [k for k, v in arrays.items() if not _is_scalar(v)]
    if not any(_is_awkward(arrays[k]) for k in keys):
        return arrays
    bcast = ak.broadcast_arrays(*(arrays[k] for k in keys))
    flat = []
    for arr in bcast:
        while arr.ndim > 1:
            arr = ak.flatten(arr, axis=1)
        flat.append(arr)
    keep = ~np.logical_or.reduce([ak.to_numpy(ak.is_none(arr, axis=0)) for arr in flat])
    out = dict(arrays)
    for k, arr in zip(keys, flat):
        out[k] = ak.to_numpy(ak.drop_none(arr[keep]))
    return out


def _view_index(axis: bh.axis.Axis, values: np.ndarray) -> np.ndarray:
    """Index of each value in ``axis``'s flow-included view; -1 where hist drops the value."""
    traits = axis.traits
    if isinstance(axis, _CATEGORY_AXES):
        # axis.index raises KeyError for unknown categories: map the unique values instead.
        if isinstance(axis, bh.axis.IntCategory) and values.dtype.kind not in "iub":
            raise TypeError(f"integer category axis {getattr(axis, 'name', '')!r}: got dtype {values.dtype}")
        uniq, inv = np.unique(values, return_inverse=True)
        known = set(axis)
        lut = np.array(
            [axis.index(u.item() if isinstance(u, np.generic) else u) if u in known else axis.size for u in uniq],
            dtype=np.int64,
        )
        idx = lut[inv.reshape(-1)]
    else:
        idx = np.asarray(axis.index(values), dtype=np.int64)
    lo = -1 if traits.underflow else 0
    hi = axis.size if traits.overflow else axis.size - 1
    valid = (idx >= lo) & (idx <= hi)
    idx = idx - lo  # shift by one when the view starts with the underflow bin
    return np.where(valid, idx, -1)


def fill_oversampled(
    h: bh.Histogram,
    *args: Any,
    gen_event: Any,
    replicas: int,
    weight: Any = None,
    **kwargs: Any,
) -> bh.Histogram:
    """Fill ``h`` in place with oversampled entries, grouping replicas of one gen event.

    Per bin ``b`` (flow bins included), with ``H_eb`` the summed weight of gen event
    ``e``'s entries in bin ``b`` and ``K = replicas``::

        value_b    += sum_e H_eb / K
        variance_b += sum_e (H_eb / K) ** 2

    as in the CMS FlashSim ``OversampledTH`` (arXiv:2402.13684). Bin assignment follows
    ``h.fill``: values outside axes without flow bins and unknown categories of
    non-growing category axes without overflow are dropped, NaN goes where hist puts it,
    growing axes grow. With ``K = 1`` and one entry per gen event this equals
    ``h.fill(..., weight=weight)``.

    Arguments:
        h: histogram with Weight storage (any number and kind of axes).
        args: axis values by position, as for ``h.fill``.
        gen_event: integer id per entry of the gen event it was simulated from; ids must
            be unique per gen event within the call, and all entries (every replica, every
            object) of a gen event must be in this call. Merging histograms filled from
            disjoint sets of gen events (chunks, workers) is then exact.
        replicas: oversampling factor ``K`` (the value is divided by it).
        weight: per-entry weight (scalar or array; ``None`` means 1), the weight the event
            would have without oversampling, e.g. ``genWeight * xsec * lumi / sumw``.
        kwargs: axis values by axis name, as for ``h.fill``.

    Awkward values: arrays with one entry per event are flattened; jagged arrays (e.g. all
    jets) are broadcast against per-event ``gen_event``/``weight`` and flattened, and
    entries with a None value are skipped. Several objects of one gen event in one bin are
    then correlated too (their weights are summed before squaring), even for ``K = 1``.

    Returns:
        ``h`` itself.

    Example:
        >>> import hist, numpy as np
        >>> h = hist.Hist.new.Reg(10, 0, 100, name="pt").Weight()
        >>> pt = np.array([31.0, 33.0, 35.0, 62.0])  # gen event 0 twice, 1 twice
        >>> _ = fill_oversampled(h, pt=pt, gen_event=np.array([0, 0, 1, 1]), replicas=2)
        >>> h[3].value, h[3].variance  # (1 + 1 + 1)/2, (2/2)**2 + (1/2)**2
        (1.5, 1.25)

        Jagged awkward values (jets of four flash events: gen events 0, 0, 1, 1) broadcast
        against one ``gen_event`` per flash event:

        >>> import awkward as ak
        >>> h = hist.Hist.new.Reg(4, 0, 80, name="pt").Weight()
        >>> jets = ak.Array([[45.0, 32.0], [41.0], [], [33.0]])
        >>> _ = fill_oversampled(h, pt=jets, gen_event=np.array([0, 0, 1, 1]), replicas=2)
        >>> h.values(), h.variances()  # 40-60 GeV: both jets of gen event 0, so (2/2)**2
        (array([0., 1., 1., 0.]), array([0. , 0.5, 1. , 0. ]))
    """
    if not issubclass(h.storage_type, bh.storage.Weight):
        raise TypeError(f"fill_oversampled needs Weight storage, got {h.storage_type.__name__}")
    if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 1:
        raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
    axes = list(h.axes)
    if not axes:
        raise ValueError("the histogram has no axes")
    names = [getattr(ax, "name", "") for ax in axes]
    if args and kwargs:
        raise TypeError("give axis values either by position or by name, not both")
    if args:
        if len(args) != len(axes):
            raise TypeError(f"expected {len(axes)} axis values, got {len(args)}")
        values: Sequence[Any] = args
    else:
        missing = [n for n in names if n not in kwargs]
        extra = [k for k in kwargs if k not in names]
        if missing or extra:
            raise TypeError(f"axis values must name exactly the axes {names}; missing {missing}, unknown {extra}")
        values = [kwargs[n] for n in names]

    inputs: dict[str, Any] = {f"axis{i}": v for i, v in enumerate(values)}
    inputs["gen_event"] = gen_event
    inputs["weight"] = 1.0 if weight is None else weight
    inputs = _flatten_awkward(inputs)

    gen = np.asarray(inputs["gen_event"])
    if gen.ndim != 1:
        raise ValueError("gen_event must be one id per entry (a 1-d array)")
    if gen.size and not np.issubdtype(gen.dtype, np.integer):
        raise TypeError(f"gen_event must hold integers, got dtype {gen.dtype}")
    n = gen.shape[0]
    cols = []
    for i in range(len(axes)):
        col = np.asarray(inputs[f"axis{i}"])
        if col.ndim == 0:
            col = np.broadcast_to(col, (n,))
        if col.shape != (n,):
            raise ValueError(f"axis {names[i] or i}: {col.shape[0] if col.ndim else 0} values for {n} gen_event ids")
        cols.append(col)
    w = np.asarray(inputs["weight"], dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"weight: {w.shape} for {n} gen_event ids")
    if n == 0:
        return h

    if any(ax.traits.growth for ax in axes):
        # let hist grow its axes (adds 0 to value and variance), then index the grown axes
        h.fill(*cols, weight=np.zeros(n))
        axes = list(h.axes)

    extents = tuple(int(ax.extent) for ax in axes)
    idx = [_view_index(ax, col) for ax, col in zip(axes, cols)]
    keep = np.logical_and.reduce([i >= 0 for i in idx])
    flat_bin = np.ravel_multi_index(tuple(i[keep] for i in idx), extents)
    wk = w[keep] / replicas
    gen = gen[keep]
    nbins = int(np.prod(extents, dtype=np.int64))

    # group entries by (gen event, bin): dense ids for both so the combined key cannot overflow
    _, g_id = np.unique(gen, return_inverse=True)
    b_used, b_id = np.unique(flat_bin, return_inverse=True)
    key = g_id.reshape(-1).astype(np.int64) * len(b_used) + b_id.reshape(-1)
    ukey, k_id = np.unique(key, return_inverse=True)
    per_key = np.bincount(k_id.reshape(-1), weights=wk, minlength=len(ukey))
    key_bin = b_used[ukey % max(len(b_used), 1)]

    view = h.view(flow=True)
    view["value"] += np.bincount(flat_bin, weights=wk, minlength=nbins).reshape(extents)
    view["variance"] += np.bincount(key_bin, weights=per_key**2, minlength=nbins).reshape(extents)
    return h
