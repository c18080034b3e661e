"""Azimuthal differences and ΔR, vectorised: numpy arrays, scalars and awkward arrays alike.

The one place the project wraps an angle or measures ΔR outside a numba kernel (the kernels of
:mod:`.jet_truth`, :mod:`.derived`, :mod:`.tau_links` and :mod:`flashsim_coffea.sim.features`
inline the same expression, as numba needs). Imports numpy only, so that specs and the CLI stay light.

Example:
    >>> round(float(delta_phi(3.0, -3.0)), 4)  # 6 rad the long way round, 2π - 6 the short one
    -0.2832
    >>> delta_r(np.array([0.0, 1.0]), np.array([3.1, 0.0]), 0.0, -3.1).round(4).tolist()
    [0.0832, 3.2573]
"""

from __future__ import annotations

import numpy as np


def wrap_phi(phi):
    """Angles wrapped to [-π, π).

    Example:
        >>> float(wrap_phi(np.pi)), round(float(wrap_phi(7.0)), 4)
        (-3.141592653589793, 0.7168)
    """
    return (phi + np.pi) % (2 * np.pi) - np.pi


def delta_phi(a, b):
    """φ(a) − φ(b) wrapped to [−π, π)."""
    return wrap_phi(a - b)


def delta_r(eta1, phi1, eta2, phi2):
    """ΔR = √(Δη² + Δφ²), Δφ wrapped."""
    return np.hypot(eta1 - eta2, delta_phi(phi1, phi2))
