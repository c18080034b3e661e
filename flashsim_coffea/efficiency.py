"""Reconstruction efficiency: a calibrated MLP classifier for P(reconstructed | conditioning).

:func:`train_efficiency` fits an MLP with binary cross-entropy on logits (validation
split, early stopping), then calibrates its probabilities on the validation split:
``platt`` (``sigmoid(a z + b)`` on the logit ``z``; temperature scaling with a shift),
``isotonic`` (pool-adjacent-violators on ``z``, interpolated between blocks) or
``none``. The calibration lives in the model's ``config``, so a model card rebuilds the
whole thing with :func:`build_classifier`. The raw conditioning is standard-scaled
inside the model.

At simulation time a candidate is kept when a uniform draw (counter-based, keyed by
event and replica: :mod:`flashsim_coffea.random`) is below its probability.

Example:
    >>> model, history = train_efficiency(cond, label, {"hidden": [64, 64]}, seed=1, progress=False)  # doctest: +SKIP
    >>> keep = keep_mask(predict_proba(model, cond), uniform)  # doctest: +SKIP

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

from .flow import ACTIVATIONS, EMA_DECAY, as_tensor, split, train_loop

#: classifier defaults (``input_dim`` comes from the data).
DEFAULT_CONFIG = {"hidden": [64, 64], "activation": "silu", "dropout": 0.0}


@dataclass
class Calibration:
    """Map from classifier logits to calibrated probabilities.

    Arguments:
        method: ``none``, ``platt`` (``a``, ``b``) or ``isotonic`` (knots ``x`` -> ``y``).
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


def fit_platt(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, iterations: int = 50) -> Calibration:
    """Platt scaling: logistic regression of labels ``y`` on logits ``z`` (damped Newton)."""
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    w = np.ones_like(z) if w is None else np.asarray(w, np.float64)
    X = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.array([1.0, 0.0])

    def nll(th):
        s = X @ th
        return np.sum(w * (np.logaddexp(0, s) - y * s))

    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(X @ theta)))
        grad = X.T @ (w * (p - y))
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        f0, lam = nll(theta), 1.0
        while lam > 1e-6 and nll(theta - lam * step) > f0:
            lam /= 2
        theta = theta - lam * step
        if np.max(np.abs(lam * step)) < 1e-10:
            break
    return Calibration("platt", a=float(theta[0]), b=float(theta[1]))


