"""The rows a model trains on: held in memory when they fit, else read group by group each epoch.

A :class:`Rows` is a virtual table of ``n`` rows (each with ``images`` mirror images,
:mod:`flashsim_coffea.train.mirror`) that gives the model's matrices for any set of row numbers
(``load``): from arrays in memory (:func:`from_arrays`) or from the extracted Parquet tables
(:mod:`flashsim_coffea.train.sources`). :func:`prepare` splits the rows into training and
validation (:func:`~flashsim_coffea.train.loop.split`) and returns the training batches of each
epoch for :func:`~flashsim_coffea.train.loop.train_loop`:

- when the training rows (images included) fit ``buffer_rows``, they are loaded once and
  every epoch is a permutation of them (or a weighted draw with replacement);
- beyond, every epoch deals the training rows at random into ``G = ceil(rows / buffer_rows)``
  groups, loads one group at a time (rows from every chunk of the tables) and shuffles
  within it: memory holds one group, whatever the size of the tables, and each batch mixes
  rows from all inputs (a chunk-wise shuffle buffer would give batches of one process).
  The validation rows are a random subset of at most ``val_rows`` (loaded once); the
  constants fitted on the data (input standardisation, target transforms, efficiency bins)
  come from a random sample of at most ``fit_rows`` training rows (:func:`fit_sample`).

Example:
    Ten rows in memory, two held out, batches of four:

    >>> x = np.arange(10.0)[:, None]
    >>> p = prepare(from_arrays(x), 0.2, seed=1, batch_size=4)
    >>> p.n_train, p.steps_per_epoch, p.val[0][:, 0].tolist()
    (8, 2, [4.0, 8.0])
    >>> [b[0][:, 0].tolist() for b in p.batches(torch.Generator().manual_seed(0))]
    [[5.0, 0.0, 9.0, 3.0], [2.0, 6.0, 1.0, 7.0]]

    The same rows read two at a time: three groups per epoch, each row once.

    >>> p = prepare(from_arrays(x), 0.2, seed=1, batch_size=4, buffer_rows=3)
    >>> sorted(float(v) for b in p.batches(torch.Generator().manual_seed(0)) for v in b[0][:, 0])
    [0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 9.0]
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from flashsim_coffea.sim.nets import as_tensor
from flashsim_coffea.train.loop import image_rows, split

#: training rows (mirror images included) held in memory at once: a flow's rows cost ~1 kB
#: each while they are read and transformed (genuine muons: 52 columns), ~200 B as tensors.
BUFFER_ROWS = 100_000
#: rows the constants fitted on the data come from, when the training rows exceed the buffer.
FIT_ROWS = 100_000
#: validation rows (images included), when the training rows exceed the buffer.
VAL_ROWS = 100_000


@dataclass(frozen=True)
class Rows:
    """``n`` training rows, each with ``images`` mirror images, read on demand.

    ``load(rows)`` takes increasing row numbers in ``[0, n)`` and returns the model's arrays
    (targets, conditioning, weights, ...), each of ``len(rows) * (1 + images)`` rows: the rows,
    then their first images, and so on (:func:`flashsim_coffea.train.mirror.with_images`).
    """

    n: int
    load: Callable[[np.ndarray], Sequence[np.ndarray]]
    images: int = 0


def from_arrays(*arrays, images: int = 0) -> Rows:
    """Rows of arrays in memory (their ``1 + images`` blocks already concatenated)."""
    total = len(arrays[0])
    if total % (1 + images):
        raise ValueError(f"{total} rows do not make {1 + images} equal blocks")
    n = total // (1 + images)
    return Rows(n, lambda rows: [a[image_rows(rows, n, images)] for a in arrays], images)


def fits(n: int, images: int, buffer_rows: int = BUFFER_ROWS) -> bool:
    """Whether ``n`` rows with ``images`` mirror images each are held in memory at once."""
    return n * (1 + images) <= buffer_rows


def fit_sample(n: int, images: int, rng: np.random.Generator, *, buffer_rows: int = BUFFER_ROWS,
               fit_rows: int = FIT_ROWS) -> np.ndarray:
    """Row numbers the data's constants are fitted on: all ``n`` rows when they fit the buffer, else a random sample.

    Example:
        >>> fit_sample(5, 0, np.random.default_rng(1)).tolist()
        [0, 1, 2, 3, 4]
        >>> fit_sample(5, 1, np.random.default_rng(1), buffer_rows=4, fit_rows=4).tolist()
        [1, 2]
    """
    if fits(n, images, buffer_rows):
        return np.arange(n)
    return np.sort(rng.choice(n, min(n, max(1, fit_rows // (1 + images))), replace=False))


@dataclass
class Prepared:
    """The training and validation rows of one model (:func:`prepare`)."""

    #: epoch function: a generator gives the epoch's batches (tuples of tensors)
    batches: Callable[[torch.Generator], Iterator[tuple[torch.Tensor, ...]]]
    n_train: int
    steps_per_epoch: int
    #: validation arrays (tensors on the device)
    val: list[torch.Tensor]
    #: rows to fit constants on: all training rows, or a sample of them (tensors, CPU)
    fit: list[torch.Tensor]


def release_memory() -> None:
    """Hand freed heap memory back to the system (glibc ``malloc_trim``; nothing elsewhere).

    Each epoch of grouped training frees and re-allocates groups of rows; without this the
    C heap keeps the freed pages and the resident memory creeps up epoch after epoch.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _tensors(arrays: Sequence, device) -> list[torch.Tensor]:
    """Tensors kept as they are, numpy floats and flags as float32, integers as they are."""
    out = []
    for a in arrays:
        if not isinstance(a, torch.Tensor):
            a = np.asarray(a)
            a = as_tensor(a) if a.dtype.kind in "fb" else torch.as_tensor(a)
        out.append(a.to(device))
    return out


