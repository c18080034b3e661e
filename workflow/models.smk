"""A model set as a Snakemake workflow: the training samples, their tables, one training per source, the set.

generate (``flashsim generate``, each sample as part files of ``part_events``) -> extract (``flashsim extract``,
one tables folder per group of samples) -> train (``flashsim train``, one job per source, one torch thread:
two sources side by side on two cores) -> assemble (``models/``: the base set with the trained sources
replacing theirs). Every step is a file that survives an interruption: rerun the same command and it goes on
where it stopped (``--rerun-incomplete``). What it does not do: the ODE steps per source
(``benchmarks/ode_steps.py --apply`` on held-out tables) and the validation (``flashsim validate``), which
come after and decide whether the set ships.

Run (outputs under --directory):
    snakemake -s workflow/models.smk --configfile workflow/config/models.yaml --directory /data/set20 -c 2
"""

import json
import shutil
from pathlib import Path

from flashsim_coffea.specs import all_sources


include: "common.smk"


FLASHSIM = config.get("flashsim", "flashsim")
PART_EVENTS = check_part_events(config.get("part_events", 20000))
#: name -> (process, events, seed) of each training sample
SAMPLES = {name: (str(p), int(n), int(s)) for name, (p, n, s) in config["samples"].items()}
#: the set the trained sources replace theirs in (default: the shipped set of the installed package)
BASE = config.get("base") or str(Path(workflow.basedir).resolve().parent / "flashsim_coffea" / "models")
#: group -> {"samples": [names] or "all", "sources": [keys] or "rest"}: one tables folder per group
GROUPS = config["tables"]
#: source -> model files kept from the base set (e.g. ``[efficiency]``: only the flow is replaced)
KEEP = config.get("keep") or {}


def _group_samples(group):
    names = GROUPS[group]["samples"]
    names = list(SAMPLES) if names == "all" else list(names)
    unknown = [n for n in names if n not in SAMPLES]
    if unknown:
        raise ValueError(f"tables group {group!r}: unknown samples {unknown} (known: {sorted(SAMPLES)})")
    return names


SOURCES = list(config["sources"])
_claimed = {k: g for g, spec in GROUPS.items() if spec["sources"] != "rest" for k in spec["sources"]}
_rest = [g for g, spec in GROUPS.items() if spec["sources"] == "rest"]
if len(_rest) > 1:
    raise ValueError(f"only one tables group may take the rest of the sources, got {_rest}")
#: source -> the tables group it trains from
GROUP_OF = {k: _claimed.get(k, _rest[0] if _rest else None) for k in SOURCES}
if None in GROUP_OF.values():
    raise ValueError(f"sources in no tables group: {[k for k, g in GROUP_OF.items() if g is None]}")
_listed = json.loads((Path(BASE) / "flashsim.json").read_text())["sources"]
#: every source of the package's specs, in the index's order
ORDER = list(all_sources())
if any(k not in ORDER for k in SOURCES):
    raise ValueError(f"sources {[k for k in SOURCES if k not in ORDER]} are not sources of flashsim_coffea.specs")
#: sources the base set has no model of (a new source): added to the set's index
NEW = [k for k in SOURCES if k not in _listed]
for _key in KEEP:
    if _key not in SOURCES:
        raise ValueError(f"keep: {_key!r} is not among the sources trained")
    if _key in NEW:
        raise ValueError(f"keep: {_key!r} has no model in the base set {BASE} to keep files of")


def parts(name):
    """``(first event, events)`` of each part file of a sample."""
    return part_ranges(SAMPLES[name][1], PART_EVENTS)


def part_files(group):
    return [f"samples/{n}/part{i:03d}.root" for n in _group_samples(group) for i in range(len(parts(n)))]


def group_sources(group):
    return [k for k in SOURCES if GROUP_OF[k] == group]


rule all:
    input:
        "models/flashsim.json",


rule generate:
    output:
        "samples/{name}/part{part}.root",
    log:
        "logs/generate_{name}_part{part}.log",
    wildcard_constraints:
        name=r"[A-Za-z0-9_]+",
        part=r"\d{3}",
    params:
        process=lambda w: SAMPLES[w.name][0],
        seed=lambda w: SAMPLES[w.name][2],
        first=lambda w: parts(w.name)[int(w.part)][0],
        events=lambda w: parts(w.name)[int(w.part)][1],
    # the workers are threads, not params: a file does not depend on them, and a changed param makes snakemake
    # remake the outputs (a run with --config workers=2 after workers=1 deleted and regenerated a finished sample)
    threads: config.get("workers", 1)
    shell:
        "{FLASHSIM} generate --process {params.process} --events {params.events} --seed {params.seed} "
        "--first-event {params.first} --out {output} --workers {threads} --no-progress > {log} 2>&1"


rule extract:
    input:
        lambda w: part_files(w.group),
    output:
        directory("tables/{group}"),
    log:
        "logs/extract_{group}.log",
    params:
        sources=lambda w: " ".join(group_sources(w.group)),
    threads: config.get("workers", 1)
    shell:
        "{FLASHSIM} extract --data {input} --out {output} --sources {params.sources} --workers {threads} "
        "--no-progress > {log} 2>&1"


rule train:
    input:
        lambda w: f"tables/{GROUP_OF[w.key]}",
    output:
        directory("trained/{key}"),
    log:
        "logs/train_{key}.log",
    wildcard_constraints:
        key=r"[A-Za-z]+_[A-Za-z0-9]+",
    params:
        collection=lambda w: w.key.split("_", 1)[0],
        source=lambda w: w.key.split("_", 1)[1],
        seed=config.get("seed", 1),
        min_steps=config.get("min_steps", 90000),
        precision=config.get("precision", "float32"),
    threads: 1
    shell:
        "OMP_NUM_THREADS=1 {FLASHSIM} train --collection {params.collection} --source {params.source} --tables {input} "
        "--out {output} --seed {params.seed} --min-steps {params.min_steps} --precision {params.precision} "
        "--checkpoint checkpoints --no-progress > {log} 2>&1"


rule assemble:
    input:
        expand("trained/{key}", key=SOURCES),
    output:
        "models/flashsim.json",
    run:
        out = Path("models")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(BASE, out)
        for key in SOURCES:
            shutil.rmtree(out / key, ignore_errors=True)  # absent for a new source
            shutil.copytree(Path("trained") / key / key, out / key)
            for stem in KEEP.get(key, []):
                for f in (f"{stem}.json", f"{stem}.safetensors"):
                    shutil.copyfile(Path(BASE) / key / f, out / key / f)
        if NEW:
            index = json.loads((out / "flashsim.json").read_text())
            index["sources"] = [k for k in ORDER if k in {*index["sources"], *NEW}]
            (out / "flashsim.json").write_text(json.dumps(index, indent=1))