def fit_isotonic(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Calibration:
    """Isotonic (non-decreasing) fit of labels on logits by pool-adjacent-violators.

    Knots are the blocks' weighted mean logit and mean label; between knots the map is
    linear, beyond them constant.
    """
    order = np.argsort(np.asarray(z, np.float64), kind="stable")
    z = np.asarray(z, np.float64)[order]
    y = np.asarray(y, np.float64)[order]
    w = np.ones_like(z) if w is None else np.asarray(w, np.float64)[order]
    # blocks as stacks of (sum w, sum w*y, sum w*z)
    sw, swy, swz = [], [], []
    for wi, yi, zi in zip(w, w * y, w * z):
        sw.append(wi)
        swy.append(yi)
        swz.append(zi)
        while len(sw) > 1 and swy[-2] / sw[-2] >= swy[-1] / sw[-1]:
            b = sw.pop(), swy.pop(), swz.pop()
            sw[-1] += b[0]
            swy[-1] += b[1]
            swz[-1] += b[2]
    sw, swy, swz = np.array(sw), np.array(swy), np.array(swz)
    return Calibration("isotonic", x=(swz / sw).tolist(), y=(swy / sw).tolist())


class Classifier(nn.Module):
    """MLP giving the logit of P(reconstructed | x); raw inputs are standard-scaled inside.

    Arguments:
        input_dim: conditioning dimension.
        hidden: hidden widths.
        activation: see :data:`flashsim_coffea.flow.ACTIVATIONS`.
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
                      "dropout": float(dropout), **({"bins": {str(k): v for k, v in self.bins.items()}} if self.bins else {})}
        for k, edges in self.bins.items():
            if not 0 <= k < self.input_dim or len(edges) < 2 or np.any(np.diff(edges) <= 0):
                raise ValueError(f"bins of input {k}: need increasing edges of an input below {self.input_dim}")
            self.register_buffer(f"bin_lo_{k}", torch.tensor(edges[:-1], dtype=torch.float32))
            self.register_buffer(f"bin_width_{k}", torch.tensor(np.diff(edges), dtype=torch.float32))
        layers, width = [], self.input_dim + sum(len(e) - 1 for e in self.bins.values())
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(self.input_dim))
        self.register_buffer("input_std", torch.ones(self.input_dim))
        self.calibration = calibration if isinstance(calibration, Calibration) else Calibration.from_dict(calibration)

    @property
    def config(self) -> dict:
        """The dict :func:`build_classifier` takes to rebuild this model (calibration included)."""
        return {**self._arch, "calibration": self.calibration.to_dict()}

    def set_input_scaling(self, mean, std) -> None:
        std = torch.as_tensor(np.asarray(std, np.float32)).clone()
        std[~(std > 0)] = 1.0
        self.input_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32)))
        self.input_std.copy_(std)

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
    """
    cfg = {**DEFAULT_CONFIG, **config}
    return Classifier(cfg["input_dim"], cfg["hidden"], cfg["activation"], cfg["dropout"], cfg.get("calibration"),
                      cfg.get("bins"))


@torch.no_grad()
def logits(model: Classifier, context, batch_size: int = 100_000) -> np.ndarray:
    """Uncalibrated logits (float64) for every row of ``context``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = as_tensor(context, model.input_dim)
    out = np.empty(x.shape[0], np.float64)
    for i in range(0, x.shape[0], batch_size):
        out[i : i + batch_size] = model(x[i : i + batch_size].to(device)).double().cpu().numpy()
    model.train(was_training)
    return out


def predict_proba(model: Classifier, context, batch_size: int = 100_000) -> np.ndarray:
    """Calibrated P(reconstructed) (float64) for every row of ``context``."""
    return model.calibration(logits(model, context, batch_size))


def keep_mask(p: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Which candidates are reconstructed: ``uniform < p``."""
    return np.asarray(uniform) < np.asarray(p)


def calibrate(model: Classifier, context, label, method: str = "platt", weight=None) -> Calibration:
    """Fit ``model``'s calibration on held-out ``(context, label)``; sets and returns it."""
    z = logits(model, context)
    if method == "platt":
        cal = fit_platt(z, np.asarray(label), weight)
    elif method == "isotonic":
        cal = fit_isotonic(z, np.asarray(label), weight)
    elif method == "none":
        cal = Calibration()
    else:
        raise ValueError(f"unknown calibration {method!r} (platt, isotonic, none)")
    model.calibration = cal
    return cal


def train_efficiency(context, label, config: Mapping | None = None, seed: int = 0, *, epochs: int = 50,
                     batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0,
                     schedule: str = "cosine", val_fraction: float = 0.2, patience: int = 10,
                     calibration: str = "platt", weight=None, ema: float = EMA_DECAY, images: int = 0,
                     progress: bool = True, device: str | torch.device = "cpu") -> tuple[Classifier, dict]:
    """Train and calibrate an efficiency classifier on ``context`` ``(n, d)`` and 0/1 ``label``.

    Same ``seed`` -> identical model.

    Arguments:
        config: network config (:func:`build_classifier`); ``input_dim`` is filled from the data.
        calibration: ``platt``, ``isotonic`` or ``none``, fitted on the validation split.
        weight: optional per-sample weights.
        images: the rows are ``1 + images`` blocks, the mirror images of the first
            (:func:`flashsim_coffea.mirror.matrix_with_images`); see :func:`flashsim_coffea.flow.split`.
        Others: see :func:`flashsim_coffea.flow.train_loop`.

    Returns:
        ``(model, history)``; history adds ``calibration`` and the validation ``efficiency``.
    """
    torch.manual_seed(seed)
    x = as_tensor(context)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    y = as_tensor(label).reshape(-1)
    w = torch.ones_like(y) if weight is None else as_tensor(weight).reshape(-1)
    model = build_classifier({**DEFAULT_CONFIG, **(config or {}), "input_dim": x.shape[1], "calibration": None})
    tr, va = split(len(x), val_fraction, seed, 1 + images)
    model.set_input_scaling(x[tr].mean(0).numpy(), x[tr].std(0).numpy())
    model.to(device)
    x_tr, y_tr, w_tr = x[tr].to(device), y[tr].to(device), w[tr].to(device)
    x_va, y_va, w_va = x[va].to(device), y[va].to(device), w[va].to(device)
    bce = nn.functional.binary_cross_entropy_with_logits

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        idx = idx.to(device)
        return bce(model(x_tr[idx]), y_tr[idx], weight=w_tr[idx], reduction="sum") / w_tr[idx].sum()

    @torch.no_grad()
    def val_loss() -> float | None:
        if len(va) == 0:
            return None
        total = sum(
            float(bce(model(x_va[i : i + 65536]), y_va[i : i + 65536], weight=w_va[i : i + 65536], reduction="sum"))
            for i in range(0, len(va), 65536)
        )
        return total / float(w_va.sum())

    hist = train_loop(model, batch_loss, len(tr), val_loss, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, schedule=schedule, patience=patience, ema=ema, progress=progress,
                      desc="efficiency")
    if len(va):
        calibrate(model, x_va.cpu(), y_va.cpu().numpy(), calibration, w_va.cpu().numpy())
        hist["efficiency"] = float((w_va * y_va).sum() / w_va.sum())
    hist["calibration"] = model.calibration.to_dict()
    hist["n_train"], hist["n_val"] = len(tr), len(va)
    return model, hist
