"""The validation sample of one source, accumulated chunk by chunk in bounded memory.

A validation run reads its FullSim files a chunk at a time and folds each chunk's training
tables (:func:`flashsim_coffea.train.extract.tables`, FullSim and flash alike) into one
:func:`empty` sample per source and side with :func:`add`:

* efficiency inputs as histograms (candidates and reconstructed ones per gen pT and η bin), the
  candidate and object counts, the per-event count sums: exact, whatever the number of events;
* the reconstructed objects (conditioning, gen values, reco targets: what W1/σ, KS, the
  two-sample classifier and the plots read; or every field of a collection's objects, for
  :mod:`.fields`) as a uniform random subsample of at most ``cap`` rows, in input order, stored
  as float32 (NanoAOD's own precision for the reco values). Every row draws a key u ~ U(0, 1)
  (seeded per chunk); the rows kept are those with u below a threshold τ (1 while nothing was dropped, else the smallest key
  dropped): a Bernoulli(τ) subsample. Pooling sources (:func:`pooled`) keeps the rows below the
  smallest τ of the pooled sources, so the pool stays a uniform subsample of the union.

Below the cap nothing is dropped and the figures are those of the whole sample. Bits
(trigger paths, MET filters) are counted exactly, over every event, by :func:`add_bits`.

Example:
    >>> s = empty(cap=3)
    >>> rng = np.random.default_rng(1)
    >>> add(s, {"pairs": {"pt": np.array([10.0, 20.0])}}, rng)
    >>> add(s, {"pairs": {"pt": np.array([30.0, 40.0, 50.0])}}, rng)
    >>> s["objects"], len(s["pairs"]["pt"]), s["threshold"] < 1
    (5, 3, True)
    >>> t = {"cond": {"log_pt": np.log([25.0, 30.0, 3.0])}, "label": np.array([1, 0, 1], np.int8), "pairs": {}}
    >>> e = empty(); add(e, t, rng); e["eff"]["candidates"], e["eff"]["reconstructed"]
    (3, 2.0)
"""

from __future__ import annotations

import numpy as np

#: gen pT and η bins of the efficiency curves.
PT_EDGES = np.array([0, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 250, 500, 1e9])
ETA_EDGES = np.linspace(-5, 5, 21)
#: default subsample of reconstructed objects kept per source and side (FullSim, flash): a statistical
#: floor of W1/σ near 0.003 and two-sample AUCs to +-0.002, in a memory that stops growing once
#: a source passes it (at 500k, `flashsim validate` of the muons of 1M ttbar events peaked at 1.7x
#: its figure on 240k events, whose 133k muons were all kept).
CAP = 200_000


def empty(cap: int = CAP) -> dict:
    """A sample with nothing in it, keeping at most ``cap`` objects."""
    return {"cap": int(cap), "objects": 0, "pairs": {}, "keys": np.zeros(0), "threshold": 1.0, "eff": None,
            "count": None}


def _hist(x: np.ndarray, label: np.ndarray, edges: np.ndarray) -> np.ndarray:
    n = np.histogram(x, edges)[0].astype(float)
    k = np.histogram(x, edges, weights=np.asarray(label, np.float64))[0]  # int8 weights would wrap around
    return np.stack([n, k])


def add(sample: dict, t: dict, rng: np.random.Generator) -> None:
    """Fold one chunk's tables ``t`` (``cond``/``label``, ``count``, ``pairs``) into ``sample``."""
    if "label" in t:
        label = np.asarray(t["label"])
        eff = sample["eff"] or {"candidates": 0, "reconstructed": 0.0, "pt": 0.0, "eta": None}
        eff["candidates"] += len(label)
        eff["reconstructed"] += float(label.sum(dtype=np.float64))
        eff["pt"] = eff["pt"] + _hist(np.exp(t["cond"]["log_pt"]), label, PT_EDGES)
        if "eta" in t["cond"]:
            eta = _hist(t["cond"]["eta"], label, ETA_EDGES)
            eff["eta"] = eta if eff["eta"] is None else eff["eta"] + eta
        sample["eff"] = eff
    if "count" in t:
        c = sample["count"] or {"sum": 0.0, "events": 0}
        c["sum"] += float(np.sum(t["count"], dtype=np.float64))
        c["events"] += len(t["count"])
        sample["count"] = c
    pairs = t["pairs"]
    if sample["pairs"] and set(pairs) != set(sample["pairs"]):  # a file of another NanoAOD version: common columns
        pairs = {k: v for k, v in pairs.items() if k in sample["pairs"]}
        sample["pairs"] = {k: v for k, v in sample["pairs"].items() if k in pairs}
    n = len(next(iter(pairs.values()))) if pairs else 0
    sample["objects"] += n
    if n == 0:
        return
    keys = rng.random(n)
    keep = keys < sample["threshold"]
    merged = {k: np.concatenate([sample["pairs"][k], np.asarray(v, np.float32)[keep]]) if sample["pairs"]
              else np.asarray(v, np.float32)[keep] for k, v in pairs.items()}
    all_keys = np.concatenate([sample["keys"], keys[keep]])
    if len(all_keys) > sample["cap"]:
        cut = np.partition(all_keys, sample["cap"])[sample["cap"]]  # the smallest key dropped
        sample["threshold"] = min(sample["threshold"], float(cut))
        keep = all_keys < sample["threshold"]
        merged = {k: v[keep] for k, v in merged.items()}
        all_keys = all_keys[keep]
    sample["pairs"], sample["keys"] = merged, all_keys


def add_bits(counts: dict, bits: dict) -> None:
    """Fold one chunk's event-level ``bits`` (name -> 0/1 per event) into ``counts`` (name -> [passed, events]).

    Example:
        >>> c = {}
        >>> add_bits(c, {"HLT_IsoMu24": np.array([True, False, True])})
        >>> add_bits(c, {"HLT_IsoMu24": np.array([False])})
        >>> c
        {'HLT_IsoMu24': [2, 4]}
    """
    for k, v in bits.items():
        v = np.asarray(v)
        have = counts.setdefault(k, [0, 0])
        have[0] += int(np.count_nonzero(v))
        have[1] += len(v)


def summarise(t: dict, cap: int = CAP, seed: int = 0) -> dict:
    """The sample of one set of tables (all of a validation in one chunk)."""
    s = empty(cap)
    add(s, t, np.random.default_rng(seed))
    return s


def efficiency_curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Efficiency and its binomial error per bin from ``[candidates, reconstructed]`` histograms."""
    n, k = counts
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = k / n
    return eff, np.sqrt(np.clip(eff * (1 - eff), 0, None) / np.maximum(n, 1))


def pooled(samples: list[dict], column: str) -> np.ndarray:
    """``column`` of the kept objects of ``samples`` that hold it, as one uniform subsample of their union.

    Example:
        >>> a = {"pairs": {"pt": np.array([1.0, 2.0])}, "keys": np.array([0.1, 0.7]), "threshold": 1.0}
        >>> b = {"pairs": {"pt": np.array([3.0])}, "keys": np.array([0.2]), "threshold": 0.5}
        >>> pooled([a, b], "pt").tolist()  # a's second row is above b's threshold: dropped
        [1.0, 3.0]
    """
    have = [s for s in samples if column in s["pairs"]]
    if not have:
        return np.zeros(0)
    tau = min(s.get("threshold", 1.0) for s in have)
    parts = []
    for s in have:
        v = np.asarray(s["pairs"][column], np.float64)
        keys = s.get("keys")
        parts.append(v if keys is None or tau >= 1.0 else v[np.asarray(keys) < tau])
    return np.concatenate(parts)
