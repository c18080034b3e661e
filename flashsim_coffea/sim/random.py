"""Counter-based random numbers: every draw is a pure function of its identity.

A draw for (seed, event, replica, source, object, dimension) is the SplitMix64 hash
(Steele, Lea, Flood 2014, doi:10.1145/2660193.2660195) of those integers, so:

* the same seed gives the same output;
* an event's simulated objects do not depend on which chunk, worker or retry
  computed them (no sequential generator state);
* everything is vectorised over all objects of a chunk.

Event identity is ``(run, luminosityBlock, event)`` from NanoAOD, folded into one
64-bit key by :func:`event_keys`.

Example:
    >>> keys = event_keys(np.array([1, 1]), np.array([1, 1]), np.array([42, 43], np.uint64))  # run 1, lumi 1
    >>> uniform(7, keys, 0)  # seed 7, events 42 and 43, replica 0
    array([0.55445421, 0.95555647])
    >>> uniform(7, keys[1:], 0)  # event 43 alone gets the same number
    array([0.95555647])
    >>> uniform(7, keys, 1), normal(7, keys, 0)  # another replica; normals
    (array([0.31511621, 0.10827717]), array([-1.18160761,  0.46833939]))
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of uint64 values (vectorised, wrapping arithmetic).

    Example:
        >>> splitmix64(np.array([0, 1], np.uint64))
        array([16294208416658607535, 10451216379200822465], dtype=uint64)
    """
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def combine(*parts, key=np.uint64(0x243F6A8885A308D3)) -> np.ndarray:
    """Hash a sequence of integer arrays (broadcast together) into one uint64 key array;
    ``key``: the hash of the parts before these (``combine(a, b) == combine(b, key=combine(a))``).

    Example:
        >>> combine(np.array([1, 2]), 3)  # keys (1, 3) and (2, 3)
        array([13711361237203262809,  4523351985862246698], dtype=uint64)
        >>> combine(3, key=combine(np.array([1, 2])))
        array([13711361237203262809,  4523351985862246698], dtype=uint64)
    """
    key = np.asarray(key, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for p in parts:
            key = splitmix64(np.bitwise_xor(np.asarray(p).astype(np.uint64), key * np.uint64(31)))
    return np.asarray(key, dtype=np.uint64)


def event_keys(run: np.ndarray, lumi: np.ndarray, event: np.ndarray) -> np.ndarray:
    """One uint64 key per event from its NanoAOD ``(run, luminosityBlock, event)``."""
    return combine(run, lumi, event)


def _unit(bits: np.ndarray) -> np.ndarray:
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def uniform(seed: int, *parts) -> np.ndarray:
    """Uniform numbers in [0, 1) for keys ``(seed, *parts)`` (broadcast); 53 random bits each."""
    return _unit(combine(np.uint64(seed), *parts))


def normal(seed: int, *parts) -> np.ndarray:
    """Standard normal numbers for keys ``(seed, *parts)`` (Box-Muller on two hashed uniforms, the
    keys ``(seed, *parts, 0x51)`` and ``(seed, *parts, 0x52)``, whose common prefix is hashed once)."""
    key = combine(np.uint64(seed), *parts)
    u1, u2 = (_unit(combine(part, key=key)) for part in (0x51, 0x52))
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
