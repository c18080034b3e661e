"""The package layout: imports run one way (DESIGN.md), checked on the source with ``ast``.

``analyses -> processors -> flashsim_coffea``; inside it ``train/validate -> sim -> nanoaod``,
``specs -> nanoaod``, ``reference -> nanoaod``; nothing under ``flashsim_coffea`` imports coffea,
dask, ``processors`` or ``analyses``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flashsim_coffea.reference.code_version import imports

ROOT = Path(__file__).resolve().parents[1]

#: the one module that may start or join a dask.distributed cluster (work is handed to
#: everything else as a concurrent.futures.Executor).
CLUSTER = "flashsim_coffea.cluster"
#: sub-package (or top-level module) -> project packages it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "flashsim_coffea.nanoaod": set(),
    "flashsim_coffea.specs": {"flashsim_coffea.nanoaod"},
    "flashsim_coffea.sim": {"flashsim_coffea.nanoaod", "flashsim_coffea.specs"},
    "flashsim_coffea.reference": {"flashsim_coffea.nanoaod"},
    "flashsim_coffea.train": {"flashsim_coffea.sim", "flashsim_coffea.nanoaod", "flashsim_coffea.specs",
                              "flashsim_coffea.reference"},
    "flashsim_coffea.validate": {"flashsim_coffea.train", "flashsim_coffea.sim", "flashsim_coffea.nanoaod",
                                 "flashsim_coffea.specs"},
    "flashsim_coffea.oversampling": set(),
    "flashsim_coffea.cli": {"flashsim_coffea"},
    CLUSTER: set(),
    "flashsim_coffea": set(),  # the root __init__: the version, which any module may read
}
#: third-party packages the engine must not import (it runs without coffea or dask).
FORBIDDEN = ("coffea", "dask", "distributed", "dask_awkward", "processors", "analyses")


def owner(module: str) -> str:
    """The :data:`ALLOWED` entry a module falls under (the longest matching prefix)."""
    keys = [k for k in ALLOWED if module == k or module.startswith(k + ".")]
    return max(keys, key=len)


def violations(package_root: Path) -> list[str]:
    """``module -> import`` pairs that break the rules, for the package at ``package_root``."""
    out = []
    for path in sorted(package_root.rglob("*.py")):
        rel = path.relative_to(package_root.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        own = owner(module)
        for target in sorted(imports(path, module)):
            top = target.split(".")[0]
            if top in FORBIDDEN and not (module == CLUSTER and top == "distributed"):
                out.append(f"{module} -> {target}")
            elif top == "flashsim_coffea" and target != "flashsim_coffea" and not any(
                target == a or target.startswith(a + ".") for a in ALLOWED[own] | {own}
            ):
                out.append(f"{module} -> {target}")
    return out


def test_imports_run_one_way():
    assert violations(ROOT / "flashsim_coffea") == []


@pytest.mark.parametrize("where, line", [
    ("sim/engine.py", "from flashsim_coffea.train import extract"),
    ("nanoaod/schema.py", "from flashsim_coffea.sim import random"),
    ("reference/jets.py", "import flashsim_coffea.sim.features"),
    ("sim/ode.py", "    from coffea import processor"),
    ("sim/flow.py", "from processors.flashsim import FlashSimProcessor"),
])
def test_a_wrong_import_is_caught(tmp_path, where, line):
    pkg = tmp_path / "flashsim_coffea"
    shutil.copytree(ROOT / "flashsim_coffea", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    path = pkg / where
    if line.startswith("    "):  # an import inside a function counts too
        line = "def _late():\n" + line + "\n"
    path.write_text(path.read_text() + "\n" + line + "\n")
    found = violations(pkg)
    assert len(found) == 1 and found[0].split(" -> ")[0] == "flashsim_coffea." + where[:-3].replace("/", ".")


def test_processors_and_analyses_point_down():
    for pkg, forbidden in (("processors", ("analyses",)), ("flashsim_coffea", ("processors", "analyses"))):
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            bad = [t for t in imports(path, ".".join(rel.parts)) if t.split(".")[0] in forbidden]
            assert bad == [], f"{path}: {bad}"
