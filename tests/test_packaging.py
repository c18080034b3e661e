"""The built wheel carries the shipped model set as package data, and the package finds it there.

The wheel is built from this checkout with ``python -m build --wheel --no-isolation`` (``build`` and
``hatchling`` are in the ``test`` extra). CI's wheel step (``.ci/run``) is the end-to-end check: it
installs the sdist-built wheel in a fresh venv outside the checkout and runs a flash job there.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

from flashsim_coffea.sim import cards

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "flashsim_coffea/models"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (path,) = out.glob("flashsim_coffea-*.whl")
    return path


def test_default_models_are_package_data():
    """DEFAULT_MODELS is the ``models`` folder of the package, found through importlib.resources."""
    assert cards.DEFAULT_MODELS == Path(str(files("flashsim_coffea") / "models"))
    assert cards.DEFAULT_MODELS == ROOT / PREFIX
    assert cards.is_models_dir(cards.DEFAULT_MODELS)


def test_shipped_models_stay_small():
    """The whole shipped model folder stays under 50 MB (it travels in every wheel)."""
    size = sum(p.stat().st_size for p in cards.DEFAULT_MODELS.rglob("*") if p.is_file())
    assert 1e6 < size <= 50e6, size


def test_wheel_holds_every_model_file(wheel):
    """Every source of flashsim.json has its cards and the safetensors each card names in the wheel, byte for byte."""
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        index = json.loads(z.read(f"{PREFIX}/{cards.INDEX}"))
        assert index == cards.read_index(cards.DEFAULT_MODELS)
        shipped = 0
        for source in index["sources"]:
            kinds = [k for k in cards.KINDS if cards.card_path(cards.DEFAULT_MODELS, source, k).exists()]
            assert "flow" in kinds, source
            for kind in kinds:
                card = json.loads(z.read(f"{PREFIX}/{source}/{kind}.json"))
                weights = f"{PREFIX}/{source}/{card['weights']['file']}"
                assert weights in names, weights
                with z.open(weights) as f:
                    assert hashlib.sha256(f.read()).hexdigest() == card["weights"]["sha256"], weights
                shipped += 1
        assert shipped == sum(1 for _ in cards.DEFAULT_MODELS.glob("*/*.safetensors"))
        assert "processors/flashsim.py" in names and not any(n.endswith(".pyc") for n in names)


def test_unpacked_wheel_loads_its_own_models(wheel, tmp_path):
    """Imported from the unpacked wheel (not the checkout), the package reads the models it carries."""
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "site")
    code = (
        "from flashsim_coffea.sim.cards import DEFAULT_MODELS, card_path, load, read_index\n"
        "card, tensors = load(card_path(DEFAULT_MODELS, read_index(DEFAULT_MODELS)['sources'][0], 'flow'))\n"
        "print(DEFAULT_MODELS, card['source'], len(tensors))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    models, source, n = run.stdout.split()
    assert Path(models) == tmp_path / "site" / PREFIX
    assert source == "Jet_genjet" and int(n) > 4
