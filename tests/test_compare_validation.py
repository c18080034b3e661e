"""benchmarks/compare_validation.py: two reports side by side, and the refusal of reports of other samples."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compare_validation


def _report(path: Path, auc: float, hgb: float, events: int = 20000) -> Path:
    d = {"files": ["zh_llbb_a.root"], "events": events, "replicas": 4, "seed": 1,
         "sources": {"Muon_genmuon": {"auc": auc, "auc_sd": 0.004, "auc_hgb": hgb, "median_w1_over_sigma": 0.0094,
                                     "efficiency": {"fullsim": 0.757, "flash": 0.755}}},
         "fields": {"Muon": {"classifiers": {"mlp": {"mean": 0.539}, "hgb": {"mean": hgb + 0.06}},
                             "single": {"dxy": {"auc": 0.52}, "tunepRelPt": {"auc": 0.601}}}}}
    path.mkdir()
    (path / "validation.json").write_text(json.dumps(d))
    return path


def test_two_reports_side_by_side(tmp_path, capsys):
    old, new = _report(tmp_path / "old", 0.506, 0.694), _report(tmp_path / "new", 0.503, 0.650)
    compare_validation.main([str(old), str(new / "validation.json")])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["source", "old", "AUC"]
    row = out[1].split()
    assert row[0] == "Muon_genmuon" and row[1:4] == ["0.506", "±", "0.004"] and "0.694" in row and "0.650" in row
    assert "0.757/0.755" in row
    coll = [line for line in out if line.startswith("Muon ")][0].split()
    assert coll[1:3] == ["0.539", "0.754"] and coll[3:5] == ["tunepRelPt", "0.601"] and "0.710" in coll


def test_reports_of_other_samples_are_refused(tmp_path, capsys):
    a, b = _report(tmp_path / "a", 0.5, 0.6), _report(tmp_path / "b", 0.5, 0.6, events=240000)
    with pytest.raises(SystemExit, match="differ in 'events'"):
        compare_validation.main([str(a), str(b)])
    compare_validation.main([str(a), str(b), "--force", "--markdown", "--names", "x", "y"])
    assert capsys.readouterr().out.startswith("| source | x AUC |")
    with pytest.raises(SystemExit, match="no report"):
        compare_validation.main([str(tmp_path / "missing.json")])
