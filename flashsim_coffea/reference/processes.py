"""Pythia 8 settings of the reference processes (pp at 13.6 TeV, CMS CP5-like tune).

Each process is a list of Pythia ``readString`` settings on top of :data:`COMMON`.
The cross-section recorded in a file's metadata is Pythia's own estimate
(``Info.sigmaGen``) at leading order: good for relative normalisation of the
reference analyses, not a precision number.

The CP5 tune (CMS, arXiv:1903.12179) is applied as published except for the PDF:
CP5 uses NNPDF3.1 NNLO via LHAPDF, which is not available offline here, so Pythia's
built-in NNPDF2.3 QCD+QED LO set is used. Particles with c*tau > 10 mm (K0S, Lambda,
...) are left undecayed, as in CMS generator configurations (Geant4 decays them).

Example:
    >>> sorted(PROCESSES)
    ['dy', 'dy_mumu', 'dy_mumu_m105', 'qcd', 'ttbar', 'vbf_hmumu', 'wjets', 'zh_llbb']
    >>> PROCESSES["dy"][1]  # Pythia settings on top of COMMON
    ['WeakSingleBoson:ffbar2gmZ = on', 'PhaseSpace:mHatMin = 50.', '23:onMode = off', '23:onIfAny = 11 13 15']

References:
    CMS, "Extraction and validation of a new set of CMS PYTHIA8 tunes from
    underlying-event measurements", Eur. Phys. J. C 80 (2020) 4, arXiv:1903.12179.
"""

from __future__ import annotations

#: Beam energy and tune, shared by every process.
COMMON: list[str] = [
    "Beams:eCM = 13600.",
    "Tune:pp = 14",
    "Tune:ee = 7",
    "MultipartonInteractions:ecmPow = 0.03344",
    "MultipartonInteractions:bProfile = 2",
    "MultipartonInteractions:pT0Ref = 1.41",
    "MultipartonInteractions:coreRadius = 0.7634",
    "MultipartonInteractions:coreFraction = 0.63",
    "ColourReconnection:range = 5.176",
    "SigmaTotal:zeroAXB = off",
    "SpaceShower:alphaSorder = 2",
    "SpaceShower:alphaSvalue = 0.118",
    "SigmaProcess:alphaSvalue = 0.118",
    "SigmaProcess:alphaSorder = 2",
    "MultipartonInteractions:alphaSvalue = 0.118",
    "MultipartonInteractions:alphaSorder = 2",
    "TimeShower:alphaSorder = 2",
    "TimeShower:alphaSvalue = 0.118",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowProcess = 0",
    "Next:numberShowInfo = 0",
    "Print:quiet = on",
]

def _drell_yan(m_min: int, leptons: str) -> list[str]:
    """Pythia settings of Z/γ* -> ll above ``m_min`` GeV, Z decays to the PDG ids ``leptons``."""
    return ["WeakSingleBoson:ffbar2gmZ = on", f"PhaseSpace:mHatMin = {m_min}.", "23:onMode = off",
            f"23:onIfAny = {leptons}"]


#: Process name -> (description, Pythia settings).
PROCESSES: dict[str, tuple[str, list[str]]] = {
    "ttbar": (
        "top-quark pair production, all decays",
        ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
    ),
    "dy": (
        "Z/gamma* -> ee, mumu, tautau with m(ll) > 50 GeV; Z+jets from the parton shower",
        _drell_yan(50, "11 13 15"),
    ),
    "dy_mumu": (
        "Z/gamma* -> mumu with m(ll) > 50 GeV (the dy muon channel alone: three times the FSR "
        "photons next to muons per event, for training statistics)",
        _drell_yan(50, "13"),
    ),
    "dy_mumu_m105": (
        "Z/gamma* -> mumu with m(ll) > 105 GeV (the high-mass tail of dy: muons of 50-70 GeV and "
        "hard FSR photons collinear with them, rare at the Z pole)",
        _drell_yan(105, "13"),
    ),
    "zh_llbb": (
        "ZH associated production, Z -> ee/mumu, H -> bb",
        [
            "HiggsSM:ffbar2HZ = on",
            "25:m0 = 125.0",
            "25:onMode = off",
            "25:onIfMatch = 5 -5",
            "23:onMode = off",
            "23:onIfAny = 11 13",
        ],
    ),
    "vbf_hmumu": (
        "vector-boson-fusion Higgs production, H -> mumu",
        [
            "HiggsSM:ff2Hff(t:ZZ) = on",
            "HiggsSM:ff2Hff(t:WW) = on",
            "25:m0 = 125.0",
            "25:onMode = off",
            "25:onIfMatch = 13 -13",
        ],
    ),
    "qcd": (
        "QCD multijet, pT-hat > 15 GeV, biased as pT-hat^4.5 (events carry weights)",
        [
            "HardQCD:all = on",
            "PhaseSpace:pTHatMin = 15.",
            "PhaseSpace:bias2Selection = on",
            "PhaseSpace:bias2SelectionPow = 4.5",
            "PhaseSpace:bias2SelectionRef = 15.",
        ],
    ),
    "wjets": (
        "W -> e nu, mu nu, tau nu; W+jets from the parton shower",
        ["WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 13 15"],
    ),
}


def settings(process: str, seed: int) -> list[str]:
    """All Pythia settings for ``process`` with random seed ``seed`` (1 <= seed < 900000000).

    Raises:
        ValueError: naming the process, if it is unknown.

    Example:
        >>> settings("ttbar", seed=7)[-4:]
        ['Top:gg2ttbar = on', 'Top:qqbar2ttbar = on', 'Random:setSeed = on', 'Random:seed = 7']
        >>> settings("ww", seed=7)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: unknown process 'ww'; choose from dy, dy_mumu, ...
    """
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; choose from {', '.join(sorted(PROCESSES))}")
    return [*COMMON, *PROCESSES[process][1], "Random:setSeed = on", f"Random:seed = {seed}"]
