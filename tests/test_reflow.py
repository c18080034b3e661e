"""Reflow (flashsim_coffea/train/reflow.py): fewer ODE steps reproduce the teacher; the models folder it writes."""

import json

import awkward as ak
import numpy as np
import pytest
import torch

from flashsim_coffea.sim import cards
from flashsim_coffea.sim.engine import FlashSim
from flashsim_coffea.sim.flow import sample
from flashsim_coffea.train import reflow, store
from flashsim_coffea.train.flow import train_flow


def _near_modes(y: np.ndarray) -> float:
    return float(np.mean(np.abs(np.abs(y) - 2.0) < 0.6))


def test_reflow_lands_in_one_step_where_the_teacher_lands_in_many():
    # two narrow modes at -2 and +2: the teacher's curved paths need steps, the student's straight ones do not
    rng = np.random.default_rng(0)
    x = (np.where(rng.random(4000) < 0.5, -2.0, 2.0) + 0.2 * rng.normal(size=4000))[:, None]
    teacher, _ = train_flow(x, None, {"hidden": [32, 32]}, seed=1, epochs=60, batch_size=256, progress=False)
    student, history = reflow.reflow(teacher, np.zeros((4000, 0), np.float32), seed=2, steps=32, min_steps=1500,
                                     progress=False)
    assert history["rows"] == 4000 and history["teacher_steps"] == 32 and history["steps"] >= 1500
    c = np.zeros((2000, 0), np.float32)
    z = torch.randn(2000, 1, generator=torch.Generator().manual_seed(5)).numpy()
    ref = sample(teacher, c, steps=64, noise=z)
    one_t, one_s = sample(teacher, c, steps=1, noise=z), sample(student, c, steps=1, noise=z)
    err_t, err_s = (float(np.sqrt(np.mean((y - ref) ** 2))) for y in (one_t, one_s))
    assert err_s < 0.5 * err_t, (err_s, err_t)
    assert _near_modes(ref) > 0.95 and _near_modes(one_s) > 0.9 and _near_modes(one_t) < 0.6


def test_coupled_noise_needs_array_targets_without_row_weights():
    x = np.zeros((10, 1), np.float32)
    with pytest.raises(ValueError, match="noise"):
        train_flow(x, None, {"hidden": [8]}, noise=np.zeros((10, 1)), row_weights=np.ones(10), epochs=1,
                   progress=False)


@pytest.fixture(scope="module")
def muon_models(tt_sample, train_tiny, tmp_path_factory):
    tables = tmp_path_factory.mktemp("reflow_tables")
    store.extract([tt_sample], tables, keys=["Muon_genmuon"], progress=False)
    return train_tiny(tt_sample, keys=["Muon_genmuon"]), tables


def test_reflow_models_writes_a_copy_with_the_source_reflowed_and_its_steps(muon_models, tmp_path, tt_gen):
    models, tables = muon_models
    kw = {"rows": 300, "teacher_steps": 4, "min_steps": 30, "progress": False}
    done = reflow.reflow_models(models, ["Muon_genmuon"], tables, tmp_path / "a", steps=3, seed=4, **kw)
    assert [d["source"] for d in done] == ["Muon_genmuon"] and done[0]["rows"] == 300  # 232 muons, cycled
    index = cards.read_index(tmp_path / "a")
    assert index["source_steps"]["Muon_genmuon"] == 3 and index["sources"] == cards.read_index(models)["sources"]
    card = cards.read(cards.card_path(tmp_path / "a", "Muon_genmuon", "flow"))
    teacher = cards.read(cards.card_path(models, "Muon_genmuon", "flow"))
    assert card["training"]["reflow"]["teacher_sha256"] == teacher["weights"]["sha256"] != card["weights"]["sha256"]
    assert card["network"] == teacher["network"] and card["transforms"] == teacher["transforms"]
    assert (tmp_path / "a/Muon_genmuon/efficiency.safetensors").read_bytes() == \
        (models / "Muon_genmuon/efficiency.safetensors").read_bytes()
    # resumable: a second run keeps the reflowed source; same seed, same student
    assert reflow.reflow_models(models, ["Muon_genmuon"], tables, tmp_path / "a", steps=3, seed=4, **kw) == []
    reflow.reflow_models(models, ["Muon_genmuon"], tables, tmp_path / "b", steps=3, seed=4, **kw)
    sha = [cards.read(cards.card_path(tmp_path / d, "Muon_genmuon", "flow"))["weights"]["sha256"] for d in "ab"]
    assert sha[0] == sha[1]
    sim = FlashSim.load(tmp_path / "a")
    assert sim.steps_of("Muon_genmuon") == 3
    out = sim.simulate(tt_gen[:50], seed=1)
    assert len(out) == 50 and "Muon" in out.fields


def test_reflow_refuses_its_teachers_folder_and_unknown_sources(muon_models, tmp_path):
    models, tables = muon_models
    with pytest.raises(ValueError, match="not into its teacher's"):
        reflow.reflow_models(models, ["Muon_genmuon"], tables, models, steps=3)
    with pytest.raises(ValueError, match="no source 'Jet_genjet'"):
        reflow.reflow_models(models, ["Jet_genjet"], tables, tmp_path / "c", steps=3)
    assert not (tmp_path / "c").exists()
    assert json.loads((models / cards.INDEX).read_text()).get("source_steps", {}).get("Muon_genmuon") is None


def test_reflow_of_a_categories_first_source_gives_the_student_the_drawn_class(tiny_models, tt_sample, tt_gen,
                                                                               tmp_path, monkeypatch):
    """A source whose classes are drawn before the flow (tiny set's Jet_pileup): the teacher's pairs are made
    at the conditioning plus the one-hot of a class drawn by its classifier, the student takes both."""
    from flashsim_coffea.sim.engine import load_source
    from flashsim_coffea.specs import jet

    tables = tmp_path / "tables"
    store.extract([tt_sample], tables, keys=["Jet_pileup"], progress=False)
    seen, real_reflow = {}, reflow.reflow

    def recording_reflow(net, context, *args, **kwargs):  # keeps the context the student is trained at
        seen["context"] = context
        return real_reflow(net, context, *args, **kwargs)

    monkeypatch.setattr(reflow, "reflow", recording_reflow)
    reflow.reflow_models(tiny_models, ["Jet_pileup"], tables, tmp_path / "r", steps=2, seed=4, rows=400,
                         teacher_steps=4, min_steps=30, progress=False)
    m = load_source(tmp_path / "r", jet.PILEUP)
    n_cond, n_class = len(m.source.conditioning), len(m.classes)
    assert m.categories_first and m.flow.context_dim == n_cond + n_class
    onehot = seen["context"][:, n_cond:]
    assert seen["context"].shape == (400, n_cond + n_class)
    assert np.array_equal(onehot.sum(1), np.ones(400)) and set(np.unique(onehot)) == {0.0, 1.0}
    assert len(np.unique(onehot.argmax(1))) >= 2  # drawn per row, not one class for all
    jets = FlashSim.load(tmp_path / "r", collections=["Jet"]).simulate(tt_gen[:50], seed=1).Jet
    assert len(jets) == 50 and set(np.unique(np.asarray(ak.flatten(jets.hadronFlavour)))) <= {0, 4, 5}
