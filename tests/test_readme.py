"""The README's Python examples run as written (from the repository root, on a ../shared NanoAOD file)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_examples_run(nanoaod_dir, monkeypatch):
    pytest.importorskip("coffea")
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    if not (ROOT.parent / "shared" / "data" / "nanoaod").samefile(nanoaod_dir):
        pytest.skip("the examples read ../shared/data/nanoaod beside the repository")
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    flash = namespace["flash"]
    assert len(flash) == 200 * 10 and {"Jet", "Muon", "MET", "FlashSim"} <= set(flash.fields)
    h = namespace["out"]["jet_pt"]
    assert h.sum(flow=True).value > 0 and (h.variances(flow=True) > 0).any()


def test_the_readme_fileset_example_is_valid_json():
    (block,) = re.findall(r"```json\n(.*?)```", README, re.S)
    fileset = json.loads(block)
    assert fileset["zh_llbb"]["metadata"]["xsec_pb"] == 0.052 and fileset["ttbar"] == ["ttbar.root"]
