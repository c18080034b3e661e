"""The analyses' report: paired statistic, oversampling-test pulls on toys with known truth, report files."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("coffea")

from analyses import report, statistics
from analyses.analysis import Analysis


class Toy(Analysis):
    """Histograms of ``m_ll`` only (60-180 GeV, 12 GeV bins); ``sr``: m_ll < 100."""

    name = signal = "toy"
    cut_names = ("sr",)
    ranges = {"m_ll": (10, 60.0, 180.0)}


def table(x: np.ndarray, gen: np.ndarray, k: int, w: float) -> dict:
    """An :meth:`Analysis.table` of toy events: ``x`` the m_ll per (flash) event, NaN = not selected."""
    presel = np.isfinite(x)
    sr = presel & (x < 100.0)
    return {"gen": gen, "k": k, "w": np.full(len(x), w / k), "var": {"m_ll": x}, "cuts": {"all": presel, "sr": sr},
            "hist_regions": {"presel": presel, "sr": sr}, "events": len(x), "gen_events": len(np.unique(gen))}


def toy_passes(rng: np.random.Generator, k: int, toys: int, n: int, sigma: float) -> dict:
    """Passes of ``toys`` datasets: FullSim on ``n`` gen events (25% selected, m_ll uniform over the
    histogram, smeared by ``sigma``), flash from the first ``n // k`` with ``k`` replicas smeared the same way
    (so both estimate the same truth), weights scaled by ``n / (n // k)``; filled as :class:`report.Passes`."""
    ana = Toy(dnn_path="/nonexistent/dnn")
    out: dict = {key: {} for key in ("fullsim", "flash", "flash_naive", "diff", "diff_naive")}
    for i in range(toys):
        truth = np.where(rng.random(n) < 0.25, rng.uniform(55.0, 185.0, n), np.nan)
        m = n // k
        full = table(truth + rng.normal(0.0, sigma, n), np.arange(n), 1, 1.0)
        fl = table(np.repeat(truth[:m], k) + rng.normal(0.0, sigma, m * k), np.repeat(np.arange(m), k), k, n / m)
        ds = f"toy{i}"
        out["fullsim"][ds] = {**ana.fill([(full, 1.0)]), "gen_events": n}
        out["flash"][ds] = {**ana.fill([(fl, 1.0)]), "gen_events": m}
        out["flash_naive"][ds] = ana.fill([(fl, 1.0)], naive=True)
        out["diff"][ds] = ana.fill([(fl, 1.0), (full, -1.0)])
        out["diff_naive"][ds] = ana.fill([(fl, 1.0), (full, -1.0)], naive=True)
    return out


@pytest.mark.parametrize("k", [6, 10])
def test_oversampling_pulls_cover_with_grouped_errors_and_not_naive(k):
    test = report.oversampling_test(toy_passes(np.random.default_rng(k), k, toys=48, n=40_000, sigma=6.0), k, ["m_ll"])
    grouped, naive = test["pulls_oversampled"], test["pulls_naive"]
    assert grouped["bins"] > 400
    assert abs(grouped["width"] - 1.0) < 0.1, grouped
    assert abs(grouped["mean"]) < 0.1, grouped
    if k == 10:
        assert naive["width"] >= 1.3, naive
    assert naive["width"] > grouped["width"] + 0.15
    # K replicas of 1/K of the gen events: more than one but fewer than K equivalent events per gen event
    gain = test["effective_statistics"]["m_ll"]["gain"]
    assert 1.5 < gain < k


def test_paired_statistic_zero_on_identical_inputs_and_unit_on_independent_smearing():
    ana = Toy(dnn_path="/nonexistent/dnn")
    rng = np.random.default_rng(5)
    n = 20_000
    truth = np.where(rng.random(n) < 0.5, 60.0 + rng.exponential(25.0, n), np.nan)
    full = table(truth + rng.normal(0.0, 8.0, n), np.arange(n), 1, 1.0)
    same = ana.fill([(full, 1.0), (full, -1.0)])["hists"]["m_ll"][{"region": "presel"}]
    h = ana.fill([(full, 1.0)])["hists"]["m_ll"][{"region": "presel"}]
    c = statistics.paired(same, h, h)
    assert c["chi2"] == 0.0 and c["ndf"] == 10
    # flash K=1 of the same gen events with its own smearing: the paired chi2/ndf is ~1, while
    # adding both variances as if independent gives ~0.7 (the correlation ignored)
    chi_p, chi_i, ndf = 0.0, 0.0, 0
    for _ in range(40):
        full = table(truth + rng.normal(0.0, 8.0, n), np.arange(n), 1, 1.0)
        h = ana.fill([(full, 1.0)])["hists"]["m_ll"][{"region": "presel"}]
        fl = table(truth + rng.normal(0.0, 8.0, n), np.arange(n), 1, 1.0)
        hf = ana.fill([(fl, 1.0)])["hists"]["m_ll"][{"region": "presel"}]
        diff = ana.fill([(fl, 1.0), (full, -1.0)])["hists"]["m_ll"][{"region": "presel"}]
        c = statistics.paired(diff, hf, h, statistics.MIN_ENTRIES)
        chi_p += c["chi2"]
        ndf += c["ndf"]
        chi_i += float(np.sum(statistics.pulls(hf, h) ** 2))
    assert 0.85 < chi_p / ndf < 1.2  # 1.10 over 400 bins
    assert chi_i / ndf < 0.8  # 0.68


def test_write_report_files_and_keys(tmp_path):
    rng = np.random.default_rng(2)
    k1 = toy_passes(rng, 1, toys=1, n=3000, sigma=6.0)
    k1["timing"] = {"fullsim": {"seconds": 1.0, "events": 3000}, "flash": {"seconds": 2.0, "events": 3000}}
    k1["resources"] = {"wall_s": 3.0, "workers": 1, "peak_rss_mb": {"this process": 500.0}, "peak_rss_is_this_pass": True}
    k6 = toy_passes(rng, 6, toys=1, n=3000, sigma=6.0)
    k6["timing"] = {"fullsim": {"seconds": 1.0, "events": 3000}, "flash": {"seconds": 2.0, "events": 3000}}
    k6["resources"] = dict(k1["resources"])
    r = report.write_report("toy", k1, {6: k6}, {"signal": ["toy0"], "background": []}, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert {"statistic", "comparison", "cutflow", "yields", "oversampling", "throughput", "plots"} <= data.keys()
    assert data["statistic"].startswith("paired per-gen-event differences")
    assert set(data["comparison"]) == {"signal/presel/m_ll", "signal/sr/m_ll"}  # empty histograms skipped
    c = data["comparison"]["signal/presel/m_ll"]
    assert {"paired", "paired_min20", "independent", "ks_binned"} <= c.keys() and c["paired"]["ndf"] == 10
    assert data["oversampling"]["K6"]["pulls_oversampled"]["bins"] >= 10
    assert data["throughput"]["K1"]["flash"]["events_per_worker_second"] == pytest.approx(1500.0)
    assert [row["region"] for row in data["cutflow"] if row["sample"] == "toy0"] == ["all", "sr"]
    for p in data["plots"]:
        assert (tmp_path / p).stat().st_size > 5000
    assert len(data["plots"]) == 3  # presel, sr, the K=6 pull distribution
    md = (tmp_path / "report.md").read_text()
    for section in ("## (a)", "### Cutflow", "## (b)", "## (c) throughput", "![plots/toy_signal_presel_m_ll.png]"):
        assert section in md
    assert r["oversampling"].keys() == {"K6"}


def test_limits_and_subsets():
    assert report.limits({"a": 100, "b": 50, "c": 10}, 120) == {"a": 100, "b": 20, "c": 0}
    assert report.limits({"a": 100}, None) == {"a": 100}
    assert report.subset({"a": 100, "b": 20}, 6) == {"a": 16, "b": 3}


@pytest.mark.slow
def test_report_command_on_a_reference_sample(tt_sample, tmp_path):
    """The command end to end (shipped models, in this process): ttbar as the signal dataset."""
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"zh_llbb": [str(tt_sample)]}))
    r = report.main(["--analysis", "zh_llbb", "--fileset", str(fs), "--events", "200", "--replicas", "2",
                     "--out", str(tmp_path / "rep")])
    assert r["events_per_dataset"] == {"zh_llbb": 200}
    assert r["throughput"]["K1"]["flash"]["events"] == 200 and r["throughput"]["K2"]["flash"]["events"] == 200
    assert r["oversampling"]["K2"]["gen_events"] == {"zh_llbb": 100}
    rows = {row["region"]: row for row in r["cutflow"] if row["sample"] == "zh_llbb"}
    assert rows["all"]["fullsim"]["entries"] == rows["all"]["flash"]["entries"] == 200
    assert (tmp_path / "rep" / "report.md").exists()
