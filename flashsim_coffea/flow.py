"""Conditional flow matching: a GLU-gated residual velocity network, its loss, sampler and trainer.

The flow moves Gaussian noise ``x0`` (t = 0) to preprocessed targets ``x1`` (t = 1)
along the optimal-transport path of Lipman et al. with ``sigma_min`` = s:

    x_t = t x1 + (1 - (1 - s) t) x0,        u = x1 - (1 - s) x0,

regressing ``v(t, x_t, context)`` on ``u``. Training times are drawn as
``t = U^(1/(1+alpha))`` (density ∝ t^alpha, biased to the data end; alpha = 1 as in the
CMS prototype). Sampling integrates the learnt ODE with a fixed-step solver
(:mod:`.ode`) over all objects at once, in chunks to bound memory.

The network (:class:`VelocityNet`, "DenseResidualNet" style) is built from a plain
dict (:func:`build`), so a model card can rebuild it; its ``config`` gives the dict
back. The context is standard-scaled inside the network (buffers fitted by
:func:`train_flow`), so callers pass raw conditioning features.

Example:
    >>> net, history = train_flow(x, context, {"hidden": [64, 64]}, seed=1, progress=False)  # doctest: +SKIP
    >>> g = torch.Generator().manual_seed(2)  # doctest: +SKIP
    >>> y = sample(net, context, steps=20, solver="midpoint", generator=g)  # doctest: +SKIP

References:
    Lipman, Chen, Ben-Hamu, Nickel, Le, Flow Matching for Generative Modeling (arXiv:2210.02747);
    Dax et al., Flow Matching for Scalable Simulation-Based Inference, DenseResidualNet (arXiv:2305.17161);
    Vaselli et al., CMS FlashSim end-to-end ML simulation (arXiv:2402.13684).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import ode

#: activation name -> module class.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh,
}
#: network defaults (``dim`` and ``context_dim`` come from the data).
DEFAULT_CONFIG = {"hidden": [64, 64, 64], "activation": "gelu", "dropout": 0.0}


class GatedBlock(nn.Module):
    """``x + h * sigmoid(W_c [context, t] + b)`` with ``h = lin(drop(act(lin(act(x)))))``.

    The second linear layer starts near zero (U(-1e-3, 1e-3)), so each block starts
    close to the identity.
    """

    def __init__(self, width: int, gate_dim: int, activation: str = "gelu", dropout: float = 0.0):
        super().__init__()
        self.act = ACTIVATIONS[activation]()
        self.lin1 = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)
        self.lin2 = nn.Linear(width, width)
        self.gate = nn.Linear(gate_dim, width)
        nn.init.uniform_(self.lin2.weight, -1e-3, 1e-3)
        nn.init.uniform_(self.lin2.bias, -1e-3, 1e-3)

    def forward(self, x: torch.Tensor, gate_in: torch.Tensor) -> torch.Tensor:
        h = self.lin2(self.drop(self.act(self.lin1(self.act(x)))))
        return x + h * torch.sigmoid(self.gate(gate_in))


class VelocityNet(nn.Module):
    """Velocity field ``v(t, x, context)``: linear on [x, c, t], gated residual blocks, linear out.

    One block per entry of ``hidden``; a linear layer resizes between unequal widths.

    Arguments:
        dim: target dimension.
        context_dim: conditioning dimension (may be 0).
        hidden: block widths, e.g. ``[64, 128, 64]``.
        activation: ``gelu``, ``relu``, ``silu``, ``elu`` or ``tanh``.
        dropout: dropout inside the blocks.
    """

    def __init__(self, dim: int, context_dim: int, hidden: list[int], activation: str = "gelu",
                 dropout: float = 0.0):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not hidden:
            raise ValueError("VelocityNet needs at least one hidden width")
        self.dim, self.context_dim = int(dim), int(context_dim)
        self._config = {"dim": self.dim, "context_dim": self.context_dim, "hidden": hidden,
                        "activation": activation, "dropout": float(dropout)}
        gate_dim = self.context_dim + 1
        self.inp = nn.Linear(self.dim + gate_dim, hidden[0])
        self.blocks = nn.ModuleList(GatedBlock(w, gate_dim, activation, dropout) for w in hidden)
        self.resize = nn.ModuleList(
            [nn.Linear(a, b) if a != b else nn.Identity() for a, b in zip(hidden[:-1], hidden[1:])]
            + [nn.Linear(hidden[-1], self.dim)]
        )
        self.register_buffer("context_mean", torch.zeros(self.context_dim))
        self.register_buffer("context_std", torch.ones(self.context_dim))

    @property
    def config(self) -> dict:
        """The dict :func:`build` takes to rebuild this network."""
        return dict(self._config)

    def set_context_scaling(self, mean, std) -> None:
        """Standard scaling of the raw context (std 0 counts as 1)."""
        std = torch.as_tensor(np.asarray(std, np.float32)).clone()
        std[~(std > 0)] = 1.0
        self.context_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32)))
        self.context_std.copy_(std)

    def forward(self, t: torch.Tensor, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        c = (context - self.context_mean) / self.context_std
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        g = torch.cat([c, t], dim=1)
        h = self.inp(torch.cat([x, g], dim=1))
        for block, resize in zip(self.blocks, self.resize):
            h = resize(block(h, g))
        return h


def build(config: Mapping) -> VelocityNet:
    """:class:`VelocityNet` from a plain dict (``dim``, ``context_dim``, ``hidden``, ``activation``, ``dropout``)."""
    cfg = {**DEFAULT_CONFIG, **config}
    return VelocityNet(cfg["dim"], cfg["context_dim"], cfg["hidden"], cfg["activation"], cfg["dropout"])


def count_flops(net: nn.Module) -> int:
    """Multiply-adds of one forward pass for one sample (the linear layers; activations not counted).

    Multiply by :func:`flashsim_coffea.ode.nfe` for the cost of sampling one object.
    """
    return sum(m.in_features * m.out_features for m in net.modules() if isinstance(m, nn.Linear))


def as_tensor(a, cols: int | None = None) -> torch.Tensor:
    """float32 tensor from numpy or torch; a 1-D input becomes ``(n, cols)`` when ``cols`` is given."""
    t = a.float() if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a, np.float32))
    if t.ndim == 1 and cols is not None:
        t = t.reshape(-1, cols) if cols else t.reshape(len(t), 0)
    return t


def sample_t(n: int, generator: torch.Generator | None = None, alpha: float = 1.0) -> torch.Tensor:
    """Training times ``U^(1/(1+alpha))`` in [0, 1) (density (1+alpha) t^alpha)."""
    # exp(log u / (1 + alpha)), not u ** (...): in torch 2.13 (CPU, AVX512, 2 threads) ``u ** 0.5``
    # sometimes differs between processes, even exceeding 1
    return torch.exp(torch.log(torch.rand(n, generator=generator)) / (1.0 + alpha))


def cfm_loss(net: VelocityNet, x1: torch.Tensor, context: torch.Tensor, generator: torch.Generator | None = None,
             sigma_min: float = 1e-4, alpha: float = 1.0, weights: torch.Tensor | None = None,
             x0: torch.Tensor | None = None, t: torch.Tensor | None = None,
             row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Conditional flow-matching loss (mean squared error to the OT-path velocity).

    Arguments:
        x1: targets (data, t = 1), shape ``(n, dim)``.
        context: conditioning, ``(n, context_dim)``.
        generator: CPU generator for ``x0 ~ N(0, I)`` and ``t`` (unless given).
        weights: optional per-dimension loss weights.
        row_weights: optional per-row weights (a weighted mean over rows).
    """
    n = x1.shape[0]
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator).to(x1.device)
    if t is None:
        t = sample_t(n, generator, alpha).to(x1.device)
    tt = t.reshape(-1, 1)
    xt = tt * x1 + (1 - (1 - sigma_min) * tt) * x0
    u = x1 - (1 - sigma_min) * x0
    err = (net(t, xt, context) - u) ** 2
    if weights is not None:
        err = err * weights.to(err.device)
    if row_weights is None:
        return err.mean()
    return (err.mean(1) * row_weights).sum() / row_weights.sum()


