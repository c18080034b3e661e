"""Training the count model (pileup jets per event): cross entropy over ``0 .. n_max``.

Example:
    >>> x = np.random.default_rng(1).normal(size=(300, 2))
    >>> counts = np.random.default_rng(2).poisson(2.0, 300)
    >>> model, history = train_count(x, counts, seed=1, epochs=2, progress=False)
    >>> history["n_train"], history["n_val"]
    (240, 60)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from flashsim_coffea.sim.count import DEFAULT_CONFIG, CountModel, build_count, probabilities
from flashsim_coffea.sim.nets import as_tensor, set_scaling
from flashsim_coffea.train.loop import split, train_loop


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
    set_scaling(model, "input", x[tr].mean(0), x[tr].std(0))
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
