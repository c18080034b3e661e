"""Count model: P(n objects | event context) for sources with no gen candidate (pileup jets).

A small MLP with a softmax over ``0 .. n_max`` (``n_max`` from the training data; larger
counts are folded into the last class). Sampling takes one uniform number per event
and inverts the cumulative distribution, so with counter-based uniforms
(:mod:`flashsim_coffea.sim.random`) every event's count is a pure function of its key.

Training is :func:`flashsim_coffea.train.count.train_count`.

Example:
    The shipped pileup-jet count model on 50 events of a real ttbar file:

    >>> import awkward as ak, uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> from flashsim_coffea.sim import features, random
    >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
    >>> from flashsim_coffea.sim.engine import load_source, matrix
    >>> from flashsim_coffea.specs import jet
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=[*branch_names(), "run", "luminosityBlock", "event"], entry_stop=50))
    >>> model = load_source(DEFAULT_MODELS, jet.PILEUP).count
    >>> ctx = features.event_context(gen)
    >>> context = matrix({k: ak.to_numpy(v) for k, v in ctx.items()}, jet.PILEUP.conditioning)
    >>> np.round(probabilities(model, context)[0, :4], 3)  # P(0, 1, 2, 3 pileup jets) in event 0
    array([0.171, 0.315, 0.27 , 0.152])
    >>> keys = random.event_keys(gen.run.to_numpy(), gen.luminosityBlock.to_numpy(), gen.event.to_numpy())
    >>> sample_counts(model, context, random.uniform(1, keys, 0, 99))[:10].tolist()
    [1, 6, 6, 2, 2, 2, 2, 7, 1, 8]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from flashsim_coffea.sim.nets import add_scaling, as_tensor, in_batches, mlp

DEFAULT_CONFIG = {"hidden": [32, 32], "activation": "silu"}


class CountModel(nn.Module):
    """Logits over counts ``0 .. n_max`` given standard-scaled raw context."""

    def __init__(self, input_dim: int, n_max: int, hidden: list[int], activation: str = "silu"):
        super().__init__()
        self.input_dim, self.n_max = int(input_dim), int(n_max)
        self._config = {"input_dim": self.input_dim, "n_max": self.n_max, "hidden": [int(h) for h in hidden],
                        "activation": activation}
        self.mlp = mlp(self.input_dim, hidden, self.n_max + 1, activation)
        add_scaling(self, "input", self.input_dim)

    @property
    def config(self) -> dict:
        return dict(self._config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.input_mean) / self.input_std)


def build_count(config: Mapping) -> CountModel:
    """:class:`CountModel` from a plain dict (``input_dim``, ``n_max``, ``hidden``, ``activation``).

    Example:
        >>> model = build_count({"input_dim": 3, "n_max": 5})
        >>> model.config, probabilities(model, np.zeros((2, 3))).shape
        ({'input_dim': 3, 'n_max': 5, 'hidden': [32, 32], 'activation': 'silu'}, (2, 6))
    """
    cfg = {**DEFAULT_CONFIG, **config}
    return CountModel(cfg["input_dim"], cfg["n_max"], cfg["hidden"], cfg["activation"])


@torch.no_grad()


def probabilities(model: CountModel, context) -> np.ndarray:
    """``(n_events, n_max + 1)`` probabilities (float64)."""
    model.eval()
    x = as_tensor(context, model.input_dim).to(model.input_mean.device)
    if x.shape[0] == 0:
        return np.zeros((0, model.n_max + 1))
    return torch.softmax(in_batches(model, x).double(), dim=1).cpu().numpy()


def sample_counts(model: CountModel, context, uniform: np.ndarray) -> np.ndarray:
    """One count per event by inverse CDF of its probabilities at ``uniform`` (int64).

    Example:
        >>> model = build_count({"input_dim": 1, "n_max": 3})
        >>> _ = model.mlp[-1].bias.data.copy_(torch.tensor([0.0, 0.0, 0.0, -50.0]))  # P = 1/3, 1/3, 1/3, 0
        >>> _ = model.mlp[-1].weight.data.zero_()
        >>> sample_counts(model, np.zeros((4, 1)), np.array([0.1, 0.4, 0.7, 0.99])).tolist()
        [0, 1, 2, 2]
    """
    cdf = np.cumsum(probabilities(model, context), axis=1)
    u = np.asarray(uniform, np.float64).reshape(-1, 1)
    return np.minimum((cdf <= u).sum(axis=1), model.n_max).astype(np.int64)


