"""Flow model: sampling reco targets from a trained conditional flow-matching velocity field.

The flow moves Gaussian noise ``x0`` (t = 0) to preprocessed targets ``x1`` (t = 1) along the
optimal-transport path of Lipman et al.; :func:`sample` integrates the learnt ODE
``dx/dt = v(t, x, context)`` with a fixed-step solver (:mod:`flashsim_coffea.sim.ode`) over all
objects at once, in chunks to bound memory. The network is a
:class:`~flashsim_coffea.sim.nets.VelocityNet`; its training is :mod:`flashsim_coffea.train.flow`.

Example:
    The shipped event-level flow (MET, vertices, rho) on 3 events of a real ttbar file:

    >>> import awkward as ak, uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> from flashsim_coffea.sim import features
    >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
    >>> from flashsim_coffea.sim.engine import load_source, matrix
    >>> from flashsim_coffea.specs import event
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> ev = tree.arrays(filter_name=[*branch_names(), "PV_npvs"], entry_stop=3)
    >>> ctx = features.event_context(from_branches(ev))
    >>> m = load_source(DEFAULT_MODELS, event.EVENT)
    >>> context = matrix({k: ak.to_numpy(v) for k, v in ctx.items()}, event.EVENT.conditioning)
    >>> y = sample(m.flow, context, steps=8, generator=torch.Generator().manual_seed(1))
    >>> y.shape, y.dtype  # 50 preprocessed targets per event (MET flavours, PV fit, Rho variants, ...)
    ((3, 50), dtype('float32'))
    >>> m.pipeline.inverse(y)["PV_npvs"], ev.PV_npvs.tolist()  # flash, FullSim
    (array([20, 31, 37]), [27, 28, 42])

References:
    Lipman, Chen, Ben-Hamu, Nickel, Le, Flow Matching for Generative Modeling (arXiv:2210.02747);
    Vaselli et al., CMS FlashSim end-to-end ML simulation (arXiv:2402.13684).
"""

from __future__ import annotations

import numpy as np
import torch

from flashsim_coffea.sim import ode
from flashsim_coffea.sim.nets import BATCH_ROWS, VelocityNet, as_tensor, pad_rows
from flashsim_coffea.sim.precision import resolve, velocity


@torch.no_grad()


def sample(net: VelocityNet, context, steps: int = 20, solver: str = "midpoint",
           generator: torch.Generator | None = None, noise=None, batch_size: int = BATCH_ROWS,
           device: str | torch.device | None = None, grid: str = "uniform", precision: str = "float32") -> np.ndarray:
    """Sample targets (in the preprocessed space) for every row of ``context``.

    Arguments:
        context: raw conditioning, ``(n, context_dim)`` numpy or tensor.
        steps, solver, grid: fixed-step ODE integration (:mod:`.ode`), NFE = steps x (1, 2, 4), on the
            time grid ``grid`` (:func:`.ode.time_grid`).
        precision: ``float32``, ``bfloat16`` or ``auto`` for the velocity network's products
            (:mod:`.precision`); the state and the solver stay float32.
        generator: CPU generator for the noise (ignored when ``noise`` is given).
        noise: the starting points ``x0`` ``(n, dim)``, e.g. counter-based normals keyed by
            event and replica (:mod:`flashsim_coffea.sim.random`).
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
    prec = resolve(precision, device)
    was_training = net.training
    net.eval()
    out = np.empty((n, net.dim), np.float32)
    try:
        for i in range(0, n, batch_size):
            ci, xi = pad_rows(c[i : i + batch_size]).to(device), pad_rows(x0[i : i + batch_size]).to(device)
            m = min(batch_size, n - i)
            out[i : i + m] = ode.solve(velocity(net.at(ci), prec, device), xi, steps, solver, grid=grid)[:m].cpu().numpy()
    finally:
        net.train(was_training)
    return out


