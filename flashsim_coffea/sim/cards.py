"""The models folder, its one owner: the index, the model cards, the weights and the validation records.

A models folder holds an index ``flashsim.json`` (:func:`read_index`, :func:`write_index`: which
sources it has and the default ODE solver) and one folder per source (``Jet_genjet/``, ...) with
up to three models, each a card ``<kind>.json`` beside its weights ``<kind>.safetensors``
(:func:`card_path`; kinds ``flow``, ``efficiency``, ``count``).

A card names everything needed to rebuild and trust a model: its kind, network configuration,
conditioning features with their scaling, targets with their fitted transforms, the acceptance
seen in training (``acceptance.abs_eta_max``: largest gen |η| of a reconstructed candidate in an
efficiency card; largest reco |η| and ``acceptance.pt_min``, smallest reco pT, in a flow card),
training provenance (processes, events, seed, code version), the weights' file name, sha256 and
tensor shapes, and validation figures (:func:`record_validation`).

:func:`save` writes weights (safetensors) and card together; :func:`load` refuses a card of an
unknown schema version, weights whose hash differs from the card's, or tensors whose names or
shapes differ from the card's, each with a message naming the file. Weights are read with
``safetensors`` only (never pickle).

Example:
    >>> index = read_index(DEFAULT_MODELS)
    >>> index["solver"], index["steps"], index["sources"][0]
    ('midpoint', 8, 'Jet_genjet')
    >>> card, tensors = load(card_path(DEFAULT_MODELS, "Jet_genjet", "flow"))
    >>> card["kind"], card["source"], card["weights"]["sha256"] == sha256(DEFAULT_MODELS / "Jet_genjet" / "flow.safetensors")
    ('flow', 'Jet_genjet', True)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only in annotations: `flashsim --help` reads DEFAULT_MODELS without importing it
    import torch

#: Card schema versions this code reads.
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
#: the file listing the sources of a models folder and its default ODE solver.
INDEX = "flashsim.json"
INDEX_SCHEMA_VERSION = 1
#: the models a source can have, one card each.
KINDS = ("flow", "efficiency", "count", "categories")


class ModelCardError(ValueError):
    """A model card or its weights cannot be trusted."""


def _shipped_models() -> Path:
    """The shipped model set, package data of :mod:`flashsim_coffea` (``flashsim_coffea/models/``), as a folder.

    Found through :func:`importlib.resources.files`: the same folder in a checkout, an editable
    install and an installed wheel (a user's own model set is any other folder, given by path).
    """
    from importlib.resources import files

    return Path(str(files("flashsim_coffea") / "models"))


#: the models shipped with the project (package data: ``flashsim_coffea/models/``).
DEFAULT_MODELS = _shipped_models()


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(directory: str | os.PathLike, name: str, state: dict[str, torch.Tensor], card: dict) -> Path:
    """Write ``<name>.safetensors`` and ``<name>.json`` into ``directory``; returns the card path.

    The card gets ``schema_version`` and a ``weights`` entry (file, sha256, shapes).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / f"{name}.safetensors"
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    save_file(tensors, str(weights))
    full = {
        "schema_version": SCHEMA_VERSION,
        **card,
        "weights": {
            "file": weights.name,
            "sha256": sha256(weights),
            "shapes": {k: list(v.shape) for k, v in sorted(tensors.items())},
        },
    }
    return write(directory / f"{name}.json", full)


def write(path: str | os.PathLike, card: dict) -> Path:
    """Write a card's JSON (atomically: a temporary file, then renamed); its weights are untouched."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return path


def read(path: str | os.PathLike) -> dict:
    """Read and version-check a card (weights not loaded)."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelCardError(f"{path}: cannot read model card ({err})") from None
    version = card.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ModelCardError(
            f"{path}: model card schema version {version!r} is not supported "
            f"(this flashsim-coffea reads {list(SUPPORTED_SCHEMA_VERSIONS)})"
        )
    return card


def load(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a card and its weights, checking schema version, sha256 and tensor shapes."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    card = read(path)
    weights = path.parent / card["weights"]["file"]
    if not weights.exists():
        raise ModelCardError(f"{weights}: weight file named by {path.name} is missing")
    digest = sha256(weights)
    if digest != card["weights"]["sha256"]:
        raise ModelCardError(
            f"{weights}: sha256 {digest[:12]}... does not match the card's {card['weights']['sha256'][:12]}... "
            "(corrupt or replaced weights)"
        )
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelCardError(f"{weights}: not a valid safetensors file ({err})") from None
    want = card["weights"]["shapes"]
    got = {k: list(v.shape) for k, v in tensors.items()}
    if set(want) != set(got):
        raise ModelCardError(f"{weights}: tensor names differ from the card: {sorted(set(want) ^ set(got))}")
    for k in want:
        if want[k] != got[k]:
            raise ModelCardError(f"{weights}: tensor {k} has shape {got[k]}, the card says {want[k]}")
    return card, tensors


def card_path(models_dir: str | os.PathLike, key: str, kind: str) -> Path:
    """The card of the ``kind`` model of source ``key`` (``models_dir/<key>/<kind>.json``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r} (known: {KINDS})")
    return Path(models_dir) / key / f"{kind}.json"


def is_models_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a models index."""
    return (Path(path) / INDEX).is_file()


def read_index(models_dir: str | os.PathLike) -> dict:
    """The models index of ``models_dir`` (``schema_version``, ``solver``, ``steps``, ``sources``; optional
    ``grid``, ``precision``, ``source_steps``: source -> its own step count, and ``source_solvers``: source ->
    its own solver), checked."""
    path = Path(models_dir) / INDEX
    try:
        index = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelCardError(f"{path}: cannot read the models index ({err})") from None
    if index.get("schema_version") != INDEX_SCHEMA_VERSION:
        raise ModelCardError(
            f"{path}: models index schema version {index.get('schema_version')!r} is not supported "
            f"(this flashsim-coffea reads {INDEX_SCHEMA_VERSION})"
        )
    for key, n in index.get("source_steps", {}).items():
        if key not in index.get("sources", []):
            raise ModelCardError(f"{path}: source_steps names {key!r}, which is not one of its sources")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ModelCardError(f"{path}: source_steps[{key!r}] = {n!r} is not a positive whole number of ODE steps")
    for key, name in index.get("source_solvers", {}).items():
        if key not in index.get("sources", []):
            raise ModelCardError(f"{path}: source_solvers names {key!r}, which is not one of its sources")
        if not isinstance(name, str):
            raise ModelCardError(f"{path}: source_solvers[{key!r}] = {name!r} is not the name of an ODE solver")
    return index


def write_index(models_dir: str | os.PathLike, keys: list[str], order: list[str], solver: str, steps: int) -> Path:
    """Add ``keys`` to the index of ``models_dir`` (created if absent), sources listed in ``order``.

    An existing index keeps its solver, steps, per-source steps and solvers of the sources it keeps, time
    grid (``grid``: :func:`flashsim_coffea.sim.ode.time_grid`; absent: equal steps) and precision.
    """
    path = Path(models_dir) / INDEX
    old = json.loads(path.read_text()) if path.exists() else {}
    have = set(old.get("sources", [])) | set(keys)
    index = {"schema_version": INDEX_SCHEMA_VERSION, "solver": old.get("solver", solver),
             "steps": old.get("steps", steps), **{k: old[k] for k in ("grid", "precision") if k in old},
             "sources": [k for k in order if k in have]}
    for per in ("source_steps", "source_solvers"):  # a retrained source: not measured
        kept = {k: n for k, n in old.get(per, {}).items() if k not in keys}
        if kept:
            index[per] = kept
    path.write_text(json.dumps(index, indent=1))
    return path


def set_source_steps(models_dir: str | os.PathLike, chosen: dict[str, int], solvers: dict[str, str] | None = None) -> dict:
    """Write ``chosen`` (source -> ODE steps) into the index of ``models_dir`` as ``source_steps``: the entries
    that differ from its ``steps``; those of sources not in ``chosen`` are kept. ``solvers`` (source -> solver,
    for sources of ``chosen``): likewise as ``source_solvers``, against its ``solver``; a source of ``chosen``
    without one takes the index's solver. Returns the index."""
    path = Path(models_dir) / INDEX
    index = read_index(models_dir)
    unknown = [k for k in chosen if k not in index["sources"]]
    if unknown:
        raise ModelCardError(f"{path}: no source {unknown[0]!r} to set the steps of")
    per = {**index.get("source_steps", {}), **{k: int(n) for k, n in chosen.items()}}
    index["source_steps"] = {k: n for k, n in per.items() if n != index["steps"]}
    solvers = solvers or {}
    per = {**{k: s for k, s in index.get("source_solvers", {}).items() if k not in chosen},
           **{k: solvers.get(k, index["solver"]) for k in chosen}}
    index["source_solvers"] = {k: s for k, s in per.items() if s != index["solver"]}
    for name in ("source_steps", "source_solvers"):
        if not index[name]:
            del index[name]
    write(path, index)
    return index


def record_validation(models_dir: str | os.PathLike, label: str, figures: dict[str, dict]) -> None:
    """Write each source's validation figures into its flow card under ``label`` (e.g. the process).

    ``figures``: source key -> the figures to record (AUC, median W1/σ, ...). Cards keep the
    figures of other labels; the weights and their hash are untouched.
    """
    for key, fig in figures.items():
        path = card_path(models_dir, key, "flow")
        c = json.loads(path.read_text())
        c.setdefault("validation", {})[label] = fig
        write(path, c)
