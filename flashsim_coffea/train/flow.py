"""Training a conditional flow-matching model: the loss, the training times and :func:`train_flow`.

The flow moves Gaussian noise ``x0`` (t = 0) to preprocessed targets ``x1`` (t = 1) along the
optimal-transport path of Lipman et al. with ``sigma_min`` = s:

    x_t = t x1 + (1 - (1 - s) t) x0,        u = x1 - (1 - s) x0,

regressing ``v(t, x_t, context)`` on ``u``. Training times are drawn as ``t = U^(1/(1+alpha))``
(density ∝ t^alpha, biased to the data end; alpha = 1 as in the CMS prototype). The context
is standard-scaled inside the network (buffers fitted here on the training split), so callers
pass raw conditioning features. Sampling is :func:`flashsim_coffea.sim.flow.sample`.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(size=(200, 2))
    >>> net, history = train_flow(x, None, {"hidden": [16]}, seed=1, epochs=2, progress=False)
    >>> len(history["val_loss"]), history["n_train"], history["n_val"]
    (2, 180, 20)

References:
    Lipman, Chen, Ben-Hamu, Nickel, Le, Flow Matching for Generative Modeling (arXiv:2210.02747);
    Tong et al., Improving and generalizing flow-based generative models (arXiv:2302.00482);
    Vaselli et al., CMS FlashSim end-to-end ML simulation (arXiv:2402.13684).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch

from flashsim_coffea.sim.nets import VELOCITY_DEFAULTS, VelocityNet, as_tensor, build_velocity
from flashsim_coffea.sim.precision import resolve
from flashsim_coffea.train.checkpoint import Checkpoint
from flashsim_coffea.train.loop import EMA_DECAY, train_loop
from flashsim_coffea.train.rows import BUFFER_ROWS, Rows, from_arrays, prepare


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


def train_flow(x, context=None, config: Mapping | None = None, seed: int = 0, *, epochs: int = 100,
               batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0, schedule: str = "cosine",
               val_fraction: float = 0.1, patience: int = 20, sigma_min: float = 1e-4, alpha: float = 1.0,
               ema: float = EMA_DECAY, weights=None, row_weights=None, images: int = 0, progress: bool = True,
               buffer_rows: int = BUFFER_ROWS, device: str | torch.device = "cpu", noise=None,
               init: VelocityNet | None = None, checkpoint: Checkpoint | None = None,
               precision: str = "float32") -> tuple[VelocityNet, dict]:
    """Train a conditional flow on targets ``x`` ``(n, dim)`` given ``context`` ``(n, context_dim)``.

    Same ``seed`` -> identical network (weights, split, batches, noise all derive from it).

    Arguments:
        x: the targets, or a :class:`~flashsim_coffea.train.rows.Rows` whose ``load`` gives
            ``[targets, context]`` (and the row weights, with ``row_weights=True``): rows read
            from the tables group by group beyond ``buffer_rows`` (:func:`~flashsim_coffea.train.rows.prepare`).
        config: network config (:func:`~flashsim_coffea.sim.nets.build_velocity`); ``dim``/``context_dim`` are
            filled from the data.
        weights: optional per-target loss weights.
        row_weights: optional per-row weights: training batches draw rows in proportion to
            them and the validation loss is their weighted mean. Weights that depend on the
            conditioning only leave the learned p(x | c) unchanged and give a sparse part of
            the conditioning space more of the training (a balanced sampler).
        images: the rows are ``1 + images`` blocks, the mirror images of the first
            (:func:`flashsim_coffea.train.mirror.with_images`); see :func:`~flashsim_coffea.train.loop.split`.
        noise: each row's own starting point ``x0`` ``(n, dim)`` (an array ``x``, no row weights): the
            path runs from that noise to that target instead of from fresh noise each batch (reflow,
            :mod:`flashsim_coffea.train.reflow`).
        init: start from a copy of this network (its configuration and context scaling) instead of
            a freshly initialised one.
        precision: ``float32``, ``bfloat16`` or ``auto`` (:func:`~flashsim_coffea.sim.precision.resolve`): the
            training batches' forward and backward passes under :func:`torch.autocast` in bfloat16 (mixed
            precision: the weights, the optimiser state and the validation loss stay float32); 1.7-2.1x faster
            steps on a CPU with native bfloat16 (docs/performance.md, "Training in bfloat16").
        Others: see :func:`~flashsim_coffea.train.loop.train_loop`.

    Returns:
        ``(net, history)``; ``net`` holds the best-validation weights, in eval mode.
    """
    torch.manual_seed(seed)
    coupled = noise is not None
    if coupled and (isinstance(x, Rows) or row_weights is not None):
        raise ValueError("noise (coupled rows) goes with array targets and no row weights")
    if isinstance(x, Rows):
        data = x
    else:
        x = as_tensor(x)
        c = torch.zeros(len(x), 0) if context is None else as_tensor(context).reshape(len(x), -1)
        extra = [as_tensor(noise, x.shape[1])] if coupled else [] if row_weights is None else [as_tensor(row_weights)]
        data = from_arrays(x, c, *extra, images=images)
    weighted = row_weights is not None and row_weights is not False
    p = prepare(data, val_fraction, seed, batch_size, weights=2 if weighted else None, buffer_rows=buffer_rows,
                device=device)
    dim, context_dim = p.fit[0].shape[1], p.fit[1].reshape(len(p.fit[1]), -1).shape[1]
    if init is not None:
        if (init.dim, init.context_dim) != (dim, context_dim):
            raise ValueError(f"init network has {init.dim} targets and {init.context_dim} conditioning columns, "
                             f"the data {dim} and {context_dim}")
        net = copy.deepcopy(init)
    else:
        net = build_velocity({**VELOCITY_DEFAULTS, **(config or {}), "dim": dim, "context_dim": context_dim})
        if context_dim:
            net.set_context_scaling(p.fit[1].mean(0).numpy(), p.fit[1].std(0).numpy())
    net.to(device)
    x_va, c_va = p.val[0], p.val[1].reshape(len(p.val[1]), -1)
    rw_va = p.val[2] if weighted else None
    w = None if weights is None else as_tensor(weights).to(device)
    g_val = torch.Generator().manual_seed(seed + 1)  # fixed validation noise: comparable across epochs
    x0_va = p.val[2].to(device) if coupled else torch.randn(x_va.shape, generator=g_val).to(device)
    t_va = sample_t(len(x_va), g_val, alpha).to(device)

    low = resolve(precision, device) == "bfloat16"

    def batch_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator) -> torch.Tensor:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=low):
            return cfm_loss(net, batch[0], batch[1].reshape(len(batch[1]), -1), gen, sigma_min, alpha, w,
                            x0=batch[2] if coupled else None).float()

    @torch.no_grad()
    def val_loss() -> float | None:
        if len(x_va) == 0:
            return None
        total, norm = 0.0, 0.0
        for i in range(0, len(x_va), 65536):
            s = slice(i, i + 65536)
            rows = len(x_va[s]) if rw_va is None else float(rw_va[s].sum())
            rws = None if rw_va is None else rw_va[s]
            total += float(cfm_loss(net, x_va[s], c_va[s], None, sigma_min, alpha, w, x0_va[s], t_va[s], rws)) * rows
            norm += rows
        return total / norm

    hist = train_loop(net, batch_loss, p.batches, val_loss, seed=seed, epochs=epochs, steps_per_epoch=p.steps_per_epoch,
                      lr=lr, weight_decay=weight_decay, schedule=schedule, patience=patience, ema=ema,
                      progress=progress, desc="flow", checkpoint=checkpoint)
    hist["n_train"], hist["n_val"] = p.n_train, len(x_va)
    hist["precision"] = "bfloat16" if low else "float32"
    return net, hist
