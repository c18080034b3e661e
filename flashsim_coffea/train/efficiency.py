"""Training the efficiency classifier: binary cross-entropy on logits, then calibration on the validation split.

:func:`train_efficiency` fits the MLP of a :class:`~flashsim_coffea.sim.efficiency.Classifier`
(validation split, early stopping), then calibrates its probabilities on the validation split:
``platt`` (``sigmoid(a z + b)`` on the logit ``z``; temperature scaling with a shift),
``isotonic`` (pool-adjacent-violators on ``z``, interpolated between blocks) or ``none``.

Example:
    >>> x = np.random.default_rng(1).normal(size=(400, 1))
    >>> model, history = train_efficiency(x, x[:, 0] > 0, {"hidden": [8]}, seed=1, epochs=3, progress=False)
    >>> history["calibration"]["method"], history["n_val"]
    ('platt', 80)

References:
    Platt, Probabilistic outputs for support vector machines (1999);
    Zadrozny, Elkan, isotonic calibration (KDD 2002); Guo et al., On Calibration of
    Modern Neural Networks (arXiv:1706.04599).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from flashsim_coffea.sim.efficiency import DEFAULT_CONFIG, Calibration, Classifier, build_classifier, logits
from flashsim_coffea.sim.nets import as_tensor
from flashsim_coffea.train.checkpoint import Checkpoint
from flashsim_coffea.train.loop import EMA_DECAY, train_loop
from flashsim_coffea.train.rows import BUFFER_ROWS, Rows, from_arrays, prepare


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


def train_efficiency(context, label=None, config: Mapping | None = None, seed: int = 0, *, epochs: int = 50,
                     batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0,
                     schedule: str = "cosine", val_fraction: float = 0.2, patience: int = 10,
                     calibration: str = "platt", weight=None, ema: float = EMA_DECAY, images: int = 0,
                     progress: bool = True, buffer_rows: int = BUFFER_ROWS,
                     device: str | torch.device = "cpu", checkpoint: Checkpoint | None = None) -> tuple[Classifier, dict]:
    """Train and calibrate an efficiency classifier on ``context`` ``(n, d)`` and 0/1 ``label``.

    Same ``seed`` -> identical model.

    Arguments:
        context: the inputs, or a :class:`~flashsim_coffea.train.rows.Rows` whose ``load`` gives
            ``[inputs, labels, weights]``: rows read from the tables group by group beyond
            ``buffer_rows`` (:func:`~flashsim_coffea.train.rows.prepare`).
        config: network config (:func:`~flashsim_coffea.sim.efficiency.build_classifier`); ``input_dim`` is filled
            from the data.
        calibration: ``platt``, ``isotonic`` or ``none``, fitted on the validation split.
        weight: optional per-sample weights.
        images: the rows are ``1 + images`` blocks, the mirror images of the first
            (:func:`flashsim_coffea.train.mirror.matrix_with_images`); see :func:`flashsim_coffea.train.loop.split`.
        Others: see :func:`flashsim_coffea.train.loop.train_loop`.

    Returns:
        ``(model, history)``; history adds ``calibration`` and the validation ``efficiency``.
    """
    torch.manual_seed(seed)
    if isinstance(context, Rows):
        data = context
    else:
        x = as_tensor(context)
        x = x.reshape(-1, 1) if x.ndim == 1 else x
        y = as_tensor(label).reshape(-1)
        w = torch.ones_like(y) if weight is None else as_tensor(weight).reshape(-1)
        data = from_arrays(x, y, w, images=images)
    p = prepare(data, val_fraction, seed, batch_size, buffer_rows=buffer_rows, device=device)
    model = build_classifier({**DEFAULT_CONFIG, **(config or {}), "input_dim": p.fit[0].shape[1],
                              "calibration": None})
    model.set_input_scaling(p.fit[0].mean(0).numpy(), p.fit[0].std(0).numpy())
    model.to(device)
    x_va, y_va, w_va = p.val
    bce = nn.functional.binary_cross_entropy_with_logits

    def batch_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator) -> torch.Tensor:
        xb, yb, wb = batch
        return bce(model(xb), yb, weight=wb, reduction="sum") / wb.sum()

    @torch.no_grad()
    def val_loss() -> float | None:
        if len(x_va) == 0:
            return None
        total = sum(
            float(bce(model(x_va[i : i + 65536]), y_va[i : i + 65536], weight=w_va[i : i + 65536], reduction="sum"))
            for i in range(0, len(x_va), 65536)
        )
        return total / float(w_va.sum())

    hist = train_loop(model, batch_loss, p.batches, val_loss, seed=seed, epochs=epochs,
                      steps_per_epoch=p.steps_per_epoch, lr=lr, weight_decay=weight_decay, schedule=schedule,
                      patience=patience, ema=ema, progress=progress, desc="efficiency", checkpoint=checkpoint)
    if len(x_va):
        calibrate(model, x_va.cpu(), y_va.cpu().numpy(), calibration, w_va.cpu().numpy())
        hist["efficiency"] = float((w_va * y_va).sum() / w_va.sum())
    hist["calibration"] = model.calibration.to_dict()
    hist["n_train"], hist["n_val"] = p.n_train, len(x_va)
    return model, hist