@torch.no_grad()
def sample(net: VelocityNet, context, steps: int = 20, solver: str = "midpoint",
           generator: torch.Generator | None = None, noise=None, batch_size: int = 100_000,
           device: str | torch.device | None = None) -> np.ndarray:
    """Sample targets (in the preprocessed space) for every row of ``context``.

    Arguments:
        context: raw conditioning, ``(n, context_dim)`` numpy or tensor.
        steps, solver: fixed-step ODE integration (:mod:`.ode`), NFE = steps x (1, 2, 4).
        generator: CPU generator for the noise (ignored when ``noise`` is given).
        noise: the starting points ``x0`` ``(n, dim)``, e.g. counter-based normals keyed by
            event and replica (:mod:`flashsim_coffea.random`).
        batch_size: objects integrated at once (bounds memory; the result does not depend on it
            beyond float round-off).

    Returns:
        float32 array ``(n, dim)``.
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    c = as_tensor(context, net.context_dim)
    n = c.shape[0]
    x0 = torch.randn((n, net.dim), generator=generator) if noise is None else as_tensor(noise, net.dim)
    if x0.shape != (n, net.dim):
        raise ValueError(f"noise has shape {tuple(x0.shape)}, expected {(n, net.dim)}")
    was_training = net.training
    net.eval()
    out = np.empty((n, net.dim), np.float32)
    try:
        for i in range(0, n, batch_size):
            ci = c[i : i + batch_size].to(device)
            m = ci.shape[0]

            def v(t: float, x: torch.Tensor, ci=ci, m=m) -> torch.Tensor:
                return net(torch.full((m,), t, device=device), x, ci)

            out[i : i + m] = ode.solve(v, x0[i : i + m].to(device), steps, solver).cpu().numpy()
    finally:
        net.train(was_training)
    return out


def split(n: int, val_fraction: float, seed: int, blocks: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, validation) index split, from ``seed``.

    With ``blocks`` > 1 the ``n`` rows are that many blocks of ``n / blocks`` rows, row i of
    every block an image of row i of the first (:mod:`flashsim_coffea.mirror`): the split is
    drawn on the first block and the images follow their row, so that no image of a
    validation row is trained on.
    """
    if n % blocks:
        raise ValueError(f"{n} rows do not make {blocks} equal blocks")
    m = n // blocks
    perm = np.random.default_rng(seed).permutation(m)
    n_val = int(round(m * val_fraction))
    if val_fraction > 0:
        n_val = min(max(n_val, 1), m - 1)
    tr, va = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    if blocks == 1:
        return tr, va
    return (np.concatenate([tr + k * m for k in range(blocks)]), np.concatenate([va + k * m for k in range(blocks)]))


