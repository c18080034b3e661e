"""The one training loop (Adam, LR schedule, weight averaging, early stopping) and the train/validation split.

Every trained model of the project goes through :func:`train_loop`: the flows
(:mod:`flashsim_coffea.train.flow`), the efficiency classifiers (:mod:`flashsim_coffea.train.efficiency`)
and the count models (:mod:`flashsim_coffea.train.count`). Each passes a ``batch_loss`` and a
``val_loss`` closure; the loop owns the optimiser, the schedule, the exponential moving
average of the weights and the choice of the best epoch.

Example:
    Fit ``y = 3 x`` with a linear model, batches of 16 of 48 training rows:

    >>> from flashsim_coffea.train.rows import from_arrays, prepare
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Linear(1, 1)
    >>> x = torch.linspace(-1, 1, 64)[:, None]
    >>> data = prepare(from_arrays(x, 3 * x), 0.25, seed=1, batch_size=16)
    >>> def batch_loss(batch, generator):
    ...     xb, yb = batch
    ...     return ((net(xb) - yb) ** 2).mean()
    >>> def val_loss():
    ...     with torch.no_grad():
    ...         return float(((net(data.val[0]) - data.val[1]) ** 2).mean())
    >>> history = train_loop(net, batch_loss, data.batches, val_loss, seed=1, epochs=20,
    ...                      steps_per_epoch=data.steps_per_epoch, lr=0.3, progress=False)
    >>> history["steps"], len(history["val_loss"]), round(net.weight.item(), 2)
    (60, 20, 2.98)
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from flashsim_coffea.train.checkpoint import Checkpoint


def split(n: int, val_fraction: float, seed: int, blocks: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, validation) index split, from ``seed``.

    With ``blocks`` > 1 the ``n`` rows are that many blocks of ``n / blocks`` rows, row i of
    every block an image of row i of the first (:mod:`flashsim_coffea.train.mirror`): the split is
    drawn on the first block and the images follow their row, so that no image of a
    validation row is trained on.

    Example:
        >>> split(10, 0.2, seed=1)
        (array([0, 1, 2, 3, 5, 6, 7, 9]), array([4, 8]))
        >>> split(6, 1 / 3, seed=1, blocks=2)  # rows 3-5 are the images of rows 0-2
        (array([1, 2, 4, 5]), array([0, 3]))
    """
    if n % blocks:
        raise ValueError(f"{n} rows do not make {blocks} equal blocks")
    m = n // blocks
    perm = np.random.default_rng(seed).permutation(m)
    n_val = int(round(m * val_fraction))
    if val_fraction > 0:
        n_val = min(max(n_val, 1), m - 1)
    tr, va = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    return image_rows(tr, m, blocks - 1), image_rows(va, m, blocks - 1)


def image_rows(rows: np.ndarray, n: int, images: int) -> np.ndarray:
    """Row numbers of ``rows`` and of their images in a table of ``1 + images`` blocks of ``n`` rows.

    Example:
        >>> image_rows(np.array([0, 2]), 3, 1).tolist()
        [0, 2, 3, 5]
    """
    return rows if images == 0 else np.concatenate([rows + k * n for k in range(1 + images)])


#: decay of the weight average kept by :func:`train_flow` and the efficiency classifiers


#: (:func:`train_loop` ``ema``): about the last thousand steps.
EMA_DECAY = 0.999


