"""Count model: P(n objects | event context) for sources with no gen candidate (pileup jets).

A small MLP with a softmax over ``0 .. n_max`` (``n_max`` from the training data; larger
counts are folded into the last class). Sampling takes one uniform number per event
and inverts the cumulative distribution, so with counter-based uniforms
(:mod:`flashsim_coffea.random`) every event's count is a pure function of its key.

Example:
    >>> model, hist = train_count(context, counts, seed=1, progress=False)  # doctest: +SKIP
    >>> n = sample_counts(model, context, uniforms)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from .flow import ACTIVATIONS, as_tensor, split, train_loop

DEFAULT_CONFIG = {"hidden": [32, 32], "activation": "silu"}


class CountModel(nn.Module):
    """Logits over counts ``0 .. n_max`` given standard-scaled raw context."""

    def __init__(self, input_dim: int, n_max: int, hidden: list[int], activation: str = "silu"):
        super().__init__()
        self.input_dim, self.n_max = int(input_dim), int(n_max)
        self._config = {"input_dim": self.input_dim, "n_max": self.n_max, "hidden": [int(h) for h in hidden],
                        "activation": activation}
        layers, width = [], self.input_dim
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, self.n_max + 1))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(self.input_dim))
        self.register_buffer("input_std", torch.ones(self.input_dim))

    @property
    def config(self) -> dict:
        return dict(self._config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.input_mean) / self.input_std)


def build_count(config: Mapping) -> CountModel:
    """:class:`CountModel` from a plain dict (``input_dim``, ``n_max``, ``hidden``, ``activation``)."""
    cfg = {**DEFAULT_CONFIG, **config}
    return CountModel(cfg["input_dim"], cfg["n_max"], cfg["hidden"], cfg["activation"])


@torch.no_grad()
def probabilities(model: CountModel, context) -> np.ndarray:
    """``(n_events, n_max + 1)`` probabilities (float64)."""
    model.eval()
    x = as_tensor(context, model.input_dim).to(model.input_mean.device)
    if x.shape[0] == 0:
        return np.zeros((0, model.n_max + 1))
    return torch.softmax(model(x).double(), dim=1).cpu().numpy()


def sample_counts(model: CountModel, context, uniform: np.ndarray) -> np.ndarray:
    """One count per event by inverse CDF of its probabilities at ``uniform`` (int64)."""
    cdf = np.cumsum(probabilities(model, context), axis=1)
    u = np.asarray(uniform, np.float64).reshape(-1, 1)
    return np.minimum((cdf <= u).sum(axis=1), model.n_max).astype(np.int64)


def train_count(context, counts, config: Mapping | None = None, seed: int = 0, *, epochs: int = 40,
                batch_size: int = 1024, lr: float = 2e-3, val_fraction: float = 0.2, patience: int = 8,
                quantile: float = 0.9995, progress: bool = True) -> tuple[CountModel, dict]:
    """Train a count model (cross entropy) on per-event ``context`` ``(n, d)`` and ``counts``.

    Returns ``(model, history)``; history adds the mean count of the validation split
    (``mean_count``) and of the model there (``model_mean_count``).
    """
    torch.manual_seed(seed)
    x = as_tensor(context)
    x = x.reshape(len(x), -1)
    counts = np.asarray(counts, np.int64)
    n_max = max(1, int(np.quantile(counts, quantile)) if len(counts) else 1)
    y = torch.as_tensor(np.minimum(counts, n_max))
    model = build_count({**DEFAULT_CONFIG, **(config or {}), "input_dim": x.shape[1], "n_max": n_max})
    tr, va = split(len(x), val_fraction, seed)
    std = x[tr].std(0)
    std[~(std > 0)] = 1.0
    model.input_mean.copy_(x[tr].mean(0))
    model.input_std.copy_(std)
    ce = nn.functional.cross_entropy
    x_tr, y_tr = x[tr], y[tr]

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return ce(model(x_tr[idx]), y_tr[idx])

    @torch.no_grad()
    def val_loss() -> float | None:
        return float(ce(model(x[va]), y[va])) if len(va) else None

    hist = train_loop(model, batch_loss, len(tr), val_loss, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr,
                      patience=patience, progress=progress, desc="count")
    if len(va):
        p = probabilities(model, x[va])
        hist["mean_count"] = float(y[va].double().mean())
        hist["model_mean_count"] = float((p * np.arange(n_max + 1)).sum(1).mean())
    hist["n_train"], hist["n_val"], hist["n_max"] = len(tr), len(va), n_max
    return model, hist
