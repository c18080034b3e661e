"""The analysis DNN: a small signal-vs-background MLP, its training, and its model card (save, load).

The network is :func:`flashsim_coffea.sim.nets.mlp` (``Linear -> SiLU`` blocks and a one-logit
head); inputs are standardised with constants fitted on the training set and stored in the card.
Weights and card are written and read by :mod:`flashsim_coffea.sim.cards` (safetensors, never
pickle): the card records ``kind``, the inputs, the scaling, the shape and the training data, and
:func:`load` refuses a card of an unknown schema version or weights whose sha256, tensor names or
shapes differ from the card's. The trained DNNs of the two analyses ship in :data:`MODELS_DIR`.

Example:
    >>> dnn = load(MODELS_DIR / "zh_llbb_dnn")
    >>> dnn.inputs[:3], dnn.card["weights"]["file"]
    (['m_ll', 'pt_ll', 'm_jj'], 'zh_llbb_dnn.safetensors')
    >>> score = dnn(np.zeros((4, len(dnn.inputs))))  # (N, n_inputs) -> (N,) in [0, 1]
    >>> score.shape, bool(((score >= 0) & (score <= 1)).all())
    ((4,), True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# torch (and cards/nets, which import it) load on first use, so that the analyses' command line
# answers --help and bad input without the 3 s torch import.
if TYPE_CHECKING:
    import torch

ANALYSES_DIR = Path(__file__).resolve().parent
#: the trained DNNs shipped with the analyses (``<analysis>_dnn.safetensors`` / ``.json``).
MODELS_DIR = ANALYSES_DIR / "models"
#: the card's ``kind``.
KIND = "binary classifier (sigmoid of one logit)"


def _network(shape: dict) -> torch.nn.Sequential:
    """The (untrained) MLP of a card's ``shape`` (``n_inputs``, ``hidden``, ``activation``), one logit out."""
    from flashsim_coffea.sim.nets import mlp

    activation = str(shape.get("activation", "silu")).lower()
    return mlp(int(shape["n_inputs"]), [int(h) for h in shape["hidden"]], 1, activation)


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
    shape = {"n_inputs": int(x.shape[1]), "hidden": [int(h) for h in hidden], "activation": "SiLU"}
    model = _network(shape)
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
        "kind": KIND,
        "inputs": list(inputs),
        "scaling": {"mean": mean.tolist(), "std": std.tolist(), "transform": "(x - mean) / std"},
        "shape": shape,
        "training": {"seed": seed, "epochs": epochs, "batch": batch, "lr": lr, "events": int(len(y)),
                     "signal_events": int(y.sum()), "final_weighted_bce": final, **(info or {})},
    }
    return DNN(model, card)


def save(dnn: DNN, stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``stem.safetensors`` and ``stem.json`` with :func:`flashsim_coffea.sim.cards.save`.

    The card gets ``schema_version`` and ``weights`` (file, sha256, shapes); returns (weights, card) paths.
    """
    from flashsim_coffea.sim import cards

    stem = Path(stem).with_suffix("")
    state = {k: v.detach().contiguous() for k, v in dnn.model.state_dict().items()}
    card = {k: v for k, v in dnn.card.items() if k not in ("schema_version", "weights")}
    cpath = cards.save(stem.parent, stem.name, state, card)
    return cpath.with_suffix(".safetensors"), cpath


def load(stem: str | os.PathLike) -> DNN:
    """Load a classifier saved by :func:`save` (``stem.json`` and the weights it names).

    :func:`flashsim_coffea.sim.cards.load` checks the schema version, sha256, tensor names and
    shapes; the tensors must also fit the network of ``card["shape"]``. Raises
    :class:`~flashsim_coffea.sim.cards.ModelCardError` (a ``ValueError``) naming the file.
    """
    from flashsim_coffea.sim import cards

    cpath = Path(stem).with_suffix(".json")
    card, state = cards.load(cpath)
    model = _network(card["shape"])
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        raise cards.ModelCardError(f"{cpath}: tensor shapes {got} do not match the card's network {expected}")
    model.load_state_dict(state)
    model.eval()
    return DNN(model, card)


@lru_cache(maxsize=8)
def cached(stem: str) -> DNN | None:
    """:func:`load` once per process; ``None`` when no model is stored at ``stem``."""
    if not Path(stem).with_suffix(".json").exists():
        return None
    return load(stem)
