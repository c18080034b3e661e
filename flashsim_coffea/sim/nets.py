"""Networks: the one MLP stack, input standardisation and the flow's gated residual velocity field.

Every model of the project is built here: the efficiency classifier
(:mod:`flashsim_coffea.sim.efficiency`) and the count model (:mod:`flashsim_coffea.sim.count`)
are :func:`mlp` stacks, the flow's velocity field is a :class:`VelocityNet`, and the analysis
DNN (``analyses/dnn.py``) is an :func:`mlp` too. Raw inputs are standard-scaled inside a
network by buffers (:func:`add_scaling`, :func:`set_scaling`), so callers pass raw features
and a model card rebuilds the whole thing from its ``config``.

Example:
    >>> net = mlp(3, [8, 8], 1)
    >>> [type(m).__name__ for m in net]
    ['Linear', 'SiLU', 'Linear', 'SiLU', 'Linear']
    >>> net(torch.zeros(4, 3)).shape
    torch.Size([4, 1])

References:
    Dax et al., Flow Matching for Scalable Simulation-Based Inference, DenseResidualNet (arXiv:2305.17161);
    Dauphin et al., Language Modeling with Gated Convolutional Networks, GLU (arXiv:1612.08083).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh,
}

#: rows per network call: a 4096-row batch keeps a 128-wide network's activations in the CPU's caches; one
#: thread, shipped networks: flows 1.5x (bfloat16) to 1.9x (float32) and classifiers 2.7x faster than
#: 100k rows a call, outputs bit-identical (docs/performance.md).
BATCH_ROWS = 4096
#: fewest rows per network call: below 4 rows torch's CPU float32 matrix product takes another kernel that
#: rounds differently (3.6e-7 on a 128-wide layer), and in bfloat16 a flipped rounding of the next layer's
#: input grows to ~1e-3 in the sample; padded to 4, an object's output does not depend on how many others
#: share its batch, so chunking leaves the flash file unchanged (tests/test_simulate.py).
MIN_ROWS = 4
#: velocity-network defaults (``dim`` and ``context_dim`` come from the data).
VELOCITY_DEFAULTS = {"hidden": [64, 64, 64], "activation": "gelu", "dropout": 0.0, "gated": True}


def mlp(n_in: int, hidden: list[int] | tuple[int, ...], n_out: int, activation: str = "silu",
        dropout: float | None = None) -> nn.Sequential:
    """``Linear, activation[, Dropout]`` per hidden width, then a ``Linear`` to ``n_out``.

    ``dropout=None`` adds no dropout layers; a number (0 included) adds one after every
    activation. The layers' positions name the saved weights (``0.weight``, ``2.weight``, ...),
    so a trained model's layout must not change.

    Example:
        >>> [type(m).__name__ for m in mlp(2, [4], 1, "gelu", dropout=0.1)]
        ['Linear', 'GELU', 'Dropout', 'Linear']
    """
    layers: list[nn.Module] = []
    width = int(n_in)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
        if dropout is not None:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, int(n_out)))
    return nn.Sequential(*layers)


def add_scaling(module: nn.Module, prefix: str, dim: int) -> None:
    """Register the buffers ``<prefix>_mean`` (zeros) and ``<prefix>_std`` (ones) of ``dim`` inputs."""
    module.register_buffer(f"{prefix}_mean", torch.zeros(int(dim)))
    module.register_buffer(f"{prefix}_std", torch.ones(int(dim)))


def set_scaling(module: nn.Module, prefix: str, mean, std) -> None:
    """Set ``<prefix>_mean`` / ``<prefix>_std`` (float32; a standard deviation that is not > 0 counts as 1).

    Example:
        >>> m = nn.Module(); add_scaling(m, "input", 2); set_scaling(m, "input", [1.0, 2.0], [0.0, 4.0])
        >>> m.input_std.tolist()
        [1.0, 4.0]
    """
    std = torch.as_tensor(np.asarray(std, np.float32)).clone()
    std[~(std > 0)] = 1.0
    getattr(module, f"{prefix}_mean").copy_(torch.as_tensor(np.asarray(mean, np.float32)))
    getattr(module, f"{prefix}_std").copy_(std)


class GatedBlock(nn.Module):
    """``x + h * sigmoid(W_c [context, t] + b)`` with ``h = lin(drop(act(lin(act(x)))))``;
    ``gated=False``: the plain residual ``x + h`` (the conditioning then enters at the input layer only).

    The second linear layer starts near zero (U(-1e-3, 1e-3)), so each block starts
    close to the identity.
    """

    def __init__(self, width: int, gate_dim: int, activation: str = "gelu", dropout: float = 0.0,
                 gated: bool = True):
        super().__init__()
        self.act = ACTIVATIONS[activation]()
        self.lin1 = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)
        self.lin2 = nn.Linear(width, width)
        self.gate = nn.Linear(gate_dim, width) if gated else None
        nn.init.uniform_(self.lin2.weight, -1e-3, 1e-3)
        nn.init.uniform_(self.lin2.bias, -1e-3, 1e-3)

    def forward(self, x: torch.Tensor, gate_in: torch.Tensor) -> torch.Tensor:
        h = self.lin2(self.drop(self.act(self.lin1(self.act(x)))))
        return x + h if self.gate is None else x + h * torch.sigmoid(self.gate(gate_in))

class VelocityNet(nn.Module):
    """Velocity field ``v(t, x, context)``: linear on [x, c, t], gated residual blocks, linear out.

    One block per entry of ``hidden``; a linear layer resizes between unequal widths.

    Arguments:
        dim: target dimension.
        context_dim: conditioning dimension (may be 0).
        hidden: block widths, e.g. ``[64, 128, 64]``.
        activation: ``gelu``, ``relu``, ``silu``, ``elu`` or ``tanh``.
        dropout: dropout inside the blocks.
        gated: gate each block's residual by the conditioning and the time (GLU-like, the default),
            or add it plainly.
    """

    def __init__(self, dim: int, context_dim: int, hidden: list[int], activation: str = "gelu",
                 dropout: float = 0.0, gated: bool = True):
        super().__init__()
        hidden = [int(h) for h in hidden]
        if not hidden:
            raise ValueError("VelocityNet needs at least one hidden width")
        self.dim, self.context_dim = int(dim), int(context_dim)
        self._config = {"dim": self.dim, "context_dim": self.context_dim, "hidden": hidden,
                        "activation": activation, "dropout": float(dropout), **({} if gated else {"gated": False})}
        gate_dim = self.context_dim + 1
        self.inp = nn.Linear(self.dim + gate_dim, hidden[0])
        self.blocks = nn.ModuleList(GatedBlock(w, gate_dim, activation, dropout, bool(gated)) for w in hidden)
        self.resize = nn.ModuleList(
            [nn.Linear(a, b) if a != b else nn.Identity() for a, b in zip(hidden[:-1], hidden[1:])]
            + [nn.Linear(hidden[-1], self.dim)]
        )
        add_scaling(self, "context", self.context_dim)

    @property
    def config(self) -> dict:
        """The dict :func:`build_velocity` takes to rebuild this network."""
        return dict(self._config)

    def set_context_scaling(self, mean, std) -> None:
        """Standard scaling of the raw context (:func:`set_scaling`)."""
        set_scaling(self, "context", mean, std)

    def forward(self, t: torch.Tensor, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        c = (context - self.context_mean) / self.context_std
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(x.shape[0], 1)
        g = torch.cat([c, t], dim=1)
        h = self.inp(torch.cat([x, g], dim=1))
        for block, resize in zip(self.blocks, self.resize):
            h = resize(block(h, g))
        return h

    def at(self, context: torch.Tensor) -> Callable[[float, torch.Tensor], torch.Tensor]:
        """The velocity ``v(t, x)`` at a fixed raw ``context`` and one time ``t`` for every row, as an ODE
        solver calls it: equal to ``forward`` up to float round-off, with every product of the context
        alone (the input layer's and every gate's context columns) computed once here instead of at each
        of the solver's evaluations; the time enters as ``t`` times a weight column (for the shipped genuine-jet
        network, 4 blocks of 128 on 23 conditioning columns, 9 % fewer multiply-adds). Evaluation only: no dropout.

        Example:
            >>> net = build_velocity({"dim": 2, "context_dim": 3, "hidden": [16, 16]})
            >>> x, c = torch.randn(5, 2), torch.randn(5, 3)
            >>> torch.allclose(net.at(c)(0.3, x), net(torch.full((5,), 0.3), x, c), atol=1e-6)
            True
        """
        c = (context - self.context_mean) / self.context_std
        n_c = self.context_dim

        def split(lin: nn.Linear, start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            w = lin.weight  # columns [start, start + n_c) read the context, the last one the time
            fixed = torch.addmm(lin.bias, c, w[:, start : start + n_c].t()) if n_c else lin.bias.expand(len(c), -1)
            return w[:, :start], fixed, w[:, start + n_c]

        w_x, inp_fixed, inp_t = split(self.inp, self.dim)
        gates = [split(b.gate, 0)[1:] if b.gate is not None else None for b in self.blocks]

        def v(t: float, x: torch.Tensor) -> torch.Tensor:
            h = torch.addmm(torch.add(inp_fixed, inp_t, alpha=t), x, w_x.t())
            for block, resize, gate in zip(self.blocks, self.resize, gates):
                r = block.lin2(block.act(block.lin1(block.act(h))))
                h = resize(h + r if gate is None else torch.addcmul(h, r, torch.add(*gate, alpha=t).sigmoid_()))
            return h

        return v

def build_velocity(config: Mapping) -> VelocityNet:
    """:class:`VelocityNet` from a plain dict (``dim``, ``context_dim``, ``hidden``, ``activation``, ``dropout``).

    Example:
        >>> net = build_velocity({"dim": 2, "context_dim": 3, "hidden": [16, 16]})
        >>> net(torch.zeros(5), torch.zeros(5, 2), torch.zeros(5, 3)).shape
        torch.Size([5, 2])
    """
    cfg = {**VELOCITY_DEFAULTS, **config}
    return VelocityNet(cfg["dim"], cfg["context_dim"], cfg["hidden"], cfg["activation"], cfg["dropout"],
                       bool(cfg["gated"]))

def count_flops(net: nn.Module) -> int:
    """Multiply-adds of one forward pass for one sample (the linear layers; activations not counted).

    Multiply by :func:`flashsim_coffea.sim.ode.nfe` for the cost of sampling one object.
    """
    return sum(m.in_features * m.out_features for m in net.modules() if isinstance(m, nn.Linear))


def context_flops(net: nn.Module) -> int:
    """Multiply-adds of a :class:`VelocityNet`'s context columns (the input layer's and every gate's) for one
    object: :meth:`VelocityNet.at` computes them once per object, not at each of the solver's evaluations, so
    sampling one object costs ``(count_flops(net) - context_flops(net)) * nfe + context_flops(net)``; 0 for any
    other network.

    Example:
        >>> net = build_velocity({"dim": 2, "context_dim": 3, "hidden": [16, 16]})
        >>> context_flops(net), count_flops(net)  # 3 x (16 + 16 + 16): the input layer and two gates
        (144, 1280)
    """
    if not isinstance(net, VelocityNet):
        return 0
    gates = [b.gate.out_features for b in net.blocks if b.gate is not None]
    return net.context_dim * (net.inp.out_features + sum(gates))

def pad_rows(t: torch.Tensor, rows: int = MIN_ROWS) -> torch.Tensor:
    """``t`` with its last row repeated up to ``rows`` rows (unchanged if it has as many; empty stays empty);
    slice a network's output back to ``len(t)``.

    Example:
        >>> pad_rows(torch.tensor([[1.0, 2.0]])).tolist()
        [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
    """
    if len(t) == 0 or len(t) >= rows:
        return t
    return torch.cat([t, t[-1:].expand(rows - len(t), *t.shape[1:])])


def in_batches(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               batch_size: int = BATCH_ROWS) -> torch.Tensor:
    """``model`` over every row of ``x``, ``batch_size`` rows a call (each call padded by :func:`pad_rows`),
    the outputs concatenated: what a classifier's inference loop is.

    Example:
        >>> in_batches(lambda t: 2 * t, torch.arange(5.0).reshape(5, 1), batch_size=3).flatten().tolist()
        [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    starts = range(0, len(x), batch_size) if len(x) else [0]  # no rows: one empty call, the output's shape
    return torch.cat([model(pad_rows(x[i : i + batch_size]))[: len(x[i : i + batch_size])] for i in starts])


def as_tensor(a, cols: int | None = None) -> torch.Tensor:
    """float32 tensor from numpy or torch; a 1-D input becomes ``(n, cols)`` when ``cols`` is given."""
    t = a.float() if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a, np.float32))
    if t.ndim == 1 and cols is not None:
        t = t.reshape(-1, cols) if cols else t.reshape(len(t), 0)
    return t