#: decay of the weight average kept by :func:`train_flow` and the efficiency classifiers
#: (:func:`train_loop` ``ema``): about the last thousand steps.
EMA_DECAY = 0.999


def train_loop(net: nn.Module, batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor], n_train: int,
               val_loss: Callable[[], float | None], *, seed: int, epochs: int, batch_size: int, lr: float,
               weight_decay: float = 0.0, schedule: str = "cosine", patience: int = 20,
               plateau_patience: int = 5, ema: float = 0.0, draw_weights: torch.Tensor | None = None,
               progress: bool = True, desc: str = "train") -> dict:
    """Adam over shuffled mini-batches, LR schedule, validation each epoch, early stopping.

    ``batch_loss(indices, generator)`` gives a training batch's loss; ``val_loss()`` the
    validation loss (``None`` without a validation split: the training loss is used).
    Keeps the weights of the best validation epoch and stops after ``patience`` epochs
    without improvement. ``schedule`` is ``cosine`` (annealed per step over all epochs),
    ``plateau`` (halve the LR after ``plateau_patience`` epochs without improvement) or
    ``constant``. ``ema`` > 0: the weights validated and kept are an exponential moving
    average of the training weights with that decay (warmed up as ``(1 + step) / (10 + step)``),
    as diffusion and flow-matching models are sampled (Song et al., arXiv:2011.13456; Karras
    et al., arXiv:2312.02696): the average over the last ~1/(1 - ema) steps removes the
    step-to-step noise of small-batch Adam that a single snapshot carries into the samples.
    ``draw_weights`` (one per training row): each epoch draws ``n_train`` rows with
    replacement in proportion to them instead of a permutation.

    Returns:
        history: ``train_loss``, ``val_loss``, ``lr`` per epoch, ``best_epoch``, ``best_val_loss``,
        ``steps``, ``seconds``.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    per_epoch = max(1, math.ceil(n_train / batch_size))
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * per_epoch)
    elif schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=plateau_patience)
    elif schedule == "constant":
        sched = None
    else:
        raise ValueError(f"unknown schedule {schedule!r} (cosine, plateau, constant)")
    hist: dict = {"train_loss": [], "val_loss": [], "lr": [], "best_epoch": -1, "best_val_loss": math.inf,
                  "steps": 0}
    best_state, bad, start = copy.deepcopy(net.state_dict()), 0, time.perf_counter()
    params = [p for p in net.parameters() if p.requires_grad]
    averaged = [p.detach().clone() for p in params] if ema > 0 else None
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        net.train()
        if draw_weights is None:
            perm = torch.randperm(n_train, generator=gen)
        else:
            perm = torch.multinomial(draw_weights, n_train, replacement=True, generator=gen)
        total = 0.0
        for i in range(0, n_train, batch_size):
            idx = perm[i : i + batch_size]
            loss = batch_loss(idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule == "cosine":
                sched.step()
            total += float(loss.detach()) * len(idx)
            hist["steps"] += 1
            if averaged is not None:
                decay = min(ema, (1 + hist["steps"]) / (10 + hist["steps"]))
                with torch.no_grad():
                    for a, p in zip(averaged, params):
                        a.lerp_(p, 1.0 - decay)
        net.eval()
        if averaged is not None:  # validate (and keep) the averaged weights, then train on
            raw = [p.detach().clone() for p in params]
            with torch.no_grad():
                for p, a in zip(params, averaged):
                    p.copy_(a)
        val = val_loss()
        val = total / n_train if val is None else float(val)  # no validation split: select on training loss
        hist["train_loss"].append(total / n_train)
        hist["val_loss"].append(val)
        hist["lr"].append(opt.param_groups[0]["lr"])
        if schedule == "plateau":
            sched.step(val)
        if val < hist["best_val_loss"]:
            hist["best_val_loss"], hist["best_epoch"], bad = val, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            bad += 1
        if averaged is not None:
            with torch.no_grad():
                for p, r in zip(params, raw):
                    p.copy_(r)
        bar.set_postfix(loss=f"{total / n_train:.4g}", val=f"{val:.4g}")
        if bad >= patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    hist["seconds"] = time.perf_counter() - start
    return hist


def train_flow(x, context, config: Mapping | None = None, seed: int = 0, *, epochs: int = 100,
               batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0, schedule: str = "cosine",
               val_fraction: float = 0.1, patience: int = 20, sigma_min: float = 1e-4, alpha: float = 1.0,
               ema: float = EMA_DECAY, weights=None, row_weights=None, images: int = 0, progress: bool = True,
               device: str | torch.device = "cpu") -> tuple[VelocityNet, dict]:
    """Train a conditional flow on targets ``x`` ``(n, dim)`` given ``context`` ``(n, context_dim)``.

    Same ``seed`` -> identical network (weights, split, batches, noise all derive from it).

    Arguments:
        config: network config (:func:`build`); ``dim``/``context_dim`` are filled from the data.
        weights: optional per-target loss weights.
        row_weights: optional per-row weights: training batches draw rows in proportion to
            them and the validation loss is their weighted mean. Weights that depend on the
            conditioning only leave the learned p(x | c) unchanged and give a sparse part of
            the conditioning space more of the training (a balanced sampler).
        images: the rows are ``1 + images`` blocks, the mirror images of the first
            (:func:`flashsim_coffea.mirror.with_images`); see :func:`split`.
        Others: see :func:`train_loop`.

    Returns:
        ``(net, history)``; ``net`` holds the best-validation weights, in eval mode.
    """
    torch.manual_seed(seed)
    x = as_tensor(x)
    c = torch.zeros(len(x), 0) if context is None else as_tensor(context).reshape(len(x), -1)
    net = build({**DEFAULT_CONFIG, **(config or {}), "dim": x.shape[1], "context_dim": c.shape[1]})
    tr, va = split(len(x), val_fraction, seed, 1 + images)
    if c.shape[1]:
        net.set_context_scaling(c[tr].mean(0).numpy(), c[tr].std(0).numpy())
    net.to(device)
    x_tr, c_tr = x[tr].to(device), c[tr].to(device)
    x_va, c_va = x[va].to(device), c[va].to(device)
    w = None if weights is None else as_tensor(weights).to(device)
    rw = None if row_weights is None else as_tensor(row_weights)
    rw_tr, rw_va = (None, None) if rw is None else (rw[tr], rw[va].to(device))
    g_val = torch.Generator().manual_seed(seed + 1)  # fixed validation noise: comparable across epochs
    x0_va = torch.randn(x_va.shape, generator=g_val).to(device)
    t_va = sample_t(len(va), g_val, alpha).to(device)

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        idx = idx.to(device)
        return cfm_loss(net, x_tr[idx], c_tr[idx], gen, sigma_min, alpha, w)

    @torch.no_grad()
    def val_loss() -> float | None:
        if len(va) == 0:
            return None
        total, norm = 0.0, 0.0
        for i in range(0, len(va), 65536):
            s = slice(i, i + 65536)
            rows = len(x_va[s]) if rw_va is None else float(rw_va[s].sum())
            rws = None if rw_va is None else rw_va[s]
            total += float(cfm_loss(net, x_va[s], c_va[s], None, sigma_min, alpha, w, x0_va[s], t_va[s], rws)) * rows
            norm += rows
        return total / norm

    hist = train_loop(net, batch_loss, len(tr), val_loss, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, schedule=schedule, patience=patience, ema=ema,
                      draw_weights=rw_tr, progress=progress, desc="flow")
    hist["n_train"], hist["n_val"] = len(tr), len(va)
    return net, hist
