"""train.checkpoint: a training killed part way resumes from its last epoch and ends with the uninterrupted network."""

import functools
import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from flashsim_coffea.specs import muon
from flashsim_coffea.train import flow, sources, store
from flashsim_coffea.train.checkpoint import Checkpoint
from flashsim_coffea.train.loop import train_loop
from flashsim_coffea.train.rows import from_arrays, prepare


class Killed(Exception):
    """Stands for the end of a session in the middle of an epoch."""


def _fit(schedule: str, checkpoint=None, kill_at=None):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.linspace(-1, 1, 64)[:, None]
    data = prepare(from_arrays(x, 3 * x**2), 0.25, seed=1, batch_size=16)
    calls = []

    def batch_loss(batch, generator):
        calls.append(1)
        if len(calls) == kill_at:
            raise Killed
        xb, yb = batch  # noise from the loop's generator: a resumed run must restore it
        return ((net(xb) + 0.01 * torch.randn(len(xb), 1, generator=generator) - yb) ** 2).mean()

    def val_loss():
        with torch.no_grad():
            return float(((net(data.val[0]) - data.val[1]) ** 2).mean())

    hist = train_loop(net, batch_loss, data.batches, val_loss, seed=1, epochs=20, steps_per_epoch=data.steps_per_epoch,
                      lr=0.05, schedule=schedule, ema=0.99, patience=50, progress=False, checkpoint=checkpoint)
    return net, hist, len(calls)


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_a_killed_loop_resumes_to_the_uninterrupted_weights(schedule, tmp_path):
    ref, ref_hist, _ = _fit(schedule)
    with pytest.raises(Killed):  # killed in epoch 11 (3 steps an epoch), saved after each epoch
        _fit(schedule, Checkpoint(tmp_path / "m", every=0.0), kill_at=32)
    assert json.loads((tmp_path / "m.json").read_text())["state"]["epoch"] == 10
    net, hist, calls = _fit(schedule, Checkpoint(tmp_path / "m", every=0.0))
    assert calls == 30  # the last ten epochs only
    for a, b in zip(ref.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    assert hist["val_loss"] == ref_hist["val_loss"] and hist["steps"] == ref_hist["steps"] == 60
    # a finished checkpoint gives the network back without a step
    again, _, calls = _fit(schedule, Checkpoint(tmp_path / "m", every=0.0))
    assert calls == 0 and all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), again.state_dict().values()))
    # another run (here another seed of the network's batches) does not resume from it
    other = Checkpoint(tmp_path / "m", every=0.0)
    assert other.load({"seed": 2}) is None


def test_a_killed_source_training_writes_the_models_of_an_uninterrupted_one(tt_sample, tmp_path, monkeypatch):
    """Genuine muons (efficiency classifier, the isolations' point-mass classifier, then the flow, with mirror images
    and dequantised integers)
    read group by group, so that the dequantisation noise is drawn during the epochs: killed in the
    flow's fourth epoch and started again, the cards' weights are those of a run never killed."""
    src = muon.GENUINE
    store.extract([tt_sample], tmp_path / "tables", keys=[src.key], progress=False)
    tables = store.source_tables(tmp_path / "tables", src.key)
    kw = dict(seed=1, epochs=6, progress=False, min_objects=5, min_steps=0, min_efficiency_steps=0, buffer_rows=100,
              config={"batch_size": 32})
    original, steps, kill_at = flow.cfm_loss, [], [None]

    def counted(*args, **kwargs):
        if args[3] is not None:  # a training batch (validation passes no generator)
            steps.append(1)
            if len(steps) == kill_at[0]:
                raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(flow, "cfm_loss", counted)
    sources.train_source(src, tables, tmp_path / "ref", **kw)
    assert len(steps) % 6 == 0 and len(steps) >= 12  # six epochs (patience 8: no early stop), groups of 100 rows
    kill_at_half = len(steps) // 2
    kill_at[0], steps[:] = kill_at_half + 1, []  # the first step of the fourth epoch
    monkeypatch.setattr(sources, "Checkpoint", functools.partial(Checkpoint, every=0.0))
    ck = tmp_path / "checkpoints"
    with pytest.raises(Killed):
        sources.train_source(src, tables, tmp_path / "resumed", checkpoint=ck, **kw)
    assert json.loads((ck / f"{src.key}_flow.json").read_text())["state"]["epoch"] == 3
    assert sorted(p.name for p in ck.iterdir()) == [f"{src.key}_{m}.{e}" for m in ("categories", "efficiency", "flow")
                                                    for e in ("json", "safetensors")]
    kill_at[0], steps[:] = None, []
    sources.train_source(src, tables, tmp_path / "resumed", checkpoint=ck, **kw)
    assert len(steps) == kill_at_half  # the last three epochs only
    assert not list(ck.iterdir())  # removed once the cards are written
    for model in ("categories", "efficiency", "flow"):
        a = load_file(tmp_path / "ref" / src.key / f"{model}.safetensors")
        b = load_file(tmp_path / "resumed" / src.key / f"{model}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_corrupt_checkpoint_is_not_resumed_from(tmp_path):
    """A truncated weights file (a kill during the write of an older version, a full disk): a warning naming it,
    and the training starts over to the uninterrupted result instead of failing."""
    ref, _, _ = _fit("cosine")
    with pytest.raises(Killed):
        _fit("cosine", Checkpoint(tmp_path / "m", every=0.0), kill_at=32)
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="m.safetensors: unreadable checkpoint"):
        net, _, calls = _fit("cosine", Checkpoint(tmp_path / "m", every=0.0))
    assert calls == 60 and all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), net.state_dict().values()))
