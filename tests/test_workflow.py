"""The Snakemake workflow (workflow/): the production plan resolves, the tiny configuration runs end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflow" / "Snakefile"

pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake not installed (the test extra)")


def snakemake(config: str, workdir: Path, *extra: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLASHSIM_CATALOG": str(workdir / "catalog.sqlite")}
    cmd = ["snakemake", "-s", str(SNAKEFILE), "--configfile", str(ROOT / "workflow" / "config" / config),
           "--directory", str(workdir), "--config", f"python={sys.executable}", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def test_production_plan(tmp_path):
    """Dry run of the production configuration: every sample once (7 processes, evaluation and DNN training), each
    as files that cover it exactly (20k events; the filtered backgrounds in their own shorter parts), both
    analyses; the top backgrounds are the filtered ttbar_dilep_vbf and ttbar_dilep_zh."""
    res = snakemake("production.yaml", tmp_path, "-n", "-p", "--cores", "8")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    counts = dict(re.findall(r"^(generate|fileset|train_dnn|report)\s+(\d+)$", res.stdout, re.M))
    # eval 12 + 12 + 15 + 10 + 1 + 6 + 4 parts, train 5 + 5 + 8 + 5 + 1 + 3 + 2
    assert counts == {"generate": "89", "fileset": "4", "train_dnn": "2", "report": "2"}
    zh = r"--process zh_llbb --events 20000 --seed 31 --first-event (\d+)"
    firsts = sorted(int(f) for f in re.findall(zh, res.stdout))
    assert firsts == list(range(0, 240000, 20000))
    tt = r"--process ttbar_dilep_zh --events (\d+) --seed 27 --first-event (\d+) "
    assert sorted((int(f), int(n)) for n, f in re.findall(tt, res.stdout)) == [(f, 2000) for f in range(0, 12000, 2000)]
    assert "--process ttbar_dilep_vbf --events 2000 --seed 25 --first-event 6000 " in res.stdout
    assert "--process ttbar_dilep " not in res.stdout
    assert "--process dy_mumu_jet_zh --events 4000 --seed 22 --first-event 56000 " in res.stdout
    assert "--process dy_mumu_jet_zh --events 2000 --seed 1022 --first-event 28000 " in res.stdout
    assert "--process vbf_x_mumu --events 20000 --seed 23 --first-event 0 " in res.stdout
    assert "samples/eval/zh_llbb/part011.root" in res.stdout and "zh_llbb/part012" not in res.stdout
    assert "--analysis vbf_hmumu --fileset filesets/vbf_hmumu_eval.json --dnn dnn/vbf_hmumu_dnn" in res.stdout
    assert "--replicas 6 10" in res.stdout


def test_parts_must_be_whole_generator_blocks(tmp_path):
    res = snakemake("production.yaml", tmp_path, "-n", "--cores", "2", "--config", "part_events=150")
    assert res.returncode != 0
    assert "part_events must be a positive multiple of 200, got 150" in res.stdout + res.stderr


def test_existing_samples_replace_generation(tmp_path):
    """``existing``: the evaluation signal from files made elsewhere (two of them, one by a glob): not
    generated, one dataset in the fileset."""
    made = tmp_path / "made"
    made.mkdir()
    for name in ("zh_llbb_a.root", "zh_llbb_b.root", "vbf_hmumu_a.root"):
        (made / name).write_bytes(b"")
    existing = f"existing={{eval: {{zh_llbb: ['{made}/zh_llbb_*.root'], vbf_hmumu: ['{made}/vbf_hmumu_a.root']}}}}"
    res = snakemake("production.yaml", tmp_path / "wf", "-n", "-p", "--cores", "8", "--config", existing)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    counts = dict(re.findall(r"^(generate|fileset|train_dnn|report)\s+(\d+)$", res.stdout, re.M))
    assert counts == {"generate": "65", "fileset": "4", "train_dnn": "2", "report": "2"}
    assert "--seed 31 " not in res.stdout
    assert "--process zh_llbb --events 20000 --seed 1031 --first-event 80000" in res.stdout
    assert f"zh_llbb={made}/zh_llbb_a.root zh_llbb={made}/zh_llbb_b.root dy_mumu_jet_zh=samples/eval" in res.stdout


def test_tiny_workflow_end_to_end(tmp_path):
    """generate -> filesets -> DNN training -> flash and FullSim passes -> report, on 2 cores."""
    start = time.perf_counter()
    res = snakemake("tiny.yaml", tmp_path, "--cores", "2")
    elapsed = time.perf_counter() - start
    logs = "".join(p.read_text()[-1500:] for p in sorted(tmp_path.glob("logs/*.log")))
    assert res.returncode == 0, res.stderr[-3000:] + logs
    print(f"tiny workflow: {elapsed:.0f} s")
    fs = json.loads((tmp_path / "filesets" / "zh_llbb_eval.json").read_text())
    assert sorted(fs) == ["dy_mumu_jet_zh", "ttbar_dilep", "zh_llbb"]
    card = json.loads((tmp_path / "dnn" / "zh_llbb_dnn.json").read_text())
    assert card["training"]["analysis"] == "zh_llbb" and card["training"]["epochs"] == 2
    assert set(card["training"]["samples"]) == {"dy_mumu_jet_zh", "ttbar_dilep", "zh_llbb"}
    assert 0.0 <= card["validation"]["roc_auc_heldout"] <= 1.0  # on the evaluation samples
    rep = json.loads((tmp_path / "reports" / "zh_llbb" / "report.json").read_text())
    assert rep["dnn"] == "dnn/zh_llbb_dnn" and rep["events_per_dataset"]["zh_llbb"] == 100
    assert set(rep["oversampling"]) == {"K2"} and rep["oversampling"]["K2"]["gen_events"]["zh_llbb"] == 50
    assert (tmp_path / "reports" / "zh_llbb" / "report.md").read_text().startswith("# zh_llbb")


def models_snakemake(config: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "-s", str(ROOT / "workflow" / "models.smk"), "--configfile",
           str(ROOT / "workflow" / "config" / config), "--directory", str(workdir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


def test_models_plan_trains_every_shipped_source(tmp_path):
    """Dry run of the next model set: 33 samples as 37 part files, one tables folder, one training per
    source of the shipped index, the set assembled."""
    res = models_snakemake("models.yaml", tmp_path, "-n", "-p", "--cores", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    counts = dict(re.findall(r"^(generate|extract|train|assemble)\s+(\d+)$", res.stdout, re.M))
    assert counts == {"generate": "37", "extract": "1", "train": "28", "assemble": "1"}
    shipped = json.loads((ROOT / "flashsim_coffea" / "models" / "flashsim.json").read_text())["sources"]
    trained = set(re.findall(r"--out trained/(\w+) ", res.stdout))
    assert trained == set(shipped) | {"Muon_uefake", "Electron_jetfake2", "Electron_uefake"}  # and the new ones
    assert "--process ttbar --events 20000 --seed 120 --first-event 20000 --out samples/ttbar_e/part001.root" in res.stdout
    zll = "--process zll_boosted --events 20000 --seed 292 --first-event 0 --out samples/zll_boosted_2/part000.root"
    assert zll in res.stdout
    assert "--process zh_llbb" not in res.stdout and "--process vbf_hmumu" not in res.stdout
    bogus = models_snakemake("models.yaml", tmp_path / "bogus", "-n", "--cores", "2", "--config", "sources=[Jet_bogus]")
    assert bogus.returncode != 0  # refused before any job runs
    assert "sources ['Jet_bogus'] are not sources of flashsim_coffea.specs" in bogus.stdout + bogus.stderr


def test_models_tiny_end_to_end(tmp_path):
    """generate -> extract (two groups) -> train (two sources) -> the set: the trained flows replace the base
    set's, the kept efficiency and every other source are the base's bytes, a source the base set lacks (as a
    new source of the specs) joins its index in the specs' order, the set loads."""
    import shutil

    from flashsim_coffea.sim.engine import FlashSim

    base = tmp_path / "base"  # the shipped set without its pileup jets
    shutil.copytree(ROOT / "flashsim_coffea" / "models", base)
    shutil.rmtree(base / "Jet_pileup")
    index = json.loads((base / "flashsim.json").read_text())
    index["sources"].remove("Jet_pileup")
    (base / "flashsim.json").write_text(json.dumps(index))
    res = models_snakemake("models_tiny.yaml", tmp_path, "--cores", "2", "--config", f"base={base}")
    logs = "".join(p.read_text()[-1500:] for p in sorted(tmp_path.glob("logs/*.log")))
    assert res.returncode == 0, res.stderr[-3000:] + logs
    models = tmp_path / "models"
    assert json.loads((models / "flashsim.json").read_text())["sources"][:3] == ["Jet_genjet", "Jet_pileup", "Jet_split"]

    def same(key: str, name: str, other: Path) -> bool:
        return (models / key / name).read_bytes() == (other / name).read_bytes()

    assert same("Muon_genmuon", "flow.safetensors", tmp_path / "trained" / "Muon_genmuon" / "Muon_genmuon")
    assert not same("Muon_genmuon", "flow.safetensors", base / "Muon_genmuon")
    assert same("Muon_genmuon", "efficiency.safetensors", base / "Muon_genmuon")  # keep: efficiency
    assert same("Muon_genmuon", "efficiency.json", base / "Muon_genmuon")
    for name in ("flow.safetensors", "count.safetensors"):
        assert same("Jet_pileup", name, tmp_path / "trained" / "Jet_pileup" / "Jet_pileup")
    assert same("Jet_genjet", "flow.safetensors", base / "Jet_genjet")
    muon = json.loads((models / "Muon_genmuon" / "flow.json").read_text())["training"]
    assert muon["files"] == ["dy_mumu/part000.root", "dy_mumu/part001.root"] and muon["events"] == 400
    pileup = json.loads((models / "Jet_pileup" / "flow.json").read_text())["training"]
    assert pileup["processes"] == ["dy_mumu", "ttbar"] and pileup["events"] == 600
    sim = FlashSim.load(models)
    assert "Muon_genmuon" in sim.models and "Jet_pileup" in sim.models
    # another number of workers changes no file: nothing is remade (as a param it deleted and regenerated samples)
    again = models_snakemake("models_tiny.yaml", tmp_path, "-n", "--cores", "2", "--config", f"base={base}", "workers=2")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]


@pytest.mark.parametrize("stage", sorted(p.name for p in (ROOT / "workflow" / "config").glob("models_*.yaml")
                                         if p.name != "models_tiny.yaml"))
def test_model_set_stages_make_the_full_plans_files(stage, tmp_path):
    """A session-sized stage of the next set (``models_<stage>.yaml``) names the full plan's samples with the same
    process, events and seed, so its part files are the full set's, and trains sources of the plan; its dry run
    makes exactly its own samples and sources."""
    full = yaml.safe_load((ROOT / "workflow" / "config" / "models.yaml").read_text())
    part = yaml.safe_load((ROOT / "workflow" / "config" / stage).read_text())
    assert part["samples"] and all(full["samples"].get(k) == v for k, v in part["samples"].items()), stage
    assert set(part["sources"]) <= set(full["sources"]) and part["part_events"] == full["part_events"]
    res = models_snakemake(stage, tmp_path, "-n", "-p", "--cores", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    counts = dict(re.findall(r"^(generate|train)\s+(\d+)$", res.stdout, re.M))
    parts = sum(-(-n // part["part_events"]) for _, n, _ in part["samples"].values())
    assert counts == {"generate": str(parts), "train": str(len(part["sources"]))}
