"""Resumable training: the state of :func:`~flashsim_coffea.train.loop.train_loop` at an epoch boundary, on disk.

A training killed part way (a session's end, a pre-empted batch slot on a facility) starts again from
its last saved epoch instead of from the first, and ends with the same network as an uninterrupted
one: the checkpoint holds everything the remaining epochs draw from (weights, optimiser moments,
LR schedule, the weight average, the best epoch's weights, the history, the torch generator of the
batches and noise, and the numpy generators of the caller, such as the dequantisation noise of rows
read group by group).

Two files per checkpoint, written atomically: ``<path>.safetensors`` (tensors, loaded without
pickle) and ``<path>.json`` (numbers, the generators' states and a fingerprint of the run). A
checkpoint whose fingerprint differs from the run's (another network, seed, schedule or data size)
is not resumed from: the training starts over and overwrites it.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "model"
    >>> ck = Checkpoint(path, every=0.0)
    >>> ck.save({"w": torch.ones(2)}, {"epoch": 3}, {"seed": 1})
    >>> tensors, state = ck.load({"seed": 1})
    >>> tensors["w"].tolist(), state["epoch"]
    ([1.0, 1.0], 3)
    >>> ck.load({"seed": 2}) is None  # another run: not resumed
    True
    >>> ck.remove(); ck.load({"seed": 1}) is None
    True
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


@dataclass
class Checkpoint:
    """Where one model's training state is kept, and how often it is written.

    ``path``: the files' stem (``.safetensors`` and ``.json`` are added). ``every``: seconds between
    two writes (the state is written at the first epoch boundary after that; 0: every epoch).
    ``rngs``: numpy generators of the caller whose states are saved and restored with the loop's.
    ``tag``: what else identifies the run (the data, the spec), part of the fingerprint.
    """

    path: Path
    every: float = 300.0
    rngs: Sequence[np.random.Generator] = ()
    tag: Mapping = field(default_factory=dict)
    _last: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def files(self) -> tuple[Path, Path]:
        return self.path.with_name(self.path.name + ".safetensors"), self.path.with_name(self.path.name + ".json")

    def due(self) -> bool:
        """Whether the interval since the last write has passed."""
        return time.monotonic() - self._last >= self.every

    def save(self, tensors: Mapping[str, torch.Tensor], state: Mapping, fingerprint: Mapping) -> None:
        """Write ``tensors`` and the JSON-able ``state`` (with the generators' states and ``fingerprint``)."""
        tfile, jfile = self.files
        tfile.parent.mkdir(parents=True, exist_ok=True)
        stamp = str(time.time_ns())  # ties the two files together: a crash between the two writes is seen
        tmp = tfile.with_name(tfile.name + ".tmp")
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata={"stamp": stamp})
        os.replace(tmp, tfile)
        doc = {"stamp": stamp, "fingerprint": {**fingerprint, "tag": dict(self.tag)}, "state": dict(state),
               "rngs": [r.bit_generator.state for r in self.rngs]}
        tmp = jfile.with_name(jfile.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, jfile)
        self._last = time.monotonic()

    def load(self, fingerprint: Mapping) -> tuple[dict[str, torch.Tensor], dict] | None:
        """The saved tensors and state, the caller's generators restored; ``None`` when there is no
        complete checkpoint of this run (missing, half written, or another ``fingerprint``)."""
        tfile, jfile = self.files
        if not (tfile.exists() and jfile.exists()):
            return None
        try:
            doc = json.loads(jfile.read_text())
            with safe_open(str(tfile), framework="pt") as f:
                stamp = (f.metadata() or {}).get("stamp")
            tensors = load_file(str(tfile))
        except Exception as err:  # a truncated or foreign file (SafetensorError, JSON, OS): start over
            warnings.warn(f"{tfile}: unreadable checkpoint ({err}); the training starts over", stacklevel=2)
            return None
        if stamp != doc.get("stamp") or doc.get("fingerprint") != json.loads(json.dumps({**fingerprint,
                                                                                          "tag": dict(self.tag)})):
            return None
        if len(doc["rngs"]) != len(self.rngs):
            return None
        for r, s in zip(self.rngs, doc["rngs"]):
            r.bit_generator.state = s
        return tensors, doc["state"]

    def remove(self) -> None:
        """Delete the checkpoint's files (after the model is written)."""
        for f in self.files:
            f.unlink(missing_ok=True)