def train_loop(net: nn.Module, batch_loss: Callable[[tuple, torch.Generator], torch.Tensor],
               batches: Callable[[torch.Generator], Iterable[tuple]], val_loss: Callable[[], float | None], *,
               seed: int, epochs: int, steps_per_epoch: int, lr: float, weight_decay: float = 0.0,
               schedule: str = "cosine", patience: int = 20, plateau_patience: int = 5, ema: float = 0.0,
               progress: bool = True, desc: str = "train", checkpoint: Checkpoint | None = None) -> dict:
    """Adam over shuffled mini-batches, LR schedule, validation each epoch, early stopping.

    ``batches(generator)`` gives one epoch's training batches (tuples of tensors, shuffled:
    :func:`flashsim_coffea.train.rows.prepare`), ``steps_per_epoch`` their number (at most);
    ``batch_loss(batch, generator)`` a batch's loss; ``val_loss()`` the
    validation loss (``None`` without a validation split: the training loss is used).
    Keeps the weights of the best validation epoch and stops after ``patience`` epochs
    without improvement. ``schedule`` is ``cosine`` (annealed per step over all epochs),
    ``plateau`` (halve the LR after ``plateau_patience`` epochs without improvement) or
    ``constant``. ``ema`` > 0: the weights validated and kept are an exponential moving
    average of the training weights with that decay (warmed up as ``(1 + step) / (10 + step)``),
    as diffusion and flow-matching models are sampled (Song et al., arXiv:2011.13456; Karras
    et al., arXiv:2312.02696): the average over the last ~1/(1 - ema) steps removes the
    step-to-step noise of small-batch Adam that a single snapshot carries into the samples.
    ``checkpoint`` (:class:`~flashsim_coffea.train.checkpoint.Checkpoint`): the state is saved there at
    epoch boundaries and at the end, and a run with the same fingerprint resumes from it, ending with
    the network an uninterrupted run ends with (a finished one returns at once).

    Returns:
        history: ``train_loss``, ``val_loss``, ``lr`` per epoch, ``best_epoch``, ``best_val_loss``,
        ``steps``, ``seconds``.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * max(1, steps_per_epoch))
    elif schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=plateau_patience)
    elif schedule == "constant":
        sched = None
    else:
        raise ValueError(f"unknown schedule {schedule!r} (cosine, plateau, constant)")
    hist: dict = {"train_loss": [], "val_loss": [], "lr": [], "best_epoch": -1, "best_val_loss": math.inf,
                  "steps": 0}
    best_state, bad, start, first, before = copy.deepcopy(net.state_dict()), 0, time.perf_counter(), 0, 0.0
    params = [p for p in net.parameters() if p.requires_grad]
    averaged = [p.detach().clone() for p in params] if ema > 0 else None
    fingerprint = {"desc": desc, "seed": seed, "epochs": epochs, "steps_per_epoch": steps_per_epoch, "lr": lr,
                   "weight_decay": weight_decay, "schedule": schedule, "patience": patience, "ema": ema,
                   "shapes": {k: list(v.shape) for k, v in net.state_dict().items()}}

    def save(epoch: int, finished: bool) -> None:
        tensors = {**{f"net/{k}": v for k, v in net.state_dict().items()},
                   **{f"best/{k}": v for k, v in best_state.items()}, "gen": gen.get_state()}
        tensors.update({f"avg/{i}": a for i, a in enumerate(averaged or [])})
        o = opt.state_dict()
        tensors.update({f"opt/{i}/{k}": v for i, s in o["state"].items() for k, v in s.items()})
        checkpoint.save(tensors, {"epoch": epoch, "finished": finished, "bad": bad, "hist": hist,
                                  "seconds": before + time.perf_counter() - start, "opt_groups": o["param_groups"],
                                  "sched": None if sched is None else sched.state_dict()}, fingerprint)

    if checkpoint is not None and (saved := checkpoint.load(fingerprint)) is not None:
        tensors, state = saved
        part = {p: {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)} for p in ("net/", "best/")}
        net.load_state_dict(part["net/"])
        best_state = part["best/"]
        for i, a in enumerate(averaged or []):
            a.copy_(tensors[f"avg/{i}"])
        moments: dict = {}
        for k, v in tensors.items():
            if k.startswith("opt/"):
                _, i, name = k.split("/", 2)
                moments.setdefault(int(i), {})[name] = v
        opt.load_state_dict({"state": moments, "param_groups": state["opt_groups"]})
        if sched is not None:
            sched.load_state_dict(state["sched"])
        gen.set_state(tensors["gen"])
        hist, bad, first, before = state["hist"], state["bad"], state["epoch"], state["seconds"]
        if state["finished"]:
            net.load_state_dict(best_state)
            net.eval()
            return hist
    bar = tqdm(range(first, epochs), desc=desc, disable=not progress, leave=False, initial=first, total=epochs)
    for epoch in bar:
        net.train()
        total, rows = 0.0, 0
        for batch in batches(gen):
            loss = batch_loss(batch, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule == "cosine":
                sched.step()
            total += float(loss.detach()) * len(batch[0])
            rows += len(batch[0])
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
        val = total / max(rows, 1) if val is None else float(val)  # no validation split: select on training loss
        hist["train_loss"].append(total / max(rows, 1))
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
        bar.set_postfix(loss=f"{total / max(rows, 1):.4g}", val=f"{val:.4g}")
        if bad >= patience:
            break
        if checkpoint is not None and checkpoint.due():
            save(epoch + 1, False)
    net.load_state_dict(best_state)
    net.eval()
    hist["seconds"] = before + time.perf_counter() - start
    if checkpoint is not None:
        save(epochs, True)
    return hist
