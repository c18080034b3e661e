"""Reconstruction efficiency: a calibrated MLP classifier for P(reconstructed | conditioning).

:func:`train_efficiency` fits an MLP with binary cross-entropy on logits (validation
split, early stopping), then calibrates its probabilities on the validation split:
``platt`` (``sigmoid(a z + b)`` on the logit ``z``; temperature scaling with a shift),
``isotonic`` (pool-adjacent-violators on ``z``, interpolated between blocks) or
``none``. The calibration lives in the model's ``config``, so a model card rebuilds the
whole thing with :func:`build_classifier`. The raw conditioning is standard-scaled
inside the model.

At simulation time a candidate is kept when a uniform draw (counter-based, keyed by
event and replica: :mod:`flashsim_coffea.sim.random`) is below its probability.

Training is :func:`flashsim_coffea.train.efficiency.train_efficiency`.

Example:
    The shipped genuine-muon efficiency on the gen muons of 50 events of a real ttbar file:

    >>> import awkward as ak, uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> from flashsim_coffea.sim import candidates, features
    >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
    >>> from flashsim_coffea.sim.engine import load_source, matrix
    >>> from flashsim_coffea.specs import muon
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50))
    >>> model = load_source(DEFAULT_MODELS, muon.GENUINE).efficiency
    >>> mu = candidates.select(gen, "GenMuon")
    >>> feats = features.compute(gen, mu, muon.GENUINE.conditioning)
    >>> X = matrix({k: ak.to_numpy(ak.flatten(v)) for k, v in feats.items()}, muon.GENUINE.conditioning)
    >>> p = predict_proba(model, X)
    >>> np.round(p[:4], 3), ak.flatten(mu.pt)[:4].tolist()  # a 2.8 GeV muon rarely makes it
    (array([0.986, 0.915, 0.986, 0.036]), [43.625, 3.3046875, 26.75, 2.828125])
    >>> keep_mask(p[:4], np.full(4, 0.5))
    array([ True,  True,  True, False])

References:
    Platt, Probabilistic outputs for support vector machines (1999);
    Zadrozny, Elkan, isotonic calibration (KDD 2002); Guo et al., On Calibration of
    Modern Neural Networks (arXiv:1706.04599).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from flashsim_coffea.sim.nets import BATCH_ROWS, add_scaling, as_tensor, in_batches, mlp, set_scaling

#: classifier defaults (``input_dim`` comes from the data).
DEFAULT_CONFIG = {"hidden": [64, 64], "activation": "silu", "dropout": 0.0}


@dataclass


class Calibration:
    """Map from classifier logits to calibrated probabilities.

    Arguments:
        method: ``none``, ``platt`` (``a``, ``b``) or ``isotonic`` (knots ``x`` -> ``y``).

    Example:
        >>> Calibration("platt", a=2.0, b=0.0)(np.array([-1.0, 0.0, 1.0]))
        array([0.11920292, 0.5       , 0.88079708])
        >>> Calibration("isotonic", x=[-1.0, 1.0], y=[0.1, 0.9])(np.array([-2.0, 0.0, 3.0]))
        array([0.1, 0.5, 0.9])
    """

    method: str = "none"
    a: float = 1.0
    b: float = 0.0
    x: list[float] | None = None
    y: list[float] | None = None

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float64)
        if self.method == "isotonic":
            return np.interp(z, self.x, self.y)
        a, b = (self.a, self.b) if self.method == "platt" else (1.0, 0.0)
        return 1.0 / (1.0 + np.exp(-(a * z + b)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping | None) -> Calibration:
        return cls(**(d or {}))


class Classifier(nn.Module):
    """MLP giving the logit of P(reconstructed | x); raw inputs are standard-scaled inside.

    Arguments:
        input_dim: conditioning dimension.
        hidden: hidden widths.
        activation: see :data:`flashsim_coffea.sim.nets.ACTIVATIONS`.
        dropout: dropout after each hidden activation.
        calibration: :class:`Calibration` or its dict.
        bins: input column -> increasing bin edges: the column is also given to the MLP in the
            piecewise-linear encoding (one input per bin, 0 below it, 1 above it, linear
            across it; Gorishniy et al., arXiv:2203.05556), with which an acceptance edge is
            a step at a bin edge rather than a slope the MLP smooths over its neighbours.
    """

    def __init__(self, input_dim: int, hidden: list[int], activation: str = "silu", dropout: float = 0.0,
                 calibration: Calibration | Mapping | None = None, bins: Mapping | None = None):
        super().__init__()
        self.input_dim = int(input_dim)
        self.bins = {int(k): [float(e) for e in v] for k, v in (bins or {}).items()}
        self._arch = {"input_dim": self.input_dim, "hidden": [int(h) for h in hidden], "activation": activation,
                      "dropout": float(dropout)}
        if self.bins:
            self._arch["bins"] = {str(k): v for k, v in self.bins.items()}
        for k, edges in self.bins.items():
            if not 0 <= k < self.input_dim or len(edges) < 2 or np.any(np.diff(edges) <= 0):
                raise ValueError(f"bins of input {k}: need increasing edges of an input below {self.input_dim}")
            self.register_buffer(f"bin_lo_{k}", torch.tensor(edges[:-1], dtype=torch.float32))
            self.register_buffer(f"bin_width_{k}", torch.tensor(np.diff(edges), dtype=torch.float32))
        width = self.input_dim + sum(len(e) - 1 for e in self.bins.values())
        self.mlp = mlp(width, hidden, 1, activation, dropout=dropout)
        add_scaling(self, "input", self.input_dim)
        self.calibration = calibration if isinstance(calibration, Calibration) else Calibration.from_dict(calibration)

    @property
    def config(self) -> dict:
        """The dict :func:`build_classifier` takes to rebuild this model (calibration included)."""
        return {**self._arch, "calibration": self.calibration.to_dict()}

    def set_input_scaling(self, mean, std) -> None:
        """Standard scaling of the raw inputs (:func:`~flashsim_coffea.sim.nets.set_scaling`)."""
        set_scaling(self, "input", mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Uncalibrated logits, shape ``(n,)``."""
        h = (x - self.input_mean) / self.input_std
        if self.bins:
            enc = [((x[:, k : k + 1] - getattr(self, f"bin_lo_{k}")) / getattr(self, f"bin_width_{k}")).clamp(0, 1)
                   for k in self.bins]
            h = torch.cat([h, *enc], dim=1)
        return self.mlp(h).squeeze(-1)


