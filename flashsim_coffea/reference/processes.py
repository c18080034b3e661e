"""Pythia 8 settings of the reference processes (pp at 13.6 TeV, CMS CP5-like tune).

Each process is a list of Pythia ``readString`` settings on top of :data:`COMMON`.
The cross-section recorded in a file's metadata is Pythia's own estimate
(``Info.sigmaGen``) at leading order: good for relative normalisation of the
reference analyses, not a precision number.

The CP5 tune (CMS, arXiv:1903.12179) is applied as published except for the PDF:
CP5 uses NNPDF3.1 NNLO via LHAPDF, which is not available offline here, so Pythia's
built-in NNPDF2.3 QCD+QED LO set is used. Particles with c*tau > 10 mm (K0S, Lambda,
...) are left undecayed, as in CMS generator configurations (Geant4 decays them).

Some processes pass every event through a generator-level filter (:data:`FILTERS`, functions
of :mod:`.filters`) that rejects it, keeps it, or keeps it with a probability and a weight;
their metadata carries the filter efficiency and the cross-section times it.

Pythia 8.317 has no electroweak ``qq -> qqZ`` (its electroweak
processes are 2 -> 1 and 2 -> 2: ``WeakSingleBoson``, ``WeakDoubleBoson``,
``WeakBosonAndParton``, ``WeakBosonExchange`` (t-channel exchange, no Z produced); the only
weak-boson-fusion 2 -> 3 is ``HiggsSM:ff2Hff``), so ``vbf_x_mumu`` stands in for the electroweak
Z+2 jets: a colour-singlet SCALAR X made by WW/ZZ fusion, decaying to mumu with a mass
spectrum falling over 105-200 GeV as Drell-Yan's does. It has the VBF tagging-jet topology; it lacks the spin-1
muon angles, the bremsstrahlung-like and multiperipheral diagrams and their (negative)
interference, and Pythia's cross-section for X means nothing: the sample is normalised to the
CMS measurement instead (:data:`NORMALISATION`).

Inclusive Drell-Yan makes its jets in the shower, and few of them where the analyses' signal regions
are: ``dy_mumu_jet_zh`` / ``dy_mumu_jet_vbf`` start from Z/γ* + one parton at matrix-element level with a
pT-hat bias (~25x the signal-region events per CPU hour of the filtered inclusive sample), and are
normalised to inclusive Drell-Yan inside a generator-level image of the signal region
(:data:`NORMALISATION`, :func:`flashsim_coffea.reference.filters.in_signal_region`), since the matrix
element starting the shower at pT-hat leaves out part of it.

Example:
    >>> sorted(PROCESSES)  # doctest: +NORMALIZE_WHITESPACE
    ['dy', 'dy_mumu', 'dy_mumu_jet_vbf', 'dy_mumu_jet_zh', 'dy_mumu_m105', 'dy_mumu_vbf', 'dy_mumu_zh',
     'hbb_boosted', 'qcd', 'ttbar', 'ttbar_boosted', 'ttbar_dilep', 'ttbar_dilep_vbf', 'ttbar_dilep_zh',
     'vbf_hmumu', 'vbf_x_mumu', 'wh_lvbb', 'wjets', 'zh_boosted', 'zh_llbb', 'zll_boosted', 'zz_llbb']
    >>> sorted(FILTERS), FILTERS["dy_mumu_vbf"].__name__  # doctest: +NORMALIZE_WHITESPACE
    (['dy_mumu_jet_vbf', 'dy_mumu_jet_zh', 'dy_mumu_vbf', 'dy_mumu_zh', 'ttbar_dilep_vbf', 'ttbar_dilep_zh',
      'vbf_x_mumu'],
     'vbf_dijet')
    >>> PROCESSES["dy"][1]  # Pythia settings on top of COMMON
    ['WeakSingleBoson:ffbar2gmZ = on', 'PhaseSpace:mHatMin = 50.', '23:onMode = off', '23:onIfAny = 11 13 15']

References:
    CMS, "Extraction and validation of a new set of CMS PYTHIA8 tunes from
    underlying-event measurements", Eur. Phys. J. C 80 (2020) 4, arXiv:1903.12179.
    CMS, "Electroweak production of two jets in association with a Z boson in proton-proton
    collisions at 13 TeV", Eur. Phys. J. C 78 (2018) 589, arXiv:1712.09814.
"""