def _epoch(tensors: list[torch.Tensor], batch_size: int, gen: torch.Generator,
           weights: torch.Tensor | None) -> Iterator[tuple[torch.Tensor, ...]]:
    n = len(tensors[0])
    if weights is None:
        perm = torch.randperm(n, generator=gen)
    else:
        perm = torch.multinomial(weights, n, replacement=True, generator=gen)
    for i in range(0, n, batch_size):
        idx = perm[i : i + batch_size].to(tensors[0].device)
        yield tuple(t[idx] for t in tensors)


def prepare(rows: Rows, val_fraction: float, seed: int, batch_size: int, *, weights: int | None = None,
            buffer_rows: int = BUFFER_ROWS, fit_rows: int = FIT_ROWS, val_rows: int = VAL_ROWS,
            device: str | torch.device = "cpu") -> Prepared:
    """Split ``rows`` (:func:`~flashsim_coffea.train.loop.split`, from ``seed``) and make the epochs' batches.

    ``weights``: position of the array of ``load`` holding draw weights: each epoch (or group)
    draws as many rows with replacement in proportion to them instead of a permutation.
    Same ``seed`` and generator -> same batches.
    """
    blocks = 1 + rows.images
    if fits(rows.n, rows.images, buffer_rows):
        whole = _tensors(rows.load(np.arange(rows.n)), "cpu")
        tr, va = split(rows.n * blocks, val_fraction, seed, blocks)
        train = [t[tr].to(device) for t in whole]
        val = [t[va].to(device) for t in whole]
        del whole
        w = None if weights is None else train[weights].cpu()
        return Prepared(lambda gen: _epoch(train, batch_size, gen, w), len(tr), math.ceil(len(tr) / batch_size), val,
                        [t.cpu() for t in train])
    tr, va = split(rows.n, val_fraction, seed)
    rng = np.random.default_rng([seed, 2])
    if len(va) * blocks > val_rows:
        va = np.sort(rng.choice(va, max(1, val_rows // blocks), replace=False))
    val = _tensors(rows.load(va), device)
    fit = _tensors(rows.load(np.sort(rng.choice(tr, min(len(tr), max(1, fit_rows // blocks)), replace=False))), "cpu")
    groups = math.ceil(len(tr) * blocks / buffer_rows)

    def batches(gen: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        deal = tr[torch.randperm(len(tr), generator=gen).numpy()]
        for g in range(groups):
            part = _tensors(rows.load(np.sort(deal[g::groups])), device)
            yield from _epoch(part, batch_size, gen, None if weights is None else part[weights].cpu())
            del part  # one group in memory at a time, also while the next one loads
            release_memory()

    n_train = len(tr) * blocks
    return Prepared(batches, n_train, math.ceil(n_train / batch_size) + groups - 1, val, fit)
