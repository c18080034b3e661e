"""The analyses' histograms: the specs (label, binning) of every variable, histogram and cutflow booking.

Every histogram has a ``region`` category axis (:data:`HIST_REGIONS`) and Weight storage, so
oversampled flash events can be filled with their grouped variances.

Example:
    >>> h = make_hist("m_ll", *HISTS["m_ll"])
    >>> [ax.name for ax in h.axes], h.axes["m_ll"].size
    (['region', 'm_ll'], 40)
"""

from __future__ import annotations

import hist

#: name -> (axis label, bins, low, high); analyses override ranges via ``Analysis.ranges``.
HISTS: dict[str, tuple[str, int, float, float]] = {
    "m_ll": (r"$m_{\mu\mu}$ [GeV]", 40, 60.0, 180.0),
    "pt_ll": (r"$p_T^{\mu\mu}$ [GeV]", 30, 0.0, 300.0),
    "m_jj": (r"$m_{jj}$ [GeV]", 40, 0.0, 800.0),
    "deta_jj": (r"$|\Delta\eta_{jj}|$", 30, 0.0, 9.0),
    "pt_mu1": (r"leading muon $p_T$ [GeV]", 30, 0.0, 300.0),
    "eta_mu1": (r"leading muon $\eta$", 24, -2.4, 2.4),
    "pt_j1": (r"leading jet $p_T$ [GeV]", 30, 0.0, 450.0),
    "eta_j1": (r"leading jet $\eta$", 30, -4.7, 4.7),
    "pt_j2": (r"second jet $p_T$ [GeV]", 30, 0.0, 300.0),
    "eta_j2": (r"second jet $\eta$", 30, -4.7, 4.7),
    "btag_j1": (r"leading jet DeepFlavB", 20, 0.0, 1.0),
    "btag_j2": (r"second jet DeepFlavB", 20, 0.0, 1.0),
    "njets": (r"jet multiplicity", 10, -0.5, 9.5),
    "dnn": (r"DNN output $\ln[s/(1-s)]$", 40, -10.0, 10.0),
}
#: histograms drawn with a logarithmic y axis.
LOG_SCALE = ("dnn",)
#: regions in which the histograms are filled.
HIST_REGIONS = ("presel", "sr")


def make_hist(name: str, label: str, bins: int, lo: float, hi: float) -> hist.Hist:
    """A Weight-storage histogram with a region category axis.

    Example:
        >>> h = make_hist("x", "x [GeV]", 2, 0.0, 2.0)
        >>> h.fill(region="sr", x=[0.5, 1.5, 1.5], weight=2.0)[{"region": "sr"}].values().tolist()
        [2.0, 4.0]
    """
    return hist.Hist(
        hist.axis.StrCategory(list(HIST_REGIONS), name="region"),
        hist.axis.Regular(bins, lo, hi, name=name, label=label),
        storage=hist.storage.Weight(),
    )


def make_cutflow(regions: list[str]) -> hist.Hist:
    """A Weight-storage cutflow: one bin per region (cut), in order.

    Example:
        >>> cf = make_cutflow(["all", "sr"])
        >>> cf.fill(region=["all", "all", "sr"]).values().tolist()
        [2.0, 1.0]
    """
    return hist.Hist(hist.axis.StrCategory(regions, name="region"), storage=hist.storage.Weight())
