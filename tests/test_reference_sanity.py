"""Slow: the reference detector's physics figures on 5k events per process (issue acceptance)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.mark.slow
def test_reference_detector_is_cms_like():
    spec = importlib.util.spec_from_file_location(
        "reference_sanity", Path(__file__).resolve().parents[1] / "benchmarks" / "reference_sanity.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figures = mod.figures(events=5000, seed=1, workers=2)
    for name, value in figures.items():
        lo, hi = mod.RANGES[name]
        assert lo <= value <= hi, f"{name}: {value:.4f} outside [{lo}, {hi}]"
