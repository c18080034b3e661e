"""The sample catalogue: record, verify (modified and missing files), fileset, CLI, concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flashsim_coffea import catalog
from flashsim_coffea.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FLASHSIM_SHARED_NANOAOD", ROOT.parent / "shared" / "data" / "nanoaod"))


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_record_verify_fileset(tmp_path):
    db = tmp_path / "c.sqlite"
    a = _file(tmp_path / "a.root", "a")
    b = _file(tmp_path / "b.root", "b")
    f = _file(tmp_path / "f.root", "f")
    catalog.record(a, {"process": "dy", "events": 10, "seed": 1, "xsec_pb": 100.0, "sumw": 10.0}, kind="generate",
                   command="flashsim generate --process dy", path=db)
    catalog.record(b, {"process": "dy", "events": 30, "seed": 2, "xsec_pb": 200.0, "sumw": 30.0}, kind="generate",
                   path=db)
    catalog.record(f, {"process": "dy", "events": 10, "flash_events": 40, "replicas": 4, "seed": 3, "xsec_pb": 100.0,
                       "sumw": 40.0, "models_hash": "abc", "inputs": [str(a)]}, kind="simulate", path=db)
    rows = catalog.rows(db)
    assert [(r["id"], r["kind"], r["events"], r["seed"]) for r in rows] == [
        (1, "generate", 10, 1), (2, "generate", 30, 2), (3, "simulate", 10, 3)]
    assert rows[0]["sha256"] == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"  # sha256("a")
    assert rows[0]["command"] == "flashsim generate --process dy" and rows[2]["inputs"] == str(a)
    assert rows[2]["replicas"] == 4 and rows[2]["models_hash"] == "abc" and rows[0]["size"] == 1
    fs = catalog.fileset(db)
    assert fs["dy"] == {"files": {str(a): "Events", str(b): "Events"},
                        "metadata": {"process": "dy", "xsec_pb": pytest.approx(175.0), "sumw": 40.0}}
    assert fs["dy_flash"]["metadata"] == {"process": "dy", "xsec_pb": 100.0, "sumw": 40.0}
    assert [r["status"] for r in catalog.verify(db)] == ["ok", "ok", "ok"]
    a.write_text("A")
    b.unlink()
    assert [r["status"] for r in catalog.verify(db)] == ["modified", "missing", "ok"]
    # writing a file again replaces its row
    catalog.record(a, {"process": "dy", "events": 11, "seed": 1}, kind="generate", path=db)
    assert [(r["id"], r["events"]) for r in catalog.rows(db, kind="generate")] == [(1, 11), (2, 30)]
    assert catalog.verify(db)[0]["status"] == "ok"


def test_cli_list_show_verify_fileset(tmp_path, monkeypatch, capsys):
    db = tmp_path / "c.sqlite"
    monkeypatch.setenv("FLASHSIM_CATALOG", str(db))
    assert catalog.default_path() == db
    sample = tmp_path / "tt.root"
    sample.write_bytes((SHARED / "nano_tt_v12.root").read_bytes())
    catalog.record(sample, {"process": "ttbar", "events": 200, "seed": 5, "xsec_pb": 833.9}, kind="generate")
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "ttbar" in out[0] and str(sample) in out[0]
    assert main(["catalog", "show", str(sample)]) == 0
    assert "xsec_pb: 833.9" in capsys.readouterr().out
    assert main(["catalog", "show", "99"]) == 2
    assert "no catalogued file '99'" in capsys.readouterr().err
    js = tmp_path / "fileset.json"
    assert main(["catalog", "fileset", "--out", str(js)]) == 0
    from analyses.running import check_fileset, load_fileset

    fs = load_fileset(js)  # the analyses' own reader and checker accept it
    check_fileset(fs, fullsim=True, flash=True)
    assert fs["ttbar"]["metadata"]["xsec_pb"] == 833.9 and list(fs["ttbar"]["files"]) == [str(sample)]
    assert json.loads(js.read_text())["ttbar"]["metadata"]["sumw"] is None  # no Runs tree in this file
    assert main(["catalog", "verify"]) == 0
    with open(sample, "r+b") as f:  # one byte changed
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 1]))
    capsys.readouterr()
    assert main(["catalog", "verify"]) == 1
    assert capsys.readouterr().out.startswith("modified")


WRITER = """
import sys
from pathlib import Path
from flashsim_coffea import catalog
tmp, tag = Path(sys.argv[1]), sys.argv[2]
for i in range(40):
    p = tmp / f"{tag}{i}.root"
    p.write_text(tag + str(i))
    catalog.record(p, {"process": tag, "events": i, "seed": i}, kind="generate", path=tmp / "c.sqlite")
"""


def test_concurrent_writers_all_recorded(tmp_path):
    """Two processes recording 40 files each at the same time: all 80 end up in the catalogue."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), tag], stderr=subprocess.PIPE)
             for tag in ("x", "y")]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    rows = catalog.rows(tmp_path / "c.sqlite")
    assert len(rows) == 80
    assert sorted(r["process"] for r in rows) == ["x"] * 40 + ["y"] * 40
    assert all(r["status"] == "ok" for r in catalog.verify(tmp_path / "c.sqlite"))


@pytest.mark.slow
def test_two_concurrent_generate_runs_both_catalogued(tmp_path):
    env = {**os.environ, "FLASHSIM_CATALOG": str(tmp_path / "c.sqlite")}
    procs = [subprocess.Popen(["flashsim", "generate", "--process", "ttbar", "--events", "5", "--seed", str(seed),
                               "--out", str(tmp_path / f"tt{seed}.root"), "--no-progress"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for seed in (1, 2)]
    for p in procs:
        assert p.wait(timeout=1200) == 0, p.stderr.read()[-2000:]
    rows = catalog.rows(tmp_path / "c.sqlite")
    assert sorted((Path(r["path"]).name, r["seed"], r["events"]) for r in rows) == [("tt1.root", 1, 5),
                                                                                   ("tt2.root", 2, 5)]
    assert all(r["sumw"] > 0 and r["xsec_pb"] > 0 and len(r["code_version"]) == 12 for r in rows)
    assert all(r["command"].startswith("flashsim generate --process ttbar") for r in rows)
