"""Model cards: the JSON file beside each model's safetensors weights.

A card names everything needed to rebuild and trust a model: its kind (``flow``,
``efficiency`` or ``count``), network configuration, conditioning features with their
scaling, targets with their fitted transforms, the acceptance seen in training
(``acceptance.abs_eta_max``: largest gen |η| of a reconstructed candidate in an
efficiency card; largest reco |η| and ``acceptance.pt_min``, smallest reco pT, in a flow
card), training provenance (processes,
events, seed, code version), the weights' file name, sha256 and tensor shapes, and
validation figures.

:func:`save` writes weights (safetensors) and card together; :func:`load` refuses
a card of an unknown schema version, weights whose hash differs from the card's, or
tensors whose names or shapes differ from the card's, each with a message naming
the file. Weights are read with ``safetensors`` only (never pickle).

Example:
    >>> save(directory, "efficiency", state_dict, {"kind": "efficiency", ...})  # doctest: +SKIP
    >>> card, tensors = load(directory / "efficiency.json")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

#: Card schema versions this code reads.
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)


class ModelCardError(ValueError):
    """A model card or its weights cannot be trusted."""


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
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(full, indent=1, sort_keys=True))
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
