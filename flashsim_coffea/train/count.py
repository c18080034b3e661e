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
from flashsim_coffea.train.checkpoint import Checkpoint
from flashsim_coffea.train.loop import train_loop
from flashsim_coffea.train.rows import from_arrays, prepare


def train_count(context, counts, config: Mapping | None = None, seed: int = 0, *, epochs: int = 40,
                batch_size: int = 1024, lr: float = 2e-3, val_fraction: float = 0.2, patience: int = 8,
                quantile: float = 0.9995, progress: bool = True,
                weights: np.ndarray | None = None, checkpoint: Checkpoint | None = None) -> tuple[CountModel, dict]:
    """Train a count model (cross entropy) on per-event ``context`` ``(n, d)`` and ``counts``.

    ``weights``: per-row draw weights (training batches draw the rows in proportion to them; the
    objects of a source trained for the density before an exclusion, :mod:`flashsim_coffea.train.apart`).
    ``checkpoint``: resumable training (:func:`flashsim_coffea.train.loop.train_loop`).

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
    data = from_arrays(x, y) if weights is None else from_arrays(x, y, as_tensor(weights))
    p = prepare(data, val_fraction, seed, batch_size, weights=None if weights is None else 2)
    set_scaling(model, "input", p.fit[0].mean(0), p.fit[0].std(0))
    ce = nn.functional.cross_entropy
    x_va, y_va = p.val[:2]
    # the validation loss of the distribution the batches draw: weighted as they are (unweighted, it rose as soon
    # as the weighted fit moved the shares, and stopped the pileup jets' categories at their second epoch)
    w_va = p.val[2] / p.val[2].sum() if weights is not None and len(x_va) else None

    def batch_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator) -> torch.Tensor:
        return ce(model(batch[0]), batch[1])

    @torch.no_grad()
    def val_loss() -> float | None:
        if not len(x_va):
            return None
        return float(ce(model(x_va), y_va)) if w_va is None else float((ce(model(x_va), y_va, reduction="none")
                                                                          * w_va).sum())

    hist = train_loop(model, batch_loss, p.batches, val_loss, seed=seed, epochs=epochs,
                      steps_per_epoch=p.steps_per_epoch, lr=lr, patience=patience, progress=progress, desc="count",
                      checkpoint=checkpoint)
    if len(x_va):
        prob = probabilities(model, x_va)
        hist["mean_count"] = float(y_va.double().mean())
        hist["model_mean_count"] = float((prob * np.arange(n_max + 1)).sum(1).mean())
    hist["n_train"], hist["n_val"], hist["n_max"] = p.n_train, len(x_va), n_max
    return model, hist
