"""The reference-sample cache key: the files that making a sample imports, and only those."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flashsim_coffea.reference import code_version as cv


def _rel(paths: list[Path], package_dir: Path = cv.PACKAGE_DIR) -> set[str]:
    return {p.relative_to(package_dir).as_posix() for p in paths}


def test_dependencies_of_generate():
    deps = _rel(cv.dependencies())
    # reference/muons.py and taus.py use it; the old hand-made list of files missed it
    assert "nanoaod/derived.py" in deps
    assert {"nanoaod/schema.py", "nanoaod/status_flags.py", "nanoaod/__init__.py", "__init__.py"} <= deps
    # imported inside simulate_block, and through detector.py
    detector_uses = {"detector", "pythia", "truth", "history", "genlevel", "pileup", "pflow", "jetalgo", "jets", "btag",
                     "isolation", "leptons", "muons", "electrons", "photons", "taus", "met"}
    assert {f"reference/{m}.py" for m in detector_uses} <= deps
    assert "sim/engine.py" not in deps
    assert not any(d.startswith(("sim/", "train/", "validate/", "specs/")) for d in deps)
    # cache.py and sanity.py use the samples, they do not make them
    assert not {"reference/cache.py", "reference/sanity.py", "cli.py"} & deps


def test_imports_resolve_relative_and_function_level_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import thing\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "other.py").write_text("")
    (pkg / "sub" / "thing.py").write_text(
        "import numpy.linalg\n\n\ndef late():\n    from . import other\n    from .. import sub\n"
        "    from ..sub.other import name\n    from os import path\n"
    )
    assert cv.imports(pkg / "sub" / "thing.py", "pkg.sub.thing") == {"numpy.linalg", "pkg.sub.other", "pkg.sub", "os"}
    assert cv.imports(pkg / "__init__.py", "pkg") == {"pkg.sub.thing"}
    assert _rel(cv.dependencies("pkg", pkg), pkg) == {"__init__.py", "sub/__init__.py", "sub/thing.py", "sub/other.py"}
    # generate.simulate_block imports the detector inside its body
    generate = "flashsim_coffea.reference.generate"
    assert "flashsim_coffea.reference.detector" in cv.imports(cv.module_file(generate), generate)


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("copy") / cv.PACKAGE_DIR.name
    shutil.copytree(cv.PACKAGE_DIR, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_key_changes_with_a_dependency_only(package_copy):
    key = cv.code_version(package_copy)
    assert key == cv.code_version()  # paths are hashed relative to the package: same code, same key
    engine = package_copy / "sim" / "engine.py"
    engine.write_text(engine.read_text() + "# not a dependency of the reference samples\n")
    assert cv.code_version(package_copy) == key
    derived = package_copy / "nanoaod" / "derived.py"
    derived.write_text(derived.read_text() + "# a dependency\n")
    assert cv.code_version(package_copy) != key


def test_key_follows_a_new_import(package_copy):
    before = cv.code_version(package_copy)
    assert "sim/engine.py" not in _rel(cv.dependencies(package_dir=package_copy), package_copy)
    met = package_copy / "reference" / "met.py"
    met.write_text(met.read_text() + "\n\ndef _late():\n    from ..sim import engine  # noqa: F401\n")
    assert "sim/engine.py" in _rel(cv.dependencies(package_dir=package_copy), package_copy)
    assert cv.code_version(package_copy) != before
