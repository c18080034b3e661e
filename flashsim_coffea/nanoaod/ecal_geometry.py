"""Where a charged track meets the CMS ECAL, and the crystal it hits (``seediEtaOriX``/``seediPhiOriY``).

NanoAOD v12 electrons carry the indices of their supercluster's seed crystal: (ieta, iphi) in the
barrel, (ix, iy) in the endcaps. They follow from written fields: the SC eta is ``eta + deltaEtaSC``
and the SC azimuth is the track's ``phi`` bent by the solenoid field on the way to the ECAL front,
so the reference detector and the flash side derive them with :func:`seed_indices`.

Constants: B = 3.8 T, ECAL front at R = 1.29 m (barrel) and z = 3.154 m (endcap) [card: Delphes CMS
ParticlePropagator; endcap face from the CMS ECAL TDR, mem]; barrel crystals 0.0174 in eta and 1 deg
in phi [card]; iphi = floor(phi_deg + 10) + 1 and abs(ieta) = floor(abs(eta)/0.0174) + 1 [code: CMSSW
EBDetId conventions]; endcap crystal pitch 2.99 cm in x and y, ix/iy = floor(x/pitch) + 51 [meas: linear
fit of nano_tt_v12's endcap electrons]. On nano_tt_v12 the barrel residual iphi - phi_deg fits
10.44 - 41.6 q/pT, i.e. a bending of 0.726 rad GeV against the 0.735 of 0.3 B R / 2 [meas].

Example:
    A 20 GeV positron at eta 0.3, phi 0.5 (deltaEtaSC 0.01) hits barrel crystal (18, 37):

    >>> seed_indices(np.array([0.3]), np.array([0.01]), np.array([0.5]), np.array([20.0]), np.array([1]))
    (array([18]), array([37]))
"""

from __future__ import annotations

import numpy as np

from flashsim_coffea.nanoaod.angles import wrap_phi

B_TESLA = 3.8
ECAL_R_M = 1.29
ECAL_Z_M = 3.154
EB_ETA_MAX = 1.479
EB_CRYSTAL_ETA = 0.0174
EE_PITCH_CM = 2.99


def bend(pt: np.ndarray, r_m: np.ndarray | float) -> np.ndarray:
    """Azimuthal bending (rad) of a unit-charge track of ``pt`` (GeV) from the beam line to radius
    ``r_m`` (m): asin(0.3 B r / (2 pT)); pi/2 when it curls up before reaching ``r_m``.

    Example:
        >>> bend(np.array([10.0, 100.0]), 1.29).round(4)
        array([0.0736, 0.0074])
    """
    k = 0.3 * B_TESLA * np.asarray(r_m, np.float64) / (2.0 * np.maximum(np.asarray(pt, np.float64), 1e-3))
    return np.arcsin(np.minimum(k, 1.0))


def ecal_radius(eta: np.ndarray) -> np.ndarray:
    """Transverse radius (m) where a straight line from the origin at ``eta`` meets the ECAL front.

    Example:
        >>> ecal_radius(np.array([0.0, 2.0])).round(3)
        array([1.29, 0.87])
    """
    return np.minimum(ECAL_R_M, ECAL_Z_M / np.maximum(np.abs(np.sinh(np.asarray(eta, np.float64))), 1e-6))


def sc_phi(phi: np.ndarray, eta_sc: np.ndarray, pt: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """Azimuth at the ECAL of a track with vertex azimuth ``phi``: bent by ``-charge`` x :func:`bend`.

    Example:
        >>> sc_phi(np.array([0.0, 0.0]), np.zeros(2), np.array([10.0, 10.0]), np.array([1, -1])).round(4)
        array([-0.0736,  0.0736])
    """
    out = np.asarray(phi, np.float64) - np.asarray(charge, np.float64) * bend(pt, ecal_radius(eta_sc))
    return wrap_phi(out)


def seed_crystal(eta_sc: np.ndarray, phi_sc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ieta, iphi) in the barrel (abs(eta_SC) < 1.479), (ix, iy) in the endcaps, at (``eta_sc``, ``phi_sc``).

    Example:
        >>> seed_crystal(np.array([0.5, -0.01, 2.0]), np.array([0.0, np.pi - 1e-3, 0.0]))
        (array([29, -1, 80]), array([ 11, 190,  51]))
    """
    eta_sc = np.asarray(eta_sc, np.float64)
    phi_sc = np.asarray(phi_sc, np.float64)
    aeta = np.abs(eta_sc)
    ieta = np.sign(eta_sc).astype(np.int64) * np.minimum(np.floor(aeta / EB_CRYSTAL_ETA).astype(np.int64) + 1, 85)
    iphi = np.floor(np.degrees(phi_sc) + 10.0).astype(np.int64) % 360 + 1
    r_cm = 100.0 * ECAL_Z_M / np.maximum(np.abs(np.sinh(eta_sc)), 1e-6)
    ix = np.clip(np.floor(r_cm * np.cos(phi_sc) / EE_PITCH_CM).astype(np.int64) + 51, 1, 100)
    iy = np.clip(np.floor(r_cm * np.sin(phi_sc) / EE_PITCH_CM).astype(np.int64) + 51, 1, 100)
    eb = aeta < EB_ETA_MAX
    return np.where(eb, ieta, ix), np.where(eb, iphi, iy)


def seed_indices(
    eta: np.ndarray, delta_eta_sc: np.ndarray, phi: np.ndarray, pt: np.ndarray, charge: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Electron ``seediEtaOriX``, ``seediPhiOriY`` from its written fields (``eta``, ``deltaEtaSC``, ``phi``,
    ``pt``, ``charge``), in float32 as NanoAOD stores them. Example in the module docstring."""
    f32 = np.float32
    eta_sc = np.asarray(eta, f32) + np.asarray(delta_eta_sc, f32)
    return seed_crystal(eta_sc, sc_phi(np.asarray(phi, f32), eta_sc, np.asarray(pt, f32), charge))
