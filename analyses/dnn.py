"""A small signal-vs-background MLP for the analyses: train, save (safetensors + JSON card), load.

The network is ``Linear -> SiLU`` blocks and a one-logit head; inputs are standardised
with constants fitted on the training set and stored in the card. Weights are saved
with safetensors (never pickle); the card records the inputs, the scaling, the shape,
the training data and the sha256 of the weights file, which :func:`load` checks.

Example:
    >>> dnn = load("analyses/models/zh_llbb_dnn")  # doctest: +SKIP
    >>> score = dnn(features)                       # (N, n_inputs) -> (N,) in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

#: schema version of the JSON card.
CARD_VERSION = 1


def _mlp(n_in: int, hidden: tuple[int, ...]):
    import torch

    layers: list[torch.nn.Module] = []
    last = n_in
    for width in hidden:
        layers += [torch.nn.Linear(last, width), torch.nn.SiLU()]
        last = width
    layers.append(torch.nn.Linear(last, 1))
    return torch.nn.Sequential(*layers)


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class DNN:
    """A loaded classifier: call it on an ``(N, n_inputs)`` float array to get scores in [0, 1]."""

    model: Any
    card: dict

    @property
    def inputs(self) -> list[str]:
        return list(self.card["inputs"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = np.asarray(x, dtype=np.float32).reshape(-1, len(self.inputs))
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        mean = np.asarray(self.card["scaling"]["mean"], dtype=np.float32)
        std = np.asarray(self.card["scaling"]["std"], dtype=np.float32)
        z = np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)
        with torch.no_grad():
            logit = self.model(torch.from_numpy(np.ascontiguousarray(z))).squeeze(-1)
        return torch.sigmoid(logit).numpy().astype(np.float32)


def train(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    inputs: list[str],
    *,
    seed: int = 1,
    hidden: tuple[int, ...] = (32, 32),
    epochs: int = 60,
    batch: int = 256,
    lr: float = 3e-3,
    info: dict | None = None,
) -> DNN:
    """Train the MLP with a weighted binary cross-entropy; classes are balanced to equal total weight.

    Arguments:
        x: ``(N, len(inputs))`` features; y: 1 for signal, 0 for background; w: per-event weights
            (e.g. cross-section weights; ``None`` means 1).
        seed: torch and shuffling seed (same data and seed give the same weights).
        info: extra card content (training samples, events, ...).
    """
    import torch

    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    w = np.ones(len(y), np.float64) if w is None else np.abs(np.asarray(w, dtype=np.float64))
    for cls in (0, 1):
        sel = y == cls
        if not sel.any():
            raise ValueError(f"no training events of class {cls}")
        w[sel] *= 0.5 * len(y) / w[sel].sum()
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = _mlp(x.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt = torch.from_numpy((x - mean) / std)
    yt = torch.from_numpy(y)
    wt = torch.from_numpy(w.astype(np.float32))
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(y), batch):
            idx = perm[start : start + batch]
            loss = (loss_fn(model(xt[idx]).squeeze(-1), yt[idx]) * wt[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        final = float((loss_fn(model(xt).squeeze(-1), yt) * wt).mean())
    card = {
        "card_version": CARD_VERSION,
        "kind": "binary classifier (sigmoid of one logit)",
        "inputs": list(inputs),
        "scaling": {"mean": mean.tolist(), "std": std.tolist(), "transform": "(x - mean) / std"},
        "shape": {"n_inputs": int(x.shape[1]), "hidden": list(hidden), "activation": "SiLU"},
        "training": {"seed": seed, "epochs": epochs, "batch": batch, "lr": lr, "events": int(len(y)),
                     "signal_events": int(y.sum()), "final_weighted_bce": final, **(info or {})},
    }
    return DNN(model, card)


def save(dnn: DNN, stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``stem.safetensors`` and ``stem.json`` (card with the weights' sha256)."""
    from safetensors.torch import save_file

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    wpath, cpath = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    state = {k: v.detach().contiguous() for k, v in dnn.model.state_dict().items()}
    save_file(state, str(wpath), metadata={"card": cpath.name})
    card = {**dnn.card, "weights": wpath.name, "sha256": sha256(wpath)}
    cpath.write_text(json.dumps(card, indent=1) + "\n")
    return wpath, cpath


def load(stem: str | os.PathLike) -> DNN:
    """Load a classifier saved by :func:`save`, checking card version, sha256 and tensor shapes."""
    import torch
    from safetensors.torch import load_file

    stem = Path(stem)
    cpath = stem.with_suffix(".json")
    card = json.loads(cpath.read_text())
    if card.get("card_version") != CARD_VERSION:
        raise ValueError(f"{cpath}: card_version {card.get('card_version')} != {CARD_VERSION}")
    wpath = cpath.parent / card["weights"]
    digest = sha256(wpath)
    if digest != card["sha256"]:
        raise ValueError(f"{wpath}: sha256 {digest} does not match the card ({card['sha256']})")
    model = _mlp(int(card["shape"]["n_inputs"]), tuple(card["shape"]["hidden"]))
    state = load_file(str(wpath))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        raise ValueError(f"{wpath}: tensor shapes {got} do not match the card's network {expected}")
    model.load_state_dict(state)
    model.eval()
    return DNN(model, card)


@lru_cache(maxsize=8)
def cached(stem: str) -> DNN | None:
    """:func:`load` once per process; ``None`` when no model is stored at ``stem``."""
    if not Path(stem).with_suffix(".json").exists():
        return None
    return load(stem)
