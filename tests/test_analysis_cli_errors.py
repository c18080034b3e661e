"""The analyses' command line refuses bad input up front: one line on stderr naming the culprit,
exit code 2, no traceback, nothing written (issue 26, item 7).

Each case runs ``python analyses/<analysis>.py ...`` as a subprocess in an empty working folder
(the default output ``out/<analysis>`` would land there) with ``FLASHSIM_CACHE`` in the test's
tmp folder (reference samples would land there); both must stay empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from analyses.running import FilesetError, check_fileset, load_fileset
from analyses.selection import RECO_BRANCHES

REPO = Path(__file__).resolve().parents[1]


def refused(tmp_path: Path, *args: str, script: str = "zh_llbb.py") -> str:
    """Run the CLI with ``args``; assert the refusal contract and return the one stderr line."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir(exist_ok=True)
    env = {**os.environ, "FLASHSIM_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, str(REPO / "analyses" / script), *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{script}: error: "), lines[0]
    assert proc.stdout == "", proc.stdout  # no pass started
    assert list(work.iterdir()) == [], list(work.iterdir())  # no out/<analysis>
    assert not cache.exists()  # no reference sample generated
    return lines[0]


def fileset(tmp_path: Path, *files: Path | str, name: str = "fileset.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"mine": {"files": [str(f) for f in files], "metadata": {"xsec_pb": 1.0}}}))
    return path


@pytest.fixture(scope="module")
def reco_only(nanoaod_dir: Path, tmp_path_factory) -> Path:
    """A TTree ``Events`` with the reco branches of 5 real DY events and the event ids, but no gen branches."""
    with uproot.open(nanoaod_dir / "nano_dy.root") as f:
        ids = ["run", "luminosityBlock", "event"]
        a = f["Events"].arrays([b for b in RECO_BRANCHES if not b.startswith("n")] + ids, entry_stop=5)
    data = {c: ak.zip({k.split("_", 1)[1]: a[k] for k in a.fields if k.startswith(f"{c}_")}) for c in ("Muon", "Jet")}
    data |= {k: a[k] for k in ids}
    path = tmp_path_factory.mktemp("nogen") / "reco_only.root"
    with uproot.recreate(path) as out:
        out.mktree("Events", {k: v.type for k, v in data.items()})
        out["Events"].extend(data)
    return path


def test_missing_fileset_file(tmp_path):
    line = refused(tmp_path, "--fileset", str(tmp_path / "absent.json"))
    assert "absent.json: no such fileset file" in line


def test_malformed_json(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"mine": {"files": ["a.root"]')
    line = refused(tmp_path, "--fileset", str(bad))
    assert "broken.json: not valid JSON" in line and "line 1" in line


def test_fileset_names_a_missing_root_file(tmp_path):
    line = refused(tmp_path, "--fileset", str(fileset(tmp_path, tmp_path / "nowhere.root")))
    assert f"{tmp_path / 'nowhere.root'} (dataset 'mine'): no such file" in line


def test_text_file_named_root(tmp_path):
    text = tmp_path / "notes.root"
    text.write_text("just some text\n")
    line = refused(tmp_path, "--fileset", str(fileset(tmp_path, text)))
    assert "notes.root (dataset 'mine'): not a ROOT file" in line


def test_root_file_without_events_tree(tmp_path):
    other = tmp_path / "histogram.root"
    with uproot.recreate(other) as f:
        f["h"] = np.histogram(np.arange(10.0), bins=5)
    line = refused(tmp_path, "--fileset", str(fileset(tmp_path, other)))
    assert "histogram.root (dataset 'mine'): no TTree 'Events'" in line


def test_root_file_without_gen_branches(tmp_path, reco_only):
    # both passes requested: refused before the FullSim pass, naming the first missing gen branch
    line = refused(tmp_path, "--fileset", str(fileset(tmp_path, reco_only)), "--fullsim", "--flash")
    assert "reco_only.root (dataset 'mine'): tree 'Events' has no branch GenPart_pt" in line
    assert "flash pass" in line


def test_oversample_zero(tmp_path):
    assert "argument --oversample: must be at least 1, got '0'" in refused(tmp_path, "--oversample", "0")


@pytest.mark.parametrize("script", ["zh_llbb.py", "vbf_hmumu.py"])
def test_negative_events(tmp_path, script):
    assert "argument --events: must be at least 1, got '-5'" in refused(tmp_path, "--events", "-5", script=script)


def test_zero_events(tmp_path):
    assert "argument --events: must be at least 1, got '0'" in refused(tmp_path, "--events", "0")


def test_zero_workers(tmp_path):
    line = refused(tmp_path, "--workers", "0", "--executor", "futures")
    assert "argument --workers: must be at least 1, got '0'" in line


def test_real_nanoaod_passes_the_check(nanoaod_dir, tmp_path):
    # the check must not refuse real CMS NanoAOD (v12 without Jet_puId, Run-2 Open Data, with/without Runs)
    files = sorted(nanoaod_dir.glob("*.root"))
    assert files
    check_fileset(load_fileset(fileset(tmp_path, *files)), fullsim=True, flash=True)


def test_bad_metadata_value_is_named(tmp_path):
    path = tmp_path / "fs.json"
    path.write_text(json.dumps({"dy": {"files": ["dy.root"], "metadata": {"sumw": -3}}}))
    with pytest.raises(FilesetError, match=r"dataset 'dy': metadata.sumw must be a positive number or null, got -3"):
        load_fileset(path)