def build_classifier(config: Mapping) -> Classifier:
    """:class:`Classifier` from a plain dict.

    Keys: ``input_dim``, ``hidden``, ``activation``, ``dropout``, ``calibration``, ``bins`` (as ``config`` gives).

    Example:
        >>> build_classifier({"input_dim": 2, "hidden": [8]}).config  # doctest: +NORMALIZE_WHITESPACE
        {'input_dim': 2, 'hidden': [8], 'activation': 'silu', 'dropout': 0.0,
         'calibration': {'method': 'none', 'a': 1.0, 'b': 0.0, 'x': None, 'y': None}}
    """
    cfg = {**DEFAULT_CONFIG, **config}
    return Classifier(cfg["input_dim"], cfg["hidden"], cfg["activation"], cfg["dropout"], cfg.get("calibration"),
                      cfg.get("bins"))


@torch.no_grad()


def logits(model: Classifier, context, batch_size: int = BATCH_ROWS) -> np.ndarray:
    """Uncalibrated logits (float64) for every row of ``context``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = as_tensor(context, model.input_dim)
    out = in_batches(model, x.to(device), batch_size).double().cpu().numpy()
    model.train(was_training)
    return out


def predict_proba(model: Classifier, context, batch_size: int = BATCH_ROWS) -> np.ndarray:
    """Calibrated P(reconstructed) (float64) for every row of ``context``."""
    return model.calibration(logits(model, context, batch_size))


def keep_mask(p: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Which candidates are reconstructed: ``uniform < p``.

    Example:
        >>> keep_mask(np.array([0.9, 0.9, 0.1]), np.array([0.5, 0.95, 0.05]))
        array([ True, False,  True])
    """
    return np.asarray(uniform) < np.asarray(p)