from __future__ import annotations

from collections.abc import Callable

from flashsim_coffea.reference import filters

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

def _drell_yan(m_min: int, leptons: str, m_max: int | None = None) -> list[str]:
    """Pythia settings of Z/γ* -> ll above ``m_min`` GeV (below ``m_max``), Z decays to the PDG ids ``leptons``."""
    upper = [f"PhaseSpace:mHatMax = {m_max}."] if m_max is not None else []
    return ["WeakSingleBoson:ffbar2gmZ = on", f"PhaseSpace:mHatMin = {m_min}.", *upper, "23:onMode = off",
            f"23:onIfAny = {leptons}"]


def _z_jet(m_min: int, m_max: int, pt_hat_min: int, power: float) -> list[str]:
    """Pythia settings of Z/γ* (-> mumu, ``m_min`` < m < ``m_max`` GeV) + one parton at matrix-element
    level (q qbar -> Z g, q g -> Z q) with pT-hat > ``pt_hat_min`` GeV, the selection biased as
    (pT-hat / ``pt_hat_min``)^``power``: events carry weights 1 / that."""
    return ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "23:onMode = off",
            "23:onIfAny = 13", f"23:mMin = {m_min}.", f"23:mMax = {m_max}.", f"PhaseSpace:pTHatMin = {pt_hat_min}.",
            "PhaseSpace:bias2Selection = on", f"PhaseSpace:bias2SelectionPow = {power}",
            f"PhaseSpace:bias2SelectionRef = {pt_hat_min}."]


_TTBAR = ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]
_ZH_BB = ["HiggsSM:ffbar2HZ = on", "25:m0 = 125.0", "25:onMode = off", "25:onIfMatch = 5 -5", "23:onMode = off"]


#: Process name -> (description, Pythia settings).
PROCESSES: dict[str, tuple[str, list[str]]] = {
    "ttbar": (
        "top-quark pair production, all decays",
        _TTBAR,
    ),
    "ttbar_dilep": (
        "top-quark pairs, both W -> e nu, mu nu, tau nu (Pythia's cross-section includes BR(W -> l nu)^2)",
        [*_TTBAR, "24:onMode = off", "24:onIfAny = 11 13 15"],
    ),
    "ttbar_dilep_vbf": (
        "top-quark pairs, both W -> mu nu or tau nu, filtered for the VBF H -> mumu selection with "
        "105 < m(mumu) < 200 GeV (filters.vbf_dijet_mll): the top background where the VBF signal region is",
        # W -> e nu left out: an electron never makes the muon pair (2.25x the dimuon events per event made)
        [*_TTBAR, "24:onMode = off", "24:onIfAny = 13 15"],
    ),
    "ttbar_dilep_zh": (
        "top-quark pairs, both W -> mu nu or tau nu, filtered for the ZH -> mumu bb selection with "
        "50 < m(mumu) < 130 GeV (filters.zh_dijet_mll): the top background where the ZH signal region is",
        [*_TTBAR, "24:onMode = off", "24:onIfAny = 13 15"],
    ),
    "ttbar_boosted": (
        "top-quark pairs with pT-hat > 400 GeV, all decays (boosted tops: a TRAINING process)",
        [*_TTBAR, "PhaseSpace:pTHatMin = 400."],
    ),
    "hbb_boosted": (
        "Higgs + jet through the top loop with pT-hat > 250 GeV, H -> bb or cc (boosted H -> bb/cc: a TRAINING "
        "process, so that the fat-jet flows see the Higgs jets zh_boosted validates; ZH is never trained on)",
        ["HiggsSM:gg2Hg(l:t) = on", "HiggsSM:qg2Hq(l:t) = on", "HiggsSM:qqbar2Hg(l:t) = on", "25:m0 = 125.0",
         "25:onMode = off", "25:onIfAny = 4 5", "PhaseSpace:pTHatMin = 250."],
    ),
    "zll_boosted": (
        "Z + one parton with pT-hat > 250 GeV, Z -> ee or mumu, 70 < m(ll) < 120 GeV (a boosted Z -> ll, its "
        "leptons inside one AK8 jet: a TRAINING process, so that the fat-jet flows see the jets made of a Z's "
        "leptons that zh_boosted validates; ZH is never trained on)",
        ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "23:onMode = off", "23:onIfAny = 11 13",
         "23:mMin = 70.", "23:mMax = 120.", "PhaseSpace:pTHatMin = 250."],
    ),
    "wh_lvbb": (
        "WH associated production, W -> e nu, mu nu, tau nu, H -> bb (H -> bb at low boost, its two b jets "
        "apart: a TRAINING process for the jets without a GenJet beside b jets; ZH is never trained on)",
        ["HiggsSM:ffbar2HW = on", "25:m0 = 125.0", "25:onMode = off", "25:onIfMatch = 5 -5", "24:onMode = off",
         "24:onIfAny = 11 13 15"],
    ),
    "zz_llbb": (
        "ZZ pairs, each Z -> bb, ee or mumu (43 % ll bb, 48 % bb bb, 9 % four leptons): Z leptons inside and beside "
        "b jets, as in ZH -> ll bb, a TRAINING process for the jets without a GenJet; ZH is never trained on",
        ["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 5 11 13"],
    ),
    "dy_mumu_vbf": (
        "Z/gamma* -> mumu with 105 < m(ll) < 200 GeV, filtered for the VBF H -> mumu selection "
        "(two muons, a VBF-like gen-jet pair: filters.vbf_dijet)",
        _drell_yan(105, "13", 200),
    ),
    "dy_mumu_zh": (
        "Z/gamma* -> mumu with 70 < m(ll) < 120 GeV, filtered for the ZH -> mumu bb selection "
        "(two muons, a central gen-jet pair of 50-250 GeV: filters.zh_dijet)",
        _drell_yan(70, "13", 120),
    ),
    "dy_mumu_jet_zh": (
        "Z/gamma* -> mumu + 1 parton (matrix element), 70 < m(ll) < 120 GeV, pT-hat > 15 GeV biased as "
        "pT-hat^1.5 (weights), filtered as dy_mumu_zh: the ZH background where its signal region is",
        # power 1.5: most effective signal-region events per tried event (0.0019; raw 0.0030; powers 0 / 1 / 2:
        # 0.0010 / 0.0018 / 0.0017), reweighted from 2000 events at power 2 (benchmarks/background_yield.py)
        _z_jet(70, 120, 15, 1.5),
    ),
    "dy_mumu_jet_vbf": (
        "Z/gamma* -> mumu + 1 parton (matrix element), 105 < m(ll) < 200 GeV, pT-hat > 20 GeV biased as "
        "pT-hat^1 (weights), filtered as dy_mumu_vbf: the VBF background where its signal region is",
        # power 1: effective signal-region events per tried event 0.0037 (raw 0.0177; powers 0 / 2: 0.0038 /
        # 0.0022, raw 0.0107 / 0.0265), reweighted from 2000 events at power 2
        _z_jet(105, 200, 20, 1.0),
    ),
    "vbf_x_mumu": (
        "STAND-IN for electroweak Z+2 jets (qq -> qqZ, Z -> mumu, absent from Pythia): a scalar made by "
        "WW/ZZ fusion decaying to mumu, 105 < m < 200 GeV, filtered as dy_mumu_vbf; normalised to the "
        "CMS EW Zjj cross-section (processes.NORMALISATION)",
        [
            "HiggsSM:ff2Hff(t:ZZ) = on",
            "HiggsSM:ff2Hff(t:WW) = on",
            # a Breit-Wigner peaking at the lower edge: m(mumu) falls over 105-200 GeV like Drell-Yan's
            # (deciles 10/25/50/75/90 %: 106.7 109.7 116.6 130.1 152.2 GeV; dy_mumu_vbf 106.5 109.0
            # 116.0 130.5 151.9; 2000 hard-process events each)
            "25:m0 = 105.5",
            "25:mWidth = 25.",
            "25:doForceWidth = on",
            "25:mMin = 105.",
            "25:mMax = 200.",
            "25:onMode = off",
            "25:onIfMatch = 13 -13",
        ],
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
    "zh_boosted": (
        "ZH with pT-hat > 250 GeV, Z -> nunu/ee/mumu, H -> bb (boosted H -> bb: a VALIDATION process, "
        "never used in training)",
        [*_ZH_BB, "23:onIfAny = 11 12 13 14 16", "PhaseSpace:pTHatMin = 250."],
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


#: Process name -> generator-level filter (a function of ``pythia.event``: its keep probability).
FILTERS: dict[str, Callable[..., float]] = {
    "dy_mumu_vbf": filters.vbf_dijet,
    "dy_mumu_zh": filters.zh_dijet,
    "dy_mumu_jet_vbf": filters.vbf_dijet,
    "dy_mumu_jet_zh": filters.zh_dijet,
    "vbf_x_mumu": filters.vbf_dijet,
    "ttbar_dilep_vbf": filters.vbf_dijet_mll,
    "ttbar_dilep_zh": filters.zh_dijet_mll,
}

#: CMS EW Zjj, Z -> ll (one lepton flavour), m_ll > 50, m_jj > 120, pT_j > 25 GeV, abs(eta_j) < 5, 13 TeV:
#: 534 +- 20 (stat) +- 57 (syst) fb (arXiv:1712.09814), times the share of 105 < m(mumu) < 200 GeV in
#: m(mumu) > 50 GeV, taken from Drell-Yan: sigma(105-200) / sigma(> 50) = 38.96 / 1617.1 pb = 0.0241
#: (Pythia 8.317, the settings of this module at 13.6 TeV, 4000 hard-process events each, +-1 %).
_EWK_ZJJ_PB = 0.534 * 0.0241

#: Inclusive Z/gamma* -> mumu (the dy_mumu_zh / dy_mumu_vbf settings, shower, no filter) inside the
#: generator-level images of the two signal regions (filters.SIGNAL_REGIONS): what the Z+jet samples are
#: normalised to, since their matrix element leaves out part of these regions (docs/reference_samples.md).
#: ZH: 9.59 +- 0.60 pb (``python benchmarks/fiducial_xsec.py --process dy_mumu_zh --region zh --events 40000
#: --seed 11``: 255 of 40000 events, sigma 1505 pb; Pythia 8.317, the settings of this module at 13.6 TeV).
_DY_ZH_SR_PB = 9.59
#: VBF: 0.098 +- 0.014 pb (``python benchmarks/fiducial_xsec.py --process dy_mumu_vbf --region vbf --events 20000
#: --seed 12``: 51 of 20000 events, sigma 38.6 pb).
_DY_VBF_SR_PB = 0.098

#: Process name -> (cross-section in pb of the events inside a fiducial region, the fiducial test of
#: ``pythia.event``, source): for a process whose Pythia cross-section means nothing, the sample's
#: cross-section is ``sigma_fid * kept / (tried events in the fiducial region)``.
NORMALISATION: dict[str, tuple[float, Callable[..., bool], str]] = {
    "vbf_x_mumu": (_EWK_ZJJ_PB, filters.ewk_zjj_fiducial,
                   "CMS EW Zjj 534 fb (arXiv:1712.09814) x DY share of 105 < m(mumu) < 200 GeV (0.0241)"),
    "dy_mumu_jet_zh": (_DY_ZH_SR_PB, filters.zh_signal_region,
                       "inclusive Drell-Yan (dy_mumu_zh settings) in the generator-level ZH signal region"),
    "dy_mumu_jet_vbf": (_DY_VBF_SR_PB, filters.vbf_signal_region,
                        "inclusive Drell-Yan (dy_mumu_vbf settings) in the generator-level VBF signal region"),
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
